//! Time to first token, measured where the client sees it: from the request's arrival to the
//! first chunk of a streamed LLM answer leaving the proxy. A layer around the API routes, so the
//! handlers need not carry a clock for it.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;

use super::AppState;

pub(crate) async fn time_to_first_token(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let api = crate::api::Api::of_path(request.uri().path());
    let response = next.run(request).await;
    let Some(api) = api else { return response };
    let headers = response.headers();
    let streamed_llm = headers.get(super::chat::ROUTE_HEADER).is_some_and(|v| v == "llm")
        && headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
    if !streamed_llm {
        return response;
    }
    let (parts, body) = response.into_parts();
    let mut first = true;
    let metrics = Arc::clone(&state.metrics);
    let body = body.into_data_stream().inspect(move |chunk| {
        if first && chunk.as_ref().is_ok_and(|c| !c.is_empty()) {
            first = false;
            metrics.first_token(api.name(), started.elapsed().as_secs_f64());
        }
    });
    Response::from_parts(parts, axum::body::Body::from_stream(body))
}
