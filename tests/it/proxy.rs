//! End-to-end tests: the real server on port 0 in front of a mock OpenAI upstream on port 0.

use std::time::{Duration, Instant};

use crate::support::*;
use futures_util::StreamExt;
use serde_json::{json, Value};

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers().get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

#[tokio::test]
async fn lookup_is_answered_from_search_without_calling_the_llm() {
    let mut h = Harness::start().await;
    let r = h.chat(user("What is the capital of Peru?")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ecoroute-route"), "search");
    assert!(
        header(&r, "x-ecoroute-reason").contains("classifier"),
        "{}",
        header(&r, "x-ecoroute-reason")
    );
    assert!(!header(&r, "x-request-id").is_empty());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o-mini");
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains("Lima"), "{content}");
    assert!(
        content.contains("https://www.geonames.org/3932488"),
        "source is cited: {content}"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let usage = &v["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(h.mock.chat_calls(), 0, "the LLM was not called");

    let rows = h.stop().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].route, "search");
    assert_eq!(rows[0].class.map(|c| c.as_str()), Some("lookup"));
    assert_eq!(rows[0].usage_source, "estimated");
    assert_eq!(
        rows[0].answer_source.as_deref(),
        Some("https://www.geonames.org/3932488")
    );
    assert_eq!(rows[0].prompt, None, "prompts are not stored by default");
    let tenant = rows[0].tenant.as_deref().unwrap();
    assert!(
        tenant.starts_with("key:") && !tenant.contains("sk-client-key"),
        "{tenant}"
    );
    assert!(rows[0].search_cpu_us.unwrap() > 0.0, "search CPU time is measured");
    assert!(rows[0].proxy_cpu_us > 0.0, "proxy CPU time is measured");
    let a = rows[0].accounting.expect("the row carries energy figures");
    assert!(
        a.costs.saved.energy_wh.low > 0.0,
        "an answered lookup saves energy: {:?}",
        a.costs.saved
    );
    assert!(
        // Tens of microwatt-hours at most, even in a debug build where the first search is slow;
        // the avoided gpt-4o-mini call is ~20,000 µWh.
        a.costs.actual.energy_wh.high < 1e-4,
        "and costs microwatt-hours: {:?}",
        a.costs.actual
    );
    assert!(a.costs.saved.cost_usd.central > 0.0);
    assert!(!a.costs.model_fallback, "gpt-4o-mini is in the catalogue");
}

#[tokio::test]
async fn the_calculator_measures_the_distance_between_two_cities_and_leaves_a_shared_name_alone() {
    let mut h = Harness::start().await;
    let r = h.chat(user("How far is Tokyo from Osaka?")).await;
    assert_eq!(r.status(), 200);
    let reason = header(&r, "x-ecoroute-reason").to_string();
    assert!(reason.starts_with("calculator:distance"), "{reason}");
    let v: Value = r.json().await.unwrap();
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("From Tokyo to Osaka is ") && content.contains("as the crow flies"),
        "{content}"
    );
    assert!(
        content.contains("Method: great-circle distance by the haversine formula")
            && content.contains("Tokyo, Japan (")
            && content.contains("Osaka, Japan ("),
        "{content}"
    );
    // Springfield is six American cities, none ten times the next: not the calculator's to answer.
    let r = h.chat(user("How far is Springfield from Chicago?")).await;
    let reason = header(&r, "x-ecoroute-reason").to_string();
    assert!(!reason.contains("calculator"), "{reason}");
    assert_eq!(header(&r, "x-ecoroute-route"), "llm", "{reason}");
    assert_eq!(h.mock.chat_calls(), 1, "only the shared name reached the LLM");
    let rows = h.stop().await;
    assert_eq!(rows[0].answer_source.as_deref(), Some("calculator:distance"));
    assert_ne!(rows[1].answer_source.as_deref(), Some("calculator:distance"));
}

#[tokio::test]
async fn a_lookup_in_a_chat_frame_is_still_answered_from_search() {
    let mut h = Harness::start().await;
    let r = h
        .chat(user("Hi! Could you tell me what the capital of Peru is? Thanks a lot."))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-ecoroute-route"),
        "search",
        "{}",
        header(&r, "x-ecoroute-reason")
    );
    let v: Value = r.json().await.unwrap();
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains("Lima"), "{content}");
    // The frame does not make a task a lookup.
    let r = h
        .chat(user("Hi! Could you write me a limerick about Lima? Thanks!"))
        .await;
    assert_eq!(header(&r, "x-ecoroute-route"), "llm");
    assert_eq!(h.mock.chat_calls(), 1);
    h.stop().await;
}

#[tokio::test]
async fn lookup_streams_as_chat_completion_chunks() {
    let h = Harness::start().await;
    let mut body = user_stream("What is the capital of Peru?");
    body["stream_options"] = json!({"include_usage": true});
    let r = h.chat(body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ecoroute-route"), "search");
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    let events = sse_events(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "stop"));
    assert!(
        chunks.last().unwrap()["usage"]["total_tokens"].as_u64().unwrap() > 0,
        "usage chunk when asked for"
    );
    assert!(sse_content(&text).starts_with("The capital of Peru is Lima."));
}

#[tokio::test]
async fn writing_request_goes_to_the_llm_untouched() {
    let mut h = Harness::start().await;
    let request = user("Write a limerick about Lima");
    let r = h.chat(request.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ecoroute-route"), "llm");
    assert_eq!(header(&r, "x-mock"), "yes", "upstream headers pass through");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], LLM_TEXT);
    let seen = h.mock.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        serde_json::from_slice::<Value>(&seen[0].body).unwrap(),
        request,
        "body forwarded unchanged"
    );
    assert_eq!(
        seen[0].headers["authorization"], "Bearer sk-client-key",
        "client key forwarded as is"
    );
    let rows = h.stop().await;
    assert_eq!(rows[0].route, "llm");
    assert_eq!((rows[0].prompt_tokens, rows[0].completion_tokens), (Some(21), Some(17)));
    assert_eq!(rows[0].usage_source, "upstream");
    let a = rows[0].accounting.unwrap();
    assert!(
        a.costs.saved.energy_wh.high < 0.0,
        "an LLM route can only cost: {:?}",
        a.costs.saved
    );
    // 17 tokens of gpt-4o-mini: 17 × 4.5e-5 Wh per token × PUE 1.2 ≈ 0.0009 Wh (the mock's latency caps the server share).
    let wh = a.costs.actual.energy_wh.central;
    assert!(
        (0.0007..0.0012).contains(&wh),
        "the LLM call is in the actual figure: {wh}"
    );
}

#[tokio::test]
async fn llm_stream_is_passed_through_as_it_arrives() {
    let mut h = Harness::start().await;
    let started = Instant::now();
    let r = h.chat(user_stream("Write a limerick about Lima __pause")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ecoroute-route"), "llm");
    let mut stream = r.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert!(
        String::from_utf8_lossy(&first).contains("There once"),
        "first chunk arrives on its own"
    );
    assert!(
        first_at < Duration::from_millis(350),
        "first chunk came before the upstream's 400 ms pause ended: {first_at:?}"
    );
    let mut rest = Vec::new();
    while let Some(chunk) = stream.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    let all = format!("{}{}", String::from_utf8_lossy(&first), String::from_utf8_lossy(&rest));
    assert_eq!(sse_content(&all), LLM_TEXT);
    assert!(all.ends_with("data: [DONE]\n\n"));
    let rows = h.stop().await;
    assert_eq!(
        rows[0].usage_source, "estimated",
        "no usage chunk was asked for, so it is estimated"
    );
    assert_eq!(rows[0].status, 200);
}

/// Routes plain wh-questions to search by rule, so these tests exercise the adequacy check
/// whatever the trained classifier thinks of the wording.
const WH_TO_SEARCH: &str =
    "[[rules]]\nname = \"wh-to-search\"\nroute = \"search\"\nlast_user_regex = \"^(Who|What) \"\n";

#[tokio::test]
async fn weak_search_hit_escalates_to_the_llm() {
    let mut h = Harness::start_with(WH_TO_SEARCH, |_| {}).await;
    let r = h.chat(user("What is a big city in Peru?")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ecoroute-route"), "llm");
    assert!(
        header(&r, "x-ecoroute-reason").starts_with("escalated: the reader's best answer"),
        "{}",
        header(&r, "x-ecoroute-reason")
    );
    assert_eq!(h.mock.chat_calls(), 1);
    let rows = h.stop().await;
    assert!(rows[0].escalated);
    assert_eq!(rows[0].class.map(|c| c.as_str()), Some("lookup"));
    assert!(rows[0].reason.ends_with("rule: wh-to-search"), "{}", rows[0].reason);
    assert!(rows[0].search_ms.is_some());
}

#[tokio::test]
async fn an_answer_between_two_subjects_names_the_one_it_is_about() {
    // Two cities called Lima: the reader weighs the rival as one of its features. When it answers,
    // the answer says which Lima it speaks of, so the user can tell.
    let h = Harness::start_with(WH_TO_SEARCH, |_| {}).await;
    let r = h.chat(user("What is the population of Lima?")).await;
    let route = header(&r, "x-ecoroute-route").to_string();
    let v: Value = r.json().await.unwrap();
    if route == "search" {
        let content = v["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(
            content.contains("Lima is a city in Peru") || content.contains("Lima is a city in United States"),
            "{content}"
        );
    } else {
        assert_eq!(route, "llm");
    }
}

#[tokio::test]
async fn guards_send_tools_and_follow_ups_to_the_llm() {
    let h = Harness::start().await;
    let mut body = user("What is the capital of Peru?");
    body["tools"] = json!([{"type": "function", "function": {"name": "lookup", "parameters": {}}}]);
    let r = h.chat(body).await;
    assert_eq!(header(&r, "x-ecoroute-route"), "llm");
    assert_eq!(header(&r, "x-ecoroute-reason"), "guard: tools");

    let follow_up = json!({"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": "What is the capital of Peru?"},
        {"role": "assistant", "content": "Lima."},
        {"role": "user", "content": "and its population?"}]});
    let r = h.chat(follow_up).await;
    assert_eq!(header(&r, "x-ecoroute-reason"), "guard: follow-up");
    assert_eq!(h.mock.chat_calls(), 2);

    // A French question, and a system prompt that asks for French, are not answered in English.
    let r = h.chat(user("Quelle est la capitale du Pérou ?")).await;
    assert_eq!(header(&r, "x-ecoroute-reason"), "guard: language");
    let french_bot = json!({"model": "m", "messages": [
        {"role": "system", "content": "Always answer in French."},
        {"role": "user", "content": "What is the capital of Peru?"}]});
    let r = h.chat(french_bot).await;
    assert_eq!(header(&r, "x-ecoroute-reason"), "guard: system prompt");
    assert_eq!(h.mock.chat_calls(), 4);
}

#[tokio::test]
async fn config_rules_decide_before_the_classifier() {
    let extra = "[[rules]]\nname = \"support-bot\"\nroute = \"llm\"\nsystem_regex = \"(?i)billing\"\n";
    let h = Harness::start_with(extra, |_| {}).await;
    // A system prompt the system-prompt guard lets through, so that the rule is what decides.
    let body = json!({"model": "m", "messages": [{"role": "system", "content": "You are a helpful assistant. Team: billing."}, {"role": "user", "content": "What is the capital of Peru?"}]});
    let r = h.chat(body).await;
    assert_eq!(header(&r, "x-ecoroute-route"), "llm");
    assert_eq!(header(&r, "x-ecoroute-reason"), "rule: support-bot");
}

#[tokio::test]
async fn other_v1_paths_are_proxied_unchanged() {
    let mut h = Harness::start().await;
    let r = h
        .client
        .get(h.url("/v1/models?limit=5"))
        .header("authorization", "Bearer sk-client-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ecoroute-reason"), "passthrough");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"][0]["id"], "gpt-4o-mini");
    let rows = h.stop().await;
    assert_eq!(rows[0].route, "passthrough");
    assert_eq!(rows[0].path, "/v1/models");
}

#[tokio::test]
async fn bad_input_gets_openai_shaped_4xx() {
    let h = Harness::start().await;
    let post = |body: Vec<u8>| {
        h.client
            .post(h.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let r = post(b"{not json".to_vec()).await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");

    let r = post(br#"{"model":"gpt-4o-mini"}"#.to_vec()).await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "messages");

    let r = post(br#"{"model":"m","messages":[]}"#.to_vec()).await.unwrap();
    assert_eq!(r.status(), 400);

    let huge = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(70_000)
    );
    let r = post(huge.into_bytes()).await.unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "request_too_large");
    assert_eq!(h.mock.chat_calls(), 0);

    let r = h.client.get(h.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn upstream_down_is_a_502_and_is_ledgered() {
    let mock = start_mock().await;
    // A port that was just free and is now closed: connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut h = Harness::start_against(mock, &format!("http://{closed}/v1"), "", |_| {}).await;
    let r = h.chat(user("Write a limerick about Lima")).await;
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "upstream_unavailable");
    assert!(
        !v["error"]["message"].as_str().unwrap().contains(&closed.to_string()),
        "upstream address not leaked"
    );
    // A lookup still works with the LLM down.
    let r = h.chat(user("What is the capital of Peru?")).await;
    assert_eq!(r.status(), 200);
    let rows = h.stop().await;
    assert_eq!(rows.iter().map(|r| r.status).collect::<Vec<_>>(), vec![502, 200]);
}

#[tokio::test]
async fn slow_upstream_is_a_504() {
    let h = Harness::start().await;
    let started = Instant::now();
    let r = h.chat(user("Write a limerick __slow")).await;
    assert_eq!(r.status(), 504);
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "first-byte timeout (1 s) applied"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "upstream_timeout");
}

#[tokio::test]
async fn upstream_errors_pass_through_with_their_status() {
    let mut h = Harness::start().await;
    let r = h.chat(user("Write a limerick __status_429")).await;
    assert_eq!(r.status(), 429);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["message"], "mock 429");
    let rows = h.stop().await;
    assert_eq!(rows[0].status, 429);
}

#[tokio::test]
async fn a_cut_stream_ends_with_an_error_event_and_is_ledgered() {
    let mut h = Harness::start().await;
    let r = h.chat(user_stream("Write a limerick __cut")).await;
    assert_eq!(r.status(), 200);
    let body = String::from_utf8_lossy(&r.bytes().await.unwrap_or_default()).to_string();
    let last = sse_events(&body).last().cloned().unwrap_or_default();
    assert!(last.contains("\"error\""), "{body}");
    let rows = h.stop().await;
    assert_eq!(rows[0].status, 502);
    assert!(rows[0].error.as_deref().unwrap().starts_with("stream cut"));
}

#[tokio::test]
async fn configured_key_replaces_the_clients() {
    std::env::set_var("ECOROUTE_TEST_UPSTREAM_KEY", "sk-server-side");
    let h = Harness::start_with("", |c| {
        c.llm.api_key = Some("sk-server-side".into());
        c.llm.api_key_env = Some("ECOROUTE_TEST_UPSTREAM_KEY".into());
    })
    .await;
    let _ = h.chat(user("Write a limerick about Lima")).await;
    assert_eq!(h.mock.seen()[0].headers["authorization"], "Bearer sk-server-side");
}

/// The attack review's M9: with the operator's key configured, a client reaches only the
/// pass-through requests `llm.passthrough` allows (by default the models and the paths the proxy
/// serves); the rest are refused with 403 and a row, and never reach the upstream.
#[tokio::test]
async fn with_the_operators_key_only_allowed_pass_through_requests_reach_the_upstream() {
    let operator = |c: &mut ecoroute::config::Config| {
        c.llm.api_key = Some("sk-OPERATOR".into());
        c.llm.api_key_env = Some("UNUSED".into());
        c.llm.anthropic.api_key = Some("sk-ant-OPERATOR".into());
        c.llm.anthropic.api_key_env = Some("UNUSED".into());
    };
    let mut h = Harness::start_with("", operator).await;
    let send = |method: &str, path: &str| {
        h.client
            .request(http::Method::from_bytes(method.as_bytes()).unwrap(), h.url(path))
            .send()
    };
    for (method, path) in [
        ("DELETE", "/v1/files/file-of-another-team"),
        ("GET", "/v1/files/x/content"),
        ("GET", "/v1/batches"),
        ("POST", "/v1/fine_tuning/jobs"),
        ("GET", "/v1/organization/admin_api_keys"),
        ("GET", "/v1/messages/batches"),
        ("DELETE", "/v1/messages/batches/b1"),
        ("GET", "/v1/chat/completions"),
    ] {
        let r = send(method, path).await.unwrap();
        assert_eq!(r.status(), 403, "{method} {path}");
        let body: Value = r.json().await.unwrap();
        let text = body.to_string();
        assert!(text.contains("llm.passthrough"), "{text}");
    }
    assert!(h.mock.seen().is_empty(), "nothing reached the upstream");
    for (method, path) in [("GET", "/v1/models"), ("POST", "/v1/messages/count_tokens")] {
        assert_eq!(send(method, path).await.unwrap().status(), 200, "{method} {path}");
    }
    let seen = h.mock.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].headers["authorization"], "Bearer sk-OPERATOR");
    assert_eq!(seen[1].headers["x-api-key"], "sk-ant-OPERATOR");
    let rows = h.stop().await;
    assert_eq!(rows.iter().filter(|r| r.status == 403).count(), 8);
    assert!(rows.iter().all(|r| r.route == "passthrough"));

    // An operator who wants more says so; without a configured key the client's own goes, and
    // the upstream decides.
    let dir = tempfile::tempdir().unwrap();
    let toml = test_config_toml("http://127.0.0.1:9/v1", dir.path(), "")
        .replace("[llm]\n", "[llm]\npassthrough = [\"* /v1/files/*\"]\n");
    let widened = ecoroute::config::Config::from_toml_str(&toml, &dir.path().join("t.toml"), &|_| None).unwrap();
    let h = Harness::start_with("", |c| {
        operator(c);
        c.llm.passthrough = widened.llm.passthrough;
    })
    .await;
    let r = h.client.delete(h.url("/v1/files/f1")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = h.client.get(h.url("/v1/batches")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let h = Harness::start().await;
    let r = h
        .client
        .delete(h.url("/v1/files/f1"))
        .header("authorization", "Bearer sk-client")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(h.mock.seen()[0].headers["authorization"], "Bearer sk-client");
}

/// The attack review's L1: an upstream's empty 400 reaches the client as the upstream sent it,
/// with one ledger row, on the chat path and on pass-through (it was taken for hyper's own
/// parse error, replaced by "not valid HTTP", and booked twice).
#[tokio::test]
async fn an_upstreams_empty_400_is_passed_through_with_one_row() {
    let mut h = Harness::start().await;
    let r = h.chat(user("Write a poem __400empty")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(header(&r, "x-ecoroute-route"), "llm");
    assert!(r.headers().get("connection").is_none(), "the connection stays usable");
    assert_eq!(r.text().await.unwrap(), "");
    let r = h
        .client
        .get(h.url("/v1/anything/empty400"))
        .header("authorization", "Bearer sk-client-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(header(&r, "x-ecoroute-reason"), "passthrough");
    assert_eq!(r.text().await.unwrap(), "");
    let rows = h.stop().await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| r.status == 400 && !r.reason.starts_with("rejected")));
}

/// The attack review's L13: a pass-through body cut (by the upstream, or at the end of the
/// shutdown grace) is booked as cut, with the error; a whole one as its status.
#[tokio::test]
async fn a_cut_pass_through_body_is_booked_as_cut() {
    let mut h = Harness::start_with("", |c| c.server.shutdown_grace = Duration::from_millis(300)).await;
    let get = |path: &str| {
        h.client
            .get(h.url(path))
            .header("authorization", "Bearer sk-client-key")
            .send()
    };
    let whole = get("/v1/models").await.unwrap();
    assert_eq!(whole.status(), 200);
    whole.bytes().await.unwrap();
    let cut = get("/v1/anything/cutbody").await.unwrap();
    assert_eq!(cut.status(), 200, "the head went out");
    assert!(cut.bytes().await.is_err(), "the client sees the cut");
    let trickle = get("/v1/anything/trickle").await.unwrap();
    let reading = tokio::spawn(async move { trickle.bytes().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows = h.stop().await;
    assert!(reading.await.unwrap().is_err(), "cut at the end of the grace");
    let row = |path: &str| rows.iter().find(|r| r.path == path).unwrap();
    assert_eq!(
        (row("/v1/models").status, row("/v1/models").error.as_deref()),
        (200, None)
    );
    let upstream_cut = row("/v1/anything/cutbody");
    assert_eq!(upstream_cut.status, 502);
    assert!(
        upstream_cut.error.as_deref().unwrap().starts_with("stream cut"),
        "{upstream_cut:?}"
    );
    let shutdown_cut = row("/v1/anything/trickle");
    assert_eq!(shutdown_cut.status, 503);
    assert!(
        shutdown_cut.error.as_deref().unwrap().contains("shutting down"),
        "{shutdown_cut:?}"
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let h = Harness::start().await;
    assert_eq!(h.client.get(h.url("/healthz")).send().await.unwrap().status(), 200);
    let r = h.client.get(h.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["search_backend"], "embedded");
}

#[tokio::test]
async fn shutdown_waits_for_requests_in_flight_and_ledgers_them() {
    let mut h = Harness::start().await;
    let in_flight = h.spawn_held_request();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let rows = h.stop().await;
    assert_eq!(in_flight.await.unwrap(), 200, "the request in flight completed");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, 200);
}

#[tokio::test]
async fn during_the_drain_delay_readyz_fails_but_requests_are_still_served() {
    let mut h = Harness::start_with("", |c| c.server.drain_delay = Duration::from_millis(400)).await;
    let server = h.server.take().unwrap();
    let stopping = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = h.client.get(h.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "the load balancer is told to stop sending");
    let late = h.chat(user("What is the capital of Peru?")).await;
    assert_eq!(late.status(), 200, "a request that arrives meanwhile is still served");
    stopping.await.unwrap().unwrap();
    assert!(
        h.client.get(h.url("/healthz")).send().await.is_err(),
        "after the delay the listener is closed"
    );
    assert_eq!(ecoroute::ledger::read_all(&h.ledger_path()).unwrap().len(), 1);
}

#[tokio::test]
async fn prompts_are_stored_only_when_enabled() {
    let mut h = Harness::start_with("", |c| c.ledger.store_prompts = true).await;
    let _ = h.chat(user("What is the capital of Peru?")).await;
    let rows = h.stop().await;
    assert_eq!(rows[0].prompt.as_deref(), Some("What is the capital of Peru?"));
}

#[tokio::test]
async fn metrics_count_routes_and_energy() {
    let h = Harness::start().await;
    let _ = h.chat(user("What is the capital of Peru?")).await;
    let _ = h.chat(user("Write a limerick about Lima")).await;
    // Energy counters are updated by the ledger writer, a moment after the response.
    let mut text = h.metrics().await;
    for _ in 0..50 {
        if text.contains("ecoroute_ledger_rows_written_total 2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        text = h.metrics().await;
    }
    assert!(
        text.contains(r#"ecoroute_requests_total{route="search",decided_by="classifier",status="2xx"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ecoroute_requests_total{route="llm",decided_by="classifier",status="2xx"} 1"#),
        "{text}"
    );
    assert!(text.contains("ecoroute_ledger_rows_written_total 2"), "{text}");
    let avoided: f64 = text
        .lines()
        .find(|l| l.starts_with("ecoroute_energy_avoided_wh_total "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(avoided > 0.0, "{text}");
}

#[tokio::test]
async fn dashboard_needs_the_admin_token_and_is_off_without_one() {
    let off = Harness::start().await;
    assert_eq!(
        off.client.get(off.url("/dashboard")).send().await.unwrap().status(),
        404
    );

    let token = "test-admin-token-0123456789";
    let h = Harness::start_with("", |c| c.admin.token = Some(token.into())).await;
    let _ = h.chat(user("What is the capital of Peru?")).await;
    let r = h.client.get(h.url("/dashboard")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").starts_with("Basic"));
    let r = h
        .client
        .get(h.url("/dashboard"))
        .bearer_auth("wrong-token-wrong-token-00")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The row is written by the background writer; give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = h
        .client
        .get(h.url("/dashboard"))
        .basic_auth("manager", Some(token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("ecoroute footprint and savings report") && html.contains("http-equiv=\"refresh\""));
    assert!(html.contains("1 requests"), "the dashboard reads the live ledger");
    // The live panel: the last hour's one request, answered from search.
    assert!(html.contains("Live: the last hour"), "{html}");
    assert!(
        html.contains("1 search · 0 cache · 0 LLM · 0 escalated · 0 pass-through"),
        "{html}"
    );
    assert!(
        html.contains("100.0% of chat requests answered without the LLM"),
        "{html}"
    );
}

#[tokio::test]
async fn clients_can_force_the_llm_and_search_only_when_allowed() {
    let h = Harness::start().await;
    let send = |h: &Harness, text: &str, route: &str| {
        h.client
            .post(h.url("/v1/chat/completions"))
            .header("x-ecoroute-route", route.to_string())
            .json(&user(text))
            .send()
    };
    let r = send(&h, "What is the capital of Peru?", "llm").await.unwrap();
    assert_eq!(header(&r, "x-ecoroute-route"), "llm");
    assert_eq!(header(&r, "x-ecoroute-reason"), "override: client asked for llm");
    let seen = h.mock.seen();
    assert!(
        !seen[0].headers.contains_key("x-ecoroute-route"),
        "control headers are not forwarded upstream"
    );
    let r = send(&h, "Write a limerick about Lima", "search").await.unwrap();
    assert_eq!(
        header(&r, "x-ecoroute-route"),
        "llm",
        "forcing search is off by default"
    );

    let allowed = Harness::start_with("", |c| c.classifier.allow_search_override = true).await;
    let r = send(&allowed, "What is a big city in Peru?", "search").await.unwrap();
    assert_eq!(
        header(&r, "x-ecoroute-route"),
        "llm",
        "a forced search still escalates on low confidence"
    );
    assert!(
        header(&r, "x-ecoroute-reason").starts_with("escalated: the reader's best answer"),
        "{}",
        header(&r, "x-ecoroute-reason")
    );
    assert!(header(&r, "x-ecoroute-reason").ends_with("override: client asked for search"));
}

#[tokio::test]
async fn explain_header_carries_the_decision_trace_on_request() {
    let h = Harness::start().await;
    let r = h.chat(user("What is the capital of Peru?")).await;
    assert!(r.headers().get("x-ecoroute-explain").is_none(), "only on request");
    let r = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("x-ecoroute-explain", "1")
        .json(&user("What is the capital of Peru?"))
        .send()
        .await
        .unwrap();
    let trace = header(&r, "x-ecoroute-explain").to_string();
    assert!(
        trace.contains("route=search") && trace.contains("class=lookup") && trace.contains("top="),
        "{trace}"
    );
    assert!(trace.contains("source=https://www.geonames.org/3932488"), "{trace}");
    let r = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("x-ecoroute-explain", "1")
        .json(&user_stream("Write a limerick about Lima"))
        .send()
        .await
        .unwrap();
    assert!(
        header(&r, "x-ecoroute-explain").contains("route=llm"),
        "on streamed LLM answers too"
    );
}

#[tokio::test]
async fn too_many_messages_and_huge_headers_get_clear_4xx() {
    let h = Harness::start_with("", |c| c.server.max_messages = 10).await;
    let messages: Vec<Value> = (0..11)
        .map(|i| json!({"role": "user", "content": format!("message {i}")}))
        .collect();
    let r = h.chat(json!({"model": "m", "messages": messages})).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "messages");
    assert!(v["error"]["message"].as_str().unwrap().contains("11 messages"));
    let r = h
        .client
        .get(h.url("/healthz"))
        .header("x-big", "a".repeat(600 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431, "oversized headers are refused by the HTTP layer");
    assert_eq!(h.mock.chat_calls(), 0);
}

#[tokio::test]
async fn over_the_concurrency_limit_requests_are_shed_with_retry_after() {
    let mut h = Harness::start_with("", |c| c.server.max_concurrency = 1).await;
    let in_flight = h.spawn_held_request();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let shed = h.chat(user("Write a haiku about queues")).await;
    assert_eq!(shed.status(), 503);
    let retry_after: u64 = header(&shed, "retry-after")
        .parse()
        .expect("Retry-After is whole seconds");
    assert!(retry_after >= 1);
    let body: Value = shed.json().await.unwrap();
    assert_eq!(body["error"]["type"], "overloaded_error", "{body}");
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    let health = h.client.get(h.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "health checks are outside the limit");
    assert_eq!(
        in_flight.await.unwrap(),
        200,
        "the request holding the slot is unharmed"
    );
    let after = h.chat(user("Write a haiku about queues")).await;
    assert_eq!(after.status(), 200, "once the slot is free, requests are served again");
    assert_eq!(h.mock.chat_calls(), 2, "the shed request never reached the upstream");
    let metrics = h.metrics().await;
    assert!(metrics.contains("ecoroute_requests_shed_total 1\n"), "{metrics}");
    h.stop().await;
}

/// Sends a raw HTTP/1.1 request (clients normalise `..` away) and returns the status line.
async fn raw_request(addr: std::net::SocketAddr, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    String::from_utf8_lossy(&reply)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_upstream_is_always_the_configured_one_whatever_the_request_names() {
    let mut h = Harness::start().await;
    for target in ["/v1/../../internal", "/v1/%2e%2e/%2E%2E/internal", "/v1/models/./x"] {
        let status = raw_request(
            h.addr,
            &format!("GET {target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"),
        )
        .await;
        assert!(status.contains(" 400 "), "{target}: {status}");
    }
    // An absolute-form target and a foreign Host header still reach the configured upstream.
    let status = raw_request(
        h.addr,
        "GET http://evil.example/v1/models HTTP/1.1\r\nhost: evil.example\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(status.contains(" 200 "), "{status}");
    let seen = h.mock.seen();
    assert_eq!(seen.len(), 1, "only the last request reached the upstream");
    assert_eq!(seen[0].path, "/v1/models");
    assert_ne!(
        seen[0].headers.get("host").map(|v| v.to_str().unwrap()),
        Some("evil.example"),
        "the client's Host header is not passed on"
    );
    h.stop().await;
}

#[tokio::test]
async fn chat_requests_need_a_model_and_search_answers_keep_to_stop_and_max_tokens() {
    let mut h = Harness::start().await;
    let r = h
        .chat(serde_json::json!({"messages": [{"role": "user", "content": "What is the capital of Peru?"}]}))
        .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "model");

    // A stop sequence cuts the search answer where the LLM would have stopped.
    let mut body = user("What is the capital of Peru?");
    body["stop"] = serde_json::json!(["\n\nSource"]);
    let r = h.chat(body).await;
    assert_eq!(header(&r, "x-ecoroute-route"), "search");
    let v: Value = r.json().await.unwrap();
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains("Lima") && !content.contains("Source"), "{content}");

    // An answer longer than max_tokens is not cut mid-fact: the request goes to the LLM.
    let mut body = user("What is the capital of Peru?");
    body["max_tokens"] = serde_json::json!(3);
    let r = h.chat(body).await;
    assert_eq!(header(&r, "x-ecoroute-route"), "llm");
    assert!(
        header(&r, "x-ecoroute-reason").contains("max_tokens"),
        "{}",
        header(&r, "x-ecoroute-reason")
    );
    let rows = h.stop().await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().any(|r| r.escalated && r.reason.contains("max_tokens")));
}
