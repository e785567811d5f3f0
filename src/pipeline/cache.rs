//! The response cache's part in one request: its exact and near-duplicate keys, the rules for
//! when a stored answer may be given again, and keeping an answer. No HTTP: the server reads
//! `Cache-Control` into a [`CacheRequest`], so `replay` runs the same step `serve` does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Pipeline;
use crate::api::Api;
use crate::cache::{CacheSize, CachedAnswer, Hit, Origin, RequestKeys, ResponseCache};
use crate::classify::{Mode, RequestFeatures, Route};

/// What the cache step needs of a request besides its features.
#[derive(Debug, Clone, Default)]
pub(crate) struct CacheRequest<'a> {
    /// The request body as the client sent it: its JSON is what the keys are made of.
    pub body: &'a [u8],
    /// The tenant and credentials the keys are made in (`server::request::cache_partition`).
    pub partition: Option<String>,
    /// The client asked for a fresh answer (`Cache-Control: no-cache`, `no-store`, `max-age=0`).
    pub refuses: bool,
    /// The oldest answer the client accepts (`Cache-Control: max-age`).
    pub max_age: Option<Duration>,
}

/// What the cache did for one request: the metric's label, and `replay --json`'s `cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheLookup {
    /// No cache: `[cache] enabled = false`, or a caller that looks nothing up (`eval`).
    Off,
    /// Not looked up: shadow or off mode, a route the client forced, a client's `no-cache`.
    Bypass,
    Miss,
    Hit,
    NearHit,
}

impl CacheLookup {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CacheLookup::Off => "off",
            CacheLookup::Bypass => "bypass",
            CacheLookup::Miss => "miss",
            CacheLookup::Hit => "hit",
            CacheLookup::NearHit => "near_hit",
        }
    }

    /// `ecoroute_cache_lookups_total`'s label: a request the cache could not look at is a bypass,
    /// whether or not the cache is on.
    pub(crate) fn metric_label(self) -> &'static str {
        match self {
            CacheLookup::Off | CacheLookup::Bypass => "bypass",
            other => other.as_str(),
        }
    }
}

/// The response cache's part in one request: its keys (none when the cache is off, the request
/// must bypass it, or the tenant is not routing live), and the tenant's TTL.
pub(crate) struct CacheStep {
    cache: Option<Arc<ResponseCache>>,
    keys: Option<RequestKeys>,
    ttl: Duration,
    /// The request as JSON when it may have a near-duplicate key (a single turn), kept for that
    /// key: only a lookup needs one, and most requests are not.
    near_body: Option<serde_json::Value>,
    /// The tenant and credentials the keys are made in.
    partition: Option<String>,
    max_age: Option<Duration>,
    lookup: CacheLookup,
}

impl CacheStep {
    pub(super) fn new(
        pipeline: &Pipeline,
        api: Api,
        request: Option<CacheRequest<'_>>,
        features: &RequestFeatures,
        tenant: Option<&str>,
        requested: Option<Route>,
    ) -> CacheStep {
        let policy = pipeline.policy(tenant);
        let off = |lookup| CacheStep {
            cache: None,
            keys: None,
            ttl: policy.cache.ttl,
            near_body: None,
            partition: None,
            max_age: None,
            lookup,
        };
        let (Some(cache), Some(request)) = (pipeline.cache.clone(), request) else {
            return off(CacheLookup::Off);
        };
        // Shadow and off modes change nothing for the client; a forced route or a client's
        // no-cache asks for a fresh answer.
        if policy.mode != Mode::Route || requested.is_some() || request.refuses {
            return off(CacheLookup::Bypass);
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(request.body) else {
            return off(CacheLookup::Bypass);
        };
        let single_turn = features.user_turns == 1 && features.prior_turns == 0;
        let keys = crate::cache::exact_keys(api, request.partition.as_deref(), &value, policy.cache.llm);
        let near_body = (keys.is_some() && pipeline.config.cache.near_duplicates && single_turn).then_some(value);
        let lookup = if keys.is_some() {
            CacheLookup::Miss
        } else {
            CacheLookup::Bypass
        };
        CacheStep {
            cache: Some(cache),
            keys,
            ttl: policy.cache.ttl,
            near_body,
            partition: request.partition,
            max_age: request.max_age,
            lookup,
        }
    }

    /// What the cache did so far.
    pub(crate) fn lookup(&self) -> CacheLookup {
        self.lookup
    }

    /// Only lookups share an entry with their near duplicates: elsewhere punctuation and case
    /// can be meaning (`x++`). A question about this moment or the user ("What time is it?",
    /// "Where is my order?") never reuses an LLM answer: it would be stale or someone else's.
    /// `api` and `question` are the ones [`CacheStep::new`] was given, and so was the partition;
    /// `message` is the user message `question` was read from.
    pub(super) fn for_class(
        mut self,
        lookup: bool,
        personal: bool,
        api: Api,
        question: &str,
        message: &str,
    ) -> CacheStep {
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

    fn find(&self, exact_only: bool) -> Option<Hit> {
        let (cache, keys) = (self.cache.as_ref()?, self.keys?);
        let keys = if exact_only {
            RequestKeys { near: None, ..keys }
        } else {
            keys
        };
        let hit = cache
            .get(&keys, Instant::now())
            .filter(|hit| self.max_age.is_none_or(|max| hit.answer.stored.elapsed() <= max))?;
        // An LLM answer is given again only where this request may reuse one.
        let reusable = matches!(hit.answer.origin, Origin::Search { .. }) || keys.llm_reusable;
        reusable.then_some(hit)
    }

    pub(super) fn exact_hit(&mut self) -> Option<Hit> {
        let hit = self.find(true)?;
        self.lookup = CacheLookup::Hit;
        Some(hit)
    }

    pub(super) fn near_hit(&mut self) -> Option<Hit> {
        let hit = self.find(false).filter(|hit| hit.near_duplicate)?;
        self.lookup = CacheLookup::NearHit;
        Some(hit)
    }

    /// Keeps an answer for the next identical request, when this one may be kept; the cache's new
    /// size, for `/metrics`, when it was.
    pub(crate) fn store(&self, content: &str, origin: Origin) -> Option<CacheSize> {
        let (cache, keys) = (self.cache.as_ref()?, self.keys.as_ref()?);
        if matches!(origin, Origin::Llm { .. }) && !keys.llm_reusable {
            return None;
        }
        cache.put(
            keys,
            CachedAnswer {
                content: content.to_string(),
                origin,
                stored: Instant::now(),
            },
            self.ttl,
        );
        Some(cache.size())
    }

    /// Keeps a successful LLM answer once it has reached the client.
    pub(crate) fn store_llm(&self, answer: Option<crate::llm::usage::PlainAnswer>, success: bool) -> Option<CacheSize> {
        let answer = answer.filter(|_| success)?;
        let tokens = answer
            .completion_tokens
            .unwrap_or_else(|| crate::openai::estimate_tokens(&answer.content));
        self.store(
            &answer.content,
            Origin::Llm {
                model: answer.model,
                completion_tokens: tokens,
            },
        )
    }

    /// Whether an LLM answer to this request may be kept at all.
    pub(super) fn may_fill(&self) -> bool {
        self.cache.is_some() && self.keys.is_some_and(|k| k.llm_reusable)
    }
}
