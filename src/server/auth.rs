//! Inbound keys and limits, as one layer in front of every API route (after the body is read,
//! before a concurrency slot is taken, so refused requests never hold one).
//!
//! With `[[keys]]` configured, a request must carry one of them (`Authorization: Bearer KEY`, as
//! the OpenAI SDKs send it, or `x-api-key: KEY`, as Anthropic's do), else it is a 401 in its API's
//! error shape. Then the layer rewrites the request so the handlers downstream, unchanged, see
//! what the key says:
//! - the tenant header is set to the key's tenant, unless the key may set it and the request did;
//! - the key itself is removed (it is ecoroute's, not the provider's: it must never go upstream)
//!   and `x-ecoroute-key: NAME` takes its place, which keeps a cache partition and a kept
//!   response's owner per key ([`super::request::credential_of`]) and is never forwarded
//!   (`x-ecoroute-*` headers stay here).
//!
//! Then the key's and the tenant's limits ([`crate::limits`]) admit the request or refuse it with
//! a 429 and `Retry-After`. The admission travels with the request as a task-local, taken by the
//! first ledger row the request makes ([`take_admission`]): the row settles the token estimate
//! against the usage the upstream reports, and the ledger writer charges its cost and energy to
//! the budgets. (A task-local rather than a parameter keeps the handlers untouched while they are
//! being reworked into `Pipeline::plan`; once that lands the plan can carry it.)

use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::request::{claimed_tenant, tenant_of};
use super::AppState;
use crate::limits::{key_subject, tenant_subject};
use crate::Error;

/// Where the name of the key a request was admitted with travels to the handlers.
pub(crate) const KEY_HEADER: HeaderName = HeaderName::from_static("x-ecoroute-key");

/// The response header that says a budget is nearly spent.
pub(crate) const BUDGET_HEADER: HeaderName = HeaderName::from_static("x-ecoroute-budget");

/// The headers a client's key can come in; all are removed once a key is accepted.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "x-api-key", "api-key"];

/// What a request was admitted with, for its ledger row.
#[derive(Debug, Clone, Default)]
pub(crate) struct Admission {
    pub key: Option<String>,
    /// Tokens the rate limits took at admission; `None` when no token limit applied.
    pub estimated_tokens: Option<u64>,
}

tokio::task_local! {
    static ADMISSION: Cell<Option<Admission>>;
}

/// The admission of the request being handled, once: the first row takes it, so a second row
/// (a tier's review call) is not settled twice.
pub(crate) fn take_admission() -> Option<Admission> {
    ADMISSION.try_with(Cell::take).ok().flatten()
}

/// The key a request presents: a bearer token, else Anthropic's `x-api-key`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim))
        .filter(|k| !k.is_empty())
}

/// A request's tokens before the upstream says: a quarter of its body's bytes (about 4 bytes a
/// token for English text and JSON), plus the output it allows itself.
fn estimate_tokens(body: &[u8]) -> u64 {
    #[derive(serde::Deserialize)]
    struct Caps {
        max_tokens: Option<u64>,
        max_completion_tokens: Option<u64>,
        max_output_tokens: Option<u64>,
    }
    let output = serde_json::from_slice::<Caps>(body)
        .ok()
        .and_then(|c| c.max_completion_tokens.or(c.max_tokens).or(c.max_output_tokens))
        .unwrap_or(0);
    (body.len() as u64).div_ceil(4) + output
}

pub(crate) async fn authenticate(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let runtime = state.runtime();
    let keys = &runtime.config.keys;
    let tenant_header = &runtime.config.ledger.tenant_header;
    let (mut parts, body) = request.into_parts();
    let mut admission = Admission::default();
    let mut subjects = Vec::new();
    if keys.required() {
        let presented = presented_key(&parts.headers);
        let Some(key) = presented.and_then(|k| keys.find(k)) else {
            let why = if presented.is_some() {
                "invalid API key"
            } else {
                "missing API key: send it as `Authorization: Bearer KEY` or `x-api-key: KEY`"
            };
            state.metrics.auth_refused.inc();
            return super::stack::rejected(&state, &parts, Error::InvalidApiKey(why));
        };
        if !(key.may_set_tenant && claimed_tenant(&parts.headers, tenant_header).is_some()) {
            match HeaderValue::from_str(&key.tenant) {
                Ok(tenant) => parts.headers.insert(tenant_header.clone(), tenant),
                Err(_) => parts.headers.remove(tenant_header),
            };
        }
        for name in CREDENTIAL_HEADERS {
            parts.headers.remove(name);
        }
        if let Ok(name) = HeaderValue::from_str(&key.name) {
            parts.headers.insert(KEY_HEADER, name);
        }
        subjects.push(key_subject(&key.name));
        admission.key = Some(key.name.clone());
    } else {
        // Without keys the name could only be the client's claim.
        parts.headers.remove(KEY_HEADER);
    }
    let (body, budget) = if state.limits.any() {
        if let Some(tenant) = tenant_of(&parts.headers, tenant_header) {
            subjects.push(tenant_subject(&tenant));
        }
        // The body was read whole by the layer before: this only takes it back out.
        let bytes = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => bytes,
            Err(e) => return super::stack::rejected(&state, &parts, Error::BodyRead(e.to_string())),
        };
        let tokens = estimate_tokens(&bytes);
        match state
            .limits
            .admit(&subjects, tokens, Instant::now(), crate::ledger::now_ms())
        {
            Ok(uses) => {
                admission.estimated_tokens = Some(tokens);
                let warn_at = keys.budget_warn_at;
                let mut near = Vec::new();
                for u in uses {
                    state
                        .metrics
                        .budget_used(&u.subject, u.unit, u.period.as_str(), u.ratio());
                    if u.ratio() >= warn_at {
                        near.push(format!(
                            "{}; budget={}/{}; used={:.2}",
                            u.subject,
                            u.unit,
                            u.period.as_str(),
                            u.ratio()
                        ));
                    }
                }
                (axum::body::Body::from(bytes), near)
            }
            Err(refused) => {
                state.metrics.limited(&refused.subject, refused.limit);
                let error = Error::RateLimited {
                    message: format!(
                        "`{}` is over its {}; retry in {} s",
                        refused.subject, refused.limit, refused.retry_after_s
                    ),
                    retry_after_s: refused.retry_after_s,
                    code: if refused.is_budget() {
                        "budget_exceeded"
                    } else {
                        "rate_limit_exceeded"
                    },
                };
                return super::stack::rejected(&state, &parts, error);
            }
        }
    } else {
        (body, Vec::new())
    };
    let request = Request::from_parts(parts, body);
    let mut response = ADMISSION.scope(Cell::new(Some(admission)), next.run(request)).await;
    if !budget.is_empty() {
        response
            .headers_mut()
            .insert(BUDGET_HEADER, super::header_value(&budget.join(", ")));
    }
    response
}

impl AppState {
    /// Reads each tenant's and each key's spend so far this day and month from the ledger into
    /// the budgets, so a restart does not forgive it, and a replica of a fleet on one PostgreSQL
    /// ledger starts from the whole fleet's spend. At start, at every reload and every
    /// `limits.budget_refresh_s`; off the serving threads.
    pub(crate) async fn seed_spend(&self) {
        let runtime = self.runtime();
        let Some(store) = runtime.config.ledger.store.clone() else {
            return;
        };
        if !runtime.config.keys.any_budget() {
            return;
        }
        let now = crate::ledger::now_ms();
        match tokio::task::spawn_blocking(move || crate::ledger::budget_spend(&store, now)).await {
            Ok(Ok(rows)) => {
                for (subject, spent) in rows {
                    self.limits.seed_spend(&subject, spent, now);
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not read the budgets' spend from the ledger; they count from zero")
            }
            Err(e) => tracing::warn!(error = %e, "the spend query failed; the budgets count from zero"),
        }
    }
}

/// Reads the tenants' and keys' spend back from the ledger every `limits.budget_refresh_s`, so replicas of
/// a fleet on one PostgreSQL ledger see each other's spend within that time. Ends with the state.
pub(crate) fn spawn_budget_refresh(state: &Arc<AppState>) {
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        loop {
            let every = match weak.upgrade() {
                Some(state) => state.runtime().config.keys.budget_refresh,
                None => return,
            };
            // Off: look again later, a reload may turn it on.
            tokio::time::sleep(every.unwrap_or(std::time::Duration::from_secs(5))).await;
            let Some(state) = weak.upgrade() else { return };
            if every.is_some() && state.runtime().config.keys.budget_refresh.is_some() {
                state.seed_spend().await;
            }
        }
    });
}

/// Settles a finished row's token estimate against what it used: nothing for an answer from
/// search or the cache, the upstream's usage for an LLM call, the estimate when usage is unknown.
pub(crate) fn settle(limits: &crate::limits::Limits, record: &crate::ledger::LedgerRecord) {
    let Some(estimated) = record.estimated_tokens else {
        return;
    };
    let used = match record.served() {
        crate::ledger::Served::Search | crate::ledger::Served::Cache | crate::ledger::Served::Unrouted => 0,
        _ => match (record.prompt_tokens, record.completion_tokens) {
            (None, None) => return,
            (p, c) => u64::from(p.unwrap_or(0)) + u64::from(c.unwrap_or(0)),
        },
    };
    limits.settle_tokens(&record.limit_subjects(), estimated, used);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_as_bearer_tokens_or_x_api_key() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert("x-api-key", HeaderValue::from_static("sk-ant"));
        assert_eq!(presented_key(&h), Some("sk-ant"));
        h.insert("authorization", HeaderValue::from_static("bearer sk-oai"));
        assert_eq!(presented_key(&h), Some("sk-oai"));
        h.insert("authorization", HeaderValue::from_static("Basic abc"));
        assert_eq!(presented_key(&h), Some("sk-ant"));
    }

    #[test]
    fn the_estimate_counts_the_body_and_the_output_allowed() {
        let body = br#"{"model":"m","max_tokens":100,"messages":[]}"#;
        assert_eq!(estimate_tokens(body), (body.len() as u64).div_ceil(4) + 100);
        assert_eq!(estimate_tokens(b"not json"), 2);
    }
}
