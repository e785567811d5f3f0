//! Kiwix ZIM archives (offline Wikipedia, Wiktionary, Stack Exchange...): one document per
//! article, its lead section as text. The lead is what a factual question is answered from (who,
//! when, where, what it is), and it keeps a full English Wikipedia index to a few gigabytes.
//!
//! Articles are read cluster by cluster: a ZIM compresses a few hundred entries together, so
//! reading them in URL order would decompress each cluster many times over. What is held at once
//! is one decompressed cluster and one article, each at most `--max-entry-bytes`, and three
//! `u32`s and a hash per article.

use std::collections::HashSet;
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::CorpusDoc;
use super::{file_size, squeeze, Limits, Progress, Sink};
use crate::Error;

/// Longer than any lead worth answering from; the rest of a long lead adds noise, not answers.
pub(super) const MAX_LEAD_CHARS: usize = 2_000;

pub(super) fn read(
    file: &Path,
    relative: &str,
    limits: &Limits,
    progress: &Progress,
    sink: &mut Sink<'_>,
) -> Result<(), Error> {
    let zim_error = |doing: &str| {
        let doing = format!("{doing} {}", file.display());
        move |e: std::io::Error| Error::index_from(doing.clone(), e)
    };
    let mut archive = Archive::open(file).map_err(zim_error("opening the ZIM archive"))?;
    let entries = archive.header.entry_count;
    // (cluster, blob, entry): sorted, so each cluster is decompressed once.
    let mut articles: Vec<(u32, u32, u32)> = Vec::new();
    for index in 0..entries {
        let entry = archive.entry(index).map_err(zim_error("reading an entry of"))?;
        let is_article = matches!(entry.namespace, b'A' | b'C')
            && matches!(&entry.mime, Some(mime) if mime.starts_with("text/html"));
        if let (true, Some((cluster, blob))) = (is_article, entry.blob) {
            articles.push((cluster, blob, index));
        }
    }
    articles.sort_unstable();
    // libzim stores identical pages once and points several entries at the blob: index it once.
    articles.dedup_by_key(|&mut (cluster, blob, _)| (cluster, blob));

    let size = file_size(file);
    let per_article = size / u64::from(entries.max(1));
    let mut reported = 0;
    let mut open_cluster: Option<(u32, Blobs)> = None;
    let mut decompressed = 0u64;
    // Leads already indexed, by hash: copies of one page under two names would answer twice.
    let mut seen: HashSet<u64> = HashSet::new();
    for (done, &(cluster_index, blob, index)) in articles.iter().enumerate() {
        if open_cluster.as_ref().is_none_or(|(open, _)| *open != cluster_index) {
            // The cluster before is dropped first: one is held at a time.
            drop(open_cluster.take());
            let blobs = Blobs::load(&mut archive, cluster_index, limits, &mut decompressed)
                .map_err(|e| Error::io(format!("reading cluster {cluster_index} of {}", file.display()), e))?;
            open_cluster = Some((cluster_index, blobs));
        }
        let Some((_, cluster)) = &open_cluster else { continue };
        let bytes = cluster
            .blob(&mut archive, blob, limits)
            .map_err(|e| Error::io(format!("reading an article of {}", file.display()), e))?;
        if bytes.len() as u64 > limits.max_entry {
            return Err(Error::io(
                format!("reading an article of {}", file.display()),
                limits.entry_error(),
            ));
        }
        let html = String::from_utf8_lossy(&bytes).into_owned();
        // Progress in bytes is the share of articles read, as the file is read out of order.
        let now = per_article * (done as u64 + 1);
        progress.add_read(now - reported);
        reported = now;

        let Some(text) = lead_text(&html) else { continue };
        let mut hasher = DefaultHasher::new();
        text.hash(&mut hasher);
        if !seen.insert(hasher.finish()) {
            continue;
        }
        let entry = archive.entry(index).map_err(zim_error("reading an entry of"))?;
        let title = if entry.title.is_empty() {
            entry.url.replace('_', " ")
        } else {
            entry.title
        };
        sink(CorpusDoc {
            id: format!("{relative}:{}", entry.url),
            title,
            text,
            source: relative.to_string(),
            url: canonical_url(&html).unwrap_or(entry.url),
            by_title: false,
        })?;
    }
    progress.add_read(size.saturating_sub(reported));
    Ok(())
}

/// How a cluster is compressed: the low four bits of its first byte. ZIM also defines zlib (2)
/// and bzip2 (3), which libzim has not written for a decade; they are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Lzma2,
    Zstd,
}

impl Compression {
    fn from_info(info: u8) -> std::io::Result<Compression> {
        match info & 0x0F {
            0 | 1 => Ok(Compression::None),
            4 => Ok(Compression::Lzma2),
            5 => Ok(Compression::Zstd),
            other => Err(invalid(&format!("cluster compression {other}, which is not supported"))),
        }
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// The ZIM header: the fields the reader uses (<https://wiki.openzim.org/wiki/ZIM_file_format>).
struct Header {
    entry_count: u32,
    cluster_count: u32,
    url_ptr_pos: u64,
    cluster_ptr_pos: u64,
    checksum_pos: u64,
}

/// The parts of a directory entry the reader uses.
struct Entry {
    /// The MIME type, None for redirects, link targets and deleted entries.
    mime: Option<String>,
    namespace: u8,
    /// (cluster, blob) of the content; None for redirects, link targets and deleted entries.
    blob: Option<(u32, u32)>,
    url: String,
    title: String,
}

/// A directory entry is a few fixed bytes and two short strings; libzim reads at most this much.
const MAX_ENTRY_SIZE: u64 = 64 * 1024;
/// The MIME list is a handful of short strings.
const MAX_MIME_LIST_SIZE: u64 = 64 * 1024;

/// A ZIM archive read with plain positioned reads: the file is never mapped (the `zim` crate's
/// `memmap 0.7` is unmaintained) and nothing is held but the header and the MIME list. Entries
/// are read through a buffer, as consecutive entries are stored next to each other.
struct Archive {
    reader: BufReader<File>,
    len: u64,
    header: Header,
    mimes: Vec<String>,
}

impl Archive {
    fn open(path: &Path) -> std::io::Result<Archive> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let mut fixed = [0u8; 80];
        reader
            .read_exact(&mut fixed)
            .map_err(|_| invalid("a file smaller than a ZIM header"))?;
        let u16_at = |at: usize| u16::from_le_bytes([fixed[at], fixed[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]]);
        let u64_at = |at: usize| u64::from(u32_at(at)) | (u64::from(u32_at(at + 4)) << 32);
        if u32_at(0) != 0x044D_495A {
            return Err(invalid("not a ZIM archive (wrong magic number)"));
        }
        if !matches!(u16_at(4), 5 | 6) {
            return Err(invalid(&format!("ZIM major version {}, not 5 or 6", u16_at(4))));
        }
        let header = Header {
            entry_count: u32_at(24),
            cluster_count: u32_at(28),
            url_ptr_pos: u64_at(32),
            cluster_ptr_pos: u64_at(48),
            checksum_pos: u64_at(72),
        };
        let mime_list_pos = u64_at(56);
        // The checksum closes the archive: a file cut short ends before it.
        if header.checksum_pos.checked_add(16).is_none_or(|end| end > len) {
            return Err(invalid(
                "a checksum position past the end of the file (a truncated archive?)",
            ));
        }
        for (what, pos, count) in [
            ("URL pointer list", header.url_ptr_pos, header.entry_count),
            ("cluster pointer list", header.cluster_ptr_pos, header.cluster_count),
        ] {
            if u64::from(count)
                .checked_mul(8)
                .and_then(|size| pos.checked_add(size))
                .is_none_or(|end| end > header.checksum_pos)
            {
                return Err(invalid(&format!("a {what} past the end of the archive")));
            }
        }
        let mut archive = Archive {
            reader,
            len,
            header,
            mimes: Vec::new(),
        };
        archive.seek(mime_list_pos)?;
        let mut list = (&mut archive.reader).take(MAX_MIME_LIST_SIZE);
        loop {
            let mut mime = Vec::new();
            list.read_until(0, &mut mime)?;
            if mime.pop() != Some(0) {
                return Err(invalid("an unterminated MIME type list"));
            }
            if mime.is_empty() {
                break;
            }
            archive
                .mimes
                .push(String::from_utf8(mime).map_err(|_| invalid("a MIME type that is not UTF-8"))?);
        }
        Ok(archive)
    }

    /// Moves to `pos`, keeping the buffer when `pos` is in it.
    fn seek(&mut self, pos: u64) -> std::io::Result<()> {
        if pos > self.len {
            return Err(invalid("a position past the end of the file"));
        }
        let here = self.reader.stream_position()?;
        let offset = i64::try_from(pos)
            .ok()
            .zip(i64::try_from(here).ok())
            .map(|(p, h)| p - h);
        match offset {
            Some(offset) => self.reader.seek_relative(offset),
            None => self.reader.seek(SeekFrom::Start(pos)).map(|_| ()),
        }
    }

    fn u64_at(&mut self, pos: u64) -> std::io::Result<u64> {
        self.seek(pos)?;
        let mut bytes = [0u8; 8];
        self.reader.read_exact(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    /// Pointer `index` of the list at `base` holding `count` (checked to fit the file at open).
    fn pointer(&mut self, base: u64, index: u32, count: u32) -> std::io::Result<u64> {
        if index >= count {
            return Err(invalid("a pointer number past its list"));
        }
        self.u64_at(base + 8 * u64::from(index))
    }

    /// The directory entry at `index` in URL order.
    fn entry(&mut self, index: u32) -> std::io::Result<Entry> {
        let at = self.pointer(self.header.url_ptr_pos, index, self.header.entry_count)?;
        self.seek(at)?;
        let mut fixed = [0u8; 8];
        self.reader.read_exact(&mut fixed)?;
        let mime_id = u16::from_le_bytes([fixed[0], fixed[1]]);
        let namespace = fixed[3];
        let mut u32_next = || -> std::io::Result<u32> {
            let mut bytes = [0u8; 4];
            self.reader.read_exact(&mut bytes)?;
            Ok(u32::from_le_bytes(bytes))
        };
        let (mime, blob) = match mime_id {
            // A redirect holds the entry it points to; a link target or a deleted entry nothing.
            0xFFFF => {
                u32_next()?;
                (None, None)
            }
            0xFFFE | 0xFFFD => (None, None),
            id => {
                let mime = self
                    .mimes
                    .get(usize::from(id))
                    .cloned()
                    .ok_or_else(|| invalid("a MIME type number past the MIME list"))?;
                let cluster = u32_next()?;
                let blob = u32_next()?;
                (Some(mime), Some((cluster, blob)))
            }
        };
        let mut strings = (&mut self.reader).take(MAX_ENTRY_SIZE);
        let mut text = || -> std::io::Result<String> {
            let mut bytes = Vec::new();
            strings.read_until(0, &mut bytes)?;
            if bytes.pop() != Some(0) {
                return Err(invalid("an unterminated string in a directory entry"));
            }
            String::from_utf8(bytes).map_err(|_| invalid("a directory entry that is not UTF-8"))
        };
        let url = text()?;
        let title = text()?;
        Ok(Entry {
            mime,
            namespace,
            blob,
            url,
            title,
        })
    }
}

/// One cluster's blobs. A compressed cluster is read through the decoder and never past the
/// entry limit (a 126 KB archive holding one 1 GB article once took 2.1 GB); a stored one is
/// not read whole: its blob table is, and then each blob from the file when it is asked for.
struct Blobs {
    data: ClusterData,
    /// Offsets into the cluster's data, one more than there are blobs (the last is its end).
    offsets: Vec<u64>,
}

enum ClusterData {
    Decompressed(Vec<u8>),
    /// Stored: where its data starts in the file.
    Stored(u64),
}

impl Blobs {
    /// Reads cluster `index`, adding what was decompressed to `decompressed`, which must stay
    /// within the input's limit.
    fn load(archive: &mut Archive, index: u32, limits: &Limits, decompressed: &mut u64) -> std::io::Result<Blobs> {
        let header = &archive.header;
        let (base, count, checksum_pos) = (header.cluster_ptr_pos, header.cluster_count, header.checksum_pos);
        let start = archive.pointer(base, index, count)?;
        // The last cluster runs up to the checksum.
        let end = if index + 1 < count {
            archive.pointer(base, index + 1, count)?
        } else {
            checksum_pos
        };
        if end <= start || end > archive.len {
            return Err(invalid("a cluster that ends before it starts or past the file"));
        }
        archive.seek(start)?;
        let mut info = [0u8; 1];
        archive.reader.read_exact(&mut info)?;
        let extended = info[0] & 0x10 != 0;
        let compression = Compression::from_info(info[0])?;
        let payload = start + 1;
        let compressed = (&mut archive.reader).take(end - payload);
        let decode = |decoder: &mut dyn Read| -> std::io::Result<Vec<u8>> {
            let mut out = Vec::new();
            decoder.take(limits.max_entry.saturating_add(1)).read_to_end(&mut out)?;
            if out.len() as u64 > limits.max_entry {
                return Err(limits.entry_error());
            }
            Ok(out)
        };
        let bytes = match compression {
            Compression::None => {
                let width = if extended { 8 } else { 4 };
                let mut first = vec![0u8; width];
                compressed.take(width as u64).read_exact(&mut first)?;
                let table =
                    offsets_in(&first, u64::MAX, extended, true).ok_or_else(|| invalid("an invalid blob list"))?;
                // The table is 4 or 8 bytes a blob: past the entry limit it is not a real cluster's.
                let size = table.first().copied().unwrap_or_default();
                if size > limits.max_entry {
                    return Err(limits.entry_error());
                }
                archive.seek(payload)?;
                let mut table = Vec::new();
                (&mut archive.reader).take(size).read_to_end(&mut table)?;
                let offsets = offsets_in(&table, end - payload, extended, false)
                    .ok_or_else(|| invalid("an invalid blob list"))?;
                return Ok(Blobs {
                    data: ClusterData::Stored(payload),
                    offsets,
                });
            }
            // liblzma and zstd read ahead in buffers of their own: the buffered reader gives them
            // whole blocks.
            Compression::Lzma2 => decode(&mut liblzma::read::XzDecoder::new(compressed))?,
            Compression::Zstd => decode(&mut zstd::stream::read::Decoder::new(compressed)?)?,
        };
        *decompressed = decompressed.saturating_add(bytes.len() as u64);
        if *decompressed > limits.max_input {
            return Err(limits.input_error());
        }
        let offsets = blob_offsets(&bytes, extended).ok_or_else(|| invalid("an invalid blob list"))?;
        Ok(Blobs {
            data: ClusterData::Decompressed(bytes),
            offsets,
        })
    }

    /// Blob `index`: a copy, read from the file for a stored cluster, where one over the entry
    /// limit is refused before it is read.
    fn blob(&self, archive: &mut Archive, index: u32, limits: &Limits) -> std::io::Result<Vec<u8>> {
        let index = index as usize;
        let (start, end) = match (self.offsets.get(index), self.offsets.get(index + 1)) {
            (Some(&start), Some(&end)) => (start, end),
            _ => return Err(invalid("a blob number past the cluster's blobs")),
        };
        // Offsets never decrease and never pass the data (`offsets_in`), so this is in range.
        match &self.data {
            ClusterData::Decompressed(data) => {
                let range = usize::try_from(start).ok().zip(usize::try_from(end).ok());
                range
                    .and_then(|(start, end)| data.get(start..end))
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| invalid("a blob past the cluster's data"))
            }
            ClusterData::Stored(payload) => {
                if end - start > limits.max_entry {
                    return Err(limits.entry_error());
                }
                archive.seek(payload + start)?;
                let mut bytes = Vec::new();
                (&mut archive.reader).take(end - start).read_to_end(&mut bytes)?;
                if (bytes.len() as u64) < end - start {
                    return Err(invalid("a blob past the end of the file"));
                }
                Ok(bytes)
            }
        }
    }
}

/// A cluster's blob offsets: 4 or 8 bytes each (extended), the first one also the size of the
/// table, each no smaller than the one before and none past the data. None when they are not so.
fn blob_offsets(data: &[u8], extended: bool) -> Option<Vec<u64>> {
    offsets_in(data, data.len() as u64, extended, false)
}

/// The blob table at the start of `table`, for a cluster of `data_len` bytes; with `first_only`,
/// only its first offset (the table's size), for reading the rest.
fn offsets_in(table: &[u8], data_len: u64, extended: bool, first_only: bool) -> Option<Vec<u64>> {
    let width = if extended { 8 } else { 4 };
    let read = |at: usize| -> Option<u64> {
        let bytes = table.get(at..at + width)?;
        Some(if extended {
            u64::from_le_bytes(bytes.try_into().ok()?)
        } else {
            u64::from(u32::from_le_bytes(bytes.try_into().ok()?))
        })
    };
    let first = read(0)?;
    let size = usize::try_from(first).ok()?;
    if size < width || size % width != 0 || first > data_len {
        return None;
    }
    if first_only {
        return Some(vec![first]);
    }
    let mut offsets = Vec::with_capacity(size / width);
    for at in (0..size).step_by(width) {
        let offset = read(at)?;
        if offsets.last().is_some_and(|&before| offset < before) || offset > data_len {
            return None;
        }
        offsets.push(offset);
    }
    Some(offsets)
}

/// The largest character boundary of `text` at or below `at`: a byte limit that falls inside "é"
/// or "–" must not cut it (slicing there panics, and a panic hung `index build`).
fn char_floor(text: &str, at: usize) -> usize {
    let mut end = at.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// The page's `<link rel="canonical" href="...">`, which Kiwix keeps: a citation the user can open.
fn canonical_url(html: &str) -> Option<String> {
    let head = &html[..html.find("</head>").unwrap_or_else(|| char_floor(html, 4096))];
    let at = head.find("rel=\"canonical\"")?;
    let tag_start = head[..at].rfind('<')?;
    let tag = &head[tag_start..head[at..].find('>').map_or(head.len(), |end| at + end)];
    let href = tag.split("href=\"").nth(1)?.split('"').next()?;
    href.starts_with("http").then(|| href.to_string())
}

/// Elements whose text is not prose: reference marks ("[1]"), infoboxes, styles, formulas.
const SKIPPED: [&str; 7] = ["sup", "table", "style", "script", "figure", "math", "audio"];

/// The text of an article's lead: its paragraphs before the first section heading, without
/// reference marks, tables or styles. None when there is no prose (a redirect page, a list, a
/// disambiguation page).
pub(super) fn lead_text(html: &str) -> Option<String> {
    let body = html.find("<body").map_or(html, |at| &html[at..]);
    let mut lead = String::new();
    let mut paragraph = String::new();
    let mut in_paragraph = false;
    let mut skipping: Vec<&str> = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        if in_paragraph && skipping.is_empty() {
            paragraph.push_str(&rest[..open]);
        }
        let Some(close) = rest[open..].find('>') else { break };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(skipped) = SKIPPED.iter().find(|s| **s == name) {
            if closing {
                if let Some(at) = skipping.iter().rposition(|s| s == skipped) {
                    skipping.truncate(at);
                }
            } else if !tag.ends_with('/') {
                skipping.push(skipped);
            }
            continue;
        }
        match (name.as_str(), closing) {
            ("p", false) => {
                in_paragraph = true;
                paragraph.clear();
            }
            ("p", true) if in_paragraph => {
                in_paragraph = false;
                let text = squeeze(&html_escape::decode_html_entities(&paragraph));
                if !text.is_empty() {
                    if !lead.is_empty() {
                        lead.push(' ');
                    }
                    lead.push_str(&text);
                }
                if lead.len() >= MAX_LEAD_CHARS {
                    break;
                }
            }
            // The lead ends where the first section starts.
            ("h2", false) if !lead.is_empty() => break,
            _ => {}
        }
    }
    if lead.len() > MAX_LEAD_CHARS {
        let limit = char_floor(&lead, MAX_LEAD_CHARS);
        let cut = lead[..limit].rfind(". ").map_or(limit, |at| at + 1);
        let mut end = cut;
        while !lead.is_char_boundary(end) {
            end -= 1;
        }
        lead.truncate(end);
    }
    // A disambiguation page lists meanings; none of them is the answer.
    let listing = lead.trim_end().ends_with("refer to:") || lead.trim_end().ends_with("refers to:");
    (!lead.is_empty() && !listing).then_some(lead)
}

/// A ZIM archive in memory, as small as the format allows: one cluster holding `articles`
/// (path, title, HTML), compressed as `compression` says (`None`, `Lzma2` or `Zstd`). The checksum
/// is zeros (the reader does not check it). For tests and the fuzz targets.
pub(super) fn tiny_zim(articles: &[(&str, &str, &[u8])], compression: Compression) -> Vec<u8> {
    let count = u32::try_from(articles.len()).unwrap_or(u32::MAX);
    let mime = b"text/html\0\0";
    let url_ptr_pos = 80 + mime.len() as u64;
    let title_ptr_pos = url_ptr_pos + 8 * u64::from(count);
    let mut dirents = Vec::new();
    let mut dirent_at = Vec::new();
    let dirents_pos = title_ptr_pos + 4 * u64::from(count);
    for (blob, (path, title, _)) in articles.iter().enumerate() {
        dirent_at.push(dirents_pos + dirents.len() as u64);
        dirents.extend_from_slice(&0u16.to_le_bytes()); // mime type 0: text/html
        dirents.push(0); // parameter length
        dirents.push(b'A');
        dirents.extend_from_slice(&0u32.to_le_bytes()); // revision
        dirents.extend_from_slice(&0u32.to_le_bytes()); // cluster
        dirents.extend_from_slice(&(blob as u32).to_le_bytes());
        dirents.extend_from_slice(path.as_bytes());
        dirents.push(0);
        dirents.extend_from_slice(title.as_bytes());
        dirents.push(0);
    }
    let cluster_ptr_pos = dirents_pos + dirents.len() as u64;
    let cluster_pos = cluster_ptr_pos + 8;
    let mut data = Vec::new();
    let mut offset = 4 * (u32::try_from(articles.len()).unwrap_or(u32::MAX) + 1);
    for (_, _, html) in articles {
        data.extend_from_slice(&offset.to_le_bytes());
        offset += html.len() as u32;
    }
    data.extend_from_slice(&offset.to_le_bytes());
    for (_, _, html) in articles {
        data.extend_from_slice(html);
    }
    let (info, payload) = match compression {
        Compression::None => (1u8, data),
        Compression::Lzma2 => {
            let mut out = Vec::new();
            let _ = liblzma::read::XzEncoder::new(&data[..], 6).read_to_end(&mut out);
            (4, out)
        }
        Compression::Zstd => (5, zstd::stream::encode_all(&data[..], 3).unwrap_or_default()),
    };
    let checksum_pos = cluster_pos + 1 + payload.len() as u64;
    let mut zim = Vec::new();
    zim.extend_from_slice(&0x044D_495Au32.to_le_bytes());
    zim.extend_from_slice(&5u16.to_le_bytes());
    zim.extend_from_slice(&0u16.to_le_bytes());
    zim.extend_from_slice(&[7; 16]);
    zim.extend_from_slice(&count.to_le_bytes());
    zim.extend_from_slice(&1u32.to_le_bytes());
    for pos in [url_ptr_pos, title_ptr_pos, cluster_ptr_pos, 80] {
        zim.extend_from_slice(&pos.to_le_bytes());
    }
    zim.extend_from_slice(&u32::MAX.to_le_bytes()); // no main page
    zim.extend_from_slice(&u32::MAX.to_le_bytes()); // no layout page
    zim.extend_from_slice(&checksum_pos.to_le_bytes());
    zim.extend_from_slice(mime);
    for at in &dirent_at {
        zim.extend_from_slice(&at.to_le_bytes());
    }
    for index in 0..count {
        zim.extend_from_slice(&index.to_le_bytes());
    }
    zim.extend_from_slice(&dirents);
    zim.extend_from_slice(&cluster_pos.to_le_bytes());
    zim.push(info);
    zim.extend_from_slice(&payload);
    zim.extend_from_slice(&[0; 16]);
    zim
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documents(zim: &[u8], limits: &Limits) -> Result<Vec<CorpusDoc>, Error> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.zim");
        std::fs::write(&file, zim).unwrap();
        let mut docs = Vec::new();
        read(&file, "a.zim", limits, &Progress::default(), &mut |doc| {
            docs.push(doc);
            Ok(())
        })?;
        Ok(docs)
    }

    fn limits(max_entry: u64, max_input: u64) -> Limits {
        Limits {
            max_entry,
            max_input,
            ..Limits::none("a.zim")
        }
    }

    #[test]
    fn a_tiny_archive_reads_in_every_compression() {
        let page = b"<html><body><p>Lima is the capital of Peru.</p></body></html>";
        for compression in [Compression::None, Compression::Lzma2, Compression::Zstd] {
            let docs = documents(
                &tiny_zim(&[("Lima", "Lima", page)], compression),
                &Limits::none("a.zim"),
            )
            .unwrap();
            assert_eq!(docs.len(), 1, "{compression:?}");
            assert_eq!(docs[0].text, "Lima is the capital of Peru.");
        }
    }

    /// The attack review's M6: a 126 KB archive holding one 1 GB article took 2.1 GB. A cluster
    /// is now decompressed no further than the entry limit, an article no larger is copied, and
    /// the clusters together stay within the input's limit.
    #[test]
    fn a_decompression_bomb_stops_at_the_limits() {
        let big = format!("<html><body><p>{}</p></body></html>", "word ".repeat(400_000));
        let bomb = tiny_zim(&[("Big", "Big", big.as_bytes())], Compression::Zstd);
        assert!(bomb.len() < 2_000, "{} bytes", bomb.len());
        let err = documents(&bomb, &limits(1 << 20, u64::MAX)).unwrap_err().to_string();
        assert!(err.contains("a.zim") && err.contains("--max-entry-bytes"), "{err}");
        let err = documents(&bomb, &limits(u64::MAX, 1 << 20)).unwrap_err().to_string();
        assert!(err.contains("a.zim") && err.contains("--max-input-bytes"), "{err}");
        // Stored (not compressed), the article itself is over the limit.
        let stored = tiny_zim(&[("Big", "Big", big.as_bytes())], Compression::None);
        let err = documents(&stored, &limits(1 << 20, u64::MAX)).unwrap_err().to_string();
        assert!(err.contains("--max-entry-bytes"), "{err}");
        assert_eq!(documents(&bomb, &limits(4 << 20, 4 << 20)).unwrap().len(), 1);
    }

    /// The reader parses the header, entries and clusters itself: an archive cut anywhere, or
    /// with any byte changed, gives documents or an error naming the file, never a panic.
    #[test]
    fn cut_or_corrupt_archives_are_errors_not_panics() {
        let page = b"<html><body><p>Lima is the capital of Peru.</p></body></html>";
        for compression in [Compression::None, Compression::Lzma2, Compression::Zstd] {
            let zim = tiny_zim(&[("Lima", "Lima", page), ("Quito", "Quito", page)], compression);
            for len in 0..zim.len() - 16 {
                let err = documents(&zim[..len], &Limits::none("a.zim")).unwrap_err().to_string();
                assert!(err.contains("a.zim"), "{compression:?} cut at {len}: {err}");
            }
            for at in 0..zim.len() {
                let mut bad = zim.clone();
                bad[at] ^= 0xA5;
                let _ = documents(&bad, &limits(1 << 20, 1 << 20));
            }
        }
    }

    #[test]
    fn broken_blob_tables_are_errors() {
        assert_eq!(blob_offsets(&[8, 0, 0, 0, 8, 0, 0, 0], false), Some(vec![8, 8]));
        for bad in [
            &[][..],
            &[3, 0, 0, 0],
            &[12, 0, 0, 0, 8, 0, 0, 0],
            &[8, 0, 0, 0, 4, 0, 0, 0],
            &[8, 0, 0, 0, 99, 0, 0, 0],
        ] {
            assert_eq!(blob_offsets(bad, false), None, "{bad:?}");
        }
    }

    #[test]
    fn byte_limits_inside_a_character_do_not_panic() {
        // "é" across byte 2,000 of the lead, and across byte 4,096 of a page without </head>.
        let lead = format!(
            "<html><body><p>{}é and more text here.</p></body></html>",
            "a".repeat(1_999)
        );
        let text = lead_text(&lead).unwrap();
        assert!(
            text.len() <= MAX_LEAD_CHARS && text.starts_with("aaa"),
            "{}",
            text.len()
        );
        let page = format!(
            "<html><head>{}é<link rel=\"canonical\" href=\"https://x.org/a\">",
            "b".repeat(4_083)
        );
        assert_eq!(canonical_url(&page), None);
        assert_eq!(char_floor("aé", 2), 1);
        assert_eq!(char_floor("aé", 3), 3);
        assert_eq!(char_floor("aé", 99), 3);
    }

    #[test]
    fn the_lead_is_its_paragraphs_without_references_or_infobox() {
        let html = r#"<html><head><link rel="canonical" href="https://en.wikipedia.org/wiki/Ray_Charles"></head><body>
            <h1>Ray Charles</h1><p><b>Ray Charles Robinson</b> (September 23, 1930&nbsp;&#8211; June 10, 2004) was an
            American singer.<sup class="reference">[1]</sup></p>
            <table class="infobox"><tr><td><p>Born Albany</p></td></tr></table>
            <p>He pioneered <i>soul</i> music &amp; more.</p>
            <h2>Early life</h2><p>Charles was born in Albany.</p></body></html>"#;
        assert_eq!(
            lead_text(html).unwrap(),
            "Ray Charles Robinson (September 23, 1930 – June 10, 2004) was an American singer. He pioneered soul music & more."
        );
        assert_eq!(
            canonical_url(html).as_deref(),
            Some("https://en.wikipedia.org/wiki/Ray_Charles")
        );
        assert_eq!(
            lead_text("<body><p>Mercury may refer to:</p><ul><li>a planet</li></ul></body>"),
            None
        );
        assert_eq!(lead_text("<body><div>no prose</div></body>"), None);
    }

    #[test]
    fn reads_the_articles_of_a_real_kiwix_archive() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ingest/wikipedia_en_ray_charles.zim");
        let progress = Progress::default();
        let mut docs = Vec::new();
        // With the default limits: a real archive is nowhere near them.
        let limits = super::super::IngestOptions::default().limits("ray.zim", file_size(&sample));
        read(&sample, "ray.zim", &limits, &progress, &mut |doc| {
            docs.push(doc);
            Ok(())
        })
        .unwrap();
        let ray = docs.iter().find(|d| d.title == "Ray Charles").unwrap();
        assert!(
            ray.text.starts_with("Ray Charles Robinson (September 23, 1930"),
            "{}",
            ray.text
        );
        assert!(!ray.text.contains("Background information"), "the infobox is left out");
        assert_eq!(ray.url, "https://en.wikipedia.org/wiki/Ray_Charles");
        // Scripts, styles, images and redirects are not articles.
        assert!(docs.iter().all(|d| !d.id.ends_with(".js") && !d.id.ends_with(".css")));
        assert!(!docs.iter().any(|d| d.title == "Ray Charles Robinson"));
        assert!(docs.len() > 20, "{} articles", docs.len());
        let leads: std::collections::HashSet<&str> = docs.iter().map(|d| d.text.as_str()).collect();
        assert_eq!(leads.len(), docs.len(), "a page stored once is indexed once");
        assert_eq!(progress.read_bytes(), std::fs::metadata(&sample).unwrap().len());
    }
}
