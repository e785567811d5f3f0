//! Several upstreams per API (`[[llm.deployments]]`): weighted choice among the healthy ones that
//! serve the model asked, retries with a jittered backoff, fallback to the next deployment or a
//! declared fallback model, and a cool-down (the search backend's circuit breaker) for a
//! deployment that failed several times in a row.
//!
//! A try is repeated only when nothing of its answer was read: no connection, no response headers
//! in time, or a 429 or 5xx status (its body dropped unread). Once an answer is handed back, its
//! body goes to the client as it comes, so a stream cut after its first byte is never retried.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

use super::{Upstream, UpstreamRequest, UpstreamResponse};
use crate::api::UpstreamKind;
use crate::config::llm::{DeploymentApi, RetryConfig};
use crate::config::LlmConfig;
use crate::search::breaker::{Breaker, BreakerSettings};
use crate::Error;

struct Deployment {
    name: String,
    kind: UpstreamKind,
    weight: u32,
    /// `None`: every model.
    models: Option<Vec<String>>,
    /// The name this deployment knows every model it serves by.
    rename: Option<String>,
    upstream: Upstream,
    breaker: Mutex<Breaker>,
}

impl Deployment {
    fn serves(&self, kind: UpstreamKind, model: Option<&str>) -> bool {
        self.kind == kind
            && match (&self.models, model) {
                (None, _) => true,
                (Some(models), Some(model)) => models.iter().any(|m| m == model),
                (Some(_), None) => false,
            }
    }

    fn healthy(&self, now: Instant) -> bool {
        self.breaker.lock().map_or(true, |b| b.would_admit(now))
    }

    fn record(&self, success: bool) {
        if let Ok(mut breaker) = self.breaker.lock() {
            breaker.record(success, Instant::now());
        }
    }

    /// The deployment asked for a pause (`Retry-After`): other requests leave it alone until then,
    /// as in a cool-down, and then send it one trial request.
    fn hold_for(&self, wait: Duration) {
        if let Ok(mut breaker) = self.breaker.lock() {
            breaker.hold_until(Instant::now() + wait);
        }
    }
}

/// Every deployment of every API, with the retry settings.
pub(crate) struct Fleet {
    deployments: Vec<Deployment>,
    /// Each API's first deployment (there always is one, implicit or declared).
    first_openai: Upstream,
    first_anthropic: Upstream,
    retry: RetryConfig,
    fallback_models: BTreeMap<String, Vec<String>>,
}

/// How the tries of one request went, for its ledger row, its span and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tries {
    /// `(deployment, outcome)`: `ok`, a status (`503`), `connect`, `timeout` or `error`.
    pub entries: Vec<(String, String)>,
    /// The deployment whose answer was handed back.
    pub answered_by: Option<String>,
    /// A fallback model that answered in place of the one asked.
    pub fallback_model: Option<String>,
}

impl Tries {
    /// The tries that failed (all but the one that answered).
    pub(crate) fn failed(&self) -> u32 {
        let answered = u32::from(self.answered_by.is_some());
        u32::try_from(self.entries.len())
            .unwrap_or(u32::MAX)
            .saturating_sub(answered)
    }

    /// Each try's deployment, and whether it is the one that answered.
    pub(crate) fn each(&self) -> impl Iterator<Item = (&str, bool)> {
        let last = self.entries.len().saturating_sub(1);
        let answered = self.answered_by.is_some();
        self.entries
            .iter()
            .enumerate()
            .map(move |(i, (name, _))| (name.as_str(), answered && i == last))
    }

    /// The compact form the ledger keeps: `east:503,west:ok`.
    pub(crate) fn text(&self) -> String {
        self.entries
            .iter()
            .map(|(name, outcome)| format!("{name}:{outcome}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// One chat request, sent as often as its tries need.
pub(crate) struct Call<'a> {
    pub(crate) kind: UpstreamKind,
    pub model: Option<&'a str>,
    pub path: &'static str,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    pub request_id: &'a str,
}

/// Whether a status is worth another try elsewhere or later.
fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// How long a 429's or 5xx's `Retry-After` asks to wait from `now`: seconds, or an HTTP date
/// (RFC 9110 allows both; OpenAI and Anthropic send seconds, but gateways and self-hosted servers
/// in front of a model may send a date). A date already past is no wait.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    match text.parse::<f64>() {
        Ok(secs) => (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs)),
        Err(_) => {
            let at = httpdate::parse_http_date(text).ok()?;
            Some(at.duration_since(now).unwrap_or(Duration::ZERO))
        }
    }
}

/// The wait before trying a deployment again: `backoff × 2^(n-1)`, capped, with full jitter
/// (a uniform share of it) so clients that failed together do not come back together.
fn backoff(retry: &RetryConfig, nth: u32) -> Duration {
    let exp = retry.backoff.saturating_mul(1 << nth.saturating_sub(1).min(16));
    exp.min(retry.backoff_max).mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// A deployment's index and weight.
type Weighted = (usize, u32);

/// A weighted random order (Efraimidis–Spirakis: sort by `u^(1/w)`), so a deployment of weight
/// 3 comes first three times as often as one of weight 1.
fn weighted_order(candidates: &mut [Weighted]) {
    let mut keyed: Vec<(f64, usize, u32)> = candidates
        .iter()
        .map(|&(i, w)| (fastrand::f64().powf(1.0 / f64::from(w.max(1))), i, w))
        .collect();
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (slot, (_, i, w)) in candidates.iter_mut().zip(keyed) {
        *slot = (i, w);
    }
}

impl Fleet {
    /// The declared deployments; an API none of them speaks gets its `[llm]` or `[llm.anthropic]`
    /// upstream as one implicit deployment, so a config without deployments works as before.
    pub(crate) fn new(config: &LlmConfig, shards: usize) -> Result<Fleet, Error> {
        let breaker = BreakerSettings {
            failure_threshold: config.retry.cooldown_failures,
            open_for: config.retry.cooldown,
        };
        let deployment = |name: &str, kind, weight, models, rename, upstream| Deployment {
            name: name.to_string(),
            kind,
            weight,
            models,
            rename,
            upstream,
            breaker: Mutex::new(Breaker::new(breaker)),
        };
        let mut deployments = Vec::with_capacity(config.deployments.len() + 2);
        for d in &config.deployments {
            let kind = match d.api {
                DeploymentApi::Openai => UpstreamKind::OpenAi,
                DeploymentApi::Anthropic => UpstreamKind::Anthropic,
            };
            let upstream = Upstream::deployment(config, d, shards)?;
            deployments.push(deployment(
                &d.name,
                kind,
                d.weight,
                d.models.clone(),
                d.model.clone(),
                upstream,
            ));
        }
        if !deployments.iter().any(|d| d.kind == UpstreamKind::OpenAi) {
            let upstream = Upstream::new(config, shards)?;
            deployments.push(deployment("default", UpstreamKind::OpenAi, 1, None, None, upstream));
        }
        if !deployments.iter().any(|d| d.kind == UpstreamKind::Anthropic) {
            let upstream = Upstream::anthropic(config, shards)?;
            deployments.push(deployment(
                "anthropic",
                UpstreamKind::Anthropic,
                1,
                None,
                None,
                upstream,
            ));
        }
        let first = |kind| {
            deployments
                .iter()
                .find(|d| d.kind == kind)
                .map(|d| d.upstream.clone())
                .ok_or_else(|| Error::internal("an API without a deployment"))
        };
        Ok(Fleet {
            first_openai: first(UpstreamKind::OpenAi)?,
            first_anthropic: first(UpstreamKind::Anthropic)?,
            deployments,
            retry: config.retry,
            fallback_models: config.fallback_models.clone(),
        })
    }

    /// The first deployment of an API: where pass-through requests and review calls go.
    pub(crate) fn first(&self, kind: UpstreamKind) -> &Upstream {
        match kind {
            UpstreamKind::OpenAi => &self.first_openai,
            UpstreamKind::Anthropic => &self.first_anthropic,
        }
    }

    /// The deployments to try, in order, each with the model to ask it for when that is not the
    /// one in the body: the healthy ones serving the model asked (weighted random order), then
    /// those serving each fallback model. When every one is cooling down, they are all tried
    /// anyway: a request refused without a try would fail for sure.
    fn order(&self, kind: UpstreamKind, model: Option<&str>, now: Instant) -> Vec<(usize, Option<String>)> {
        let fallbacks = model
            .and_then(|m| self.fallback_models.get(m))
            .into_iter()
            .flatten()
            .map(|m| Some(m.as_str()));
        let mut order = Vec::new();
        let mut cooling = Vec::new();
        for (nth, wanted) in std::iter::once(model).chain(fallbacks).enumerate() {
            let serving = self
                .deployments
                .iter()
                .enumerate()
                .filter(|(_, d)| d.serves(kind, wanted));
            let (mut healthy, mut cold): (Vec<Weighted>, Vec<Weighted>) = serving
                .map(|(i, d)| (i, d.weight))
                .partition(|&(i, _)| self.deployments[i].healthy(now));
            weighted_order(&mut healthy);
            weighted_order(&mut cold);
            let ask = (nth > 0).then(|| wanted.map(str::to_string)).flatten();
            order.extend(healthy.into_iter().map(|(i, _)| (i, ask.clone())));
            cooling.extend(cold.into_iter().map(|(i, _)| (i, ask.clone())));
        }
        if order.is_empty() {
            return cooling;
        }
        order
    }

    /// Sends a chat request, trying again as `[llm.retry]` says. The last try's answer is handed
    /// back whatever its status (the client gets the upstream's own error), or its error.
    pub(crate) async fn send(&self, call: Call<'_>) -> (Result<UpstreamResponse, Error>, Tries) {
        let mut tries = Tries::default();
        let order = self.order(call.kind, call.model, Instant::now());
        if order.is_empty() {
            let error = Error::InvalidRequest {
                message: format!("no deployment serves the model `{}`", call.model.unwrap_or("")),
                param: Some("model"),
            };
            return (Err(error), tries);
        }
        // Per deployment: how many of its tries failed, and whether it asked for a wait over the cap.
        let mut failures = vec![0_u32; self.deployments.len()];
        let mut waits = vec![Duration::ZERO; self.deployments.len()];
        let mut given_up = vec![false; self.deployments.len()];
        let mut last: Option<Result<UpstreamResponse, Error>> = None;
        let budget = self.retry.max_tries as usize;
        let mut next = 0;
        while tries.entries.len() < budget {
            // The next deployment in the order, round again once every one has had a try.
            let Some(at) = (0..order.len())
                .map(|k| (next + k) % order.len())
                .find(|&k| !given_up[order[k].0])
            else {
                break;
            };
            next = at + 1;
            let (index, ask) = order[at].clone();
            let Some(deployment) = self.deployments.get(index) else {
                break;
            };
            if failures[index] > 0 {
                // The same deployment again: wait, as long as its 429 asked if it did.
                tokio::time::sleep(backoff(&self.retry, failures[index]).max(waits[index])).await;
            }
            if let Ok(mut breaker) = deployment.breaker.lock() {
                // A cooling deployment tried as a last resort is let through all the same.
                let _ = breaker.admit(Instant::now());
            }
            let body = match deployment.rename.as_deref().or(ask.as_deref()) {
                Some(model) => match with_model(&call.body, model) {
                    Ok(body) => body,
                    Err(e) => return (Err(e), tries),
                },
                None => call.body.clone(),
            };
            let request = UpstreamRequest {
                method: Method::POST,
                path_and_query: call.path.to_string(),
                headers: call.headers.clone(),
                body: super::UpstreamBody::from(body),
                request_id: call.request_id.to_string(),
            };
            // Dropping an earlier failed answer closes it before the next try.
            drop(last.take());
            let result = deployment.upstream.send(request).await;
            let mut asked_wait = None;
            let outcome = match &result {
                Ok(response) if retryable(response.status()) => {
                    if let Some(wait) = retry_after(response.headers(), SystemTime::now()) {
                        if wait > self.retry.retry_after_cap {
                            given_up[index] = true;
                        }
                        waits[index] = wait.min(self.retry.retry_after_cap);
                        asked_wait = Some(wait);
                    }
                    Err(response.status().as_u16().to_string())
                }
                Ok(response) if response.status().is_success() => Ok("ok".to_string()),
                Ok(response) => Ok(response.status().as_u16().to_string()),
                Err(e @ (Error::UpstreamTimeout(_) | Error::UpstreamUnavailable(_))) => {
                    Err(super::failure_kind(e).to_string())
                }
                // Not the upstream's doing (a path outside the base): no other try helps.
                Err(_) => {
                    tries.entries.push((deployment.name.clone(), "refused".into()));
                    return (result, tries);
                }
            };
            deployment.record(outcome.is_ok());
            // After `record`, which would otherwise end the hold. At most a cool-down's length: a
            // date days ahead must not take a deployment out until someone restarts the proxy.
            if let Some(wait) = asked_wait.filter(|w| !w.is_zero()) {
                deployment.hold_for(wait.min(self.retry.cooldown));
            }
            match outcome {
                Ok(text) => {
                    tries.entries.push((deployment.name.clone(), text));
                    tries.answered_by = Some(deployment.name.clone());
                    tries.fallback_model = ask;
                    return (result, tries);
                }
                Err(text) => {
                    tracing::debug!(deployment = %deployment.name, outcome = %text, "upstream try failed");
                    tries.entries.push((deployment.name.clone(), text));
                    failures[index] += 1;
                    last = Some(result);
                }
            }
        }
        let result = last.unwrap_or_else(|| Err(Error::UpstreamUnavailable("no upstream could be tried".into())));
        (result, tries)
    }
}

/// A request ecoroute passes through unread (`/v1/models`, files, batches, …).
pub struct Passthrough<'a> {
    pub(crate) kind: UpstreamKind,
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request_id: &'a str,
}

impl Fleet {
    /// Sends a pass-through request to its API's first deployment, and again to that same one
    /// (after the backoff, or its `Retry-After` up to the cap) within `max_tries`, only where that
    /// cannot do harm: when the connection was never made (nothing was sent), or, for an
    /// idempotent method (GET, HEAD, OPTIONS, PUT, DELETE), after a 429, a 5xx or no answer in
    /// time. Never to another deployment: files, batches, stored responses and fine-tuned models
    /// live in one account, which another key, region or provider does not share, and a 404 from
    /// there would tell the client its file is gone.
    pub async fn send_passthrough(&self, call: Passthrough<'_>) -> (Result<UpstreamResponse, Error>, Tries) {
        let mut tries = Tries::default();
        let Some(deployment) = self.deployments.iter().find(|d| d.kind == call.kind) else {
            return (Err(Error::internal("an API without a deployment")), tries);
        };
        let idempotent = call.method.is_idempotent();
        let mut wait = Duration::ZERO;
        loop {
            if !tries.entries.is_empty() {
                let failures = u32::try_from(tries.entries.len()).unwrap_or(u32::MAX);
                tokio::time::sleep(backoff(&self.retry, failures).max(wait)).await;
            }
            let request = UpstreamRequest {
                method: call.method.clone(),
                path_and_query: call.path_and_query.clone(),
                headers: call.headers.clone(),
                body: super::UpstreamBody::from(call.body.clone()),
                request_id: call.request_id.to_string(),
            };
            let result = deployment.upstream.send(request).await;
            // `Some(outcome)`: a failure worth another try, if any is left.
            let again = match &result {
                Ok(response) if idempotent && retryable(response.status()) => {
                    match retry_after(response.headers(), SystemTime::now()) {
                        Some(asked) if asked > self.retry.retry_after_cap => None,
                        asked => {
                            wait = asked.unwrap_or(Duration::ZERO);
                            Some(response.status().as_u16().to_string())
                        }
                    }
                }
                Err(e @ (Error::UpstreamTimeout(_) | Error::UpstreamUnavailable(_))) => {
                    let kind = super::failure_kind(e);
                    wait = Duration::ZERO;
                    (idempotent || kind == "connect").then(|| kind.to_string())
                }
                _ => None,
            };
            let last = tries.entries.len() + 1 >= self.retry.max_tries as usize;
            match again {
                Some(outcome) if !last => {
                    tracing::debug!(deployment = %deployment.name, %outcome, "pass-through try failed");
                    tries.entries.push((deployment.name.clone(), outcome));
                }
                _ => {
                    let outcome = match &result {
                        Ok(response) if response.status().is_success() => "ok".to_string(),
                        Ok(response) => response.status().as_u16().to_string(),
                        Err(e) => super::failure_kind(e).to_string(),
                    };
                    let answered = match &result {
                        Ok(response) => !retryable(response.status()),
                        Err(_) => false,
                    };
                    tries.entries.push((deployment.name.clone(), outcome));
                    if answered {
                        tries.answered_by = Some(deployment.name.clone());
                    }
                    return (result, tries);
                }
            }
        }
    }
}

/// The request body with another `model`; everything else as the client sent it.
fn with_model(body: &[u8], model: &str) -> Result<Bytes, Error> {
    let mut value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| Error::internal_from("re-reading a request already parsed", e))?;
    if let Some(map) = value.as_object_mut() {
        map.insert("model".into(), serde_json::Value::String(model.to_string()));
    }
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .map_err(|e| Error::internal_from("writing the request again", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_read_as_the_ledger_keeps_them() {
        let tries = Tries {
            entries: vec![("east".into(), "503".into()), ("west".into(), "ok".into())],
            answered_by: Some("west".into()),
            fallback_model: None,
        };
        assert_eq!(tries.text(), "east:503,west:ok");
        assert_eq!(tries.failed(), 1);
        let none = Tries {
            entries: vec![("east".into(), "connect".into())],
            ..Tries::default()
        };
        assert_eq!(none.failed(), 1);
    }

    #[test]
    fn the_backoff_grows_stays_under_its_cap_and_is_jittered() {
        let retry = RetryConfig {
            max_tries: 5,
            backoff: Duration::from_millis(100),
            backoff_max: Duration::from_millis(300),
            retry_after_cap: Duration::from_secs(1),
            cooldown_failures: 3,
            cooldown: Duration::from_secs(1),
        };
        for _ in 0..200 {
            let first = backoff(&retry, 1);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let fifth = backoff(&retry, 5);
            assert!(
                fifth >= Duration::from_millis(150) && fifth <= Duration::from_millis(300),
                "{fifth:?}"
            );
        }
        let draws: std::collections::HashSet<Duration> = (0..20).map(|_| backoff(&retry, 2)).collect();
        assert!(draws.len() > 1, "jittered");
    }

    #[test]
    fn a_heavier_deployment_comes_first_more_often() {
        let mut first_heavy = 0;
        for _ in 0..4000 {
            let mut c = [(0, 1), (1, 3)];
            weighted_order(&mut c);
            if c[0].0 == 1 {
                first_heavy += 1;
            }
        }
        // Weight 3 against 1: first three times in four (0.75), well away from an even split.
        assert!((2800..=3200).contains(&first_heavy), "{first_heavy} of 4000");
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_as_an_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let mut h = HeaderMap::new();
        let mut read = |value: &'static str| {
            h.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static(value));
            retry_after(&h, now)
        };
        assert_eq!(read("2"), Some(Duration::from_secs(2)));
        assert_eq!(read("Wed, 21 Oct 2015 07:28:30 GMT"), Some(Duration::from_secs(30)));
        // RFC 9110's two obsolete forms, which a recipient must accept too.
        assert_eq!(read("Wednesday, 21-Oct-15 07:29:00 GMT"), Some(Duration::from_secs(60)));
        assert_eq!(read("Wed Oct 21 07:28:05 2015"), Some(Duration::from_secs(5)));
        assert_eq!(
            read("Wed, 21 Oct 2015 07:00:00 GMT"),
            Some(Duration::ZERO),
            "past: no wait"
        );
        assert_eq!(read("soon"), None);
        assert_eq!(read("-1"), None);
    }
}
