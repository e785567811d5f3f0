//! Every `/v1/*` request other than a chat request (chat completions, messages, responses) (models, embeddings, files, …) goes to the
//! upstream unchanged and is recorded in the ledger as `passthrough` so it never counts as an LLM
//! call avoided or made. The request body has been read whole within `server.max_body_bytes`, like
//! every request's (docs/operations.md says why); the response body is streamed.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http::HeaderValue;

use super::chat::{REASON_HEADER, ROUTE_HEADER};
use super::{request_id, AppState, RequestCtx};
use crate::llm::response_headers;
use crate::Error;

pub(crate) async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    // The proxy's CPU time, a synchronous stretch at a time (a task may resume on another thread).
    let meter = crate::cpu::CpuMeter::start();
    let runtime = state.runtime();
    let id = request_id(request.headers());
    let path = request.uri().path().to_string();
    let mut ctx = RequestCtx::new(&state, &path, &id);
    ctx.passthrough();
    ctx.set_tenant(super::tenant_of(
        request.headers(),
        &runtime.config.ledger.tenant_header,
    ));

    // The body has already been read within server.max_body_bytes (the stack's read-body layer).
    let (parts, body) = request.into_parts();
    // Anthropic's own paths (`/v1/messages/count_tokens`, batches) go to its upstream.
    let upstream = runtime.upstream_for(crate::api::Api::of_path(&path).unwrap_or(crate::api::Api::ChatCompletions));
    // With the operator's key, only the requests `llm.passthrough` names: otherwise any client
    // that reaches the proxy could delete files or read batches as the operator. With the
    // client's own key, the upstream decides.
    let allowed = !upstream.sends_own_key()
        || runtime
            .config
            .llm
            .passthrough
            .iter()
            .any(|rule| rule.allows(&parts.method, &path));
    let mut response = if let Err(why) = check_path(&path) {
        Error::InvalidRequest {
            message: format!("the path is refused: {why}"),
            param: None,
        }
        .into_response()
    } else if !allowed {
        let refused = Error::Forbidden(format!(
            "{} {} is not passed to the upstream with the proxy's key; an operator can allow it in llm.passthrough",
            parts.method,
            path.chars().take(256).collect::<String>()
        ));
        ctx.set_error(refused.to_string());
        refused.into_response()
    } else {
        // The path is kept, the host is always the configured upstream's: a request cannot choose
        // where the proxy connects.
        let suffix = path.strip_prefix("/v1").unwrap_or(&path);
        let path_and_query = match parts.uri.query() {
            Some(q) => format!("{suffix}?{q}"),
            None => suffix.to_string(),
        };
        // Already in memory (the stack's read-body layer), so a second try can send it again.
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .map_err(|e| Error::internal_from("re-reading a body already read", e));
        ctx.add_cpu(meter.micros());
        let sent = match body {
            Ok(body) => {
                let call = crate::llm::fleet::Passthrough {
                    kind: crate::api::Api::of_path(&path)
                        .unwrap_or(crate::api::Api::ChatCompletions)
                        .upstream(),
                    method: parts.method,
                    path_and_query,
                    headers: parts.headers,
                    body,
                    request_id: &id,
                };
                tokio::select! {
                    (sent, tries) = runtime.fleet.send_passthrough(call) => {
                        for (deployment, answered) in tries.each() {
                            state.metrics.upstream_try(deployment, answered);
                        }
                        ctx.upstream_tried(&tries);
                        sent
                    }
                    () = state.stopped() => Err(Error::ShuttingDown),
                }
            }
            Err(e) => Err(e),
        };
        let meter = crate::cpu::CpuMeter::start();
        let response = match sent {
            Ok(upstream) => {
                let status = upstream.status();
                let headers = response_headers(upstream.headers());
                // The row goes with the body and is written when it ends: a body cut by the
                // upstream or at the end of the shutdown grace is booked as cut, not as the
                // status its head had (the attack review's L13).
                let mut owned = ctx.take();
                owned.set_status(status.as_u16());
                owned.add_cpu(meter.micros());
                let body = with_row(upstream.bytes_stream(), state.stopped(), owned);
                let mut response = Response::new(axum::body::Body::from_stream(body));
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                mark(&mut response, &id);
                return response;
            }
            Err(e) => {
                ctx.set_error(e.to_string());
                e.into_response()
            }
        };
        ctx.add_cpu(meter.micros());
        response
    };
    mark(&mut response, &id);
    ctx.set_status(response.status().as_u16());
    ctx.finish();
    response
}

/// The headers that say a response was passed through, and its request id.
fn mark(response: &mut Response, id: &str) {
    let h = response.headers_mut();
    h.insert(ROUTE_HEADER, HeaderValue::from_static("llm"));
    h.insert(REASON_HEADER, HeaderValue::from_static("passthrough"));
    h.insert("x-request-id", super::header_value(id));
}

/// The upstream body, carrying the request's row: finished when the body ends; when the upstream
/// fails mid-way or the shutdown grace ends first, booked with the error and ended with one (so
/// the response is aborted and the client cannot take it for complete). A client that goes away
/// drops it unfinished (499).
fn with_row(
    inner: impl futures_util::Stream<Item = Result<bytes::Bytes, Error>> + Send + 'static,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
    ctx: RequestCtx,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, Error>> + Send {
    let start = (Box::pin(inner), Box::pin(stopped), Some(ctx));
    futures_util::stream::unfold(start, |(mut inner, mut stopped, pending)| async move {
        let mut pending = pending?;
        let failed = tokio::select! {
            biased;
            () = &mut stopped => Error::ShuttingDown,
            next = inner.next() => match next {
                Some(Ok(chunk)) => return Some((Ok(chunk), (inner, stopped, Some(pending)))),
                None => {
                    pending.finish();
                    return None;
                }
                Some(Err(error)) => error,
            },
        };
        pending.set_status(failed.status().as_u16());
        pending.set_error(format!("stream cut: {failed}"));
        pending.finish();
        drop(pending);
        Some((Err(failed), (inner, stopped, None)))
    })
}

/// Why a path is refused, if it is. Each segment is judged as the upstream may read it, after
/// percent-decoding: `.` and `..` (also with a `;parameter` tail, which some servers strip),
/// backslashes, encoded separators, control characters and a second level of encoding are
/// refused. [`crate::llm::upstream_url`] checks the resolved URL again before anything is sent.
fn check_path(path: &str) -> Result<(), &'static str> {
    for segment in path.split('/') {
        let decoded: Vec<u8> = percent_decode(segment.as_bytes());
        let bare = decoded.split(|&b| b == b';').next().unwrap_or_default();
        if bare == b"." || bare == b".." {
            return Err("`.` and `..` segments are not allowed");
        }
        if decoded.contains(&b'\\') || decoded.contains(&b'/') {
            return Err("a segment may not contain a backslash or an encoded `/`");
        }
        if decoded.iter().any(|b| b.is_ascii_control()) {
            return Err("a segment may not contain control characters");
        }
        if decoded.contains(&b'%') {
            return Err("a segment may not be percent-encoded twice");
        }
    }
    Ok(())
}

/// `%XX` sequences decoded; anything else kept as is.
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn traversal_is_refused_however_it_is_spelled() {
        for path in [
            "/v1/../admin",
            "/v1/./models",
            "/v1/%2e%2e/x",
            "/v1/%2E./x",
            "/v1/models/..",
            "/v1/..\\..\\secret",
            "/v1/models\\..\\..\\internal/admin",
            "/v1/models/..%2f..%2f_log",
            "/v1/..%5c..%5c_log",
            "/v1/x/..;/y",
            "/v1/..%09/x",
            "/v1/%252e%252e/x",
        ] {
            assert!(check_path(path).is_err(), "{path}");
        }
        for path in [
            "/v1/models",
            "/v1/files/file-1.jsonl",
            "/v1/..hidden",
            "/v1/a..b",
            "/v1/models/ft:gpt-4o-mini:acme:custom:abc123",
            "/v1/files/file%20name",
        ] {
            assert!(check_path(path).is_ok(), "{path}");
        }
    }
}
