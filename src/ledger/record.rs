//! The ledger row: one request, as the ledger stores it, and the energy figures the writer adds.

use serde::{Deserialize, Serialize};

use super::{CacheOrigin, DecidedBy, RouteTaken, Served, UsageSource};
use crate::energy::RequestCosts;

/// One request, as the ledger stores it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerRecord {
    /// Milliseconds since the Unix epoch when the request arrived.
    pub ts_ms: i64,
    pub request_id: String,
    /// The API path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The route taken: search, llm, passthrough, or none (refused before routing).
    pub route: RouteTaken,
    /// Why: the guard, rule or classifier verdict, or the escalation cause.
    pub reason: String,
    /// Classifier class for chat requests.
    pub class: Option<crate::classify::Class>,
    pub confidence: Option<f64>,
    /// True when the request was classified for search but answered by the LLM.
    pub escalated: bool,
    pub model: Option<String>,
    pub status: u16,
    pub stream: bool,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    /// Where the token counts came from.
    pub usage_source: UsageSource,
    pub latency_ms: f64,
    /// Time to the upstream's response headers, for LLM calls.
    pub upstream_ms: Option<f64>,
    pub search_ms: Option<f64>,
    /// Corpus document or URL a search answer came from.
    pub answer_source: Option<String>,
    /// The last user message, only when `ledger.store_prompts = true`.
    pub prompt: Option<String>,
    pub error: Option<String>,
    /// From the tenant header, or `key:` and a hash of the API key; never the key itself.
    pub tenant: Option<String>,
    /// Thread CPU time the proxy spent on this request (parsing, classifying, answering, streaming).
    pub proxy_cpu_us: f64,
    /// Thread CPU time of the search step.
    pub search_cpu_us: Option<f64>,
    /// The routing mode that applied.
    pub mode: crate::classify::Mode,
    /// In shadow mode, what ecoroute would have done: `search` (answered) or `llm`.
    pub shadow_route: Option<crate::classify::Route>,
    /// Who decided the route (chat requests); in memory and in the spool, not in the database.
    #[serde(default)]
    pub decided_by: Option<DecidedBy>,
    /// In shadow mode, the answer search would have given, with its source.
    pub shadow_answer: Option<String>,
    /// The hash of the energy settings the figures were computed under (the `energy_settings`
    /// table holds them); set by the writer with the figures.
    #[serde(default)]
    pub settings_hash: Option<String>,
    /// For an LLM call on metered GPUs: its share of the measured GPU energy, Wh.
    #[serde(default)]
    pub measured_gpu_wh: Option<f64>,
    /// For an answer from the cache: what it was first. An LLM answer's length is known (the
    /// row's `completion_tokens`), so the call it avoided is booked at that length.
    #[serde(default)]
    pub cache_origin: Option<CacheOrigin>,
    /// A model tier served the request: the model the client asked for (`model` is the one that
    /// answered).
    #[serde(default)]
    pub requested_model: Option<String>,
    /// A model tier in shadow mode: the cheaper model that would have served it.
    #[serde(default)]
    pub tier_shadow_model: Option<String>,
    /// A review call (a tier's `review_sample`): the request id whose answer it repeats with the
    /// cheaper model. An extra call that would not have happened: all cost, no saving.
    #[serde(default)]
    pub tier_review_of: Option<String>,
    /// For tier review, with `ledger.store_prompts`: the answer this row's model gave.
    #[serde(default)]
    pub review_answer: Option<String>,
    /// The catalogue entry that priced the row's model, and how the name found it (`exact`,
    /// `undated`, `family`, `default`); set by the writer with the figures.
    #[serde(default)]
    pub model_entry: Option<String>,
    #[serde(default)]
    pub model_match: Option<String>,
    /// The name of the inbound key (`[[keys]]`) the request came with (never the key itself): its
    /// budget is charged by the writer and read back from the ledger after a restart.
    #[serde(default)]
    pub api_key: Option<String>,
    /// The tokens a key's or tenant's rate limit took at admission, before usage was known; in
    /// memory only.
    #[serde(default)]
    pub estimated_tokens: Option<u64>,
    /// The upstream deployment (`[[llm.deployments]]`) whose answer was handed back.
    #[serde(default)]
    pub deployment: Option<String>,
    /// The upstream tries that failed before the answer (or all of them, when none answered).
    #[serde(default)]
    pub failed_tries: u32,
    /// Every try, in order, as `deployment:outcome`: `east:503,west:ok`.
    #[serde(default)]
    pub tries: Option<String>,
    /// Filled by the ledger writer, off the request path.
    pub accounting: Option<Accounting>,
}

impl LedgerRecord {
    /// The limit subjects ([`crate::limits`]) the row is charged to: its key and its tenant.
    pub(crate) fn limit_subjects(&self) -> Vec<String> {
        self.api_key
            .iter()
            .map(|k| crate::limits::key_subject(k))
            .chain(self.tenant.iter().map(|t| crate::limits::tenant_subject(t)))
            .collect()
    }

    /// The bytes the row holds in memory while it waits for the writer: the struct and its text
    /// fields. The ledger's queue is bounded by the sum of these, not only by a count of rows, since
    /// a row with `store_prompts` carries the whole last message (up to `server.max_body_bytes`).
    pub fn memory_bytes(&self) -> usize {
        let text = |s: &String| s.capacity();
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
        std::mem::size_of::<LedgerRecord>()
            + text(&self.request_id)
            + text(&self.path)
            + text(&self.reason)
            + [
                &self.model,
                &self.answer_source,
                &self.prompt,
                &self.error,
                &self.tenant,
                &self.shadow_answer,
                &self.settings_hash,
                &self.requested_model,
                &self.tier_shadow_model,
                &self.tier_review_of,
                &self.review_answer,
                &self.model_entry,
                &self.model_match,
                &self.api_key,
                &self.deployment,
                &self.tries,
            ]
            .into_iter()
            .map(opt)
            .sum::<usize>()
    }

    /// What answered the request: the one place the route and the escalation flag are read together.
    pub fn served(&self) -> Served {
        match (self.route, self.escalated) {
            (RouteTaken::Search, _) => Served::Search,
            (RouteTaken::Cache, _) => Served::Cache,
            (RouteTaken::Llm, true) => Served::Escalated,
            (RouteTaken::Llm, false) => Served::Llm,
            (RouteTaken::Passthrough, _) => Served::Passthrough,
            (RouteTaken::Unrouted, _) => Served::Unrouted,
        }
    }
}

/// The energy figures of a row, computed by the writer from the facts above.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Accounting {
    pub costs: RequestCosts,
    /// Output tokens the avoided LLM call was assumed to write (search answers only).
    pub counterfactual_tokens: Option<f64>,
    /// Whether that figure came from this ledger's history for the model (else the stated default).
    pub tokens_from_history: bool,
    /// Shadow mode: what answering from search would have saved, against the LLM answer given.
    pub shadow_saved: Option<crate::energy::Impacts>,
    /// A model tier in shadow mode: what the cheaper model would have saved at this answer's length.
    #[serde(default)]
    pub tier_shadow_saved: Option<crate::energy::Impacts>,
    /// The low and high ends of `counterfactual_tokens` (the prior's, or history's 95% interval).
    #[serde(default)]
    pub counterfactual_tokens_bounds: Option<[f64; 2]>,
}
