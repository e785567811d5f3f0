//! The integration tests, one binary: each module starts the real server on port 0 in front of a
//! mock upstream on port 0 (`support`), or runs the `ecoroute` binary. `tests/crash.rs` stays apart:
//! it kills the process it tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod admin;
mod apis;
mod cache;
mod cli;
mod energy;
mod hardening;
mod image;
mod keys;
mod mock_demo;
mod observability;
mod openai_client;
mod postgres;
mod proxy;
mod replay;
mod report;
mod scripts;
mod search_backends;
mod secrets;
mod shadow;
mod slow_search;
mod tiers;
mod upstreams;
