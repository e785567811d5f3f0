//! Benchmarks of the pure core on real queries: classification (the full decision, as `serve`
//! makes it), the search adequacy check, the embedded search over the default corpus, and the
//! response cache's keys and look-up, and the calculator.
//!
//! `cargo bench --bench core`. Besides criterion's figures (mean time per call over all dev
//! queries), it prints the per-query distribution: each query timed alone (median of 200 runs),
//! then the median and p99 across queries.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use ecoroute::classify::text::core_question;
use ecoroute::classify::{Classifier, RequestFeatures};
use ecoroute::config::Config;
use ecoroute::pipeline::classifier_for;
use ecoroute::search::answer;
use ecoroute::search::embedded::EmbeddedIndex;

fn dev_queries() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("training/dev.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["query"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// The classifier of the shipped config (guards, rules, model and threshold), as `serve` builds it.
fn classifier() -> Classifier {
    let config = Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ecoroute.toml")).unwrap();
    classifier_for(&config)
}

/// Per-query latency distribution: median of `runs` timings per query, then p50/p99 across queries.
fn distribution(label: &str, items: &[String], runs: usize, mut f: impl FnMut(&str)) {
    let mut per_query: Vec<f64> = items
        .iter()
        .map(|q| {
            let mut t: Vec<f64> = (0..runs)
                .map(|_| {
                    let start = Instant::now();
                    f(q);
                    start.elapsed().as_secs_f64() * 1e6
                })
                .collect();
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect();
    per_query.sort_by(f64::total_cmp);
    let at = |q: f64| per_query[((per_query.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label}: {} queries, per-query median {:.2} µs, p99 {:.2} µs, max {:.2} µs",
        per_query.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

fn bench_classify(c: &mut Criterion) {
    let queries = dev_queries();
    let classifier = classifier();
    let features: Vec<RequestFeatures> = queries.iter().map(|q| RequestFeatures::from_query(q)).collect();
    let mut i = 0;
    c.bench_function("classify/decide (dev queries, round robin)", |b| {
        b.iter(|| {
            i = (i + 1) % features.len();
            black_box(classifier.decide(black_box(&features[i])))
        })
    });
    // The load benchmark's request (scripts/bench/load.py), the LLM route's usual case: every
    // request pays this before it is forwarded.
    let haiku = RequestFeatures::from_query("Write a haiku about load balancers");
    c.bench_function("classify/decide (load-test request)", |b| {
        b.iter(|| black_box(classifier.decide(black_box(&haiku))))
    });
    // Long prompts (pasted text to edit, code) are common on the LLM route: their cost must stay
    // proportionate to their length.
    let longest = queries.iter().max_by_key(|q| q.len()).cloned().unwrap_or_default();
    let long = RequestFeatures::from_query(&longest);
    c.bench_function(
        &format!("classify/decide (longest dev query, {} bytes)", longest.len()),
        |b| b.iter(|| black_box(classifier.decide(black_box(&long)))),
    );
    distribution("classify/decide", &queries, 200, |q| {
        black_box(classifier.decide(&RequestFeatures::from_query(q)));
    });
    // The chat-frame strip runs up to three times per request (guard, model, search); this says
    // what sharing it would save.
    distribution("classify/core_question", &queries, 200, |q| {
        black_box(core_question(black_box(q)));
    });
}

fn default_index() -> Arc<EmbeddedIndex> {
    let dir = std::env::temp_dir().join(format!("ecoroute-bench-index-{}", std::process::id()));
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/default.jsonl.gz");
    EmbeddedIndex::build(&dir, &corpus).unwrap();
    Arc::new(EmbeddedIndex::open(&dir).unwrap())
}

fn bench_search(c: &mut Criterion) {
    let index = default_index();
    let lookups: Vec<String> = [
        "What is the capital of Peru?",
        "who discovered oxygen",
        "How many people live in France?",
        "What is a compiler?",
        "define serendipity",
        "what is the currency of japan",
        "Who wrote Hamlet?",
        "when was the product red iphone 7 released",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut i = 0;
    c.bench_function("search/embedded top-5 (default corpus)", |b| {
        b.iter(|| {
            i = (i + 1) % lookups.len();
            black_box(index.search_sync(black_box(&lookups[i]), 5).unwrap())
        })
    });
    let hits: Vec<_> = lookups.iter().map(|q| index.search_sync(q, 5).unwrap()).collect();
    let mut j = 0;
    c.bench_function("search/adequacy check + answer", |b| {
        b.iter(|| {
            j = (j + 1) % lookups.len();
            black_box(answer::answer(black_box(&lookups[j]), &hits[j], &answer::Adequacy::default()).ok())
        })
    });
    distribution("search+answer (default corpus)", &lookups, 200, |q| {
        let hits = index.search_sync(q, 5).unwrap();
        black_box(answer::answer(q, &hits, &answer::Adequacy::default()).ok());
    });
}

/// The response cache's cost on every chat request: keys from the body (parse, normal form,
/// SHA-256), and a look-up in a cache holding 10,000 answers.
fn bench_cache(c: &mut Criterion) {
    use ecoroute::cache::{request_keys, CachedAnswer, LlmCaching, Origin, ResponseCache};
    let body = serde_json::to_vec(&serde_json::json!({
        "model": "gpt-4o-mini",
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant for ACME's customers. Answer briefly."},
            {"role": "user", "content": "What is the capital of Peru?"}
        ]
    }))
    .unwrap();
    c.bench_function("cache/keys of a chat request (parse, normal form, sha-256)", |b| {
        b.iter(|| {
            let value: serde_json::Value = serde_json::from_slice(black_box(&body)).unwrap();
            black_box(request_keys(
                ecoroute::api::Api::ChatCompletions,
                Some("tenant"),
                &value,
                LlmCaching::Deterministic,
                Some("capital of peru"),
            ))
        })
    });
    let cache = ResponseCache::new(64 * 1024 * 1024);
    for i in 0..10_000 {
        let value =
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": format!("question {i}")}]});
        let keys = request_keys(
            ecoroute::api::Api::ChatCompletions,
            None,
            &value,
            LlmCaching::Never,
            None,
        )
        .unwrap();
        let answer = CachedAnswer {
            content: format!("answer {i}, a sentence or two long as lookups are"),
            origin: Origin::Search { source: "doc".into() },
            stored: Instant::now(),
        };
        cache.put(&keys, answer, std::time::Duration::from_secs(3600));
    }
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let miss = request_keys(
        ecoroute::api::Api::ChatCompletions,
        Some("tenant"),
        &value,
        LlmCaching::Deterministic,
        None,
    )
    .unwrap();
    c.bench_function("cache/look-up (10,000 entries, miss)", |b| {
        b.iter(|| black_box(cache.get(black_box(&miss), Instant::now())))
    });
}

/// Pieces of the LLM route's own work per request (issue #23): the thread CPU-clock read the
/// ledger's CPU figures cost (a system call, not vDSO), and reading a chat request twice (the
/// typed view routing needs, and the JSON value the cache keys hash).
fn bench_request_path(c: &mut Criterion) {
    let body = br#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write a limerick about Lima"}]}"#;
    c.bench_function("request/thread CPU clock read (CpuMeter::start)", |b| {
        b.iter(|| black_box(ecoroute::cpu::CpuMeter::start()))
    });
    c.bench_function("request/parse a chat request (typed view)", |b| {
        b.iter(|| black_box(ecoroute::openai::ChatRequest::parse(black_box(body)).ok()))
    });
    c.bench_function("request/parse a chat request (serde_json::Value)", |b| {
        b.iter(|| black_box(serde_json::from_slice::<serde_json::Value>(black_box(body)).ok()))
    });
    let chat = ecoroute::openai::ChatRequest::parse(body).ok();
    c.bench_function("request/features of a parsed request", |b| {
        b.iter(|| black_box(chat.as_ref().map(ecoroute::openai::ChatRequest::features)))
    });
}

/// The calculator, which every routed question passes through first: a distance between two cities
/// (two look-ups in the table of places), and a lookup that is no calculation (every form tried).
fn bench_calc(c: &mut Criterion) {
    ecoroute::calc::warm_up();
    c.bench_function("calc/distance between two cities", |b| {
        b.iter(|| black_box(ecoroute::calc::calculate(black_box("How far is Tokyo from Osaka?"))))
    });
    c.bench_function("calc/a lookup that is no calculation", |b| {
        b.iter(|| black_box(ecoroute::calc::calculate(black_box("What is the capital of Peru?"))))
    });
}

criterion_group!(
    benches,
    bench_classify,
    bench_search,
    bench_cache,
    bench_request_path,
    bench_calc
);
criterion_main!(benches);
