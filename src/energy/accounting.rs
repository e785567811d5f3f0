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
//! IT energy × (on-site WUE + PUE × the electricity mix's water intensity). CO2e includes the
//! embodied emissions of the hardware (EcoLogits' for the LLM's servers and GPUs; a share of the
//! proxy host's by CPU time), kept apart as well so a report can say how much they are.
//!
//! A self-hosted model whose GPUs expose an energy counter is *measured*: its GPU energy comes from
//! the counter (see [`Measured`]), the rest of the server and the embodied share from the method.

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
    /// Manufacturing emissions of the proxy's host per busy core-hour, g CO2e (low, high).
    pub embodied_g_per_core_hour: (f64, f64),
    /// The proxy host's baseline draw, W (low, high), charged over the wall time of [`LocalWork`]:
    /// SCI counts provisioned hardware, idle included. `None`: busy CPU time only.
    pub host_watts: Option<(f64, f64)>,
}

/// The data centre of self-hosted GPUs, for energy measured on them: PUE and on-site water as
/// ranges, and the grid they draw from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Site {
    pub pue: [f64; 2],
    pub wue_l_per_kwh: [f64; 2],
    pub zone: Zone,
}

/// GPU energy measured for one LLM call (its share of a metered interval, in Wh at the boards),
/// and where the GPUs are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured<'a> {
    pub gpu_wh: Range,
    pub site: &'a Site,
    /// The GPU energy of a call that did not happen, at the GPUs' measured marginal energy per
    /// token: a counterfactual, never booked as measured, with no host or manufacturing share.
    pub marginal: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Impacts {
    pub energy_wh: Range,
    pub co2e_g: Range,
    pub water_ml: Range,
    pub cost_usd: Range,
}

/// What happened to a request, as far as accounting goes. `measured` carries the GPU energy of
/// the LLM call (for a search answer: of the avoided call, at the measured energy per token) when
/// the model runs on metered GPUs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome<'a> {
    /// Answered from search; `expected_output_tokens` is what the LLM would have written, as a
    /// range: its uncertainty widens the counterfactual's.
    Search {
        prompt_tokens: f64,
        expected_output_tokens: Range,
        measured: Option<Measured<'a>>,
    },
    /// An LLM answer given again from the cache: the avoided call is the one it repeats, at its
    /// length and, when the ledger saw that call, capped by its latency as that call was, so a
    /// repeat is never booked above the call it repeats.
    Repeat {
        prompt_tokens: f64,
        completion_tokens: f64,
        latency_s: Option<f64>,
    },
    /// Classified for search, answered by the LLM.
    Escalated {
        prompt_tokens: f64,
        completion_tokens: f64,
        latency_s: Option<f64>,
        measured: Option<Measured<'a>>,
    },
    /// Sent to the LLM directly.
    Llm {
        prompt_tokens: f64,
        completion_tokens: f64,
        latency_s: Option<f64>,
        measured: Option<Measured<'a>>,
    },
    /// Answered by a cheaper model than the one the client asked for (a model tier): the
    /// avoided call is the requested model's at the answer's real length. `searched` when a
    /// search ran first (an escalated lookup).
    Downgraded {
        prompt_tokens: f64,
        completion_tokens: f64,
        latency_s: Option<f64>,
        measured: Option<Measured<'a>>,
        requested: &'a str,
        searched: bool,
    },
    /// An LLM call ecoroute made on its own account (a model tier's review of the cheaper model):
    /// without ecoroute it would not have happened, so all of it is cost.
    Extra {
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
    fn negate(self) -> Impacts {
        Impacts::default().net_of(self)
    }

    /// This saving less an independent cost (see [`Range::net_of`]).
    pub(crate) fn net_of(self, cost: Impacts) -> Impacts {
        self.zip(cost, Range::net_of)
    }
}

impl std::ops::Add for Impacts {
    type Output = Impacts;

    fn add(self, o: Impacts) -> Impacts {
        self.zip(o, |a, b| a + b)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RequestCosts {
    pub actual: Impacts,
    pub counterfactual: Impacts,
    /// counterfactual − actual, from the parts that differ: an LLM call present on both sides
    /// cancels exactly rather than adding its uncertainty twice.
    pub saved: Impacts,
    /// The model was not in the catalogue; the stated default was used.
    pub model_fallback: bool,
    /// The part of `actual.co2e_g` that is embodied emissions (hardware manufacturing).
    #[serde(default)]
    pub actual_embodied_g: Range,
    /// The model has no price in the catalogue: its spend is unknown, not $0.
    #[serde(default)]
    pub unpriced: bool,
    /// The LLM call's GPU energy was measured, not estimated.
    #[serde(default)]
    pub measured: bool,
}

/// Measured local work for one request.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct LocalWork {
    pub proxy_cpu_s: f64,
    pub search_cpu_s: f64,
    /// Wall time of the proxy's host charged to this request (the time since the previous one),
    /// for its baseline draw.
    pub host_s: f64,
}

/// An LLM call's impacts, and what they rest on.
struct LlmCall {
    impacts: Impacts,
    embodied_g: Range,
    fallback: bool,
    priced: bool,
    measured: bool,
}

fn llm_impacts(
    catalogue: &Catalogue,
    model: &str,
    prompt_tokens: f64,
    output_tokens: Range,
    latency_s: Option<f64>,
    measured: Option<Measured<'_>>,
) -> LlmCall {
    let resolved = catalogue.resolve(model);
    let spec = resolved.spec;
    let provider: ProviderSpec = catalogue.provider(&spec.provider);
    let profile: LlmProfile = spec.profile();
    // Measured GPUs run where the meter says, under its PUE; else the provider's data centre.
    let (pue, wue, zone) = match measured {
        Some(m) => (m.site.pue, m.site.wue_l_per_kwh, Some(&m.site.zone)),
        None => (provider.pue, provider.wue_l_per_kwh, catalogue.zone(&provider.zone)),
    };
    let (gco2e, mix_wue) = zone.map_or((0.0, 0.0), |z| (z.gco2e_per_kwh, z.water_l_per_kwh));
    let marginal = measured.is_some_and(|m| m.marginal);
    // One end of the method: the low (0) or high (1) parameters and PUE, at a length, with the
    // measured GPU energy at that length when there is one.
    let at = |end: usize, tokens: f64, gpu_wh: Option<f64>| {
        let (active, total) = if end == 0 {
            (profile.active_b.0, profile.total_b.0)
        } else {
            (profile.active_b.1, profile.total_b.1)
        };
        let point = llm_point(active, total, &profile, tokens, latency_s, pue[end]);
        // IT energy (before PUE): the modelled GPUs and server, or the measured GPU energy with
        // the modelled rest of the server (a GPU counter does not see the host). An avoided call
        // on provisioned GPUs avoided only their marginal energy: the host and the hardware's
        // manufacturing are spent whether or not it runs.
        let (it, embodied) = match (gpu_wh, marginal) {
            (Some(gpu), true) => (gpu, 0.0),
            (Some(gpu), false) => (gpu + point.server_wh, point.embodied_g),
            (None, _) => (point.request_wh / pue[end], point.embodied_g),
        };
        // Water in mL = IT Wh × (on-site L/kWh + PUE × mix L/kWh): Wh × L/kWh is mL.
        [it * pue[end], it * (wue[end] + pue[end] * mix_wue), embodied]
    };
    let gpu = |pick: fn(&Range) -> f64| measured.map(|m| pick(&m.gpu_wh));
    // The low end pairs the low parameters and PUE with the fewest tokens (when the length is an
    // estimate), the high end the high ones. The central is the method at the central length:
    // EcoLogits' mean (the midpoint of its two parameter ends) there. The midpoint of the range's
    // own ends would pair the length's bounds with the parameters' and sit 1.7–3× above it when
    // the length is the prior (the energy audit's H2).
    let low = at(0, output_tokens.low, gpu(|r| r.low));
    let high = at(1, output_tokens.high, gpu(|r| r.high));
    let (mid_low, mid_high) = (
        at(0, output_tokens.central, gpu(|r| r.central)),
        at(1, output_tokens.central, gpu(|r| r.central)),
    );
    let range = |i: usize| Range {
        low: low[i],
        central: (mid_low[i] + mid_high[i]) / 2.0,
        high: high[i],
    };
    let (energy_wh, water_ml, embodied_g) = (range(0), range(1), range(2));
    let priced = spec.input_usd_per_mtok.is_some() && spec.output_usd_per_mtok.is_some();
    let cost = |output: f64| {
        spec.input_usd_per_mtok.unwrap_or(0.0) * prompt_tokens / 1e6
            + spec.output_usd_per_mtok.unwrap_or(0.0) * output / 1e6
    };
    let impacts = Impacts {
        energy_wh,
        // Wh × g/kWh / 1000 = g, plus the hardware's manufacturing share.
        co2e_g: energy_wh.scale(gco2e / 1000.0) + embodied_g,
        water_ml,
        cost_usd: Range {
            low: cost(output_tokens.low),
            central: cost(output_tokens.central),
            high: cost(output_tokens.high),
        },
    };
    LlmCall {
        impacts,
        embodied_g,
        fallback: resolved.fallback,
        priced,
        measured: measured.is_some_and(|m| !m.marginal),
    }
}

/// Local work's impacts, from its energy and its CPU time (for the host's embodied share).
fn local_impacts(settings: &LocalSettings, energy_wh: Range, cpu_s: f64) -> (Impacts, Range) {
    let water_per_wh = (settings.onsite_wue_l_per_kwh + settings.pue * settings.zone.water_l_per_kwh) / settings.pue;
    let (low, high) = settings.embodied_g_per_core_hour;
    let embodied_g = Range::new(cpu_s / 3600.0 * low, cpu_s / 3600.0 * high);
    let impacts = Impacts {
        energy_wh,
        co2e_g: energy_wh.scale(settings.zone.gco2e_per_kwh / 1000.0) + embodied_g,
        water_ml: energy_wh.scale(water_per_wh),
        // A few microseconds of a core already paid for: no marginal spend worth a figure.
        cost_usd: Range::exact(0.0),
    };
    (impacts, embodied_g)
}

pub(crate) fn account(
    catalogue: &Catalogue,
    settings: &LocalSettings,
    model: &str,
    outcome: Outcome<'_>,
    work: LocalWork,
) -> RequestCosts {
    // The host's baseline over the request's share of wall time: a cost of running ecoroute,
    // which the reference scenario (no proxy) does not have.
    let host_wh = settings.host_watts.map_or(Range::exact(0.0), |(low, high)| {
        Range::new(low, high).scale(work.host_s.max(0.0) / 3600.0 * settings.pue)
    });
    let (proxy, proxy_embodied) = local_impacts(
        settings,
        cpu_energy_wh(work.proxy_cpu_s, settings.watts_per_core, settings.pue) + host_wh,
        work.proxy_cpu_s,
    );
    let search_energy = settings
        .search_wh_per_query
        .unwrap_or_else(|| cpu_energy_wh(work.search_cpu_s, settings.watts_per_core, settings.pue));
    let (search, search_embodied) = local_impacts(settings, search_energy, work.search_cpu_s);
    // An LLM answer that happened: its length is known, as the upstream reported it.
    let answered = |prompt_tokens: f64, completion_tokens: f64, latency_s: Option<f64>, measured| {
        llm_impacts(
            catalogue,
            model,
            prompt_tokens,
            Range::exact(completion_tokens),
            latency_s,
            measured,
        )
    };
    // What a request that reached (or would have reached) the LLM cost, and what it rests on.
    let costs = |actual: Impacts, embodied: Range, saved: Impacts, llm: &LlmCall| RequestCosts {
        actual,
        counterfactual: llm.impacts,
        saved,
        model_fallback: llm.fallback,
        actual_embodied_g: embodied,
        unpriced: !llm.priced,
        measured: llm.measured,
    };
    match outcome {
        Outcome::Search {
            prompt_tokens,
            expected_output_tokens,
            measured,
        } => {
            let llm = llm_impacts(catalogue, model, prompt_tokens, expected_output_tokens, None, measured);
            let saved = llm.impacts.net_of(proxy + search);
            costs(proxy + search, proxy_embodied + search_embodied, saved, &llm)
        }
        Outcome::Repeat {
            prompt_tokens,
            completion_tokens,
            latency_s,
        } => {
            let llm = answered(prompt_tokens, completion_tokens, latency_s, None);
            let saved = llm.impacts.net_of(proxy + search);
            costs(proxy + search, proxy_embodied + search_embodied, saved, &llm)
        }
        Outcome::Escalated {
            prompt_tokens,
            completion_tokens,
            latency_s,
            measured,
        } => {
            let llm = answered(prompt_tokens, completion_tokens, latency_s, measured);
            let saved = (proxy + search).negate();
            let embodied = proxy_embodied + search_embodied + llm.embodied_g;
            costs(proxy + search + llm.impacts, embodied, saved, &llm)
        }
        Outcome::Llm {
            prompt_tokens,
            completion_tokens,
            latency_s,
            measured,
        } => {
            let llm = answered(prompt_tokens, completion_tokens, latency_s, measured);
            costs(
                proxy + llm.impacts,
                proxy_embodied + llm.embodied_g,
                proxy.negate(),
                &llm,
            )
        }
        Outcome::Downgraded {
            prompt_tokens,
            completion_tokens,
            latency_s,
            measured,
            requested,
            searched,
        } => {
            let cheaper = answered(prompt_tokens, completion_tokens, latency_s, measured);
            // The requested model's latency was never seen: its modelled generation time.
            let asked = llm_impacts(
                catalogue,
                requested,
                prompt_tokens,
                Range::exact(completion_tokens),
                None,
                None,
            );
            let (local, local_embodied) = if searched {
                (proxy + search, proxy_embodied + search_embodied)
            } else {
                (proxy, proxy_embodied)
            };
            let actual = local + cheaper.impacts;
            RequestCosts {
                actual,
                counterfactual: asked.impacts,
                saved: asked.impacts.net_of(actual),
                model_fallback: cheaper.fallback || asked.fallback,
                actual_embodied_g: local_embodied + cheaper.embodied_g,
                unpriced: !(cheaper.priced && asked.priced),
                measured: cheaper.measured,
            }
        }
        Outcome::Extra {
            prompt_tokens,
            completion_tokens,
            latency_s,
        } => {
            let llm = answered(prompt_tokens, completion_tokens, latency_s, None);
            let actual = proxy + llm.impacts;
            RequestCosts {
                actual,
                counterfactual: Impacts::default(),
                saved: actual.negate(),
                model_fallback: llm.fallback,
                actual_embodied_g: proxy_embodied + llm.embodied_g,
                unpriced: !llm.priced,
                measured: false,
            }
        }
        Outcome::Passthrough => RequestCosts {
            actual: proxy,
            counterfactual: Impacts::default(),
            saved: proxy.negate(),
            model_fallback: false,
            actual_embodied_g: proxy_embodied,
            unpriced: false,
            measured: false,
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

pub(crate) const MIN_HISTORY_SAMPLES: u64 = 20;

impl TokenHistory {
    /// Adds `samples` answers whose mean is `mean_tokens` and mean square `mean_square`.
    pub(crate) fn observe(&mut self, model: &str, mean_tokens: f64, mean_square: f64, samples: u64) {
        let entry = self.per_model.entry(model.to_string()).or_insert((0.0, 0.0, 0));
        entry.0 += mean_tokens * samples as f64;
        entry.1 += mean_square * samples as f64;
        entry.2 += samples;
    }

    /// The expected length of `model`'s answer to a lookup, and whether it comes from history:
    /// the mean with its 95% interval (two standard errors) once there is history, else `prior`.
    pub(crate) fn expected(&self, model: &str, prior: Range) -> (Range, bool) {
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
            embodied_g_per_core_hour: (1.9, 3.4),
            host_watts: None,
        }
    }

    #[test]
    fn a_search_answer_saves_almost_the_whole_llm_call() {
        let c = Catalogue::builtin().unwrap();
        let work = LocalWork {
            proxy_cpu_s: 20e-6,
            search_cpu_s: 100e-6,
            host_s: 0.0,
        };
        let r = account(
            &c,
            &settings(&c),
            "gpt-4o",
            Outcome::Search {
                prompt_tokens: 20.0,
                expected_output_tokens: Range::exact(300.0),
                measured: None,
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
            host_s: 0.0,
        };
        for outcome in [
            Outcome::Llm {
                prompt_tokens: 50.0,
                completion_tokens: 200.0,
                latency_s: Some(3.0),
                measured: None,
            },
            Outcome::Escalated {
                prompt_tokens: 50.0,
                completion_tokens: 200.0,
                latency_s: Some(3.0),
                measured: None,
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
                measured: None,
            },
            LocalWork::default(),
        );
        assert!(r.model_fallback);
        assert!(
            r.counterfactual.energy_wh.high > r.counterfactual.energy_wh.low * 5.0,
            "the default is deliberately wide"
        );
    }

    fn within(value: f64, expected: f64, tolerance: f64) -> bool {
        (value - expected).abs() <= expected.abs() * tolerance
    }

    fn avoided(tokens: f64, measured: Option<Measured<'_>>) -> Outcome<'_> {
        Outcome::Search {
            prompt_tokens: 0.0,
            expected_output_tokens: Range::exact(tokens),
            measured,
        }
    }

    /// EcoLogits' headline `gwp` is usage plus embodied: for mistral-small-latest (Sweden's grid),
    /// 300 tokens, ecologits 0.11.3 gives 0.012409 g, 0.008763 g of it embodied. Embodied
    /// emissions do not depend on the grid, so on a clean grid they are most of the figure.
    #[test]
    fn co2e_includes_embodied_emissions_as_ecologits_does() {
        let c = Catalogue::builtin().unwrap();
        let r = account(
            &c,
            &settings(&c),
            "mistral-small-latest",
            avoided(300.0, None),
            LocalWork::default(),
        );
        assert!(within(r.counterfactual.co2e_g.central, 0.012_409, 0.01), "{r:?}");
        // An LLM answer carries its embodied share on the actual side too.
        let llm = Outcome::Llm {
            prompt_tokens: 0.0,
            completion_tokens: 300.0,
            latency_s: None,
            measured: None,
        };
        let r = account(&c, &settings(&c), "mistral-small-latest", llm, LocalWork::default());
        assert!(within(r.actual_embodied_g.central, 0.008_763, 0.01), "{r:?}");
        assert!(r.actual.co2e_g.central > r.actual_embodied_g.central);
        // Local work: the host's share by CPU time, 1 s of a core at 1.9–3.4 g per core-hour.
        let work = LocalWork {
            proxy_cpu_s: 1.0,
            search_cpu_s: 0.0,
            host_s: 0.0,
        };
        let r = account(&c, &settings(&c), "gpt-4o", Outcome::Passthrough, work);
        assert!(within(r.actual_embodied_g.low, 1.9 / 3600.0, 1e-9), "{r:?}");
        assert!(within(r.actual_embodied_g.high, 3.4 / 3600.0, 1e-9), "{r:?}");
    }

    /// Metered GPUs: the call's GPU energy is the measurement, under the site's PUE and grid, plus
    /// the modelled rest of the server; the row says it was measured.
    #[test]
    fn measured_gpu_energy_replaces_the_estimate() {
        let c = Catalogue::builtin().unwrap();
        let site = Site {
            pue: [1.1, 1.3],
            wue_l_per_kwh: [0.0, 0.0],
            zone: c.zone("FRA").unwrap().clone(),
        };
        let call = |measured| Outcome::Llm {
            prompt_tokens: 10.0,
            completion_tokens: 100.0,
            latency_s: Some(2.0),
            measured,
        };
        let model = "meta-llama/Meta-Llama-3.1-8B-Instruct";
        let estimated = account(&c, &settings(&c), model, call(None), LocalWork::default());
        let gpu = Measured {
            gpu_wh: Range::exact(0.2),
            site: &site,
            marginal: false,
        };
        let measured = account(&c, &settings(&c), model, call(Some(gpu)), LocalWork::default());
        assert!(measured.measured && !estimated.measured);
        let e = measured.actual.energy_wh;
        assert!(e.low > 0.2 * 1.1 && e.low < 0.2 * 1.1 + 0.01, "{e:?}");
        assert!(e.high > 0.2 * 1.3 && e.high < 0.2 * 1.3 + 0.01, "{e:?}");
        assert!(
            e.central > estimated.actual.energy_wh.central * 2.0,
            "a lightly loaded GPU costs more"
        );
        // The French grid, not the provider's.
        let usage_g = measured.actual.co2e_g.central - measured.actual_embodied_g.central;
        assert!(within(
            usage_g,
            e.central * c.zone("FRA").unwrap().gco2e_per_kwh / 1000.0,
            1e-6
        ));
        // The call happened either way: nothing is saved by measuring it.
        assert!(measured.saved.energy_wh.high <= 0.0);
    }

    /// An avoided call on metered GPUs saved its marginal GPU energy under the site's PUE, and
    /// nothing else: not the host (spent anyway), not the hardware's manufacturing, and it is a
    /// counterfactual, never flagged as measured (the energy audit's H1: "17 of the 7 LLM calls").
    #[test]
    fn an_avoided_call_on_metered_gpus_saves_its_marginal_energy_only() {
        let c = Catalogue::builtin().unwrap();
        let site = Site {
            pue: [1.1, 1.1],
            wue_l_per_kwh: [0.0, 0.0],
            zone: c.zone("FRA").unwrap().clone(),
        };
        let marginal_wh = 50.0 * 0.2 / 3600.0;
        let on_meter = Measured {
            gpu_wh: Range::exact(marginal_wh),
            site: &site,
            marginal: true,
        };
        let model = "meta-llama/Meta-Llama-3.1-8B-Instruct";
        let r = account(
            &c,
            &settings(&c),
            model,
            avoided(50.0, Some(on_meter)),
            LocalWork::default(),
        );
        assert!(!r.measured, "a call that did not happen was not measured");
        let e = r.counterfactual.energy_wh;
        assert!(
            within(e.low, marginal_wh * 1.1, 1e-12) && within(e.high, marginal_wh * 1.1, 1e-12),
            "{e:?}"
        );
        assert!(r.saved.energy_wh.high <= marginal_wh * 1.1);
        let embodied = r.counterfactual.co2e_g.central - e.central * site.zone.gco2e_per_kwh / 1000.0;
        assert!(embodied.abs() < 1e-15, "no manufacturing avoided: {embodied}");
    }

    /// The central of a search answer's avoided call is the method at the central length (what
    /// EcoLogits gives there), not the midpoint of the range's ends: on the prior 20–150 tokens,
    /// central 50, that midpoint was 1.95× EcoLogits' 0.1031 Wh for gpt-4o (the energy audit's H2).
    #[test]
    fn the_central_avoided_call_is_the_method_at_the_central_length() {
        let c = Catalogue::builtin().unwrap();
        let prior = Range {
            low: 20.0,
            central: 50.0,
            high: 150.0,
        };
        for model in [
            "gpt-4o",
            "gpt-4o-mini",
            "mistral-small-latest",
            "claude-3-5-sonnet-20241022",
        ] {
            let search = |tokens| Outcome::Search {
                prompt_tokens: 10.0,
                expected_output_tokens: tokens,
                measured: None,
            };
            let ranged = account(&c, &settings(&c), model, search(prior), LocalWork::default());
            let exact = account(
                &c,
                &settings(&c),
                model,
                search(Range::exact(50.0)),
                LocalWork::default(),
            );
            let (r, x) = (ranged.counterfactual, exact.counterfactual);
            for (got, want) in [
                (r.energy_wh.central, x.energy_wh.central),
                (r.co2e_g.central, x.co2e_g.central),
                (r.water_ml.central, x.water_ml.central),
                (r.cost_usd.central, x.cost_usd.central),
            ] {
                assert!(within(got, want, 1e-12), "{model}: {got} against {want}");
            }
            assert!(r.energy_wh.low < r.energy_wh.central && r.energy_wh.central < r.energy_wh.high);
            // What the midpoint of the ends booked instead (docs/energy.md quotes it: run with
            // `-- --nocapture`).
            let midpoint = (r.energy_wh.low + r.energy_wh.high) / 2.0 / r.energy_wh.central;
            eprintln!("{model}: the midpoint of the range's ends is {midpoint:.2}× the central");
        }
        let gpt_4o = account(&c, &settings(&c), "gpt-4o", avoided(50.0, None), LocalWork::default());
        assert!(
            within(gpt_4o.counterfactual.energy_wh.central, 0.1031, 0.005),
            "{gpt_4o:?}"
        );
    }

    /// Unpriced models are flagged, so a report can say their spend is unknown rather than $0.
    #[test]
    fn unpriced_models_are_flagged() {
        let c = Catalogue::builtin().unwrap();
        let priced = account(&c, &settings(&c), "gpt-4o", avoided(50.0, None), LocalWork::default());
        let unpriced = account(
            &c,
            &settings(&c),
            "mistral-small-latest",
            avoided(50.0, None),
            LocalWork::default(),
        );
        assert!(!priced.unpriced && unpriced.unpriced);
        assert_eq!(unpriced.counterfactual.cost_usd, Range::exact(0.0));
        let pass = account(&c, &settings(&c), "gpt-4o", Outcome::Passthrough, LocalWork::default());
        assert!(!pass.unpriced, "a pass-through call has no model price to lack");
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

    /// A downgrade saves the difference between the requested model and the one that answered, at
    /// the answer's real length; a downgrade to a bigger model would show a loss, never a gain.
    #[test]
    fn a_downgrade_saves_the_difference_between_the_two_models() {
        let c = Catalogue::builtin().unwrap();
        let call = |requested| Outcome::Downgraded {
            prompt_tokens: 50.0,
            completion_tokens: 300.0,
            latency_s: None,
            measured: None,
            requested,
            searched: false,
        };
        let r = account(&c, &settings(&c), "gpt-4o-mini", call("gpt-4o"), LocalWork::default());
        // EcoLogits at 300 tokens: gpt-4o 0.436–0.725 Wh, gpt-4o-mini 0.0196–0.0237 Wh.
        assert!(within(r.counterfactual.energy_wh.low, 0.436, 0.01), "{r:?}");
        assert!(within(r.actual.energy_wh.high, 0.0237, 0.01), "{r:?}");
        assert!(r.saved.energy_wh.low > 0.4 && r.saved.energy_wh.high < 0.71, "{r:?}");
        assert!(r.saved.cost_usd.central > 0.0, "gpt-4o costs more per token");
        let upgrade = account(&c, &settings(&c), "gpt-4o", call("gpt-4o-mini"), LocalWork::default());
        assert!(upgrade.saved.energy_wh.high < 0.0, "{upgrade:?}");
    }

    proptest! {
        #[test]
        fn ranges_stay_ordered(tokens in 1.0f64..3000.0, cpu in 0.0f64..0.01) {
            let c = Catalogue::builtin().unwrap();
            let r = account(&c, &settings(&c), "gpt-4o", Outcome::Escalated { prompt_tokens: 10.0, completion_tokens: tokens, latency_s: None, measured: None }, LocalWork { proxy_cpu_s: cpu, search_cpu_s: cpu, host_s: 0.0 });
            for range in [r.actual.energy_wh, r.actual.co2e_g, r.actual.water_ml, r.counterfactual.energy_wh] {
                prop_assert!(range.low <= range.central && range.central <= range.high);
            }
        }
    }
}
