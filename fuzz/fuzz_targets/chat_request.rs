//! Any bytes as a `/v1/chat/completions` body: parsing, feature extraction (every message, any
//! content shape), token estimates and the classifier with the shipped config's guards, rules and
//! model. Malformed JSON, invalid UTF-8, deep nesting and thousands of messages must give an error
//! or a decision, never a panic.
#![no_main]

use std::sync::LazyLock;

use ecoroute::classify::Classifier;
use ecoroute::config::Config;
use ecoroute::openai::ChatRequest;
use libfuzzer_sys::fuzz_target;

static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(|| {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/ecoroute.toml");
    let config = Config::load(&path).expect("the shipped config loads");
    ecoroute::pipeline::classifier_for(&config)
});

fuzz_target!(|body: &[u8]| {
    let Ok(request) = ChatRequest::parse(body) else { return };
    let features = request.features();
    let decision = CLASSIFIER.decide(&features);
    assert!((0.0..=1.0).contains(&decision.confidence));
    let _ = decision.reason();
    let _ = request.estimated_prompt_tokens();
    let _ = request.model_name();
    let _ = request.is_stream();
});
