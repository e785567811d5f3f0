//! The Wikipedia abstracts dump (XML): any bytes, entities, comments, CDATA and unclosed tags
//! give documents or an error, never a panic; every document has a title and prose.
#![no_main]

use ecoroute::search::ingest::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(docs) = fuzzing::abstracts(data) {
        for doc in docs {
            assert!(!doc.title.is_empty() && doc.text.len() >= 20, "{:?}", doc.title);
        }
    }
});
