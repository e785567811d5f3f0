//! Every `/v1/*` request other than a chat completion (models, embeddings, files, …) goes to the
//! upstream unchanged, request and response bodies streamed, and is recorded in the ledger as
//! `passthrough` so it never counts as an LLM call avoided or made.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http_body_util::BodyExt;

use super::chat::{REASON_HEADER, ROUTE_HEADER};
use super::{request_id, AppState, PendingRecord};
use crate::llm::{response_headers, UpstreamRequest};
use crate::Error;

pub async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let runtime = state.runtime();
    let id = request_id(request.headers());
    let path = request.uri().path().to_string();
    let mut pending = PendingRecord::new(state.ledger.clone(), &path, &id);
    pending.record.route = "passthrough".into();
    pending.record.reason = "passthrough: not a chat completion".into();
    pending.record.tenant = super::tenant_of(request.headers(), &runtime.config.ledger.tenant_header);

    let (parts, body) = request.into_parts();
    let limit = runtime.config.server.max_body_bytes;
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut response = if declared.is_some_and(|len| len > limit as u64) {
        Error::PayloadTooLarge { limit }.into_response()
    } else if has_dot_segment(&path) {
        Error::InvalidRequest {
            message: "the path may not contain `.` or `..` segments".into(),
            param: None,
        }
        .into_response()
    } else {
        // The path is kept, the host is always the configured upstream's: a request cannot choose
        // where the proxy connects.
        let suffix = path.strip_prefix("/v1").unwrap_or(&path);
        let path_and_query = match parts.uri.query() {
            Some(q) => format!("{suffix}?{q}"),
            None => suffix.to_string(),
        };
        let body = reqwest::Body::wrap_stream(http_body_util::Limited::new(body, limit).into_data_stream());
        let request = UpstreamRequest {
            method: parts.method,
            path_and_query,
            headers: parts.headers,
            body,
        };
        match runtime.upstream.send(request).await {
            Ok(upstream) => {
                let status = upstream.status();
                let headers = response_headers(upstream.headers());
                let mut response = Response::new(axum::body::Body::from_stream(upstream.bytes_stream()));
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                response
            }
            Err(e) => {
                pending.record.error = Some(e.to_string());
                e.into_response()
            }
        }
    };
    let h = response.headers_mut();
    h.insert(ROUTE_HEADER, HeaderValue::from_static("llm"));
    h.insert(REASON_HEADER, HeaderValue::from_static("passthrough"));
    h.insert("x-request-id", super::header_value(&id));
    pending.record.status = response.status().as_u16();
    pending.finish();
    response
}

/// True when a path segment is `.` or `..`, literally or percent-encoded. The upstream URL is the
/// configured base plus the request's path; URL resolution would let `/v1/../../x` climb out of the
/// base's prefix (a gateway's `/openai/v1` to its `/internal`), so such paths are refused.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = segment.replace("%2e", ".").replace("%2E", ".");
        decoded == "." || decoded == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::has_dot_segment;

    #[test]
    fn dot_segments_are_found_however_they_are_spelled() {
        for path in [
            "/v1/../admin",
            "/v1/./models",
            "/v1/%2e%2e/x",
            "/v1/%2E./x",
            "/v1/models/..",
        ] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in ["/v1/models", "/v1/files/file-1.jsonl", "/v1/..hidden", "/v1/a..b"] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }
}
