//! Admin surface: the live dashboard and `/admin/*` (reload, config, explain). Everything here
//! requires the admin token from `admin.token_env`; with none configured these routes answer 404, as
//! if absent.
//!
//! The token is accepted as `Authorization: Bearer <token>`, or as the password of HTTP Basic auth
//! so a browser can open the dashboard (any user name); the scheme is case-insensitive (RFC 9110
//! §11.1). Comparison is constant-time. After [`MAX_FAILURES`] failed logins in a minute an address
//! gets 429 until the minute is out, and after [`MAX_FAILURES_ALL`] from all addresses together
//! everyone does, so the token cannot be guessed at line rate from one address or from many.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, State};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::Error;

/// Does the request carry the admin token?
pub(crate) fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, credentials)) = value.trim_start().split_once(' ') else {
        return false;
    };
    let presented: Vec<u8> = if scheme.eq_ignore_ascii_case("bearer") {
        credentials.trim().as_bytes().to_vec()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials.trim()) else {
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

/// Failed logins an address may make in [`FAILURE_WINDOW`] before it is refused with 429.
pub(crate) const MAX_FAILURES: u32 = 10;
/// Failed logins from all addresses together in [`FAILURE_WINDOW`] before every login is refused
/// with 429 until the window ends: a guesser with many addresses (a botnet, an IPv6 prefix) gets
/// no more tries than this. While it lasts the real admin is refused too; the alternative, letting
/// the right token through, would tell the guesser which token is right.
pub(crate) const MAX_FAILURES_ALL: u32 = 100;
pub(crate) const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; past it, windows that have ended are forgotten first.
const MAX_TRACKED: usize = 10_000;

/// Failed admin logins per client address and in all, in fixed one-minute windows.
#[derive(Default)]
pub(crate) struct FailedLogins {
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    by_address: HashMap<IpAddr, (Instant, u32)>,
    all: Option<(Instant, u32)>,
}

/// Seconds left in a window that started at `started` and has reached `limit`, if it has.
fn over(window: Option<(Instant, u32)>, limit: u32, now: Instant) -> Option<u64> {
    let (started, failures) = window?;
    let ends = started + FAILURE_WINDOW;
    (failures >= limit && now < ends).then(|| ends.duration_since(now).as_secs().max(1))
}

/// Counts one failure in a window, starting a new one when it has ended.
fn count(window: &mut (Instant, u32), now: Instant) {
    if now.duration_since(window.0) >= FAILURE_WINDOW {
        *window = (now, 0);
    }
    window.1 = window.1.saturating_add(1);
}

impl FailedLogins {
    /// `Some(seconds to wait)` while `address`, or all addresses together, are over the limit.
    fn blocked(&self, address: IpAddr, now: Instant) -> Option<u64> {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        over(windows.all, MAX_FAILURES_ALL, now)
            .or_else(|| over(windows.by_address.get(&address).copied(), MAX_FAILURES, now))
    }

    fn failed(&self, address: IpAddr, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        count(windows.all.get_or_insert((now, 0)), now);
        let map = &mut windows.by_address;
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (started, _)| now.duration_since(*started) < FAILURE_WINDOW);
        }
        count(map.entry(address).or_insert((now, 0)), now);
    }
}

/// Lets the request through only with the admin token; without one configured, the admin surface
/// does not exist (404). Too many failures from one address are a 429.
fn denied_unless_admin(state: &AppState, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<Response> {
    let runtime = state.runtime();
    let Some(token) = runtime.config.admin.token.as_ref().map(|t| t.expose().as_str()) else {
        return Some(
            Error::NotFound("admin endpoints are off: set admin.token_env in the config".into()).into_response(),
        );
    };
    let address = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.ip());
    let now = Instant::now();
    if let Some(retry_after_s) = state.admin_failures.blocked(address, now) {
        return Some(Error::TooManyAttempts { retry_after_s }.into_response());
    }
    if authorized(headers, token) {
        return None;
    }
    state.admin_failures.failed(address, now);
    tracing::warn!(%address, "admin login failed");
    Some(Error::Unauthorized.into_response())
}

/// The client address the accept loop attached to the request (absent in tests that call the
/// router directly).
type Peer = Option<axum::Extension<ConnectInfo<SocketAddr>>>;

fn peer_of(peer: Peer) -> Option<SocketAddr> {
    peer.map(|axum::Extension(ConnectInfo(addr))| addr)
}

/// `POST /admin/reload`: reload the config file now; 422 with the problems if it does not validate.
pub(crate) async fn reload(State(state): State<Arc<AppState>>, peer: Peer, headers: HeaderMap) -> Response {
    if let Some(denied) = denied_unless_admin(&state, peer_of(peer), &headers) {
        return denied;
    }
    match state.reload().await {
        Ok(done) => axum::Json(serde_json::json!({"status": "reloaded", "source": done.source, "restart_needed_for": done.restart_needed_for})).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /admin/config`: the running config, secrets redacted.
pub(crate) async fn config(State(state): State<Arc<AppState>>, peer: Peer, headers: HeaderMap) -> Response {
    if let Some(denied) = denied_unless_admin(&state, peer_of(peer), &headers) {
        return denied;
    }
    axum::Json(state.runtime().config.redacted()).into_response()
}

#[derive(serde::Deserialize)]
pub(crate) struct ExplainQuery {
    q: String,
    /// Route as this tenant's policy would.
    tenant: Option<String>,
}

/// `GET /admin/explain?q=…[&tenant=…]`: the full decision for a single-turn question, as `serve`
/// would route it for that tenant, search included.
pub(crate) async fn explain(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<ExplainQuery>,
) -> Response {
    if let Some(denied) = denied_unless_admin(&state, peer_of(peer), &headers) {
        return denied;
    }
    let runtime = state.runtime();
    let explained = crate::pipeline::explain::explain(&runtime, &query.q, query.tenant.as_deref()).await;
    axum::Json(explained).into_response()
}

/// `/dashboard`: the last hour live (requests per second, routes, saving rate), then the HTML
/// report over the last 30 days; the page refreshes itself every 30 seconds.
pub(crate) async fn dashboard(State(state): State<Arc<AppState>>, peer: Peer, headers: HeaderMap) -> Response {
    if let Some(denied) = denied_unless_admin(&state, peer_of(peer), &headers) {
        return denied;
    }
    let runtime = state.runtime();
    let Some(store) = runtime.config.ledger.store.clone() else {
        return Error::NotFound("the ledger is disabled, so there is nothing to show".into()).into_response();
    };
    let now_ms = crate::ledger::now_ms();
    let since = now_ms - 30 * 86_400_000;
    let rendered = tokio::task::spawn_blocking(move || -> Result<String, Error> {
        let (rows, recorded) = crate::ledger::read_store_with_settings(&store, Some(since), None)?;
        let from = crate::report::civil(since.div_euclid(86_400_000));
        Ok(crate::report::html::render(
            &rows,
            &recorded,
            Some(from),
            None,
            now_ms,
            crate::report::html::Page::Dashboard { refresh_seconds: 30 },
            None,
        ))
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
        Err(e) => Error::internal_from("dashboard task failed", e).into_response(),
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
        assert!(
            authorized(&with(&format!("bearer {token}")), token),
            "the scheme is case-insensitive"
        );
        assert!(authorized(&with(&format!("BASIC {basic}")), token));
        assert!(!authorized(&with(token), token), "no scheme");
    }

    #[test]
    fn an_address_is_refused_after_too_many_failures_until_its_window_ends() {
        let logins = FailedLogins::default();
        let attacker = IpAddr::from([10, 0, 0, 1]);
        let other = IpAddr::from([10, 0, 0, 2]);
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert_eq!(logins.blocked(attacker, t0), None);
            logins.failed(attacker, t0);
        }
        let wait = logins.blocked(attacker, t0 + Duration::from_secs(1));
        assert_eq!(wait, Some(59));
        assert_eq!(logins.blocked(other, t0), None, "other addresses are not affected");
        assert_eq!(
            logins.blocked(attacker, t0 + FAILURE_WINDOW),
            None,
            "a new window starts clean"
        );
    }

    /// L10 (attack review 2026-12-06): 30,000 wrong tokens from 30,000 addresses went through
    /// with no 429.
    #[test]
    fn failures_from_many_addresses_share_one_budget() {
        let logins = FailedLogins::default();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES_ALL {
            let address = IpAddr::from([10, 1, (i >> 8) as u8, i as u8]);
            assert_eq!(logins.blocked(address, t0), None, "try {i}");
            logins.failed(address, t0);
        }
        let fresh = IpAddr::from([192, 168, 0, 1]);
        assert_eq!(logins.blocked(fresh, t0 + Duration::from_secs(30)), Some(30));
        assert_eq!(
            logins.blocked(fresh, t0 + FAILURE_WINDOW),
            None,
            "until the window ends"
        );
    }
}
