//! Shadow mode and per-tenant policy, through the real server.

use crate::support::*;
use serde_json::Value;

async fn ask(h: &Harness, text: &str, tenant: Option<&str>) -> (String, String, String) {
    let mut req = h.client.post(h.url("/v1/chat/completions")).json(&user(text));
    if let Some(t) = tenant {
        req = req.header("x-ecoroute-tenant", t);
    }
    let r = req.send().await.unwrap();
    let get = |name: &str| r.headers()[name].to_str().unwrap().to_string();
    let (route, reason) = (get("x-ecoroute-route"), get("x-ecoroute-reason"));
    let v: Value = r.json().await.unwrap();
    (
        route,
        reason,
        v["choices"][0]["message"]["content"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn shadow_mode_never_answers_from_search_but_ledgers_the_would_be_saving() {
    let mut h = Harness::start_with("[routing]\nmode = \"shadow\"\n", |_| {}).await;
    let (route, reason, content) = ask(&h, "What is the capital of Peru?", None).await;
    assert_eq!(route, "llm");
    assert_eq!(content, LLM_TEXT, "the answer came from the LLM");
    assert!(reason.starts_with("shadow: search would answer"), "{reason}");
    let (_, reason, _) = ask(&h, "Write a limerick about Lima", None).await;
    assert!(reason.starts_with("shadow: would route to the LLM"), "{reason}");
    assert_eq!(h.mock.chat_calls(), 2);

    let rows = h.stop().await;
    let lookup = &rows[0];
    assert_eq!((lookup.mode.as_str(), lookup.route.as_str()), ("shadow", "llm"));
    assert_eq!(lookup.shadow_route.map(|r| r.as_str()), Some("search"));
    assert!(lookup.shadow_answer.as_deref().unwrap().contains("Lima"));
    let a = lookup.accounting.unwrap();
    assert!(
        a.costs.saved.energy_wh.high < 0.0,
        "real saving: none, the search was extra work"
    );
    assert!(
        a.shadow_saved.unwrap().energy_wh.central > 0.0,
        "the would-be saving is recorded"
    );
    // Never more than the LLM call the row made: the would-be saving is that call less the
    // search's and the proxy's cost (the energy audit's M4 found it 4.8% above the call).
    let call = a.costs.counterfactual.energy_wh;
    let would = a.shadow_saved.unwrap().energy_wh;
    assert!(
        would.central <= call.central && would.high <= call.high,
        "{would:?} against {call:?}"
    );
    assert_eq!(rows[1].shadow_route.map(|r| r.as_str()), Some("llm"));
    assert!(rows[1].accounting.unwrap().shadow_saved.is_none());

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ecoroute"))
        .args([
            "report",
            "--ledger",
            h.ledger_path().to_str().unwrap(),
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["shadow"]["requests"], 2);
    assert_eq!(report["shadow"]["would_answer_from_search"], 1);
    assert!(report["shadow"]["would_save_energy_wh"]["central"].as_f64().unwrap() > 0.0);
    assert_eq!(
        report["by_route"]["search"], 0,
        "shadow traffic is not counted as answered from search"
    );
    assert!(
        report["energy_saved_wh"]["central"].as_f64().unwrap() < 0.0,
        "and claims no real saving"
    );
}

#[tokio::test]
async fn tenants_get_their_own_mode_rules_and_threshold() {
    let extra = r#"
[[tenant]]
name = "careful-team"
mode = "shadow"

[[tenant]]
name = "legacy-app"
mode = "off"

[[tenant]]
name = "strict-team"
lookup_threshold = 1.0

[[tenant]]
name = "peru-desk"
[[tenant.rules]]
name = "peru-needs-a-human-touch"
route = "llm"
last_user_regex = "Peru"
"#;
    let h = Harness::start_with(extra, |_| {}).await;
    let q = "What is the capital of Peru?";
    assert_eq!(ask(&h, q, None).await.0, "search", "the global policy routes");
    assert!(ask(&h, q, Some("careful-team")).await.1.starts_with("shadow:"));
    assert_eq!(ask(&h, q, Some("legacy-app")).await.1, "mode: off");
    let (route, reason, _) = ask(&h, q, Some("strict-team")).await;
    assert_eq!(route, "llm");
    assert!(reason.contains("< 1.00"), "its own threshold: {reason}");
    assert_eq!(ask(&h, q, Some("peru-desk")).await.1, "rule: peru-needs-a-human-touch");
    assert_eq!(
        ask(&h, "What is the capital of Chile?", Some("peru-desk")).await.0,
        "search",
        "its rule only"
    );
}

/// A company's chatbot has a system prompt; the team declares which of its prompts allow a plain,
/// sourced answer, and those requests may be answered from search while other prompts still go to
/// the LLM, and other tenants keep the guard.
#[tokio::test]
async fn a_tenant_declares_its_system_prompt_compatible_with_search_answers() {
    let extra = r#"
[[tenant]]
name = "acme"
search_compatible_system = "^You are Ada, Acme's assistant\\."
"#;
    let h = Harness::start_with(extra, |_| {}).await;
    let ask_with = |system: &'static str, tenant: &'static str| {
        let body = serde_json::json!({"model": "gpt-4o-mini", "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": "What is the capital of Peru?"}]});
        h.client
            .post(h.url("/v1/chat/completions"))
            .header("x-ecoroute-tenant", tenant)
            .json(&body)
            .send()
    };
    let route = |r: &reqwest::Response| {
        (
            r.headers()["x-ecoroute-route"].to_str().unwrap().to_string(),
            r.headers()["x-ecoroute-reason"].to_str().unwrap().to_string(),
        )
    };
    let ada = "You are Ada, Acme's assistant. Be friendly and helpful.";
    let r = ask_with(ada, "acme").await.unwrap();
    assert_eq!(route(&r).0, "search", "{:?}", route(&r));
    let content = r.json::<Value>().await.unwrap()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(content.contains("Lima"), "{content}");
    let r = ask_with("You are a pirate. Answer like one.", "acme").await.unwrap();
    assert_eq!(route(&r), ("llm".to_string(), "guard: system prompt".to_string()));
    let r = ask_with(ada, "another-team").await.unwrap();
    assert_eq!(route(&r), ("llm".to_string(), "guard: system prompt".to_string()));
}
