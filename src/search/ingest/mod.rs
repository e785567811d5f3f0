//! Reads knowledge into corpus documents for the embedded index, one document at a time, so
//! `ecoroute index build --input` holds a bounded amount in memory whatever the input's size: at
//! most one entry of `--max-entry-bytes` (a line, an XML text, a ZIM cluster and article) at a time.
//!
//! An input is a file or a folder of files (walked recursively, in name order, hidden entries,
//! FIFOs, devices and sockets skipped, links followed and each target read once). What each file
//! holds is told by its name:
//!
//! - a company's knowledge base ([`kb`]): JSON Lines (`.jsonl`, `.ndjson`, gzip or plain),
//!   Markdown (`.md`), plain text (`.txt`);
//! - offline Wikipedia ([`zim`]): a Kiwix ZIM archive (`.zim`), the lead section of each article;
//! - Wikidata ([`wikidata`]): the JSON dump (`.json`, `.json.gz`), each item's label, description,
//!   aliases and its facts as sentences;
//! - the Wikipedia abstracts dump ([`abstracts`]): `enwiki-*-abstract*.xml(.gz)`.
//!
//! [`Progress`] is shared with whoever shows it: bytes read of the total, documents produced.

mod abstracts;
#[doc(hidden)]
pub mod fuzzing;
mod kb;
mod wikidata;
mod zim;

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};

use crate::Error;

/// One corpus document, as stored in `corpus/*.jsonl(.gz)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorpusDoc {
    pub id: String,
    pub title: String,
    pub text: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub url: String,
    /// Found by its title only, not by the words of its text: a package description says what
    /// its software is ("OpenConnect is an SSL VPN client"), and many short ones naming "VPN"
    /// would crowd the definition of a VPN out of the hits.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_title: bool,
}

/// Where every document goes: the index writer, or a `Vec` in tests.
pub(crate) type Sink<'a> = dyn FnMut(CorpusDoc) -> Result<(), Error> + 'a;

/// Choices that apply to the public dumps, which hold every language, and the limits that keep a
/// hostile or broken input from taking the machine's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IngestOptions {
    /// The language whose labels and descriptions are read from Wikidata ("en"); items without a
    /// label in it, or without an article in that language's Wikipedia, are left out.
    pub language: String,
    /// The most bytes one entry may hold once decompressed: a JSON line, an XML text, a ZIM
    /// cluster or article, a Markdown or text file. It is what a build holds at once, so it bounds
    /// memory: a 1 MB `.gz` holding one 1 GiB line took 5.3 GB before.
    pub max_entry_bytes: u64,
    /// The most bytes one input file may decompress to; `None` is [`EXPANSION_LIMIT`] times its
    /// size on disk, which no genuine dump comes near (Wikidata's is about 11) and a
    /// decompression bomb passes at once, or one entry's limit if more (a small file of repeated
    /// text may well expand more, and so little is harmless).
    pub max_input_bytes: Option<u64>,
}

/// The default of `--max-entry-bytes`: far above any real entry (a Wikidata entity is at most a
/// few MB, a Wikipedia article's HTML rarely 1 MB) and small enough to hold twice.
const DEFAULT_MAX_ENTRY_BYTES: u64 = 64 << 20;

/// How many times its stored size an input may decompress to when `--max-input-bytes` is not
/// given. Gzip can reach about 1,000; text compresses 3 to 15 times.
const EXPANSION_LIMIT: u64 = 100;

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            language: "en".to_string(),
            max_entry_bytes: DEFAULT_MAX_ENTRY_BYTES,
            max_input_bytes: None,
        }
    }
}

impl IngestOptions {
    /// The limits of one input file of `stored` bytes, named `file` in their errors.
    fn limits(&self, file: &str, stored: u64) -> Limits {
        Limits {
            file: file.to_string(),
            max_entry: self.max_entry_bytes,
            max_input: self
                .max_input_bytes
                .unwrap_or_else(|| stored.saturating_mul(EXPANSION_LIMIT).max(self.max_entry_bytes)),
            input_is_default: self.max_input_bytes.is_none(),
        }
    }
}

/// The limits of one input file, checked as it is read.
#[derive(Debug, Clone)]
struct Limits {
    file: String,
    max_entry: u64,
    max_input: u64,
    input_is_default: bool,
}

impl Limits {
    /// No limit: for tests of the parsers and for the fuzz targets' own bounds.
    #[cfg(test)]
    fn none(file: &str) -> Limits {
        Limits {
            file: file.to_string(),
            max_entry: u64::MAX,
            max_input: u64::MAX,
            input_is_default: false,
        }
    }

    /// Bytes in memory read with no limit.
    #[cfg(test)]
    fn unbounded(bytes: &[u8]) -> Bounded<&[u8]> {
        Bounded::new(bytes, Limits::none("test"))
    }

    fn entry_error(&self) -> std::io::Error {
        std::io::Error::other(format!(
            "{}: an entry (a line, an XML text, a ZIM cluster or article, a text file) is over {} bytes; \
             if the input is genuine, raise --max-entry-bytes (default {} MiB)",
            self.file,
            self.max_entry,
            DEFAULT_MAX_ENTRY_BYTES >> 20
        ))
    }

    fn input_error(&self) -> std::io::Error {
        let why = if self.input_is_default {
            format!(" (by default {EXPANSION_LIMIT} times its size on disk, or --max-entry-bytes if more)")
        } else {
            String::new()
        };
        std::io::Error::other(format!(
            "{}: decompresses to more than {} bytes{why}; if the input is genuine, raise --max-input-bytes",
            self.file, self.max_input
        ))
    }
}

/// A decompressed stream that refuses to go past its [`Limits`]: more than `max_input` bytes in
/// all, or more than `max_entry` bytes since the reader last called [`Bounded::next_entry`]. The
/// parsers read lines and XML events through `fill_buf`, which is never given more than one byte
/// past either limit, so memory stays within the limit whatever the input says.
pub(crate) struct Bounded<R> {
    inner: R,
    limits: Limits,
    input: u64,
    entry: u64,
}

impl<R: BufRead> Bounded<R> {
    fn new(inner: R, limits: Limits) -> Self {
        Bounded {
            inner,
            limits,
            input: 0,
            entry: 0,
        }
    }

    /// The reader moves on to the next entry: a new line, a new XML event.
    fn next_entry(&mut self) {
        self.entry = 0;
    }

    fn max_entry(&self) -> u64 {
        self.limits.max_entry
    }

    /// The error of an entry over the limit, for what the parser holds across reads.
    fn entry_error(&self) -> std::io::Error {
        self.limits.entry_error()
    }
}

impl<R: BufRead> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Bounded<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.entry > self.limits.max_entry {
            return Err(self.limits.entry_error());
        }
        if self.input > self.limits.max_input {
            return Err(self.limits.input_error());
        }
        // One byte past the tighter limit is enough to know it was passed.
        let room = (self.limits.max_entry - self.entry).min(self.limits.max_input - self.input);
        let room = usize::try_from(room.saturating_add(1)).unwrap_or(usize::MAX);
        let available = self.inner.fill_buf()?;
        Ok(&available[..available.len().min(room)])
    }

    fn consume(&mut self, amount: usize) {
        self.entry = self.entry.saturating_add(amount as u64);
        self.input = self.input.saturating_add(amount as u64);
        self.inner.consume(amount);
    }
}

/// How far a build has gone, shared between the reader and whoever reports it. Bytes count the
/// input as stored (compressed bytes for a `.gz`), so the fraction is honest for every kind.
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    total_bytes: AtomicU64,
    read_bytes: AtomicU64,
    documents: AtomicU64,
}

impl Progress {
    pub(crate) fn total_bytes(&self) -> u64 {
        self.inner.total_bytes.load(Ordering::Relaxed)
    }
    pub(crate) fn read_bytes(&self) -> u64 {
        self.inner.read_bytes.load(Ordering::Relaxed)
    }
    pub(crate) fn documents(&self) -> u64 {
        self.inner.documents.load(Ordering::Relaxed)
    }
    fn add_total(&self, bytes: u64) {
        self.inner.total_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    fn add_read(&self, bytes: u64) {
        self.inner.read_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    fn add_document(&self) {
        self.inner.documents.fetch_add(1, Ordering::Relaxed);
    }
}

/// A reader that adds what passes through it to the progress.
struct Counted<R> {
    inner: R,
    progress: Progress,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add_read(n as u64);
        Ok(n)
    }
}

/// The kinds of file knowledge is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    JsonLines { gzip: bool },
    Markdown,
    Text,
    Zim,
    Wikidata { gzip: bool },
    Abstracts { gzip: bool },
}

impl Kind {
    /// How many times the file is read: Wikidata's facts name other items, whose labels are
    /// collected in a first pass.
    fn passes(self) -> u64 {
        match self {
            Kind::Wikidata { .. } => 2,
            _ => 1,
        }
    }
}

const KNOWN_FILES: &str =
    ".jsonl(.gz), .md, .txt, .zim, a Wikidata .json(.gz) dump or a Wikipedia abstract .xml(.gz) dump";

fn kind_of(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let (stem, gzip) = match name.strip_suffix(".gz") {
        Some(stem) => (stem, true),
        None => (name.as_str(), false),
    };
    let extension = stem.rsplit_once('.').map(|(_, ext)| ext)?;
    match (extension, gzip) {
        ("jsonl" | "ndjson", gzip) => Some(Kind::JsonLines { gzip }),
        ("json", gzip) => Some(Kind::Wikidata { gzip }),
        ("xml", gzip) => Some(Kind::Abstracts { gzip }),
        ("md" | "markdown", false) => Some(Kind::Markdown),
        ("txt", false) => Some(Kind::Text),
        ("zim", false) => Some(Kind::Zim),
        _ => None,
    }
}

/// The files an input names, in a stable order: the file itself, or every readable file under the
/// folder. What is not a regular file or a folder (a FIFO, a device, a socket, a broken link) is
/// skipped with a warning, as reading it could wait forever or never end (a FIFO named
/// `kb.jsonl`, a link to `/dev/zero`, both hung the build). Links are followed, and each file
/// and folder is read once whatever the links that lead to it, so a link back up (`sub/loop ->
/// ..`) is no loop (one document was indexed 41 times).
pub(crate) fn input_files(input: &Path) -> Result<Vec<PathBuf>, Error> {
    let metadata =
        std::fs::metadata(input).map_err(|e| Error::io(format!("reading the input {}", input.display()), e))?;
    if metadata.is_file() {
        return match kind_of(input) {
            Some(_) => Ok(vec![input.to_path_buf()]),
            None => Err(Error::index(format!("{}: not a {KNOWN_FILES}", input.display()))),
        };
    }
    if !metadata.is_dir() {
        return Err(Error::index(format!(
            "{}: neither a regular file nor a folder (a FIFO, device or socket cannot be indexed)",
            input.display()
        )));
    }
    let canonical = |path: &Path| {
        path.canonicalize()
            .map_err(|e| Error::io(format!("resolving {}", path.display()), e))
    };
    let mut folders_seen = HashSet::from([canonical(input)?]);
    let mut files_seen = HashSet::new();
    let mut files = Vec::new();
    let mut stack = vec![input.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| Error::io(format!("reading the folder {}", dir.display()), e))?;
        let mut paths = Vec::new();
        for entry in entries {
            paths.push(
                entry
                    .map_err(|e| Error::io(format!("reading the folder {}", dir.display()), e))?
                    .path(),
            );
        }
        // Sorted, so which of two links to one file is kept does not depend on the file system.
        paths.sort();
        let mut folders = Vec::new();
        for path in paths {
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
            {
                continue;
            }
            let Ok(metadata) = std::fs::metadata(&path) else {
                tracing::warn!("skipping {}: a link to nothing, or unreadable", path.display());
                continue;
            };
            if metadata.is_dir() {
                if folders_seen.insert(canonical(&path)?) {
                    folders.push(path);
                }
            } else if kind_of(&path).is_none() {
                continue;
            } else if !metadata.is_file() {
                tracing::warn!(
                    "skipping {}: not a regular file (a FIFO, device or socket), which could be read forever",
                    path.display()
                );
            } else if files_seen.insert(canonical(&path)?) {
                files.push(path);
            }
        }
        stack.extend(folders.into_iter().rev());
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::index(format!(
            "{}: holds no {KNOWN_FILES} files",
            input.display()
        )));
    }
    Ok(files)
}

/// Opens a file for reading as text, decompressing it when it is gzip, counting its bytes and
/// holding it to its limits.
fn open_text(
    file: &Path,
    gzip: bool,
    options: &IngestOptions,
    progress: &Progress,
) -> Result<Bounded<Box<dyn BufRead>>, Error> {
    let handle = File::open(file).map_err(|e| Error::io(format!("opening {}", file.display()), e))?;
    let limits = options.limits(&file.display().to_string(), file_size(file));
    let counted = Counted {
        inner: BufReader::with_capacity(1 << 20, handle),
        progress: progress.clone(),
    };
    let reader: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::with_capacity(1 << 20, MultiGzDecoder::new(counted)))
    } else {
        Box::new(BufReader::new(counted))
    };
    Ok(Bounded::new(reader, limits))
}

fn file_size(file: &Path) -> u64 {
    std::fs::metadata(file).map(|m| m.len()).unwrap_or(0)
}

/// Reads every document of an input file or folder into `sink`, one at a time.
pub(crate) fn read_into(
    input: &Path,
    options: &IngestOptions,
    progress: &Progress,
    sink: &mut Sink<'_>,
) -> Result<(), Error> {
    let root = if input.is_dir() {
        input
    } else {
        input.parent().unwrap_or(input)
    };
    let files = input_files(input)?;
    let mut kinds = Vec::with_capacity(files.len());
    for file in &files {
        let kind = kind_of(file).ok_or_else(|| Error::index(format!("{}: unknown file type", file.display())))?;
        progress.add_total(file_size(file) * kind.passes());
        kinds.push(kind);
    }
    let mut counted = |doc: CorpusDoc| {
        progress.add_document();
        sink(doc)
    };
    for (file, kind) in files.iter().zip(kinds) {
        let relative = file
            .strip_prefix(root)
            .unwrap_or(file)
            .to_string_lossy()
            .replace('\\', "/");
        match kind {
            Kind::JsonLines { gzip } => {
                kb::read_jsonl(open_text(file, gzip, options, progress)?, &relative, &mut counted)?
            }
            Kind::Markdown | Kind::Text => {
                // The whole file is one entry: it is held to parse its sections.
                let mut text = String::new();
                open_text(file, false, options, progress)?
                    .read_to_string(&mut text)
                    .map_err(|e| Error::io(format!("reading {} as UTF-8 text", file.display()), e))?;
                let docs = if kind == Kind::Markdown {
                    kb::parse_markdown(&text, &relative)
                } else {
                    kb::parse_text(&text, &relative)
                };
                for doc in docs {
                    counted(doc)?;
                }
            }
            Kind::Zim => zim::read(
                file,
                &relative,
                &options.limits(&file.display().to_string(), file_size(file)),
                progress,
                &mut counted,
            )?,
            Kind::Wikidata { gzip } => {
                let labels = wikidata::collect_labels(open_text(file, gzip, options, progress)?, options, &relative)?;
                wikidata::read(
                    open_text(file, gzip, options, progress)?,
                    options,
                    &labels,
                    &relative,
                    &mut counted,
                )?;
            }
            Kind::Abstracts { gzip } => {
                abstracts::read(open_text(file, gzip, options, progress)?, &relative, &mut counted)?
            }
        }
    }
    Ok(())
}

/// Every document of an input, in memory: for tests and small inputs.
#[cfg(test)]
pub(crate) fn read_documents(input: &Path) -> Result<Vec<CorpusDoc>, Error> {
    let mut docs = Vec::new();
    read_into(input, &IngestOptions::default(), &Progress::default(), &mut |doc| {
        docs.push(doc);
        Ok(())
    })?;
    Ok(docs)
}

/// Whitespace runs become one space: extracted text reads as sentences.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_kinds_follow_the_name() {
        let kind = |name: &str| kind_of(Path::new(name));
        assert_eq!(kind("kb.jsonl.gz"), Some(Kind::JsonLines { gzip: true }));
        assert_eq!(kind("latest-all.json.gz"), Some(Kind::Wikidata { gzip: true }));
        assert_eq!(
            kind("enwiki-latest-abstract1.xml"),
            Some(Kind::Abstracts { gzip: false })
        );
        assert_eq!(kind("wikipedia_en_all_nopic.zim"), Some(Kind::Zim));
        assert_eq!(kind("notes.md"), Some(Kind::Markdown));
        assert_eq!(kind("notes.md.gz"), None);
        assert_eq!(kind("image.png"), None);
        assert_eq!(kind("README"), None);
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut encoder, bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn read_file(name: &str, content: &[u8], options: &IngestOptions) -> Result<usize, Error> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), content).unwrap();
        let mut count = 0;
        read_into(&dir.path().join(name), options, &Progress::default(), &mut |_| {
            count += 1;
            Ok(())
        })?;
        Ok(count)
    }

    /// The attack review's M6: a 1 MB `.gz` holding one 1 GiB line or element took 3 to 5 GB.
    /// Every format now stops at the entry limit, and names the file and the flag.
    #[test]
    fn an_entry_over_the_limit_is_refused_in_every_format() {
        let options = IngestOptions {
            max_entry_bytes: 10_000,
            ..IngestOptions::default()
        };
        let long = "x".repeat(20_000);
        let jsonl = format!("{{\"title\":\"A\",\"text\":\"short\"}}\n{{\"title\":\"B\",\"text\":\"{long}\"}}\n");
        let wikidata = format!("[\n{{\"id\":\"Q1\",\"labels\":{{}},\"x\":\"{long}\"}}\n]\n");
        let abstracts = format!("<feed><doc><title>A</title><abstract>{long}</abstract></doc></feed>");
        // Split by comments, no one text event is long, but the document is.
        let split = format!(
            "<feed><doc><title>A</title><abstract>{}</abstract></doc></feed>",
            vec!["y".repeat(1_000); 20].join("<!-- -->")
        );
        for (name, content) in [
            ("kb.jsonl.gz", gzip(jsonl.as_bytes())),
            ("kb.jsonl", jsonl.into_bytes()),
            ("dump.json.gz", gzip(wikidata.as_bytes())),
            ("enwiki-abstract.xml.gz", gzip(abstracts.as_bytes())),
            ("enwiki-abstract2.xml", split.into_bytes()),
            ("notes.md", long.clone().into_bytes()),
        ] {
            let err = read_file(name, &content, &options).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains("--max-entry-bytes"), "{name}: {err}");
            // Under the default limits the same file reads.
            assert!(read_file(name, &content, &IngestOptions::default()).is_ok(), "{name}");
        }
    }

    /// A small `.gz` of many small lines is a bomb too: the whole input is limited, by default
    /// to 100 times its size on disk.
    #[test]
    fn an_input_that_expands_too_far_is_refused() {
        let line = "{\"title\":\"A\",\"text\":\"The same line again.\"}\n";
        let bomb = gzip(line.repeat(100_000).as_bytes());
        assert!(bomb.len() * 100 < line.len() * 100_000, "{} bytes", bomb.len());
        // The default is at least one entry's limit: a small one here, as the test's input is small.
        let options = IngestOptions {
            max_entry_bytes: 10_000,
            ..IngestOptions::default()
        };
        let err = read_file("kb.jsonl.gz", &bomb, &options).unwrap_err().to_string();
        assert!(
            err.contains("kb.jsonl.gz") && err.contains("--max-input-bytes") && err.contains("100 times"),
            "{err}"
        );
        let generous = IngestOptions {
            max_input_bytes: Some(10 << 20),
            ..IngestOptions::default()
        };
        assert_eq!(read_file("kb.jsonl.gz", &bomb, &generous).unwrap(), 100_000);
        let tight = IngestOptions {
            max_input_bytes: Some(1000),
            ..IngestOptions::default()
        };
        let err = read_file("kb.jsonl", line.repeat(100).as_bytes(), &tight)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--max-input-bytes") && !err.contains("100 times"), "{err}");
    }

    #[test]
    fn a_line_at_the_limit_reads_and_one_byte_more_does_not() {
        let limits = |max_entry| Limits {
            max_entry,
            ..Limits::none("t")
        };
        let mut line = String::new();
        let mut at = Bounded::new(&b"abcd\nefgh"[..], limits(5));
        at.read_line(&mut line).unwrap();
        at.next_entry();
        at.read_line(&mut line).unwrap();
        assert_eq!(line, "abcd\nefgh");
        let mut over = Bounded::new(&b"abcdef\n"[..], limits(5));
        assert!(over.read_line(&mut String::new()).is_err());
    }

    /// The attack review's L12: a FIFO named `fifo.jsonl` and a link `zero.jsonl -> /dev/zero`
    /// hung the build; a link back up (`sub/loop -> ..`) indexed one document 41 times.
    #[cfg(unix)]
    #[test]
    fn special_files_are_skipped_and_links_followed_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/kb.jsonl"), "{\"title\":\"A\",\"text\":\"Alpha.\"}\n").unwrap();
        std::os::unix::fs::symlink("..", root.join("sub/loop")).unwrap();
        std::os::unix::fs::symlink("sub/kb.jsonl", root.join("again.jsonl")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("zero.jsonl")).unwrap();
        std::os::unix::fs::symlink("nowhere.jsonl", root.join("broken.jsonl")).unwrap();
        let fifo = root.join("fifo.jsonl");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        // Run where a hang fails the test instead of stalling it.
        let (tx, rx) = std::sync::mpsc::channel();
        let input = root.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(read_documents(&input).map(|docs| docs.len()));
        });
        let count = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the build ends")
            .unwrap();
        assert_eq!(count, 1, "one document, read once");
        let files = input_files(root).unwrap();
        assert_eq!(files, [root.join("again.jsonl")]);
        let err = input_files(&fifo).unwrap_err().to_string();
        assert!(err.contains("neither a regular file nor a folder"), "{err}");
    }

    #[test]
    fn progress_counts_bytes_and_documents_of_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "Alpha text.\n\nBeta text.").unwrap();
        std::fs::write(dir.path().join("b.jsonl"), "{\"title\":\"B\",\"text\":\"Bee.\"}\n").unwrap();
        let progress = Progress::default();
        let mut titles = Vec::new();
        read_into(dir.path(), &IngestOptions::default(), &progress, &mut |doc| {
            titles.push(doc.title);
            Ok(())
        })
        .unwrap();
        assert_eq!(titles, ["a", "a", "B"]);
        assert_eq!(progress.documents(), 3);
        assert_eq!(progress.total_bytes(), 23 + 28);
        assert_eq!(progress.read_bytes(), progress.total_bytes());
    }
}
