//! The accountant: a row's energy figures, from what served it. It owns the output-token history
//! the counterfactuals use and each meter's marginal GPU energy per output token; [`outcome_of`]
//! is the one mapping from what served a request to the energy outcome, which `replay` uses too.

use super::{Accounting, CacheOrigin, LedgerRecord, RouteTaken, Served, UsageSource};
use crate::energy::{account, EnergyConfig, LocalWork, Measured, Outcome, Range, TokenHistory};
use crate::metrics::Metrics;

/// What a request did, as far as its energy outcome goes (a ledger row's facts, or replay's
/// estimate of them).
pub(crate) struct CallFacts<'a> {
    pub served: Served,
    /// A search ran before the LLM answered (an escalation, or shadow mode).
    pub searched: bool,
    pub prompt_tokens: f64,
    pub completion_tokens: f64,
    pub latency_s: Option<f64>,
    /// A model tier sent the request to a cheaper model than this one.
    pub requested_model: Option<&'a str>,
    /// A tier's review call, made on ecoroute's own account.
    pub tier_review: bool,
    /// The call's own measured GPU energy, on metered GPUs.
    pub measured: Option<Measured<'a>>,
}

/// What an answer the proxy gave stands for.
pub(crate) enum Avoided<'a> {
    /// An answer to a lookup, `tokens` long, as the LLM would have written it.
    Lookup {
        tokens: Range,
        measured: Option<Measured<'a>>,
    },
    /// The LLM call an answer from the cache repeats.
    Repeat(Outcome<'a>),
    /// The LLM answered: nothing was avoided.
    Nothing,
}

/// The energy outcome of a request: the one mapping from what served it to what it cost and
/// avoided, for the ledger's rows and `replay`'s estimates alike.
pub(crate) fn outcome_of<'a>(facts: &CallFacts<'a>, avoided: Avoided<'a>) -> Outcome<'a> {
    let (prompt_tokens, completion_tokens, latency_s) = (facts.prompt_tokens, facts.completion_tokens, facts.latency_s);
    match (facts.served, avoided) {
        (Served::Search | Served::Cache, Avoided::Repeat(repeat)) => repeat,
        (Served::Search | Served::Cache, Avoided::Lookup { tokens, measured }) => Outcome::Search {
            prompt_tokens,
            expected_output_tokens: tokens,
            measured,
        },
        // An answer from the proxy that says nothing of what it avoided: nothing is booked.
        (Served::Search | Served::Cache, Avoided::Nothing) => Outcome::Passthrough,
        (Served::Llm, _) if facts.tier_review => Outcome::Extra {
            prompt_tokens,
            completion_tokens,
            latency_s,
        },
        (Served::Escalated | Served::Llm, _) => match facts.requested_model {
            Some(requested) => Outcome::Downgraded {
                prompt_tokens,
                completion_tokens,
                latency_s,
                measured: facts.measured,
                requested,
                searched: facts.searched,
            },
            None if facts.searched => Outcome::Escalated {
                prompt_tokens,
                completion_tokens,
                latency_s,
                measured: facts.measured,
            },
            None => Outcome::Llm {
                prompt_tokens,
                completion_tokens,
                latency_s,
                measured: facts.measured,
            },
        },
        (Served::Passthrough | Served::Unrouted, _) => Outcome::Passthrough,
    }
}

/// Computes a row's energy figures; owns the output-token history the counterfactuals use, and
/// each meter's marginal GPU energy per output token.
pub(crate) struct Accountant {
    pub energy: EnergyConfig,
    pub history: TokenHistory,
    pub settings: crate::energy::EnergySettings,
    pub settings_hash: String,
    marginal_wh_per_token: Vec<Option<crate::energy::Range>>,
    /// The latest request time seen: each row is charged the host's wall time since it.
    last_ts_ms: Option<i64>,
    /// The latency of the latest LLM answer per model and length, so a repeat of it from the
    /// cache is capped as that call was (bounded: cleared past `REPEATS_KEPT` entries).
    answer_latency_s: std::collections::HashMap<(String, u32), f64>,
    /// Where each row's cost and energy go once computed: the budgets of its key and tenant.
    pub(super) charge: Option<std::sync::Arc<crate::limits::Limits>>,
}

/// How many LLM answers' latencies the accountant keeps for the repeats of them.
const REPEATS_KEPT: usize = 10_000;

impl Accountant {
    pub(crate) fn new(energy: EnergyConfig, history: TokenHistory) -> Accountant {
        let settings = energy.settings();
        let settings_hash = settings.hash();
        let marginal_wh_per_token = vec![None; energy.meters.len()];
        Accountant {
            energy,
            history,
            settings,
            settings_hash,
            marginal_wh_per_token,
            last_ts_ms: None,
            answer_latency_s: std::collections::HashMap::new(),
            charge: None,
        }
    }

    /// A meter's marginal GPU energy per output token, as its readings estimate it lately.
    pub(crate) fn marginal_rate(&mut self, meter: usize, wh_per_token: crate::energy::Range) {
        if let Some(rate) = self.marginal_wh_per_token.get_mut(meter) {
            *rate = Some(wh_per_token);
        }
    }

    pub(crate) fn account(&mut self, r: &LedgerRecord) -> Accounting {
        let model = r.model.as_deref().unwrap_or("unknown");
        let prompt = f64::from(r.prompt_tokens.unwrap_or(0));
        let completion = f64::from(r.completion_tokens.unwrap_or(0));
        let latency_s = Some(r.latency_ms / 1e3);
        let mut counterfactual_tokens = None;
        let mut counterfactual_tokens_bounds = None;
        let mut tokens_from_history = false;
        // Any LLM answer after a search (escalated, or shadow mode) pays for that search.
        let searched = r.escalated || r.search_cpu_us.is_some();
        let meter = crate::energy::meter_for(&self.energy.meters, model);
        let site = meter.and_then(|i| self.energy.meters.get(i)).map(|m| &m.site);
        let measured_call = site
            .zip(r.measured_gpu_wh)
            .map(|(site, gpu_wh)| crate::energy::Measured {
                gpu_wh: crate::energy::Range::exact(gpu_wh),
                site,
                marginal: false,
            });
        // A call that did not happen on metered GPUs: the marginal energy of its tokens, never the
        // interval's average, whose idle draw is spent anyway (the energy audit's H1). Until the
        // meter's readings can estimate it, the modelled call stands in, marked estimated.
        let rate = meter.and_then(|i| self.marginal_wh_per_token.get(i).copied().flatten());
        let avoided_on_meter = |tokens: crate::energy::Range| {
            site.zip(rate).map(|(site, rate)| crate::energy::Measured {
                gpu_wh: crate::energy::Range {
                    low: tokens.low * rate.low,
                    central: tokens.central * rate.central,
                    high: tokens.high * rate.high,
                },
                site,
                marginal: true,
            })
        };
        // The LLM call this row's answer stands for, avoided (a repeat from the cache, or shadow
        // mode's would-be saving): its marginal energy on metered GPUs, else booked as that call
        // was, its latency capping the generation time, so never above the call.
        let call_avoided = |latency_s: Option<f64>| match avoided_on_meter(crate::energy::Range::exact(completion)) {
            Some(marginal) => Outcome::Search {
                prompt_tokens: prompt,
                expected_output_tokens: crate::energy::Range::exact(completion),
                measured: Some(marginal),
            },
            None => Outcome::Repeat {
                prompt_tokens: prompt,
                completion_tokens: completion,
                latency_s,
            },
        };
        // What this row's answer stands for, when it avoided a call: a repeat of an LLM answer
        // from the cache avoided the call it repeats, as long, and capped by that call's latency
        // when this ledger saw it (a repeat was booked 7.8% above the call in the energy audit's
        // M4; after a restart, the modelled generation time); a search answer, or a stored one,
        // avoided an answer to a lookup as long as this model's history says.
        let avoided = match r.served() {
            Served::Cache if r.cache_origin == Some(CacheOrigin::Llm) => {
                counterfactual_tokens = Some(completion);
                counterfactual_tokens_bounds = Some([completion, completion]);
                tokens_from_history = true;
                let key = (model.to_string(), r.completion_tokens.unwrap_or(0));
                Avoided::Repeat(call_avoided(self.answer_latency_s.get(&key).copied()))
            }
            Served::Search | Served::Cache => {
                let (tokens, from_history) = self.history.expected(model, self.energy.local.lookup_answer_tokens);
                counterfactual_tokens = Some(tokens.central);
                counterfactual_tokens_bounds = Some([tokens.low, tokens.high]);
                tokens_from_history = from_history;
                Avoided::Lookup {
                    tokens,
                    measured: avoided_on_meter(tokens),
                }
            }
            Served::Escalated | Served::Llm | Served::Passthrough | Served::Unrouted => Avoided::Nothing,
        };
        let outcome = outcome_of(
            &CallFacts {
                served: r.served(),
                searched,
                prompt_tokens: prompt,
                completion_tokens: completion,
                latency_s,
                requested_model: r.requested_model.as_deref(),
                tier_review: r.tier_review_of.is_some(),
                measured: measured_call,
            },
            avoided,
        );
        if matches!(r.served(), Served::Llm | Served::Escalated) && r.status == 200 {
            if let (Some(tokens), Some(latency)) = (r.completion_tokens, latency_s) {
                if self.answer_latency_s.len() >= REPEATS_KEPT {
                    self.answer_latency_s.clear();
                }
                self.answer_latency_s.insert((model.to_string(), tokens), latency);
            }
        }
        // Only answers to lookups tell how long an avoided answer to a lookup would have been.
        let lookup = r.class == Some(crate::classify::Class::Lookup);
        if lookup && r.route == RouteTaken::Llm && r.status == 200 && r.usage_source == UsageSource::Upstream {
            if let Some(tokens) = r.completion_tokens {
                let tokens = f64::from(tokens);
                self.history.observe(model, tokens, tokens * tokens, 1);
            }
        }
        // The host's wall time since the previous request, so the rows together carry all of it
        // (rows may arrive out of order: metered ones wait for their meter).
        let host_s = self.last_ts_ms.map_or(0.0, |last| (r.ts_ms - last).max(0) as f64 / 1e3);
        self.last_ts_ms = Some(self.last_ts_ms.map_or(r.ts_ms, |last| last.max(r.ts_ms)));
        let work = LocalWork {
            proxy_cpu_s: r.proxy_cpu_us / 1e6,
            search_cpu_s: r.search_cpu_us.unwrap_or(0.0) / 1e6,
            host_s,
        };
        let costs = account(&self.energy.catalogue, &self.energy.local, model, outcome, work);
        // The would-be saving compares the search answer with the LLM answer actually given.
        let shadow_saved = (r.mode == crate::classify::Mode::Shadow
            && r.shadow_route == Some(crate::classify::Route::Search))
        .then(|| {
            // The call that would have been avoided is this row's own (it was booked 4.8% above
            // it in the energy audit's M4).
            account(
                &self.energy.catalogue,
                &self.energy.local,
                model,
                call_avoided(latency_s),
                work,
            )
            .saved
        });
        // A tier in shadow mode: the requested model's answer against the cheaper one's, at the
        // length the answer had.
        let tier_shadow_saved = r
            .tier_shadow_model
            .as_deref()
            .filter(|_| matches!(r.served(), Served::Llm | Served::Escalated) && r.status == 200)
            .map(|cheaper| {
                let would = Outcome::Downgraded {
                    prompt_tokens: prompt,
                    completion_tokens: completion,
                    latency_s: None,
                    measured: None,
                    requested: model,
                    searched: false,
                };
                account(
                    &self.energy.catalogue,
                    &self.energy.local,
                    cheaper,
                    would,
                    LocalWork::default(),
                )
                .saved
            });
        Accounting {
            costs,
            counterfactual_tokens,
            tokens_from_history,
            shadow_saved,
            tier_shadow_saved,
            counterfactual_tokens_bounds,
        }
    }
}

/// Computes a row's figures and names the settings they were computed under.
pub(super) fn account_row(accountant: &mut Accountant, metrics: &Metrics, r: &mut LedgerRecord) {
    let accounting = accountant.account(r);
    if let Some(limits) = &accountant.charge {
        let actual = &accounting.costs.actual;
        limits.charge(
            &r.limit_subjects(),
            actual.cost_usd.central,
            actual.energy_wh.central,
            r.ts_ms,
        );
    }
    metrics.observe_costs(matches!(r.served(), Served::Search | Served::Cache), &accounting.costs);
    r.accounting = Some(accounting);
    r.settings_hash = Some(accountant.settings_hash.clone());
    if let Some(model) = r.model.as_deref() {
        let resolved = accountant.energy.catalogue.resolve(model);
        r.model_entry = Some(resolved.spec.name.clone());
        r.model_match = Some(resolved.how.as_str().to_string());
    }
}
