//! The per-request context: [`RequestCtx`] travels with the request (and its response stream), and
//! every fact about the request is written into it through one named method here, never field by
//! field in a handler. Dropping it makes the ledger row once, so even a request whose client went
//! away is recorded (status 499, as nginx does).

use std::sync::Arc;
use std::time::Instant;

use http::HeaderValue;

use super::{header_value, AppState};
use crate::cache::Hit;
use crate::classify::{Mode, Route};
use crate::ledger::{DecidedBy, Ledger, LedgerRecord, RouteTaken, UsageSource};
use crate::llm::usage::ReadUsage;
use crate::metrics::Metrics;
use crate::openai::Usage;
use crate::pipeline::{Outcome, Plan, Routed};

/// One request's state, from its arrival to its ledger row.
pub(crate) struct RequestCtx {
    ledger: Ledger,
    metrics: Arc<Metrics>,
    limits: Arc<crate::limits::Limits>,
    traces: Option<Arc<crate::telemetry::Traces>>,
    started: Instant,
    /// The row as it will be written: only this file's methods write it.
    record: LedgerRecord,
    finished: bool,
    /// False once the context has been handed on by [`RequestCtx::take`].
    armed: bool,
}

impl RequestCtx {
    pub(crate) fn new(state: &AppState, path: &str, request_id: &str) -> RequestCtx {
        let ledger = state.ledger.clone();
        ledger.request_started();
        let ts_ms = crate::ledger::now_ms();
        let admission = super::auth::take_admission().unwrap_or_default();
        RequestCtx {
            ledger,
            metrics: Arc::clone(&state.metrics),
            limits: Arc::clone(&state.limits),
            traces: state.traces.clone(),
            started: Instant::now(),
            record: LedgerRecord {
                ts_ms,
                request_id: request_id.to_string(),
                path: path.to_string(),
                status: 499,
                api_key: admission.key,
                estimated_tokens: admission.estimated_tokens,
                ..LedgerRecord::default()
            },
            finished: false,
            armed: true,
        }
    }

    /// A request refused before it could be routed: its row is complete at once.
    pub(crate) fn rejected(mut self, tenant: Option<String>, reason: &str, status: u16, error: String) {
        self.record.tenant = tenant;
        self.record.reason = reason.into();
        self.record.status = status;
        self.record.error = Some(error);
        self.finish();
    }

    /// Moves the context out (to a response stream that will finish it); this one then writes
    /// nothing.
    pub(crate) fn take(&mut self) -> RequestCtx {
        self.armed = false;
        RequestCtx {
            ledger: self.ledger.clone(),
            metrics: Arc::clone(&self.metrics),
            limits: Arc::clone(&self.limits),
            traces: self.traces.clone(),
            started: self.started,
            record: std::mem::take(&mut self.record),
            finished: false,
            armed: true,
        }
    }

    pub fn request_id(&self) -> &str {
        &self.record.request_id
    }

    pub(crate) fn tenant(&self) -> Option<&str> {
        self.record.tenant.as_deref()
    }

    /// The `x-ecoroute-reason` text, as the row will say it.
    pub(crate) fn reason(&self) -> &str {
        &self.record.reason
    }

    pub(crate) fn route(&self) -> RouteTaken {
        self.record.route
    }

    pub(crate) fn set_tenant(&mut self, tenant: Option<String>) {
        self.record.tenant = tenant;
    }

    /// A request passed to the upstream unchanged.
    pub(crate) fn passthrough(&mut self) {
        self.record.route = RouteTaken::Passthrough;
        self.record.reason = "passthrough: not a chat completion".into();
    }

    /// What the client asked for; its last message only where the ledger keeps prompts.
    pub(crate) fn asked(&mut self, model: Option<String>, stream: bool, prompt: Option<String>) {
        self.record.model = model;
        self.record.stream = stream;
        self.record.prompt = prompt;
    }

    /// Thread CPU time the proxy spent on the request.
    pub(crate) fn add_cpu(&mut self, micros: f64) {
        self.record.proxy_cpu_us += micros;
    }

    /// The plan: its route (when it was routed), its reason, and what the cache step cost.
    pub(crate) fn planned(&mut self, plan: &Plan) {
        if let Some(routed) = &plan.routed {
            self.routed(routed);
        }
        self.record.reason.clone_from(&plan.reason);
        self.record.proxy_cpu_us += plan.cache_cpu_us;
    }

    /// A request's route: mode, class, route, what search did (and in shadow mode what it would
    /// have done) and what the decision and the search step cost.
    fn routed(&mut self, routed: &Routed) {
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

    /// Search answered: the tokens are estimated, the source is the answer's.
    pub(crate) fn answered_from_search(&mut self, usage: Usage, source: String) {
        self.estimated(usage);
        self.record.answer_source = Some(source);
    }

    /// A stored answer was given again: what it was first, so the call it avoided is booked at
    /// the right length.
    pub(crate) fn answered_from_cache(&mut self, hit: &Hit, usage: Usage) {
        let r = &mut self.record;
        r.route = RouteTaken::Cache;
        r.cache_origin = Some(hit.answer.origin.kind());
        if let crate::cache::Origin::Search { source } = &hit.answer.origin {
            r.answer_source = Some(source.clone());
        }
        self.estimated(usage);
    }

    fn estimated(&mut self, usage: Usage) {
        let r = &mut self.record;
        r.prompt_tokens = Some(usage.prompt_tokens);
        r.completion_tokens = Some(usage.completion_tokens);
        r.usage_source = UsageSource::Estimated;
    }

    /// A tier sent the request to a cheaper model: `model` is the one that answers.
    pub(crate) fn tier_routed(&mut self, cheaper: &str) {
        self.record.requested_model = self.record.model.replace(cheaper.to_string());
    }

    /// A shadow tier would have sent the request to `cheaper`, for the reason `why` (the report
    /// reads the router's threshold from it).
    pub(crate) fn tier_shadowed(&mut self, cheaper: &str, why: &str) {
        self.record.tier_shadow_model = Some(cheaper.to_string());
        self.record.reason = format!("{}; tier shadow: {why} to {cheaper}", self.record.reason);
    }

    /// The request was in the review sample, but every review place was taken.
    pub(crate) fn review_skipped(&mut self, open: usize) {
        self.record.reason = format!(
            "{}; tier review skipped: {open} review calls already open",
            self.record.reason
        );
    }

    /// This request is a tier's review call: `cheaper`'s answer to request `of`.
    pub(crate) fn review_of(&mut self, cheaper: &str, tenant: Option<String>, of: String) {
        let r = &mut self.record;
        r.route = RouteTaken::Llm;
        r.model = Some(cheaper.to_string());
        r.tenant = tenant;
        r.reason = format!("tier review: {cheaper}'s answer to request {of}");
        r.tier_review_of = Some(of);
    }

    /// The answer's text, kept for a tier review (`ledger.store_prompts`).
    pub(crate) fn review_answer(&mut self, answer: Option<String>) {
        self.record.review_answer = answer;
    }

    /// The token counts read from the upstream's answer.
    pub(crate) fn usage(&mut self, read: ReadUsage) {
        let r = &mut self.record;
        r.prompt_tokens = read.prompt_tokens;
        r.completion_tokens = read.completion_tokens;
        r.usage_source = read.source;
    }

    /// The model the request goes to the LLM for (a tier's cheaper one when it chose it).
    pub(crate) fn model(&self) -> Option<&str> {
        self.record.model.as_deref()
    }

    /// The upstream tries: the deployment that answered, and every failed try. A fallback model
    /// that answered becomes the row's model (its energy is booked), the one asked `requested_model`.
    pub(crate) fn upstream_tried(&mut self, tries: &crate::llm::fleet::Tries) {
        let r = &mut self.record;
        r.deployment.clone_from(&tries.answered_by);
        r.failed_tries = tries.failed();
        r.tries = (!tries.entries.is_empty()).then(|| tries.text());
        if let Some(fallback) = &tries.fallback_model {
            let asked = r.model.replace(fallback.clone());
            if r.requested_model.is_none() {
                r.requested_model = asked;
            }
        }
    }

    /// Time to the upstream's response headers.
    pub(crate) fn upstream_answered(&mut self, elapsed_ms: f64) {
        self.record.upstream_ms = Some(elapsed_ms);
    }

    pub(crate) fn set_status(&mut self, status: u16) {
        self.record.status = status;
    }

    pub(crate) fn set_error(&mut self, error: String) {
        self.record.error = Some(error);
    }

    /// The compact decision trace for `x-ecoroute-explain`; `top` is the scorer's strongest
    /// features.
    pub(crate) fn explain_header(&self, top: &str) -> HeaderValue {
        let r = &self.record;
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

    /// Marks the request as complete; the row is written when this is dropped.
    pub(crate) fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for RequestCtx {
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
        let seen = crate::metrics::RequestSeen {
            route: record.route,
            decided_by: record.decided_by,
            escalated: record.escalated,
            status: record.status,
            model: record.model.as_deref(),
            prompt_tokens: record.prompt_tokens,
            completion_tokens: record.completion_tokens,
            upstream_ms: record.upstream_ms,
        };
        self.metrics.observe_request(&seen, record.latency_ms / 1e3);
        super::auth::settle(&self.limits, &record);
        if let Some(traces) = &self.traces {
            traces.record(&record);
        }
        self.ledger.record(record);
        self.ledger.request_ended();
    }
}
