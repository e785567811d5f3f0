//! `[llm]`: the upstream API, its key and its timeouts.

use std::time::Duration;

use serde::Serialize;

use super::{problem, raw::RawLlm, Problem, Purpose};
use crate::redact::{ser, Secret};

#[derive(Debug, Clone, Serialize)]
pub struct LlmConfig {
    /// Base URL including the API version prefix, without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_key_env: Option<String>,
    /// The key read from `api_key_env` at load time.
    pub api_key: Option<Secret<String>>,
    #[serde(rename = "connect_timeout_ms", serialize_with = "ser::millis")]
    pub connect_timeout: Duration,
    #[serde(rename = "first_byte_timeout_ms", serialize_with = "ser::millis")]
    pub first_byte_timeout: Duration,
    #[serde(rename = "total_timeout_ms", serialize_with = "ser::millis")]
    pub total_timeout: Duration,
}

pub(super) fn validate_llm(
    raw: RawLlm,
    env: &dyn Fn(&str) -> Option<String>,
    purpose: Purpose,
    problems: &mut Vec<Problem>,
) -> LlmConfig {
    let base_url = validate_base_url(&raw.base_url).unwrap_or_else(|p| {
        problems.push(p);
        String::new()
    });
    let api_key = match &raw.api_key_env {
        Some(name) if name.trim().is_empty() => {
            problems.push(problem(
                "llm.api_key_env",
                "is empty",
                "name an environment variable, or remove the key to forward the client's Authorization header",
            ));
            None
        }
        Some(name) => match env(name) {
            Some(key) if !key.is_empty() => Some(Secret::new(key)),
            _ if purpose == Purpose::Offline => None,
            _ => {
                problems.push(problem(
                    "llm.api_key_env",
                    format!("environment variable `{name}` is not set"),
                    format!("export {name}=..., or remove llm.api_key_env to forward the client's key"),
                ));
                None
            }
        },
        None => None,
    };
    for (key, value) in [
        ("llm.connect_timeout_ms", raw.connect_timeout_ms),
        ("llm.first_byte_timeout_ms", raw.first_byte_timeout_ms),
        ("llm.total_timeout_ms", raw.total_timeout_ms),
    ] {
        if value == 0 {
            problems.push(problem(key, "must be greater than 0", "give a timeout in milliseconds"));
        }
    }
    if raw.first_byte_timeout_ms > raw.total_timeout_ms {
        problems.push(problem(
            "llm.first_byte_timeout_ms",
            "is longer than llm.total_timeout_ms",
            "make the first-byte timeout at most the total timeout",
        ));
    }
    LlmConfig {
        base_url,
        api_key_env: raw.api_key_env,
        api_key,
        connect_timeout: Duration::from_millis(raw.connect_timeout_ms),
        first_byte_timeout: Duration::from_millis(raw.first_byte_timeout_ms),
        total_timeout: Duration::from_millis(raw.total_timeout_ms),
    }
}

/// An upstream API root: http(s), parseable, without a trailing slash.
pub fn validate_base_url(url: &str) -> Result<String, Problem> {
    let trimmed = url.trim_end_matches('/');
    let scheme_ok = trimmed.starts_with("http://") || trimmed.starts_with("https://");
    if !scheme_ok || reqwest::Url::parse(trimmed).is_err() {
        return Err(problem(
            "llm.base_url",
            format!("`{url}` is not an http(s) URL"),
            "use the upstream's API root, e.g. \"https://api.openai.com/v1\"",
        ));
    }
    Ok(trimmed.to_string())
}
