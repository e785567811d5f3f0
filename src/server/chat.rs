//! `POST /v1/chat/completions`, `/v1/messages` and `/v1/responses`: parse → [`Pipeline::plan`] →
//! answer (`answer.rs`: from the cache or search) or forward (`forward.rs`: the LLM).
//! The response has the API's shape, streamed when the client asked, and carries
//! `x-ecoroute-route` and `x-ecoroute-reason`. Every decision is the plan's; this file only reads
//! the request and writes what the plan says into the response and the ledger row.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;

use super::answer::{cache_response, search_response, Written};
use super::forward::{forward, Outbound};
use super::request::{
    cache_partition, claimed_tenant, credential_of, max_age, refuses_cache, requested_route, wants_explain,
};
use super::{header_value, read_body, request_id, AppState, RequestCtx};
use crate::api::Api;
use crate::cpu::CpuMeter;
use crate::ledger::RouteTaken;
use crate::openai::ChatRequest;
use crate::pipeline::cache::CacheRequest;
use crate::pipeline::plan::{Action, PlanRequest};
use crate::pipeline::{explain, Pipeline};
use crate::Error;

pub(crate) use super::request::{REASON_HEADER, ROUTE_HEADER};

/// `POST /v1/chat/completions`.
pub(crate) async fn handle(state: State<Arc<AppState>>, request: Request) -> Response {
    serve(Api::ChatCompletions, state, request).await
}

/// `POST /v1/messages` (Anthropic).
pub(crate) async fn handle_messages(state: State<Arc<AppState>>, request: Request) -> Response {
    serve(Api::Messages, state, request).await
}

/// `POST /v1/responses` (OpenAI Responses).
pub(crate) async fn handle_responses(state: State<Arc<AppState>>, request: Request) -> Response {
    serve(Api::Responses, state, request).await
}

async fn serve(api: Api, State(state): State<Arc<AppState>>, request: Request) -> Response {
    // One runtime snapshot for the whole request: a reload mid-request does not change its course.
    let runtime = state.runtime();
    let id = request_id(request.headers());
    let mut ctx = RequestCtx::new(&state, api.path(), &id);
    let (parts, body) = request.into_parts();
    // The credentials are hashed once: the ledger's tenant, the cache partition and the owner of a
    // kept Responses answer all read this one hash.
    let credential = credential_of(&parts.headers);
    ctx.set_tenant(claimed_tenant(&parts.headers, &runtime.config.ledger.tenant_header).or_else(|| credential.clone()));
    let outcome = tokio::select! {
        outcome = answer_or_forward(api, &state, &runtime, &parts.headers, credential.as_deref(), body, &mut ctx) => outcome,
        // The shutdown grace is over and the upstream has not answered yet.
        () = state.stopped() => Err(Error::ShuttingDown),
    };
    let mut response = match outcome {
        Ok(Reply::Done(response)) => response,
        Ok(Reply::Streaming(response)) => return with_request_id(response, &id),
        Err(error) => {
            ctx.set_error(error.to_string());
            let mut response = error.into_response();
            if ctx.route() != RouteTaken::Unrouted {
                response
                    .headers_mut()
                    .insert(ROUTE_HEADER, header_value(ctx.route().as_str()));
                response.headers_mut().insert(REASON_HEADER, header_value(ctx.reason()));
            }
            response
        }
    };
    ctx.set_status(response.status().as_u16());
    ctx.finish();
    drop(ctx);
    response = with_request_id(response, &id);
    response
}

fn with_request_id(mut response: Response, id: &str) -> Response {
    response.headers_mut().insert("x-request-id", header_value(id));
    response
}

pub(super) enum Reply {
    /// Complete; the handler records the ledger row.
    Done(Response),
    /// A stream that owns the ledger row and records it when it ends.
    Streaming(Response),
}

async fn answer_or_forward(
    api: Api,
    state: &AppState,
    runtime: &Pipeline,
    headers: &HeaderMap,
    // The request's credentials ([`super::request::credential_of`]): what is kept of a Responses
    // answer belongs to them, and the cache partition includes them.
    owner: Option<&str>,
    body: Body,
    ctx: &mut RequestCtx,
) -> Result<Reply, Error> {
    let bytes = read_body(headers, body, runtime.config.server.max_body_bytes).await?;
    let meter = CpuMeter::start();
    // A follow-up of a response answered here carries that turn to the upstream, which never saw it.
    let bytes = match api {
        Api::Responses => state.kept_responses.expand(bytes, owner)?,
        _ => bytes,
    };
    let chat = api.parse(&bytes)?;
    check(api, &chat, runtime.config.server.max_messages)?;
    let features = chat.features();
    let prompt = state.ledger.stores_prompts().then(|| features.last_user.clone());
    ctx.asked(chat.model.clone(), chat.is_stream(), prompt);
    let tenant = ctx.tenant().map(str::to_string);
    let cache = CacheRequest {
        body: &bytes,
        partition: cache_partition(tenant.as_deref(), owner),
        refuses: refuses_cache(headers),
        max_age: max_age(headers),
    };
    let request_id = ctx.request_id().to_string();
    let draw = |share: f64| state.reviews.sampled(&request_id, share);
    ctx.add_cpu(meter.micros());
    let limits = chat.limits();
    let plan = runtime
        .plan(PlanRequest {
            api,
            features: &features,
            tenant: tenant.as_deref(),
            requested: requested_route(headers),
            limits: &limits,
            model: chat.model_name(),
            cache: Some(&cache),
            review_draw: Some(&draw),
        })
        .await;
    ctx.planned(&plan);
    state.metrics.cache_lookup(plan.cache.metric_label());
    if let Some(failure) = plan.routed.as_ref().and_then(|r| r.search()).and_then(|s| s.failure) {
        state
            .metrics
            .search_failed(&runtime.search_backend_name, failure.as_str());
    }
    let explain = match (
        plan.routed.as_ref().and_then(|r| r.decision.as_ref()),
        wants_explain(headers),
    ) {
        (Some(decision), true) => Some(explain::top_features(
            runtime,
            tenant.as_deref(),
            &features.question,
            decision,
        )),
        _ => None,
    };
    let written = Written::new(&chat, &bytes, state, owner);
    match plan.action {
        Action::Cached(hit) => Ok(Reply::Done(cache_response(written, &hit, ctx))),
        Action::Answered {
            answer,
            content,
            stored,
        } => {
            if let Some(size) = stored {
                state.metrics.cache_stored(size);
            }
            let mut response = search_response(runtime, written, &answer, &content, ctx);
            if let Some(top) = &explain {
                response
                    .headers_mut()
                    .insert(super::request::EXPLAIN_HEADER, ctx.explain_header(top));
            }
            Ok(Reply::Done(response))
        }
        Action::Forward(plan) => {
            let out = Outbound {
                state,
                runtime,
                api,
                headers,
                body: bytes.clone(),
                stream: chat.is_stream(),
                explain: explain.as_deref(),
            };
            forward(out, plan, ctx).await
        }
    }
}

/// The limits a chat request must keep before anything is decided about it.
fn check(api: Api, chat: &ChatRequest, max_messages: usize) -> Result<(), Error> {
    if chat.messages.len() > max_messages {
        return Err(Error::InvalidRequest {
            message: format!(
                "{} messages is more than the limit of {max_messages}",
                chat.messages.len()
            ),
            param: Some(api.turns_field()),
        });
    }
    // A request that only refers to state the upstream holds (a stored prompt) may have no turns.
    if chat.messages.is_empty() && chat.llm_feature.is_none() {
        return Err(Error::InvalidRequest {
            message: format!("`{}` must not be empty", api.turns_field()),
            param: Some(api.turns_field()),
        });
    }
    // As OpenAI does: a request that names no model is refused, not answered.
    if chat.model.as_deref().is_none_or(|m| m.trim().is_empty()) {
        return Err(Error::InvalidRequest {
            message: "you must provide a model parameter".into(),
            param: Some("model"),
        });
    }
    Ok(())
}
