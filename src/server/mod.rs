//! The HTTP server: shared state, start-up, and graceful shutdown.
//!
//! - [`stack`]: every tower layer and route, in one place.
//! - [`chat`]: `/v1/chat/completions`, `/v1/messages`, `/v1/responses`: parse, then
//!   [`crate::pipeline::Pipeline::plan`], then answer or forward as the plan says.
//! - `answer`: the answers the proxy writes itself (cache, search), in the API's shape.
//! - `forward`: the LLM leg: the upstream call, the usage tap, the cache fill, a tier's review call.
//! - [`passthrough`]: every other `/v1/*` path, proxied to the upstream unchanged.
//! - [`conn`]: the accept loop and its limits on slow or hostile clients.
//! - [`ctx`]: the per-request context, [`RequestCtx`], that travels with the request (and its
//!   response stream); every fact about the request is written through its methods, and dropping
//!   it makes the ledger row once, so even a request whose client went away is recorded.
//! - [`request`]: request ids, header values, tenants, reading a body within its limit.
//! - [`kept`]: Responses answered here, so `previous_response_id` and retrieval still work.
//! - `respond`: an error as the response a client gets (status, body, headers).
//! - `review`: a tier's review calls: the sample (keyed by a secret) and their bound.
//! - [`admin`], [`reload`]: the admin surface and hot reload.

pub(crate) mod admin;
mod answer;
pub(crate) mod auth;
pub(crate) mod chat;
pub(crate) mod conn;
pub(crate) mod ctx;
mod forward;
pub(crate) mod kept;
pub(crate) mod observe;
pub(crate) mod passthrough;
pub(crate) mod reload;
pub(crate) mod request;
mod respond;
mod review;
pub(crate) mod stack;

pub(crate) use ctx::RequestCtx;
pub use request::{header_value, request_id};
pub(crate) use request::{read_body, tenant_of};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::ledger::{self, Ledger, LedgerWriter};
use crate::pipeline::Pipeline;
use crate::Error;

pub struct AppState {
    runtime: ArcSwap<Pipeline>,
    pub ledger: Ledger,
    /// `/metrics`: requests, energy, search failures, and the ledger's own counters.
    pub metrics: Arc<crate::metrics::Metrics>,
    draining: AtomicBool,
    /// Set when the shutdown grace is over: requests still in flight end now, with an error the
    /// client can read (a 503, or an SSE error event on a stream), so their rows are written
    /// before the ledger closes.
    stop_in_flight: tokio::sync::watch::Sender<bool>,
    /// One reload at a time; requests never wait on it.
    reloading: tokio::sync::Mutex<()>,
    /// Failed admin logins per client address.
    pub(crate) admin_failures: admin::FailedLogins,
    /// Responses answered here, for follow-ups and `GET /v1/responses/{id}`.
    pub(crate) kept_responses: kept::KeptResponses,
    /// A tier's review calls: which requests are sampled, and the places for them.
    reviews: review::Reviews,
    /// The counters of the limits per key and tenant (`[[keys]]`, `[limits]`); their settings
    /// follow the config at every reload.
    pub(crate) limits: Arc<crate::limits::Limits>,
    /// OpenTelemetry traces (`[telemetry]`), when a collector is configured; bound at start.
    pub(crate) traces: Option<Arc<crate::telemetry::Traces>>,
}

impl AppState {
    pub(crate) fn new(
        runtime: Pipeline,
        ledger: Ledger,
        metrics: Arc<crate::metrics::Metrics>,
        limits: Arc<crate::limits::Limits>,
    ) -> AppState {
        // Sized once: a change of `max_concurrency` needs a restart.
        let reviews = review::Reviews::new(runtime.config.server.max_concurrency);
        limits.configure(runtime.config.keys.subjects());
        AppState {
            limits,
            traces: None,
            reviews,
            runtime: ArcSwap::from_pointee(runtime),
            ledger,
            metrics,
            draining: AtomicBool::new(false),
            stop_in_flight: tokio::sync::watch::Sender::new(false),
            reloading: tokio::sync::Mutex::new(()),
            admin_failures: admin::FailedLogins::default(),
            kept_responses: kept::KeptResponses::default(),
        }
    }

    /// Resolves when requests in flight must end (the shutdown grace is over).
    pub(crate) fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stop_in_flight.subscribe();
        async move {
            // An error means the state is gone, which also means stop.
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    /// The current runtime snapshot.
    pub(crate) fn runtime(&self) -> Arc<Pipeline> {
        self.runtime.load_full()
    }

    pub(crate) fn is_draining(&self) -> bool {
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
            .map_err(|e| Error::internal_from("server task failed", e))?
    }
}

/// Binds `config.server.listen` (port 0 picks a free port), builds the runtime and starts serving.
pub async fn start(config: Config) -> Result<RunningServer, Error> {
    let runtime = Pipeline::build(config).await?;
    start_with(runtime).await
}

pub(crate) async fn start_with(runtime: Pipeline) -> Result<RunningServer, Error> {
    let listen = runtime.config.server.listen;
    let grace = runtime.config.server.shutdown_grace;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| Error::io(format!("binding {listen}"), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the bound address", e))?;
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let config = &runtime.config;
    for warning in crate::config::keys::start_warnings(
        &config.keys,
        [
            ("OpenAI", config.llm.api_key.is_some()),
            ("Anthropic", config.llm.anthropic.api_key.is_some()),
        ],
    ) {
        tracing::warn!("{warning}");
    }
    // The budgets are charged by the ledger writer, with the figures it computes.
    let limits = Arc::new(crate::limits::Limits::default());
    let (ledger, writer) = ledger::start_charging(
        &runtime.config.ledger,
        &runtime.config.energy,
        Arc::clone(&metrics),
        Some(Arc::clone(&limits)),
    )?;
    // GPU energy meters of self-hosted models feed the ledger, off the request path.
    let meters = crate::meter::Meters::start(&runtime.config.energy.meters, ledger.clone(), Arc::clone(&metrics)).await;
    let shards = crate::shard::Shards::start(crate::shard::count(runtime.config.server.worker_threads))?;
    let traces = match &runtime.config.telemetry.otlp_traces_url {
        Some(url) => Some(Arc::new(crate::telemetry::Traces::start(
            url,
            &runtime.config.telemetry.service_name,
        )?)),
        None => None,
    };
    let mut state = AppState::new(runtime, ledger, metrics, limits);
    state.traces = traces;
    let state = Arc::new(state);
    state.seed_spend().await;
    let app = stack::router(Arc::clone(&state));
    reload::spawn_triggers(&state);
    if let (Some(every), Some(crate::ledger::LedgerStore::Postgres { url })) = (
        state.runtime().config.keys.fleet_sync,
        state.runtime().config.ledger.store.clone(),
    ) {
        crate::ledger::fleet::spawn_rate_sharing(url.expose().clone(), Arc::downgrade(&state.limits), every)?;
    }
    auth::spawn_budget_refresh(&state);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(run(
        listener,
        app,
        Arc::clone(&state),
        (meters, writer, shards),
        rx,
        grace,
    ));
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
    (meters, writer, shards): (crate::meter::Meters, Option<LedgerWriter>, crate::shard::Shards),
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

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let shared = Arc::new(conn::Shared {
        app,
        state: Arc::clone(&state),
        builder: conn::http_builder(&server),
        header_read_timeout: server.header_read_timeout,
        idle_timeout: server.idle_timeout,
        reclaim: conn::Reclaim::default(),
        shutdown: shutdown_rx,
    });
    let slots = Arc::new(tokio::sync::Semaphore::new(server.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    'accept: loop {
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
        // A connection slot before serving it. At the cap this one newcomer waits (the rest wait
        // in the kernel's backlog) while idle connections are asked, again every 50 ms, to give
        // their slots up: connections that become idle later hear it too.
        let slot = loop {
            if let Ok(slot) = Arc::clone(&slots).try_acquire_owned() {
                break slot;
            }
            shared.reclaim.ask();
            tokio::select! {
                slot = Arc::clone(&slots).acquire_owned() => match slot {
                    Ok(slot) => break slot,
                    Err(_) => return Err(Error::internal("connection slots closed")),
                },
                () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
                () = &mut signal => break 'accept,
            }
        };
        while connections.try_join_next().is_some() {}
        // The connection moves to a shard, where it stays: its socket is registered with that
        // shard's runtime, not this one's.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, %peer, "could not hand a connection to a serving thread");
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        connections.spawn_on(
            async move {
                match tokio::net::TcpStream::from_std(stream) {
                    Ok(stream) => conn::serve_connection(stream, peer, shared).await,
                    Err(e) => tracing::warn!(error = %e, %peer, "a serving thread could not take a connection"),
                }
                drop(slot);
            },
            shards.next(),
        );
    }
    drop(listener);

    // Keep-alive connections close after their current response; requests in flight finish, and
    // so does work whose row outlives its connection (a tier's review call). Each connection holds
    // a receiver until it ends (the one in `shared` goes with it).
    shutdown_tx.send_replace(true);
    drop(shared);
    let finished = async {
        shutdown_tx.closed().await;
        wait_for_rows(&state, grace).await;
    };
    if tokio::time::timeout(grace, finished).await.is_err() || state.ledger.in_flight() > 0 {
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
    // The last interval's requests get their measured energy before the ledger closes.
    meters.stop().await;
    if let Some(writer) = writer {
        writer.shutdown().await?;
    }
    // The spans still queued go out before the process ends.
    if let Some(traces) = state.traces.clone() {
        let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
    }
    // The serving threads stop last, once nothing is left for them to do.
    drop(shards);
    Ok(())
}

/// Waits (up to `limit`) until every request's ledger row has been handed to the writer.
async fn wait_for_rows(state: &AppState, limit: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while state.ledger.in_flight() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
