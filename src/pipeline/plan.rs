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
pub(crate) struct PlanRequest<'a> {
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
pub(crate) struct Plan {
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

pub(crate) enum Action {
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
pub(crate) struct Forward {
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
    pub(crate) fn served(&self) -> Served {
        match (&self.action, &self.routed) {
            (Action::Cached(_), _) => Served::Cache,
            (_, Some(routed)) => routed.served(),
            (_, None) => Served::Llm,
        }
    }

    /// The tier's choice, when the request goes to the LLM with one.
    pub(crate) fn tier(&self) -> Option<&TierChoice> {
        match &self.action {
            Action::Forward(forward) => forward.tier.as_ref(),
            _ => None,
        }
    }
}

impl Pipeline {
    /// Plans one request. Never fails: a search failure is a reason to escalate.
    pub(crate) async fn plan(&self, request: PlanRequest<'_>) -> Plan {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use futures_util::future::BoxFuture;
    use serde_json::json;

    use super::*;
    use crate::config::Config;
    use crate::search::{Hit as SearchHit, SearchBackend, SearchError};

    /// A search backend with one fact, that counts its calls.
    #[derive(Default)]
    struct OneFact {
        calls: AtomicUsize,
    }

    impl SearchBackend for OneFact {
        fn name(&self) -> &str {
            "one-fact"
        }

        fn search<'a>(&'a self, query: &'a str, _limit: usize) -> BoxFuture<'a, Result<Vec<SearchHit>, SearchError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let hits = if query.to_lowercase().contains("peru") {
                vec![SearchHit {
                    id: "country/PE/capital".into(),
                    title: "Peru".into(),
                    text: "The capital of Peru is Lima.".into(),
                    source: "GeoNames".into(),
                    url: "https://example.org/country/PE/capital".into(),
                    score: 1.0,
                }]
            } else {
                Vec::new()
            };
            Box::pin(async move { Ok(hits) })
        }
    }

    fn pipeline(toml: &str) -> (Pipeline, Arc<OneFact>) {
        let config = Config::from_toml_str(toml, std::path::Path::new("t.toml"), &|_| None).unwrap();
        let backend = Arc::new(OneFact::default());
        let pipeline = Pipeline::with_backend(config, Arc::clone(&backend) as Arc<dyn SearchBackend>).unwrap();
        (pipeline, backend)
    }

    fn body(model: &str, text: &str) -> Vec<u8> {
        json!({"model": model, "temperature": 0, "messages": [{"role": "user", "content": text}]})
            .to_string()
            .into_bytes()
    }

    /// Plans a single-turn request for `model`, through the cache when `cached`.
    async fn plan_of(pipeline: &Pipeline, model: &str, text: &str, cached: bool) -> Plan {
        plan_with(pipeline, model, text, cached, None, None).await
    }

    async fn plan_with(
        pipeline: &Pipeline,
        model: &str,
        text: &str,
        cached: bool,
        requested: Option<Route>,
        review_draw: Option<&(dyn Fn(f64) -> bool + Sync)>,
    ) -> Plan {
        let body = body(model, text);
        let chat = crate::openai::ChatRequest::parse(&body).unwrap();
        let features = chat.features();
        let cache = CacheRequest {
            body: &body,
            ..CacheRequest::default()
        };
        pipeline
            .plan(PlanRequest {
                api: Api::ChatCompletions,
                features: &features,
                tenant: None,
                requested,
                limits: &AnswerLimits::default(),
                model,
                cache: cached.then_some(&cache),
                review_draw,
            })
            .await
    }

    #[tokio::test]
    async fn a_search_answer_is_kept_and_the_same_request_is_then_answered_before_routing() {
        let (pipeline, backend) = pipeline("");
        let first = plan_of(&pipeline, "gpt-4o-mini", "What is the capital of Peru?", true).await;
        assert_eq!(first.cache, CacheLookup::Miss);
        assert_eq!(first.served(), Served::Search);
        let Action::Answered { content, stored, .. } = &first.action else {
            panic!("search answers: {}", first.reason)
        };
        assert!(content.contains("Lima"), "{content}");
        assert!(stored.is_some_and(|s| s.entries > 0), "the answer is kept");
        assert_eq!(backend.calls.load(Ordering::SeqCst), 1);

        let again = plan_of(&pipeline, "gpt-4o-mini", "What is the capital of Peru?", true).await;
        assert_eq!(again.cache, CacheLookup::Hit);
        assert_eq!(again.served(), Served::Cache);
        assert!(again.routed.is_none(), "an exact hit is not routed");
        assert!(
            again.reason.starts_with("cache: exact hit, a search answer stored"),
            "{}",
            again.reason
        );
        assert!(matches!(&again.action, Action::Cached(hit) if hit.answer.content == *content));
        assert_eq!(backend.calls.load(Ordering::SeqCst), 1, "not searched again");
    }

    #[tokio::test]
    async fn without_a_cache_request_nothing_is_looked_up_or_kept() {
        let (pipeline, backend) = pipeline("");
        for _ in 0..2 {
            let plan = plan_of(&pipeline, "gpt-4o-mini", "What is the capital of Peru?", false).await;
            assert_eq!(plan.cache, CacheLookup::Off);
            assert!(matches!(plan.action, Action::Answered { stored: None, .. }));
        }
        assert_eq!(backend.calls.load(Ordering::SeqCst), 2);
        let off = pipeline_with_cache_off().await;
        let plan = plan_of(&off, "gpt-4o-mini", "What is the capital of Peru?", true).await;
        assert_eq!(plan.cache, CacheLookup::Off, "[cache] enabled = false");
    }

    async fn pipeline_with_cache_off() -> Pipeline {
        pipeline("[cache]\nenabled = false\n").0
    }

    #[tokio::test]
    async fn a_lookup_the_llm_answered_is_found_again_in_other_words() {
        let (pipeline, _) = pipeline("");
        let question = "Who wrote the novel Middlemarch?";
        let first = plan_of(&pipeline, "gpt-4o-mini", question, true).await;
        assert_eq!(first.served(), Served::Escalated, "{}", first.reason);
        let Action::Forward(Forward { fill: Some(fill), .. }) = &first.action else {
            panic!("a deterministic request's LLM answer may be kept: {}", first.reason)
        };
        let answer = crate::llm::usage::PlainAnswer {
            content: "George Eliot.".into(),
            model: "gpt-4o-mini".into(),
            completion_tokens: Some(4),
        };
        assert!(fill.store_llm(Some(answer), true).is_some());

        let near = plan_of(&pipeline, "gpt-4o-mini", "who wrote the novel middlemarch", true).await;
        assert_eq!(near.cache, CacheLookup::NearHit, "{}", near.reason);
        assert!(
            near.routed.is_some(),
            "a near duplicate is found once the request is known to be a lookup"
        );
        assert!(
            near.reason.starts_with("cache: near-duplicate hit, a llm answer"),
            "{}",
            near.reason
        );
        assert!(matches!(&near.action, Action::Cached(hit) if hit.answer.content == "George Eliot."));
    }

    const TIER: &str = r#"
[[tiers]]
model = "gpt-4o"
cheaper = "gpt-4o-mini"
mode = "route"
last_user_regex = '^FAQ:'
"#;

    #[tokio::test]
    async fn a_route_tier_sends_the_request_to_the_cheaper_model_unless_the_client_chose_the_route() {
        let (pipeline, _) = pipeline(TIER);
        let plan = plan_of(&pipeline, "gpt-4o", "FAQ: how do I reset my password?", true).await;
        let Action::Forward(forward) = &plan.action else {
            panic!("the LLM answers: {}", plan.reason)
        };
        assert_eq!(forward.model.as_deref(), Some("gpt-4o-mini"));
        assert!(!forward.review);
        assert_eq!(plan.tier().map(|t| t.why.as_str()), Some("rule"));
        assert!(plan.reason.ends_with("; tier: rule to gpt-4o-mini"), "{}", plan.reason);

        let other_model = plan_of(&pipeline, "gpt-4.1", "FAQ: how do I reset my password?", true).await;
        assert!(other_model.tier().is_none());
        let forced = plan_with(
            &pipeline,
            "gpt-4o",
            "FAQ: how do I reset my password?",
            true,
            Some(Route::Llm),
            None,
        )
        .await;
        assert!(
            forced.tier().is_none(),
            "x-ecoroute-route: llm keeps the model asked for"
        );
        assert_eq!(forced.cache, CacheLookup::Bypass, "and asks for a fresh answer");
    }

    #[tokio::test]
    async fn a_shadow_tier_changes_no_model_and_draws_its_review_sample() {
        let (pipeline, _) = pipeline(&TIER.replace("\"route\"", "\"shadow\""));
        let always = |_share: f64| true;
        let drawn = plan_with(
            &pipeline,
            "gpt-4o",
            "FAQ: how do I reset my password?",
            true,
            None,
            Some(&always),
        )
        .await;
        let Action::Forward(forward) = &drawn.action else {
            panic!("the LLM answers: {}", drawn.reason)
        };
        assert_eq!(forward.model, None, "shadow: the model asked for serves");
        assert!(forward.review, "in the sample");
        assert!(!drawn.reason.contains("tier:"), "{}", drawn.reason);
        let offline = plan_of(&pipeline, "gpt-4o", "FAQ: how do I reset my password?", true).await;
        assert!(matches!(&offline.action, Action::Forward(f) if !f.review && f.tier.is_some()));
    }
}
