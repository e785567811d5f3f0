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
    /// The pass-through requests a client may make where the proxy sends a configured key.
    pub passthrough: Vec<PassthroughRule>,
    #[serde(rename = "connect_timeout_ms", serialize_with = "ser::millis")]
    pub connect_timeout: Duration,
    #[serde(rename = "first_byte_timeout_ms", serialize_with = "ser::millis")]
    pub first_byte_timeout: Duration,
    #[serde(rename = "total_timeout_ms", serialize_with = "ser::millis")]
    pub total_timeout: Duration,
    /// The Anthropic upstream, for `POST /v1/messages`.
    pub anthropic: AnthropicConfig,
    /// `[[llm.deployments]]`; empty: `[llm]` and `[llm.anthropic]` are one implicit deployment each.
    pub deployments: Vec<DeploymentConfig>,
    pub retry: RetryConfig,
    /// For a model, the models tried in order once every deployment serving it has failed.
    pub fallback_models: std::collections::BTreeMap<String, Vec<String>>,
}

/// Which API a deployment speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentApi {
    Openai,
    Anthropic,
}

/// `[[llm.deployments]]` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDeployment {
    pub name: String,
    pub base_url: String,
    pub api_key_env: Option<String>,
    #[serde(default = "default_api")]
    pub api: DeploymentApi,
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// The models it serves; absent: every model.
    pub models: Option<Vec<String>>,
    /// The name this deployment knows the model by (an Azure deployment name, a vLLM path).
    pub model: Option<String>,
}

fn default_api() -> DeploymentApi {
    DeploymentApi::Openai
}

fn default_weight() -> u32 {
    1
}

/// One upstream a model's requests may go to.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentConfig {
    pub name: String,
    pub base_url: String,
    pub api_key_env: Option<String>,
    pub api_key: Option<Secret<String>>,
    pub api: DeploymentApi,
    pub weight: u32,
    pub models: Option<Vec<String>>,
    pub model: Option<String>,
}

/// `[llm.retry]` as written; `max_tries` defaults to 1 (today's single try) without deployments.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawRetry {
    pub max_tries: Option<u32>,
    pub backoff_ms: Option<u64>,
    pub backoff_max_ms: Option<u64>,
    pub retry_after_cap_ms: Option<u64>,
    pub cooldown_failures: Option<u32>,
    pub cooldown_ms: Option<u64>,
}

/// How a failed try (no connection, no headers in time, a 429 or a 5xx) is repeated.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RetryConfig {
    /// Tries per request, across deployments, the first included.
    pub max_tries: u32,
    /// The first wait before the same deployment is tried again, doubled each time, jittered.
    #[serde(rename = "backoff_ms", serialize_with = "ser::millis")]
    pub backoff: Duration,
    #[serde(rename = "backoff_max_ms", serialize_with = "ser::millis")]
    pub backoff_max: Duration,
    /// A 429's `Retry-After` is honoured up to this; longer, the deployment is left for another.
    #[serde(rename = "retry_after_cap_ms", serialize_with = "ser::millis")]
    pub retry_after_cap: Duration,
    /// Consecutive failures that cool a deployment down, and for how long.
    pub cooldown_failures: u32,
    #[serde(rename = "cooldown_ms", serialize_with = "ser::millis")]
    pub cooldown: Duration,
}

fn validate_deployments(
    raw: Vec<RawDeployment>,
    env: &dyn Fn(&str) -> Option<String>,
    purpose: Purpose,
    problems: &mut Vec<Problem>,
) -> Vec<DeploymentConfig> {
    let mut names = std::collections::HashSet::new();
    raw.into_iter()
        .enumerate()
        .map(|(i, d)| {
            let key = |field: &str| format!("llm.deployments[{i}].{field}");
            let name_ok = !d.name.is_empty()
                && d.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !name_ok {
                problems.push(problem(
                    key("name"),
                    format!("`{}` is not a name", d.name),
                    "use letters, digits, `-`, `_` or `.`, e.g. \"openai-east\" (it appears in the ledger's `tries`)",
                ));
            } else if !names.insert(d.name.clone()) {
                problems.push(problem(
                    key("name"),
                    format!("`{}` names two deployments", d.name),
                    "give every deployment its own name",
                ));
            }
            let base_url = validate_base_url(&d.base_url)
                .map_err(|mut p| {
                    p.key = key("base_url");
                    problems.push(p);
                })
                .unwrap_or_default();
            if d.weight == 0 {
                problems.push(problem(
                    key("weight"),
                    "must be greater than 0",
                    "give a relative share, e.g. 1; remove the deployment to send it nothing",
                ));
            }
            if d.models
                .as_ref()
                .is_some_and(|m| m.is_empty() || m.iter().any(String::is_empty))
            {
                problems.push(problem(
                    key("models"),
                    "is empty or has an empty name",
                    "list the models it serves, or remove `models` for every model",
                ));
            }
            if d.model.as_ref().is_some_and(String::is_empty) {
                problems.push(problem(
                    key("model"),
                    "is empty",
                    "name the model as this deployment knows it, or remove `model`",
                ));
            }
            let api_key = read_key(&key("api_key_env"), d.api_key_env.as_deref(), env, purpose, problems);
            DeploymentConfig {
                name: d.name,
                base_url,
                api_key_env: d.api_key_env,
                api_key,
                api: d.api,
                weight: d.weight,
                models: d.models,
                model: d.model,
            }
        })
        .collect()
}

fn validate_retry(raw: &RawRetry, with_deployments: bool, problems: &mut Vec<Problem>) -> RetryConfig {
    let retry = RetryConfig {
        max_tries: raw.max_tries.unwrap_or(if with_deployments { 3 } else { 1 }),
        backoff: Duration::from_millis(raw.backoff_ms.unwrap_or(100)),
        backoff_max: Duration::from_millis(raw.backoff_max_ms.unwrap_or(1_000)),
        retry_after_cap: Duration::from_millis(raw.retry_after_cap_ms.unwrap_or(2_000)),
        cooldown_failures: raw.cooldown_failures.unwrap_or(3),
        cooldown: Duration::from_millis(raw.cooldown_ms.unwrap_or(30_000)),
    };
    if !(1..=10).contains(&retry.max_tries) {
        problems.push(problem(
            "llm.retry.max_tries",
            format!("is {}", retry.max_tries),
            "give 1 to 10 tries per request (1: no retry)",
        ));
    }
    if retry.backoff > retry.backoff_max {
        problems.push(problem(
            "llm.retry.backoff_ms",
            "is longer than llm.retry.backoff_max_ms",
            "make the first wait at most the longest",
        ));
    }
    if retry.backoff_max > Duration::from_secs(30) || retry.retry_after_cap > Duration::from_secs(30) {
        problems.push(problem(
            "llm.retry",
            "waits over 30 s before a try",
            "keep backoff_max_ms and retry_after_cap_ms under 30000: a client waits through them",
        ));
    }
    if retry.cooldown_failures == 0 {
        problems.push(problem(
            "llm.retry.cooldown_failures",
            "must be greater than 0",
            "give the consecutive failures that cool a deployment down, e.g. 3",
        ));
    }
    retry
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
    let passthrough = raw
        .passthrough
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| {
            PassthroughRule::parse(entry)
                .map_err(|why| {
                    problems.push(problem(
                        format!("llm.passthrough[{i}]"),
                        format!("`{entry}` {why}"),
                        "write \"METHOD /v1/path\", e.g. \"GET /v1/models\" or \"POST /v1/files\" (`*` for any \
                         method or one path segment), or \"*\" alone to allow every request",
                    ))
                })
                .ok()
        })
        .collect();
    let deployments = validate_deployments(raw.deployments, env, purpose, problems);
    let retry = validate_retry(&raw.retry, !deployments.is_empty(), problems);
    for (model, fallbacks) in &raw.fallback_models {
        if fallbacks.is_empty() || fallbacks.iter().any(|f| f.is_empty() || f == model) {
            problems.push(problem(
                format!("llm.fallback_models.{model}"),
                "is empty, or names an empty model or the model itself",
                "list other models to try in order, e.g. [\"gpt-4o-mini\"]",
            ));
        }
    }
    LlmConfig {
        deployments,
        retry,
        fallback_models: raw.fallback_models,
        base_url,
        api_key_env: raw.api_key_env,
        api_key,
        passthrough,
        connect_timeout: Duration::from_millis(raw.connect_timeout_ms),
        first_byte_timeout: Duration::from_millis(raw.first_byte_timeout_ms),
        total_timeout: Duration::from_millis(raw.total_timeout_ms),
        anthropic,
    }
}

/// The pass-through requests allowed by default where the operator's key is sent: the list of
/// models, and the paths the proxy serves that are not chat requests (Anthropic's token count, a
/// Responses answer by its id). Anything else (files, batches, fine-tuning, the organisation's
/// admin endpoints) would let any client that reaches the proxy act with the operator's key.
pub(crate) const DEFAULT_PASSTHROUGH: [&str; 4] = [
    "GET /v1/models",
    "GET /v1/models/*",
    "POST /v1/messages/count_tokens",
    "GET /v1/responses/*",
];

/// One `llm.passthrough` entry: a method (or `*`) and a path whose segments are literal or `*`
/// (any one segment); `*` alone allows every request.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct PassthroughRule {
    text: String,
    #[serde(skip)]
    method: Option<http::Method>,
    /// `None`: any path. A segment `None`: any one non-empty segment.
    #[serde(skip)]
    segments: Option<Vec<Option<String>>>,
}

impl PassthroughRule {
    fn parse(entry: &str) -> Result<PassthroughRule, &'static str> {
        let text = entry.trim().to_string();
        if text == "*" {
            return Ok(PassthroughRule {
                text,
                method: None,
                segments: None,
            });
        }
        let (method, path) = text.split_once(' ').ok_or("has no method and path")?;
        let method = match method {
            "*" => None,
            m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => {
                Some(http::Method::from_bytes(m.as_bytes()).map_err(|_| "has no valid method")?)
            }
            _ => return Err("has no method in capitals"),
        };
        let path = path.trim();
        if !path.starts_with("/v1/") || path.contains(['?', '#', ' ']) {
            return Err("has no path starting /v1/ (without a query)");
        }
        let segments = path
            .split('/')
            .skip(1)
            .map(|s| match s {
                "*" => Ok(None),
                s if s.is_empty() || s.contains('*') => Err("has an empty segment or a `*` inside one"),
                s => Ok(Some(s.to_string())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PassthroughRule {
            text,
            method,
            segments: Some(segments),
        })
    }

    /// Whether a request's method and path (without its query) are allowed by this rule.
    pub(crate) fn allows(&self, method: &http::Method, path: &str) -> bool {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return false;
        }
        let Some(segments) = &self.segments else { return true };
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let asked: Vec<&str> = rest.split('/').collect();
        asked.len() == segments.len()
            && asked.iter().zip(segments).all(|(a, s)| match s {
                Some(literal) => a == literal,
                None => !a.is_empty(),
            })
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
pub(crate) fn validate_base_url(url: &str) -> Result<String, Problem> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(entries: &[&str]) -> Vec<PassthroughRule> {
        entries.iter().map(|e| PassthroughRule::parse(e).unwrap()).collect()
    }

    fn allowed(rules: &[PassthroughRule], method: &str, path: &str) -> bool {
        let method = http::Method::from_bytes(method.as_bytes()).unwrap();
        rules.iter().any(|r| r.allows(&method, path))
    }

    #[test]
    fn the_default_pass_through_is_the_models_and_the_paths_served() {
        let default = rules(&DEFAULT_PASSTHROUGH);
        for (method, path) in [
            ("GET", "/v1/models"),
            ("GET", "/v1/models/gpt-4o-mini"),
            ("POST", "/v1/messages/count_tokens"),
            ("GET", "/v1/responses/resp_abc"),
        ] {
            assert!(allowed(&default, method, path), "{method} {path}");
        }
        // The attack review's M9: what a keyless client did with the operator's key.
        for (method, path) in [
            ("DELETE", "/v1/files/file-of-another-team"),
            ("GET", "/v1/files/x/content"),
            ("GET", "/v1/batches"),
            ("POST", "/v1/fine_tuning/jobs"),
            ("GET", "/v1/organization/admin_api_keys"),
            ("GET", "/v1/messages/batches"),
            ("DELETE", "/v1/messages/batches/b1"),
            ("DELETE", "/v1/models/ft:gpt-4o:acme"),
            ("GET", "/v1/models/"),
            ("GET", "/v1/responses/resp_abc/input_items"),
            ("GET", "/v1/chat/completions"),
        ] {
            assert!(!allowed(&default, method, path), "{method} {path}");
        }
        let wide = rules(&["*"]);
        assert!(allowed(&wide, "DELETE", "/v1/files/f"));
        let files = rules(&["* /v1/files", "GET /v1/files/*/content"]);
        assert!(allowed(&files, "POST", "/v1/files") && allowed(&files, "GET", "/v1/files/f1/content"));
        assert!(!allowed(&files, "DELETE", "/v1/files/f1"));
    }

    #[test]
    fn a_bad_entry_is_refused_with_its_reason() {
        for bad in [
            "GET",
            "get /v1/models",
            "GET models",
            "GET /v1/models?x=1",
            "GET /v1//x",
            "GET /v1/mod*",
        ] {
            assert!(PassthroughRule::parse(bad).is_err(), "{bad}");
        }
    }
}
