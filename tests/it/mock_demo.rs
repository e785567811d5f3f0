//! The README's demo: the shipped mock upstream (`examples/mock_upstream.rs`) behind
//! `serve --upstream`, for all three APIs, streamed and not. Before, the mock served chat
//! completions only, and `--upstream` left Anthropic requests going to the file's upstream.

use std::time::Duration;

use crate::support::*;
use serde_json::{json, Value};

#[path = "../../examples/mock_upstream.rs"]
#[expect(dead_code, reason = "the example's main is not called here")]
mod shipped_mock;

#[tokio::test]
async fn the_shipped_mock_behind_serve_upstream_answers_all_three_apis_streamed_and_not() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mock_addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, shipped_mock::app(Duration::from_millis(5)))
            .await
            .unwrap()
    });
    // The file names an upstream nobody listens on, for both APIs; `--upstream` names the mock.
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("test.toml");
    std::fs::write(&source, test_config_toml("http://127.0.0.1:9/v1", dir.path(), "")).unwrap();
    let overrides = ecoroute::config::Overrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        upstream: Some(format!("http://{mock_addr}/v1")),
        anthropic_upstream: None,
    };
    let config = ecoroute::config::Config::load_with(&source, &overrides, ecoroute::config::Purpose::Serve).unwrap();
    let server = ecoroute::server::start(config).await.unwrap();
    let client = reqwest::Client::new();
    let prompt = "Write a haiku about load balancers";
    let requests = [
        (
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}),
        ),
        (
            "/v1/messages",
            json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": prompt}]}),
        ),
        ("/v1/responses", json!({"model": "gpt-4o-mini", "input": prompt})),
    ];
    for (path, body) in requests {
        for stream in [false, true] {
            let mut body = body.clone();
            body["stream"] = json!(stream);
            let r = client
                .post(format!("http://{}{path}", server.addr))
                .header("authorization", "Bearer sk-demo")
                .header("x-api-key", "sk-ant-demo")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path} stream={stream}");
            assert_eq!(r.headers()["x-ecoroute-route"], "llm", "{path} stream={stream}");
            let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
            let text = r.text().await.unwrap();
            assert_eq!(
                content_type.starts_with("text/event-stream"),
                stream,
                "{path} stream={stream}: {content_type}"
            );
            assert!(text.contains("Load balancers"), "{path} stream={stream}: {text}");
            assert!(!text.contains("error"), "{path} stream={stream}: {text}");
            if !stream {
                let v: Value = serde_json::from_str(&text).unwrap();
                let kind = v["object"].as_str().or(v["type"].as_str()).unwrap_or_default();
                let expected = match path {
                    "/v1/chat/completions" => "chat.completion",
                    "/v1/messages" => "message",
                    _ => "response",
                };
                assert_eq!(kind, expected, "{path}: {v}");
            }
        }
    }
    server.shutdown().await.unwrap();
    let rows = ecoroute::ledger::read_all(&dir.path().join("ledger.sqlite")).unwrap();
    assert_eq!(rows.len(), 6);
    for row in &rows {
        assert_eq!((row.status, row.error.as_deref()), (200, None), "{}", row.path);
        assert!(row.completion_tokens.is_some_and(|n| n > 0), "{}: usage read", row.path);
    }
}
