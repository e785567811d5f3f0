//! The HTTP server: shared state, start-up, and graceful shutdown.
//!
//! - [`stack`]: every tower layer and route, in one place.
//! - [`chat`]: the `/v1/chat/completions` pipeline (classify, search, escalate, forward).
//! - [`passthrough`]: every other `/v1/*` path, proxied to the upstream unchanged.
//!
//! Per-request state lives in a [`PendingRecord`] that travels with the request (and with its
//! response stream) and is handed to the ledger when it is dropped, so even a request whose client
//! went away is recorded.

pub mod admin;
pub mod chat;
pub mod conn;
pub mod passthrough;
pub mod reload;
pub mod stack;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use http_body_util::BodyExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::classify::Route;
use crate::config::{Config, Mode};
use crate::ledger::{self, DecidedBy, Ledger, LedgerRecord, LedgerWriter, RouteTaken};
use crate::pipeline::{Outcome, Pipeline, Routed};
use crate::Error;

pub struct AppState {
    runtime: ArcSwap<Pipeline>,
    pub ledger: Ledger,
    draining: AtomicBool,
    /// Set when the shutdown grace is over: requests still in flight end now, with an error the
    /// client can read (a 503, or an SSE error event on a stream), so their rows are written
    /// before the ledger closes.
    stop_in_flight: tokio::sync::watch::Sender<bool>,
    /// One reload at a time; requests never wait on it.
    reloading: tokio::sync::Mutex<()>,
    /// Failed admin logins per client address.
    pub admin_failures: admin::FailedLogins,
}

impl AppState {
    pub fn new(runtime: Pipeline, ledger: Ledger) -> AppState {
        AppState {
            runtime: ArcSwap::from_pointee(runtime),
            ledger,
            draining: AtomicBool::new(false),
            stop_in_flight: tokio::sync::watch::Sender::new(false),
            reloading: tokio::sync::Mutex::new(()),
            admin_failures: admin::FailedLogins::default(),
        }
    }

    /// Resolves when requests in flight must end (the shutdown grace is over).
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stop_in_flight.subscribe();
        async move {
            // An error means the state is gone, which also means stop.
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    /// The current runtime snapshot.
    pub fn runtime(&self) -> Arc<Pipeline> {
        self.runtime.load_full()
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// A started server: its address, and the handle to stop it.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), Error>>,
}

impl RunningServer {
    /// Stops accepting connections, waits for requests in flight (up to the grace period), then
    /// drains the ledger.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task
            .await
            .map_err(|e| Error::Internal(format!("server task failed: {e}")))?
    }
}

/// Binds `config.server.listen` (port 0 picks a free port), builds the runtime and starts serving.
pub async fn start(config: Config) -> Result<RunningServer, Error> {
    let runtime = Pipeline::build(config).await?;
    start_with(runtime).await
}

pub async fn start_with(runtime: Pipeline) -> Result<RunningServer, Error> {
    let listen = runtime.config.server.listen;
    let grace = runtime.config.server.shutdown_grace;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| Error::io(format!("binding {listen}"), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the bound address", e))?;
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let (ledger, writer) = ledger::start(&runtime.config.ledger, &runtime.config.energy, metrics)?;
    let state = Arc::new(AppState::new(runtime, ledger));
    let app = stack::router(Arc::clone(&state));
    reload::spawn_triggers(&state);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, app, Arc::clone(&state), writer, rx, grace));
    tracing::info!(%addr, "ecoroute listening");
    Ok(RunningServer {
        addr,
        state,
        shutdown: Some(tx),
        task,
    })
}

async fn run(
    listener: TcpListener,
    app: axum::Router,
    state: Arc<AppState>,
    writer: Option<LedgerWriter>,
    stop: oneshot::Receiver<()>,
    grace: std::time::Duration,
) -> Result<(), Error> {
    let server = state.runtime().config.server.clone();
    let drain_delay = server.drain_delay;
    let signal_state = Arc::clone(&state);
    let signal = async move {
        let _ = stop.await;
        signal_state.draining.store(true, Ordering::Relaxed);
        if !drain_delay.is_zero() {
            tracing::info!(
                delay_ms = drain_delay.as_millis() as u64,
                "shutting down: /readyz says draining; still accepting while the load balancer catches up"
            );
            tokio::time::sleep(drain_delay).await;
        }
        tracing::info!("shutting down: no new connections, finishing requests in flight");
    };
    tokio::pin!(signal);

    let builder = Arc::new(conn::http_builder(&server));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(server.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // A connection slot first: at the cap, newcomers wait in the kernel's backlog.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.map_err(|_| Error::Internal("connection slots closed".into()))?,
            () = &mut signal => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept: back off a
                    // moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        while connections.try_join_next().is_some() {}
        let task = conn::serve_connection(
            stream,
            peer,
            app.clone(),
            Arc::clone(&state),
            Arc::clone(&builder),
            graceful.watcher(),
            server.header_read_timeout,
        );
        connections.spawn(async move {
            task.await;
            drop(slot);
        });
    }
    drop(listener);

    // Keep-alive connections close after their current response; requests in flight finish.
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            in_flight = state.ledger.in_flight(),
            "grace period over; ending the requests still in flight"
        );
        state.stop_in_flight.send_replace(true);
        wait_for_rows(&state, std::time::Duration::from_secs(2)).await;
    }
    // Connections still open now have nothing in flight (or would not stop): close them.
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    wait_for_rows(&state, std::time::Duration::from_secs(1)).await;
    let unfinished = state.ledger.in_flight();
    if unfinished > 0 {
        tracing::error!(
            requests = unfinished,
            "requests still unfinished at shutdown; their ledger rows are lost"
        );
        state.ledger.count_lost(unfinished);
    }
    if let Some(writer) = writer {
        writer.shutdown().await?;
    }
    Ok(())
}

/// Waits (up to `limit`) until every request's ledger row has been handed to the writer.
async fn wait_for_rows(state: &AppState, limit: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while state.ledger.in_flight() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Per-request ledger state. Travels with the request, and with the response stream when there is
/// one; dropping it writes the row. A request dropped before it finished (client gone) is recorded
/// with status 499, as nginx does.
pub struct PendingRecord {
    ledger: Ledger,
    started: Instant,
    pub record: LedgerRecord,
    finished: bool,
    /// False once the row has been handed on by [`PendingRecord::take`].
    armed: bool,
}

impl PendingRecord {
    pub fn new(ledger: Ledger, path: &str, request_id: &str) -> PendingRecord {
        ledger.request_started();
        let ts_ms = crate::ledger::now_ms();
        PendingRecord {
            ledger,
            started: Instant::now(),
            record: LedgerRecord {
                ts_ms,
                request_id: request_id.to_string(),
                path: path.to_string(),
                status: 499,
                ..LedgerRecord::default()
            },
            finished: false,
            armed: true,
        }
    }

    /// Moves the row out (to a response stream that will finish it); this one then writes nothing.
    pub fn take(&mut self) -> PendingRecord {
        self.armed = false;
        PendingRecord {
            ledger: self.ledger.clone(),
            started: self.started,
            record: std::mem::take(&mut self.record),
            finished: false,
            armed: true,
        }
    }

    /// Writes a request's route into its row: mode, class, route, reason, what search did (and in
    /// shadow mode what it would have done) and what the decision and the search step cost.
    pub fn apply(&mut self, routed: &Routed) {
        let r = &mut self.record;
        r.mode = routed.mode;
        r.route = RouteTaken::Llm;
        r.reason = routed.reason();
        r.proxy_cpu_us += routed.decide_cpu_us;
        r.decided_by = Some(
            routed
                .decision
                .as_ref()
                .map_or(DecidedBy::Off, |d| DecidedBy::of(&d.decider)),
        );
        if let Some(decision) = &routed.decision {
            r.class = Some(decision.class);
            r.confidence = Some(decision.confidence);
        }
        if let Some(search) = routed.search() {
            r.search_cpu_us = search.cpu_us;
            r.search_ms = Some(search.elapsed_ms);
        }
        let live = routed.mode == Mode::Route;
        match &routed.outcome {
            Outcome::Answered { answer, .. } if live => {
                r.route = RouteTaken::Search;
                r.answer_source = Some(answer.source_ref());
            }
            Outcome::Answered { answer, content, .. } => {
                r.shadow_route = Some(Route::Search);
                r.shadow_answer = Some(content.clone());
                r.answer_source = Some(answer.source_ref());
            }
            Outcome::Escalated { .. } if live => r.escalated = true,
            Outcome::Escalated { .. } | Outcome::Llm if routed.mode == Mode::Shadow => {
                r.shadow_route = Some(Route::Llm);
            }
            Outcome::Escalated { .. } | Outcome::Llm | Outcome::Off => {}
        }
    }

    /// Marks the request as complete; the row is written when this is dropped.
    pub fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for PendingRecord {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut record = std::mem::take(&mut self.record);
        record.latency_ms = self.started.elapsed().as_secs_f64() * 1e3;
        if !self.finished {
            record.status = 499;
            record
                .error
                .get_or_insert_with(|| "client closed the request before it completed".into());
        }
        self.ledger.record(record);
        self.ledger.request_ended();
    }
}

/// The request id: the client's `x-request-id` when it is sane, else a fresh one.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// A header value from free text (rule names may be Unicode): non-ASCII and control characters
/// become `?`, and the result is capped so a header can never be refused.
pub fn header_value(text: &str) -> HeaderValue {
    let clean: String = text
        .chars()
        .take(512)
        .map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' })
        .collect();
    HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// The tenant of a request: the tenant header when sane, else `key:` and the first 16 hex digits of
/// a salted SHA-256 of the Authorization header, so the key itself is never stored.
pub fn tenant_of(headers: &HeaderMap, tenant_header: &http::HeaderName) -> Option<String> {
    if let Some(name) = headers
        .get(tenant_header)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
    {
        return Some(name.to_string());
    }
    let auth = headers.get(http::header::AUTHORIZATION)?;
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"ecoroute-tenant:")
        .chain_update(auth.as_bytes())
        .finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Some(format!("key:{hex}"))
}

/// Reads a request body up to `limit` bytes; a declared or actual larger body is a 413.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Error> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Error::PayloadTooLarge { limit });
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(Error::PayloadTooLarge { limit })
        }
        Err(e) => Err(Error::BodyRead(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_when_sane() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&h), "abc-123");
        h.insert("x-request-id", HeaderValue::from_static("has space"));
        assert_eq!(request_id(&h).len(), 32);
    }

    #[test]
    fn tenants_come_from_the_header_or_a_key_hash_never_the_key() {
        let name = http::HeaderName::from_static("x-ecoroute-tenant");
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer sk-secret-123"),
        );
        let hashed = tenant_of(&h, &name).unwrap();
        assert!(hashed.starts_with("key:") && hashed.len() == 20, "{hashed}");
        assert!(!hashed.contains("sk-secret"));
        assert_eq!(tenant_of(&h, &name), Some(hashed), "stable");
        h.insert("x-ecoroute-tenant", HeaderValue::from_static("team-a"));
        assert_eq!(tenant_of(&h, &name).as_deref(), Some("team-a"));
        assert_eq!(tenant_of(&HeaderMap::new(), &name), None);
    }

    #[test]
    fn header_values_are_always_valid() {
        assert_eq!(header_value("rule: café\n"), "rule: caf??");
    }
}
