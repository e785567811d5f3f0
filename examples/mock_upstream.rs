//! A mock OpenAI upstream for demos and load benchmarks (`scripts/bench/load.py`): answers every
//! `POST /v1/chat/completions` at once with a fixed completion, or, with `"stream": true`, with an
//! SSE stream whose first chunk leaves at once and the rest after `--stream-gap-ms`. The same bytes
//! whether called directly, through nginx or through ecoroute, so latencies compare.
//!
//!   cargo run --release --example mock_upstream -- 127.0.0.1:9000
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

const COMPLETION: &str = r#"{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Load balancers spread the weight; / requests fall like autumn leaves; / each finds a warm home."},"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":22,"total_tokens":36}}"#;

fn chunk(content: &str, finish: Option<&str>) -> String {
    let finish = finish.map_or("null".to_string(), |f| format!("\"{f}\""));
    format!(
        "data: {{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":{finish}}}]}}\n\n"
    )
}

async fn chat(body: Bytes, gap: Duration) -> Response {
    // Read as JSON: a byte search for `"stream":true` once compared 14-byte windows against a
    // 13-byte literal and never streamed.
    let streaming = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("stream").and_then(serde_json::Value::as_bool))
        .unwrap_or(false);
    if !streaming {
        return ([(http::header::CONTENT_TYPE, "application/json")], COMPLETION).into_response();
    }
    let stream = async_stream(gap);
    (
        [(http::header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

fn async_stream(gap: Duration) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let pieces = vec![
        chunk("Load balancers", None),
        chunk(" spread the weight.", None),
        chunk("", Some("stop")),
        "data: [DONE]\n\n".to_string(),
    ];
    futures_util::stream::unfold((0usize, pieces), move |(i, pieces)| async move {
        if i >= pieces.len() {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(gap).await;
        }
        Some((Ok(Bytes::from(pieces[i].clone())), (i + 1, pieces)))
    })
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:9000".into());
    let gap_ms: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let gap = Duration::from_millis(gap_ms);
    let app = Router::new().route("/v1/chat/completions", post(move |body: Bytes| chat(body, gap)));
    let listener = tokio::net::TcpListener::bind(&listen).await.unwrap();
    eprintln!("mock upstream on {}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.unwrap();
}
