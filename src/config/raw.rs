//! Stage one of config loading: the TOML file as serde sees it. Every table denies unknown fields so
//! a typo is an error at load time rather than a silently ignored setting. Defaults live here, next
//! to the field they belong to; the meaning of each field is documented in `config/ecoroute.toml`.

use serde::Deserialize;

use crate::classify::Guards;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub llm: RawLlm,
    #[serde(default)]
    pub search: RawSearch,
    #[serde(default)]
    pub classifier: RawClassifier,
    #[serde(default)]
    pub guards: Guards,
    #[serde(default)]
    pub rules: Vec<RawRule>,
    #[serde(default)]
    pub ledger: RawLedger,
    #[serde(default)]
    pub energy: RawEnergy,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub routing: RawRouting,
    #[serde(default)]
    pub cache: RawCache,
    #[serde(default)]
    pub tiers: Vec<RawTier>,
    #[serde(default)]
    pub tenant: Vec<RawTenant>,
    #[serde(default)]
    pub keys: Vec<super::keys::RawKey>,
    #[serde(default)]
    pub limits: super::keys::RawLimitsTable,
    #[serde(default)]
    pub telemetry: super::telemetry::RawTelemetry,
}

/// `[[tiers]]`: a cheaper model that may serve some requests for a model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTier {
    pub model: String,
    pub cheaper: String,
    #[serde(default = "default_tier_tasks")]
    pub tasks: Vec<String>,
    #[serde(default = "default_tier_max_chars")]
    pub max_chars: usize,
    #[serde(default = "default_tier_mode")]
    pub mode: String,
    /// Requests whose last user message matches are served too, whatever their task.
    #[serde(default)]
    pub last_user_regex: Option<String>,
    /// In shadow mode, the share of would-be downgrades also sent to the cheaper model after the
    /// client has its answer, so a team can compare both (its cost is counted).
    #[serde(default)]
    pub review_sample: f64,
    /// Requests the difficulty router scores at or under this probability (that the cheaper
    /// model's answer is worse) are served too, whatever their task.
    #[serde(default)]
    pub max_difficulty: Option<f64>,
}

fn default_tier_tasks() -> Vec<String> {
    ["extraction", "classification", "short_rewrite", "translation"]
        .map(String::from)
        .to_vec()
}

fn default_tier_max_chars() -> usize {
    2000
}

fn default_tier_mode() -> String {
    "shadow".into()
}

/// `[cache]`: the response cache.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawCache {
    pub enabled: bool,
    pub max_bytes: usize,
    pub ttl_s: u64,
    /// "never", "deterministic" or "always".
    pub llm: String,
    pub near_duplicates: bool,
}

impl Default for RawCache {
    fn default() -> Self {
        Self {
            enabled: true,
            max_bytes: 64 * 1024 * 1024,
            ttl_s: 3600,
            llm: "deterministic".into(),
            near_duplicates: true,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawRouting {
    pub mode: String,
}

impl Default for RawRouting {
    fn default() -> Self {
        Self { mode: "route".into() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTenant {
    pub name: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub lookup_threshold: Option<f64>,
    /// A regex over the system prompt: the tenant's prompts that allow plain sourced answers.
    #[serde(default)]
    pub search_compatible_system: Option<String>,
    /// The tenant's own cache TTL and LLM-answer reuse.
    #[serde(default)]
    pub cache_ttl_s: Option<u64>,
    #[serde(default)]
    pub cache_llm: Option<String>,
    /// The tenant's own tier mode: "route", "shadow" or "off".
    #[serde(default)]
    pub tiers: Option<String>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawAdmin {
    /// Environment variable holding the admin bearer token; admin endpoints are off without one.
    pub token_env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawEnergy {
    pub zone: String,
    pub pue: f64,
    pub watts_per_core: [f64; 2],
    pub onsite_wue_l_per_kwh: f64,
    /// [low, central, high] output tokens of an avoided answer to a lookup, until there is history.
    pub lookup_answer_tokens: [f64; 3],
    /// Replaced by `lookup_answer_tokens`; read only to say so.
    pub default_output_tokens: Option<f64>,
    /// Manufacturing emissions of the proxy's host per busy core-hour, g CO2e [low, high].
    pub embodied_g_per_core_hour: [f64; 2],
    /// The proxy host's baseline draw, W [low, high], charged over wall time to the requests
    /// served; unset, only busy CPU time is counted.
    pub host_watts: Option<[f64; 2]>,
    /// A team's own `[[model]]`/`[[provider]]` file, added to the shipped catalogue.
    pub catalogue: Option<String>,
    /// A team's `[[price]]` file: contract prices, or prices the catalogue lacks.
    pub prices: Option<String>,
    /// GPU energy counters of self-hosted models.
    pub meter: Vec<RawMeter>,
}

impl Default for RawEnergy {
    fn default() -> Self {
        Self {
            zone: "WOR".into(),
            pue: 1.56,
            watts_per_core: [4.0, 12.0],
            onsite_wue_l_per_kwh: 0.0,
            lookup_answer_tokens: [20.0, 50.0, 150.0],
            default_output_tokens: None,
            embodied_g_per_core_hour: [1.9, 3.4],
            host_watts: None,
            catalogue: None,
            prices: None,
            meter: Vec::new(),
        }
    }
}

/// `[[energy.meter]]`: a Prometheus endpoint exposing a cumulative energy counter for the GPUs
/// that serve some models (NVIDIA's DCGM exporter, or any NVML exporter).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMeter {
    pub url: String,
    #[serde(default = "default_meter_metric")]
    pub metric: String,
    #[serde(default = "default_meter_unit")]
    pub unit: String,
    pub models: Vec<String>,
    #[serde(default = "default_scrape_interval_ms")]
    pub scrape_interval_ms: u64,
    #[serde(default = "default_meter_pue")]
    pub pue: [f64; 2],
    #[serde(default)]
    pub wue_l_per_kwh: [f64; 2],
    /// The grid the GPUs draw from; `energy.zone` when unset.
    #[serde(default)]
    pub zone: Option<String>,
}

fn default_meter_metric() -> String {
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION".into()
}

fn default_meter_unit() -> String {
    "mJ".into()
}

fn default_scrape_interval_ms() -> u64 {
    5_000
}

fn default_meter_pue() -> [f64; 2] {
    [1.1, 1.56]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawServer {
    pub listen: String,
    pub max_body_bytes: usize,
    pub max_messages: usize,
    pub max_concurrency: usize,
    pub shutdown_grace_ms: u64,
    pub drain_delay_ms: u64,
    pub max_connections: usize,
    pub header_read_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub http2_keep_alive_interval_ms: u64,
    pub http2_keep_alive_timeout_ms: u64,
    pub body_read_timeout_ms: u64,
    pub max_headers: usize,
    pub max_header_bytes: usize,
    pub worker_threads: usize,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 4 * 1024 * 1024,
            max_messages: 2048,
            max_concurrency: 1024,
            shutdown_grace_ms: 30_000,
            drain_delay_ms: 0,
            max_connections: 4096,
            worker_threads: 0,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
            http2_keep_alive_interval_ms: 30_000,
            http2_keep_alive_timeout_ms: 20_000,
            body_read_timeout_ms: 30_000,
            max_headers: 100,
            max_header_bytes: 64 * 1024,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLlm {
    pub base_url: String,
    pub api_key_env: Option<String>,
    /// The pass-through requests ("METHOD /v1/path") allowed where the operator's key is sent.
    pub passthrough: Vec<String>,
    pub connect_timeout_ms: u64,
    pub first_byte_timeout_ms: u64,
    pub total_timeout_ms: u64,
    pub anthropic: RawAnthropicLlm,
    /// `[[llm.deployments]]`: several upstreams; none means `[llm]` and `[llm.anthropic]` alone.
    pub deployments: Vec<super::llm::RawDeployment>,
    /// `[llm.retry]`: how a failed try is repeated.
    pub retry: super::llm::RawRetry,
    /// `[llm.fallback_models]`: the models to try, in order, when every deployment of one failed.
    pub fallback_models: std::collections::BTreeMap<String, Vec<String>>,
}

/// `[llm.anthropic]`: where `POST /v1/messages` goes; the timeouts are `[llm]`'s.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawAnthropicLlm {
    pub base_url: String,
    pub api_key_env: Option<String>,
}

impl Default for RawAnthropicLlm {
    fn default() -> Self {
        Self {
            base_url: "https://api.anthropic.com/v1".into(),
            api_key_env: None,
        }
    }
}

impl Default for RawLlm {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".into(),
            api_key_env: None,
            passthrough: super::llm::DEFAULT_PASSTHROUGH
                .iter()
                .map(|e| (*e).to_string())
                .collect(),
            connect_timeout_ms: 5_000,
            first_byte_timeout_ms: 60_000,
            total_timeout_ms: 600_000,
            anthropic: RawAnthropicLlm::default(),
            deployments: Vec::new(),
            retry: super::llm::RawRetry::default(),
            fallback_models: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawSearch {
    pub backend: String,
    pub index_dir: String,
    pub corpus: String,
    pub min_confidence: f64,
    pub reader_threshold: Option<f64>,
    pub top_k: usize,
    pub timeout_ms: u64,
    pub threads: usize,
    pub rival_score_ratio: f64,
    pub rival_margin: f64,
    pub wh_per_query: Option<[f64; 2]>,
    /// Languages besides English answered from search: `<language_dir>/<code>.toml` each.
    pub languages: Vec<String>,
    pub language_dir: String,
    pub circuit_breaker: RawBreaker,
    pub elasticsearch: Option<RawElasticsearch>,
    pub http: Option<RawHttpSearch>,
    pub postgres: Option<RawPgSearch>,
}

impl Default for RawSearch {
    fn default() -> Self {
        Self {
            backend: "embedded".into(),
            index_dir: "data/index".into(),
            corpus: "corpus/default.jsonl.gz".into(),
            min_confidence: 0.8,
            reader_threshold: None,
            top_k: 5,
            timeout_ms: 200,
            threads: 0,
            rival_score_ratio: 0.5,
            rival_margin: 0.05,
            wh_per_query: None,
            languages: Vec::new(),
            language_dir: "lang".into(),
            circuit_breaker: RawBreaker::default(),
            elasticsearch: None,
            http: None,
            postgres: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawBreaker {
    pub failure_threshold: u32,
    pub open_ms: u64,
}

impl Default for RawBreaker {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_ms: 30_000,
        }
    }
}

/// `[search.elasticsearch]`, also used for OpenSearch (same `_search` API).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawElasticsearch {
    pub url: String,
    pub index: String,
    #[serde(default = "default_es_fields")]
    pub fields: Vec<String>,
    #[serde(default = "default_title")]
    pub title_field: String,
    #[serde(default = "default_text")]
    pub text_field: String,
    #[serde(default)]
    pub url_field: Option<String>,
    /// A JSON body replacing the default `multi_match` query; strings may hold {{query}}, {{limit}}.
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub source_name: Option<String>,
}

fn default_es_fields() -> Vec<String> {
    vec!["title^2".into(), "text".into()]
}

fn default_title() -> String {
    "title".into()
}

fn default_text() -> String {
    "text".into()
}

/// `[search.http]`: any JSON search API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttpSearch {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Header name → environment variable holding its value (API keys), or a template such as
    /// `Bearer ${VAR}`.
    #[serde(default)]
    pub header_env: std::collections::BTreeMap<String, String>,
    pub results: String,
    pub title: String,
    pub text: String,
    #[serde(default)]
    pub url_field: Option<String>,
    #[serde(default)]
    pub score: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub source_name: Option<String>,
    /// Answer boxes read before the results (SearxNG `answers`/`infoboxes`, Brave `infobox`/`faq`).
    #[serde(default)]
    pub boxes: Vec<RawAnswerBox>,
}

/// `[[search.http.boxes]]`: where a web search API puts its direct answers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAnswerBox {
    /// Pointer to an array of boxes (or to one box).
    pub results: String,
    /// Pointer to the box's title; without it, the box answers the question as asked.
    #[serde(default)]
    pub title: Option<String>,
    /// Pointer to the answer's text; "" for a box that is a string itself.
    pub text: String,
    #[serde(default)]
    pub url_field: Option<String>,
}

fn default_method() -> String {
    "GET".into()
}

/// `[search.postgres]`: full-text search in a PostgreSQL table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawPgSearch {
    pub url: Option<crate::redact::Secret<String>>,
    pub url_env: Option<String>,
    pub table: String,
    pub id_column: String,
    pub title_column: String,
    pub text_column: String,
    pub url_column: Option<String>,
    pub tsvector_column: String,
    pub language: String,
    pub pool_size: usize,
    pub source_name: Option<String>,
}

impl Default for RawPgSearch {
    fn default() -> Self {
        Self {
            url: None,
            url_env: None,
            table: "documents".into(),
            id_column: "id".into(),
            title_column: "title".into(),
            text_column: "body".into(),
            url_column: Some("url".into()),
            tsvector_column: "tsv".into(),
            language: "english".into(),
            pool_size: 8,
            source_name: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawClassifier {
    pub lookup_threshold: f64,
    pub model: String,
    pub allow_search_override: bool,
}

impl Default for RawClassifier {
    fn default() -> Self {
        Self {
            lookup_threshold: 0.915,
            model: "builtin".into(),
            allow_search_override: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub name: String,
    pub route: String,
    pub last_user_regex: Option<String>,
    pub system_regex: Option<String>,
    pub has_tools: Option<bool>,
    pub has_media: Option<bool>,
    pub has_response_format: Option<bool>,
    pub min_turns: Option<usize>,
    pub max_turns: Option<usize>,
    pub min_chars: Option<usize>,
    pub max_chars: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLedger {
    pub enabled: bool,
    pub path: String,
    /// A PostgreSQL ledger instead of the SQLite file: `postgres://...`, or the variable holding it.
    pub url: Option<crate::redact::Secret<String>>,
    pub url_env: Option<String>,
    /// Where rows go while the database cannot take them; "" for nowhere (rows are then counted as
    /// dropped). Default: beside the SQLite file; none for PostgreSQL (nothing on local disk).
    pub spool: Option<String>,
    pub store_prompts: bool,
    pub tenant_header: String,
    pub channel_capacity: usize,
    /// The most the rows waiting for the writer may hold in memory, in bytes.
    pub channel_max_bytes: usize,
    pub batch_size: usize,
    /// Rows older than this many days are deleted; unset keeps every row.
    pub retention_days: Option<u32>,
}

impl Default for RawLedger {
    fn default() -> Self {
        Self {
            enabled: true,
            path: "data/ledger.sqlite".into(),
            url: None,
            url_env: None,
            spool: None,
            store_prompts: false,
            tenant_header: "x-ecoroute-tenant".into(),
            channel_capacity: 65_536,
            channel_max_bytes: 64 << 20,
            batch_size: 512,
            retention_days: None,
        }
    }
}
