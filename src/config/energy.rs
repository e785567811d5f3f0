//! `[energy]`: the zone, PUE, watts per core and water factor the energy model reads, checked
//! against the built-in catalogue.

use std::sync::Arc;

use super::{problem, raw, Problem};
use crate::energy::EnergyConfig;
use crate::energy::{Catalogue, LocalSettings};

pub(super) fn validate_energy(raw: &raw::RawEnergy, problems: &mut Vec<Problem>) -> EnergyConfig {
    let catalogue = match Catalogue::builtin() {
        Ok(c) => c,
        Err(e) => {
            problems.push(problem(
                "energy",
                e,
                "rebuild config/models.toml with scripts/build_energy_tables.py",
            ));
            return EnergyConfig {
                catalogue: Arc::new(Catalogue::empty()),
                local: fallback_local(),
            };
        }
    };
    let zone = match catalogue.zone(&raw.zone) {
        Some(z) => z.clone(),
        None => {
            let codes: Vec<&str> = catalogue.zones().iter().map(|z| z.code.as_str()).collect();
            problems.push(problem(
                "energy.zone",
                format!("unknown zone `{}`", raw.zone),
                format!("use one of {}", codes.join(", ")),
            ));
            fallback_local().zone
        }
    };
    if !(1.0..=3.0).contains(&raw.pue) {
        problems.push(problem(
            "energy.pue",
            format!("{} is not a plausible PUE", raw.pue),
            "use 1.0 to 3.0 (1.56 is the 2024 industry average)",
        ));
    }
    let [lo, hi] = raw.watts_per_core;
    if !(lo > 0.0 && lo <= hi) {
        problems.push(problem(
            "energy.watts_per_core",
            "must be [low, high] with 0 < low <= high",
            "e.g. [4.0, 12.0]",
        ));
    }
    if raw.default_output_tokens.is_some() {
        problems.push(problem(
            "energy.default_output_tokens",
            "is replaced: it booked an avoided lookup answer as long as a typical chat answer (300 tokens), several times what LLMs write for a lookup",
            "remove it; `lookup_answer_tokens = [20, 50, 150]` (low, central, high) is the prior until the ledger has 20 LLM answers to lookups per model",
        ));
    }
    let [low_tokens, central_tokens, high_tokens] = raw.lookup_answer_tokens;
    if !(low_tokens > 0.0 && low_tokens <= central_tokens && central_tokens <= high_tokens) {
        problems.push(problem(
            "energy.lookup_answer_tokens",
            "must be [low, central, high] with 0 < low <= central <= high",
            "e.g. [20, 50, 150]",
        ));
    }
    if raw.onsite_wue_l_per_kwh < 0.0 {
        problems.push(problem(
            "energy.onsite_wue_l_per_kwh",
            "must not be negative",
            "0 for air-cooled rooms",
        ));
    }
    EnergyConfig {
        catalogue: Arc::new(catalogue),
        local: LocalSettings {
            zone,
            pue: raw.pue,
            watts_per_core: (lo, hi),
            onsite_wue_l_per_kwh: raw.onsite_wue_l_per_kwh,
            lookup_answer_tokens: crate::energy::Range {
                low: low_tokens,
                central: central_tokens,
                high: high_tokens,
            },
            // Set from `[search]`, which knows the backend.
            search_wh_per_query: None,
        },
    }
}

pub(super) fn fallback_local() -> LocalSettings {
    LocalSettings {
        zone: crate::energy::Zone {
            code: "WOR".into(),
            name: "world".into(),
            gco2e_per_kwh: 550.0,
            water_l_per_kwh: 3.0,
            source: "placeholder while the config has errors".into(),
        },
        pue: 1.56,
        watts_per_core: (4.0, 12.0),
        onsite_wue_l_per_kwh: 0.0,
        lookup_answer_tokens: crate::energy::Range {
            low: 20.0,
            central: 50.0,
            high: 150.0,
        },
        search_wh_per_query: None,
    }
}
