//! Prometheus metrics, exposed at `/metrics` in the text format.
//!
//! Counters must only rise, and a request can cost more than it saves, so energy is exported as
//! two monotonic counters: `..._avoided_...` (the LLM calls search answers replaced) and
//! `..._overhead_...` (the proxy's and the search's own cost, escalations included). The saving is
//! `avoided - overhead`. All energy figures are central estimates; the ranges are in the ledger.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    /// search, llm or passthrough.
    pub route: String,
    /// guard, rule, classifier, escalated or passthrough: bounded, unlike the reason text.
    pub decided_by: String,
    /// Status class: 2xx, 4xx, 5xx.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SearchFailureLabels {
    pub backend: String,
    /// timeout, error or circuit_open.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CacheResult {
    /// hit, near_hit, miss or bypass.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabel {
    pub route: String,
}

/// A key or tenant (only those `[[keys]]`/`[limits]` name, so the series are bounded) and which
/// of its limits refused a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct LimitLabels {
    pub subject: String,
    pub limit: String,
}

/// An upstream deployment (the config names them, so the series are bounded) and how a try ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TryLabels {
    pub deployment: String,
    /// `answered` or `failed`.
    pub result: String,
}

/// A model's series. Model names come from clients, so at most [`MAX_MODEL_SERIES`] distinct ones
/// get their own series; the rest are counted under `other`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ModelLabel {
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ModelRequestLabels {
    pub model: String,
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ApiLabel {
    /// chat_completions, messages or responses.
    pub api: String,
}

pub const MAX_MODEL_SERIES: usize = 64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BudgetLabels {
    pub subject: String,
    /// `usd_day`, `wh_month`, ...
    pub budget: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    /// The model names that have their own series (bounded by [`MAX_MODEL_SERIES`]).
    models: Mutex<std::collections::HashSet<String>>,
    pub(crate) model_requests: Family<ModelRequestLabels, Counter>,
    /// Tokens the upstream LLM read and wrote, as its usage reported them (or estimated).
    pub(crate) input_tokens: Family<ModelLabel, Counter>,
    pub(crate) output_tokens: Family<ModelLabel, Counter>,
    /// Time to the upstream's response headers.
    pub(crate) upstream_latency: Family<ModelLabel, Histogram>,
    /// Time from the request to the first chunk of a streamed LLM answer sent to the client.
    pub(crate) time_to_first_token: Family<ApiLabel, Histogram>,
    /// What requests used (central estimates), LLM calls included: energy and list-price spend.
    pub(crate) energy_used_wh: Counter<f64, AtomicU64>,
    pub(crate) cost_usd: Counter<f64, AtomicU64>,
    /// Requests refused for a missing or unknown inbound key.
    pub(crate) auth_refused: Counter,
    pub(crate) limited: Family<LimitLabels, Counter>,
    pub(crate) upstream_tries: Family<TryLabels, Counter>,
    pub(crate) budget_used: Family<BudgetLabels, prometheus_client::metrics::gauge::Gauge<f64, AtomicU64>>,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) latency: Family<RouteLabel, Histogram>,
    pub(crate) energy_avoided_wh: Counter<f64, AtomicU64>,
    pub(crate) energy_overhead_wh: Counter<f64, AtomicU64>,
    pub(crate) co2e_avoided_g: Counter<f64, AtomicU64>,
    pub(crate) cost_avoided_usd: Counter<f64, AtomicU64>,
    pub(crate) requests_shed: Counter,
    pub(crate) ledger_written: Counter,
    pub(crate) ledger_dropped: Counter,
    pub(crate) ledger_spooled: Counter,
    pub(crate) ledger_pruned: Counter,
    pub(crate) ledger_corrupt: Counter,
    pub(crate) search_failures: Family<SearchFailureLabels, Counter>,
    /// GPU energy read from meters, and the part of it no request could be given (idle intervals).
    pub(crate) meter_read_wh: Counter<f64, AtomicU64>,
    pub(crate) meter_unattributed_wh: Counter<f64, AtomicU64>,
    pub(crate) meter_scrape_failures: Counter,
    pub(crate) cache_lookups: Family<CacheResult, Counter>,
    pub(crate) cache_stores: Counter,
    pub(crate) cache_bytes: prometheus_client::metrics::gauge::Gauge,
    pub(crate) cache_entries: prometheus_client::metrics::gauge::Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ecoroute");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests served, by route, what decided it, and status class",
            requests.clone(),
        );
        let latency = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            // 0.1 ms to ~100 s: search answers and long LLM streams on one scale.
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.0001, 2.5, 16,
            ))
        });
        registry.register(
            "request_duration_seconds",
            "Time from request to the last byte of the response",
            latency.clone(),
        );
        let energy_avoided_wh = Counter::<f64, AtomicU64>::default();
        registry.register(
            "energy_avoided_wh",
            "Energy of the LLM calls that search answers replaced (central estimate)",
            energy_avoided_wh.clone(),
        );
        let energy_overhead_wh = Counter::<f64, AtomicU64>::default();
        registry.register(
            "energy_overhead_wh",
            "Energy of the proxy's and the search's own work, escalations included (central)",
            energy_overhead_wh.clone(),
        );
        let co2e_avoided_g = Counter::<f64, AtomicU64>::default();
        registry.register(
            "co2e_avoided_g",
            "CO2e of the LLM calls avoided, less local overhead, when positive (central)",
            co2e_avoided_g.clone(),
        );
        let cost_avoided_usd = Counter::<f64, AtomicU64>::default();
        registry.register(
            "cost_avoided_usd",
            "List-price spend on LLM calls avoided",
            cost_avoided_usd.clone(),
        );
        let requests_shed = Counter::default();
        registry.register(
            "requests_shed",
            "Requests refused with 503 at the concurrency limit (never ledgered: nothing was spent)",
            requests_shed.clone(),
        );
        let ledger_written = Counter::default();
        registry.register(
            "ledger_rows_written",
            "Ledger rows written to the database",
            ledger_written.clone(),
        );
        let ledger_dropped = Counter::default();
        registry.register(
            "ledger_rows_dropped",
            "Ledger rows that could not be queued or written",
            ledger_dropped.clone(),
        );
        let ledger_spooled = Counter::default();
        registry.register(
            "ledger_rows_spooled",
            "Ledger rows sent to the spool file (replayed later)",
            ledger_spooled.clone(),
        );
        let ledger_pruned = Counter::default();
        registry.register(
            "ledger_rows_pruned",
            "Ledger rows deleted because they were older than ledger.retention_days",
            ledger_pruned.clone(),
        );
        let ledger_corrupt = Counter::default();
        registry.register(
            "ledger_corrupt_files",
            "Ledger database files found corrupt, moved aside (renamed, kept) and replaced by a fresh ledger",
            ledger_corrupt.clone(),
        );
        let search_failures = Family::<SearchFailureLabels, Counter>::default();
        registry.register(
            "search_failures",
            "Search calls that returned nothing because the backend failed, timed out or was cut off by the circuit breaker; each request escalated to the LLM",
            search_failures.clone(),
        );
        let meter_read_wh = Counter::<f64, AtomicU64>::default();
        registry.register(
            "meter_gpu_energy_wh",
            "GPU energy read from [[energy.meter]] counters, at the boards (before PUE)",
            meter_read_wh.clone(),
        );
        let meter_unattributed_wh = Counter::<f64, AtomicU64>::default();
        registry.register(
            "meter_unattributed_gpu_energy_wh",
            "Metered GPU energy of idle intervals that no later metered request took on before shutdown, so in no ledger row",
            meter_unattributed_wh.clone(),
        );
        let meter_scrape_failures = Counter::default();
        registry.register(
            "meter_scrape_failures",
            "Reads of an [[energy.meter]] endpoint that failed or were refused (the counter stood still, went back or leapt); that interval's requests are estimated instead",
            meter_scrape_failures.clone(),
        );
        let cache_lookups = Family::<CacheResult, Counter>::default();
        registry.register(
            "cache_lookups",
            "Chat requests by what the response cache did: hit, near_hit (a near-duplicate lookup), miss, or bypass (cache off, shadow mode, no-cache, tools, n > 1, ...)",
            cache_lookups.clone(),
        );
        let cache_stores = Counter::default();
        registry.register(
            "cache_stores",
            "Answers stored in the response cache",
            cache_stores.clone(),
        );
        let cache_bytes = prometheus_client::metrics::gauge::Gauge::default();
        registry.register(
            "cache_bytes",
            "Bytes the response cache holds (its budget is cache.max_bytes)",
            cache_bytes.clone(),
        );
        let cache_entries = prometheus_client::metrics::gauge::Gauge::default();
        registry.register("cache_entries", "Keys in the response cache", cache_entries.clone());
        let model_requests = Family::<ModelRequestLabels, Counter>::default();
        registry.register(
            "model_requests",
            "Requests by the model they named (at most 64 names, then `other`), route and status class",
            model_requests.clone(),
        );
        let input_tokens = Family::<ModelLabel, Counter>::default();
        registry.register(
            "input_tokens",
            "Prompt tokens of LLM calls, by model (from the upstream's usage, else estimated)",
            input_tokens.clone(),
        );
        let output_tokens = Family::<ModelLabel, Counter>::default();
        registry.register(
            "output_tokens",
            "Completion tokens of LLM calls, by model (from the upstream's usage, else estimated)",
            output_tokens.clone(),
        );
        let seconds = || {
            // 1 ms to ~100 s.
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.001, 2.0, 17,
            ))
        };
        let upstream_latency = Family::<ModelLabel, Histogram>::new_with_constructor(seconds);
        registry.register(
            "upstream_latency_seconds",
            "Time from sending an LLM call to the upstream's response headers, by model",
            upstream_latency.clone(),
        );
        let time_to_first_token = Family::<ApiLabel, Histogram>::new_with_constructor(seconds);
        registry.register(
            "time_to_first_token_seconds",
            "Time from a streamed LLM request's arrival to its first chunk sent to the client, by API",
            time_to_first_token.clone(),
        );
        let energy_used_wh = Counter::<f64, AtomicU64>::default();
        registry.register(
            "energy_used_wh",
            "Energy of every request, LLM calls included (central estimate, the ledger's figure)",
            energy_used_wh.clone(),
        );
        let cost_usd = Counter::<f64, AtomicU64>::default();
        registry.register(
            "cost_usd",
            "List-price spend on LLM calls made (central; unpriced models count 0)",
            cost_usd.clone(),
        );
        let auth_refused = Counter::default();
        registry.register(
            "auth_refused",
            "Requests refused with 401: no key, or one not in [[keys]]",
            auth_refused.clone(),
        );
        let limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "limited_requests",
            "Requests refused with 429 by a key's or tenant's limit (requests_per_minute, tokens_per_minute, budget_usd, budget_wh)",
            limited.clone(),
        );
        let upstream_tries = Family::<TryLabels, Counter>::default();
        registry.register(
            "upstream_tries",
            "Tries of an upstream deployment ([[llm.deployments]]) by result: answered, or failed (no connection, no headers in time, 429, 5xx)",
            upstream_tries.clone(),
        );
        let budget_used = Family::<BudgetLabels, prometheus_client::metrics::gauge::Gauge<f64, AtomicU64>>::default();
        registry.register(
            "budget_used_ratio",
            "Share of a key's or tenant's budget spent in the current period, as of its latest request (from the ledger's figures)",
            budget_used.clone(),
        );
        Metrics {
            models: Mutex::default(),
            model_requests,
            input_tokens,
            output_tokens,
            upstream_latency,
            time_to_first_token,
            energy_used_wh,
            cost_usd,
            auth_refused,
            limited,
            upstream_tries,
            budget_used,
            cache_lookups,
            cache_stores,
            cache_bytes,
            cache_entries,
            meter_read_wh,
            meter_unattributed_wh,
            meter_scrape_failures,
            search_failures,
            ledger_spooled,
            ledger_pruned,
            ledger_corrupt,
            registry: Mutex::new(registry),
            requests,
            latency,
            energy_avoided_wh,
            energy_overhead_wh,
            co2e_avoided_g,
            cost_avoided_usd,
            requests_shed,
            ledger_written,
            ledger_dropped,
        }
    }

    pub(crate) fn upstream_try(&self, deployment: &str, answered: bool) {
        self.upstream_tries
            .get_or_create(&TryLabels {
                deployment: deployment.into(),
                result: if answered { "answered" } else { "failed" }.into(),
            })
            .inc();
    }

    pub(crate) fn limited(&self, subject: &str, limit: &str) {
        self.limited
            .get_or_create(&LimitLabels {
                subject: subject.into(),
                limit: limit.into(),
            })
            .inc();
    }

    pub(crate) fn budget_used(&self, subject: &str, unit: &str, period: &str, ratio: f64) {
        self.budget_used
            .get_or_create(&BudgetLabels {
                subject: subject.into(),
                budget: format!("{unit}_{period}"),
            })
            .set(ratio);
    }

    pub(crate) fn cache_lookup(&self, result: &str) {
        self.cache_lookups
            .get_or_create(&CacheResult { result: result.into() })
            .inc();
    }

    pub(crate) fn cache_stored(&self, size: crate::cache::CacheSize) {
        self.cache_stores.inc();
        self.cache_bytes.set(i64::try_from(size.bytes).unwrap_or(i64::MAX));
        self.cache_entries.set(i64::try_from(size.entries).unwrap_or(i64::MAX));
    }

    /// The exposition text.
    pub(crate) fn search_failed(&self, backend: &str, reason: &str) {
        self.search_failures
            .get_or_create(&SearchFailureLabels {
                backend: backend.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }

    /// Counts a finished request, labelled by route, who decided it (or `escalated`), and status.
    pub(crate) fn observe_request(&self, record: &RequestSeen<'_>, seconds: f64) {
        use crate::outcome::RouteTaken;
        let route = record.route.as_str();
        let decided_by = match (record.escalated, record.decided_by, record.route) {
            (true, _, _) => "escalated",
            (false, Some(who), _) => who.as_str(),
            (false, None, RouteTaken::Passthrough) => "passthrough",
            (false, None, RouteTaken::Cache) => "cache",
            (false, None, _) => "none",
        };
        let status = record.status;
        let status = match status {
            200..=299 => "2xx",
            400..=499 => "4xx",
            500..=599 => "5xx",
            _ => "other",
        };
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                decided_by: decided_by.into(),
                status: status.into(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabel {
                route: route.to_string(),
            })
            .observe(seconds);
        let Some(model) = record.model else { return };
        let model = self.model_label(model);
        self.model_requests
            .get_or_create(&ModelRequestLabels {
                model: model.clone(),
                route: route.to_string(),
                status: status.into(),
            })
            .inc();
        if record.route == RouteTaken::Llm {
            let label = ModelLabel { model };
            if let Some(tokens) = record.prompt_tokens {
                self.input_tokens.get_or_create(&label).inc_by(u64::from(tokens));
            }
            if let Some(tokens) = record.completion_tokens {
                self.output_tokens.get_or_create(&label).inc_by(u64::from(tokens));
            }
            if let Some(ms) = record.upstream_ms {
                self.upstream_latency.get_or_create(&label).observe(ms / 1e3);
            }
        }
    }

    /// The label of a model: its name while fewer than [`MAX_MODEL_SERIES`] have one, else `other`.
    fn model_label(&self, model: &str) -> String {
        let Ok(mut models) = self.models.lock() else {
            return "other".into();
        };
        if models.contains(model) {
            return model.to_string();
        }
        if models.len() < MAX_MODEL_SERIES {
            models.insert(model.to_string());
            return model.to_string();
        }
        "other".into()
    }

    pub(crate) fn first_token(&self, api: &str, seconds: f64) {
        self.time_to_first_token
            .get_or_create(&ApiLabel { api: api.into() })
            .observe(seconds);
    }

    /// Adds a row's energy figures: what search answers avoided, and what the local work cost.
    pub(crate) fn observe_costs(&self, answered_from_search: bool, costs: &crate::energy::RequestCosts) {
        let avoided = if answered_from_search {
            costs.counterfactual.energy_wh.central
        } else {
            0.0
        };
        self.energy_avoided_wh.inc_by(avoided.max(0.0));
        self.energy_overhead_wh
            .inc_by((avoided - costs.saved.energy_wh.central).max(0.0));
        self.co2e_avoided_g.inc_by(costs.saved.co2e_g.central.max(0.0));
        self.energy_used_wh.inc_by(costs.actual.energy_wh.central.max(0.0));
        self.cost_usd.inc_by(costs.actual.cost_usd.central.max(0.0));
        if answered_from_search {
            self.cost_avoided_usd
                .inc_by(costs.counterfactual.cost_usd.central.max(0.0));
        }
    }
}

/// What `/metrics` counts of a finished request (its ledger row says the same, and more).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestSeen<'a> {
    pub route: crate::outcome::RouteTaken,
    pub decided_by: Option<crate::outcome::DecidedBy>,
    /// Decided for search, answered by the LLM.
    pub escalated: bool,
    pub status: u16,
    /// The model the request named, and for LLM calls its tokens and the upstream's latency.
    pub model: Option<&'a str>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub upstream_ms: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_the_counters_with_bounded_labels() {
        use crate::outcome::{DecidedBy, RouteTaken};
        let m = Metrics::new();
        let row = |route, decided_by, escalated, status| RequestSeen {
            route,
            decided_by,
            escalated,
            status,
            ..RequestSeen::default()
        };
        m.observe_request(
            &row(RouteTaken::Search, Some(DecidedBy::Classifier), false, 200),
            0.0004,
        );
        m.observe_request(&row(RouteTaken::Llm, Some(DecidedBy::Classifier), true, 200), 1.2);
        m.observe_request(&row(RouteTaken::Llm, Some(DecidedBy::Rule), false, 502), 0.01);
        // Shadow, override and `mode: off` rows used to land in `other`, read off the reason text.
        m.observe_request(&row(RouteTaken::Llm, Some(DecidedBy::Override), false, 200), 0.01);
        m.observe_request(&row(RouteTaken::Llm, Some(DecidedBy::Off), false, 200), 0.01);
        let text = m.encode();
        assert!(
            text.contains(r#"ecoroute_requests_total{route="search",decided_by="classifier",status="2xx"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"decided_by="escalated""#));
        assert!(text.contains(r#"ecoroute_requests_total{route="llm",decided_by="rule",status="5xx"} 1"#));
        assert!(text.contains("ecoroute_request_duration_seconds_bucket"));
        assert!(text.contains("ecoroute_ledger_rows_dropped_total 0"));
        assert!(!text.contains("p(lookup)"), "reason text never becomes a label");
        assert!(text.contains(r#"decided_by="override""#) && text.contains(r#"decided_by="off""#));
        assert!(!text.contains(r#"decided_by="other""#));
    }
}
