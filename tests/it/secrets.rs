//! API keys and the admin token must never appear in logs, the ledger, metrics, reports, the
//! dashboard or the admin API. This drives real traffic (both routes, errors, admin calls) and
//! greps everything the proxy writes or serves for the secrets.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::support::*;

const UPSTREAM_KEY: &str = "sk-upstream-SECRET-4242424242";
const CLIENT_KEY: &str = "sk-client-SECRET-1717171717";
const ADMIN_TOKEN: &str = "admin-SECRET-token-0909090909";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_clean(place: &str, text: &str) {
    for secret in [UPSTREAM_KEY, CLIENT_KEY, ADMIN_TOKEN] {
        assert!(!text.contains(secret), "{place} contains a secret ({secret})");
    }
}

#[tokio::test]
async fn secrets_never_leak_into_logs_ledger_metrics_reports_or_admin_output() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    std::env::set_var("ECOROUTE_TEST_SECRET_UPSTREAM", UPSTREAM_KEY);
    std::env::set_var("ECOROUTE_TEST_SECRET_ADMIN", ADMIN_TOKEN);
    let mut h = Harness::start_with("[admin]\ntoken_env = \"ECOROUTE_TEST_SECRET_ADMIN\"\n", |c| {
        c.llm.api_key_env = Some("ECOROUTE_TEST_SECRET_UPSTREAM".into());
        c.llm.api_key = Some(UPSTREAM_KEY.into());
        c.ledger.store_prompts = true;
    })
    .await;
    for text in [
        "What is the capital of Peru?",
        "Write a limerick about Lima",
        "Write a limerick __status_500",
        "Write a limerick __cut",
    ] {
        let mut body = user(text);
        if text.contains("__cut") {
            body["stream"] = serde_json::json!(true);
        }
        let r = h
            .client
            .post(h.url("/v1/chat/completions"))
            .bearer_auth(CLIENT_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        let _ = r.bytes().await;
    }
    let _ = h
        .client
        .get(h.url("/v1/models"))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .unwrap();
    let _ = h
        .client
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .body("{broken")
        .send()
        .await
        .unwrap();
    let _ = h
        .client
        .get(h.url("/admin/config"))
        .bearer_auth("wrong-but-long-enough-token")
        .send()
        .await
        .unwrap();

    let mut served = String::new();
    for path in [
        "/metrics",
        "/admin/config",
        "/dashboard",
        "/admin/explain?q=capital%20of%20Peru",
    ] {
        let r = h.client.get(h.url(path)).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        let text = r.text().await.unwrap();
        assert_clean(path, &text);
        served.push_str(&text);
    }
    assert!(
        served.contains("\"api_key\":\"<redacted>\""),
        "the admin config says a key is set, without showing it"
    );
    assert!(
        h.mock
            .seen()
            .iter()
            .all(|s| s.headers["authorization"] == format!("Bearer {UPSTREAM_KEY}").as_str()),
        "the upstream got the configured key"
    );

    let _ = h.stop().await;
    for entry in std::fs::read_dir(h.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.file_name().unwrap().to_string_lossy().starts_with("ledger") {
            let bytes = std::fs::read(&path).unwrap();
            assert_clean(&path.display().to_string(), &String::from_utf8_lossy(&bytes));
        }
    }
    for format in ["json", "csv", "md", "html"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ecoroute"))
            .args([
                "report",
                "--ledger",
                h.ledger_path().to_str().unwrap(),
                "--by",
                "tenant",
                "--format",
                format,
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_clean(
            &format!("report --format {format}"),
            &String::from_utf8_lossy(&out.stdout),
        );
    }
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("ecoroute listening"), "logs were captured");
    assert_clean("logs", &logs);
}
