//! `[llm]`: the upstream APIs (OpenAI-compatible, and `[llm.anthropic]` for the Messages API),
//! their keys and their timeouts.

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
    /// The Anthropic upstream, for `POST /v1/messages`.
    pub anthropic: AnthropicConfig,
}

/// `[llm.anthropic]`: its key, when set, is sent as `x-api-key` in place of the client's.
#[derive(Debug, Clone, Serialize)]
pub struct AnthropicConfig {
    pub base_url: String,
    pub api_key_env: Option<String>,
    pub api_key: Option<Secret<String>>,
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
    let api_key = read_key("llm.api_key_env", raw.api_key_env.as_deref(), env, purpose, problems);
    let anthropic = AnthropicConfig {
        base_url: validate_base_url(&raw.anthropic.base_url)
            .map_err(|mut p| {
                p.key = "llm.anthropic.base_url".into();
                p.fix = "use Anthropic's API root, e.g. \"https://api.anthropic.com/v1\"".into();
                problems.push(p);
            })
            .unwrap_or_default(),
        api_key: read_key(
            "llm.anthropic.api_key_env",
            raw.anthropic.api_key_env.as_deref(),
            env,
            purpose,
            problems,
        ),
        api_key_env: raw.anthropic.api_key_env,
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
        anthropic,
    }
}

/// The key named by `key` (an `api_key_env`), read from the environment; offline commands do
/// without it.
fn read_key(
    key: &str,
    name: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    purpose: Purpose,
    problems: &mut Vec<Problem>,
) -> Option<Secret<String>> {
    match name {
        Some(name) if name.trim().is_empty() => {
            problems.push(problem(
                key,
                "is empty",
                "name an environment variable, or remove the key to forward the client's own key",
            ));
            None
        }
        Some(name) => match env(name) {
            Some(value) if !value.is_empty() => Some(Secret::new(value)),
            _ if purpose == Purpose::Offline => None,
            _ => {
                problems.push(problem(
                    key,
                    format!("environment variable `{name}` is not set"),
                    format!("export {name}=..., or remove {key} to forward the client's key"),
                ));
                None
            }
        },
        None => None,
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
