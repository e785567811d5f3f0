//! Issue #37: inbound keys (`[[keys]]`), the tenant they give, and limits and budgets per key and
//! tenant. Real server on port 0 in front of the mock upstream, with the headers the official
//! SDKs send (`Authorization: Bearer` from OpenAI's, `x-api-key` + `anthropic-version` from
//! Anthropic's).

use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::*;

const CI_KEY: &str = "sk-eco-ci-0123456789abcdef";
const OPS_KEY: &str = "sk-eco-ops-fedcba9876543210";

/// The `[[keys]]` entry of a key, hashed as `ecoroute hash-key` does.
fn key_entry(name: &str, key: &str, tenant: &str, extra: &str) -> String {
    format!(
        "[[keys]]\nname = \"{name}\"\nhash = \"{}\"\ntenant = \"{tenant}\"\n{extra}\n",
        ecoroute::config::keys::hash_key(key)
    )
}

fn two_keys() -> String {
    key_entry("ci", CI_KEY, "team-a", "") + &key_entry("ops", OPS_KEY, "ops", "may_set_tenant = true")
}

async fn with_upstream_keys(extra: &str) -> Harness {
    Harness::start_with(extra, |c| {
        c.llm.api_key = Some("sk-upstream-openai".to_string().into());
        c.llm.anthropic.api_key = Some("sk-upstream-anthropic".to_string().into());
    })
    .await
}

async fn openai(h: &Harness, key: Option<&str>, tenant: Option<&str>, text: &str) -> reqwest::Response {
    let mut r = h.client.post(h.url("/v1/chat/completions")).json(&user(text));
    if let Some(key) = key {
        r = r.bearer_auth(key);
    }
    if let Some(tenant) = tenant {
        r = r.header("x-ecoroute-tenant", tenant);
    }
    r.send().await.unwrap()
}

async fn anthropic(h: &Harness, key: &str, text: &str) -> reqwest::Response {
    h.client
        .post(h.url("/v1/messages"))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 64,
                      "messages": [{"role": "user", "content": text}]}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn without_a_valid_key_requests_are_401_in_their_apis_shape() {
    let mut h = with_upstream_keys(&two_keys()).await;
    let none = openai(&h, None, None, "Write a limerick about Lima").await;
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer realm=\"ecoroute\"");
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");

    let wrong = openai(&h, Some("sk-eco-guess"), None, "Write a limerick about Lima").await;
    assert_eq!(wrong.status(), 401);
    // The hash in the config is not a key.
    let hashed = openai(&h, Some(&ecoroute::config::keys::hash_key(CI_KEY)), None, "hi").await;
    assert_eq!(hashed.status(), 401);

    let claude = anthropic(&h, "sk-eco-guess", "Write a limerick about Lima").await;
    assert_eq!(claude.status(), 401);
    let body: Value = claude.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "authentication_error", "{body}");

    // Pass-through paths and the Responses API are behind the keys too.
    let models = h.client.get(h.url("/v1/models")).send().await.unwrap();
    assert_eq!(models.status(), 401);
    let responses = h
        .client
        .post(h.url("/v1/responses"))
        .json(&json!({"model": "gpt-4o-mini", "input": "Write a limerick about Lima"}))
        .send()
        .await
        .unwrap();
    assert_eq!(responses.status(), 401);
    // None of them reached the upstream, and every one has its ledger row.
    assert!(h.mock.seen().is_empty(), "{:?}", h.mock.seen());
    let rows = h.stop().await;
    assert_eq!(rows.iter().filter(|r| r.status == 401).count(), 6);
}

#[tokio::test]
async fn the_tenant_comes_from_the_key_and_the_key_never_goes_upstream() {
    let mut h = with_upstream_keys(&two_keys()).await;
    // OpenAI SDK style, claiming another tenant: the key's tenant wins.
    let r = openai(&h, Some(CI_KEY), Some("team-b"), "Write a limerick about Lima").await;
    assert_eq!(r.status(), 200);
    // A key allowed to set it: the tenant header is honoured.
    let r = openai(&h, Some(OPS_KEY), Some("team-z"), "Write a limerick about Lima").await;
    assert_eq!(r.status(), 200);
    let r = openai(&h, Some(OPS_KEY), None, "Write a limerick about Lima").await;
    assert_eq!(r.status(), 200);
    // Anthropic SDK style.
    let r = anthropic(&h, CI_KEY, "Write a limerick about Lima").await;
    assert_eq!(r.status(), 200);
    // A lookup answered from search is authenticated too, and keeps the key's tenant.
    let r = openai(&h, Some(CI_KEY), None, "What is the capital of Peru?").await;
    assert_eq!(r.status(), 200);

    let seen = h.mock.seen();
    assert_eq!(seen.len(), 4, "{seen:?}");
    for s in &seen {
        let headers = format!("{:?}", s.headers);
        assert!(
            !headers.contains(CI_KEY) && !headers.contains(OPS_KEY),
            "an inbound key went upstream: {headers}"
        );
        assert!(!headers.contains("x-ecoroute"), "{headers}");
    }
    assert_eq!(seen[0].headers["authorization"], "Bearer sk-upstream-openai");
    assert_eq!(seen[3].headers["x-api-key"], "sk-upstream-anthropic");

    // The inbound keys are nowhere the proxy writes or serves: not in the metrics, not in the
    // ledger (the tenant is the key's, the key's name is not a secret).
    let metrics = h.metrics().await;
    let rows = h.stop().await;
    for text in [metrics, format!("{rows:?}")] {
        for secret in [CI_KEY, OPS_KEY] {
            assert!(!text.contains(secret), "{secret} leaked");
            assert!(
                !text.contains(&ecoroute::config::keys::hash_key(secret)[7..]),
                "its hash leaked"
            );
        }
    }
    let tenants: Vec<Option<&str>> = rows.iter().map(|r| r.tenant.as_deref()).collect();
    assert_eq!(
        tenants,
        [
            Some("team-a"),
            Some("team-z"),
            Some("ops"),
            Some("team-a"),
            Some("team-a")
        ]
    );
}

#[tokio::test]
async fn keys_are_added_and_revoked_by_reload() {
    let h = with_upstream_keys(&key_entry("ci", CI_KEY, "team-a", "")).await;
    assert_eq!(openai(&h, Some(CI_KEY), None, "Write a limerick").await.status(), 200);
    assert_eq!(openai(&h, Some(OPS_KEY), None, "Write a limerick").await.status(), 401);
    // The ci key is revoked and the ops key added, in the file; a reload applies it.
    h.rewrite_config(&key_entry("ops", OPS_KEY, "ops", ""));
    h.server.as_ref().unwrap().state.reload().await.unwrap();
    assert_eq!(openai(&h, Some(CI_KEY), None, "Write a limerick").await.status(), 401);
    assert_eq!(openai(&h, Some(OPS_KEY), None, "Write a limerick").await.status(), 200);
    // Without keys: today's behaviour, the client's key is the one forwarded.
    h.rewrite_config("");
    h.server.as_ref().unwrap().state.reload().await.unwrap();
    let r = openai(&h, None, None, "Write a limerick").await;
    assert_eq!(r.status(), 200);
}

/// Azure's `api-key` header is a provider key too: with the proxy's own key it is not forwarded.
#[tokio::test]
async fn the_proxys_key_replaces_every_client_credential_header() {
    let h = with_upstream_keys("").await;
    let r = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("api-key", "sk-client-azure")
        .header("x-api-key", "sk-client-anthropic")
        .json(&user("Write a limerick about Lima"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = &h.mock.seen()[0];
    assert_eq!(seen.headers["authorization"], "Bearer sk-upstream-openai");
    assert!(seen.headers.get("api-key").is_none() && seen.headers.get("x-api-key").is_none());
}

#[test]
fn hash_key_prints_the_config_line() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecoroute"))
        .arg("hash-key")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"abc\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    // FIPS 180-2's test vector for "abc".
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "hash = \"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"\n"
    );
}

fn capped(text: &str, max_tokens: u32) -> Value {
    let mut body = user(text);
    body["max_tokens"] = json!(max_tokens);
    body
}

async fn send(h: &Harness, key: &str, body: &Value) -> reqwest::Response {
    h.client
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn over_a_rate_limit_is_a_429_with_retry_after_in_the_apis_shape() {
    let h = with_upstream_keys(&key_entry(
        "ci",
        CI_KEY,
        "team-a",
        "limits = { requests_per_minute = 2 }",
    ))
    .await;
    assert_eq!(openai(&h, Some(CI_KEY), None, "Write a limerick").await.status(), 200);
    assert_eq!(anthropic(&h, CI_KEY, "Write a limerick").await.status(), 200);
    let r = openai(&h, Some(CI_KEY), None, "Write a limerick").await;
    assert_eq!(r.status(), 429);
    // Two a minute: one comes back every 30 s.
    assert_eq!(r.headers()["retry-after"], "30");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    let r = anthropic(&h, CI_KEY, "Write a limerick").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["type"].as_str(), body["error"]["type"].as_str()),
        (Some("error"), Some("rate_limit_error"))
    );
    assert_eq!(h.mock.seen().len(), 2, "refused requests never reach the upstream");
    let metrics = h.metrics().await;
    assert!(
        metrics.contains("ecoroute_limited_requests_total{subject=\"key:ci\",limit=\"requests_per_minute\"} 2"),
        "{metrics}"
    );
}

/// Tokens per minute: the estimate (the body and its max_tokens) is taken before the call, and
/// corrected by the usage the upstream reports (38 tokens from the mock) after it.
#[tokio::test]
async fn token_limits_take_an_estimate_then_the_usage() {
    let tenant = "[[limits.tenant]]\nname = \"team-a\"\ntokens_per_minute = 1500\n";
    let h = with_upstream_keys(&(key_entry("ci", CI_KEY, "team-a", "") + tenant)).await;
    // In flight (the mock holds it), it holds its estimate of more than 1000 tokens...
    let held = {
        let client = h.client.clone();
        let url = h.url("/v1/chat/completions");
        tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(CI_KEY)
                .json(&capped("Write a limerick __hold", 1000))
                .send()
                .await
                .unwrap();
            (r.status(), r.bytes().await.unwrap())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // ...so a second one does not fit in the minute,
    let r = send(&h, CI_KEY, &capped("Write a limerick", 1000)).await;
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("tokens_per_minute"),
        "{body}"
    );
    assert_eq!(held.await.unwrap().0, 200);
    // but once the first used its 38 tokens, the rest came back and it does.
    assert_eq!(send(&h, CI_KEY, &capped("Write a limerick", 1000)).await.status(), 200);
}

fn gauge(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
}

async fn rows_written(h: &Harness, n: usize) {
    for _ in 0..200 {
        if h.metrics()
            .await
            .contains(&format!("ecoroute_ledger_rows_written_total {n}"))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the ledger did not write {n} rows");
}

/// An energy budget from the ledger's own figures: a header and a gauge near it, a 429 until the
/// end of the period past it. What the first two calls cost is read from the ledger, then the
/// budget is set (by reload, which keeps what was spent) so that the third call starts at 90% of it.
#[tokio::test]
async fn an_energy_budget_warns_near_and_refuses_past_its_limit() {
    let budget = |wh: f64| {
        key_entry("ci", CI_KEY, "team-a", "")
            + &format!("[[limits.tenant]]\nname = \"team-a\"\nbudget_wh = {wh}\nbudget_period = \"day\"\n")
    };
    let h = with_upstream_keys(&budget(1000.0)).await;
    let series = "ecoroute_budget_used_ratio{subject=\"tenant:team-a\",budget=\"wh_day\"}";
    assert_eq!(openai(&h, Some(CI_KEY), None, "Write a limerick").await.status(), 200);
    rows_written(&h, 1).await;
    let r = openai(&h, Some(CI_KEY), None, "Write a limerick").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-ecoroute-budget").is_none(), "far from the budget");
    assert!(gauge(&h.metrics().await, series).unwrap() > 0.0);
    rows_written(&h, 2).await;
    let spent = energy_spent(&ecoroute::ledger::read_all(&h.ledger_path()).unwrap());

    h.rewrite_config(&budget(spent / 0.9));
    h.server.as_ref().unwrap().state.reload().await.unwrap();
    let r = openai(&h, Some(CI_KEY), None, "Write a limerick").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-ecoroute-budget"],
        "tenant:team-a; budget=wh/day; used=0.90"
    );
    let used = gauge(&h.metrics().await, series).unwrap();
    assert!((used - 0.9).abs() < 0.01, "{used}");
    rows_written(&h, 3).await;

    let r = openai(&h, Some(CI_KEY), None, "Write a limerick").await;
    assert_eq!(r.status(), 429);
    let until_midnight = 86_400 - ecoroute::ledger::now_ms().div_euclid(1000) % 86_400;
    let retry: i64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((retry - until_midnight).abs() <= 2, "{retry} vs {until_midnight}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
    // A search answer costs no LLM call, but the tenant is out of budget: refused too.
    assert_eq!(
        openai(&h, Some(CI_KEY), None, "What is the capital of Peru?")
            .await
            .status(),
        429
    );
    assert_eq!(h.mock.chat_calls(), 3);
}

/// A restart does not forgive a budget: the period's spend per tenant is read back from the
/// ledger at start (a fleet's PostgreSQL ledger gives each replica the whole fleet's).
#[tokio::test]
async fn budgets_survive_a_restart_from_the_ledgers_figures() {
    let budget =
        |wh: f64| format!("[[limits.tenant]]\nname = \"team-a\"\nbudget_wh = {wh}\nbudget_period = \"month\"\n");
    let ask = |h: &Harness| {
        h.client
            .post(h.url("/v1/chat/completions"))
            .header("x-ecoroute-tenant", "team-a")
            .json(&user("Write a limerick"))
            .send()
    };
    let mut h = Harness::start_with(&budget(1000.0), |_| {}).await;
    assert_eq!(ask(&h).await.unwrap().status(), 200);
    let spent = energy_spent(&h.stop().await);
    assert!(spent > 0.0);

    h.restart_with(&budget(spent / 0.9)).await;
    let r = ask(&h).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-ecoroute-budget"],
        "tenant:team-a; budget=wh/month; used=0.90"
    );
    h.stop().await;
}

/// A key's own budget survives a restart too: the ledger keeps the key's name (never the key)
/// with each row, and its spend this period is read back at start.
#[tokio::test]
async fn a_keys_budget_survives_a_restart_from_the_ledgers_figures() {
    let budget = |wh: f64| {
        key_entry(
            "ci",
            CI_KEY,
            "team-a",
            &format!("limits = {{ budget_wh = {wh}, budget_period = \"month\" }}"),
        )
    };
    let mut h = with_upstream_keys(&budget(1000.0)).await;
    assert_eq!(openai(&h, Some(CI_KEY), None, "Write a limerick").await.status(), 200);
    let rows = h.stop().await;
    assert_eq!(
        rows[0].api_key.as_deref(),
        Some("ci"),
        "the key's name is in the ledger"
    );
    let spent = energy_spent(&rows);
    assert!(spent > 0.0);

    h.restart_with(&budget(spent / 0.9)).await;
    let r = openai(&h, Some(CI_KEY), None, "Write a limerick").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ecoroute-budget"], "key:ci; budget=wh/month; used=0.90");
    h.stop().await;
}

/// Two replicas on one ledger: what one spends for a tenant reaches the other's budget within
/// `limits.budget_refresh_s`, without a reload.
#[tokio::test]
async fn a_replica_sees_the_others_spend_within_the_refresh() {
    let budget = "[limits]\nbudget_refresh_s = 1\n[[limits.tenant]]\nname = \"team-a\"\nbudget_wh = 1000.0\nbudget_period = \"month\"\n";
    let ask = |h: &Harness| {
        h.client
            .post(h.url("/v1/chat/completions"))
            .header("x-ecoroute-tenant", "team-a")
            .json(&user("Write a limerick"))
            .send()
    };
    let mut a = Harness::start_with(budget, |_| {}).await;
    let shared = a.ledger_path();
    let mut b = Harness::start_with(budget, move |c| {
        c.ledger.store = Some(ecoroute::ledger::LedgerStore::Sqlite(shared));
        c.ledger.spool = None;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(ask(&b).await.unwrap().status(), 200);
    }
    b.server.take().unwrap().shutdown().await.unwrap();
    let spent = energy_spent(&ecoroute::ledger::read_all(&a.ledger_path()).unwrap());
    assert!(spent > 0.0);
    // A served nothing itself; after a refresh its first request sees B's spend.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(ask(&a).await.unwrap().status(), 200);
    let used = gauge(
        &a.metrics().await,
        "ecoroute_budget_used_ratio{subject=\"tenant:team-a\",budget=\"wh_month\"}",
    )
    .unwrap();
    assert!((used - spent / 1000.0).abs() < 1e-12, "{used} vs {}", spent / 1000.0);
    a.stop().await;
}
