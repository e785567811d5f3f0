//! Several upstreams (`[[llm.deployments]]`): a failing deployment behind a healthy one, retries,
//! cool-down, fallback models, and what the client gets when every deployment fails.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::response::IntoResponse;
use axum::Router;
use http::StatusCode;
use serde_json::{json, Value};

use crate::support::{start_mock, user, user_stream, Harness, LLM_TEXT};

/// How a failing upstream fails.
#[derive(Clone, Copy, Debug)]
enum Failure {
    /// Answers every request with this status (`Retry-After: 0` on a 429).
    Status(u16),
    /// Reads the request, then closes the connection without an answer.
    Reset,
    /// Accepts the connection and never answers.
    Hang,
}

/// A failing upstream on port 0: its base URL and how many requests reached it.
async fn failing(failure: Failure) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    match failure {
        Failure::Status(code) => {
            let app = Router::new().fallback(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    let status = StatusCode::from_u16(code).unwrap();
                    let body = json!({"error": {"message": format!("mock {code}"), "type": "server_error"}});
                    (status, [("retry-after", "0")], axum::Json(body)).into_response()
                }
            });
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        }
        Failure::Reset | Failure::Hang => {
            tokio::spawn(async move {
                loop {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    counted.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        use tokio::io::AsyncReadExt as _;
                        let mut buf = vec![0u8; 64 * 1024];
                        let _ = stream.read(&mut buf).await;
                        if matches!(failure, Failure::Hang) {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        }
                        drop(stream);
                    });
                }
            });
        }
    }
    (format!("http://{addr}/v1"), calls)
}

fn deployment(name: &str, base_url: &str, weight: u32, more: &str) -> String {
    format!("\n[[llm.deployments]]\nname = \"{name}\"\nbase_url = \"{base_url}\"\nweight = {weight}\n{more}\n")
}

const FAST_RETRY: &str =
    "\n[llm.retry]\nmax_tries = 3\nbackoff_ms = 10\nbackoff_max_ms = 50\ncooldown_failures = 100\n";

/// Each kind of failure behind a healthy deployment: every client gets the healthy answer, and the
/// ledger has the deployment that answered and the failed try before it. The failing one weighs
/// 1000 times the healthy one, so it is tried first (all but once in a thousand).
#[tokio::test]
async fn a_failing_upstream_behind_a_healthy_one_is_invisible_to_the_client() {
    for (failure, outcome) in [
        (Failure::Status(429), "429"),
        (Failure::Status(500), "500"),
        (Failure::Reset, "error"),
        (Failure::Hang, "timeout"),
    ] {
        let (bad_url, bad_calls) = failing(failure).await;
        let good = start_mock().await;
        let extra = format!(
            "{}{}{FAST_RETRY}",
            deployment("bad", &bad_url, 1000, ""),
            deployment("good", &good.base_url(), 1, "")
        );
        let mut h = Harness::start_with(&extra, |_| {}).await;
        for i in 0..2 {
            let response = h.chat(user(&format!("Write a limerick about Lima {i}"))).await;
            assert_eq!(response.status(), 200, "{failure:?}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["choices"][0]["message"]["content"], LLM_TEXT, "{failure:?}");
        }
        let metrics = h.metrics().await;
        let rows = h.stop().await;
        assert_eq!(good.chat_calls(), 2, "{failure:?}");
        assert!(
            bad_calls.load(Ordering::SeqCst) >= 1,
            "{failure:?}: the failing one was tried"
        );
        let llm: Vec<_> = rows.iter().filter(|r| r.path == "/v1/chat/completions").collect();
        assert_eq!(llm.len(), 2);
        let failed: u32 = llm.iter().map(|r| r.failed_tries).sum();
        assert_eq!(
            failed as usize,
            bad_calls.load(Ordering::SeqCst),
            "{failure:?}: every try is in the ledger"
        );
        for row in &llm {
            assert_eq!(row.status, 200);
            assert_eq!(row.deployment.as_deref(), Some("good"));
            let tries = row.tries.as_deref().unwrap();
            assert!(tries.ends_with("good:ok"), "{tries}");
            if row.failed_tries > 0 {
                assert_eq!(tries, format!("bad:{outcome},good:ok"), "{failure:?}");
            }
        }
        assert!(
            metrics.contains(r#"ecoroute_upstream_tries_total{deployment="bad",result="failed"}"#),
            "{failure:?}: {metrics}"
        );
        assert!(metrics.contains(r#"ecoroute_upstream_tries_total{deployment="good",result="answered"} 2"#));
    }
}

/// A stream cut after its first bytes reached the client is not tried again anywhere.
#[tokio::test]
async fn a_stream_cut_after_its_first_byte_is_not_retried() {
    let other = start_mock().await;
    let mock = start_mock().await;
    let extra = format!(
        "{}{}{FAST_RETRY}",
        deployment("first", &mock.base_url(), 1, ""),
        deployment("second", &other.base_url(), 1, "")
    );
    let mut h = Harness::start_with(&extra, |_| {}).await;
    let response = h.chat(user_stream("Write a limerick __cut")).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap_or_default();
    assert!(text.contains("error"), "the client sees the cut: {text}");
    let rows = h.stop().await;
    assert_eq!(mock.chat_calls() + other.chat_calls(), 1, "one try only");
    let row = rows.iter().find(|r| r.path == "/v1/chat/completions").unwrap();
    assert_eq!(row.failed_tries, 0);
    assert_eq!(row.tries.as_deref().map(|t| t.matches(':').count()), Some(1));
}

/// After `cooldown_failures` failures in a row a deployment is skipped until its cool-down ends.
#[tokio::test]
async fn a_cooled_down_deployment_is_skipped() {
    let (bad_url, bad_calls) = failing(Failure::Status(503)).await;
    let good = start_mock().await;
    let extra = format!(
        "{}{}\n[llm.retry]\nmax_tries = 3\nbackoff_ms = 10\nbackoff_max_ms = 50\ncooldown_failures = 2\ncooldown_ms = 60000\n",
        deployment("bad", &bad_url, 1000, ""),
        deployment("good", &good.base_url(), 1, "")
    );
    let mut h = Harness::start_with(&extra, |_| {}).await;
    for i in 0..5 {
        let response = h.chat(user(&format!("Write a limerick about Lima {i}"))).await;
        assert_eq!(response.status(), 200);
    }
    let rows = h.stop().await;
    assert_eq!(bad_calls.load(Ordering::SeqCst), 2, "cooled down after two failures");
    // Whatever order the weighted pick gave, the bad deployment was tried in exactly two
    // requests and every request was answered by the good one.
    let chats: Vec<_> = rows.iter().filter(|r| r.path == "/v1/chat/completions").collect();
    assert_eq!(chats.len(), 5);
    assert!(chats
        .iter()
        .all(|r| r.tries.as_deref().is_some_and(|t| t.ends_with("good:ok"))));
    let tried_bad = chats
        .iter()
        .filter(|r| r.tries.as_deref().is_some_and(|t| t.contains("bad:")))
        .count();
    assert_eq!(tried_bad, 2, "the rest skipped the cooled-down deployment");
}

/// Every deployment failing: the client gets the last status in its API's own error shape
/// (the upstream's error for a status; the proxy's, in OpenAI or Anthropic form, for no answer).
#[tokio::test]
async fn when_every_deployment_fails_the_client_gets_its_api_error_with_the_last_status() {
    let (a_url, a_calls) = failing(Failure::Status(503)).await;
    let (b_url, b_calls) = failing(Failure::Status(503)).await;
    let (c_url, _) = failing(Failure::Reset).await;
    let (d_url, _) = failing(Failure::Reset).await;
    let extra = format!(
        "{}{}{}{}{FAST_RETRY}",
        deployment("a", &a_url, 1, ""),
        deployment("b", &b_url, 1, ""),
        deployment("c", &c_url, 1, "api = \"anthropic\""),
        deployment("d", &d_url, 1, "api = \"anthropic\""),
    );
    let mut h = Harness::start_with(&extra, |_| {}).await;
    let response = h.chat(user("Write a limerick about Lima")).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "mock 503");
    assert_eq!(
        a_calls.load(Ordering::SeqCst) + b_calls.load(Ordering::SeqCst),
        3,
        "max_tries"
    );
    assert!(
        a_calls.load(Ordering::SeqCst) >= 1 && b_calls.load(Ordering::SeqCst) >= 1,
        "both tried"
    );
    let response = h
        .client
        .post(h.url("/v1/messages"))
        .header("x-api-key", "sk-ant-client")
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude-3-5-haiku-latest", "max_tokens": 50,
            "messages": [{"role": "user", "content": "Write a limerick about Lima"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error", "Anthropic's error shape: {body}");
    let rows = h.stop().await;
    let chat = rows.iter().find(|r| r.path == "/v1/chat/completions").unwrap();
    assert_eq!(
        (chat.status, chat.failed_tries, chat.deployment.as_deref()),
        (503, 3, None)
    );
    let messages = rows.iter().find(|r| r.path == "/v1/messages").unwrap();
    assert_eq!((messages.status, messages.failed_tries), (502, 3));
    assert_eq!(messages.tries.as_deref().unwrap().matches(":error").count(), 3);
}

/// A model whose every deployment fails falls back to the declared model, on the deployment that
/// serves it, under the name that deployment knows it by.
#[tokio::test]
async fn a_declared_fallback_model_answers_when_the_model_asked_cannot() {
    let (big_url, big_calls) = failing(Failure::Status(500)).await;
    let small = start_mock().await;
    let extra = format!(
        "{}{}{FAST_RETRY}\n[llm.fallback_models]\n\"gpt-4o\" = [\"gpt-4o-mini\"]\n",
        deployment("big", &big_url, 1, "models = [\"gpt-4o\"]"),
        deployment(
            "small",
            &small.base_url(),
            1,
            "models = [\"gpt-4o-mini\"]\nmodel = \"mini-eu\""
        ),
    );
    let mut h = Harness::start_with(&extra, |_| {}).await;
    let mut body = user("Write a limerick about Lima");
    body["model"] = json!("gpt-4o");
    let response = h.chat(body).await;
    assert_eq!(response.status(), 200);
    let rows = h.stop().await;
    assert_eq!(
        big_calls.load(Ordering::SeqCst),
        1,
        "the one deployment of gpt-4o, tried once"
    );
    let sent: Value = serde_json::from_slice(&small.seen()[0].body).unwrap();
    assert_eq!(sent["model"], "mini-eu");
    let row = rows.iter().find(|r| r.path == "/v1/chat/completions").unwrap();
    assert_eq!(row.model.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(row.requested_model.as_deref(), Some("gpt-4o"));
    assert_eq!(row.tries.as_deref(), Some("big:500,small:ok"));
}

/// An upstream URL whose connections are refused, and the socket that keeps it so: bound but not
/// listening, the port stays this test's for as long as the socket lives (a listener bound then
/// dropped let another test's mock take the port, and "gone" answered).
fn refusing_upstream() -> (tokio::net::TcpSocket, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("http://{}/v1", socket.local_addr().unwrap());
    (socket, url)
}

/// A deployment that refuses connections (nothing listens on its port) is a `connect` failure,
/// and the next deployment answers.
#[tokio::test]
async fn a_refused_connection_is_tried_elsewhere() {
    let (_closed, closed_url) = refusing_upstream();
    let good = start_mock().await;
    let extra = format!(
        "{}{}{FAST_RETRY}",
        deployment("gone", &closed_url, 1000, ""),
        deployment("good", &good.base_url(), 1, "")
    );
    let mut h = Harness::start_with(&extra, |_| {}).await;
    for i in 0..3 {
        let response = h.chat(user(&format!("Write a limerick about Lima {i}"))).await;
        assert_eq!(response.status(), 200);
    }
    let rows = h.stop().await;
    let tries: Vec<&str> = rows.iter().filter_map(|r| r.tries.as_deref()).collect();
    assert_eq!(tries.len(), 3);
    assert!(tries.iter().all(|t| t.ends_with("good:ok")), "{tries:?}");
    assert!(tries.contains(&"gone:connect,good:ok"), "{tries:?}");
}

/// A deployment answering 429 with `Retry-After` (an HTTP date or seconds) is left alone by the
/// requests that follow until then, as in a cool-down: they go straight to the other one.
#[tokio::test]
async fn retry_after_as_a_date_or_seconds_cools_the_deployment_down() {
    for form in ["date", "seconds"] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let busy_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let app = Router::new().fallback(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                let wait = Duration::from_secs(20);
                let value = match form {
                    "date" => httpdate::fmt_http_date(std::time::SystemTime::now() + wait),
                    _ => wait.as_secs().to_string(),
                };
                let body = json!({"error": {"message": "slow down", "type": "rate_limit_error"}});
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", value)],
                    axum::Json(body),
                )
                    .into_response()
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let good = start_mock().await;
        let extra = format!(
            "{}{}{FAST_RETRY}",
            deployment("busy", &busy_url, 1000, ""),
            deployment("good", &good.base_url(), 1, "")
        );
        let mut h = Harness::start_with(&extra, |_| {}).await;
        for i in 0..4 {
            let response = h.chat(user(&format!("Write a limerick about Lima {i}"))).await;
            assert_eq!(response.status(), 200, "{form}");
        }
        let rows = h.stop().await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{form}: asked once, then left alone");
        let tries: Vec<&str> = rows.iter().filter_map(|r| r.tries.as_deref()).collect();
        assert_eq!(
            tries.iter().filter(|t| **t == "good:ok").count(),
            3,
            "{form}: {tries:?}"
        );
        assert!(tries.contains(&"busy:429,good:ok"), "{form}: {tries:?}");
    }
}

/// A pass-through request is tried again on its deployment after a 503 when its method is
/// idempotent (a GET), and not when it is not (a POST may have done its work before failing).
#[tokio::test]
async fn an_idempotent_pass_through_request_is_tried_again_and_a_post_is_not() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let flaky_url = format!("http://{}/v1", listener.local_addr().unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    // Every other answer is a 503: the first of each pair fails, the second answers.
    let app = Router::new().fallback(move |method: http::Method| {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            if n % 2 == 0 {
                let body = json!({"error": {"message": "mock 503", "type": "server_error"}});
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "0")],
                    axum::Json(body),
                )
                    .into_response()
            } else {
                axum::Json(json!({"object": "list", "data": [], "method": method.as_str()})).into_response()
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let extra = format!("{}{FAST_RETRY}", deployment("flaky", &flaky_url, 1, ""));
    let mut h = Harness::start_with(&extra, |_| {}).await;
    let response = h
        .client
        .get(h.url("/v1/models"))
        .bearer_auth("sk-client")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the GET, tried again once");
    let response = h
        .client
        .post(h.url("/v1/files"))
        .bearer_auth("sk-client")
        .body("a file")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503, "the POST's own failure, not tried again");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let rows = h.stop().await;
    let tries = |path: &str| {
        rows.iter()
            .find(|r| r.path == path)
            .and_then(|r| r.tries.clone())
            .unwrap_or_default()
    };
    assert_eq!(tries("/v1/models"), "flaky:503,flaky:ok");
    assert_eq!(tries("/v1/files"), "flaky:503");
}

/// A connection never made sent nothing, so even a POST passed through is tried again.
#[tokio::test]
async fn a_pass_through_post_whose_connection_failed_is_tried_again() {
    let (_closed, closed_url) = refusing_upstream();
    let extra = format!("{}{FAST_RETRY}", deployment("gone", &closed_url, 1, ""));
    let mut h = Harness::start_with(&extra, |_| {}).await;
    let response = h
        .client
        .post(h.url("/v1/files"))
        .bearer_auth("sk-client")
        .body("a file")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let rows = h.stop().await;
    let row = rows.iter().find(|r| r.path == "/v1/files").unwrap();
    assert_eq!(row.tries.as_deref(), Some("gone:connect,gone:connect,gone:connect"));
    assert_eq!(row.failed_tries, 3);
}
