//! The difficulty router's CPU per request (`max_difficulty` tiers score every request a tier
//! could take): `cargo bench --bench difficulty`. Criterion times one call over real chatbot
//! first messages (`training/reader/real_chat_complex.jsonl`, cycled) and over a long prompt; the
//! per-query distribution (median of 200 runs each, then the median and p99 across queries) is
//! printed too. Criterion's median is in `target/criterion/difficulty*/new/estimates.json`.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use ecoroute::classify::difficulty::DifficultyModel;

fn chat_queries() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("training/reader/real_chat_complex.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["query"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn bench_difficulty(c: &mut Criterion) {
    let model = DifficultyModel::builtin().unwrap();
    let queries = chat_queries();
    let mut i = 0;
    c.bench_function("difficulty/real chat first message", |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            black_box(model.difficulty(black_box(&queries[i])))
        })
    });
    // A long request: every chat query above joined, cut at 8,000 characters.
    let long: String = queries.join("\n").chars().take(8000).collect();
    c.bench_function("difficulty/8000-character prompt", |b| {
        b.iter(|| black_box(model.difficulty(black_box(&long))))
    });
    let mut per_query: Vec<f64> = queries
        .iter()
        .map(|q| {
            let mut t: Vec<f64> = (0..200)
                .map(|_| {
                    let start = Instant::now();
                    black_box(model.difficulty(black_box(q)));
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
        "difficulty: {} chat queries, per-query median {:.2} µs, p99 {:.2} µs, max {:.2} µs",
        per_query.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

criterion_group!(benches, bench_difficulty);
criterion_main!(benches);
