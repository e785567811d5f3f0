//! One request's plan: every per-request decision, in the order `serve` takes them, as named steps
//! with no HTTP. `serve`, `replay`, `eval` and `/admin/explain` all call [`Pipeline::plan`], so what
//! is measured offline is what users get, the cache and the model tiers included.
//!
//! 1. [`CacheStep`]: an identical request answered before costs a hash and a copy.
//! 2. [`Pipeline::route`]: the decision, then the calculator or the search step.
//! 3. A search answer is served (and kept for the next identical or near-duplicate lookup).
//! 4. A near-duplicate of a lookup answered before by the LLM.
//! 5. [`Pipeline::tier`]: a cheaper model, and whether the request is in its review sample.

use super::cache::{CacheLookup, CacheRequest, CacheStep};
use super::{AnswerLimits, Pipeline, RouteRequest, Routed, Served, TierChoice};
use crate::api::Api;
use crate::cache::{CacheSize, Hit, Origin};
use crate::classify::{Class, Decision, RequestFeatures, Route};
use crate::config::tiers::TierMode;
use crate::cpu::CpuMeter;
use crate::search::answer::Answer;

/// What planning needs to know of a request.
#[derive(Clone, Copy)]
pub struct PlanRequest<'a> {
    pub api: Api,
    pub features: &'a RequestFeatures,
    /// Picks the tenant's policy, if it has one.
    pub tenant: Option<&'a str>,
    /// The client's `x-ecoroute-route`, if any.
    pub requested: Option<Route>,
    pub limits: &'a AnswerLimits,
    /// The model the client asked for (a tier may name a cheaper one).
    pub model: &'a str,
    /// `None`: no cache look-up at all (`eval` measures the routing alone).
    pub cache: Option<&'a CacheRequest<'a>>,
    /// Whether a request is in a tier's review sample, given the share; `None`: never (offline,
    /// where no review call is made). `serve` draws with a key of its own ([`server::review`]).
    ///
    /// [`server::review`]: crate::server
    pub review_draw: Option<&'a (dyn Fn(f64) -> bool + Sync)>,
}

/// What to do with a request.
pub struct Plan {
    pub action: Action,
    /// The route, unless an identical request's answer was found before routing.
    pub routed: Option<Routed>,
    /// What the cache did.
    pub cache: CacheLookup,
    /// The `x-ecoroute-reason` text, and the ledger's `reason`.
    pub reason: String,
    /// Thread CPU time of the cache step (the decision's is in [`Routed`]).
    pub cache_cpu_us: f64,
}

pub enum Action {
    /// A stored answer is given again.
    Cached(Hit),
    /// Search answered: the answer, its message fitted to the request's limits, and the cache's
    /// new size when the answer was kept.
    Answered {
        answer: Answer,
        content: String,
        stored: Option<CacheSize>,
    },
    /// The LLM answers.
    Forward(Forward),
}

/// A request on its way to the LLM.
pub struct Forward {
    /// The cheaper model a tier chose, in any mode (shadow: only ledgered).
    pub tier: Option<TierChoice>,
    /// The model the request is sent to instead of the one it names (a tier in `route` mode).
    pub model: Option<String>,
    /// In a shadow tier's review sample: the cheaper model is asked too, off the client's path.
    pub review: bool,
    /// Where the answer is kept once it has passed, when it may be.
    pub fill: Option<CacheStep>,
}

impl Plan {
    /// `served` as the ledger and `replay --json` say it.
    pub fn served(&self) -> Served {
        match (&self.action, &self.routed) {
            (Action::Cached(_), _) => Served::Cache,
            (_, Some(routed)) => routed.served(),
            (_, None) => Served::Llm,
        }
    }

    /// The tier's choice, when the request goes to the LLM with one.
    pub fn tier(&self) -> Option<&TierChoice> {
        match &self.action {
            Action::Forward(forward) => forward.tier.as_ref(),
            _ => None,
        }
    }
}

impl Pipeline {
    /// Plans one request. Never fails: a search failure is a reason to escalate.
    pub async fn plan(&self, request: PlanRequest<'_>) -> Plan {
        let meter = CpuMeter::start();
        let features = request.features;
        let mut cache = CacheStep::new(
            self,
            request.api,
            request.cache.cloned(),
            features,
            request.tenant,
            request.requested,
        );
        if let Some(hit) = cache.exact_hit() {
            return Plan {
                reason: cached_reason(&hit),
                action: Action::Cached(hit),
                routed: None,
                cache: cache.lookup(),
                cache_cpu_us: meter.micros(),
            };
        }
        let cache_cpu_us = meter.micros();
        let routed = self
            .route(RouteRequest {
                features,
                tenant: request.tenant,
                requested: request.requested,
                limits: request.limits,
            })
            .await;
        let meter = CpuMeter::start();
        let lookup = routed.decision.as_ref().is_some_and(|d| d.class == Class::Lookup);
        let personal = routed.decision.as_ref().is_some_and(Decision::is_personal);
        let mut cache = cache.for_class(lookup, personal, request.api, &features.question, &features.last_user);
        let mut reason = routed.reason();
        let action = if let (Served::Search, Some((answer, content))) = (routed.served(), routed.answer()) {
            let stored = cache.store(
                content,
                Origin::Search {
                    source: answer.source_ref(),
                },
            );
            Action::Answered {
                answer: answer.clone(),
                content: content.to_string(),
                stored,
            }
        } else if let Some(hit) = cache.near_hit() {
            reason = cached_reason(&hit);
            Action::Cached(hit)
        } else {
            let tier = self.tier_step(&request, &routed);
            reason = tier_reason(reason, tier.as_ref());
            Action::Forward(Forward {
                model: tier
                    .as_ref()
                    .filter(|t| t.mode == TierMode::Route)
                    .map(|t| t.cheaper.clone()),
                review: tier.as_ref().is_some_and(|t| {
                    t.mode == TierMode::Shadow && request.review_draw.is_some_and(|draw| draw(t.review_sample))
                }),
                tier,
                fill: None,
            })
        };
        let lookup = cache.lookup();
        let action = match action {
            Action::Forward(forward) => Action::Forward(Forward {
                fill: cache.may_fill().then_some(cache),
                ..forward
            }),
            other => other,
        };
        Plan {
            action,
            routed: Some(routed),
            cache: lookup,
            reason,
            cache_cpu_us: cache_cpu_us + meter.micros(),
        }
    }

    /// A cheaper model may serve the request (a model tier), unless the client chose the route
    /// itself. The choice itself is [`Pipeline::tier`].
    fn tier_step(&self, request: &PlanRequest<'_>, routed: &Routed) -> Option<TierChoice> {
        if request.requested.is_some() {
            return None;
        }
        self.tier(
            request.tenant,
            request.model,
            request.features,
            routed.decision.as_ref(),
        )
    }
}

/// The reason a cached answer gives: what it was first, and how old it is.
fn cached_reason(hit: &Hit) -> String {
    let kind = if hit.near_duplicate { "near-duplicate" } else { "exact" };
    format!(
        "cache: {kind} hit, a {} answer stored {} s ago",
        hit.answer.origin.kind().as_str(),
        hit.answer.stored.elapsed().as_secs()
    )
}

/// A tier in `route` mode says so in the reason.
fn tier_reason(reason: String, tier: Option<&TierChoice>) -> String {
    match tier {
        Some(t) if t.mode == TierMode::Route => format!("{reason}; tier: {} to {}", t.why, t.cheaper),
        _ => reason,
    }
}
