//! Test harness: a mock OpenAI upstream and the real ecoroute server, both on port 0.
// `tests/crash.rs` includes this file too and uses only part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use ecoroute::config::Config;
use ecoroute::server::{self, RunningServer};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};

/// What the mock upstream saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone, Default)]
pub struct MockState {
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

pub struct MockUpstream {
    pub addr: SocketAddr,
    pub state: MockState,
}

impl MockUpstream {
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn chat_calls(&self) -> usize {
        self.seen().iter().filter(|s| s.path == "/v1/chat/completions").count()
    }
}

pub const LLM_TEXT: &str = "There once was a city called Lima, whose fog made the sunsets look dimmer.";

/// The mock's behaviour is chosen by magic words in the last message:
/// `__status_429`/`__status_500` answer with that status, `__slow` waits 2 s before answering,
/// `__cut` sends two chunks then breaks the connection, `__pause` waits 400 ms between chunks,
/// `__cheaper_hangs` never answers for `gpt-4o-mini`, `__nostore` answers `Cache-Control: no-store, private`,
/// `__400empty` a 400 with no body (so does any other path ending `/empty400`). Other paths
/// ending `/trickle` send 20 chunks 200 ms apart, `/cutbody` one chunk then break.
pub async fn start_mock() -> MockUpstream {
    let state = MockState::default();
    let app = Router::new()
        .route("/v1/chat/completions", post(mock_chat))
        .route("/v1/messages", post(mock_messages))
        .route("/v1/responses", post(mock_responses))
        .route("/v1/models", get(mock_models))
        // Anything else is recorded too, so a test can see every path that reached the upstream.
        .fallback(mock_any)
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    MockUpstream { addr, state }
}

async fn mock_models(State(state): State<MockState>, request: Request) -> Response {
    record(&state, request).await;
    axum::Json(json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "mock"}]}))
        .into_response()
}

async fn mock_any(State(state): State<MockState>, request: Request) -> Response {
    let seen = record(&state, request).await;
    if seen.path.ends_with("/empty400") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    if seen.path.ends_with("/trickle") || seen.path.ends_with("/cutbody") {
        // A body of 20 chunks 200 ms apart, or of one chunk and then a broken connection.
        let cut = seen.path.ends_with("/cutbody");
        let chunks = futures_util::stream::unfold(0u8, move |step| async move {
            match step {
                0 => Some((Ok(Bytes::from_static(b"part ")), 1)),
                _ if cut => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    (step == 1).then(|| (Err(std::io::Error::other("cut")), 2))
                }
                1..20 => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Some((Ok(Bytes::from_static(b"part ")), step + 1))
                }
                _ => None,
            }
        });
        return Response::builder().body(Body::from_stream(chunks)).unwrap();
    }
    axum::Json(json!({"object": "mock"})).into_response()
}

async fn record(state: &MockState, request: Request) -> Seen {
    let path = request.uri().path().to_string();
    let headers = request.headers().clone();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let seen = Seen { path, headers, body };
    state.seen.lock().unwrap().push(seen.clone());
    seen
}

fn chunk(content: Option<&str>, finish: Option<&str>) -> Bytes {
    let delta = match content {
        Some(c) => json!({"content": c}),
        None => json!({}),
    };
    let v = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    Bytes::from(format!("data: {v}\n\n"))
}

async fn mock_chat(State(state): State<MockState>, request: Request) -> Response {
    let seen = record(&state, request).await;
    let body: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
    let text = body.to_string();
    if let Some(status) = mock_status(&text, openai_error) {
        return status;
    }
    if text.contains("__400empty") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    if text.contains("__slow") {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    if text.contains("__hold") {
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    if text.contains("__cheaper_hangs") && body["model"] == "gpt-4o-mini" {
        // A tier's cheaper model that does not answer (its review calls hang).
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let stream = body["stream"].as_bool().unwrap_or(false);
    let include_usage = body["stream_options"]["include_usage"].as_bool().unwrap_or(false);
    if text.contains("__trickle") {
        // A JSON answer whose first half comes at once and the rest 1.5 s later.
        let reply = json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": LLM_TEXT}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 21, "completion_tokens": 17, "total_tokens": 38}
        })
        .to_string();
        let (first, rest) = reply.split_at(reply.len() / 2);
        let (first, rest) = (Bytes::from(first.to_string()), Bytes::from(rest.to_string()));
        let parts = futures_util::stream::unfold(0u8, move |step| {
            let (first, rest) = (first.clone(), rest.clone());
            async move {
                match step {
                    0 => Some((Ok::<_, std::io::Error>(first), 1)),
                    1 => {
                        tokio::time::sleep(Duration::from_millis(1500)).await;
                        Some((Ok(rest), 2))
                    }
                    _ => None,
                }
            }
        });
        return Response::builder()
            .header("content-type", "application/json")
            .body(Body::from_stream(parts))
            .unwrap();
    }
    if text.contains("__longstream") {
        // An SSE answer of 20 chunks, 200 ms apart.
        let frames = futures_util::stream::unfold(0u8, |step| async move {
            if step >= 20 {
                return None;
            }
            if step > 0 {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Some((Ok::<_, std::io::Error>(chunk(Some("word "), None)), step + 1))
        });
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(frames))
            .unwrap();
    }
    if !stream {
        let reply = json!({
            "id": "chatcmpl-mock", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": LLM_TEXT}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 21, "completion_tokens": 17, "total_tokens": 38}
        });
        let mut response = (StatusCode::OK, [("x-mock", "yes")], axum::Json(reply)).into_response();
        if text.contains("__nostore") {
            let value = http::HeaderValue::from_static("no-store, private");
            response.headers_mut().insert(http::header::CACHE_CONTROL, value);
        }
        return response;
    }
    let cut = text.contains("__cut");
    let pause = text.contains("__pause");
    let (half1, half2) = LLM_TEXT.split_at(30);
    let (half1, half2) = (half1.to_string(), half2.to_string());
    let frames = async_stream_frames(half1, half2, cut, pause, include_usage);
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("x-mock", "yes")
        .body(Body::from_stream(frames))
        .unwrap()
}

fn async_stream_frames(
    half1: String,
    half2: String,
    cut: bool,
    pause: bool,
    include_usage: bool,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures_util::stream::unfold(0u8, move |step| {
        let (half1, half2) = (half1.clone(), half2.clone());
        async move {
            match step {
                0 => Some((Ok(chunk(Some(&half1), None)), 1)),
                1 => {
                    if pause {
                        tokio::time::sleep(Duration::from_millis(400)).await;
                    }
                    Some((Ok(chunk(Some(&half2), None)), 2))
                }
                2 if cut => {
                    // Let the first chunks reach the client before the connection breaks.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((Err(std::io::Error::other("cut")), 9))
                }
                2 => Some((Ok(chunk(None, Some("stop"))), 3)),
                3 if include_usage => {
                    let v = json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                        "choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": 17, "total_tokens": 38}});
                    Some((Ok(Bytes::from(format!("data: {v}\n\n"))), 4))
                }
                3 | 4 => Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), 5)),
                _ => None,
            }
        }
    })
}

/// An SSE body of named events, as Anthropic and the Responses API stream.
fn event_stream(events: Vec<(&str, Value)>) -> Response {
    let body: String = events
        .into_iter()
        .map(|(event, data)| format!("event: {event}\ndata: {data}\n\n"))
        .collect();
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from(body))
        .unwrap()
}

/// The mock's error body in OpenAI's shape.
fn openai_error(code: u16) -> Value {
    json!({"error": {"message": format!("mock {code}"), "type": "mock", "param": null, "code": null}})
}

/// The mock's status answers (`__status_429` …) in the shape `error` gives, if the body asks.
fn mock_status(text: &str, error: impl Fn(u16) -> Value) -> Option<Response> {
    [429u16, 500, 503]
        .into_iter()
        .find(|code| text.contains(&format!("__status_{code}")))
        .map(|code| (StatusCode::from_u16(code).unwrap(), axum::Json(error(code))).into_response())
}

/// Anthropic's Messages API: the LLM text as one text block, or its stream of events, with
/// 21 input and 17 output tokens.
async fn mock_messages(State(state): State<MockState>, request: Request) -> Response {
    let seen = record(&state, request).await;
    let body: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
    let text = body.to_string();
    if let Some(status) = mock_status(
        &text,
        |code| json!({"type": "error", "error": {"type": "rate_limit_error", "message": format!("mock {code}")}}),
    ) {
        return status;
    }
    let model = body["model"].as_str().unwrap_or("claude-mock").to_string();
    if !body["stream"].as_bool().unwrap_or(false) {
        return axum::Json(json!({
            "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": LLM_TEXT}], "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 21, "output_tokens": 17}
        }))
        .into_response();
    }
    let (half1, half2) = LLM_TEXT.split_at(30);
    event_stream(vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_mock", "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 21, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": half1}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": half2}}),
        ),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 17}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ])
}

/// OpenAI's Responses API: the LLM text as one output message, or its stream of events.
async fn mock_responses(State(state): State<MockState>, request: Request) -> Response {
    let seen = record(&state, request).await;
    let body: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
    let text = body.to_string();
    if let Some(status) = mock_status(&text, openai_error) {
        return status;
    }
    let message = json!({"type": "message", "id": "msg_mock", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": LLM_TEXT, "annotations": []}]});
    let response = json!({"id": "resp_mock", "object": "response", "created_at": 1, "status": "completed",
        "model": "gpt-4o-mini", "output": [message], "error": null, "incomplete_details": null,
        "usage": {"input_tokens": 21, "output_tokens": 17, "total_tokens": 38}});
    if !body["stream"].as_bool().unwrap_or(false) {
        return axum::Json(response).into_response();
    }
    let (half1, half2) = LLM_TEXT.split_at(30);
    let delta = |piece: &str, n: u32| {
        json!({"type": "response.output_text.delta", "sequence_number": n, "item_id": "msg_mock",
        "output_index": 0, "content_index": 0, "delta": piece})
    };
    event_stream(vec![
        (
            "response.created",
            json!({"type": "response.created", "sequence_number": 0,
            "response": {"id": "resp_mock", "object": "response", "status": "in_progress", "model": "gpt-4o-mini", "output": []}}),
        ),
        (
            "response.output_item.added",
            json!({"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
            "item": {"type": "message", "id": "msg_mock", "status": "in_progress", "role": "assistant", "content": []}}),
        ),
        (
            "response.content_part.added",
            json!({"type": "response.content_part.added", "sequence_number": 2, "item_id": "msg_mock",
            "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
        ),
        ("response.output_text.delta", delta(half1, 3)),
        ("response.output_text.delta", delta(half2, 4)),
        (
            "response.completed",
            json!({"type": "response.completed", "sequence_number": 5, "response": response}),
        ),
    ])
}

pub fn fixture_corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus.jsonl")
}

/// A running proxy in front of a mock upstream, with its own temporary data directory.
pub struct Harness {
    pub mock: MockUpstream,
    pub server: Option<RunningServer>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with("", |_| {}).await
    }

    /// `extra` is TOML appended to the base config; `tweak` edits the validated config.
    pub async fn start_with(extra: &str, tweak: impl FnOnce(&mut Config)) -> Harness {
        let mock = start_mock().await;
        let base_url = mock.base_url();
        Self::start_against(mock, &base_url, extra, tweak).await
    }

    pub async fn start_against(
        mock: MockUpstream,
        base_url: &str,
        extra: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let toml = test_config_toml(base_url, dir.path(), extra);
        // Written to disk so that a reload can read it again.
        let source = dir.path().join("test.toml");
        std::fs::write(&source, &toml).unwrap();
        let mut config = Config::from_toml_str(&toml, &source, &|name| std::env::var(name).ok()).unwrap();
        tweak(&mut config);
        let server = server::start(config).await.unwrap();
        let addr = server.addr;
        Harness {
            mock,
            server: Some(server),
            addr,
            dir,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("test.toml")
    }

    /// Rewrites the config file with the base test config plus `extra`.
    pub fn rewrite_config(&self, extra: &str) {
        std::fs::write(
            self.config_path(),
            test_config_toml(&self.mock.base_url(), self.dir.path(), extra),
        )
        .unwrap();
    }

    /// Starts the proxy again (it must be stopped) from its config file rewritten with `extra`, on
    /// the same ledger: what a restart with a new config reads.
    pub async fn restart_with(&mut self, extra: &str) {
        self.rewrite_config(extra);
        let text = std::fs::read_to_string(self.config_path()).unwrap();
        let config = Config::from_toml_str(&text, &self.config_path(), &|_| None).unwrap();
        let server = server::start(config).await.unwrap();
        self.addr = server.addr;
        self.server = Some(server);
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.dir.path().join("ledger.sqlite")
    }

    /// Starts an LLM request the mock holds for 600 ms, to have one in flight; resolves to its status.
    pub fn spawn_held_request(&self) -> tokio::task::JoinHandle<http::StatusCode> {
        let client = self.client.clone();
        let url = self.url("/v1/chat/completions");
        tokio::spawn(async move {
            client
                .post(url)
                .json(&user("Write a limerick __hold"))
                .send()
                .await
                .unwrap()
                .status()
        })
    }

    pub async fn chat(&self, body: Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/chat/completions"))
            .header("authorization", "Bearer sk-client-key")
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The Prometheus text at `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Stops the server (draining the ledger) and returns the ledger rows.
    pub async fn stop(&mut self) -> Vec<ecoroute::ledger::LedgerRecord> {
        if let Some(server) = self.server.take() {
            server.shutdown().await.unwrap();
        }
        ecoroute::ledger::read_all(&self.ledger_path()).unwrap()
    }
}

pub fn test_config_toml(base_url: &str, dir: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
max_body_bytes = 65536
shutdown_grace_ms = 5000

[llm]
base_url = "{base_url}"
connect_timeout_ms = 1000
first_byte_timeout_ms = 1000
total_timeout_ms = 5000

[llm.anthropic]
base_url = "{base_url}"

[search]
index_dir = "{index}"
corpus = "{corpus}"

[ledger]
path = "{ledger}"
batch_size = 4
{extra}
"#,
        index = dir.join("index").display(),
        corpus = fixture_corpus().display(),
        ledger = dir.join("ledger.sqlite").display(),
    )
}

pub fn user(text: &str) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
}

pub fn user_stream(text: &str) -> Value {
    json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": text}]})
}

/// Parses an SSE body into its `data:` payloads.
pub fn sse_events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|frame| frame.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}

/// Concatenated `delta.content` of a chat-completion SSE body.
pub fn sse_content(body: &str) -> String {
    sse_events(body)
        .iter()
        .filter(|e| *e != "[DONE]")
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .collect()
}

/// `ecoroute report --ledger LEDGER --by BY --format FORMAT`, as a manager runs it: its stdout,
/// after checking it succeeded.
pub fn run_report(ledger: &std::path::Path, by: &str, format: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ecoroute"))
        .args([
            "report",
            "--ledger",
            ledger.to_str().unwrap(),
            "--by",
            by,
            "--format",
            format,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The JSON report's group with this key.
pub fn report_group<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no group {key} in {report}"))
}

/// The energy the rows used (Wh, central), as the ledger computed it.
pub fn energy_spent(rows: &[ecoroute::ledger::LedgerRecord]) -> f64 {
    rows.iter()
        .map(|r| r.accounting.unwrap().costs.actual.energy_wh.central)
        .sum()
}
