//! ecoroute: an inference routing proxy that answers simple factual lookups from a search backend and
//! sends everything else to the LLM, unchanged, recording what each request cost and saved.
//!
//! # Layout
//!
//! Pure core (no I/O, unit- and property-tested in place, benched with criterion):
//! - [`classify`]: request features, config rules, hard guards and the lookup-vs-complex scorer,
//!   which together give a [`classify::Decision`] (class, confidence, route, reason). The guards
//!   include the conversation's language and a system prompt that search answers cannot honour.
//! - [`energy`]: the energy model (EcoLogits' LLM-inference method, CPU-time energy of a search) and
//!   the model catalogue and electricity zones it reads; every figure a low/central/high range.
//! - [`calc`]: the calculator, the simplest tool first: unit conversions, sums, percentages, days
//!   between dates and distances between cities answered exactly, with the method stated, before
//!   any search.
//! - [`search::answer`]: turns search hits into a short answer with its source, or refuses
//!   (the adequacy check that makes a request escalate to the LLM).
//! - `search::reader`: the reader behind the adequacy check: every sentence of the top hits a
//!   candidate, those that cannot fill the slot asked dropped, the rest scored by a trained logistic
//!   regression (`models/reader.json`, `ecoroute train-reader`) as the probability of being right.
//! - `search::evidence`: what a question asks (its answer type, content words, record, maker) and
//!   what a hit's sentences offer, the tests both the adequacy check and the reader apply.
//! - `search::question`: questions as people type them made comparable with documents (country
//!   aliases, shorthand, one term per verb family, typo tolerance, abbreviation expansions).
//! - `classify::model` and `classify::train`: the trained scorer (hashed n-gram logistic
//!   regression, embedded in the binary) and its deterministic trainer.
//! - `eval`: precision, recall, false-lookup rate and threshold calibration over labelled queries,
//!   and answer quality (answered, correct, escalated) over questions with gold answers.
//! - [`lang`]: languages besides English as data (`lang/<code>.toml`): detection, chat frames,
//!   lookup and task cues, content words and the adequacy check on that language's index.
//! - [`cache`]: the response cache (keys in a normal form, near-duplicate lookups, TTL, a byte
//!   budget with least recently used out first) and when an answer may be reused.
//! - `outcome`: what happened to a request, as types (route taken, what served it, who decided,
//!   where its token counts came from, what a cached answer was first), shared by the cache, the
//!   pipeline, the ledger and the metrics.
//! - [`openai`]: the OpenAI wire types we read and write (request view, completion, chunks, errors).
//! - [`api`]: the three chat APIs served (OpenAI chat completions, Anthropic Messages, OpenAI
//!   Responses): each read into [`openai::ChatRequest`], the one view routing needs, and each
//!   answer and error written in the API's own shape.
//!
//! Edges (I/O):
//! - [`config`]: two-stage config loading: serde structs with `deny_unknown_fields`, then a validated
//!   [`config::Config`] with regexes compiled and references checked, one file per table. The
//!   search backend, ledger and energy settings types belong to those modules
//!   (`search::settings`, [`ledger::settings`], [`energy::EnergyConfig`]), which never import the
//!   config.
//! - [`redact`]: [`redact::Secret`] and the serialisers that let the validated config derive its
//!   `Debug` and its `/admin/config` JSON without showing a secret.
//! - [`search`]: the [`search::SearchBackend`] trait and its backends: embedded tantivy (with
//!   [`search::ingest`] reading JSON Lines, Markdown, text, Kiwix ZIM and the Wikidata and Wikipedia abstracts dumps), HTTP JSON APIs including
//!   Elasticsearch/OpenSearch (`search::http`), PostgreSQL full-text (`search::postgres`), and
//!   the circuit breaker layer (`search::breaker`).
//! - [`llm`]: the upstream LLM client (timeouts, header hygiene, streaming pass-through), and in
//!   [`llm::usage`] the pure readers of token usage from an answer as it passes.
//! - [`ledger`]: the request ledger, written by a background thread over a bounded channel into
//!   SQLite, or PostgreSQL for a fleet; a spool file takes rows the database cannot. Each row names
//!   the energy settings it was computed under (recorded once per hash); rows of calls on metered
//!   GPUs wait for their meter's reading ([`ledger::metered`]).
//! - [`limits`]: rate limits and budgets per API key and tenant (pure counters; the server's
//!   [`server::auth`] layer admits or refuses, the ledger writer charges each row's figures).
//! - [`telemetry`]: OpenTelemetry traces over OTLP, written from each request's ledger row.
//! - [`meter`]: GPU energy counters of self-hosted models (DCGM exporter or any Prometheus
//!   counter), read on an interval and handed to the ledger.
//! - [`pipeline`]: every per-request decision, written once: [`pipeline::Pipeline`] (everything
//!   built from one config, swapped whole on reload), tenant policies, the search stack (timeout,
//!   breaker), and [`pipeline::Pipeline::plan`]: the response cache ([`pipeline::cache`]), the
//!   route ([`pipeline::Pipeline::route`]), a near duplicate and the model tier, as a
//!   [`pipeline::Plan`] (answer from the cache, answer from search, or forward) that `serve`,
//!   `replay`, `eval` and `/admin/explain` all read, in the one [`pipeline::Language`] the request
//!   is answered in.
//! - [`server`]: the HTTP server: the accept loop and its client limits ([`server::conn`]), the
//!   tower stack, inbound keys and limits ([`server::auth`]), the chat handler ([`server::chat`]: parse, plan, then answer or forward), the
//!   answers the proxy writes and the LLM leg in their own files, the per-request context that
//!   becomes the ledger row ([`server::ctx`]), pass-through, admin, hot reload and graceful shutdown.
//!
//! Modules import downward only, in the layers `scripts/ci/imports.sh` declares (`.ci/run` checks
//! it): error, civil; redact, cpu, shard, limits; calc, energy; classify; outcome; search; lang; api, openai;
//! cache; metrics; ledger; meter, telemetry; config; llm; pipeline; eval, report; server; cli.
//! Inside `search` too: question, pool, http, postgres, breaker, ingest; evidence, settings;
//! reader; answer; embedded.
//! - [`report`]: savings and footprint reports over ledger rows (pure aggregation; JSON, CSV,
//!   Markdown and HTML), with the settings and sources behind them.
//! - `shard`: thread-per-core serving: single-threaded runtimes, one per core, each keeping its
//!   connections, their requests and their upstream pool.
//! - [`cpu`]: thread CPU time of a stretch of work, which the ledger charges for the proxy and search.
//! - [`metrics`]: Prometheus counters and histograms for `/metrics`.
//! - [`cli`]: the `ecoroute` command line, one file per command (serve and check, index, search,
//!   classify, eval, calibrate, train, report, replay) and the JSON Lines reader they share.
//! - [`error`]: the error a request can meet and its exhaustive mapping to HTTP status and OpenAI
//!   error JSON; library failures keep their cause as `source()`. A command's own failures are
//!   [`cli::CliError`], which wraps it.

pub mod api;
pub mod cache;
pub mod calc;
mod civil;
pub mod classify;
pub mod cli;
pub mod config;
pub mod cpu;
pub mod energy;
pub mod error;
pub(crate) mod eval;
pub mod lang;
pub mod ledger;
pub mod limits;
pub mod llm;
pub mod meter;
pub mod metrics;
pub mod openai;
pub(crate) mod outcome;
pub mod pipeline;
pub mod redact;
pub mod report;
pub mod search;
pub mod server;
pub(crate) mod shard;
pub mod telemetry;

pub use error::Error;
