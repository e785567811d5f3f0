//! Anthropic's Messages API and OpenAI's Responses API end to end: the same routing, search
//! answers, guards and ledger as chat completions, in each API's own shapes, streaming and not,
//! and the LLM route forwarding the client's bytes and headers to the right upstream.

use serde_json::{json, Value};

use crate::support::{Harness, LLM_TEXT};

/// The `data:` payloads of an event stream, with their event names.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut event = String::new();
            let mut data = Value::Null;
            for line in frame.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = name.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap();
                }
            }
            (event, data)
        })
        .collect()
}

async fn post(h: &Harness, path: &str, body: Value) -> reqwest::Response {
    h.client
        .post(h.url(path))
        .header("x-api-key", "sk-ant-client")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn claude(text: &str, stream: bool) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 512, "stream": stream,
           "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn anthropic_lookups_are_answered_from_search_in_anthropics_shape() {
    let mut h = Harness::start().await;
    let r = post(&h, "/v1/messages", claude("What is the capital of Peru?", false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ecoroute-route"], "search");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["type"].as_str(), v["role"].as_str()),
        (Some("message"), Some("assistant"))
    );
    assert_eq!(v["model"], "claude-sonnet-4-5");
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    let text = v["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("The capital of Peru is Lima."), "{text}");
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0);

    let r = post(&h, "/v1/messages", claude("What is the capital of Chile?", true)).await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let stream = events(&r.text().await.unwrap());
    let names: Vec<&str> = stream.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    let streamed: String = stream
        .iter()
        .filter(|(e, _)| e == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert!(streamed.starts_with("The capital of Chile is Santiago."), "{streamed}");
    assert_eq!(h.mock.seen().len(), 0, "no LLM call for either");

    let rows = h.stop().await;
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.path, "/v1/messages");
        assert_eq!(row.route.as_str(), "search");
        assert_eq!(row.model.as_deref(), Some("claude-sonnet-4-5"));
    }
    assert!(rows.iter().any(|r| r.stream));
}

#[tokio::test]
async fn anthropic_requests_for_the_llm_reach_the_anthropic_upstream_unchanged() {
    let mut h = Harness::start().await;
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 512,
        "system": "You are a poet.", "messages": [{"role": "user", "content": "Write a limerick about Lima"}]});
    let r = post(&h, "/v1/messages", body.clone()).await;
    assert_eq!(r.headers()["x-ecoroute-route"], "llm");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], LLM_TEXT);
    let seen = h.mock.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/messages");
    assert_eq!(seen[0].headers["x-api-key"], "sk-ant-client");
    assert_eq!(seen[0].headers["anthropic-version"], "2023-06-01");
    assert_eq!(serde_json::from_slice::<Value>(&seen[0].body).unwrap(), body);

    let r = post(&h, "/v1/messages", claude("Write a haiku about fog", true)).await;
    let stream = events(&r.text().await.unwrap());
    let streamed: String = stream
        .iter()
        .filter(|(e, _)| e == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, LLM_TEXT, "the upstream's stream passes through");

    // Images and tool results are the LLM's, whatever the question.
    let image = json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
        {"type": "text", "text": "What is the capital of Peru?"}]}]});
    let r = post(&h, "/v1/messages", image).await;
    assert_eq!(r.headers()["x-ecoroute-route"], "llm");
    assert_eq!(r.headers()["x-ecoroute-reason"], "guard: media");

    // Anthropic's own other paths go to its upstream too.
    let r = post(&h, "/v1/messages/count_tokens", claude("hi", false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(h.mock.seen().last().unwrap().path, "/v1/messages/count_tokens");

    let rows = h.stop().await;
    let llm: Vec<_> = rows
        .iter()
        .filter(|r| r.route.as_str() == "llm" && r.path == "/v1/messages")
        .collect();
    assert_eq!(llm.len(), 3);
    for row in &llm[..2] {
        assert_eq!(
            (row.prompt_tokens, row.completion_tokens),
            (Some(21), Some(17)),
            "{row:?}"
        );
        assert_eq!(row.usage_source.as_str(), "upstream");
    }
}

#[tokio::test]
async fn anthropic_errors_take_anthropics_shape_and_a_configured_key_replaces_the_clients() {
    let h = Harness::start_with("", |c| {
        c.llm.anthropic.api_key = Some(ecoroute::redact::Secret::new("sk-ant-proxy".to_string()));
    })
    .await;
    let r = post(
        &h,
        "/v1/messages",
        json!({"model": "claude-sonnet-4-5", "max_tokens": 9, "messages": []}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("messages"), "{v}");

    let r = h
        .client
        .post(h.url("/v1/messages"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "invalid_request_error"
    );

    // The upstream's own errors pass as it wrote them.
    let r = post(&h, "/v1/messages", claude("Write a poem __status_429", false)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["type"], "rate_limit_error");

    post(&h, "/v1/messages", claude("Write a poem about the sea", false)).await;
    let seen = h.mock.seen();
    let last = seen.last().unwrap();
    assert_eq!(last.headers["x-api-key"], "sk-ant-proxy");
    assert!(last.headers.get("authorization").is_none());
}

fn responses(input: Value, stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "input": input, "stream": stream})
}

#[tokio::test]
async fn responses_lookups_are_answered_from_search_in_the_responses_shape() {
    let mut h = Harness::start().await;
    let r = post(
        &h,
        "/v1/responses",
        responses(json!("What is the capital of Peru?"), false),
    )
    .await;
    assert_eq!(r.headers()["x-ecoroute-route"], "search");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["object"].as_str(), v["status"].as_str()),
        (Some("response"), Some("completed"))
    );
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    let text = ecoroute::api::responses::output_text(&v);
    assert!(text.starts_with("The capital of Peru is Lima."), "{text}");
    assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0);

    let items = json!([{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What is the capital of Chile?"}]}]);
    let r = post(&h, "/v1/responses", responses(items, true)).await;
    let stream = events(&r.text().await.unwrap());
    let streamed: String = stream
        .iter()
        .filter(|(e, _)| e == "response.output_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert!(streamed.starts_with("The capital of Chile is Santiago."), "{streamed}");
    assert_eq!(stream.last().unwrap().0, "response.completed");
    assert_eq!(h.mock.seen().len(), 0);
    let rows = h.stop().await;
    assert!(rows
        .iter()
        .all(|r| r.path == "/v1/responses" && r.route.as_str() == "search"));
}

#[tokio::test]
async fn responses_that_need_the_llm_or_its_state_are_forwarded() {
    let mut h = Harness::start().await;
    let r = post(
        &h,
        "/v1/responses",
        responses(json!("Write a limerick about Lima"), false),
    )
    .await;
    assert_eq!(r.headers()["x-ecoroute-route"], "llm");
    let v: Value = r.json().await.unwrap();
    assert_eq!(ecoroute::api::responses::output_text(&v), LLM_TEXT);

    // A lookup that continues a stored conversation: only the upstream knows what came before.
    let mut follow_up = responses(json!("What is the capital of Peru?"), true);
    follow_up["previous_response_id"] = json!("resp_abc");
    let r = post(&h, "/v1/responses", follow_up).await;
    assert_eq!(r.headers()["x-ecoroute-route"], "llm");
    assert_eq!(r.headers()["x-ecoroute-reason"], "guard: llm feature");
    let stream = events(&r.text().await.unwrap());
    assert_eq!(stream.last().unwrap().0, "response.completed");

    // JSON output is the LLM's too; and an empty input is refused in OpenAI's shape.
    let mut json_out = responses(json!("What is the capital of Peru?"), false);
    json_out["text"] = json!({"format": {"type": "json_object"}});
    let r = post(&h, "/v1/responses", json_out).await;
    assert_eq!(r.headers()["x-ecoroute-reason"], "guard: response_format");
    let r = post(&h, "/v1/responses", responses(json!([]), false)).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "input");

    assert!(h.mock.seen().iter().all(|s| s.path == "/v1/responses"));
    let rows = h.stop().await;
    let llm: Vec<_> = rows.iter().filter(|r| r.route.as_str() == "llm").collect();
    assert_eq!(llm.len(), 3);
    assert_eq!((llm[0].prompt_tokens, llm[0].completion_tokens), (Some(21), Some(17)));
    assert_eq!(
        (llm[1].prompt_tokens, llm[1].completion_tokens),
        (Some(21), Some(17)),
        "from response.completed"
    );
}

#[tokio::test]
async fn a_follow_up_of_a_search_answer_reaches_the_upstream_with_that_turn() {
    let h = Harness::start().await;
    let r = post(
        &h,
        "/v1/responses",
        responses(json!("What is the capital of Peru?"), false),
    )
    .await;
    assert_eq!(r.headers()["x-ecoroute-route"], "search");
    let first: Value = r.json().await.unwrap();
    let id = first["id"].as_str().unwrap();

    // Read back with the credentials that asked for it; another client does not find it here.
    let r = h
        .client
        .get(h.url(&format!("/v1/responses/{id}")))
        .header("x-api-key", "sk-ant-client")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), first, "retrieved as it was served");
    let other = h
        .client
        .get(h.url(&format!("/v1/responses/{id}")))
        .header("x-api-key", "sk-someone-else")
        .send()
        .await
        .unwrap();
    assert_ne!(
        other.headers().get("x-ecoroute-reason").map(|v| v.to_str().unwrap()),
        Some("kept: answered here")
    );

    let mut follow_up = responses(json!("Write a poem about it"), false);
    follow_up["previous_response_id"] = json!(id);
    let r = post(&h, "/v1/responses", follow_up).await;
    assert_eq!(r.headers()["x-ecoroute-route"], "llm");
    let seen = h.mock.seen();
    let sent: Value = serde_json::from_slice(&seen.last().unwrap().body).unwrap();
    assert!(
        sent.get("previous_response_id").is_none(),
        "the upstream never saw {id}"
    );
    let input = sent["input"].as_array().unwrap();
    assert_eq!(input.len(), 3);
    assert_eq!(input[0]["content"], "What is the capital of Peru?");
    assert!(input[1]["content"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("The capital of Peru is Lima."));
    assert_eq!(input[2]["content"], "Write a poem about it");

    // The upstream's own ids pass untouched.
    let mut theirs = responses(json!("And then?"), false);
    theirs["previous_response_id"] = json!("resp_upstream");
    post(&h, "/v1/responses", theirs).await;
    let sent: Value = serde_json::from_slice(&h.mock.seen().last().unwrap().body).unwrap();
    assert_eq!(sent["previous_response_id"], "resp_upstream");
}

/// A proxy whose `search.languages` has French: the shipped `lang/fr.toml`, pointed at a small
/// French fixture corpus.
async fn french_harness() -> Harness {
    french_harness_with("").await
}

/// The French pack over the French fixture corpus; `extra` is TOML appended to the config.
async fn french_harness_with(extra: &str) -> Harness {
    let langs = tempfile::tempdir().unwrap();
    let pack = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/lang/fr.toml")).unwrap();
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/corpus-fr.jsonl");
    let pack = pack.replace("corpus = \"corpus/fr.jsonl.gz\"", &format!("corpus = \"{corpus}\""));
    std::fs::write(langs.path().join("fr.toml"), pack).unwrap();
    let dir = langs.keep();
    Harness::start_with(extra, |c| {
        let loaded = ecoroute::lang::LanguagePack::load(&dir.join("fr.toml")).unwrap();
        let index_dir = dir.join("index.fr");
        c.search.languages = vec![ecoroute::config::search::LanguageSearch {
            pack: std::sync::Arc::new(loaded),
            index_dir,
        }];
    })
    .await
}

#[tokio::test]
async fn french_lookups_are_answered_in_french_and_french_tasks_go_to_the_llm() {
    let mut h = french_harness().await;
    let question = "Bonjour, pourriez-vous me dire quelle est la capitale du Pérou ? Merci !";
    let r = h.chat(crate::support::user(question)).await;
    assert_eq!(
        r.headers()["x-ecoroute-route"],
        "search",
        "{:?}",
        r.headers().get("x-ecoroute-reason")
    );
    let v: Value = r.json().await.unwrap();
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(text.starts_with("La capitale du Pérou est Lima."), "{text}");
    assert!(
        text.contains("Source : Pérou (Wikipédia)"),
        "the source in French: {text}"
    );

    // The same through Anthropic's API, streamed.
    let r = post(&h, "/v1/messages", claude("Quelle est la capitale du Chili ?", true)).await;
    let streamed: String = events(&r.text().await.unwrap())
        .iter()
        .filter(|(e, _)| e == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_string())
        .collect();
    assert!(streamed.starts_with("La capitale du Chili est Santiago."), "{streamed}");

    // Writing in French is the LLM's; so is a French question search cannot answer for sure.
    for (task, reason) in [
        ("Écris un poème sur Lima", "language fr: task cue"),
        ("Rédige un e-mail pour annuler une réservation", "language fr: task cue"),
        ("Peux-tu me dire comment je peux réserver ?", "guard: personal"),
        (
            "Qui est le président actuel du Pérou ?",
            "the question asks about the present",
        ),
        ("Quelle est la monnaie du Pérou ?", "escalated"),
    ] {
        let r = h.chat(crate::support::user(task)).await;
        assert_eq!(r.headers()["x-ecoroute-route"], "llm", "{task}");
        let why = r.headers()["x-ecoroute-reason"].to_str().unwrap().to_string();
        assert!(why.contains(reason), "{task}: {why}");
    }
    // A language without a corpus still goes to the LLM.
    let r = h.chat(crate::support::user("Wie heißt die Hauptstadt von Peru?")).await;
    assert_eq!(r.headers()["x-ecoroute-reason"], "guard: language");

    let rows = h.stop().await;
    let search: Vec<_> = rows.iter().filter(|r| r.route.as_str() == "search").collect();
    assert_eq!(search.len(), 2);
    assert!(search.iter().all(|r| r.reason.contains("language fr")), "{search:?}");
}

/// `/admin/explain` explains a question in the language `serve` answers it in: a French question
/// is searched in the French index and checked by the French pack, not the English ones.
#[tokio::test]
async fn admin_explain_uses_the_language_the_question_is_answered_in() {
    const TOKEN: &str = "admin-token-for-the-language-test-01";
    std::env::set_var("ECOROUTE_TEST_LANGUAGE_ADMIN_TOKEN", TOKEN);
    let h = french_harness_with("[admin]\ntoken_env = \"ECOROUTE_TEST_LANGUAGE_ADMIN_TOKEN\"\n").await;
    let explain = |q: &str| {
        h.client
            .get(h.url("/admin/explain"))
            .query(&[("q", q)])
            .bearer_auth(TOKEN)
            .send()
    };
    let v: Value = explain("Quelle est la capitale du Pérou ?")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["route"], "search", "{v}");
    assert_eq!(v["language"], "fr");
    let answer = v["search"]["verdict"]["answer"].as_str().unwrap_or_default();
    assert!(answer.starts_with("La capitale du Pérou est Lima"), "{v}");
    // An English question is still explained in English.
    let v: Value = explain("What is the capital of Peru?")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["language"], "en");
    assert_eq!(v["search"]["verdict"]["answer"], "The capital of Peru is Lima.");
}
