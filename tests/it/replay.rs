//! `replay --json` against `serve`: the same config, the same questions, the same answers. Both run
//! `Pipeline::plan`, so they cannot drift; these tests hold them to it on real chatbot questions.

use crate::support::*;
use serde_json::Value;

#[tokio::test]
async fn replay_json_agrees_with_serve_on_every_question() {
    let h = Harness::start().await;
    let dev = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/training/dev.jsonl")).unwrap();
    // Every fifth question of the dev set (lookups and complex requests alike), plus questions the
    // fixture corpus answers, one with a chat frame, and one whose answer `max_tokens` refuses.
    let mut requests: Vec<Value> = dev
        .lines()
        .step_by(5)
        .map(|l| user(serde_json::from_str::<Value>(l).unwrap()["query"].as_str().unwrap()))
        .collect();
    requests.push(user("What is the capital of Peru?"));
    requests.push(user("Hi! Could you tell me what the capital of Chile is? Thanks"));
    let mut limited = user("What is the capital of France?");
    limited["max_tokens"] = serde_json::json!(2);
    requests.push(limited);
    assert!(requests.len() > 400);

    let mut served = Vec::new();
    for body in &requests {
        let r = h.chat(body.clone()).await;
        let route = r.headers()["x-ecoroute-route"].to_str().unwrap().to_string();
        let reason = r.headers()["x-ecoroute-reason"].to_str().unwrap().to_string();
        let answer = if route == "search" || route == "cache" {
            let v: Value = r.json().await.unwrap();
            Some(v["choices"][0]["message"]["content"].as_str().unwrap().to_string())
        } else {
            None
        };
        served.push((route, reason, answer));
    }

    let replayed = replay_json(&h, &requests);
    assert_eq!(replayed.len(), requests.len());
    let mut from_search = 0;
    for (i, ((route, reason, answer), line)) in served.iter().zip(&replayed).enumerate() {
        let query = &requests[i]["messages"][0]["content"];
        assert_eq!(line["route"], route.as_str(), "route of {query}");
        // Header values replace non-ASCII with `?`: compare through the same lens.
        let replayed_reason = ecoroute::server::header_value(line["reason"].as_str().unwrap());
        assert_eq!(replayed_reason, reason.as_str(), "reason of {query}");
        assert_eq!(line["answer"].as_str(), answer.as_deref(), "answer to {query}");
        from_search += usize::from(route == "search");
    }
    assert!(from_search >= 2, "the comparison covers search answers too");
    assert!(
        replayed.iter().any(|l| l["served"] == "escalated"),
        "and escalations (max_tokens)"
    );
}

/// `replay --json` says what the response cache and a model tier do, as `serve` does them: a
/// repeated question found in the cache, a tier's cheaper model. (Replay calls no LLM, so only
/// search answers are in its cache; a near duplicate of an LLM answer is a miss there.)
#[tokio::test]
async fn replay_json_shows_the_cache_and_tier_outcome_serve_had() {
    const TIER: &str = r#"
[[tiers]]
model = "gpt-4o"
cheaper = "gpt-4o-mini"
mode = "route"
last_user_regex = '^FAQ:'
"#;
    let h = Harness::start_with(TIER, |_| {}).await;
    let faq = serde_json::json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "FAQ: how do I reset my password?"}]});
    let requests = [
        user("What is the capital of Peru?"),
        user("What is the capital of Peru?"),
        faq,
    ];
    let mut served = Vec::new();
    for body in &requests {
        let r = h.chat(body.clone()).await;
        let header = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_string());
        served.push((
            header("x-ecoroute-route").unwrap(),
            header("x-ecoroute-reason").unwrap(),
            header("x-ecoroute-model"),
        ));
    }
    let metrics = h.metrics().await;
    assert!(
        metrics.contains("ecoroute_cache_lookups_total{result=\"hit\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ecoroute_cache_lookups_total{result=\"miss\"} 2"),
        "{metrics}"
    );

    let replayed = replay_json(&h, &requests);
    let routes: Vec<&str> = served.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(routes, ["search", "cache", "llm"]);
    let caches: Vec<&str> = replayed.iter().map(|l| l["cache"].as_str().unwrap()).collect();
    assert_eq!(caches, ["miss", "hit", "miss"], "as serve's metrics count them");
    for ((route, reason, model), line) in served.iter().zip(&replayed) {
        assert_eq!(line["route"], route.as_str());
        // The age of a cached answer is in whole seconds, so both say 0 here.
        assert_eq!(
            ecoroute::server::header_value(line["reason"].as_str().unwrap()),
            reason.as_str()
        );
        assert_eq!(line["tier"]["model"].as_str(), model.as_deref(), "the tier's model");
    }
    // The hit gives back what the search answered, in replay as in serve.
    assert!(replayed[0]["answer"].is_string());
    assert_eq!(replayed[1]["answer"], replayed[0]["answer"], "the cached answer");
    assert_eq!(replayed[2]["tier"]["why"], "rule");
    assert_eq!(replayed[2]["tier"]["mode"], "route");
}

/// `ecoroute replay --json` over the chat requests, with the harness's config: one line each.
fn replay_json(h: &Harness, requests: &[Value]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("requests.jsonl");
    let lines: Vec<String> = requests
        .iter()
        .map(|body| serde_json::json!({"request": body}).to_string())
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ecoroute"))
        .args(["replay", "--json", "--config"])
        .arg(h.config_path())
        .arg("--input")
        .arg(&input)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
