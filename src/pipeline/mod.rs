//! Every per-request decision, written once: `serve`, `replay`, `eval --answers` and
//! `/admin/explain` all call [`Pipeline::plan`] (`ecoroute search` its search step), so what is
//! measured offline is what users get.
//!
//! - [`plan`]: one request's plan, in named steps: the cache, the route, a near duplicate, the
//!   model tier; [`plan::Plan`] says to answer from the cache, answer from search or forward.
//! - [`cache`]: the response cache's part in one request (keys, hit rules, keeping an answer).
//! - [`language`]: the one [`Language`] a request is answered in (English or a pack).
//! - [`Pipeline`]: everything built from one config (classifier, tenant policies, the search stack,
//!   the upstream client); swapped whole on reload, so a request keeps the snapshot it started with.
//! - [`route`]: one request's decision and search step, as a typed [`route::Routed`], with the one
//!   formatter of the `x-ecoroute-reason` text.
//! - [`explain`]: the decision trace for `x-ecoroute-explain` and `/admin/explain`.

pub(crate) mod cache;
pub(crate) mod explain;
pub(crate) mod language;
pub(crate) mod plan;
pub(crate) mod route;

use std::collections::HashMap;
use std::sync::Arc;

use tower::ServiceBuilder;

use crate::classify::Classifier;
use crate::classify::Mode;
use crate::config::{Config, SearchConfig};
use crate::llm::fleet::Fleet;
use crate::llm::Upstream;
use crate::search::breaker::{BreakerLayer, BreakerService};
use crate::search::pool::SearchPool;
use crate::search::{SearchBackend, SearchService};
use crate::Error;

pub(crate) use language::Language;
pub(crate) use plan::{Action, Plan, PlanRequest};
pub use route::{AnswerLimits, Served};
pub(crate) use route::{Outcome, RouteRequest, Routed};

/// The search backend as the pipeline calls it.
pub type SearchStack = BreakerService<tower::timeout::Timeout<SearchService>>;

pub(crate) fn search_stack(service: SearchService, config: &SearchConfig) -> SearchStack {
    ServiceBuilder::new()
        // 2. After repeated failures or timeouts, stop calling a backend that is down: requests
        //    escalate at once instead of each waiting out the timeout.
        .layer(BreakerLayer::new(config.breaker))
        // 1. A slow search must never hold up an answer the LLM could give: past the timeout the
        //    request escalates (and the breaker counts it as a failure).
        .timeout(config.timeout)
        .service(service)
}

/// How one tenant's requests are routed: its mode, and its classifier (its own rules first, its
/// own threshold).
#[derive(Clone)]
pub(crate) struct Policy {
    pub mode: Mode,
    pub classifier: Classifier,
    /// How long its answers are kept, and when an LLM answer may be reused.
    pub cache: crate::cache::CachePolicy,
    /// Its own mode for every model tier, else each tier's.
    pub tiers: Option<crate::config::tiers::TierMode>,
}

/// A cheaper model chosen for a request, and whether it serves it or is only ledgered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TierChoice {
    pub cheaper: String,
    /// Why: the task (`translation`, …), `rule` (the tier's `last_user_regex`) or the
    /// difficulty router's score against the tier's `max_difficulty`.
    pub why: String,
    pub mode: crate::config::tiers::TierMode,
    /// Shadow mode: the share of such requests also sent to the cheaper model for review.
    pub review_sample: f64,
}

/// Everything built from one config.
pub(crate) struct Pipeline {
    pub config: Config,
    /// The global policy, for requests of tenants without their own.
    pub policy: Policy,
    pub search: SearchStack,
    pub search_backend_name: String,
    /// Kept so a reload with the same search settings reuses the open index.
    pub search_backend: Arc<dyn SearchBackend>,
    pub tenants: HashMap<String, Policy>,
    /// Every upstream deployment of both APIs, with their retry and cool-down state (which a
    /// reload starts afresh).
    pub fleet: Arc<Fleet>,
    /// The response cache (`[cache] enabled`); a reload builds a fresh one, so no answer outlives
    /// the routing and index that produced it.
    pub cache: Option<Arc<crate::cache::ResponseCache>>,
    /// One search stack per language besides English (`search.languages`).
    pub languages: Vec<LanguageStack>,
    /// The blocking threads the embedded searches (every language's) and the answer steps share.
    pub search_pool: SearchPool,
}

/// A language's pack and the search stack over its own index.
pub(crate) struct LanguageStack {
    pub pack: Arc<crate::lang::LanguagePack>,
    pub search: SearchStack,
    /// Kept so a reload reuses the open index when its folder and corpus stay the same.
    index: Arc<dyn SearchBackend>,
    index_dir: std::path::PathBuf,
    corpus: std::path::PathBuf,
}

impl Pipeline {
    /// The upstream that serves an API.
    /// The upstream that serves an API's pass-through requests and review calls: its first
    /// deployment (chat requests go through [`Fleet::send`]).
    pub(crate) fn upstream_for(&self, api: crate::api::Api) -> &Upstream {
        self.fleet.first(api.upstream())
    }

    /// Builds the pipeline; opening (or first building) the embedded index runs on a blocking thread.
    pub(crate) async fn build(config: Config) -> Result<Pipeline, Error> {
        let backend = crate::search::connect(&config.search).await?;
        Self::with_backend(config, backend)?.with_languages(None).await
    }

    /// Opens (or first builds) each language's index, reusing those of `previous` that have the
    /// same folder and corpus.
    pub(crate) async fn with_languages(mut self, previous: Option<&Pipeline>) -> Result<Pipeline, Error> {
        let mut languages = Vec::new();
        for language in &self.config.search.languages {
            let pack = Arc::clone(&language.pack);
            let reused = previous
                .into_iter()
                .flat_map(|p| p.languages.iter())
                .find(|l| l.index_dir == language.index_dir && l.corpus == pack.corpus)
                .map(|l| Arc::clone(&l.index));
            let index = match reused {
                Some(index) => index,
                None => {
                    let for_pack = Arc::clone(&pack) as Arc<dyn crate::search::embedded::QueryWords>;
                    let (dir, corpus) = (language.index_dir.clone(), pack.corpus.clone());
                    let index = tokio::task::spawn_blocking(move || {
                        crate::search::embedded::EmbeddedIndex::open_or_build_for(&dir, &corpus, Some(for_pack))
                    })
                    .await
                    .map_err(|e| Error::internal_from("index task failed", e))??;
                    tracing::info!(language = %pack.code, documents = index.num_docs(), "language index ready");
                    Arc::new(index) as Arc<dyn SearchBackend>
                }
            };
            languages.push(LanguageStack {
                search: search_stack(
                    SearchService::new(Arc::clone(&index), self.search_pool.clone()),
                    &self.config.search,
                ),
                index,
                index_dir: language.index_dir.clone(),
                corpus: pack.corpus.clone(),
                pack,
            });
        }
        self.languages = languages;
        Ok(self)
    }

    /// Builds the pipeline around a given search backend (tests use this to inject mocks).
    pub(crate) fn with_backend(config: Config, backend: Arc<dyn SearchBackend>) -> Result<Pipeline, Error> {
        crate::search::evidence::warm_up();
        crate::classify::text::warm_up();
        crate::calc::warm_up();
        // The difficulty router's weights are parsed once, here, not on a tier's first request.
        if config.tiers.iter().any(|t| t.max_difficulty.is_some()) {
            let _ = crate::classify::difficulty::DifficultyModel::builtin();
        }
        let classifier = classifier_for(&config);
        let search_backend_name = backend.name().to_string();
        let search_pool = SearchPool::new(config.search.threads);
        let search = search_stack(
            SearchService::new(Arc::clone(&backend), search_pool.clone()),
            &config.search,
        );
        let shards = crate::shard::count(config.server.worker_threads);
        let fleet = Arc::new(Fleet::new(&config.llm, shards)?);
        let tenants = config
            .routing
            .tenants
            .iter()
            .map(|t| {
                let mut c = classifier.clone();
                c.rules = t.rules.iter().chain(config.rules.iter()).cloned().collect();
                if let Some(th) = t.lookup_threshold {
                    c.lookup_threshold = th;
                }
                c.compatible_system = t.search_compatible_system.clone();
                let policy = Policy {
                    mode: t.mode.unwrap_or(config.routing.mode),
                    classifier: c,
                    cache: crate::cache::CachePolicy {
                        ttl: t.cache_ttl.unwrap_or(config.cache.policy.ttl),
                        llm: t.cache_llm.unwrap_or(config.cache.policy.llm),
                    },
                    tiers: t.tiers,
                };
                (t.name.clone(), policy)
            })
            .collect();
        let cache = config
            .cache
            .enabled
            .then(|| Arc::new(crate::cache::ResponseCache::new(config.cache.max_bytes)));
        Ok(Pipeline {
            policy: Policy {
                mode: config.routing.mode,
                classifier,
                cache: config.cache.policy,
                tiers: None,
            },
            cache,
            config,
            search,
            search_backend_name,
            search_backend: backend,
            tenants,
            fleet,
            languages: Vec::new(),
            search_pool,
        })
    }

    /// The cheaper model that may serve a request for `model` going to the LLM, if a tier allows
    /// it: its last user message is short enough, and the tier's task list names the request's
    /// task, or its rule matches, or the difficulty router scores it at or under the tier's
    /// `max_difficulty`. When unsure, the requested model.
    pub(crate) fn tier(
        &self,
        tenant: Option<&str>,
        model: &str,
        features: &crate::classify::RequestFeatures,
        decision: Option<&crate::classify::Decision>,
    ) -> Option<TierChoice> {
        use crate::config::tiers::TierMode;
        let tier = self.config.tiers.iter().find(|t| t.model.eq_ignore_ascii_case(model))?;
        let mode = self.policy(tenant).tiers.unwrap_or(tier.mode);
        if mode == TierMode::Off || features.last_user.chars().count() > tier.max_chars {
            return None;
        }
        let lookup = decision.is_some_and(crate::classify::Decision::is_confident_lookup);
        let task = crate::classify::tasks::task_type(features, lookup);
        let why = if tier.tasks.contains(&task) {
            task.as_str().to_string()
        } else if tier
            .last_user_regex
            .as_ref()
            .is_some_and(|re| re.is_match(&features.last_user))
        {
            "rule".to_string()
        } else {
            // Scored only here, for requests a tier could take: well under a millisecond
            // (`cargo bench --bench core -- difficulty`).
            let max = tier.max_difficulty?;
            let p = crate::classify::difficulty::DifficultyModel::builtin()?.difficulty(&features.last_user);
            if p > max {
                return None;
            }
            crate::classify::difficulty::describe(p, max)
        };
        Some(TierChoice {
            cheaper: tier.cheaper.clone(),
            why,
            mode,
            review_sample: tier.review_sample,
        })
    }

    /// The policy for a tenant: its own if it has one, else the global one.
    pub(crate) fn policy(&self, tenant: Option<&str>) -> &Policy {
        tenant.and_then(|t| self.tenants.get(t)).unwrap_or(&self.policy)
    }
}

/// The classifier that `serve`, `classify` and `eval` all use for a config.
pub fn classifier_for(config: &Config) -> Classifier {
    Classifier {
        guards: config.guards,
        rules: config.rules.clone(),
        scorer: Arc::clone(&config.classifier.scorer),
        lookup_threshold: config.classifier.lookup_threshold,
        compatible_system: None,
        languages: config
            .search
            .languages
            .iter()
            .map(|l| Arc::clone(&l.pack) as Arc<dyn crate::classify::LanguageCues>)
            .collect(),
    }
}
