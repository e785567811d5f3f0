//! The tower stack, built in one place. Read from the outside in:
//!
//! HTTP: catch panics → [health routes] | API error shape → read body → keys and limits →
//! load shed → global concurrency limit → routes
//! Search backend: circuit breaker → timeout → backend ([`crate::pipeline::search_stack`])
//! LLM backend: [`crate::llm::Upstream`] carries its own connect / first-byte / total timeouts.

use std::sync::Arc;

use axum::error_handling::HandleErrorLayer;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use http::StatusCode;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;

use super::{chat, header_value, passthrough, read_body, request_id, tenant_of, AppState, RequestCtx};
use crate::search::BoxError;
use crate::Error;

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let max_concurrency = state.runtime().config.server.max_concurrency;
    let shed_counter = Arc::clone(&state.metrics);
    let api = Router::new()
        .route("/v1/chat/completions", post(chat::handle).fallback(passthrough::handle))
        .route(
            "/v1/messages",
            post(chat::handle_messages).fallback(passthrough::handle),
        )
        .route(
            "/v1/responses",
            post(chat::handle_responses).fallback(passthrough::handle),
        )
        .route("/v1/responses/{id}", get(kept_response).fallback(passthrough::handle))
        .route("/v1/{*path}", any(passthrough::handle))
        .layer(
            ServiceBuilder::new()
                // 4. The body is read whole, within server.body_read_timeout, before the request
                //    takes a slot: a client that stalls is cut off with 408 and never holds a slot
                //    while sending nothing, and a shed request's body is already off the wire, so
                //    its 503 leaves the keep-alive connection usable.
                .layer(axum::middleware::from_fn_with_state(
                    Arc::clone(&state),
                    read_body_first,
                ))
                // 3b. The inbound key and the limits of the key and its tenant (server::auth):
                //     refused requests are answered before they take a slot.
                .layer(axum::middleware::from_fn_with_state(
                    Arc::clone(&state),
                    super::auth::authenticate,
                ))
                // 3. A shed request becomes a 503 with Retry-After in OpenAI's error shape, which
                //    SDKs retry with backoff.
                .layer(HandleErrorLayer::new(move |_: BoxError| {
                    shed_counter.requests_shed.inc();
                    async { Error::Overloaded }
                }))
                // 2. Refuse at once rather than queue when the limit is reached: queueing behind a
                //    full proxy only turns overload into timeouts.
                .load_shed()
                // 1. One limit shared by all API routes (a per-route limit would multiply it).
                .layer(GlobalConcurrencyLimitLayer::new(max_concurrency)),
        )
        // 5. Outermost on the API routes: an error the proxy writes itself (a shed request, a
        //    refused body, a bad request) takes the shape of the API it was sent to, so an
        //    Anthropic SDK reads Anthropic's error shape whichever layer refused the request.
        .layer(axum::middleware::from_fn(api_error_shape))
        // 6. Time to the first chunk of a streamed LLM answer, as the client gets it.
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            super::observe::time_to_first_token,
        ));
    Router::new()
        // Health checks sit outside the limit, so an overloaded proxy is not restarted for it.
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/dashboard", get(super::admin::dashboard))
        .route("/admin/reload", axum::routing::post(super::admin::reload))
        .route("/admin/config", get(super::admin::config))
        .route("/admin/explain", get(super::admin::explain))
        .merge(api)
        .fallback(not_found)
        // Outermost: a panic in any handler is a 500 in OpenAI's shape, not a dropped connection.
        .layer(CatchPanicLayer::custom(|_panic: Box<dyn std::any::Any + Send>| {
            Error::internal("handler panicked").into_response()
        }))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "draining"})),
        )
            .into_response();
    }
    let runtime = state.runtime();
    Json(serde_json::json!({"status": "ready", "search_backend": runtime.search_backend_name})).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = state.metrics.encode();
    (
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `GET /v1/responses/{id}`: a response answered here, or the upstream's.
async fn kept_response(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    request: axum::extract::Request,
) -> Response {
    let owner = super::request::credential_of(request.headers());
    match state.kept_responses.response(&id, owner.as_deref()) {
        Some(response) => {
            let mut response = Json(response).into_response();
            let h = response.headers_mut();
            h.insert(chat::ROUTE_HEADER, http::HeaderValue::from_static("search"));
            h.insert(
                chat::REASON_HEADER,
                http::HeaderValue::from_static("kept: answered here"),
            );
            response
        }
        None => passthrough::handle(State(state), request).await,
    }
}

/// Layer 5: rewrites the proxy's own error bodies into the shape of the API the request was sent
/// to. Upstream errors pass as the upstream wrote them: they carry no [`crate::error::ProxyError`].
async fn api_error_shape(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    // Only Anthropic's paths take another shape: the rest pay one prefix test.
    let anthropic = crate::api::Api::of_path(request.uri().path()) == Some(crate::api::Api::Messages);
    let mut response = next.run(request).await;
    if !anthropic {
        return response;
    }
    let api = crate::api::Api::Messages;
    let Some(error) = response.extensions_mut().remove::<crate::error::ProxyError>() else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(api.error_body_of(&error).to_string()))
}

/// 0. (inside the API routes) Reads the body before anything else; see the layer's comment.
async fn read_body_first(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let runtime = state.runtime();
    let server = &runtime.config.server;
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(
        server.body_read_timeout,
        read_body(&parts.headers, body, server.max_body_bytes),
    )
    .await;
    let error = match read {
        Ok(Ok(bytes)) => {
            let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
            return next.run(request).await;
        }
        Ok(Err(error)) => error,
        Err(_) => Error::ClientTimeout {
            what: "body",
            ms: u64::try_from(server.body_read_timeout.as_millis()).unwrap_or(u64::MAX),
        },
    };
    rejected(&state, &parts, error)
}

/// Answers a request refused before routing, with its ledger row.
pub(super) fn rejected(state: &AppState, parts: &http::request::Parts, error: Error) -> Response {
    let id = request_id(&parts.headers);
    let path: String = parts.uri.path().chars().take(256).collect();
    RequestCtx::new(state, &path, &id).rejected(
        tenant_of(&parts.headers, &state.runtime().config.ledger.tenant_header),
        "rejected: before routing",
        error.status().as_u16(),
        error.to_string(),
    );
    let mut response = error.into_response();
    response.headers_mut().insert("x-request-id", header_value(&id));
    response
}

async fn not_found(State(state): State<Arc<AppState>>, request: axum::extract::Request) -> Response {
    let (parts, _body) = request.into_parts();
    let error = Error::NotFound(format!(
        "no route for {}; ecoroute serves /v1/*, /healthz, /readyz, /metrics, /dashboard and /admin/*",
        parts.uri.path().chars().take(256).collect::<String>()
    ));
    rejected(&state, &parts, error)
}
