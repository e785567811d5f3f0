//! Hot reload and the admin API, against the real server and a mock upstream.

use std::time::Duration;

use crate::support::*;
use serde_json::Value;

const TOKEN_ENV: &str = "ECOROUTE_TEST_ADMIN_TOKEN";
const TOKEN: &str = "admin-token-for-tests-0123456789";
const ADMIN: &str = "[admin]\ntoken_env = \"ECOROUTE_TEST_ADMIN_TOKEN\"\n";
const PERU_TO_LLM: &str = "[[rules]]\nname = \"peru-to-llm\"\nroute = \"llm\"\nlast_user_regex = \"Peru\"\n";

async fn start() -> Harness {
    std::env::set_var(TOKEN_ENV, TOKEN);
    Harness::start_with(ADMIN, |_| {}).await
}

async fn route_of(h: &Harness, text: &str) -> (String, String) {
    let r = h.chat(user(text)).await;
    let get = |name: &str| r.headers()[name].to_str().unwrap().to_string();
    (get("x-ecoroute-route"), get("x-ecoroute-reason"))
}

async fn reload(h: &Harness) -> reqwest::Response {
    h.client
        .post(h.url("/admin/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_reload_changes_routing_without_dropping_a_request() {
    let mut h = start().await;
    assert_eq!(route_of(&h, "What is the capital of Peru?").await.0, "search");

    let in_flight = h.spawn_held_request();
    tokio::time::sleep(Duration::from_millis(100)).await;

    h.rewrite_config(&format!("{ADMIN}{PERU_TO_LLM}"));
    let r = reload(&h).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "reloaded");

    let (route, reason) = route_of(&h, "What is the capital of Peru?").await;
    assert_eq!((route.as_str(), reason.as_str()), ("llm", "rule: peru-to-llm"));
    assert_eq!(
        in_flight.await.unwrap(),
        200,
        "the request in flight during the reload completed"
    );
    let rows = h.stop().await;
    assert_eq!(rows.len(), 3, "every request is in the ledger");
}

#[tokio::test]
async fn a_bad_reload_is_refused_and_the_old_config_stays() {
    let h = start().await;
    h.rewrite_config(&format!(
        "{ADMIN}[[rules]]\nname = \"broken\"\nroute = \"llm\"\nlast_user_regex = \"(unclosed\"\n"
    ));
    let r = reload(&h).await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    let problems = v["error"]["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().unwrap().contains("rules[0].last_user_regex")),
        "{v}"
    );
    assert_eq!(
        route_of(&h, "What is the capital of Peru?").await.0,
        "search",
        "the running config stayed"
    );
}

#[tokio::test]
async fn a_changed_config_file_is_picked_up() {
    let h = start().await;
    h.rewrite_config(&format!("{ADMIN}{PERU_TO_LLM}"));
    for _ in 0..40 {
        if route_of(&h, "What is the capital of Peru?").await.0 == "llm" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    panic!("the config file change was not picked up within 6 s");
}

#[tokio::test]
async fn admin_endpoints_need_the_token_and_hide_secrets() {
    std::env::set_var("ECOROUTE_TEST_UPSTREAM_SECRET", "sk-upstream-secret-value");
    std::env::set_var(TOKEN_ENV, TOKEN);
    let h = Harness::start_with(ADMIN, |c| {
        c.llm.api_key = Some("sk-upstream-secret-value".into());
        c.llm.api_key_env = Some("ECOROUTE_TEST_UPSTREAM_SECRET".into());
    })
    .await;
    for path in ["/admin/config", "/admin/explain?q=x"] {
        assert_eq!(h.client.get(h.url(path)).send().await.unwrap().status(), 401, "{path}");
    }
    assert_eq!(
        h.client.post(h.url("/admin/reload")).send().await.unwrap().status(),
        401
    );

    let text = h
        .client
        .get(h.url("/admin/config"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["llm"]["api_key"], "<redacted>");
    assert_eq!(v["admin"]["token"], "<redacted>");
    // Keys the hand-kept JSON had drifted away from.
    assert_eq!(v["routing"]["mode"], "route");
    assert!(v["routing"]["tenants"].is_array());
    assert!(v["rules"].is_array() && v["search"]["backend"].is_object());
    assert_eq!(v["classifier"]["allow_search_override"], false);
    assert!(v["server"]["header_read_timeout_ms"].is_u64() && v["ledger"]["batch_size"].is_u64());
    assert!(
        !text.contains("sk-upstream-secret-value") && !text.contains(TOKEN),
        "secrets are redacted: {text}"
    );

    let r = h
        .client
        .get(h.url("/admin/explain?q=What%20is%20the%20capital%20of%20Peru%3F"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["route"], "search");
    assert!(v["top_features"].as_array().unwrap().len() > 3);
    assert_eq!(v["search"]["verdict"]["answer"], "The capital of Peru is Lima.");

    let off = Harness::start().await;
    assert_eq!(
        off.client
            .post(off.url("/admin/reload"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "no token configured: admin is off"
    );
}

#[tokio::test]
async fn admin_login_takes_any_case_of_the_scheme_and_throttles_guessing() {
    let h = start().await;
    let get = |auth: String| {
        h.client
            .get(h.url("/admin/config"))
            .header("authorization", auth)
            .send()
    };
    assert_eq!(get(format!("bearer {TOKEN}")).await.unwrap().status(), 200);
    assert_eq!(get(format!("BEARER {TOKEN}")).await.unwrap().status(), 200);
    for i in 0..10 {
        let r = get(format!("Bearer wrong-guess-{i:04}-xxxxxxxxxxxx")).await.unwrap();
        assert_eq!(r.status(), 401, "guess {i}");
    }
    let r = get("Bearer wrong-guess-0010-xxxxxxxxxxxx".into()).await.unwrap();
    assert_eq!(r.status(), 429, "the eleventh failure in a minute");
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "too_many_attempts");
    // While throttled, even the right token waits: a guess that happens to be right must not
    // be told apart from the others.
    assert_eq!(get(format!("Bearer {TOKEN}")).await.unwrap().status(), 429);
}
