//! The Wikidata JSON dump (one entity per line, or an API answer) through both passes: any bytes
//! give documents or an error, never a panic, and every document is a notable item with a label
//! and something to say.
#![no_main]

use ecoroute::search::ingest::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(docs) = fuzzing::wikidata(data) {
        for doc in docs {
            assert!(doc.id.starts_with("wikidata:Q"), "{}", doc.id);
            assert!(!doc.title.is_empty() && !doc.text.is_empty());
        }
    }
});
