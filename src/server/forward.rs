//! The LLM leg of a request: the call to the upstream, the usage tap on the answer's way back
//! (SSE or JSON), keeping the answer for the cache, and a model tier's review call.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{header, HeaderMap, HeaderValue, Method};

use super::chat::Reply;
use super::request::{forbids_keeping, EXPLAIN_HEADER, MODEL_HEADER, REASON_HEADER, ROUTE_HEADER};
use super::{header_value, AppState, RequestCtx};
use crate::api::Api;
use crate::config::tiers::TierMode;
use crate::cpu::CpuMeter;
use crate::llm::usage::{JsonUsage, SseScanner};
use crate::llm::{response_headers, UpstreamRequest};
use crate::pipeline::cache::CacheStep;
use crate::pipeline::plan::Forward;
use crate::pipeline::Pipeline;
use crate::Error;

/// What the LLM leg needs of the request, besides its plan.
pub(super) struct Outbound<'a> {
    pub state: &'a AppState,
    pub runtime: &'a Pipeline,
    pub api: Api,
    pub headers: &'a HeaderMap,
    /// The request as the client sent it (a Responses follow-up with its earlier turn).
    pub body: Bytes,
    pub stream: bool,
    pub explain: Option<&'a str>,
}

/// Sends a request to the LLM as its plan says: to a tier's cheaper model, or to the one it names
/// with a review call to the cheaper one in the sample; the answer kept for the cache when it may be.
pub(super) async fn forward(out: Outbound<'_>, plan: Forward, ctx: &mut RequestCtx) -> Result<Reply, Error> {
    let Outbound {
        state,
        runtime,
        api,
        headers,
        mut body,
        stream,
        explain,
    } = out;
    let mut keep_answer = false;
    if let Some(choice) = &plan.tier {
        match choice.mode {
            TierMode::Route => {
                body = with_model(&body, &choice.cheaper)?;
                ctx.tier_routed(&choice.cheaper);
            }
            TierMode::Shadow => {
                ctx.tier_shadowed(&choice.cheaper, &choice.why);
                // A sampled share is also answered by the cheaper model, off the client's path, so
                // the team can compare the two answers before it turns the tier on.
                // Its call takes one of a few places, and is skipped (said in the row) when
                // none is free: a hanging cheaper model must not hold calls and bodies unbounded.
                if plan.review {
                    match state.reviews.slot() {
                        Some(slot) => {
                            keep_answer = state.ledger.stores_prompts();
                            let review = RequestCtx::new(state, api.path(), &format!("{}-review", ctx.request_id()));
                            tokio::spawn(review_with_cheaper(
                                ReviewCall {
                                    api,
                                    upstream: runtime.upstream_for(api).clone(),
                                    headers: headers.clone(),
                                    body: body.clone(),
                                    cheaper: choice.cheaper.clone(),
                                    stopped: Box::pin(state.stopped()),
                                    _slot: slot,
                                },
                                review,
                                ReviewOf {
                                    request_id: ctx.request_id().to_string(),
                                    tenant: ctx.tenant().map(str::to_string),
                                    keep_answer,
                                },
                            ));
                        }
                        None => ctx.review_skipped(state.reviews.size()),
                    }
                }
            }
            TierMode::Off => {}
        }
    }
    let call = LlmCall {
        api,
        keep_answer,
        served_model: plan.model,
        headers,
        body,
        stream,
        explain,
        stopped: Box::pin(state.stopped()),
        fill: plan.fill.map(|step| CacheFill {
            step,
            metrics: Arc::clone(&state.metrics),
        }),
        metrics: &state.metrics,
    };
    forward_to_llm(runtime, call, ctx).await
}

/// Stores an LLM answer in the cache after it has reached the client.
struct CacheFill {
    step: CacheStep,
    metrics: Arc<crate::metrics::Metrics>,
}

impl CacheFill {
    fn store(&self, answer: Option<crate::llm::usage::PlainAnswer>, status: http::StatusCode) {
        if let Some(size) = self.step.store_llm(answer, status.is_success()) {
            self.metrics.cache_stored(size);
        }
    }
}

/// The request body with another `model`, for a model tier; everything else as the client sent it.
fn with_model(body: &[u8], model: &str) -> Result<Bytes, Error> {
    rewrite_body(body, |map| {
        map.insert("model".into(), serde_json::Value::String(model.to_string()));
    })
}

/// The client's request body, changed by `edit`, written again.
fn rewrite_body(
    body: &[u8],
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> Result<Bytes, Error> {
    let mut value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| Error::internal_from("re-reading a request already parsed", e))?;
    if let Some(map) = value.as_object_mut() {
        edit(map);
    }
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .map_err(|e| Error::internal_from("writing the request again", e))
}

/// The request a review call repeats.
struct ReviewOf {
    request_id: String,
    tenant: Option<String>,
    /// Keep the cheaper model's answer in the row (`ledger.store_prompts`).
    keep_answer: bool,
}

/// A tier's review call: the client's request, not streamed, sent to the cheaper model after the
/// client was served by the one it asked for. Its own ledger row books all of its cost (it would
/// not have happened without ecoroute), and with `ledger.store_prompts` the answer, so the team
/// can compare it with the original's.
/// A review call: what it sends, and what it holds while open.
struct ReviewCall {
    api: Api,
    upstream: crate::llm::Upstream,
    headers: HeaderMap,
    body: Bytes,
    cheaper: String,
    /// Resolves at the end of the shutdown grace: the call is then cut and its row written.
    stopped: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    /// Its place among the review calls ([`super::review::Reviews::slot`]), given back at the end.
    _slot: tokio::sync::OwnedSemaphorePermit,
}

async fn review_with_cheaper(call: ReviewCall, mut review: RequestCtx, of: ReviewOf) {
    let ReviewCall {
        api,
        upstream,
        headers,
        body,
        cheaper,
        stopped,
        _slot,
    } = call;
    review.review_of(&cheaper, of.tenant, of.request_id);
    // The cheaper model, asked for one JSON answer instead of a stream.
    let body = rewrite_body(&body, |map| {
        map.insert("model".into(), serde_json::Value::String(cheaper.clone()));
        map.remove("stream");
        map.remove("stream_options");
    });
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            review.set_error(e.to_string());
            review.set_status(400);
            review.finish();
            return;
        }
    };
    let mut headers = headers;
    headers.remove(header::CONTENT_LENGTH);
    let request = chat_request(api, headers, body, review.request_id());
    let mut status = None;
    let call = async {
        let response = upstream.send(request).await?;
        status = Some(response.status().as_u16());
        response.bytes_within(super::review::ANSWER_LIMIT).await
    };
    let answer = tokio::select! {
        answer = call => answer,
        // Shutting down: the row is written now (the call cost something), not lost with the task.
        () = stopped => Err(Error::ShuttingDown),
    };
    if let Some(status) = status {
        review.set_status(status);
    }
    match answer {
        Ok(bytes) => {
            let mut usage = JsonUsage::default();
            usage.feed(&bytes);
            Scanner::Json(usage).apply(&mut review);
            if of.keep_answer {
                review.review_answer(crate::llm::usage::PlainAnswer::from_json(&bytes).map(|a| a.content));
            }
        }
        Err(e) => {
            review.set_status(e.status().as_u16());
            review.set_error(e.to_string());
        }
    }
    review.finish();
}

/// A chat request to the API's upstream. It asks for an identity-encoded body so usage can be
/// read from it; the client still gets it whole.
fn chat_request(api: Api, mut headers: HeaderMap, body: Bytes, request_id: &str) -> UpstreamRequest {
    headers.remove(header::ACCEPT_ENCODING);
    UpstreamRequest {
        method: Method::POST,
        path_and_query: api.upstream_path().into(),
        headers,
        body: crate::llm::UpstreamBody::from(body),
        request_id: request_id.to_string(),
    }
}

/// A request on its way to the LLM: what is sent, and what the answer's way back needs.
struct LlmCall<'a> {
    api: Api,
    /// Keep the answer's text in the row (a tier review's original, with `ledger.store_prompts`).
    keep_answer: bool,
    /// The cheaper model a tier chose, for the response header.
    served_model: Option<String>,
    headers: &'a HeaderMap,
    body: Bytes,
    stream: bool,
    explain: Option<&'a str>,
    stopped: StopFuture,
    /// Where to keep the answer, when it may be given again.
    fill: Option<CacheFill>,
    metrics: &'a crate::metrics::Metrics,
}

async fn forward_to_llm(runtime: &Pipeline, call: LlmCall<'_>, ctx: &mut RequestCtx) -> Result<Reply, Error> {
    let LlmCall {
        api,
        keep_answer,
        served_model,
        headers,
        body,
        stream,
        explain,
        stopped,
        fill,
        metrics,
    } = call;
    let mut headers = headers.clone();
    headers.remove(header::ACCEPT_ENCODING);
    let upstream_started = Instant::now();
    let model = ctx.model().map(str::to_string);
    let (sent, tries) = runtime
        .fleet
        .send(crate::llm::fleet::Call {
            kind: api.upstream(),
            model: model.as_deref(),
            path: api.upstream_path(),
            headers: &headers,
            body,
            request_id: ctx.request_id(),
        })
        .await;
    for (deployment, answered) in tries.each() {
        metrics.upstream_try(deployment, answered);
    }
    ctx.upstream_tried(&tries);
    let upstream = sent?;
    ctx.upstream_answered(upstream_started.elapsed().as_secs_f64() * 1e3);
    let status = upstream.status();
    let keep = Keep {
        // An answer the upstream says not to keep is not kept.
        fill: fill
            .filter(|_| !forbids_keeping(upstream.headers()))
            .map(|fill| (fill, status)),
        answer: keep_answer,
    };
    let mut response_headers = response_headers(upstream.headers());
    response_headers.insert(ROUTE_HEADER, HeaderValue::from_static("llm"));
    response_headers.insert(REASON_HEADER, header_value(ctx.reason()));
    if let Some(model) = &served_model {
        response_headers.insert(MODEL_HEADER, header_value(model));
    }
    if let Some(top) = explain {
        response_headers.insert(EXPLAIN_HEADER, ctx.explain_header(top));
    }
    let is_sse = upstream
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !status.is_success() {
        ctx.set_error(format!("upstream returned {status}"));
    }
    let sse = stream && status.is_success() && is_sse;
    // A small JSON answer of known length is read whole and sent with its length in one write:
    // cheaper than a chunked stream, and bounded by SMALL_BODY. Anything else is passed through
    // chunk by chunk as it arrives, never held whole.
    let small = upstream.content_length().is_some_and(|len| len <= SMALL_BODY);
    if !sse && small {
        let bytes = tokio::select! {
            bytes = upstream.bytes_within(SMALL_BODY as usize) => bytes?,
            () = stopped => return Err(Error::ShuttingDown),
        };
        let meter = CpuMeter::start();
        let mut scanner = Scanner::Json(JsonUsage::default());
        scanner.feed(&bytes);
        scanner.apply(ctx);
        if keep.wants_text() {
            keep.passed(crate::llm::usage::PlainAnswer::from_json(&bytes), ctx);
        }
        ctx.add_cpu(meter.micros());
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = status;
        *response.headers_mut() = response_headers;
        return Ok(Reply::Done(response));
    }
    // The tap reads usage on the way (SSE usage chunk, or the JSON body's `usage`) and owns the row.
    let scanner = match (sse, keep.wants_text()) {
        (true, true) => Scanner::Sse(SseScanner::keeping_text()),
        (true, false) => Scanner::Sse(SseScanner::default()),
        // A large JSON answer is not kept: the cache takes small ones (read whole above).
        (false, _) => Scanner::Json(JsonUsage::default()),
    };
    let mut owned = ctx.take();
    owned.set_status(status.as_u16());
    let body = Body::from_stream(usage_tap(
        api,
        Box::pin(upstream.bytes_stream()),
        owned,
        scanner,
        stopped,
        keep,
    ));
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    Ok(Reply::Streaming(response))
}

/// JSON answers up to this size, with a Content-Length, are read whole before they are sent.
const SMALL_BODY: u64 = 256 * 1024;

/// Resolves when the proxy's shutdown grace is over (see [`AppState::stopped`]).
pub type StopFuture = Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Which usage reader a body gets, and how it ends when it cannot go on.
enum Scanner {
    Sse(SseScanner),
    Json(JsonUsage),
}

impl Scanner {
    fn feed(&mut self, chunk: &[u8]) {
        match self {
            Scanner::Sse(s) => s.feed(chunk),
            Scanner::Json(j) => j.feed(chunk),
        }
    }

    /// Writes what was read into the request's context.
    fn apply(&self, ctx: &mut RequestCtx) {
        let read = match self {
            Scanner::Sse(s) => Some(s.usage()),
            Scanner::Json(j) => j.usage(),
        };
        if let Some(read) = read {
            ctx.usage(read);
        }
    }

    /// How a body that cannot go on ends: an SSE stream with an OpenAI-style error event (clients
    /// see why instead of a hang); a JSON body by aborting the response, so the client sees a cut
    /// body rather than one that looks complete.
    fn end_with(&self, api: Api, error: &Error) -> Result<Bytes, Error> {
        match self {
            // Cut inside a line: end that line and its event first, or the client would read the
            // error event as the rest of it.
            Scanner::Sse(s) if s.mid_line() => {
                let mut bytes = b"\n\n".to_vec();
                bytes.extend_from_slice(&api.stream_error(error));
                Ok(Bytes::from(bytes))
            }
            Scanner::Sse(_) => Ok(api.stream_error(error)),
            Scanner::Json(_) => Err(Error::UpstreamUnavailable(error.to_string())),
        }
    }

    /// True when an SSE line passed its cap and the stream must end.
    fn line_too_long(&self) -> bool {
        matches!(self, Scanner::Sse(s) if s.line_too_long())
    }

    /// False for an SSE stream that has not sent its final event; a JSON body's end is its
    /// framing's business.
    fn ended(&self) -> bool {
        match self {
            Scanner::Sse(s) => s.ended(),
            Scanner::Json(_) => true,
        }
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>;

/// What an LLM answer is kept for once it has passed: the cache, and a tier review.
struct Keep {
    fill: Option<(CacheFill, http::StatusCode)>,
    answer: bool,
}

impl Keep {
    fn wants_text(&self) -> bool {
        self.fill.is_some() || self.answer
    }

    /// The whole answer has passed: it may be kept for the next identical request, and for a
    /// tier review.
    fn passed(&self, answer: Option<crate::llm::usage::PlainAnswer>, ctx: &mut RequestCtx) {
        if self.answer {
            ctx.review_answer(answer.as_ref().map(|a| a.content.clone()));
        }
        if let Some((fill, status)) = &self.fill {
            fill.store(answer, *status);
        }
    }
}

/// Passes upstream chunks through as they arrive. A cut stream, or one still going when the
/// shutdown grace is over, ends as [`Scanner::end_with`] says; the ledger row is written when
/// the body ends or the client goes away.
fn usage_tap(
    api: Api,
    inner: ByteStream,
    ctx: RequestCtx,
    scanner: Scanner,
    stopped: StopFuture,
    keep: Keep,
) -> impl Stream<Item = Result<Bytes, Error>> + Send {
    struct Tap {
        inner: ByteStream,
        ctx: RequestCtx,
        scanner: Scanner,
        stopped: StopFuture,
        keep: Keep,
        done: bool,
    }
    let tap = Tap {
        inner,
        ctx,
        scanner,
        stopped,
        keep,
        done: false,
    };
    futures_util::stream::unfold(tap, move |mut tap| async move {
        if tap.done {
            return None;
        }
        let next = tokio::select! {
            biased;
            () = &mut tap.stopped => Err(Error::ShuttingDown),
            next = tap.inner.next() => Ok(next),
        };
        let failed = match next {
            Ok(Some(Ok(chunk))) => {
                let meter = CpuMeter::start();
                tap.scanner.feed(&chunk);
                tap.ctx.add_cpu(meter.micros());
                if !tap.scanner.line_too_long() {
                    return Some((Ok(chunk), tap));
                }
                // The chunk that passed the cap is not sent: the client's SSE reader would hold
                // the line too.
                Error::UpstreamUnavailable(format!(
                    "the upstream sent an SSE line longer than {} MiB",
                    SseScanner::MAX_LINE >> 20
                ))
            }
            // A stream that stops before its final event was cut, even when the upstream closed
            // the connection cleanly (a stream framed by the close has no other end marker).
            Ok(None) if !tap.scanner.ended() => {
                Error::UpstreamUnavailable("the upstream stream ended before its final event (a cut stream)".into())
            }
            Ok(None) => {
                tap.scanner.apply(&mut tap.ctx);
                if let (Scanner::Sse(sse), true) = (&tap.scanner, tap.keep.wants_text()) {
                    tap.keep.passed(sse.answer(), &mut tap.ctx);
                }
                tap.ctx.finish();
                return None;
            }
            Ok(Some(Err(error))) => {
                tracing::warn!(error = %error, "upstream body failed mid-way");
                error
            }
            Err(stopping) => stopping,
        };
        tap.scanner.apply(&mut tap.ctx);
        tap.ctx.set_status(failed.status().as_u16());
        tap.ctx.set_error(format!("stream cut: {failed}"));
        tap.ctx.finish();
        tap.done = true;
        Some((tap.scanner.end_with(api, &failed), tap))
    })
}
