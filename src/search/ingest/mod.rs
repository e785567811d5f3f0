//! Reads knowledge into corpus documents for the embedded index, one document at a time, so
//! `ecoroute index build --input` holds a bounded amount in memory whatever the input's size.
//!
//! An input is a file or a folder of files (walked recursively, in name order, hidden entries
//! skipped). What each file holds is told by its name:
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
mod kb;
mod wikidata;
mod zim;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use super::embedded::CorpusDoc;
use crate::Error;

/// Where every document goes: the index writer, or a `Vec` in tests.
pub type Sink<'a> = dyn FnMut(CorpusDoc) -> Result<(), Error> + 'a;

/// Choices that apply to the public dumps, which hold every language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOptions {
    /// The language whose labels and descriptions are read from Wikidata ("en"); items without a
    /// label in it, or without an article in that language's Wikipedia, are left out.
    pub language: String,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            language: "en".to_string(),
        }
    }
}

/// How far a build has gone, shared between the reader and whoever reports it. Bytes count the
/// input as stored (compressed bytes for a `.gz`), so the fraction is honest for every kind.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    total_bytes: AtomicU64,
    read_bytes: AtomicU64,
    documents: AtomicU64,
}

impl Progress {
    pub fn total_bytes(&self) -> u64 {
        self.inner.total_bytes.load(Ordering::Relaxed)
    }
    pub fn read_bytes(&self) -> u64 {
        self.inner.read_bytes.load(Ordering::Relaxed)
    }
    pub fn documents(&self) -> u64 {
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
/// folder.
pub fn input_files(input: &Path) -> Result<Vec<PathBuf>, Error> {
    if input.is_file() {
        return match kind_of(input) {
            Some(_) => Ok(vec![input.to_path_buf()]),
            None => Err(Error::index(format!("{}: not a {KNOWN_FILES}", input.display()))),
        };
    }
    let mut files = Vec::new();
    let mut stack = vec![input.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| Error::io(format!("reading the folder {}", dir.display()), e))?;
        for entry in entries {
            let path = entry
                .map_err(|e| Error::io(format!("reading the folder {}", dir.display()), e))?
                .path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
            {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if kind_of(&path).is_some() {
                files.push(path);
            }
        }
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

/// Opens a file for reading as text, decompressing it when it is gzip, and counting its bytes.
fn open_text(file: &Path, gzip: bool, progress: &Progress) -> Result<Box<dyn BufRead>, Error> {
    let handle = File::open(file).map_err(|e| Error::io(format!("opening {}", file.display()), e))?;
    let counted = Counted {
        inner: BufReader::with_capacity(1 << 20, handle),
        progress: progress.clone(),
    };
    Ok(if gzip {
        Box::new(BufReader::with_capacity(1 << 20, MultiGzDecoder::new(counted)))
    } else {
        Box::new(BufReader::new(counted))
    })
}

fn file_size(file: &Path) -> u64 {
    std::fs::metadata(file).map(|m| m.len()).unwrap_or(0)
}

/// Reads every document of an input file or folder into `sink`, one at a time.
pub fn read_into(input: &Path, options: &IngestOptions, progress: &Progress, sink: &mut Sink<'_>) -> Result<(), Error> {
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
            Kind::JsonLines { gzip } => kb::read_jsonl(open_text(file, gzip, progress)?, &relative, &mut counted)?,
            Kind::Markdown | Kind::Text => {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| Error::io(format!("reading {} as UTF-8 text", file.display()), e))?;
                progress.add_read(text.len() as u64);
                let docs = if kind == Kind::Markdown {
                    kb::parse_markdown(&text, &relative)
                } else {
                    kb::parse_text(&text, &relative)
                };
                for doc in docs {
                    counted(doc)?;
                }
            }
            Kind::Zim => zim::read(file, &relative, progress, &mut counted)?,
            Kind::Wikidata { gzip } => {
                let labels = wikidata::collect_labels(open_text(file, gzip, progress)?, options, &relative)?;
                wikidata::read(
                    open_text(file, gzip, progress)?,
                    options,
                    &labels,
                    &relative,
                    &mut counted,
                )?;
            }
            Kind::Abstracts { gzip } => abstracts::read(open_text(file, gzip, progress)?, &relative, &mut counted)?,
        }
    }
    Ok(())
}

/// Every document of an input, in memory: for tests and small inputs.
#[cfg(test)]
pub fn read_documents(input: &Path) -> Result<Vec<CorpusDoc>, Error> {
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
