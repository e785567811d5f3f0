//! The response cache through `serve`, against a mock upstream that counts its calls: what may be
//! given again is, in the shape the client asked for, and the ledger books the call it avoided.

use serde_json::{json, Value};

use crate::support::*;

fn deterministic(text: &str) -> Value {
    json!({"model": "gpt-4o-mini", "temperature": 0, "messages": [{"role": "user", "content": text}]})
}

async fn content(r: reqwest::Response) -> String {
    let v: Value = r.json().await.unwrap();
    v["choices"][0]["message"]["content"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_deterministic_llm_answer_is_given_again_streamed_or_not() {
    let mut h = Harness::start().await;
    let first = h.chat(deterministic("Write a limerick about Lima")).await;
    assert_eq!(first.headers()["x-ecoroute-route"], "llm");
    let first = content(first).await;
    assert_eq!(h.mock.chat_calls(), 1);

    // The same request, keys in another order and a trailing newline: from the cache.
    let again = h
        .chat(json!({"messages": [{"content": "Write a limerick about Lima\n", "role": "user"}], "temperature": 0, "model": "gpt-4o-mini"}))
        .await;
    assert_eq!(again.headers()["x-ecoroute-route"], "cache");
    assert!(again.headers()["x-ecoroute-reason"]
        .to_str()
        .unwrap()
        .starts_with("cache: exact hit, a llm answer"));
    let v: Value = again.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], first.as_str());
    assert_eq!(v["model"], "gpt-4o-mini", "the model that wrote the answer");
    assert_eq!(v["usage"]["completion_tokens"], 17, "the answer's real length");
    assert_eq!(h.mock.chat_calls(), 1, "the LLM was not called again");

    // Streamed, as the client asks: a hit streams like a miss.
    let mut streamed = deterministic("Write a limerick about Lima");
    streamed["stream"] = json!(true);
    let r = h.chat(streamed).await;
    assert_eq!(r.headers()["x-ecoroute-route"], "cache");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let body = r.text().await.unwrap();
    assert_eq!(sse_content(&body), first);
    assert!(body.ends_with("data: [DONE]\n\n"));
    assert_eq!(h.mock.chat_calls(), 1);

    // A streamed answer is kept too, and given again to a plain request.
    let mut stream_first = deterministic("Write a haiku about fog");
    stream_first["stream"] = json!(true);
    let streamed_text = sse_content(&h.chat(stream_first).await.text().await.unwrap());
    let r = h.chat(deterministic("Write a haiku about fog")).await;
    assert_eq!(r.headers()["x-ecoroute-route"], "cache");
    assert_eq!(content(r).await, streamed_text);
    assert_eq!(h.mock.chat_calls(), 2);

    let rows = h.stop().await;
    let cached: Vec<_> = rows.iter().filter(|r| r.route == "cache").collect();
    assert_eq!(cached.len(), 3);
    for r in &cached {
        assert_eq!(r.cache_origin, Some(ecoroute::ledger::CacheOrigin::Llm));
        let a = r.accounting.unwrap();
        // The avoided call is the one the client asked for, at the answer's own length.
        assert!(a.costs.counterfactual.energy_wh.low > 0.0);
        assert!(a.costs.saved.energy_wh.low > 0.0, "{a:?}");
        assert!(a.costs.actual.energy_wh.high < 1e-5, "a hit costs microwatt-hours");
    }
    assert_eq!(cached[0].accounting.unwrap().counterfactual_tokens, Some(17.0));
}

#[tokio::test]
async fn answers_that_may_differ_are_not_reused() {
    let h = Harness::start().await;
    let hot = json!({"model": "gpt-4o-mini", "temperature": 0.8, "messages": [{"role": "user", "content": "Write a limerick about Lima"}]});
    for _ in 0..2 {
        assert_eq!(h.chat(hot.clone()).await.headers()["x-ecoroute-route"], "llm");
    }
    assert_eq!(h.mock.chat_calls(), 2, "temperature 0.8: every request reaches the LLM");
    // Tools, or a client that asks for a fresh answer, bypass the cache.
    let mut tools = deterministic("Write a limerick about Lima");
    tools["tools"] = json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]);
    h.chat(tools.clone()).await;
    h.chat(tools).await;
    assert_eq!(h.mock.chat_calls(), 4);
    h.chat(deterministic("Write a poem about Quito")).await;
    let fresh = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("cache-control", "no-cache")
        .json(&deterministic("Write a poem about Quito"))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.headers()["x-ecoroute-route"], "llm");
    assert_eq!(h.mock.chat_calls(), 6);
    // A question about this moment or the user never reuses an LLM answer.
    for _ in 0..2 {
        let r = h.chat(deterministic("What time is it?")).await;
        assert_eq!(r.headers()["x-ecoroute-route"], "llm");
    }
    assert_eq!(h.mock.chat_calls(), 8);
    // Tenants share nothing.
    let other = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("x-ecoroute-tenant", "team-b")
        .json(&deterministic("Write a poem about Quito"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.headers()["x-ecoroute-route"], "llm");
    let metrics = h.metrics().await;
    assert!(
        metrics.contains("ecoroute_cache_lookups_total{result=\"bypass\"}"),
        "{metrics}"
    );
}

/// The attack review's M1: a near duplicate differs from its question in case, accents and
/// sentence punctuation only, never in a digit, sign or symbol.
#[tokio::test]
async fn a_lookup_differing_in_a_symbol_digit_or_sign_is_not_a_near_duplicate() {
    let h = Harness::start().await;
    for group in [
        ["What is C#?", "What is C?", "What is C++?"],
        ["What is 10²?", "What is 102?", "what is 10 2"],
        [
            "What is -40 in Fahrenheit?",
            "What is 40 in Fahrenheit?",
            "Hi! 40 in Fahrenheit?",
        ],
    ] {
        for q in group {
            let calls = h.mock.chat_calls();
            let r = h.chat(deterministic(q)).await;
            assert_eq!(r.headers()["x-ecoroute-route"], "llm", "{q}: {:?}", r.headers());
            assert_eq!(h.mock.chat_calls(), calls + 1, "{q}");
        }
    }
    // And the folds that cannot change the question still meet.
    let r = h.chat(deterministic("what is c#")).await;
    assert_eq!(r.headers()["x-ecoroute-route"], "cache");
    assert_eq!(h.mock.chat_calls(), 9);
}

/// The attack review's L8: a client's `max-age=0`, `no-cache` (with or without a field) and
/// `Pragma: no-cache` get a fresh answer, `max-age=N` an answer at most N s old, and an upstream
/// answer marked `no-store` or `private` is not kept.
#[tokio::test]
async fn cache_control_is_honoured_both_ways() {
    let h = Harness::start().await;
    let ask = |headers: &[(&str, &str)]| {
        let mut request = h
            .client
            .post(h.url("/v1/chat/completions"))
            .header("authorization", "Bearer sk-client-key")
            .json(&deterministic("Write a limerick about Lima"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let route = |r: reqwest::Response| r.headers()["x-ecoroute-route"].to_str().unwrap().to_string();
    assert_eq!(route(ask(&[]).await.unwrap()), "llm");
    assert_eq!(route(ask(&[]).await.unwrap()), "cache");
    for fresh in [
        [("cache-control", "max-age=0")],
        [("cache-control", "no-cache=\"x-field\"")],
        [("pragma", "no-cache")],
        [("cache-control", "private, NO-CACHE")],
    ] {
        assert_eq!(route(ask(&fresh).await.unwrap()), "llm", "{fresh:?}");
    }
    assert_eq!(h.mock.chat_calls(), 5);
    assert_eq!(route(ask(&[("cache-control", "max-age=3600")]).await.unwrap()), "cache");
    // The first answer, more than 1 s old now.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(route(ask(&[("cache-control", "max-age=1")]).await.unwrap()), "llm");
    assert_eq!(
        route(ask(&[("cache-control", "max-age=1")]).await.unwrap()),
        "cache",
        "the fresh one"
    );

    for _ in 0..2 {
        let r = h.chat(deterministic("Write a limerick about Quito __nostore")).await;
        assert_eq!(route(r), "llm", "an answer the upstream said not to store");
    }
}

#[tokio::test]
async fn search_answers_and_near_duplicate_lookups_are_reused() {
    let mut h = Harness::start().await;
    // A search answer: the second identical request skips routing and search.
    let r = h.chat(user("What is the capital of Peru?")).await;
    assert_eq!(r.headers()["x-ecoroute-route"], "search");
    let first = content(r).await;
    let r = h.chat(user("What is the capital of Peru?")).await;
    assert_eq!(r.headers()["x-ecoroute-route"], "cache");
    assert_eq!(content(r).await, first);

    // A lookup search cannot answer goes to the LLM; asked again in other case and punctuation,
    // its answer is reused.
    let r = h.chat(deterministic("What is the capital of Atlantis?")).await;
    assert_eq!(r.headers()["x-ecoroute-route"], "llm");
    let llm_answer = content(r).await;
    let r = h.chat(deterministic("what is the capital of atlantis")).await;
    assert_eq!(r.headers()["x-ecoroute-route"], "cache", "{:?}", r.headers());
    assert!(r.headers()["x-ecoroute-reason"]
        .to_str()
        .unwrap()
        .contains("near-duplicate"));
    assert_eq!(content(r).await, llm_answer);
    assert_eq!(h.mock.chat_calls(), 1);
    // A writing request is not a lookup: its near duplicates are other requests.
    h.chat(deterministic("Write a limerick about Lima!")).await;
    let r = h.chat(deterministic("write a limerick about lima")).await;
    assert_eq!(r.headers()["x-ecoroute-route"], "llm");
    let metrics = h.metrics().await;
    assert!(
        metrics.contains("ecoroute_cache_lookups_total{result=\"near_hit\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ecoroute_requests_total{route=\"cache\",decided_by=\"cache\",status=\"2xx\"} 1"),
        "{metrics}"
    );

    let _ = h.stop().await;
    let report: Value = serde_json::from_str(&run_report(&h.ledger_path(), "route", "json")).unwrap();
    assert_eq!(report["by_route"]["cache"], 2);
    let group = report_group(&report, "cache");
    assert!(
        group["energy_saved_wh"]["low"].as_f64().unwrap() > 0.0,
        "cache hits have their own row with their saving"
    );
}

/// The attack review's H2: the cache was shared across credentials. Anthropic's `x-api-key` and
/// Azure's `api-key` clients all fell in one partition, and a claimed `x-ecoroute-tenant` reached
/// another tenant's answers. A cached answer now goes only to a request with the same credentials.
#[tokio::test]
async fn a_cached_answer_goes_only_to_the_same_credentials() {
    let h = Harness::start().await;
    let ask = |headers: &[(&str, &str)]| {
        let mut r = h
            .client
            .post(h.url("/v1/chat/completions"))
            .json(&deterministic("Write a limerick about Lima"));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send()
    };
    let first = ask(&[("x-api-key", "key-x")]).await.unwrap();
    assert_eq!(first.headers()["x-ecoroute-route"], "llm");
    let again = ask(&[("x-api-key", "key-x")]).await.unwrap();
    assert_eq!(
        again.headers()["x-ecoroute-route"],
        "cache",
        "the same key is served from the cache"
    );
    for other in [
        vec![("x-api-key", "key-y")],
        vec![("api-key", "key-x")],
        vec![],
        vec![("x-ecoroute-tenant", "team-x")],
    ] {
        let r = ask(&other).await.unwrap();
        assert_eq!(
            r.headers()["x-ecoroute-route"],
            "llm",
            "{other:?} got key-x's cached answer"
        );
    }
    // A tenant header does not open another credential's partition either.
    let claimed = ask(&[("x-api-key", "key-y"), ("x-ecoroute-tenant", "team-x")])
        .await
        .unwrap();
    assert_eq!(claimed.headers()["x-ecoroute-route"], "llm");
}

/// The energy audit's M4: a repeat of an LLM answer from the cache avoided the call it repeats,
/// booked as that call was (its latency caps the generation time as it capped the call's), never
/// above it.
#[tokio::test]
async fn a_repeated_llm_answer_is_booked_as_the_call_it_repeats() {
    let mut h = Harness::start().await;
    for _ in 0..2 {
        assert_eq!(h.chat(deterministic("Write a limerick about Lima")).await.status(), 200);
    }
    let rows = h.stop().await;
    let (first, repeat) = (&rows[0], &rows[1]);
    assert_eq!((first.route.as_str(), repeat.route.as_str()), ("llm", "cache"));
    let (call, avoided) = (
        first.accounting.unwrap().costs.counterfactual,
        repeat.accounting.unwrap().costs.counterfactual,
    );
    for (a, b) in [
        (avoided.energy_wh, call.energy_wh),
        (avoided.co2e_g, call.co2e_g),
        (avoided.water_ml, call.water_ml),
    ] {
        assert!(
            (a.central - b.central).abs() <= 1e-12 * b.central,
            "{a:?} against the call's {b:?}"
        );
        assert!(a.high <= b.high * (1.0 + 1e-12));
    }
}
