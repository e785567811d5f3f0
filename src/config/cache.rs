//! `[cache]`: whether the response cache is on, its byte budget, its TTL and when LLM answers may
//! be reused; tenants may override the last two (`[[tenant]] cache_ttl_s`, `cache_llm`).

use std::time::Duration;

use serde::Serialize;

use super::{problem, raw, Problem};
use crate::cache::{CachePolicy, LlmCaching};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheConfig {
    pub enabled: bool,
    pub max_bytes: usize,
    pub near_duplicates: bool,
    /// The policy of tenants without their own.
    pub policy: CachePolicy,
}

pub(super) fn parse_llm_caching(text: &str, key: String, problems: &mut Vec<Problem>) -> LlmCaching {
    LlmCaching::parse(text).unwrap_or_else(|| {
        problems.push(problem(
            key,
            format!("unknown value `{text}`"),
            "use \"never\", \"deterministic\" (temperature 0, one choice) or \"always\"",
        ));
        LlmCaching::Never
    })
}

pub(super) fn check_ttl(ttl_s: u64, key: String, problems: &mut Vec<Problem>) -> Duration {
    if ttl_s > 30 * 86_400 {
        problems.push(problem(
            key,
            format!("{ttl_s} s is more than 30 days"),
            "answers go stale: use at most 2592000 (30 days); 3600 keeps them an hour",
        ));
    }
    Duration::from_secs(ttl_s)
}

pub(super) fn validate_cache(raw: &raw::RawCache, problems: &mut Vec<Problem>) -> CacheConfig {
    if raw.enabled && raw.max_bytes < 64 * 1024 {
        problems.push(problem(
            "cache.max_bytes",
            format!("{} bytes cannot hold a useful number of answers", raw.max_bytes),
            "use at least 65536, or enabled = false",
        ));
    }
    CacheConfig {
        enabled: raw.enabled,
        max_bytes: raw.max_bytes,
        near_duplicates: raw.near_duplicates,
        policy: CachePolicy {
            ttl: check_ttl(raw.ttl_s, "cache.ttl_s".into(), problems),
            llm: parse_llm_caching(&raw.llm, "cache.llm".into(), problems),
        },
    }
}
