//! The faults an attack review found, each tried again against the real server and a mock
//! upstream: traversal out of the base path, slow and stalled clients, shutdown with requests in
//! flight, timeouts that name the wrong deadline, bodies held whole, shed requests on keep-alive
//! connections, and requests hyper refuses before any handler sees them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One HTTP/1.1 response read off a raw socket: status line, lower-cased head, body.
struct RawResponse {
    status_line: String,
    head: String,
    body: String,
}

impl RawResponse {
    fn status(&self) -> u16 {
        self.status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}

/// Reads one response (Content-Length framed, or up to EOF) from a raw connection.
async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut buffer = Vec::new();
    let mut byte = [0u8; 1];
    while !buffer.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("a response within 5 s")
            .unwrap();
        assert!(
            n > 0,
            "connection closed before a response: {:?}",
            String::from_utf8_lossy(&buffer)
        );
        buffer.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buffer).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().unwrap());
    let mut body = vec![0u8; length.unwrap_or(0)];
    match length {
        Some(_) => {
            stream.read_exact(&mut body).await.unwrap();
        }
        None => {
            stream.read_to_end(&mut body).await.unwrap();
        }
    }
    RawResponse {
        status_line: head.lines().next().unwrap_or_default().to_string(),
        head,
        body: String::from_utf8_lossy(&body).to_string(),
    }
}

async fn raw(addr: SocketAddr, request: &str) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    read_response(&mut stream).await
}

/// True when the peer closes the connection within `limit` (reads return EOF or an error).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A response (a 408, say) before the close: keep reading to the close.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn no_path_leaves_the_base_path_nor_carries_the_proxys_key_outside_it() {
    let h = Harness::start_with("", |c| {
        c.llm.api_key = Some("sk-server-side-key".into());
        c.llm.api_key_env = Some("UNUSED".into());
    })
    .await;
    for path in [
        "/v1/..\\..\\_log",
        "/v1/..\\secret",
        "/v1/models\\..\\..\\internal/admin",
        "/v1/models/..%2f..%2f_log",
        "/v1/..%5c..%5c_log",
        "/v1/x/..;/y",
        "/v1/..%09/x",
        "/v1/../admin/config",
        "/v1/%2e%2e/x",
    ] {
        let r = raw(
            h.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(r.status(), 400, "{path}: {}", r.status_line);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error", "{path}");
    }
    // A legitimate pass-through still works, and carries the proxy's request id upstream.
    let r = h.client.get(h.url("/v1/models")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let seen = h.mock.seen();
    assert!(
        seen.iter().all(|s| s.path.starts_with("/v1/")),
        "nothing outside /v1 reached the upstream: {:?}",
        seen.iter().map(|s| &s.path).collect::<Vec<_>>()
    );
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].headers["x-request-id"],
        id.as_str(),
        "the generated id goes upstream"
    );
    assert_eq!(seen[0].headers["authorization"], "Bearer sk-server-side-key");
}

fn slow_clients(c: &mut ecoroute::config::Config) {
    c.server.header_read_timeout = Duration::from_millis(300);
    c.server.body_read_timeout = Duration::from_millis(300);
    c.server.max_concurrency = 1;
}

#[tokio::test]
async fn idle_and_slow_header_connections_are_closed() {
    let h = Harness::start_with("", slow_clients).await;
    let mut idle = TcpStream::connect(h.addr).await.unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(3)).await,
        "idle connection"
    );

    let mut partial = TcpStream::connect(h.addr).await.unwrap();
    partial
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut partial, Duration::from_secs(3)).await,
        "headers never finished"
    );

    let mut kept_alive = TcpStream::connect(h.addr).await.unwrap();
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut kept_alive).await.status(), 200);
    assert!(
        closed_within(&mut kept_alive, Duration::from_secs(3)).await,
        "idle keep-alive connection after a response"
    );
}

#[tokio::test]
async fn a_body_that_stalls_is_cut_off_with_408_and_never_holds_the_only_slot() {
    let mut h = Harness::start_with("", slow_clients).await;
    let mut slow = TcpStream::connect(h.addr).await.unwrap();
    slow.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n{")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // max_concurrency = 1: before, the stalled body held the one slot and this got 503.
    let r = h.chat(user("What is the capital of Peru?")).await;
    assert_eq!(r.status(), 200);
    let response = read_response(&mut slow).await;
    assert_eq!(response.status(), 408, "{}", response.status_line);
    assert!(response.head.contains("connection: close"));
    let v: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(v["error"]["code"], "request_timeout");
    let rows = h.stop().await;
    assert!(rows.iter().any(|r| r.status == 408), "the cut request has its row");
}

#[tokio::test]
async fn past_the_connection_cap_newcomers_wait_until_a_connection_closes() {
    let h = Harness::start_with("", |c| {
        c.server.max_connections = 2;
        c.server.header_read_timeout = Duration::from_secs(10);
    })
    .await;
    let first = TcpStream::connect(h.addr).await.unwrap();
    let _second = TcpStream::connect(h.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let url = h.url("/healthz");
    let waiting = tokio::spawn({
        let client = client.clone();
        let url = url.clone();
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection is not served while two are open"
    );
    drop(first);
    let status = tokio::time::timeout(Duration::from_secs(3), waiting)
        .await
        .expect("served once a slot frees")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn past_the_grace_period_requests_end_with_a_readable_error_and_keep_their_rows() {
    let mut h = Harness::start_with("", |c| c.server.shutdown_grace = Duration::from_millis(300)).await;
    let mut stream = h.chat(user_stream("Write a long poem __longstream")).await;
    assert_eq!(stream.status(), 200);
    let first = stream.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("word"));
    let json = tokio::spawn({
        let client = h.client.clone();
        let url = h.url("/v1/chat/completions");
        async move {
            let r = client
                .post(url)
                .json(&user("Write a limerick __slow"))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    });
    let reader = tokio::spawn(async move {
        let mut body = String::from_utf8_lossy(&first).to_string();
        while let Ok(Some(chunk)) = stream.chunk().await {
            body.push_str(&String::from_utf8_lossy(&chunk));
        }
        body
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rows = h.stop().await;

    let body = reader.await.unwrap();
    let last = sse_events(&body).last().cloned().unwrap_or_default();
    let event: Value = serde_json::from_str(&last).unwrap_or_else(|_| panic!("last event: {last}"));
    assert_eq!(event["error"]["code"], "shutting_down", "{body}");
    let (status, text) = json.await.unwrap();
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("shutting_down"), "{text}");
    assert_eq!(rows.len(), 2, "both requests have their row: {rows:?}");
    assert!(rows
        .iter()
        .all(|r| r.error.as_deref().is_some_and(|e| e.contains("shutting down"))));
}

#[tokio::test]
async fn a_connect_timeout_is_a_502_that_names_the_connect_timeout() {
    // A listener whose backlog is full: new connections get no answer to their SYN.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = socket.listen(0).unwrap();
    let addr = full.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        fillers.push(tokio::spawn(async move { TcpStream::connect(addr).await }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mock = start_mock().await;
    let base_url = format!("http://{addr}/v1");
    let h = Harness::start_against(mock, &base_url, "", |c| {
        c.llm.connect_timeout = Duration::from_millis(300);
        c.llm.first_byte_timeout = Duration::from_millis(3000);
    })
    .await;
    let started = Instant::now();
    let r = h.chat(user("Write a limerick about Lima")).await;
    let elapsed = started.elapsed();
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("300 ms"), "{message}");
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    drop(full);
}

#[tokio::test]
async fn a_json_answer_is_passed_on_as_it_arrives_and_its_usage_still_counted() {
    let mut h = Harness::start().await;
    let started = Instant::now();
    let mut r = h.chat(user("Write a limerick __trickle")).await;
    assert_eq!(r.status(), 200);
    let first = r.chunk().await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "first bytes came after {:?}: the body was held whole",
        started.elapsed()
    );
    let mut body = first.to_vec();
    while let Some(chunk) = r.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], LLM_TEXT);
    let rows = h.stop().await;
    assert_eq!(rows[0].usage_source, "upstream");
    assert_eq!((rows[0].prompt_tokens, rows[0].completion_tokens), (Some(21), Some(17)));
}

#[tokio::test]
async fn a_shed_request_leaves_its_keep_alive_connection_usable() {
    let h = Harness::start_with("", |c| c.server.max_concurrency = 1).await;
    let held = h.spawn_held_request();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let body = serde_json::to_string(&user("What is the capital of Peru?")).unwrap();
    let mut stream = TcpStream::connect(h.addr).await.unwrap();
    // Headers and body in two writes, as Python's http.client sends them.
    stream
        .write_all(
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(body.as_bytes()).await.unwrap();
    let shed = read_response(&mut stream).await;
    assert_eq!(shed.status(), 503, "{}", shed.status_line);
    assert!(shed.head.contains("retry-after"));
    // The same connection carries the next request.
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut stream).await.status(), 200);
    assert_eq!(held.await.unwrap(), 200);
}

#[tokio::test]
async fn requests_refused_before_routing_get_openai_errors_and_ledger_rows() {
    let mut h = Harness::start().await;
    let many: String = (0..150).map(|i| format!("x-h{i}: v\r\n")).collect();
    let r = raw(h.addr, &format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n")).await;
    assert_eq!(r.status(), 431, "{}", r.status_line);
    let v: Value = serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("431 body: {:?}", r.body));
    assert_eq!(v["error"]["type"], "invalid_request_error");

    let r = raw(h.addr, "GARBAGE\r\n\r\n").await;
    assert_eq!(r.status(), 400, "{}", r.status_line);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("not valid HTTP"));

    let r = h.client.get(h.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let rows = h.stop().await;
    let mut statuses: Vec<u16> = rows.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [400, 404, 431], "one row each: {rows:?}");
}

#[tokio::test]
async fn a_reload_keeps_the_upstream_and_listen_address_given_on_the_command_line() {
    let mock = start_mock().await;
    // The file names an upstream nobody listens on; the override (`serve --upstream`) the mock.
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("test.toml");
    std::fs::write(&source, test_config_toml("http://127.0.0.1:9/v1", dir.path(), "")).unwrap();
    let overrides = ecoroute::config::Overrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        upstream: Some(mock.base_url()),
        anthropic_upstream: None,
    };
    let config = ecoroute::config::Config::load_with(&source, &overrides, ecoroute::config::Purpose::Serve).unwrap();
    let server = ecoroute::server::start(config).await.unwrap();
    let url = format!("http://{}/v1/chat/completions", server.addr);
    let client = reqwest::Client::new();
    let ask = || client.post(&url).json(&user("Write a limerick about Lima")).send();
    assert_eq!(ask().await.unwrap().status(), 200);
    // A comment line added to the file triggers the same reload as POST /admin/reload.
    let text = std::fs::read_to_string(&source).unwrap();
    std::fs::write(&source, format!("# edited\n{text}")).unwrap();
    let reloaded = server.state.reload().await.unwrap();
    assert!(
        reloaded.restart_needed_for.is_empty(),
        "the listen override is not a change: {:?}",
        reloaded.restart_needed_for
    );
    assert_eq!(
        ask().await.unwrap().status(),
        200,
        "still the --upstream after a reload"
    );
    assert_eq!(mock.chat_calls(), 2);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_total_timeout_covers_the_body_so_a_stream_past_it_ends_with_an_error_event() {
    // 20 chunks 200 ms apart: the first comes at once, the stream would take 4 s.
    let mut h = Harness::start_with("", |c| {
        c.llm.first_byte_timeout = Duration::from_millis(500);
        c.llm.total_timeout = Duration::from_millis(900);
    })
    .await;
    let started = Instant::now();
    let mut stream = h.chat(user_stream("Write a long poem __longstream")).await;
    assert_eq!(stream.status(), 200);
    let mut body = String::new();
    while let Ok(Some(chunk)) = stream.chunk().await {
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(2500),
        "cut at the deadline, not at the end: {elapsed:?}"
    );
    assert!(body.contains("word"), "chunks before the deadline passed: {body}");
    let last = sse_events(&body).last().cloned().unwrap_or_default();
    let event: Value = serde_json::from_str(&last).unwrap_or_else(|_| panic!("last event: {last}"));
    assert_eq!(event["error"]["code"], "upstream_timeout", "{body}");
    let rows = h.stop().await;
    assert_eq!(rows.len(), 1);
    let error = rows[0].error.as_deref().unwrap_or_default();
    assert!(error.starts_with("stream cut") && error.contains("900 ms"), "{error}");
}

/// M5 (attack review 2026-12-06): keep-alive connections that each send a cheap request now and
/// then held every slot, and a newcomer waited in the backlog until one of them timed out.
#[tokio::test]
async fn at_the_connection_cap_an_idle_keep_alive_connection_gives_up_its_slot() {
    let h = Harness::start_with("", |c| {
        c.server.max_connections = 2;
        c.server.header_read_timeout = Duration::from_secs(10);
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(h.addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_response(&mut stream).await.status(), 200);
        held.push(stream);
    }
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let started = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(3), client.get(h.url("/healthz")).send())
        .await
        .expect("a newcomer is served while the held connections sit idle")
        .unwrap()
        .status();
    assert_eq!(status, 200, "after {:?}", started.elapsed());
    let mut closed = 0;
    for stream in &mut held {
        closed += usize::from(closed_within(stream, Duration::from_millis(500)).await);
    }
    assert!(closed >= 1, "an idle connection was closed to make room");
}

/// M5: an HTTP/2 connection answers the proxy's pings, so they never closed it; it stayed open,
/// holding its slot, for as long as the client liked.
#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    let h = Harness::start_with("", |c| c.server.idle_timeout = Duration::from_millis(300)).await;
    let stream = TcpStream::connect(h.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::get(h.url("/healthz"))
        .body(http_body_util::Empty::<axum::body::Bytes>::new())
        .unwrap();
    assert_eq!(sender.send_request(request).await.unwrap().status(), 200);
    let ended = tokio::time::timeout(Duration::from_secs(3), connection).await;
    assert!(ended.is_ok(), "the idle HTTP/2 connection is still open after 3 s");
}

/// An upstream on a raw socket that answers every request with `head` and then `body` (written
/// in `pieces` of its bytes, the last one repeated `repeat` times), then closes the connection:
/// the framing a close-delimited response has, which hyper's own server never writes.
async fn close_delimited_upstream(head: &'static str, pieces: Vec<Vec<u8>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let pieces = pieces.clone();
            tokio::spawn(async move {
                // Read the request head and its Content-Length body, then answer.
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for piece in pieces {
                    if stream.write_all(&piece).await.is_err() {
                        return;
                    }
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

const SSE_CLOSE_HEAD: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";

/// L2 (attack review 2026-12-06): an upstream that framed its stream by closing the connection
/// and closed it after two frames gave the client a 200 that looked complete, and a row with no
/// error, on all three APIs.
#[tokio::test]
async fn a_close_delimited_stream_cut_before_its_final_event_ends_with_an_error_event() {
    let frames = [
        (
            "/v1/chat/completions",
            json_line(
                r#"{"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Once"}}]}"#,
                None,
            ),
            r#""error""#,
        ),
        (
            "/v1/messages",
            json_line(
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Once"}}"#,
                Some("content_block_delta"),
            ),
            "event: error",
        ),
        (
            "/v1/responses",
            json_line(
                r#"{"type":"response.output_text.delta","delta":"Once"}"#,
                Some("response.output_text.delta"),
            ),
            r#""type":"error""#,
        ),
    ];
    for (path, frame, error_mark) in frames {
        let upstream = close_delimited_upstream(SSE_CLOSE_HEAD, vec![frame.clone(), frame]).await;
        let mock = start_mock().await;
        let mut h = Harness::start_against(mock, &format!("http://{upstream}/v1"), "", |_| {}).await;
        let body = serde_json::json!({
            "model": "gpt-4o-mini", "max_tokens": 50, "stream": true,
            "messages": [{"role": "user", "content": "Write a limerick about fog"}],
            "input": "Write a limerick about fog",
        });
        let r = h
            .client
            .post(h.url(path))
            .header("authorization", "Bearer sk-client-key")
            .json(&body)
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        assert!(text.contains("Once"), "{path}: the frames so far pass: {text}");
        assert!(text.contains(error_mark), "{path}: an error event ends it: {text}");
        let rows = h.stop().await;
        let row = rows.iter().find(|r| r.path == path).unwrap();
        assert!(
            row.error.as_deref().is_some_and(|e| e.starts_with("stream cut")),
            "{path}: the row says the stream was cut: {:?}",
            row.error
        );
    }
}

fn json_line(data: &str, event: Option<&str>) -> Vec<u8> {
    match event {
        Some(event) => format!("event: {event}\ndata: {data}\n\n").into_bytes(),
        None => format!("data: {data}\n\n").into_bytes(),
    }
}

/// L3: a stream of one endless line was searched from its start on every chunk (60 s of CPU for
/// 64 MB) and held whole; past the line cap it now ends with an error event.
#[tokio::test]
async fn an_sse_line_past_the_cap_ends_the_stream_with_an_error_event() {
    let mut pieces = vec![b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"".to_vec()];
    let megabyte = vec![b'x'; 1024 * 1024];
    pieces.extend(std::iter::repeat_n(megabyte, 17));
    let upstream = close_delimited_upstream(SSE_CLOSE_HEAD, pieces).await;
    let mock = start_mock().await;
    let mut h = Harness::start_against(mock, &format!("http://{upstream}/v1"), "", |_| {}).await;
    let r = h.chat(user_stream("Write a limerick about fog")).await;
    let text = r.text().await.unwrap();
    assert!(
        text.len() < 17 * 1024 * 1024,
        "the stream stops at the cap ({} bytes)",
        text.len()
    );
    let last = sse_events(&text).pop().unwrap_or_default();
    let event: Value = serde_json::from_str(&last).unwrap_or_else(|e| panic!("{e}: {last:.200}"));
    assert!(
        event["error"]["message"].as_str().unwrap().contains("longer than"),
        "{event}"
    );
    let rows = h.stop().await;
    assert!(rows[0].error.as_deref().is_some_and(|e| e.contains("longer than")));
}

/// L11 (attack review 2026-12-06): hyper's own 431 and 400 on `/v1/messages` were written in
/// OpenAI's error shape, which the Anthropic SDKs do not read.
#[tokio::test]
async fn requests_hyper_refuses_on_v1_messages_get_anthropic_errors() {
    let mut h = Harness::start().await;
    let many: String = (0..150).map(|i| format!("x-h{i}: v\r\n")).collect();
    let r = raw(
        h.addr,
        &format!("POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\n{many}\r\n"),
    )
    .await;
    assert_eq!(r.status(), 431, "{}", r.status_line);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");

    let r = raw(h.addr, "POST /v1/messages HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n").await;
    assert_eq!(r.status(), 400, "{}", r.status_line);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["type"], "error", "{v}");

    // A keep-alive connection: the second request's line is the one that counts.
    let mut stream = TcpStream::connect(h.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut stream).await.status(), 200);
    stream
        .write_all(format!("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes())
        .await
        .unwrap();
    let r = read_response(&mut stream).await;
    assert_eq!(r.status(), 431);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert!(
        v["error"]["message"].is_string() && v["type"].is_null(),
        "OpenAI's shape: {v}"
    );
    let rows = h.stop().await;
    let paths: Vec<&str> = rows.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths.iter().filter(|p| **p == "/v1/messages").count(), 2, "{paths:?}");
}
