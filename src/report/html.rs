//! The HTML report: one self-contained file (inline CSS and SVG, no scripts or network), for
//! managers. Headline figures with their ranges, savings over time, routes, top tenants with an
//! eco-label, and the methodology with sources and uncertainty.

use super::{build, civil, figure, human, GroupBy, Report, Totals, LABEL_SOURCE};
use crate::energy::{EnergySettings, Range, METHOD_VERSION};
use crate::ledger::{LedgerRecord, StoredSettings};

/// Text for HTML; control characters (ESC, BEL) become spaces, as in every report format.
fn escape(s: &str) -> String {
    super::plain_text(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn card(title: &str, value: &str, detail: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"t\">{}</div><div class=\"v\">{}</div><div class=\"d\">{}</div></div>",
        escape(title),
        escape(value),
        escape(detail)
    )
}

fn range_text(r: Range, unit: &str) -> String {
    format!("range {} to {}", figure(r.low, unit), figure(r.high, unit))
}

/// Bars with low–high whiskers, one per group, for the central energy saved.
fn time_chart(report: &Report) -> String {
    let groups = &report.groups;
    if groups.is_empty() {
        return "<p class=\"muted\">No requests in this period.</p>".into();
    }
    let (w, h, pad) = (720.0, 220.0, 40.0);
    let max = groups
        .iter()
        .map(|g| g.totals.energy_saved_wh.high.max(0.0))
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let min = groups
        .iter()
        .map(|g| g.totals.energy_saved_wh.low.min(0.0))
        .fold(0.0f64, f64::min);
    let span = max - min;
    let y = |v: f64| pad + (max - v) / span * (h - 2.0 * pad);
    let step = (w - 2.0 * pad) / groups.len() as f64;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Energy saved per {}\">",
        report.by
    );
    svg.push_str(&format!(
        "<line x1=\"{pad}\" x2=\"{}\" y1=\"{y0}\" y2=\"{y0}\" class=\"axis\"/>",
        w - pad,
        y0 = y(0.0)
    ));
    for (i, g) in groups.iter().enumerate() {
        let r = g.totals.energy_saved_wh;
        // A few periods do not make a wall of colour: bars are at most 48 px wide, centred.
        let bw = (step * 0.7).min(48.0);
        let x = pad + step * i as f64 + (step - bw) / 2.0;
        let (top, bottom) = if r.central >= 0.0 {
            (y(r.central), y(0.0))
        } else {
            (y(0.0), y(r.central))
        };
        let class = if r.central >= 0.0 { "bar" } else { "bar neg" };
        svg.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" class=\"{class}\"><title>{}: {}</title></rect>",
            (bottom - top).max(0.5),
            escape(&g.key),
            escape(&human(r, "Wh"))
        ));
        let cx = x + bw / 2.0;
        svg.push_str(&format!(
            "<line x1=\"{cx:.1}\" x2=\"{cx:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" class=\"whisker\"/>",
            y(r.high),
            y(r.low)
        ));
        if groups.len() <= 16 || i % (groups.len() / 8).max(1) == 0 {
            // Dates as MM-DD: a year on every bar only crowds the axis.
            let short = if g.key.len() == 10 && g.key.as_bytes()[4] == b'-' {
                &g.key[5..]
            } else {
                g.key.as_str()
            };
            svg.push_str(&format!(
                "<text x=\"{cx:.1}\" y=\"{:.1}\" class=\"label\">{}</text>",
                h - 12.0,
                escape(short)
            ));
        }
    }
    svg.push_str(&format!(
        "<text x=\"4\" y=\"{:.1}\" class=\"label start\">{}</text>",
        pad - 8.0,
        escape(&figure(max, "Wh"))
    ));
    svg.push_str("</svg>");
    svg
}

/// Energy as something everyone has held: a smartphone charge is about 15 Wh (a 4,000 mAh battery
/// at 3.85 V); shown only when the saving reaches one.
fn phone_charges(wh: f64) -> String {
    const PHONE_CHARGE_WH: f64 = 15.0;
    let charges = wh / PHONE_CHARGE_WH;
    if charges >= 1.0 {
        format!(
            " · about {} smartphone charges (15 Wh each)",
            super::significant(charges)
        )
    } else {
        String::new()
    }
}

/// Each group's figures with their ranges, as `ecoroute report --by` asked.
fn breakdown_table(report: &Report) -> String {
    let mut table = format!(
        "<table><tr><th>{}</th><th>requests</th><th>from search</th><th>energy saved</th><th>CO2e avoided</th><th>spend avoided</th></tr>",
        escape(report.by)
    );
    for g in &report.groups {
        let s = &g.totals;
        table.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&g.key),
            s.requests,
            s.by_route.search,
            escape(&human(s.energy_saved_wh, "Wh")),
            escape(&human(s.co2e_saved_g, "g")),
            escape(&super::spend(s, s.cost_saved_usd))
        ));
    }
    table.push_str("</table>");
    table
}

fn routes_chart(t: &Totals) -> String {
    let parts = [
        ("answered from search", t.by_route.search, "search"),
        ("from the cache", t.by_route.cache, "cache"),
        ("LLM", t.by_route.llm, "llm"),
        ("escalated to the LLM", t.by_route.escalated, "esc"),
        ("pass-through", t.by_route.passthrough, "pass"),
    ];
    let total = parts.iter().map(|p| p.1).sum::<u64>().max(1) as f64;
    let mut x = 0.0;
    let mut svg = String::from("<svg viewBox=\"0 0 720 60\" role=\"img\" aria-label=\"Requests by route\">");
    let mut legend = String::from("<div class=\"legend\">");
    for (name, n, class) in parts {
        let w = n as f64 / total * 720.0;
        if w > 0.0 {
            svg.push_str(&format!("<rect x=\"{x:.1}\" y=\"10\" width=\"{w:.1}\" height=\"36\" class=\"r-{class}\"><title>{name}: {n}</title></rect>"));
        }
        x += w;
        legend.push_str(&format!(
            "<span><i class=\"r-{class}\"></i>{} {} ({:.1}%)</span>",
            escape(name),
            n,
            n as f64 / total * 100.0
        ));
    }
    svg.push_str("</svg>");
    legend.push_str("</div>");
    svg + &legend
}

fn tenant_table(rows: &[LedgerRecord]) -> String {
    let report = build(rows, GroupBy::Tenant, None, None);
    let mut groups = report.groups;
    groups.sort_by(|a, b| {
        b.totals
            .energy_saved_wh
            .central
            .total_cmp(&a.totals.energy_saved_wh.central)
    });
    let max = groups
        .iter()
        .map(|g| g.totals.energy_saved_wh.central.max(0.0))
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let mut out = String::from("<table><thead><tr><th>Tenant</th><th>Requests</th><th>LLM avoided</th><th>Energy saved</th><th></th><th>Energy per chat request</th><th>Reference LLM energy avoided</th><th>Grade</th></tr></thead><tbody>");
    for g in groups.iter().take(10) {
        let t = &g.totals;
        let per_request = t.energy_per_chat_request_wh;
        let label = t.eco_label.clone();
        let bar = (t.energy_saved_wh.central.max(0.0) / max * 160.0).round();
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td><svg width=\"160\" height=\"12\"><rect width=\"{bar}\" height=\"12\" class=\"bar\"/></svg></td><td>{}</td><td>{:.1}%</td><td><span class=\"label-{label}\">{label}</span></td></tr>",
            escape(&g.key),
            t.requests,
            t.llm_avoided_share * 100.0,
            escape(&figure(t.energy_saved_wh.central, "Wh")),
            escape(&figure(per_request, "Wh")),
            t.avoided_energy_share * 100.0
        ));
    }
    out.push_str("</tbody></table>");
    out
}

const STYLE: &str = "body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2b24;max-width:980px;margin:32px auto;padding:0 20px;background:#f7faf8}
h1{font-size:26px;margin:0}h2{font-size:18px;margin:32px 0 8px}.muted,.sub{color:#5c6f65}.sub{margin:4px 0 20px}
.cards{display:grid;grid-template-columns:repeat(3,1fr);gap:12px}.card{background:#fff;border:1px solid #dde8e1;border-radius:10px;padding:14px 16px}
.card .t{color:#5c6f65;font-size:13px}.card .v{font-size:24px;font-weight:650;color:#146c43}.card .d{color:#5c6f65;font-size:12px}
section{background:#fff;border:1px solid #dde8e1;border-radius:10px;padding:16px 18px;margin-top:16px}
svg{width:100%;height:auto}.bar{fill:#2f9e63}.neg{fill:#d9822b}.whisker{stroke:#1d2b24;stroke-width:1.2}.axis{stroke:#9fb3a8}
.label{font-size:10px;text-anchor:middle;fill:#5c6f65}.label.start{text-anchor:start}
.r-search,.legend .r-search{fill:#2f9e63;background:#2f9e63}.r-llm,.legend .r-llm{fill:#6c8cd5;background:#6c8cd5}
.r-esc,.legend .r-esc{fill:#d9822b;background:#d9822b}.r-pass,.legend .r-pass{fill:#b8c4bd;background:#b8c4bd}.r-cache,.legend .r-cache{fill:#1f7a8c;background:#1f7a8c}
.legend{display:flex;gap:18px;flex-wrap:wrap;font-size:13px}.legend i{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:6px;vertical-align:-1px}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{padding:6px 8px;border-bottom:1px solid #e6eee9;text-align:left}th{color:#5c6f65;font-weight:600}
[class^=label-]{display:inline-block;width:26px;text-align:center;border-radius:5px;color:#fff;font-weight:700}
.label-A{background:#1a7f37}.label-B{background:#57a639}.label-C{background:#d9b81b}.label-D{background:#e57a1f}.label-E{background:#c8372d}
.method p,.method li{font-size:14px}code{background:#eef3f0;padding:1px 4px;border-radius:4px}";

/// What the page is for: a saved report, or the live dashboard (refreshed, with the last hour).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Page {
    Report,
    Dashboard { refresh_seconds: u32 },
}

/// The whole report as one HTML document. `recorded` is the ledger's record of the settings its
/// rows name, so the methodology states the figures actually used.
pub(crate) fn render(
    rows: &[LedgerRecord],
    recorded: &[StoredSettings],
    from: Option<String>,
    to: Option<String>,
    generated_at_ms: i64,
    page: Page,
    breakdown: Option<GroupBy>,
) -> String {
    let span_days = match (rows.first(), rows.last()) {
        (Some(a), Some(b)) => (b.ts_ms - a.ts_ms) / 86_400_000,
        _ => 0,
    };
    let by = if span_days > 120 {
        GroupBy::Month
    } else if span_days > 45 {
        GroupBy::Week
    } else {
        GroupBy::Day
    };
    let over_time = build(rows, by, from.clone(), to.clone()).with_settings(recorded);
    let t = &over_time.totals;
    let period = match (&from, &to) {
        (None, None) => "all recorded traffic".to_string(),
        (f, t) => format!(
            "{} to {}",
            f.as_deref().unwrap_or("start"),
            t.as_deref().unwrap_or("now")
        ),
    };
    let refresh = match page {
        Page::Dashboard { refresh_seconds } => format!("<meta http-equiv=\"refresh\" content=\"{refresh_seconds}\">"),
        Page::Report => String::new(),
    };
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">{refresh}<title>ecoroute footprint and savings report</title><style>{STYLE}</style></head><body>"
    );
    html.push_str(&format!(
        "<h1>ecoroute footprint and savings report</h1><p class=\"sub\">{} · {} requests · generated {} UTC by {} · method {}</p>",
        escape(&period),
        t.requests,
        civil(generated_at_ms.div_euclid(86_400_000)),
        escape(super::ECOROUTE_VERSION),
        escape(METHOD_VERSION)
    ));
    if let Page::Dashboard { .. } = page {
        html.push_str(&live_panel(rows, generated_at_ms));
    }
    // The figures, only when there is something to count: an empty period shows no zeros as data.
    let mut figures = String::new();
    let per_request = t.energy_per_chat_request_wh;
    let chat = t.by_route.chat();
    let actual_cards = [
        (
            "Energy used",
            figure(t.energy_actual_wh.central, "Wh"),
            range_text(t.energy_actual_wh, "Wh"),
        ),
        (
            "CO2e emitted",
            figure(t.co2e_actual_g.central, "g"),
            format!(
                "{}; {} of it embodied",
                range_text(t.co2e_actual_g, "g"),
                figure(t.co2e_embodied_actual_g.central, "g")
            ),
        ),
        (
            "SCI per chat request",
            figure(t.sci_gco2e_per_request.central, "g"),
            format!("CO2e, {}", range_text(t.sci_gco2e_per_request, "g")),
        ),
        (
            "Energy per chat request",
            figure(per_request, "Wh"),
            "central; a figure, not a grade: it depends on the model chosen".to_string(),
        ),
    ];
    figures.push_str("<h2>Actual footprint</h2><div class=\"cards\">");
    for (title, value, detail) in &actual_cards {
        figures.push_str(&card(title, value, detail));
    }
    figures.push_str(&card(
        "Water used",
        &figure(t.water_actual_ml.central, "mL"),
        &range_text(t.water_actual_ml, "mL"),
    ));
    figures.push_str(&card(
        "Spend",
        &figure(t.cost_actual_usd.central, "USD"),
        &if t.unpriced_requests > 0 {
            format!(
                "at catalogue prices; {} requests unpriced (unknown, not $0)",
                t.unpriced_requests
            )
        } else {
            "at catalogue prices".to_string()
        },
    ));
    figures.push_str(&if t.measured_requests > 0 {
        card(
            "Metered LLM calls",
            &figure(t.energy_actual_measured_wh.central, "Wh"),
            &format!(
                "{} LLM calls on metered GPUs: {} read at the boards (idle draw included) × PUE, plus the modelled host",
                t.measured_requests,
                figure(t.measured_gpu_wh, "Wh")
            ),
        )
    } else {
        card(
            "Measured GPU energy",
            "not metered",
            "LLM energy is estimated; [[energy.meter]] measures self-hosted GPUs",
        )
    });
    figures.push_str(
        "</div><h2>Avoided <span class=\"muted\">(apart from the footprint, never netted with it)</span></h2>",
    );
    figures.push_str(&format!(
        "<p class=\"muted\"><b>Reference scenario.</b> {}</p>",
        escape(super::REFERENCE_SCENARIO)
    ));
    let cards = [
        (
            "Energy saved",
            figure(t.energy_saved_wh.central, "Wh"),
            format!(
                "{}{}{}",
                range_text(t.energy_saved_wh, "Wh"),
                phone_charges(t.energy_saved_wh.central),
                if t.by_route.cache > 0 {
                    format!(
                        "; {} of it on {} repeats from the cache",
                        figure(t.energy_saved_on_repeats_wh.central, "Wh"),
                        t.by_route.cache
                    )
                } else {
                    String::new()
                }
            ),
        ),
        (
            "CO2e avoided",
            figure(t.co2e_saved_g.central, "g"),
            range_text(t.co2e_saved_g, "g"),
        ),
        (
            "Water saved",
            figure(t.water_saved_ml.central, "mL"),
            range_text(t.water_saved_ml, "mL"),
        ),
        (
            "Spend avoided",
            figure(t.cost_saved_usd.central, "USD"),
            format!("{}, at catalogue prices", range_text(t.cost_saved_usd, "USD")),
        ),
        (
            "LLM calls avoided",
            format!("{:.1}%", t.llm_avoided_share * 100.0),
            format!(
                "{} of {chat} chat requests ({} from search, {} from the cache)",
                t.by_route.search + t.by_route.cache,
                t.by_route.search,
                t.by_route.cache
            ),
        ),
        (
            "Routing grade",
            t.eco_label.clone(),
            format!(
                "{:.1}% of the reference scenario's LLM energy avoided, repeats left out",
                t.avoided_energy_share * 100.0
            ),
        ),
    ];
    figures.push_str("<div class=\"cards\">");
    for (title, value, detail) in &cards {
        figures.push_str(&card(title, value, detail));
    }
    figures.push_str("</div>");
    figures.push_str(&format!("<section><h2>Energy saved per {}</h2>{}<p class=\"muted\">Bars: central estimate; lines: low to high. Orange bars are periods where ecoroute cost more than it saved.</p></section>", by.as_str(), time_chart(&over_time)));
    figures.push_str(&format!(
        "<section><h2>How requests were served</h2>{}</section>",
        routes_chart(t)
    ));
    if let Some(by) = breakdown {
        figures.push_str(&format!(
            "<section><h2>By {}</h2>{}</section>",
            by.as_str(),
            breakdown_table(&build(rows, by, from.clone(), to.clone()))
        ));
    }
    figures.push_str(&format!(
        "<section><h2>Top tenants</h2>{}<p class=\"muted\">{}.</p></section>",
        tenant_table(rows),
        escape(LABEL_SOURCE)
    ));
    if t.shadow.requests > 0 {
        figures.push_str(&format!(
            "<section><h2>Shadow mode</h2><p>{} requests ran in shadow mode: classified and searched, but answered by the LLM. Search would have answered {} of them, saving {} ({}). These are not included in the savings above.</p></section>",
            t.shadow.requests,
            t.shadow.would_answer_from_search,
            escape(&figure(t.shadow.would_save_energy_wh.central, "Wh")),
            escape(&range_text(t.shadow.would_save_energy_wh, "Wh"))
        ));
    }
    if t.by_route.downgraded > 0 || t.tier_shadow.requests > 0 {
        figures.push_str(&format!(
            "<section><h2>Model tiers</h2><p>{} requests were served by a cheaper model than the one asked for (the response says which, in <code>model</code> and <code>x-ecoroute-model</code>); their saving is in the figures above, by route <code>downgraded</code>. In shadow mode, {} more would have been, saving {} ({}) and {}; not counted above.</p></section>",
            t.by_route.downgraded,
            t.tier_shadow.requests,
            escape(&figure(t.tier_shadow.would_save_energy_wh.central, "Wh")),
            escape(&range_text(t.tier_shadow.would_save_energy_wh, "Wh")),
            escape(&human(t.tier_shadow.would_save_cost_usd, "USD"))
        ));
        if t.tiers.requests > 0 {
            figures.push_str(&format!(
                "<p>Apart from search: the tiers saved {} ({}), {} and {} ({} of the requests chosen by the difficulty router).</p>",
                escape(&figure(t.tiers.energy_saved_wh.central, "Wh")),
                escape(&range_text(t.tiers.energy_saved_wh, "Wh")),
                escape(&human(t.tiers.co2e_saved_g, "gCO2e")),
                escape(&human(t.tiers.cost_saved_usd, "USD")),
                t.tiers.by_difficulty
            ));
        }
        for promise in &t.tiers.router_promises {
            figures.push_str(&format!("<p>Difficulty router at {}.</p>", escape(promise)));
        }
    }
    if t.requests > 0 {
        let llm_calls = t.by_route.llm + t.by_route.escalated;
        let metered = if t.measured_requests > 0 {
            format!(
                "; the GPU energy of {} of the {llm_calls} LLM calls, on metered GPUs ({})",
                t.measured_requests,
                escape(&human(t.energy_actual_measured_wh, "Wh"))
            )
        } else {
            "; no GPU is metered".to_string()
        };
        let mut quality = format!(
            "<p><b>Measured:</b> the CPU time of the proxy and of the search on all {} requests (a pass-through answer's body is relayed unmeasured){metered}. <b>Estimated:</b> the other {} LLM calls and the {} avoided ones ({} answered from search, {} from the cache), by the EcoLogits method below, or the meter's marginal energy on metered GPUs; embodied emissions, from hardware figures.</p>",
            t.requests,
            llm_calls.saturating_sub(t.measured_requests),
            t.by_route.search + t.by_route.cache,
            t.by_route.search,
            t.by_route.cache
        );
        if t.unknown_model_requests > 0 {
            quality.push_str(&format!(
                "<p><b>Defaults:</b> {} requests named a model that is not in the catalogue; their figures use the stated default (8–132 billion active parameters), which widens their range. {} of the energy saved rests on that default.</p>",
                t.unknown_model_requests,
                escape(&human(t.energy_saved_on_default_model_wh, "Wh"))
            ));
        }
        if !t.model_resolutions.is_empty() {
            quality.push_str(&format!(
                "<p><b>Model names:</b> priced by a catalogue entry of another name: {}. {} requests rest on another spelling's entry (family), {} of the energy saved.</p>",
                escape(&t.model_resolutions.iter().cloned().collect::<Vec<_>>().join("; ")),
                t.substituted_model_requests,
                escape(&human(t.energy_saved_on_substituted_model_wh, "Wh"))
            ));
        }
        if t.by_route.search > 0 {
            quality.push_str(&format!(
                "<p>What a search answer avoided is as long as the LLM's answers to lookups in this ledger for {} search answers, and the stated prior (a one- or two-sentence answer) for {}; the prior's range is wider.</p>",
                t.avoided_length_from_history, t.avoided_length_from_prior
            ));
        }
        if t.unpriced_requests > 0 {
            quality.push_str(&format!(
                "<p>{} requests used a model without a price: their spend is unknown, not $0, and is left out of spend and spend avoided (<code>energy.prices</code> sets prices).</p>",
                t.unpriced_requests
            ));
        }
        figures.push_str(&format!(
            "<section><h2>What the figures rest on</h2>{quality}</section>"
        ));
    }
    if t.requests > 0 {
        html.push_str(&figures);
    } else {
        html.push_str("<section><h2>No requests</h2><p>The ledger has no requests in this period: there is no footprint or saving to report, rather than a zero one. The methodology and settings below are what a report would use.</p></section>");
    }
    html.push_str(&methodology(over_time.settings.latest(), &over_time.settings.each));
    html.push_str(&settings_section(&over_time));
    html.push_str(&format!(
        "<section class=\"method\"><h2>Boundary and sources</h2><p>{}</p><ul>",
        escape(super::BOUNDARY)
    ));
    for source in &super::SOURCES {
        html.push_str(&format!(
            "<li>{}: {}</li>",
            escape(source.what),
            escape(source.reference)
        ));
    }
    html.push_str("</ul></section>");
    html.push_str("</body></html>");
    html
}

/// The settings' figures as the methodology quotes them; without a record (rows from before
/// settings were recorded, or none), the shipped defaults, said as such.
struct Quoted {
    watts: String,
    pue: String,
    zone: String,
    prior: String,
    embodied: String,
    catalogue: String,
}

fn quoted(settings: Option<&EnergySettings>) -> Quoted {
    match settings {
        Some(e) => Quoted {
            watts: format!("{} to {} W", e.watts_per_core[0], e.watts_per_core[1]),
            pue: e.pue.to_string(),
            zone: format!("{} ({}: {} gCO2e/kWh)", e.zone_name, e.zone, e.zone_gco2e_per_kwh),
            prior: format!(
                "{} to {} tokens, central {}",
                e.lookup_answer_tokens[0], e.lookup_answer_tokens[2], e.lookup_answer_tokens[1]
            ),
            embodied: format!(
                "{} to {} g",
                e.embodied_g_per_core_hour[0], e.embodied_g_per_core_hour[1]
            ),
            catalogue: e.catalogue_version.clone(),
        },
        None => Quoted {
            watts: "(not recorded; default 4 to 12) W".into(),
            pue: "(not recorded; default 1.56)".into(),
            zone: "(not recorded; default world)".into(),
            prior: "(not recorded; default 20 to 150 tokens, central 50)".into(),
            embodied: "(not recorded; default 1.9 to 3.4) g".into(),
            catalogue: "ecologits 0.11.3".into(),
        },
    }
}

/// When rows span several sets of settings, what each period's figures used: the methodology's
/// sentences quote the latest, and most rows may have been computed under older ones.
fn periods(each: &[StoredSettings]) -> String {
    if each.len() < 2 {
        return String::new();
    }
    let items: String = each
        .iter()
        .map(|s| {
            let q = quoted(Some(&s.settings));
            format!(
                "<li>From {} (settings <code>{}</code>): {} per busy core, PUE {}, grid {}; embodied {} per core-hour; avoided-answer prior {}; catalogue <code>{}</code>.</li>",
                civil(s.first_seen_ms.div_euclid(86_400_000)),
                escape(&s.hash),
                escape(&q.watts),
                escape(&q.pue),
                escape(&q.zone),
                escape(&q.embodied),
                escape(&q.prior),
                escape(&q.catalogue)
            )
        })
        .collect();
    format!(
        "<p><b>Settings periods.</b> These rows were computed under {} sets of settings, each row under the set it names; the sentences here quote the latest. Each period used:</p><ul>{items}</ul>",
        each.len()
    )
}

/// The methodology, written from the settings the figures were computed under.
fn methodology(settings: Option<&EnergySettings>, each: &[StoredSettings]) -> String {
    let periods = periods(each);
    let q = quoted(settings);
    let meters = settings.map_or(0, |e| e.meters.len());
    let measured = if meters > 0 {
        format!("<p><b>Measured GPU energy.</b> {meters} GPU energy meter(s) are configured: the energy their counters report for an interval is shared among the LLM calls that ended in it, by output tokens, times the site's PUE; an interval in which no call ended passes its (idle) energy to the next one that has calls, so the idle draw is in the footprint and the SCI. The rest of the server and the embodied share are estimated as below. A call that search avoided on these GPUs saved only the <i>marginal</i> energy of its tokens, the slope of the meter's power against token rate (idle draw excluded) times the site's PUE, with no host or manufacturing share: those are spent whether or not it runs. Calls on other models are estimated.</p>")
    } else {
        "<p><b>Measured GPU energy.</b> No GPU energy meter is configured (<code>[[energy.meter]]</code>), so every LLM call is estimated.</p>".to_string()
    };
    format!("<section class=\"method\"><h2>Methodology</h2>
<p><b>What is counted.</b> Every request is a ledger row with its actual cost and its counterfactual (what it would have cost without ecoroute). The actual footprint is reported as it is; the saving is the difference, reported apart: a lookup answered from search saves the LLM call that did not happen, less the measured cost of the search and of the proxy; a request sent to the LLM, or escalated after a weak search, can only show a small loss. No saving is claimed for a request that reached the LLM.</p>
<p><b>LLM calls</b> follow EcoLogits' LLM-inference method (genai-impact/ecologits, release 0.11.3): GPU energy per output token grows with the model's active parameters (regression on measured H100 inference energy, batch of 64 requests); the GPUs needed follow from the total parameters at 16 bits on 80 GB cards; the server's other power (1.2 kW per 8 GPUs) is counted over the generation time; the provider's data-centre PUE is applied. Model parameters, data centres and prices come from the catalogue <code>{catalogue}</code>. The output length of an avoided call is that of the model's answers <i>to lookups</i> (escalations, shadow mode) in this ledger, their mean with its 95% interval once there are 20, else the configured prior ({prior}); answers to writing and code requests, ten times longer, do not count.</p>
{measured}
<p><b>Search and the proxy</b> are measured: thread CPU time of the work, times {watts} per busy core, times the local PUE of {pue}; their grid is {zone}.</p>
{periods}
<p><b>CO2e</b> is energy times the carbon intensity of the grid (ADEME Base Empreinte via EcoLogits, location-based): the provider's data-centre country for LLM calls, the local zone for local work. It includes <b>embodied emissions</b>: for LLM calls, EcoLogits' share of the manufacturing of the server (5,700 kgCO2e) and of each GPU (273 kgCO2e) over a 3-year life, per generation time and batch; for local work, {embodied} per busy core-hour. <b>Water</b> is on-site use (the provider's WUE) plus the water of electricity generation. <b>Spend</b> uses catalogue prices per million input and output tokens; a model without a price has unknown spend, left out and counted.</p>
<p><b>SCI</b> (Software Carbon Intensity, ISO/IEC 21031:2024) is the actual CO2e of the chat requests, embodied included, per chat request. Avoided emissions do not lower it.</p>
<p><b>Uncertainty.</b> Each figure is a range. Totals add lows to lows and highs to highs, because the uncertainty (model size, hardware) is the same for every call of a model and does not average out. Independent estimates put a GPT-4o query lower than EcoLogits (Epoch AI about 0.3 Wh; Google reports 0.24 Wh for its median Gemini prompt), so central savings are at the generous end: <b>quote the low end when a conservative figure is needed</b>. A lightly loaded self-hosted GPU costs far more per token than the batch of 64 the method assumes (ten times or more at batch 1, measured on an H100): meter it.</p>
<p><b>Not counted:</b> model training, networks and end-user devices, and the idle capacity of the provider's fleet; the proxy host's baseline draw only when <code>energy.host_watts</code> is set (the settings below say whether it was).</p></section>",
        catalogue = escape(&q.catalogue),
        prior = escape(&q.prior),
        watts = escape(&q.watts),
        pue = escape(&q.pue),
        zone = escape(&q.zone),
        embodied = escape(&q.embodied),
    )
}

/// Every set of settings the report's rows were computed under, with its hash.
fn settings_section(report: &Report) -> String {
    let items: String = super::settings_lines(&report.settings)
        .iter()
        .map(|line| format!("<li>{}</li>", escape(line)))
        .collect();
    format!("<section class=\"method\"><h2>Settings behind these figures</h2><ul>{items}</ul></section>")
}

/// The live view an operator watches during a rollout: the last hour, minute by minute.
fn live_panel(rows: &[LedgerRecord], now_ms: i64) -> String {
    let hour_ago = now_ms - 3_600_000;
    let recent: Vec<&LedgerRecord> = rows
        .iter()
        .filter(|r| r.ts_ms >= hour_ago && r.ts_ms <= now_ms)
        .collect();
    let last_minutes = |minutes: i64| {
        let since = now_ms - minutes * 60_000;
        recent.iter().filter(|r| r.ts_ms >= since).count() as f64 / (minutes as f64 * 60.0)
    };
    let hour = build(recent.iter().copied(), GroupBy::Route, None, None).totals;
    let chat = hour.by_route.chat();
    // Requests per minute over the hour, answered from search on top.
    let mut per_minute = [(0u32, 0u32); 60];
    for r in &recent {
        let slot = ((r.ts_ms - hour_ago) / 60_000).clamp(0, 59) as usize;
        per_minute[slot].0 += 1;
        if matches!(r.served(), crate::ledger::Served::Search | crate::ledger::Served::Cache) {
            per_minute[slot].1 += 1;
        }
    }
    let peak = per_minute.iter().map(|m| m.0).max().unwrap_or(0).max(1) as f64;
    // Axes: requests per minute up the left (0 and the peak), minutes before now along the bottom.
    let mut svg = format!(
        "<svg viewBox=\"0 0 770 100\" role=\"img\" aria-label=\"Requests per minute, last hour\">\
<line x1=\"44\" y1=\"5\" x2=\"44\" y2=\"75\" class=\"axis\"/><line x1=\"44\" y1=\"75\" x2=\"766\" y2=\"75\" class=\"axis\"/>\
<text x=\"40\" y=\"9\" class=\"label\" text-anchor=\"end\">{peak}/min</text><text x=\"40\" y=\"75\" class=\"label\" text-anchor=\"end\">0</text>\
<text x=\"50\" y=\"90\" class=\"label\">60 min ago</text><text x=\"410\" y=\"90\" class=\"label\">30 min ago</text><text x=\"760\" y=\"90\" class=\"label\">now</text>"
    );
    for (i, (all, search)) in per_minute.iter().enumerate() {
        let x = 46.0 + 12.0 * i as f64;
        let h_all = f64::from(*all) / peak * 70.0;
        let h_search = f64::from(*search) / peak * 70.0;
        svg.push_str(&format!(
            "<rect x=\"{x:.0}\" y=\"{:.1}\" width=\"10\" height=\"{h_all:.1}\" class=\"r-llm\"><title>{all} requests, {search} from search</title></rect><rect x=\"{x:.0}\" y=\"{:.1}\" width=\"10\" height=\"{h_search:.1}\" class=\"r-search\"/>",
            75.0 - h_all,
            75.0 - h_search
        ));
    }
    svg.push_str("</svg>");
    let avoided = if chat == 0 {
        0.0
    } else {
        (hour.by_route.search + hour.by_route.cache) as f64 / chat as f64 * 100.0
    };
    let mut out = String::from("<section><h2>Live: the last hour</h2><div class=\"cards\">");
    out.push_str(&card(
        "Requests per second",
        &super::significant(last_minutes(1)),
        &format!(
            "last minute; {} over the last 5 minutes",
            super::significant(last_minutes(5))
        ),
    ));
    out.push_str(&card(
        "Routes, last hour",
        &format!("{} requests", hour.requests),
        &format!(
            "{} search · {} cache · {} LLM · {} escalated · {} pass-through",
            hour.by_route.search,
            hour.by_route.cache,
            hour.by_route.llm,
            hour.by_route.escalated,
            hour.by_route.passthrough
        ),
    ));
    out.push_str(&card(
        "Saving rate",
        &format!("{} per hour", figure(hour.energy_saved_wh.central, "Wh")),
        &format!("{avoided:.1}% of chat requests answered without the LLM"),
    ));
    out.push_str("</div>");
    out.push_str(&svg);
    out.push_str(
        "<p class=\"muted\">Requests per minute over the last hour; green: answered without the LLM (search or cache).</p></section>",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_thresholds() {
        use crate::report::eco_label;
        assert_eq!(eco_label(0.6), 'A');
        assert_eq!(eco_label(0.4), 'A');
        assert_eq!(eco_label(0.25), 'B');
        assert_eq!(eco_label(0.1), 'C');
        assert_eq!(eco_label(0.01), 'D');
        assert_eq!(eco_label(0.0), 'E');
        assert_eq!(eco_label(-0.001), 'E', "a loss is no grade above E");
    }

    /// The dashboard's per-minute chart says what its bars measure: a scale up the side and the
    /// minutes along the bottom (the energy audit's L3).
    #[test]
    fn the_per_minute_chart_has_axes() {
        let now = 10_000_000;
        let rows: Vec<LedgerRecord> = (0..3)
            .map(|i| LedgerRecord {
                ts_ms: now - i * 60_000,
                ..LedgerRecord::default()
            })
            .collect();
        let html = render(
            &rows,
            &[],
            None,
            None,
            now,
            Page::Dashboard { refresh_seconds: 30 },
            None,
        );
        let chart = &html[html.find("Requests per minute, last hour").unwrap()..];
        assert!(chart.contains("/min</text>") && chart.contains(">0</text>"), "{chart}");
        assert!(chart.contains("60 min ago") && chart.contains(">now<"));
    }

    /// An empty period shows no zeros as data (the energy audit's L3), but still says how a report
    /// is made.
    #[test]
    fn an_empty_report_shows_no_figures() {
        let html = render(&[], &[], None, None, 0, Page::Report, None);
        assert!(html.contains("No requests"), "{html}");
        assert!(!html.contains("Energy used") && !html.contains("Routing grade"));
        assert!(html.contains("Methodology") && html.contains("Boundary and sources"));
    }

    #[test]
    fn html_is_self_contained_and_escapes_tenants() {
        let rows = vec![LedgerRecord {
            ts_ms: 1,
            route: crate::ledger::RouteTaken::Search,
            tenant: Some("<script>x</script>".into()),
            ..LedgerRecord::default()
        }];
        let html = render(&rows, &[], None, None, 0, Page::Report, Some(GroupBy::Tenant));
        assert!(html.starts_with("<!doctype html>"));
        assert!(
            !html.contains("<script>"),
            "tenant names are escaped, and there are no scripts"
        );
        assert!(html.contains("&lt;script&gt;"));
        assert!(
            !html.contains("http://") && !html.contains("src="),
            "no external resources"
        );
        for part in [
            "Energy saved",
            "<svg",
            "Methodology",
            "Top tenants",
            "<h2>By tenant</h2>",
            "at catalogue prices",
            "Actual footprint",
            "SCI per chat request",
            "not recorded",
        ] {
            assert!(html.contains(part), "{part}");
        }
        assert!(!render(&rows, &[], None, None, 0, Page::Report, None).contains("<h2>By "));
        assert_eq!(phone_charges(3.0), "");
        assert_eq!(phone_charges(30.0), " · about 2.00 smartphone charges (15 Wh each)");
    }
}
