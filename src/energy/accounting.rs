//! Per-request accounting, pure: what a request actually cost (energy, CO2e, water, money), and
//! what it would have cost without ecoroute (the counterfactual). The saving is the difference,
//! computed where it is reported, so the ledger keeps both sides.
//!
//! | outcome | actual | counterfactual |
//! | --- | --- | --- |
//! | answered from search | search + proxy | the LLM call that did not happen |
//! | escalated | search + proxy + LLM call | LLM call |
//! | sent to the LLM | proxy + LLM call | LLM call |
//! | pass-through | proxy | nothing modelled |
//!
//! So the proxy's own cost and the cost of escalations always count against the savings, and a
//! request that search did not answer can only show a (small) loss.
//!
//! LLM calls use the provider's data centre (zone, PUE, on-site WUE) from the catalogue; local work
//! (proxy, embedded search) uses measured CPU time and the local zone. Water follows EcoLogits:
//! IT energy × (on-site WUE + PUE × the electricity mix's water intensity).

use serde::{Deserialize, Serialize};

use super::catalogue::{Catalogue, ProviderSpec, Zone};
use super::{cpu_energy_wh, llm_point, LlmProfile, Range};

/// Local settings, from the config's `[energy]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalSettings {
    pub zone: Zone,
    pub pue: f64,
    /// Watts drawn per busy core (low, high).
    pub watts_per_core: (f64, f64),
    /// On-site water use of the local data centre, L/kWh (0 for air-cooled rooms).
    pub onsite_wue_l_per_kwh: f64,
    /// Output tokens an avoided LLM answer to a lookup is assumed to have (low, central, high),
    /// until the ledger holds enough LLM answers to lookups of the model.
    pub lookup_answer_tokens: Range,
    /// For external search backends: a configured per-query energy instead of measured CPU time.
    pub search_wh_per_query: Option<Range>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Impacts {
    pub energy_wh: Range,
    pub co2e_g: Range,
    pub water_ml: Range,
    pub cost_usd: Range,
}

/// What happened to a request, as far as accounting goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Answered from search; `expected_output_tokens` is what the LLM would have written, as a
    /// range: its uncertainty widens the counterfactual's.
    Search {
        prompt_tokens: f64,
        expected_output_tokens: Range,
    },
    /// Classified for search, answered by the LLM.
    Escalated {
        prompt_tokens: f64,
        completion_tokens: f64,
        latency_s: Option<f64>,
    },
    /// Sent to the LLM directly.
    Llm {
        prompt_tokens: f64,
        completion_tokens: f64,
        latency_s: Option<f64>,
    },
    /// Not a chat completion; forwarded as is.
    Passthrough,
}

impl Impacts {
    /// Combines two sets of impacts metric by metric.
    fn zip(self, o: Impacts, f: impl Fn(Range, Range) -> Range) -> Impacts {
        Impacts {
            energy_wh: f(self.energy_wh, o.energy_wh),
            co2e_g: f(self.co2e_g, o.co2e_g),
            water_ml: f(self.water_ml, o.water_ml),
            cost_usd: f(self.cost_usd, o.cost_usd),
        }
    }

    /// A cost as a negative saving.
    pub fn negate(self) -> Impacts {
        Impacts::default().net_of(self)
    }

    /// This saving less an independent cost (see [`Range::net_of`]).
    pub fn net_of(self, cost: Impacts) -> Impacts {
        self.zip(cost, Range::net_of)
    }
}

impl std::ops::Add for Impacts {
    type Output = Impacts;

    fn add(self, o: Impacts) -> Impacts {
        self.zip(o, |a, b| a + b)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RequestCosts {
    pub actual: Impacts,
    pub counterfactual: Impacts,
    /// counterfactual − actual, from the parts that differ: an LLM call present on both sides
    /// cancels exactly rather than adding its uncertainty twice.
    pub saved: Impacts,
    /// The model was not in the catalogue; the stated default was used.
    pub model_fallback: bool,
}

/// Measured local work for one request.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LocalWork {
    pub proxy_cpu_s: f64,
    pub search_cpu_s: f64,
}

fn llm_impacts(
    catalogue: &Catalogue,
    model: &str,
    prompt_tokens: f64,
    output_tokens: Range,
    latency_s: Option<f64>,
) -> (Impacts, bool) {
    let resolved = catalogue.resolve(model);
    let spec = resolved.spec;
    let provider: ProviderSpec = catalogue.provider(&spec.provider);
    let profile: LlmProfile = spec.profile();
    // The range's low end pairs low parameters with the low PUE (and the fewest tokens, when the
    // length is an estimate), the high end the high ones.
    let low = llm_point(
        profile.active_b.0,
        profile.total_b.0,
        &profile,
        output_tokens.low,
        latency_s,
        provider.pue[0],
    );
    let high = llm_point(
        profile.active_b.1,
        profile.total_b.1,
        &profile,
        output_tokens.high,
        latency_s,
        provider.pue[1],
    );
    let energy_wh = Range::new(low.request_wh, high.request_wh);
    let mix = catalogue.zone(&provider.zone);
    let (gco2e, mix_wue) = mix.map_or((0.0, 0.0), |z| (z.gco2e_per_kwh, z.water_l_per_kwh));
    // Water in mL = IT Wh × (on-site L/kWh + PUE × mix L/kWh): Wh × L/kWh is mL.
    let water_low = low.request_wh / provider.pue[0] * (provider.wue_l_per_kwh[0] + provider.pue[0] * mix_wue);
    let water_high = high.request_wh / provider.pue[1] * (provider.wue_l_per_kwh[1] + provider.pue[1] * mix_wue);
    let cost = |output: f64| {
        spec.input_usd_per_mtok.unwrap_or(0.0) * prompt_tokens / 1e6
            + spec.output_usd_per_mtok.unwrap_or(0.0) * output / 1e6
    };
    let impacts = Impacts {
        energy_wh,
        // Wh × g/kWh / 1000 = g
        co2e_g: energy_wh.scale(gco2e / 1000.0),
        water_ml: Range::new(water_low, water_high),
        cost_usd: Range {
            low: cost(output_tokens.low),
            central: cost(output_tokens.central),
            high: cost(output_tokens.high),
        },
    };
    (impacts, resolved.fallback)
}

fn local_impacts(settings: &LocalSettings, energy_wh: Range) -> Impacts {
    let water_per_wh = (settings.onsite_wue_l_per_kwh + settings.pue * settings.zone.water_l_per_kwh) / settings.pue;
    Impacts {
        energy_wh,
        co2e_g: energy_wh.scale(settings.zone.gco2e_per_kwh / 1000.0),
        water_ml: energy_wh.scale(water_per_wh),
        // A few microseconds of a core already paid for: no marginal spend worth a figure.
        cost_usd: Range::exact(0.0),
    }
}

pub fn account(
    catalogue: &Catalogue,
    settings: &LocalSettings,
    model: &str,
    outcome: Outcome,
    work: LocalWork,
) -> RequestCosts {
    let proxy = local_impacts(
        settings,
        cpu_energy_wh(work.proxy_cpu_s, settings.watts_per_core, settings.pue),
    );
    let search_energy = settings
        .search_wh_per_query
        .unwrap_or_else(|| cpu_energy_wh(work.search_cpu_s, settings.watts_per_core, settings.pue));
    let search = local_impacts(settings, search_energy);
    // An LLM answer that happened: its length is known, as the upstream reported it.
    let answered = |prompt_tokens: f64, completion_tokens: f64, latency_s: Option<f64>| {
        llm_impacts(
            catalogue,
            model,
            prompt_tokens,
            Range::exact(completion_tokens),
            latency_s,
        )
    };
    match outcome {
        Outcome::Search {
            prompt_tokens,
            expected_output_tokens,
        } => {
            let (llm, fallback) = llm_impacts(catalogue, model, prompt_tokens, expected_output_tokens, None);
            let saved = llm.net_of(proxy + search);
            RequestCosts {
                actual: proxy + search,
                counterfactual: llm,
                saved,
                model_fallback: fallback,
            }
        }
        Outcome::Escalated {
            prompt_tokens,
            completion_tokens,
            latency_s,
        } => {
            let (llm, fallback) = answered(prompt_tokens, completion_tokens, latency_s);
            let saved = (proxy + search).negate();
            RequestCosts {
                actual: proxy + search + llm,
                counterfactual: llm,
                saved,
                model_fallback: fallback,
            }
        }
        Outcome::Llm {
            prompt_tokens,
            completion_tokens,
            latency_s,
        } => {
            let (llm, fallback) = answered(prompt_tokens, completion_tokens, latency_s);
            RequestCosts {
                actual: proxy + llm,
                counterfactual: llm,
                saved: proxy.negate(),
                model_fallback: fallback,
            }
        }
        Outcome::Passthrough => RequestCosts {
            actual: proxy,
            counterfactual: Impacts::default(),
            saved: proxy.negate(),
            model_fallback: false,
        },
    }
}

/// How long the LLM's answers to lookups are, per model, from the ledger's own history: the
/// estimate of what an avoided answer would have been. Only answers to requests classified as
/// lookups count (escalations, shadow mode, lookups routed to the LLM): writing and code answers
/// are ten times longer and would inflate every saving. Below `MIN_HISTORY_SAMPLES` the stated
/// prior is used.
#[derive(Debug, Clone, Default)]
pub struct TokenHistory {
    /// Per model: sum of tokens, sum of squares, answers.
    per_model: std::collections::HashMap<String, (f64, f64, u64)>,
}

pub const MIN_HISTORY_SAMPLES: u64 = 20;

impl TokenHistory {
    /// Adds `samples` answers whose mean is `mean_tokens` and mean square `mean_square`.
    pub fn observe(&mut self, model: &str, mean_tokens: f64, mean_square: f64, samples: u64) {
        let entry = self.per_model.entry(model.to_string()).or_insert((0.0, 0.0, 0));
        entry.0 += mean_tokens * samples as f64;
        entry.1 += mean_square * samples as f64;
        entry.2 += samples;
    }

    /// The expected length of `model`'s answer to a lookup, and whether it comes from history:
    /// the mean with its 95% interval (two standard errors) once there is history, else `prior`.
    pub fn expected(&self, model: &str, prior: Range) -> (Range, bool) {
        match self.per_model.get(model) {
            Some(&(sum, sum_squares, n)) if n >= MIN_HISTORY_SAMPLES => {
                let count = n as f64;
                let mean = sum / count;
                let variance = (sum_squares / count - mean * mean).max(0.0);
                let margin = 2.0 * (variance / count).sqrt();
                let range = Range {
                    low: (mean - margin).max(1.0).min(mean),
                    central: mean,
                    high: mean + margin,
                };
                (range, true)
            }
            _ => (prior, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn settings(c: &Catalogue) -> LocalSettings {
        LocalSettings {
            zone: c.zone("FRA").unwrap().clone(),
            pue: 1.5,
            watts_per_core: (5.0, 15.0),
            onsite_wue_l_per_kwh: 0.0,
            lookup_answer_tokens: Range::exact(300.0),
            search_wh_per_query: None,
        }
    }

    #[test]
    fn a_search_answer_saves_almost_the_whole_llm_call() {
        let c = Catalogue::builtin().unwrap();
        let work = LocalWork {
            proxy_cpu_s: 20e-6,
            search_cpu_s: 100e-6,
        };
        let r = account(
            &c,
            &settings(&c),
            "gpt-4o",
            Outcome::Search {
                prompt_tokens: 20.0,
                expected_output_tokens: Range::exact(300.0),
            },
            work,
        );
        assert!(r.counterfactual.energy_wh.low > 0.4, "{r:?}");
        assert!(
            r.actual.energy_wh.high < 1e-6,
            "local work is below a microwatt-hour: {r:?}"
        );
        assert!(r.saved.energy_wh.low > 0.4);
        assert!(
            r.saved.energy_wh.high < r.counterfactual.energy_wh.high,
            "the local cost is taken off"
        );
        // 20 input tokens at $2.50/M and 300 output at $10/M.
        assert!((r.counterfactual.cost_usd.central - (20.0 * 2.5 + 300.0 * 10.0) / 1e6).abs() < 1e-12);
        // OpenAI runs in the USA: about 370 g/kWh there (vs 41 in France).
        assert!(r.counterfactual.co2e_g.central > r.counterfactual.energy_wh.central * 0.3);
        assert!(r.counterfactual.water_ml.low > 0.0);
        assert!(!r.model_fallback);
    }

    #[test]
    fn llm_routes_and_escalations_can_only_lose() {
        let c = Catalogue::builtin().unwrap();
        let work = LocalWork {
            proxy_cpu_s: 30e-6,
            search_cpu_s: 200e-6,
        };
        for outcome in [
            Outcome::Llm {
                prompt_tokens: 50.0,
                completion_tokens: 200.0,
                latency_s: Some(3.0),
            },
            Outcome::Escalated {
                prompt_tokens: 50.0,
                completion_tokens: 200.0,
                latency_s: Some(3.0),
            },
            Outcome::Passthrough,
        ] {
            let r = account(&c, &settings(&c), "gpt-4o-mini", outcome, work);
            let saved = r.saved.energy_wh;
            assert!(saved.high < 0.0, "{outcome:?}: {saved:?}");
            assert!(
                saved.low > -1e-5,
                "only the local cost is lost, not the LLM's uncertainty: {saved:?}"
            );
        }
    }

    #[test]
    fn unknown_models_are_flagged() {
        let c = Catalogue::builtin().unwrap();
        let r = account(
            &c,
            &settings(&c),
            "acme-llm-9",
            Outcome::Search {
                prompt_tokens: 10.0,
                expected_output_tokens: Range::exact(300.0),
            },
            LocalWork::default(),
        );
        assert!(r.model_fallback);
        assert!(
            r.counterfactual.energy_wh.high > r.counterfactual.energy_wh.low * 5.0,
            "the default is deliberately wide"
        );
    }

    #[test]
    fn token_history_takes_over_from_the_prior_with_its_uncertainty() {
        let prior = Range {
            low: 20.0,
            central: 50.0,
            high: 150.0,
        };
        let mut h = TokenHistory::default();
        assert_eq!(h.expected("gpt-4o", prior), (prior, false));
        h.observe("gpt-4o", 30.0, 900.0, MIN_HISTORY_SAMPLES - 1);
        assert_eq!(h.expected("gpt-4o", prior), (prior, false));
        // One answer of 50 tokens among nineteen of 30: mean 31, some spread.
        h.observe("gpt-4o", 50.0, 2500.0, 1);
        let (tokens, from_history) = h.expected("gpt-4o", prior);
        assert!(from_history && (tokens.central - 31.0).abs() < 1e-9, "{tokens:?}");
        assert!(
            tokens.low < 31.0 && tokens.high > 31.0 && tokens.high < 35.0,
            "{tokens:?}"
        );
        // Identical answers: no spread to widen the range.
        let mut same = TokenHistory::default();
        same.observe("m", 25.0, 625.0, 40);
        assert_eq!(same.expected("m", prior).0, Range::exact(25.0));
    }

    proptest! {
        #[test]
        fn ranges_stay_ordered(tokens in 1.0f64..3000.0, cpu in 0.0f64..0.01) {
            let c = Catalogue::builtin().unwrap();
            let r = account(&c, &settings(&c), "gpt-4o", Outcome::Escalated { prompt_tokens: 10.0, completion_tokens: tokens, latency_s: None }, LocalWork { proxy_cpu_s: cpu, search_cpu_s: cpu });
            for range in [r.actual.energy_wh, r.actual.co2e_g, r.actual.water_ml, r.counterfactual.energy_wh] {
                prop_assert!(range.low <= range.central && range.central <= range.high);
            }
        }
    }
}
