//! A mock upstream for demos and load benchmarks (`scripts/bench/load.py`), serving the three APIs
//! ecoroute fronts: OpenAI chat completions (`POST /v1/chat/completions`), OpenAI Responses
//! (`POST /v1/responses`) and Anthropic Messages (`POST /v1/messages`). Each answers at once with
//! a fixed answer, or, with `"stream": true`, with that API's SSE events (ending with its final
//! event), the first leaving at once and the rest after `--stream-gap-ms` each. The chat answer is
//! the same bytes whether called directly, through nginx or through ecoroute, so latencies compare.
//!
//!   cargo run --release --example mock_upstream -- 127.0.0.1:9000 [stream-gap-ms]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

const COMPLETION: &str = r#"{"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Load balancers spread the weight; / requests fall like autumn leaves; / each finds a warm home."},"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":22,"total_tokens":36}}"#;

/// The text every API answers with, and the two pieces its streams send.
const ANSWER: &str = "Load balancers spread the weight; / requests fall like autumn leaves; / each finds a warm home.";
const PIECES: [&str; 2] = [
    "Load balancers spread the weight; /",
    " requests fall like autumn leaves; / each finds a warm home.",
];

fn chunk(content: &str, finish: Option<&str>) -> String {
    let finish = finish.map_or("null".to_string(), |f| format!("\"{f}\""));
    format!(
        "data: {{\"id\":\"chatcmpl-mock\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":{finish}}}]}}\n\n"
    )
}

/// The request as JSON (Null when it is not), and whether it asks for a stream. Read as JSON: a
/// byte search for `"stream":true` once compared 14-byte windows against a 13-byte literal and
/// never streamed.
fn read(body: &Bytes) -> (Value, bool) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let streaming = v.get("stream").and_then(Value::as_bool).unwrap_or(false);
    (v, streaming)
}

fn model_of(v: &Value, default: &str) -> String {
    v.get("model").and_then(Value::as_str).unwrap_or(default).to_string()
}

fn json_response(body: String) -> Response {
    ([(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn sse_response(frames: Vec<String>, gap: Duration) -> Response {
    (
        [(http::header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(paced(frames, gap)),
    )
        .into_response()
}

/// A named SSE event, as the Messages and Responses APIs write them.
fn event(v: &Value) -> String {
    format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or("message"))
}

async fn chat(body: Bytes, gap: Duration) -> Response {
    let (_, streaming) = read(&body);
    if !streaming {
        return json_response(COMPLETION.to_string());
    }
    // The bytes the load benchmarks have always timed (docs/benchmarks.md).
    let frames = vec![
        chunk("Load balancers", None),
        chunk(" spread the weight.", None),
        chunk("", Some("stop")),
        "data: [DONE]\n\n".to_string(),
    ];
    sse_response(frames, gap)
}

/// `POST /v1/responses`: a completed response with one message, or its stream of events.
async fn responses(body: Bytes, gap: Duration) -> Response {
    let (request, streaming) = read(&body);
    let model = model_of(&request, "gpt-4o-mini");
    let message = |text: &str, status: &str| {
        json!({"type": "message", "id": "msg_mock", "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]})
    };
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": "resp_mock", "object": "response", "created_at": 1_700_000_000, "status": status,
            "model": model, "output": output, "usage": usage})
    };
    let usage = json!({"input_tokens": 14, "output_tokens": 22, "total_tokens": 36});
    let done = response("completed", json!([message(ANSWER, "completed")]), usage);
    if !streaming {
        return json_response(done.to_string());
    }
    let in_progress = response("in_progress", json!([]), Value::Null);
    let mut events = vec![
        json!({"type": "response.created", "response": in_progress}),
        json!({"type": "response.in_progress", "response": in_progress}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": message("", "in_progress")}),
        json!({"type": "response.content_part.added", "item_id": "msg_mock", "output_index": 0, "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []}}),
    ];
    for piece in PIECES {
        events.push(
            json!({"type": "response.output_text.delta", "item_id": "msg_mock", "output_index": 0,
            "content_index": 0, "delta": piece}),
        );
    }
    events.extend([
        json!({"type": "response.output_text.done", "item_id": "msg_mock", "output_index": 0, "content_index": 0, "text": ANSWER}),
        json!({"type": "response.content_part.done", "item_id": "msg_mock", "output_index": 0, "content_index": 0,
            "part": {"type": "output_text", "text": ANSWER, "annotations": []}}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": message(ANSWER, "completed")}),
        json!({"type": "response.completed", "response": done}),
    ]);
    let frames = events
        .into_iter()
        .enumerate()
        .map(|(n, mut e)| {
            e["sequence_number"] = json!(n);
            event(&e)
        })
        .collect();
    sse_response(frames, gap)
}

/// `POST /v1/messages`: an Anthropic message that ended its turn, or its stream of events.
async fn messages(body: Bytes, gap: Duration) -> Response {
    let (request, streaming) = read(&body);
    let model = model_of(&request, "claude-sonnet-4-5");
    let message = |content: Value, stop: Value, output_tokens: u32| {
        json!({"id": "msg_mock", "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop, "stop_sequence": null,
            "usage": {"input_tokens": 14, "output_tokens": output_tokens}})
    };
    if !streaming {
        let whole = message(json!([{"type": "text", "text": ANSWER}]), json!("end_turn"), 22);
        return json_response(whole.to_string());
    }
    let mut events = vec![
        json!({"type": "message_start", "message": message(json!([]), Value::Null, 1)}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ];
    for piece in PIECES {
        events.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}));
    }
    events.extend([
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": 22}}),
        json!({"type": "message_stop"}),
    ]);
    sse_response(events.iter().map(event).collect(), gap)
}

/// The frames, the first at once and each next one `gap` later.
fn paced(frames: Vec<String>, gap: Duration) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold((0usize, frames), move |(i, frames)| async move {
        if i >= frames.len() {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(gap).await;
        }
        Some((Ok(Bytes::from(frames[i].clone())), (i + 1, frames)))
    })
}

/// The mock's routes; streams wait `gap` between events.
pub fn app(gap: Duration) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(move |body: Bytes| chat(body, gap)))
        .route("/v1/responses", post(move |body: Bytes| responses(body, gap)))
        .route("/v1/messages", post(move |body: Bytes| messages(body, gap)))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:9000".into());
    let gap_ms: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);
    let listener = tokio::net::TcpListener::bind(&listen).await.unwrap();
    eprintln!("mock upstream on {}", listener.local_addr().unwrap());
    axum::serve(listener, app(Duration::from_millis(gap_ms))).await.unwrap();
}
