//! `[energy]`: the zone, PUE, watts per core and water factor the energy model reads, checked
//! against the built-in catalogue.

use std::sync::Arc;

use super::{problem, raw, Problem};
use crate::energy::EnergyConfig;
use crate::energy::{Catalogue, LocalSettings, MeterSpec, Site};

/// A team's catalogue file, read into the catalogue: [`Catalogue::overlay`] or [`Catalogue::set_prices`].
type FileReader = fn(&mut Catalogue, &str, &str) -> Result<(), String>;

pub(super) fn validate_energy(raw: &raw::RawEnergy, problems: &mut Vec<Problem>) -> EnergyConfig {
    let mut catalogue = match Catalogue::builtin() {
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
                meters: Vec::new(),
            };
        }
    };
    // A team's models first, then its prices (which may name those models).
    let files: [(&str, &Option<String>, &str, FileReader); 2] = [
        (
            "energy.catalogue",
            &raw.catalogue,
            "use the keys of config/models.toml ([[model]] name, provider, total_params_b, active_params_b, source; [[provider]] name, zone, pue, wue_l_per_kwh, source)",
            Catalogue::overlay,
        ),
        (
            "energy.prices",
            &raw.prices,
            "each [[price]] has model, input_usd_per_mtok, output_usd_per_mtok and source",
            Catalogue::set_prices,
        ),
    ];
    for (key, path, fix, read) in files {
        let Some(path) = path else { continue };
        let applied = std::fs::read_to_string(path)
            .map_err(|e| {
                (
                    format!("cannot read {path}: {e}"),
                    "give the path of a TOML file, relative to the working directory",
                )
            })
            .and_then(|text| read(&mut catalogue, &text, path).map_err(|e| (format!("{path}: {e}"), fix)));
        if let Err((message, fix)) = applied {
            problems.push(problem(key, message, fix));
        }
    }
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
    let [embodied_low, embodied_high] = raw.embodied_g_per_core_hour;
    if !(embodied_low >= 0.0 && embodied_low <= embodied_high) {
        problems.push(problem(
            "energy.embodied_g_per_core_hour",
            "must be [low, high] with 0 <= low <= high",
            "e.g. [1.9, 3.4] (a 5,700 kg server over 3 years and 64 to 112 cores)",
        ));
    }
    if let Some([host_low, host_high]) = raw.host_watts {
        if !(host_low >= 0.0 && host_low <= host_high && host_high <= 10_000.0) {
            problems.push(problem(
                "energy.host_watts",
                "must be [low, high] watts with 0 <= low <= high <= 10000",
                "the host's idle-to-typical draw, e.g. [60.0, 120.0] for a small server; leave it out to count busy CPU time only",
            ));
        }
    }
    let meters = raw
        .meter
        .iter()
        .enumerate()
        .filter_map(|(i, m)| validate_meter(i, m, &catalogue, &zone, problems))
        .collect();
    EnergyConfig {
        catalogue: Arc::new(catalogue),
        meters,
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
            embodied_g_per_core_hour: (embodied_low, embodied_high),
            host_watts: raw.host_watts.map(|[low, high]| (low, high)),
        },
    }
}

/// `[[energy.meter]]` entry `i`, checked: a URL, a known unit, models, a sane interval, PUE and zone.
fn validate_meter(
    i: usize,
    m: &raw::RawMeter,
    catalogue: &Catalogue,
    local_zone: &crate::energy::Zone,
    problems: &mut Vec<Problem>,
) -> Option<MeterSpec> {
    let key = |field: &str| format!("energy.meter[{i}].{field}");
    let before = problems.len();
    if url::Url::parse(&m.url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
        problems.push(problem(
            key("url"),
            format!("`{}` is not an http(s) URL", m.url),
            "the exporter's metrics page, e.g. http://127.0.0.1:9400/metrics (NVIDIA DCGM exporter)",
        ));
    }
    let wh_per_unit = match m.unit.as_str() {
        "mJ" => 1.0 / 3.6e6,
        "J" => 1.0 / 3600.0,
        "Wh" => 1.0,
        "kWh" => 1000.0,
        other => {
            problems.push(problem(
                key("unit"),
                format!("unknown unit `{other}`"),
                "mJ (DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION), J, Wh or kWh",
            ));
            0.0
        }
    };
    if m.models.is_empty() {
        problems.push(problem(
            key("models"),
            "names no model",
            "list the model names clients send for the models these GPUs serve",
        ));
    }
    if !(1_000..=300_000).contains(&m.scrape_interval_ms) {
        problems.push(problem(
            key("scrape_interval_ms"),
            format!("{} ms is outside 1,000 to 300,000", m.scrape_interval_ms),
            "5000 reads the counter every 5 s",
        ));
    }
    let [pue_low, pue_high] = m.pue;
    if !(1.0 <= pue_low && pue_low <= pue_high && pue_high <= 3.0) {
        problems.push(problem(
            key("pue"),
            "must be [low, high] within 1.0 to 3.0",
            "e.g. [1.1, 1.56]",
        ));
    }
    let [wue_low, wue_high] = m.wue_l_per_kwh;
    if !(0.0 <= wue_low && wue_low <= wue_high) {
        problems.push(problem(
            key("wue_l_per_kwh"),
            "must be [low, high] with 0 <= low <= high",
            "[0.0, 0.0] for air-cooled rooms",
        ));
    }
    let zone = match &m.zone {
        None => local_zone.clone(),
        Some(code) => match catalogue.zone(code) {
            Some(z) => z.clone(),
            None => {
                problems.push(problem(
                    key("zone"),
                    format!("unknown zone `{code}`"),
                    "a code from config/zones.toml, e.g. FRA",
                ));
                local_zone.clone()
            }
        },
    };
    (problems.len() == before).then(|| MeterSpec {
        url: m.url.clone(),
        metric: m.metric.clone(),
        unit: m.unit.clone(),
        wh_per_unit,
        models: m.models.clone(),
        scrape_interval_ms: m.scrape_interval_ms,
        site: Site {
            pue: m.pue,
            wue_l_per_kwh: m.wue_l_per_kwh,
            zone,
        },
    })
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
        embodied_g_per_core_hour: (1.9, 3.4),
        host_watts: None,
    }
}
