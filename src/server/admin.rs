//! Admin surface: the live dashboard (and, later, `/admin/*`). Everything here requires the admin
//! token from `admin.token_env`; with none configured these routes answer 404, as if absent.
//!
//! The token is accepted as `Authorization: Bearer <token>`, or as the password of HTTP Basic auth
//! so a browser can open the dashboard (any user name). Comparison is constant-time.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use http::{header, HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::Error;

/// Does the request carry the admin token?
pub fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let presented: Vec<u8> = if let Some(bearer) = value.strip_prefix("Bearer ") {
        bearer.trim().as_bytes().to_vec()
    } else if let Some(basic) = value.strip_prefix("Basic ") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) else {
            return false;
        };
        match decoded.iter().position(|&b| b == b':') {
            Some(i) => decoded[i + 1..].to_vec(),
            None => return false,
        }
    } else {
        return false;
    };
    // Digests first, so both sides have the same length and not even the token's length shows in
    // the timing; then a constant-time comparison.
    let digest = |bytes: &[u8]| Sha256::digest(bytes);
    bool::from(digest(&presented).as_slice().ct_eq(digest(token.as_bytes()).as_slice()))
}

fn unauthorized() -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({"error": {
        "message": "admin token required", "type": "invalid_request_error", "param": null, "code": "unauthorized"}})),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Basic realm=\"ecoroute admin\""),
    );
    response
}

/// Lets the request through only with the admin token; without one configured, the admin surface
/// does not exist (404).
fn denied_unless_admin(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let runtime = state.runtime();
    let Some(token) = runtime.config.admin.token.as_deref() else {
        return Some(
            Error::NotFound("admin endpoints are off: set admin.token_env in the config".into()).into_response(),
        );
    };
    (!authorized(headers, token)).then(unauthorized)
}

/// `POST /admin/reload`: reload the config file now; 422 with the problems if it does not validate.
pub async fn reload(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(denied) = denied_unless_admin(&state, &headers) {
        return denied;
    }
    match state.reload().await {
        Ok(done) => axum::Json(serde_json::json!({"status": "reloaded", "source": done.source, "restart_needed_for": done.restart_needed_for})).into_response(),
        Err(Error::Config(e)) => (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(super::reload::refusal_body(&e))).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /admin/config`: the running config, secrets redacted.
pub async fn config(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(denied) = denied_unless_admin(&state, &headers) {
        return denied;
    }
    axum::Json(state.runtime().config.redacted()).into_response()
}

#[derive(serde::Deserialize)]
pub struct ExplainQuery {
    q: String,
}

/// `GET /admin/explain?q=…`: the full decision for a single-turn question, search included.
pub async fn explain(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<ExplainQuery>,
) -> Response {
    if let Some(denied) = denied_unless_admin(&state, &headers) {
        return denied;
    }
    let runtime = state.runtime();
    let features = crate::classify::RequestFeatures::from_query(&query.q);
    let decision = runtime.classifier.decide(&features);
    let score = runtime.classifier.scorer.score(&query.q);
    let top: Vec<serde_json::Value> = score
        .contributions
        .iter()
        .take(10)
        .map(|(name, weight)| serde_json::json!({"feature": name, "weight": weight}))
        .collect();
    let search = super::chat::explain_search(&runtime, &query.q).await;
    axum::Json(serde_json::json!({
        "query": query.q,
        "class": decision.class.as_str(),
        "confidence": decision.confidence,
        "route": decision.route.as_str(),
        "reason": decision.reason(),
        "scorer": runtime.classifier.scorer.name(),
        "p_lookup": score.p_lookup,
        "top_features": top,
        "search": search,
    }))
    .into_response()
}

/// `/dashboard`: the HTML report over the last 30 days, refreshing itself every 30 seconds.
pub async fn dashboard(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(denied) = denied_unless_admin(&state, &headers) {
        return denied;
    }
    let runtime = state.runtime();
    let Some(store) = runtime.config.ledger.store.clone() else {
        return Error::NotFound("the ledger is disabled, so there is nothing to show".into()).into_response();
    };
    let now_ms = crate::ledger::now_ms();
    let since = now_ms - 30 * 86_400_000;
    let rendered = tokio::task::spawn_blocking(move || -> Result<String, Error> {
        let rows: Vec<_> = crate::ledger::read_store(&store)?
            .into_iter()
            .filter(|r| r.ts_ms >= since)
            .collect();
        let from = crate::report::civil(since.div_euclid(86_400_000));
        Ok(crate::report::html::render(&rows, Some(from), None, now_ms, Some(30)))
    })
    .await;
    match rendered {
        Ok(Ok(html)) => {
            let mut response = Html(html).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
            response
        }
        Ok(Err(e)) => e.into_response(),
        Err(e) => Error::Internal(format!("dashboard task failed: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, http::HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn bearer_and_basic_are_accepted_with_the_right_token_only() {
        let token = "0123456789abcdef0123";
        assert!(authorized(&with(&format!("Bearer {token}")), token));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("manager:{token}"));
        assert!(authorized(&with(&format!("Basic {basic}")), token));
        assert!(
            !authorized(&with("Bearer 0123456789abcdef012"), token),
            "prefix of the token"
        );
        assert!(!authorized(&with("Bearer wrong-token-wrong-token"), token));
        assert!(!authorized(&with("Basic !!notbase64"), token));
        assert!(!authorized(&HeaderMap::new(), token));
    }
}
