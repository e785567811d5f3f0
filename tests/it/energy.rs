//! The footprint a manager reads, end to end through `serve`: measured GPU energy from a fake
//! DCGM exporter, the settings each row was computed under, and the report that states both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use serde_json::Value;

use crate::support::*;

/// Wh the fake exporter's GPUs draw between two reads: two GPUs, 0.5 Wh each.
const WH_PER_READ: f64 = 1.0;

/// A fake NVIDIA DCGM exporter: two GPUs whose cumulative energy counters (mJ) rise by 0.5 Wh
/// each every time the page is read, so every interval holds exactly [`WH_PER_READ`].
async fn start_fake_dcgm_exporter() -> (String, Arc<AtomicU64>) {
    let reads = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&reads);
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                let per_gpu_mj = n as f64 * WH_PER_READ / 2.0 * 3.6e6;
                format!(
                    "# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot (in mJ).\n\
# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n\
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{gpu=\"0\",UUID=\"GPU-0\"}} {per_gpu_mj}\n\
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{gpu=\"1\",UUID=\"GPU-1\"}} {per_gpu_mj}\n\
DCGM_FI_DEV_POWER_USAGE{{gpu=\"0\",UUID=\"GPU-0\"}} 250.0\n"
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/metrics"), reads)
}

#[tokio::test]
async fn llm_calls_on_metered_gpus_are_booked_at_their_measured_energy() {
    let (url, reads) = start_fake_dcgm_exporter().await;
    let extra = format!(
        r#"
[[energy.meter]]
url = "{url}"
models = ["gpt-4o-mini"]
scrape_interval_ms = 1000
pue = [1.0, 1.0]
zone = "FRA"
"#
    );
    let mut h = Harness::start_with(&extra, |_| {}).await;
    // Three writing requests, 17 output tokens each (the mock's answer), and a lookup that search
    // answers: it used no GPU, so it never waits for the meter.
    for text in [
        "Write a limerick about Lima",
        "Write a haiku about fog",
        "Write a poem about Quito",
    ] {
        assert_eq!(h.chat(user(text)).await.status(), 200);
    }
    let lookup = h.chat(user("What is the capital of Peru?")).await;
    assert_eq!(lookup.headers()["x-ecoroute-route"], "search");
    // Let at least one scheduled read happen before the final one at shutdown.
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let rows = h.stop().await;
    assert!(
        reads.load(Ordering::SeqCst) >= 2,
        "a baseline read and at least one more"
    );

    let llm: Vec<_> = rows.iter().filter(|r| r.route == "llm").collect();
    assert_eq!(llm.len(), 3);
    let mut shares = Vec::new();
    for r in &llm {
        let a = r.accounting.unwrap();
        assert!(a.costs.measured, "{r:?}");
        let gpu_wh = r.measured_gpu_wh.expect("a measured share");
        shares.push(gpu_wh);
        // PUE 1.0: the actual energy is the measured GPU energy plus the modelled rest of the
        // server, which for a 17-token answer is a small part.
        let e = a.costs.actual.energy_wh;
        assert!(e.low >= gpu_wh && e.high < gpu_wh * 1.2, "{e:?} vs measured {gpu_wh}");
        // The call happened: no saving is claimed for measuring it.
        assert!(a.costs.saved.energy_wh.high <= 0.0);
    }
    // Each interval's whole energy went to the requests that ended in it, shared by tokens:
    // equal answers in one interval get equal shares, and the shares add up to whole intervals.
    let total: f64 = shares.iter().sum();
    assert!(
        (total - total.round()).abs() < 1e-9 && (1.0..=3.0).contains(&total.round()),
        "{shares:?}"
    );
    let search = rows.iter().find(|r| r.route == "search").unwrap();
    assert_eq!(
        search.measured_gpu_wh, None,
        "a search answer used no GPU and took no share"
    );

    // The report says what was measured.
    let report: Value = serde_json::from_str(&run_report(&h.ledger_path(), "day", "json")).unwrap();
    assert_eq!(report["measured_requests"], 3);
    assert!(report["energy_actual_measured_wh"]["central"].as_f64().unwrap() >= total);
    assert!(report["settings"]["each"][0]["settings"]["meters"][0]
        .as_str()
        .unwrap()
        .contains("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"));
}

/// Every row names the settings it was computed under; the ledger records them once per hash; a
/// config change gives new rows a new hash, and the report covers both and states each.
#[tokio::test]
async fn rows_name_their_settings_and_reports_state_them() {
    let mut h = Harness::start_with("[energy]\nzone = \"FRA\"\npue = 1.3\n", |_| {}).await;
    assert_eq!(h.chat(user("What is the capital of Peru?")).await.status(), 200);
    assert_eq!(h.chat(user("Write a limerick about Lima")).await.status(), 200);
    let first = h.stop().await;
    let hash = first[0].settings_hash.clone().expect("a settings hash");
    assert!(first.iter().all(|r| r.settings_hash.as_deref() == Some(hash.as_str())));

    // The same ledger under other settings.
    let ledger = h.ledger_path();
    let toml = test_config_toml(
        &h.mock.base_url(),
        h.dir.path(),
        "[energy]\nzone = \"DEU\"\npue = 1.5\nwatts_per_core = [5.0, 15.0]\n",
    );
    let config = ecoroute::config::Config::from_toml_str(&toml, &h.config_path(), &|_| None).unwrap();
    let server = ecoroute::server::start(config).await.unwrap();
    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{}/v1/chat/completions", server.addr))
        .json(&user("What is the capital of Chile?"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.shutdown().await.unwrap();
    let rows = ecoroute::ledger::read_all(&ledger).unwrap();
    let second = rows.last().unwrap().settings_hash.clone().unwrap();
    assert_ne!(second, hash, "other settings, another hash");

    let run = |format: &str| run_report(&ledger, "day", format);
    let report: Value = serde_json::from_str(&run("json")).unwrap();
    let s = &report["settings"];
    assert_eq!(s["hashes"].as_array().unwrap().len(), 2, "{s}");
    assert_eq!(s["each"][0]["settings"]["zone"], "FRA");
    assert_eq!(s["each"][1]["settings"]["zone"], "DEU");
    assert_eq!(s["pue"], 1.5, "the latest settings at the top");
    // Actual and avoided side by side, each a range, embodied emissions included.
    for key in [
        "co2e_actual_g",
        "water_actual_ml",
        "sci_gco2e_per_request",
        "energy_saved_wh",
    ] {
        let (low, central, high) = (
            report[key]["low"].as_f64().unwrap(),
            report[key]["central"].as_f64().unwrap(),
            report[key]["high"].as_f64().unwrap(),
        );
        assert!(
            low <= central && central <= high && high > 0.0,
            "{key}: {}",
            report[key]
        );
    }
    assert!(report["co2e_embodied_actual_g"]["central"].as_f64().unwrap() > 0.0);
    let sum: f64 = rows
        .iter()
        .map(|r| r.accounting.unwrap().costs.actual.co2e_g.central)
        .sum();
    assert!((report["co2e_actual_g"]["central"].as_f64().unwrap() - sum).abs() < 1e-12);

    // The HTML's methodology quotes the settings used (1.5 and 5 to 15 W), not constants.
    let html = run("html");
    assert!(html.contains("5 to 15 W"), "watts per core from the settings");
    assert!(html.contains("PUE of 1.5"), "the local PUE from the settings");
    assert!(html.contains(&hash) && html.contains(&second));
    // A mixed ledger: the methodology states the settings of every period, not the latest only
    // (the energy audit's L1), the reference scenario of the avoided figures and the version.
    let methodology = &html[html.find("<h2>Methodology</h2>").unwrap()..];
    let periods = &methodology[methodology.find("Settings periods").expect("periods stated")..];
    assert!(
        periods.contains("PUE 1.3")
            && periods.contains("PUE 1.5")
            && periods.contains("France")
            && periods.contains("Germany"),
        "{periods}"
    );
    assert!(html.contains("Reference scenario") && html.contains(ecoroute::report::ECOROUTE_VERSION));
    assert!(report["reference_scenario"].as_str().unwrap().contains("same requests"));
    assert_eq!(report["ecoroute_version"], ecoroute::report::ECOROUTE_VERSION);
    assert!(html.contains("Actual footprint") && html.contains("Measured:"));
    let markdown = run("md");
    assert!(markdown.contains(&second) && markdown.contains("## Actual footprint"));
    let csv = run("csv");
    assert!(
        csv.lines().last().unwrap().contains("ADEME"),
        "the total row cites the sources"
    );
}

/// A fake DCGM exporter for the energy audit's H1 board: 124 W of idle draw over wall time, plus
/// 0.2 J per generated token, the tokens counted by the test as the mock answers.
async fn start_board_exporter(tokens: Arc<AtomicU64>) -> String {
    let start = std::time::Instant::now();
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let mj = 124.0 * start.elapsed().as_secs_f64() * 1e3 + 200.0 * tokens.load(Ordering::SeqCst) as f64;
            async move { format!("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{gpu=\"0\"}} {mj}\n") }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/metrics")
}

/// The energy audit's H1 scenario, rerun: on provisioned GPUs a lookup that search answered saved
/// the marginal energy of the tokens it did not generate, never the interval's idle-inclusive
/// average (which booked 70× that); the search rows are not "measured"; and the idle draw of
/// intervals without calls is in the footprint of the calls after them, not in no report.
#[tokio::test]
async fn an_avoided_call_on_metered_gpus_saves_no_more_than_its_marginal_energy() {
    let tokens = Arc::new(AtomicU64::new(0));
    let url = start_board_exporter(Arc::clone(&tokens)).await;
    let extra = format!(
        r#"
[[energy.meter]]
url = "{url}"
models = ["gpt-4o-mini"]
scrape_interval_ms = 1000
pue = [1.1, 1.1]
zone = "FRA"
"#
    );
    let mut h = Harness::start_with(&extra, |_| {}).await;
    let idle = || tokio::time::sleep(std::time::Duration::from_millis(2200));
    // Idle, a burst of three calls, idle, one call, idle: intervals at three token rates.
    idle().await;
    for text in [
        "Write a limerick about Lima",
        "Write a haiku about fog",
        "Write a poem about Quito",
    ] {
        assert_eq!(h.chat(user(text)).await.status(), 200);
        tokens.fetch_add(17, Ordering::SeqCst);
    }
    idle().await;
    assert_eq!(h.chat(user("Write a sonnet about Cusco")).await.status(), 200);
    tokens.fetch_add(17, Ordering::SeqCst);
    idle().await;
    for text in ["What is the capital of Peru?", "What is the capital of Chile?"] {
        let r = h.chat(user(text)).await;
        assert_eq!(r.headers()["x-ecoroute-route"], "search", "{text}");
    }
    let rows = h.stop().await;

    let marginal_wh_per_token = 0.2 / 3600.0;
    let searches: Vec<_> = rows.iter().filter(|r| r.route == "search").collect();
    assert_eq!(searches.len(), 2);
    for r in &searches {
        let a = r.accounting.unwrap();
        assert!(!a.costs.measured, "a call that did not happen was not measured: {r:?}");
        let avoided_tokens = a.counterfactual_tokens.unwrap();
        let marginal = avoided_tokens * marginal_wh_per_token * 1.1;
        let saved = a.costs.saved.energy_wh;
        // The fit sees request timing jitter; a tenth either way, far from the 70× of the average.
        assert!(
            saved.central <= marginal * 1.1 && saved.central >= marginal * 0.9,
            "saved {saved:?} against the marginal {marginal} Wh"
        );
    }
    // The idle draw before and between the calls is in their measured energy: more than their
    // tokens' own energy by at least 3 of the 4.4 idle seconds at 124 W.
    let llm: Vec<_> = rows.iter().filter(|r| r.route == "llm").collect();
    assert_eq!(llm.len(), 4);
    let measured: f64 = llm.iter().map(|r| r.measured_gpu_wh.unwrap()).sum();
    let own = 4.0 * 17.0 * marginal_wh_per_token;
    assert!(measured > own + 124.0 * 3.0 / 3600.0, "{measured} Wh measured");
    let report: Value = serde_json::from_str(&run_report(&h.ledger_path(), "day", "json")).unwrap();
    assert_eq!(report["measured_requests"], 4, "the LLM calls, not the search answers");
    let read = report["measured_gpu_wh"].as_f64().unwrap();
    assert!(
        (read - measured).abs() < 1e-12,
        "the boards' energy, apart from PUE and host: {read}"
    );
}

/// The energy audit's M1: a dated name keeps its version (`claude-sonnet-4-20250514` is not
/// Sonnet 4.5), every row names the catalogue entry that priced it and how, and the report lists
/// each name that found another entry, so no substitution is silent.
#[tokio::test]
async fn rows_name_the_catalogue_entry_that_priced_them() {
    let mut h = Harness::start().await;
    let ask = |model: &str, text: &str| {
        let mut body = user(text);
        body["model"] = model.into();
        body
    };
    for (model, text) in [
        ("claude-sonnet-4-20250514", "What is the capital of Peru?"),
        ("gpt-4o-2024-08-06", "What is the capital of Chile?"),
        ("mistral-small", "Write a limerick about Lima"),
        ("gpt-4o-mini", "Write a haiku about fog"),
    ] {
        assert_eq!(h.chat(ask(model, text)).await.status(), 200, "{model}");
    }
    let rows = h.stop().await;
    let row = |model: &str| rows.iter().find(|r| r.model.as_deref() == Some(model)).unwrap();
    let entry = |model: &str| {
        let r = row(model);
        (r.model_entry.clone().unwrap(), r.model_match.clone().unwrap())
    };
    assert_eq!(entry("claude-sonnet-4-20250514"), ("unknown".into(), "default".into()));
    assert!(row("claude-sonnet-4-20250514").accounting.unwrap().costs.model_fallback);
    assert_eq!(entry("gpt-4o-2024-08-06"), ("gpt-4o".into(), "undated".into()));
    assert_eq!(entry("mistral-small"), ("mistral-small-latest".into(), "family".into()));
    assert_eq!(entry("gpt-4o-mini"), ("gpt-4o-mini".into(), "exact".into()));

    let report: Value = serde_json::from_str(&run_report(&h.ledger_path(), "day", "json")).unwrap();
    let resolutions: Vec<&str> = report["model_resolutions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        resolutions,
        [
            "claude-sonnet-4-20250514 → unknown (default)",
            "gpt-4o-2024-08-06 → gpt-4o (undated)",
            "mistral-small → mistral-small-latest (family)"
        ]
    );
    assert_eq!(report["substituted_model_requests"], 1);
    assert!(run_report(&h.ledger_path(), "day", "md").contains("mistral-small → mistral-small-latest (family)"));
}

/// The energy audit's M3: a pass-through call's CPU time is measured like a chat request's (it
/// was recorded as 0 while the report said CPU was measured on every request).
#[tokio::test]
async fn pass_through_calls_record_the_proxys_cpu_time() {
    let mut h = Harness::start().await;
    for _ in 0..3 {
        let r = h.client.get(h.url("/v1/models")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let rows = h.stop().await;
    let pass: Vec<_> = rows.iter().filter(|r| r.route == "passthrough").collect();
    assert_eq!(pass.len(), 3);
    assert!(pass.iter().all(|r| r.proxy_cpu_us > 0.0), "{pass:?}");
    let actual: f64 = pass
        .iter()
        .map(|r| r.accounting.unwrap().costs.actual.energy_wh.high)
        .sum();
    assert!(actual > 0.0, "their energy is in the footprint");
}

/// The energy audit's M3: SCI counts provisioned hardware, idle included. With
/// `energy.host_watts`, the proxy host's baseline over the time served is in the footprint (each
/// request carries the wall time since the one before), counts against the saving, and is named in
/// the settings; the rows together carry the whole span.
#[tokio::test]
async fn the_proxy_hosts_baseline_draw_is_in_the_footprint() {
    let mut h = Harness::start_with("[energy]\npue = 1.2\nhost_watts = [100.0, 200.0]\n", |_| {}).await;
    assert_eq!(h.chat(user("What is the capital of Peru?")).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(h.chat(user("What is the capital of Chile?")).await.status(), 200);
    let rows = h.stop().await;
    assert_eq!(rows.len(), 2);
    let span_s = (rows[1].ts_ms - rows[0].ts_ms) as f64 / 1e3;
    assert!(span_s >= 0.6, "{span_s}");
    let actual = |i: usize| rows[i].accounting.unwrap().costs.actual.energy_wh;
    let host = |watts: f64| watts * span_s / 3600.0 * 1.2;
    // What is left once the CPU time (default 4 to 12 W per busy core) is taken off: the second
    // request carries the host's 600 ms (low end at 100 W, high at 200 W), the first nothing.
    let host_part = |i: usize| {
        let cpu_s = (rows[i].proxy_cpu_us + rows[i].search_cpu_us.unwrap_or(0.0)) / 1e6;
        (
            actual(i).low - cpu_s * 4.0 / 3600.0 * 1.2,
            actual(i).high - cpu_s * 12.0 / 3600.0 * 1.2,
        )
    };
    let (low, high) = host_part(1);
    assert!(
        (low - host(100.0)).abs() < 1e-9 && (high - host(200.0)).abs() < 1e-9,
        "{low} {high}"
    );
    let (low, high) = host_part(0);
    assert!(low.abs() < 1e-9 && high.abs() < 1e-9, "the first has no time before it");
    let saved = rows[1].accounting.unwrap().costs.saved.energy_wh;
    let avoided = rows[1].accounting.unwrap().costs.counterfactual.energy_wh;
    assert!(
        saved.high <= avoided.high - host(100.0) + 1e-12,
        "the host counts against the saving"
    );
    let report: Value = serde_json::from_str(&run_report(&h.ledger_path(), "day", "json")).unwrap();
    assert_eq!(
        report["settings"]["each"][0]["settings"]["host_watts"],
        serde_json::json!([100.0, 200.0])
    );
}
