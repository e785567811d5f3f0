//! Model tiers through `serve`, against a mock upstream that logs the model it was asked for: a
//! cheaper model serves only the tasks the tier names, the client is told, shadow mode changes
//! nothing but the ledger, and the report shows downgrades as their own rows.

use serde_json::{json, Value};

use crate::support::*;

fn ask(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// The model of each chat call the mock saw, in order.
fn models_called(h: &Harness) -> Vec<String> {
    h.mock
        .seen()
        .iter()
        .filter(|s| s.path == "/v1/chat/completions")
        .map(|s| {
            serde_json::from_slice::<Value>(&s.body).unwrap()["model"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

const TIERS: &str = r#"
[[tiers]]
model = "gpt-4o"
cheaper = "gpt-4o-mini"
mode = "route"
last_user_regex = '^FAQ:'

[[tenant]]
name = "careful-team"
tiers = "shadow"
"#;

#[tokio::test]
async fn a_cheaper_model_serves_the_small_tasks_a_tier_names_and_says_so() {
    let mut h = Harness::start_with(TIERS, |_| {}).await;
    let translate = "Translate to French: the meeting is moved to Tuesday.";
    let r = h.chat(ask("gpt-4o", translate)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ecoroute-model"], "gpt-4o-mini");
    assert!(r.headers()["x-ecoroute-reason"]
        .to_str()
        .unwrap()
        .ends_with("tier: translation to gpt-4o-mini"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["model"], "gpt-4o-mini", "the answer names the model that wrote it");
    // Anything else keeps the model asked for: writing, code, another model.
    for (model, text) in [
        ("gpt-4o", "Write a limerick about Lima"),
        (
            "gpt-4o",
            "Translate this Python function to Rust: def add(a, b): return a + b",
        ),
        ("gpt-4.1", translate),
    ] {
        let r = h.chat(ask(model, text)).await;
        assert!(r.headers().get("x-ecoroute-model").is_none(), "{text}");
    }
    // The team's own rule serves what the task policy would keep.
    let r = h
        .chat(ask("gpt-4o", "FAQ: how do I reset my password? Answer in two steps."))
        .await;
    assert_eq!(r.headers()["x-ecoroute-model"], "gpt-4o-mini");
    assert!(r.headers()["x-ecoroute-reason"]
        .to_str()
        .unwrap()
        .ends_with("tier: rule to gpt-4o-mini"));
    // A tenant in shadow mode is served by the model it asked for; the ledger keeps the would-be.
    let r = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("x-ecoroute-tenant", "careful-team")
        .json(&ask("gpt-4o", translate))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("x-ecoroute-model").is_none());
    assert_eq!(
        models_called(&h),
        ["gpt-4o-mini", "gpt-4o", "gpt-4o", "gpt-4.1", "gpt-4o-mini", "gpt-4o"]
    );

    let rows = h.stop().await;
    let downgraded = rows.iter().find(|r| r.requested_model.is_some()).unwrap();
    assert_eq!(downgraded.model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(downgraded.requested_model.as_deref(), Some("gpt-4o"));
    let a = downgraded.accounting.unwrap();
    assert!(
        a.costs.saved.energy_wh.low > 0.0,
        "gpt-4o's call avoided, gpt-4o-mini's paid: {a:?}"
    );
    let shadow = rows.iter().find(|r| r.tier_shadow_model.is_some()).unwrap();
    assert_eq!(shadow.model.as_deref(), Some("gpt-4o"));
    let would = shadow.accounting.unwrap().tier_shadow_saved.unwrap();
    assert!(would.energy_wh.low > 0.0);
    assert!(
        shadow.accounting.unwrap().costs.saved.energy_wh.high <= 0.0,
        "shadow saves nothing"
    );

    let report: Value = serde_json::from_str(&run_report(&h.ledger_path(), "route", "json")).unwrap();
    assert_eq!(report["by_route"]["downgraded"], 2);
    assert_eq!(report["tier_shadow"]["requests"], 1);
    let group = report_group(&report, "downgraded");
    assert!(group["energy_saved_wh"]["low"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn tiers_are_checked_at_load() {
    let toml = |extra: &str| test_config_toml("http://127.0.0.1:9/v1", std::path::Path::new("/tmp"), extra);
    let bad = "[[tiers]]\nmodel = \"gpt-4o\"\ncheaper = \"gpt-4o\"\ntasks = [\"essay\"]\nmode = \"sometimes\"\nlast_user_regex = \"(\"\n";
    let err = ecoroute::config::Config::from_toml_str(&toml(bad), std::path::Path::new("t.toml"), &|_| None)
        .err()
        .unwrap()
        .to_string();
    for key in [
        "tiers[0].cheaper",
        "tiers[0].tasks[0]",
        "tiers[0].mode",
        "tiers[0].last_user_regex",
    ] {
        assert!(err.contains(key), "{key} in {err}");
    }
    let bad = "[[tiers]]\nmodel = \"gpt-4o\"\ncheaper = \"gpt-4o-mini\"\nmax_difficulty = 1.5\n";
    let err = ecoroute::config::Config::from_toml_str(&toml(bad), std::path::Path::new("t.toml"), &|_| None)
        .err()
        .unwrap()
        .to_string();
    for key in ["tiers[0].max_difficulty", "calibrate-tiers"] {
        assert!(err.contains(key), "{key} in {err}");
    }
}

/// In shadow mode, a sampled share is also answered by the cheaper model after the client has its
/// answer; both answers are kept for review (with `ledger.store_prompts`), and the extra call is
/// booked as pure cost.
#[tokio::test]
async fn shadow_review_calls_the_cheaper_model_too_and_counts_its_cost() {
    let tiers = "[[tiers]]\nmodel = \"gpt-4o\"\ncheaper = \"gpt-4o-mini\"\nreview_sample = 1.0\n";
    let mut h = Harness::start_with(tiers, |c| c.ledger.store_prompts = true).await;
    let translate = "Translate to French: the meeting is moved to Tuesday.";
    let r = h.chat(ask("gpt-4o", translate)).await;
    assert!(r.headers().get("x-ecoroute-model").is_none(), "shadow: served as asked");
    let mut streamed = ask("gpt-4o", "Classify this review as positive or negative: great phone.");
    streamed["stream"] = json!(true);
    let _ = h.chat(streamed).await.text().await.unwrap();
    // Not a small task: no review.
    h.chat(ask("gpt-4o", "Write a limerick about Lima")).await;
    // The review calls run off the client's path; give them a moment.
    for _ in 0..50 {
        if models_called(&h).len() == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut called = models_called(&h);
    called.sort();
    assert_eq!(called, ["gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o-mini", "gpt-4o-mini"]);
    let reviews: Vec<_> = h
        .mock
        .seen()
        .into_iter()
        .filter(|s| s.path == "/v1/chat/completions")
        .map(|s| serde_json::from_slice::<Value>(&s.body).unwrap())
        .filter(|b| b["model"] == "gpt-4o-mini")
        .collect();
    assert!(
        reviews.iter().all(|b| b.get("stream").is_none()),
        "a review is asked for whole"
    );

    let rows = h.stop().await;
    let review_rows: Vec<_> = rows.iter().filter(|r| r.tier_review_of.is_some()).collect();
    assert_eq!(review_rows.len(), 2);
    for review in &review_rows {
        let original = rows
            .iter()
            .find(|r| Some(&r.request_id) == review.tier_review_of.as_ref())
            .unwrap();
        assert_eq!(original.tier_shadow_model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(
            original.review_answer.as_deref(),
            Some(LLM_TEXT),
            "the requested model's answer"
        );
        assert_eq!(
            review.review_answer.as_deref(),
            Some(LLM_TEXT),
            "the cheaper model's answer"
        );
        assert_eq!(review.model.as_deref(), Some("gpt-4o-mini"));
        let a = review.accounting.unwrap();
        assert_eq!(a.costs.counterfactual.energy_wh.high, 0.0, "it would not have happened");
        assert!(a.costs.saved.energy_wh.high < 0.0 && a.costs.actual.energy_wh.low > 0.0);
    }
    let report: Value = serde_json::from_str(&run_report(&h.ledger_path(), "route", "json")).unwrap();
    assert_eq!(report["tier_shadow"]["reviews"], 2);
    assert_eq!(report["tier_shadow"]["requests"], 2);
    assert!(report["tier_shadow"]["review_energy_wh"]["central"].as_f64().unwrap() > 0.0);
    assert_eq!(report_group(&report, "tier_review")["requests"], 2);
}

/// The attack review's M4: review calls take a few places of their own (an eighth of
/// `max_concurrency`), and a review that finds none is skipped and said so in the request's row.
/// At shutdown, a review still open is cut and booked, not lost.
#[tokio::test]
async fn review_calls_are_bounded_and_booked_at_shutdown() {
    let tiers = "[[tiers]]\nmodel = \"gpt-4o\"\ncheaper = \"gpt-4o-mini\"\nreview_sample = 1.0\n";
    let mut h = Harness::start_with(tiers, |c| {
        c.server.max_concurrency = 8;
        c.server.shutdown_grace = std::time::Duration::from_millis(300);
        c.llm.first_byte_timeout = std::time::Duration::from_secs(20);
        c.llm.total_timeout = std::time::Duration::from_secs(20);
    })
    .await;
    for i in 0..6 {
        let r = h
            .chat(ask(
                "gpt-4o",
                &format!("Translate to French ({i}): the meeting is moved __cheaper_hangs"),
            ))
            .await;
        assert_eq!(r.status(), 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut called = models_called(&h);
    called.sort();
    assert_eq!(
        called,
        ["gpt-4o"; 6]
            .iter()
            .chain(&["gpt-4o-mini"])
            .copied()
            .collect::<Vec<_>>()
    );
    let stopping = std::time::Instant::now();
    let rows = h.stop().await;
    assert!(
        stopping.elapsed() < std::time::Duration::from_secs(5),
        "the grace, then the cut"
    );
    let reviews: Vec<_> = rows.iter().filter(|r| r.tier_review_of.is_some()).collect();
    assert_eq!(reviews.len(), 1, "the open review is booked");
    assert_eq!(reviews[0].status, 503);
    assert!(
        reviews[0].error.as_deref().unwrap_or("").contains("shutting down"),
        "{:?}",
        reviews[0].error
    );
    let originals: Vec<_> = rows.iter().filter(|r| r.tier_shadow_model.is_some()).collect();
    assert_eq!(originals.len(), 6);
    let skipped = originals
        .iter()
        .filter(|r| r.reason.contains("tier review skipped: 1 review calls already open"))
        .count();
    assert_eq!(skipped, 5);
}

/// Two requests no task policy would downgrade, and a `max_difficulty` between the difficulty
/// router's scores of the two (read from the shipped model, so a retrained one keeps the test).
fn easy_hard_and_threshold() -> (&'static str, &'static str, f64) {
    let model = ecoroute::classify::difficulty::DifficultyModel::builtin().unwrap();
    let easy = "Write a limerick about Lima";
    let hard = "Calculate the eigenvalues of the 3x3 matrix [[2,1,0],[1,3,1],[0,1,4]] and find the determinant.";
    let (e, h) = (model.difficulty(easy), model.difficulty(hard));
    assert!(e < h, "the router must score the maths harder: {e} vs {h}");
    (easy, hard, (e + h) / 2.0)
}

#[tokio::test]
async fn route_mode_sends_an_easy_prompt_to_the_cheaper_model_by_difficulty_and_a_hard_one_to_the_strong() {
    let (easy, hard, max) = easy_hard_and_threshold();
    let tiers = format!(
        "[[tiers]]\nmodel = \"gpt-4o\"\ncheaper = \"gpt-4o-mini\"\ntasks = []\nmode = \"route\"\nmax_difficulty = {max}\n"
    );
    let mut h = Harness::start_with(&tiers, |_| {}).await;
    let r = h.chat(ask("gpt-4o", easy)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ecoroute-model"], "gpt-4o-mini");
    let reason = r.headers()["x-ecoroute-reason"].to_str().unwrap().to_string();
    assert!(
        reason.contains("tier: difficulty ") && reason.ends_with("to gpt-4o-mini"),
        "{reason}"
    );
    let r = h.chat(ask("gpt-4o", hard)).await;
    assert!(
        r.headers().get("x-ecoroute-model").is_none(),
        "the hard one keeps gpt-4o"
    );
    assert_eq!(models_called(&h), ["gpt-4o-mini", "gpt-4o"]);

    let rows = h.stop().await;
    let downgraded: Vec<_> = rows.iter().filter(|r| r.requested_model.is_some()).collect();
    assert_eq!(downgraded.len(), 1);
    assert_eq!(downgraded[0].model.as_deref(), Some("gpt-4o-mini"));
    // The report shows the tier's saving apart, with the quality the router promised there.
    let report: Value = serde_json::from_str(&run_report(&h.ledger_path(), "route", "json")).unwrap();
    let t = &report["tiers"];
    assert_eq!(t["requests"], 1, "{t}");
    assert_eq!(t["by_difficulty"], 1, "{t}");
    assert!(t["energy_saved_wh"]["low"].as_f64().unwrap() > 0.0, "{t}");
    let promise = t["router_promises"][0].as_str().unwrap();
    assert!(promise.contains(&format!("max_difficulty {max}")), "{promise}");
    let md = run_report(&h.ledger_path(), "route", "md");
    assert!(md.contains("Model tiers saved"), "{md}");
    let html = run_report(&h.ledger_path(), "route", "html");
    assert!(
        html.contains("Apart from search: the tiers saved") && html.contains("Difficulty router at max_difficulty")
    );
}

#[tokio::test]
async fn shadow_mode_by_difficulty_forwards_to_the_strong_model_and_records_the_would_be_tier() {
    let (easy, hard, max) = easy_hard_and_threshold();
    // No mode: shadow is the default.
    let tiers =
        format!("[[tiers]]\nmodel = \"gpt-4o\"\ncheaper = \"gpt-4o-mini\"\ntasks = []\nmax_difficulty = {max}\n");
    let mut h = Harness::start_with(&tiers, |_| {}).await;
    for text in [easy, hard] {
        let r = h.chat(ask("gpt-4o", text)).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("x-ecoroute-model").is_none(), "shadow: served as asked");
    }
    assert_eq!(models_called(&h), ["gpt-4o", "gpt-4o"]);
    let rows = h.stop().await;
    let would: Vec<_> = rows.iter().filter(|r| r.tier_shadow_model.is_some()).collect();
    assert_eq!(would.len(), 1, "only the easy one would have gone to the cheaper model");
    assert_eq!(would[0].tier_shadow_model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(would[0].model.as_deref(), Some("gpt-4o"));
    assert!(
        would[0].reason.contains("tier shadow: difficulty "),
        "{}",
        would[0].reason
    );
    let report: Value = serde_json::from_str(&run_report(&h.ledger_path(), "route", "json")).unwrap();
    assert_eq!(report["tier_shadow"]["requests"], 1);
    assert!(report["tiers"]["router_promises"][0]
        .as_str()
        .unwrap()
        .contains("max_difficulty"));
}
