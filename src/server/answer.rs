//! The answers the proxy writes itself (from the cache or from search), in the API's shape and
//! streamed when the client asked, with the headers that say where they came from.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderValue};

use super::request::{REASON_HEADER, ROUTE_HEADER};
use super::{header_value, AppState, RequestCtx};
use crate::api::Api;
use crate::cpu::CpuMeter;
use crate::openai::{self, ChatRequest, CompletionMeta, Usage};
use crate::pipeline::Pipeline;
use crate::search::answer::Answer;

/// An answer from the cache, in the shape and streaming mode the client asked for; its row says
/// what it was first, so the call it avoided is booked at the right length.
pub(super) fn cache_response(written: Written<'_>, hit: &crate::cache::Hit, ctx: &mut RequestCtx) -> Response {
    let meter = CpuMeter::start();
    let chat = written.chat;
    let answer = &hit.answer;
    let (model, completion_tokens) = match &answer.origin {
        crate::cache::Origin::Search { .. } => {
            (chat.model_name().to_string(), openai::estimate_tokens(&answer.content))
        }
        crate::cache::Origin::Llm {
            model,
            completion_tokens,
        } => {
            let model = if model.is_empty() {
                chat.model_name().to_string()
            } else {
                model.clone()
            };
            (model, *completion_tokens)
        }
    };
    let usage = Usage {
        prompt_tokens: chat.estimated_prompt_tokens(),
        completion_tokens,
    };
    // The reason is the plan's (`cache: … hit, …`).
    ctx.answered_from_cache(hit, usage);
    let id = chat.api.answer_id(ctx.request_id());
    let meta = CompletionMeta {
        id: &id,
        created: unix_seconds(),
        model: &model,
        fingerprint: "ecoroute-cache",
    };
    let mut response = completion_response(written, &meta, &answer.content, usage);
    let h = response.headers_mut();
    h.insert(ROUTE_HEADER, HeaderValue::from_static("cache"));
    h.insert(REASON_HEADER, header_value(ctx.reason()));
    ctx.add_cpu(meter.micros());
    response
}

/// An answer the proxy writes itself, and what it was an answer to.
#[derive(Clone, Copy)]
pub(super) struct Written<'a> {
    chat: &'a ChatRequest,
    /// The request as the client sent it (a Responses answer keeps its input).
    body: &'a [u8],
    kept: &'a super::kept::KeptResponses,
    /// The request's credentials, which own what is kept of it.
    owner: Option<&'a str>,
}

impl<'a> Written<'a> {
    pub(super) fn new(
        chat: &'a ChatRequest,
        body: &'a [u8],
        state: &'a AppState,
        owner: Option<&'a str>,
    ) -> Written<'a> {
        Written {
            chat,
            body,
            kept: &state.kept_responses,
            owner,
        }
    }
}

/// A completion the proxy writes itself (search or cache), in the API's shape, streamed when the
/// client asked. A Responses answer is kept, so that a follow-up naming it still works.
fn completion_response(written: Written<'_>, meta: &CompletionMeta<'_>, content: &str, usage: Usage) -> Response {
    let chat = written.chat;
    let keep = chat.api == Api::Responses;
    // The whole answer, built once: the JSON body, and what a Responses answer is kept as.
    let json = (keep || !chat.is_stream()).then(|| chat.api.answer_json(chat, meta, content, usage));
    let response = match &json {
        Some(json) if !chat.is_stream() => axum::Json(json).into_response(),
        _ => {
            let frames = chat.api.answer_stream(chat, meta, content, usage);
            sse_response(Body::from_stream(futures_util::stream::iter(
                frames.into_iter().map(Ok::<Bytes, std::convert::Infallible>),
            )))
        }
    };
    if let Some(json) = json.filter(|_| keep) {
        written.kept.keep(written.body, json, content, written.owner);
    }
    response
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(super) fn search_response(
    runtime: &Pipeline,
    written: Written<'_>,
    answer: &Answer,
    content: &str,
    ctx: &mut RequestCtx,
) -> Response {
    let meter = CpuMeter::start();
    let chat = written.chat;
    let usage = Usage {
        prompt_tokens: chat.estimated_prompt_tokens(),
        completion_tokens: openai::estimate_tokens(content),
    };
    let id = chat.api.answer_id(ctx.request_id());
    let fingerprint = format!("ecoroute-search-{}", runtime.search_backend_name);
    let meta = CompletionMeta {
        id: &id,
        created: unix_seconds(),
        model: chat.model_name(),
        fingerprint: &fingerprint,
    };
    ctx.answered_from_search(usage, answer.source_ref());
    let mut response = completion_response(written, &meta, content, usage);
    let h = response.headers_mut();
    h.insert(ROUTE_HEADER, HeaderValue::from_static("search"));
    h.insert(REASON_HEADER, header_value(ctx.reason()));
    ctx.add_cpu(meter.micros());
    response
}

fn sse_response(body: Body) -> Response {
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
