//! Energy model, pure: what an LLM call costs, following EcoLogits' "LLM inference" method
//! (genai-impact/ecologits, as released in ecologits 0.11.3), and what a local search costs,
//! from measured CPU time. Every figure is a [`Range`] (low, central, high).
//!
//! LLM request energy, for `T` output tokens on a model with `P_active` and `P_total` billion
//! parameters (each a range when the architecture is not public):
//!
//! - GPU energy per token (Wh) = α·exp(β·B)·P_active + γ, with B = 64 requests batched per server;
//! - GPUs needed = 2^⌈log2 ⌈1.2·P_total·16/8 / 80 GB⌉⌉ (16-bit weights, 20% overhead, A100/H100 80 GB);
//! - generation time = T / tps + ttft when the model's throughput is known, else
//!   T·(A·P_active + B'·B + C) seconds;
//! - server energy (without GPUs) = time · 1.2 kW · GPUs/8 / B;
//! - request energy = PUE · (server + GPUs · T · per-token GPU energy), PUE 1.2;
//! - embodied emissions = generation time · (GPUs/8 · 5,700 kg + GPUs · 273 kg) / (3 years · B):
//!   the manufacturing of the server and its GPUs, shared over their life and the batch, as
//!   EcoLogits adds to the usage emissions in its headline `gwp`.
//!
//! The low end of the range uses the low parameter estimates, the high end the high ones; central is
//! their mean. The constants are EcoLogits' regressions, unchanged.

pub(crate) mod accounting;
pub(crate) mod catalogue;

use serde::{Deserialize, Serialize};

pub(crate) use accounting::{
    account, Impacts, LocalSettings, LocalWork, Measured, Outcome, RequestCosts, Site, TokenHistory,
};
pub(crate) use catalogue::{Catalogue, Zone};

/// The energy model's inputs: the catalogue (models, providers, zones) and the local settings.
#[derive(Debug, Clone, Serialize)]
pub struct EnergyConfig {
    /// Shipped data plus a team's overlay; `/admin/config` shows its version only.
    #[serde(serialize_with = "catalogue_version")]
    pub catalogue: std::sync::Arc<Catalogue>,
    #[serde(flatten)]
    pub local: LocalSettings,
    /// GPU energy counters of self-hosted models.
    pub meters: Vec<MeterSpec>,
}

fn catalogue_version<S: serde::Serializer>(c: &std::sync::Arc<Catalogue>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&c.version())
}

/// A GPU energy counter read from a Prometheus endpoint, and the models it meters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeterSpec {
    pub url: String,
    /// The cumulative counter, summed over its series (one per GPU).
    pub metric: String,
    /// The counter's unit, and Wh per unit.
    pub unit: String,
    pub wh_per_unit: f64,
    /// Model names (as clients send them) served on these GPUs.
    pub models: Vec<String>,
    pub scrape_interval_ms: u64,
    pub site: Site,
}

impl MeterSpec {
    pub(crate) fn meters(&self, model: &str) -> bool {
        self.models.iter().any(|m| m.eq_ignore_ascii_case(model))
    }
}

/// Which of the meters, if any, measures the GPUs that serve `model`.
pub(crate) fn meter_for(meters: &[MeterSpec], model: &str) -> Option<usize> {
    meters.iter().position(|m| m.meters(model))
}

/// Everything the figures of a ledger row depend on besides the row itself, as recorded once per
/// [`EnergySettings::hash`] in the ledger: rows written under different settings can be told
/// apart, and a report states the settings it covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergySettings {
    pub method_version: String,
    pub catalogue_version: String,
    pub zone: String,
    pub zone_name: String,
    pub zone_gco2e_per_kwh: f64,
    pub zone_water_l_per_kwh: f64,
    pub pue: f64,
    pub watts_per_core: [f64; 2],
    pub onsite_wue_l_per_kwh: f64,
    pub embodied_g_per_core_hour: [f64; 2],
    pub search_wh_per_query: Option<[f64; 2]>,
    pub lookup_answer_tokens: [f64; 3],
    /// The proxy host's baseline draw, W; absent when not configured (and then out of the JSON,
    /// so the hash of settings from before it existed is unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_watts: Option<[f64; 2]>,
    /// How the length of an avoided answer is estimated, in words.
    pub counterfactual_basis: String,
    /// Each meter as "url (metric, unit) for models; PUE; zone".
    pub meters: Vec<String>,
}

impl EnergyConfig {
    pub fn settings(&self) -> EnergySettings {
        let l = &self.local;
        let tokens = l.lookup_answer_tokens;
        EnergySettings {
            method_version: METHOD_VERSION.into(),
            catalogue_version: self.catalogue.version(),
            zone: l.zone.code.clone(),
            zone_name: l.zone.name.clone(),
            zone_gco2e_per_kwh: l.zone.gco2e_per_kwh,
            zone_water_l_per_kwh: l.zone.water_l_per_kwh,
            pue: l.pue,
            watts_per_core: [l.watts_per_core.0, l.watts_per_core.1],
            onsite_wue_l_per_kwh: l.onsite_wue_l_per_kwh,
            embodied_g_per_core_hour: [l.embodied_g_per_core_hour.0, l.embodied_g_per_core_hour.1],
            search_wh_per_query: l.search_wh_per_query.map(|r| [r.low, r.high]),
            lookup_answer_tokens: [tokens.low, tokens.central, tokens.high],
            host_watts: l.host_watts.map(|(low, high)| [low, high]),
            counterfactual_basis: format!(
                "mean length (±2 standard errors) of the model's LLM answers to lookups in this ledger once there are {}; before that the prior {}–{} tokens, central {}",
                accounting::MIN_HISTORY_SAMPLES,
                tokens.low,
                tokens.high,
                tokens.central
            ),
            meters: self
                .meters
                .iter()
                .map(|m| {
                    format!(
                        "{} ({}, {}) for {}; PUE {}–{}; zone {}",
                        m.url,
                        m.metric,
                        m.unit,
                        m.models.join(", "),
                        m.site.pue[0],
                        m.site.pue[1],
                        m.site.zone.code
                    )
                })
                .collect(),
        }
    }
}

impl EnergySettings {
    /// A short, stable hash of the settings (SHA-256 of their JSON, 12 hex digits).
    pub(crate) fn hash(&self) -> String {
        use sha2::Digest;
        let json = serde_json::to_string(self).unwrap_or_default();
        sha2::Sha256::digest(json.as_bytes())
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Names the method behind every figure in the ledger and reports.
/// Version 2 adds the embodied emissions of hardware to CO2e (version-1 rows carry usage only).
/// Version 3 puts an avoided call's central at the central length (version-2 rows on the prior
/// took the midpoint of the range's ends, 1.7–3× higher) and books avoided calls on metered GPUs
/// at their marginal energy; rows name the method they were computed under, so reports over a
/// ledger that spans both can tell them apart.
pub const METHOD_VERSION: &str = "ecoroute-energy-3 (EcoLogits LLM inference with embodied emissions, ecologits 0.11.3; central at the central length; marginal energy for avoided calls on metered GPUs)";

const GPU_ENERGY_ALPHA: f64 = 1.166_527_317_045_191_4e-6;
const GPU_ENERGY_BETA: f64 = -0.011_205_921_025_579_175;
const GPU_ENERGY_GAMMA: f64 = 4.052_928_146_734_005e-5;
const LATENCY_ALPHA: f64 = 0.000_678_508_809_435_366_3;
const LATENCY_BETA: f64 = 0.000_311_931_031_168_825_9;
const LATENCY_GAMMA: f64 = 0.019_473_717_579_473_387;
const QUANTIZATION_BITS: f64 = 16.0;
const GPU_MEMORY_GB: f64 = 80.0;
const SERVER_GPUS: f64 = 8.0;
const SERVER_POWER_KW: f64 = 1.2;
const BATCH_SIZE: f64 = 64.0;
// The tests' PUE; served figures take theirs from the config.
#[cfg(test)]
const DEFAULT_PUE: f64 = 1.2;
/// Manufacturing emissions (kgCO2e) of one H100-class GPU and of an 8-GPU server without its
/// GPUs, and their life: EcoLogits 0.11.3 `impacts/llm.py`.
const GPU_EMBODIED_KGCO2E: f64 = 273.0;
const SERVER_EMBODIED_KGCO2E: f64 = 5_700.0;
const HARDWARE_LIFESPAN_S: f64 = 3.0 * 365.0 * 24.0 * 3600.0;

/// A figure with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Range {
    pub low: f64,
    pub central: f64,
    pub high: f64,
}

impl Range {
    pub(crate) fn new(low: f64, high: f64) -> Range {
        let (low, high) = if low <= high { (low, high) } else { (high, low) };
        Range {
            low,
            central: (low + high) / 2.0,
            high,
        }
    }

    pub(crate) fn exact(v: f64) -> Range {
        Range {
            low: v,
            central: v,
            high: v,
        }
    }

    pub(crate) fn scale(self, k: f64) -> Range {
        Range {
            low: self.low * k,
            central: self.central * k,
            high: self.high * k,
        }
    }

    /// What is left of this saving after a cost, both uncertain and independent: the low end takes
    /// the cost's high end off, the high end its low end, so the range widens rather than narrows.
    pub(crate) fn net_of(self, cost: Range) -> Range {
        Range {
            low: self.low - cost.high,
            central: self.central - cost.central,
            high: self.high - cost.low,
        }
    }
}

impl std::ops::Add for Range {
    type Output = Range;

    fn add(self, other: Range) -> Range {
        Range {
            low: self.low + other.low,
            central: self.central + other.central,
            high: self.high + other.high,
        }
    }
}

/// The parts of a model that the method needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LlmProfile {
    /// Billions of parameters used per token (low, high).
    pub active_b: (f64, f64),
    /// Billions of parameters held in GPU memory (low, high).
    pub total_b: (f64, f64),
    /// Measured output tokens per second, if known.
    pub tps: Option<f64>,
    /// Measured time to first token in seconds, if known.
    pub ttft_s: Option<f64>,
}

/// The energy breakdown of one LLM call at one parameter point, in Wh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LlmPoint {
    pub gpus: f64,
    pub generation_s: f64,
    pub gpu_wh: f64,
    pub server_wh: f64,
    pub request_wh: f64,
    /// The request's share of the hardware's manufacturing emissions, g CO2e.
    pub embodied_g: f64,
}

fn gpus_required(total_b: f64) -> f64 {
    let memory_gb = 1.2 * total_b * QUANTIZATION_BITS / 8.0;
    let gpus = (memory_gb / GPU_MEMORY_GB).ceil().max(1.0);
    2f64.powf(gpus.log2().ceil())
}

/// One point of the method: given parameter counts, output tokens and (optionally) the measured
/// request latency, which bounds the generation time from above.
pub(crate) fn llm_point(
    active_b: f64,
    total_b: f64,
    profile: &LlmProfile,
    output_tokens: f64,
    request_latency_s: Option<f64>,
    pue: f64,
) -> LlmPoint {
    let per_token_wh = gpu_wh_per_token(active_b, BATCH_SIZE);
    let gpu_wh = output_tokens * per_token_wh;
    let modelled_s = match profile.tps.filter(|t| *t > 0.0) {
        Some(tps) => output_tokens / tps + profile.ttft_s.unwrap_or(0.0),
        None => output_tokens * (LATENCY_ALPHA * active_b + LATENCY_BETA * BATCH_SIZE + LATENCY_GAMMA),
    };
    let generation_s = match request_latency_s {
        Some(measured) if measured < modelled_s => measured,
        _ => modelled_s,
    };
    let gpus = gpus_required(total_b);
    let server_wh = generation_s / 3600.0 * SERVER_POWER_KW * 1000.0 * (gpus / SERVER_GPUS) / BATCH_SIZE;
    LlmPoint {
        gpus,
        generation_s,
        gpu_wh,
        server_wh,
        request_wh: pue * (server_wh + gpus * gpu_wh),
        embodied_g: embodied_g(gpus, generation_s),
    }
}

/// A request's share of the manufacturing emissions of the server and GPUs it ran on: the
/// hardware's emissions over its life, times the generation time, over the batch it shared.
pub(crate) fn embodied_g(gpus: f64, generation_s: f64) -> f64 {
    let hardware_kg = gpus / SERVER_GPUS * SERVER_EMBODIED_KGCO2E + gpus * GPU_EMBODIED_KGCO2E;
    generation_s * hardware_kg * 1000.0 / (HARDWARE_LIFESPAN_S * BATCH_SIZE)
}

/// EcoLogits' GPU energy per output token (Wh) at a batch size: the regression fitted on measured
/// H100 inference energy. Exposed so it can be held against measurements.
fn gpu_wh_per_token(active_b: f64, batch: f64) -> f64 {
    GPU_ENERGY_ALPHA * (GPU_ENERGY_BETA * batch).exp() * active_b + GPU_ENERGY_GAMMA
}

/// Energy of one LLM call, in Wh, as a range over the model's parameter estimates.
// The tests check the range through this; the ledger goes through the accounting.
#[cfg(test)]
fn llm_energy_wh(profile: &LlmProfile, output_tokens: f64, request_latency_s: Option<f64>, pue: f64) -> Range {
    let low = llm_point(
        profile.active_b.0,
        profile.total_b.0,
        profile,
        output_tokens,
        request_latency_s,
        pue,
    );
    let high = llm_point(
        profile.active_b.1,
        profile.total_b.1,
        profile,
        output_tokens,
        request_latency_s,
        pue,
    );
    Range::new(low.request_wh, high.request_wh)
}

/// Energy of work done on our own CPU, from its measured CPU time: seconds × watts per busy core
/// (a range, e.g. 5–15 W for a modern server core) × PUE.
pub(crate) fn cpu_energy_wh(cpu_seconds: f64, watts_per_core: (f64, f64), pue: f64) -> Range {
    Range::new(
        cpu_seconds * watts_per_core.0 / 3600.0 * pue,
        cpu_seconds * watts_per_core.1 / 3600.0 * pue,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gpt_4o() -> LlmProfile {
        LlmProfile {
            active_b: (44.0, 132.0),
            total_b: (440.0, 440.0),
            tps: Some(74.0),
            ttft_s: Some(0.61),
        }
    }

    fn gpt_4o_mini() -> LlmProfile {
        LlmProfile {
            active_b: (8.0, 28.0),
            total_b: (8.0, 28.0),
            tps: Some(79.0),
            ttft_s: Some(0.54),
        }
    }

    fn within(value: f64, expected: f64, tolerance: f64) -> bool {
        (value - expected).abs() <= expected * tolerance
    }

    /// EcoLogits' own figures for 300 output tokens (computed with ecologits 0.11.3, world mix,
    /// PUE 1.2): gpt-4o 0.436–0.725 Wh, gpt-4o-mini 0.0196–0.0237 Wh. We reproduce them to 1%.
    #[test]
    fn reproduces_ecologits_for_gpt_4o_and_mini() {
        let e = llm_energy_wh(&gpt_4o(), 300.0, None, DEFAULT_PUE);
        assert!(within(e.low, 0.436_06, 0.01) && within(e.high, 0.724_69, 0.01), "{e:?}");
        let e = llm_energy_wh(&gpt_4o_mini(), 300.0, None, DEFAULT_PUE);
        assert!(within(e.low, 0.019_62, 0.01) && within(e.high, 0.023_72, 0.01), "{e:?}");
    }

    /// The same method without throughput data (modelled latency), as EcoLogits computes it:
    /// gpt-4o at 44B active gives 0.6376 Wh, 16 GPUs, 20.79 s.
    #[test]
    fn reproduces_ecologits_intermediates_without_throughput() {
        let profile = LlmProfile {
            tps: None,
            ttft_s: None,
            ..gpt_4o()
        };
        let p = llm_point(44.0, 440.0, &profile, 300.0, None, DEFAULT_PUE);
        assert_eq!(p.gpus, 16.0);
        assert!(within(p.generation_s, 20.7875, 0.001), "{p:?}");
        assert!(within(p.request_wh, 0.637_605, 0.001), "{p:?}");
    }

    /// Independent published estimates use other methods, and EcoLogits sits above them: Epoch AI
    /// puts a typical GPT-4o query (about 500 output tokens) at about 0.3 Wh, where EcoLogits gives
    /// 0.73–1.2 Wh; Google measured 0.24 Wh for the median Gemini text prompt. Epoch estimates from
    /// FLOPs on H100s, Google measures its own fleet; EcoLogits fits its regression to the ML.ENERGY
    /// leaderboard's measured H100 energy. We
    /// follow EcoLogits (the method the ledger names) and pin the gap at under a factor of 4. Since a
    /// higher LLM estimate means a larger saving, savings from EcoLogits' central figure are at the
    /// generous end: the low end of each range is the conservative claim, and reports must say so.
    #[test]
    fn independent_estimates_are_within_a_stated_factor() {
        // Both ends of each range, not only the central (the energy audit's re-check): the low end
        // is the figure reports tell a manager to quote. `-- --nocapture` prints the ratios.
        let c = catalogue::Catalogue::builtin().unwrap();
        for (model, tokens, anchor, who) in [
            ("gpt-4o", 500.0, 0.3, "Epoch's 0.3 Wh"),
            ("gemini-2.5-flash", 300.0, 0.24, "Google's 0.24 Wh"),
        ] {
            let r = llm_energy_wh(&c.resolve(model).spec.profile(), tokens, None, DEFAULT_PUE);
            let (low, central, high) = (r.low / anchor, r.central / anchor, r.high / anchor);
            eprintln!("{model}, {tokens} tokens: {low:.2}× / {central:.2}× / {high:.2}× {who}");
            assert!(
                low >= 1.0 && central < 4.0 && high <= 4.5,
                "{model}: {low:.2}–{high:.2}× {who}"
            );
        }
    }

    /// EcoLogits' embodied emissions for 300 tokens (ecologits 0.11.3, `llm_impacts(...).embodied.gwp`):
    /// gpt-4o 0.012146 g (16 GPUs for 4.66 s), gpt-4o-mini 0.000706 g (1 GPU).
    #[test]
    fn reproduces_ecologits_embodied_emissions() {
        let p = llm_point(44.0, 440.0, &gpt_4o(), 300.0, None, DEFAULT_PUE);
        assert!(within(p.embodied_g, 0.012_146, 0.001), "{p:?}");
        let p = llm_point(8.0, 8.0, &gpt_4o_mini(), 300.0, None, DEFAULT_PUE);
        assert!(within(p.embodied_g, 0.000_706, 0.001), "{p:?}");
    }

    /// Held against the H100 measurement in `tests/fixtures/energy/h100_generate_energy.json`
    /// (one board, NVML energy counter, 256 tokens per sequence): at the batch of 64 the formula
    /// assumes, it is within 0.7–1.5× of the measured energy per token for the 1B and 8B shapes;
    /// at batch 1 the board's static power falls on far fewer tokens and the measurement is over
    /// ten times the formula. That is why self-hosted traffic should be measured, not estimated.
    #[test]
    /// The figures docs/energy.md quotes: `cargo test --lib the_per_token_formula -- --nocapture`
    /// prints each ratio of the H100 measurement to the formula.
    fn the_per_token_formula_holds_at_batch_64_and_not_at_batch_1() {
        let data: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/energy/h100_generate_energy.json")).unwrap();
        let runs = data["runs"].as_array().unwrap();
        let measured = |model: &str, batch: u64| {
            runs.iter()
                .find(|r| r["model"] == model && r["batch"] == batch)
                .and_then(|r| Some((r["params_b"].as_f64()?, r["wh_per_output_token"].as_f64()?)))
                .unwrap()
        };
        let ratio = |model: &str, batch: u64| {
            let (params, wh) = measured(model, batch);
            let ratio = wh / gpu_wh_per_token(params, 64.0);
            eprintln!("{model} eager, batch {batch}: measured / formula = {ratio:.2}");
            ratio
        };
        for model in ["llama-3.2-1b", "llama-3.1-8b"] {
            let at_64 = ratio(model, 64);
            assert!((0.7..1.5).contains(&at_64), "{model} at batch 64: {at_64:.2}");
            assert!(ratio(model, 1) > 10.0, "{model} at batch 1");
        }
        // The 32B shape at batch 64 is further off (eager generate reaches 486 tokens/s there): the
        // formula is not a bound, which is why a metered GPU's energy replaces it.
        let qwen = ratio("qwen2.5-32b", 64);
        assert!((2.0..5.0).contains(&qwen), "qwen2.5-32b at batch 64: {qwen:.2}");
        // Compiled, closer to a production server: batch 1 still costs an order of magnitude more.
        let compiled: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/energy/h100_generate_energy_compiled.json"
        ))
        .unwrap();
        let batch_1 = compiled["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["batch"] == 1)
            .and_then(|r| r["wh_per_output_token"].as_f64())
            .unwrap();
        let (params, _) = measured("llama-3.1-8b", 1);
        let compiled_ratio = batch_1 / gpu_wh_per_token(params, 64.0);
        eprintln!("llama-3.1-8b compiled, batch 1: measured / formula = {compiled_ratio:.2}");
        assert!((10.0..40.0).contains(&compiled_ratio), "{compiled_ratio:.2}");
    }

    #[test]
    fn measured_latency_caps_the_generation_time() {
        let free = llm_point(44.0, 440.0, &gpt_4o(), 300.0, None, DEFAULT_PUE);
        let capped = llm_point(44.0, 440.0, &gpt_4o(), 300.0, Some(1.0), DEFAULT_PUE);
        assert_eq!(capped.generation_s, 1.0);
        assert!(capped.request_wh < free.request_wh);
    }

    #[test]
    fn net_savings_widen_with_the_cost_uncertainty() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        let net = Range::new(0.4, 0.8).net_of(Range::new(0.01, 0.05));
        assert!(
            close(net.low, 0.35) && close(net.central, 0.57) && close(net.high, 0.79),
            "{net:?}"
        );
        let total = Range::new(0.4, 0.8) + Range::exact(0.1);
        assert!(
            close(total.low, 0.5) && close(total.central, 0.7) && close(total.high, 0.9),
            "{total:?}"
        );
    }

    #[test]
    fn gpu_count_rounds_up_to_a_power_of_two() {
        assert_eq!(gpus_required(8.0), 1.0);
        assert_eq!(gpus_required(28.0), 1.0);
        assert_eq!(gpus_required(70.0), 4.0); // 168 GB → 3 GPUs → 4
        assert_eq!(gpus_required(440.0), 16.0); // 1056 GB → 14 → 16
    }

    #[test]
    fn search_on_a_cpu_costs_microwatt_hours() {
        let e = cpu_energy_wh(100e-6, (5.0, 15.0), 1.2);
        assert!(e.high < 1e-6, "100 µs of CPU is under a microwatt-hour: {e:?}");
        assert!(e.low > 0.0);
    }

    proptest! {
        #[test]
        fn energy_grows_with_tokens_and_parameters(tokens in 1.0f64..4000.0, extra in 1.0f64..1000.0, active in 1.0f64..500.0) {
            let p = LlmProfile { active_b: (active, active * 2.0), total_b: (active * 2.0, active * 4.0), tps: None, ttft_s: None };
            let a = llm_energy_wh(&p, tokens, None, DEFAULT_PUE);
            let b = llm_energy_wh(&p, tokens + extra, None, DEFAULT_PUE);
            prop_assert!(a.low <= a.central && a.central <= a.high);
            prop_assert!(b.central > a.central);
            let bigger = LlmProfile { active_b: (active * 2.0, active * 4.0), ..p };
            prop_assert!(llm_energy_wh(&bigger, tokens, None, DEFAULT_PUE).central > a.central);
        }
    }
}
