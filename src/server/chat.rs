//! `POST /v1/chat/completions`: read → classify → (search → adequacy check) → answer, or forward to
//! the LLM unchanged. The response always has OpenAI's shape, streamed when the client asked, and
//! carries `x-ecoroute-route` and `x-ecoroute-reason`.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{header, HeaderMap, HeaderValue, Method};

use super::request::{claimed_tenant, credential_of};
use super::{header_value, read_body, request_id, AppState, PendingRecord};
use crate::api::Api;
use crate::config::tiers::TierMode;
use crate::cpu::CpuMeter;
use crate::ledger::{RouteTaken, UsageSource};
use crate::llm::usage::{JsonUsage, SseScanner};
use crate::llm::{response_headers, UpstreamRequest};
use crate::openai::{self, ChatRequest, CompletionMeta, Usage};
use crate::pipeline::{explain, Pipeline, RouteRequest, Served};
use crate::search::answer::Answer;
use crate::Error;

pub const ROUTE_HEADER: &str = "x-ecoroute-route";
pub const REASON_HEADER: &str = "x-ecoroute-reason";
pub const EXPLAIN_HEADER: &str = "x-ecoroute-explain";

/// `POST /v1/chat/completions`.
pub async fn handle(state: State<Arc<AppState>>, request: Request) -> Response {
    serve(Api::ChatCompletions, state, request).await
}

/// `POST /v1/messages` (Anthropic).
pub async fn handle_messages(state: State<Arc<AppState>>, request: Request) -> Response {
    serve(Api::Messages, state, request).await
}

/// `POST /v1/responses` (OpenAI Responses).
pub async fn handle_responses(state: State<Arc<AppState>>, request: Request) -> Response {
    serve(Api::Responses, state, request).await
}

async fn serve(api: Api, State(state): State<Arc<AppState>>, request: Request) -> Response {
    // One runtime snapshot for the whole request: a reload mid-request does not change its course.
    let runtime = state.runtime();
    let id = request_id(request.headers());
    let mut pending = PendingRecord::new(&state, api.path(), &id);
    let (parts, body) = request.into_parts();
    // The credentials are hashed once: the ledger's tenant, the cache partition and the owner of a
    // kept Responses answer all read this one hash.
    let credential = credential_of(&parts.headers);
    pending.record.tenant =
        claimed_tenant(&parts.headers, &runtime.config.ledger.tenant_header).or_else(|| credential.clone());
    let outcome = tokio::select! {
        outcome = answer_or_forward(api, &state, &runtime, &parts.headers, credential.as_deref(), body, &mut pending) => outcome,
        // The shutdown grace is over and the upstream has not answered yet.
        () = state.stopped() => Err(Error::ShuttingDown),
    };
    let mut response = match outcome {
        Ok(Reply::Done(response)) => response,
        Ok(Reply::Streaming(response)) => return with_request_id(response, &id),
        Err(error) => {
            pending.record.error = Some(error.to_string());
            let route = pending.record.route;
            let reason = pending.record.reason.clone();
            let mut response = error.into_response();
            if route != RouteTaken::Unrouted {
                response
                    .headers_mut()
                    .insert(ROUTE_HEADER, header_value(route.as_str()));
                response.headers_mut().insert(REASON_HEADER, header_value(&reason));
            }
            response
        }
    };
    pending.record.status = response.status().as_u16();
    pending.finish();
    drop(pending);
    response = with_request_id(response, &id);
    response
}

fn with_request_id(mut response: Response, id: &str) -> Response {
    response.headers_mut().insert("x-request-id", header_value(id));
    response
}

enum Reply {
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
    pending: &mut PendingRecord,
) -> Result<Reply, Error> {
    let bytes = read_body(headers, body, runtime.config.server.max_body_bytes).await?;
    let meter = CpuMeter::start();
    // A follow-up of a response answered here carries that turn to the upstream, which never saw it.
    let bytes = match api {
        Api::Responses => state.kept_responses.expand(bytes, owner)?,
        _ => bytes,
    };
    let chat = api.parse(&bytes)?;
    if chat.messages.len() > runtime.config.server.max_messages {
        return Err(Error::InvalidRequest {
            message: format!(
                "{} messages is more than the limit of {}",
                chat.messages.len(),
                runtime.config.server.max_messages
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
    let features = chat.features();
    {
        let r = &mut pending.record;
        r.model = chat.model.clone();
        r.stream = chat.is_stream();
        if state.ledger.stores_prompts() {
            r.prompt = Some(features.last_user.clone());
        }
    }
    let tenant = pending.record.tenant.clone();
    // The cache first: an identical request answered before costs a hash and a copy.
    let partition = super::request::cache_partition(tenant.as_deref(), owner);
    let cache = CacheStep::new(api, runtime, headers, &bytes, &features, tenant.as_deref(), partition);
    if let Some(hit) = cache.exact_hit() {
        pending.record.proxy_cpu_us += meter.micros();
        let written = Written::new(&chat, &bytes, state, owner);
        return Ok(Reply::Done(cache_response(&state.metrics, written, &hit, pending)));
    }
    pending.record.proxy_cpu_us += meter.micros();
    let limits = chat.limits();
    let routed = runtime
        .route(RouteRequest {
            features: &features,
            tenant: tenant.as_deref(),
            requested: requested_route(headers),
            limits: &limits,
        })
        .await;
    if let Some(failure) = routed.search().and_then(|s| s.failure) {
        state
            .metrics
            .search_failed(&runtime.search_backend_name, failure.as_str());
    }
    pending.apply(&routed);
    let explain = match (&routed.decision, wants_explain(headers)) {
        (Some(decision), true) => Some(explain::top_features(
            runtime,
            tenant.as_deref(),
            &features.question,
            decision,
        )),
        _ => None,
    };
    let lookup = routed
        .decision
        .as_ref()
        .is_some_and(|d| d.class == crate::classify::Class::Lookup);
    let personal = routed
        .decision
        .as_ref()
        .is_some_and(crate::classify::Decision::is_personal);
    let cache = cache.for_class(lookup, personal, api, &features.question, &features.last_user);
    if let (Served::Search, Some((answer, content))) = (routed.served(), routed.answer()) {
        let written = Written::new(&chat, &bytes, state, owner);
        let mut response = search_response(runtime, written, answer, content, pending);
        if let Some(top) = &explain {
            response
                .headers_mut()
                .insert(EXPLAIN_HEADER, explain_value(&pending.record, top));
        }
        cache.count_miss(&state.metrics);
        cache.store(
            content,
            crate::cache::Origin::Search {
                source: answer.source_ref(),
            },
            &state.metrics,
        );
        return Ok(Reply::Done(response));
    }
    // A lookup asked before in other words, whose LLM answer may be given again.
    if let Some(hit) = cache.near_hit() {
        let written = Written::new(&chat, &bytes, state, owner);
        return Ok(Reply::Done(cache_response(&state.metrics, written, &hit, pending)));
    }
    cache.count_miss(&state.metrics);
    // A cheaper model may serve it (a model tier), unless the client chose the route itself.
    let mut bytes = bytes;
    let mut served_model = None;
    let mut keep_answer = false;
    let tier = requested_route(headers)
        .is_none()
        .then(|| {
            runtime.tier(
                tenant.as_deref(),
                chat.model_name(),
                &features,
                routed.decision.as_ref(),
            )
        })
        .flatten();
    if let Some(choice) = tier {
        let r = &mut pending.record;
        match choice.mode {
            TierMode::Route => {
                bytes = with_model(&bytes, &choice.cheaper)?;
                r.requested_model = r.model.replace(choice.cheaper.clone());
                r.reason = format!("{}; tier: {} to {}", r.reason, choice.why, choice.cheaper);
                served_model = Some(choice.cheaper);
            }
            TierMode::Shadow => {
                r.tier_shadow_model = Some(choice.cheaper.clone());
                r.reason = format!("{}; tier shadow: {} to {}", r.reason, choice.why, choice.cheaper);
                // A sampled share is also answered by the cheaper model, off the client's path, so
                // the team can compare the two answers before it turns the tier on.
                // Its call takes one of a few places, and is skipped (said in the row) when
                // none is free: a hanging cheaper model must not hold calls and bodies unbounded.
                if state.reviews.sampled(&r.request_id, choice.review_sample) {
                    match state.reviews.slot() {
                        Some(slot) => {
                            keep_answer = state.ledger.stores_prompts();
                            let review = PendingRecord::new(state, api.path(), &format!("{}-review", r.request_id));
                            tokio::spawn(review_with_cheaper(
                                ReviewCall {
                                    api,
                                    upstream: runtime.upstream_for(api).clone(),
                                    headers: headers.clone(),
                                    body: bytes.clone(),
                                    cheaper: choice.cheaper,
                                    stopped: Box::pin(state.stopped()),
                                    _slot: slot,
                                },
                                review,
                                ReviewOf {
                                    request_id: r.request_id.clone(),
                                    tenant: r.tenant.clone(),
                                    keep_answer,
                                },
                            ));
                        }
                        None => {
                            r.reason = format!(
                                "{}; tier review skipped: {} review calls already open",
                                r.reason,
                                state.reviews.size()
                            );
                        }
                    }
                }
            }
            TierMode::Off => {}
        }
    }
    let call = LlmCall {
        api,
        keep_answer,
        served_model,
        headers,
        body: bytes,
        stream: chat.is_stream(),
        explain: explain.as_deref(),
        stopped: Box::pin(state.stopped()),
        fill: cache.filler(Arc::clone(&state.metrics)),
    };
    forward_to_llm(runtime, call, pending).await
}

/// The response cache's part in one request: its keys (none when the cache is off, the request
/// must bypass it, or the tenant is not routing live), and the tenant's TTL.
struct CacheStep {
    cache: Option<Arc<crate::cache::ResponseCache>>,
    keys: Option<crate::cache::RequestKeys>,
    ttl: std::time::Duration,
    /// The request as JSON when it may have a near-duplicate key (a single turn), kept for that
    /// key: only a lookup needs one, and most requests are not.
    near_body: Option<serde_json::Value>,
    /// The tenant and credentials the keys are made in ([`super::request::cache_partition`]).
    partition: Option<String>,
    /// The oldest answer the client accepts (`Cache-Control: max-age`).
    max_age: Option<std::time::Duration>,
}

impl CacheStep {
    fn new(
        api: Api,
        runtime: &Pipeline,
        headers: &HeaderMap,
        body: &[u8],
        features: &crate::classify::RequestFeatures,
        tenant: Option<&str>,
        partition: Option<String>,
    ) -> CacheStep {
        let policy = runtime.policy(tenant);
        let off = CacheStep {
            cache: None,
            keys: None,
            ttl: policy.cache.ttl,
            near_body: None,
            partition: None,
            max_age: None,
        };
        let Some(cache) = runtime.cache.clone() else { return off };
        // Shadow and off modes change nothing for the client; a forced route or a client's
        // no-cache asks for a fresh answer.
        if policy.mode != crate::classify::Mode::Route || requested_route(headers).is_some() || refuses_cache(headers) {
            return off;
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return off;
        };
        let single_turn = features.user_turns == 1 && features.prior_turns == 0;
        let keys = crate::cache::exact_keys(api, partition.as_deref(), &value, policy.cache.llm);
        let near_body = (keys.is_some() && runtime.config.cache.near_duplicates && single_turn).then_some(value);
        CacheStep {
            cache: Some(cache),
            keys,
            ttl: policy.cache.ttl,
            near_body,
            partition,
            max_age: max_age(headers),
        }
    }

    /// Counts a request the cache had no answer for: a miss, or a bypass when it could not look.
    fn count_miss(&self, metrics: &crate::metrics::Metrics) {
        let active = self.cache.is_some() && self.keys.is_some();
        metrics.cache_lookup(if active { "miss" } else { "bypass" });
    }

    /// Only lookups share an entry with their near duplicates: elsewhere punctuation and case
    /// can be meaning (`x++`). A question about this moment or the user ("What time is it?",
    /// "Where is my order?") never reuses an LLM answer: it would be stale or someone else's.
    /// `api` and `question` are the ones [`CacheStep::new`] was given, and so was the partition;
    /// `message` is the user message `question` was read from.
    fn for_class(mut self, lookup: bool, personal: bool, api: Api, question: &str, message: &str) -> CacheStep {
        let body = self.near_body.take();
        let partition = self.partition.take();
        if let Some(keys) = self.keys.as_mut() {
            if lookup {
                keys.near =
                    body.map(|body| crate::cache::near_key(api, partition.as_deref(), &body, question, message));
            }
            if personal {
                keys.llm_reusable = false;
            }
        }
        self
    }

    fn find(&self, exact_only: bool) -> Option<crate::cache::Hit> {
        let (cache, keys) = (self.cache.as_ref()?, self.keys?);
        let keys = if exact_only {
            crate::cache::RequestKeys { near: None, ..keys }
        } else {
            keys
        };
        let hit = cache
            .get(&keys, Instant::now())
            .filter(|hit| self.max_age.is_none_or(|max| hit.answer.stored.elapsed() <= max))?;
        // An LLM answer is given again only where this request may reuse one.
        let reusable = matches!(hit.answer.origin, crate::cache::Origin::Search { .. }) || keys.llm_reusable;
        reusable.then_some(hit)
    }

    fn exact_hit(&self) -> Option<crate::cache::Hit> {
        self.find(true)
    }

    fn near_hit(&self) -> Option<crate::cache::Hit> {
        self.find(false).filter(|hit| hit.near_duplicate)
    }

    fn store(&self, content: &str, origin: crate::cache::Origin, metrics: &crate::metrics::Metrics) {
        if let (Some(cache), Some(keys)) = (&self.cache, &self.keys) {
            if matches!(origin, crate::cache::Origin::Llm { .. }) && !keys.llm_reusable {
                return;
            }
            cache.put(
                keys,
                crate::cache::CachedAnswer {
                    content: content.to_string(),
                    origin,
                    stored: Instant::now(),
                },
                self.ttl,
            );
            metrics.cache_stored(cache.size());
        }
    }

    /// What the LLM path needs to store the answer once it has passed, when it may.
    fn filler(self, metrics: Arc<crate::metrics::Metrics>) -> Option<CacheFill> {
        self.keys
            .filter(|k| k.llm_reusable)
            .and(self.cache.is_some().then_some(()))
            .map(|()| CacheFill { step: self, metrics })
    }
}

/// Stores an LLM answer in the cache after it has reached the client.
struct CacheFill {
    step: CacheStep,
    metrics: Arc<crate::metrics::Metrics>,
}

impl CacheFill {
    fn store(&self, answer: Option<crate::llm::usage::PlainAnswer>, status: http::StatusCode) {
        let Some(answer) = answer.filter(|_| status.is_success()) else {
            return;
        };
        let tokens = answer
            .completion_tokens
            .unwrap_or_else(|| openai::estimate_tokens(&answer.content));
        self.step.store(
            &answer.content,
            crate::cache::Origin::Llm {
                model: answer.model,
                completion_tokens: tokens,
            },
            &self.metrics,
        );
    }
}

/// `Cache-Control: no-cache`, `no-store` or `max-age=0`, or `Pragma: no-cache`, on the request:
/// the client wants a fresh answer.
fn refuses_cache(headers: &HeaderMap) -> bool {
    let pragma = cache_directives(headers, header::PRAGMA).any(|(name, _)| name == "no-cache");
    pragma
        || cache_directives(headers, header::CACHE_CONTROL).any(|(name, value)| match name.as_str() {
            // `no-cache="field"` too: it asks to revalidate, and an answer cannot be.
            "no-cache" | "no-store" => true,
            "max-age" => value.and_then(|v| v.parse::<u64>().ok()) == Some(0),
            _ => false,
        })
}

/// The oldest cached answer a request accepts (`Cache-Control: max-age=N`), if it says.
fn max_age(headers: &HeaderMap) -> Option<std::time::Duration> {
    cache_directives(headers, header::CACHE_CONTROL)
        .filter(|(name, _)| name == "max-age")
        .filter_map(|(_, value)| value?.parse::<u64>().ok())
        .min()
        .map(std::time::Duration::from_secs)
}

/// Whether an upstream answer may not be kept: `Cache-Control: no-store`, or `private` (the
/// response cache is shared by every client of a tenant and key).
fn forbids_keeping(headers: &HeaderMap) -> bool {
    cache_directives(headers, header::CACHE_CONTROL).any(|(name, _)| matches!(name.as_str(), "no-store" | "private"))
}

/// A cache header's directives, each name in lower case with its value (quotes taken off).
fn cache_directives(
    headers: &HeaderMap,
    name: header::HeaderName,
) -> impl Iterator<Item = (String, Option<String>)> + '_ {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| match d.split_once('=') {
            Some((name, value)) => (
                name.trim().to_ascii_lowercase(),
                Some(value.trim().trim_matches('"').to_string()),
            ),
            None => (d.trim().to_ascii_lowercase(), None),
        })
}

/// An answer from the cache, in the shape and streaming mode the client asked for; its row says
/// what it was first, so the call it avoided is booked at the right length.
fn cache_response(
    metrics: &crate::metrics::Metrics,
    written: Written<'_>,
    hit: &crate::cache::Hit,
    pending: &mut PendingRecord,
) -> Response {
    let meter = CpuMeter::start();
    let chat = written.chat;
    let answer = &hit.answer;
    let age_s = answer.stored.elapsed().as_secs();
    let origin = answer.origin.kind();
    let (model, completion_tokens) = match &answer.origin {
        crate::cache::Origin::Search { source } => {
            pending.record.answer_source = Some(source.clone());
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
    let kind = if hit.near_duplicate { "near-duplicate" } else { "exact" };
    metrics.cache_lookup(if hit.near_duplicate { "near_hit" } else { "hit" });
    let usage = Usage {
        prompt_tokens: chat.estimated_prompt_tokens(),
        completion_tokens,
    };
    {
        let r = &mut pending.record;
        r.route = RouteTaken::Cache;
        r.cache_origin = Some(origin);
        r.reason = format!("cache: {kind} hit, a {} answer stored {age_s} s ago", origin.as_str());
        r.prompt_tokens = Some(usage.prompt_tokens);
        r.completion_tokens = Some(usage.completion_tokens);
        r.usage_source = UsageSource::Estimated;
    }
    let id = chat.api.answer_id(&pending.record.request_id);
    let meta = CompletionMeta {
        id: &id,
        created: unix_seconds(),
        model: &model,
        fingerprint: "ecoroute-cache",
    };
    let mut response = completion_response(written, &meta, &answer.content, usage);
    let h = response.headers_mut();
    h.insert(ROUTE_HEADER, HeaderValue::from_static("cache"));
    h.insert(REASON_HEADER, header_value(&pending.record.reason));
    pending.record.proxy_cpu_us += meter.micros();
    response
}

/// An answer the proxy writes itself, and what it was an answer to.
#[derive(Clone, Copy)]
struct Written<'a> {
    chat: &'a ChatRequest,
    /// The request as the client sent it (a Responses answer keeps its input).
    body: &'a [u8],
    kept: &'a super::kept::KeptResponses,
    /// The request's credentials, which own what is kept of it.
    owner: Option<&'a str>,
}

impl<'a> Written<'a> {
    fn new(chat: &'a ChatRequest, body: &'a [u8], state: &'a AppState, owner: Option<&'a str>) -> Written<'a> {
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

fn search_response(
    runtime: &Pipeline,
    written: Written<'_>,
    answer: &Answer,
    content: &str,
    pending: &mut PendingRecord,
) -> Response {
    let meter = CpuMeter::start();
    let chat = written.chat;
    let usage = Usage {
        prompt_tokens: chat.estimated_prompt_tokens(),
        completion_tokens: openai::estimate_tokens(content),
    };
    let id = chat.api.answer_id(&pending.record.request_id);
    let fingerprint = format!("ecoroute-search-{}", runtime.search_backend_name);
    let meta = CompletionMeta {
        id: &id,
        created: unix_seconds(),
        model: chat.model_name(),
        fingerprint: &fingerprint,
    };
    {
        let r = &mut pending.record;
        r.prompt_tokens = Some(usage.prompt_tokens);
        r.completion_tokens = Some(usage.completion_tokens);
        r.usage_source = UsageSource::Estimated;
        r.answer_source = Some(answer.source_ref());
    }
    let mut response = completion_response(written, &meta, content, usage);
    let h = response.headers_mut();
    h.insert(ROUTE_HEADER, HeaderValue::from_static("search"));
    h.insert(REASON_HEADER, header_value(&pending.record.reason));
    pending.record.proxy_cpu_us += meter.micros();
    response
}

fn sse_response(body: Body) -> Response {
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The client's `x-ecoroute-route` request, if any.
fn requested_route(headers: &HeaderMap) -> Option<crate::classify::Route> {
    match headers.get(ROUTE_HEADER)?.to_str().ok()?.trim() {
        "llm" => Some(crate::classify::Route::Llm),
        "search" => Some(crate::classify::Route::Search),
        _ => None,
    }
}

fn wants_explain(headers: &HeaderMap) -> bool {
    headers
        .get(EXPLAIN_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// The compact decision trace for `x-ecoroute-explain`.
fn explain_value(r: &crate::ledger::LedgerRecord, top: &str) -> HeaderValue {
    let mut parts = vec![
        format!("route={}", r.route.as_str()),
        format!("class={}", r.class.map_or("-", |c| c.as_str())),
        format!("confidence={:.3}", r.confidence.unwrap_or(0.0)),
        format!("reason={}", r.reason),
    ];
    if let Some(ms) = r.search_ms {
        parts.push(format!("search_ms={ms:.3}"));
    }
    if let Some(source) = &r.answer_source {
        parts.push(format!("source={source}"));
    }
    if !top.is_empty() {
        parts.push(format!("top={top}"));
    }
    header_value(&parts.join("; "))
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

/// Says which model a tier sent the request to, besides the answer's own `model`.
pub const MODEL_HEADER: &str = "x-ecoroute-model";

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

async fn review_with_cheaper(call: ReviewCall, mut review: PendingRecord, of: ReviewOf) {
    let ReviewCall {
        api,
        upstream,
        headers,
        body,
        cheaper,
        stopped,
        _slot,
    } = call;
    {
        let r = &mut review.record;
        r.route = RouteTaken::Llm;
        r.model = Some(cheaper.clone());
        r.tenant = of.tenant;
        r.reason = format!("tier review: {cheaper}'s answer to request {}", of.request_id);
        r.tier_review_of = Some(of.request_id);
    }
    // The cheaper model, asked for one JSON answer instead of a stream.
    let body = rewrite_body(&body, |map| {
        map.insert("model".into(), serde_json::Value::String(cheaper.clone()));
        map.remove("stream");
        map.remove("stream_options");
    });
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            review.record.error = Some(e.to_string());
            review.record.status = 400;
            review.finish();
            return;
        }
    };
    let mut headers = headers;
    headers.remove(header::CONTENT_LENGTH);
    let request = chat_request(api, headers, body, &review.record.request_id);
    let status = &mut review.record.status;
    let call = async {
        let response = upstream.send(request).await?;
        *status = response.status().as_u16();
        response.bytes_within(super::review::ANSWER_LIMIT).await
    };
    let answer = tokio::select! {
        answer = call => answer,
        // Shutting down: the row is written now (the call cost something), not lost with the task.
        () = stopped => Err(Error::ShuttingDown),
    };
    match answer {
        Ok(bytes) => {
            let mut usage = JsonUsage::default();
            usage.feed(&bytes);
            Scanner::Json(usage).apply(&mut review.record);
            if of.keep_answer {
                review.record.review_answer = crate::llm::usage::PlainAnswer::from_json(&bytes).map(|a| a.content);
            }
        }
        Err(e) => {
            review.record.status = e.status().as_u16();
            review.record.error = Some(e.to_string());
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
}

async fn forward_to_llm(runtime: &Pipeline, call: LlmCall<'_>, pending: &mut PendingRecord) -> Result<Reply, Error> {
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
    } = call;
    let request = chat_request(api, headers.clone(), body, &pending.record.request_id);
    let upstream_started = Instant::now();
    let client = runtime.upstream_for(api);
    let upstream = client.send(request).await?;
    pending.record.upstream_ms = Some(upstream_started.elapsed().as_secs_f64() * 1e3);
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
    response_headers.insert(REASON_HEADER, header_value(&pending.record.reason));
    if let Some(model) = &served_model {
        response_headers.insert(MODEL_HEADER, header_value(model));
    }
    if let Some(top) = explain {
        response_headers.insert(EXPLAIN_HEADER, explain_value(&pending.record, top));
    }
    let is_sse = upstream
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !status.is_success() {
        pending.record.error = Some(format!("upstream returned {status}"));
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
        scanner.apply(&mut pending.record);
        if keep.wants_text() {
            keep.passed(crate::llm::usage::PlainAnswer::from_json(&bytes), &mut pending.record);
        }
        pending.record.proxy_cpu_us += meter.micros();
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
    let mut owned = pending.take();
    owned.record.status = status.as_u16();
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

    /// Writes what was read into the row.
    fn apply(&self, record: &mut crate::ledger::LedgerRecord) {
        let read = match self {
            Scanner::Sse(s) => Some(s.usage()),
            Scanner::Json(j) => j.usage(),
        };
        if let Some(read) = read {
            record.prompt_tokens = read.prompt_tokens;
            record.completion_tokens = read.completion_tokens;
            record.usage_source = read.source;
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
    fn passed(&self, answer: Option<crate::llm::usage::PlainAnswer>, record: &mut crate::ledger::LedgerRecord) {
        if self.answer {
            record.review_answer = answer.as_ref().map(|a| a.content.clone());
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
    pending: PendingRecord,
    scanner: Scanner,
    stopped: StopFuture,
    keep: Keep,
) -> impl Stream<Item = Result<Bytes, Error>> + Send {
    struct Tap {
        inner: ByteStream,
        pending: PendingRecord,
        scanner: Scanner,
        stopped: StopFuture,
        keep: Keep,
        done: bool,
    }
    let tap = Tap {
        inner,
        pending,
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
                tap.pending.record.proxy_cpu_us += meter.micros();
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
                tap.scanner.apply(&mut tap.pending.record);
                if let (Scanner::Sse(sse), true) = (&tap.scanner, tap.keep.wants_text()) {
                    tap.keep.passed(sse.answer(), &mut tap.pending.record);
                }
                tap.pending.finish();
                return None;
            }
            Ok(Some(Err(error))) => {
                tracing::warn!(error = %error, "upstream body failed mid-way");
                error
            }
            Err(stopping) => stopping,
        };
        tap.scanner.apply(&mut tap.pending.record);
        tap.pending.record.status = failed.status().as_u16();
        tap.pending.record.error = Some(format!("stream cut: {failed}"));
        tap.pending.finish();
        tap.done = true;
        Some((tap.scanner.end_with(api, &failed), tap))
    })
}
