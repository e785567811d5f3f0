//! Answer extraction on arbitrary text: the first line is the question, the rest a search hit's
//! title and text. Sentence splitting, question rewriting, answer typing and the adequacy check
//! must refuse or answer, never panic, whatever the Unicode.
#![no_main]

use ecoroute::search::answer::{answer, Adequacy};
use ecoroute::search::Hit;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let mut parts = text.splitn(3, '\n');
    let question = parts.next().unwrap_or_default();
    let title = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let hits = [
        Hit {
            id: "a".into(),
            title: title.into(),
            text: body.into(),
            source: "fuzz".into(),
            url: "https://example.org/a".into(),
            score: 10.0,
        },
        Hit {
            id: "b".into(),
            title: body.chars().take(40).collect(),
            text: title.into(),
            source: "fuzz".into(),
            url: "https://example.org/b".into(),
            score: 4.0,
        },
    ];
    if let Ok(found) = answer(question, &hits, &Adequacy::default()) {
        assert!((0.0..=1.0).contains(&found.confidence));
        let _ = found.to_message();
    }
});
