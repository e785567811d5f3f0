//! The parsers' entry points for the fuzz targets in `fuzz/fuzz_targets/` (a separate crate), so
//! nothing else of ingestion has to be public. Each reads one input as `index build` does, under
//! small limits so that the limit paths are fuzzed too, and returns the documents it made.

use std::path::Path;

use super::zim::Compression;
use super::CorpusDoc;
use super::{wikidata, Bounded, IngestOptions, Limits};
use crate::Error;

/// The entry limit under fuzzing: small, so that inputs can reach it.
const MAX_ENTRY_BYTES: u64 = 64 << 10;
/// The input limit under fuzzing.
const MAX_INPUT_BYTES: u64 = 1 << 20;
/// The longest lead a ZIM article gives, in bytes.
pub const MAX_LEAD_BYTES: usize = super::zim::MAX_LEAD_CHARS;

fn limits(name: &str) -> Limits {
    Limits {
        file: name.to_string(),
        max_entry: MAX_ENTRY_BYTES,
        max_input: MAX_INPUT_BYTES,
        input_is_default: false,
    }
}

fn collect(read: impl FnOnce(&mut super::Sink<'_>) -> Result<(), Error>) -> Result<Vec<CorpusDoc>, Error> {
    let mut docs = Vec::new();
    read(&mut |doc| {
        docs.push(doc);
        Ok(())
    })?;
    Ok(docs)
}

/// A Wikidata dump (or API answer): both passes, labels then documents.
pub fn wikidata(bytes: &[u8]) -> Result<Vec<CorpusDoc>, Error> {
    let options = IngestOptions::default();
    let labels = wikidata::collect_labels(Bounded::new(bytes, limits("fuzz.json")), &options, "fuzz.json")?;
    collect(|sink| {
        wikidata::read(
            Bounded::new(bytes, limits("fuzz.json")),
            &options,
            &labels,
            "fuzz.json",
            sink,
        )
    })
}

/// A Wikipedia abstracts dump.
pub fn abstracts(bytes: &[u8]) -> Result<Vec<CorpusDoc>, Error> {
    collect(|sink| super::abstracts::read(Bounded::new(bytes, limits("fuzz.xml")), "fuzz.xml", sink))
}

/// A ZIM archive on disk.
pub fn zim(file: &Path) -> Result<Vec<CorpusDoc>, Error> {
    collect(|sink| super::zim::read(file, "fuzz.zim", &limits("fuzz.zim"), &super::Progress::default(), sink))
}

/// A well-formed ZIM archive of `articles` (path, title, HTML) in one cluster, compressed by
/// `codec` (0 none, 1 xz, 2 zstd): what the ZIM target starts from before it corrupts bytes.
pub fn tiny_zim(articles: &[(&str, &str, &[u8])], codec: u8) -> Vec<u8> {
    let compression = match codec % 3 {
        0 => Compression::None,
        1 => Compression::Lzma2,
        _ => Compression::Zstd,
    };
    super::zim::tiny_zim(articles, compression)
}
