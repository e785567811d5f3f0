//! The proxy driven by the official `openai` and `anthropic` Python packages, streaming and not,
//! on both routes: chat completions and Responses with `openai`, Messages with `anthropic`.
//! The test is `#[ignore]`d, so a plain `cargo test` counts it as ignored in its summary instead of
//! passing it unrun; `cargo test -- --include-ignored` runs it (`.ci/run` installs the package into
//! `.venv` first), and then a missing package is a failure.

use std::path::PathBuf;

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("ECOROUTE_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// Runs `tests/python/<script>` against a fresh proxy at `base` (a path under its address) and
/// fails with its output unless it reports its checks passed.
async fn run_client(package: &str, script: &str, base: &str) {
    let python = python();
    let has_package = std::process::Command::new(&python)
        .args(["-c", &format!("import {package}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_package,
        "the {package} Python package is missing for {}: install it with `python3 -m venv .venv && .venv/bin/pip install openai anthropic` (as .ci/run does)",
        python.display()
    );
    let h = crate::support::Harness::start().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(h.url(base))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{package} client checks failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
    eprintln!("{stdout}");
}

#[tokio::test]
#[ignore = "needs the openai Python package: python3 -m venv .venv && .venv/bin/pip install openai anthropic, then cargo test -- --include-ignored"]
async fn official_openai_client_works_unchanged() {
    run_client("openai", "openai_smoke.py", "/v1").await;
}

#[tokio::test]
#[ignore = "needs the anthropic Python package: python3 -m venv .venv && .venv/bin/pip install openai anthropic, then cargo test -- --include-ignored"]
async fn official_anthropic_client_works_unchanged() {
    run_client("anthropic", "anthropic_smoke.py", "").await;
}

/// Issue #37: inbound keys and limits as the official SDKs meet them (their own exception classes).
#[tokio::test]
#[ignore = "needs the openai and anthropic Python packages: python3 -m venv .venv && .venv/bin/pip install openai anthropic, then cargo test -- --include-ignored"]
async fn official_clients_meet_keys_and_limits_as_their_own_errors() {
    let python = python();
    let entry = |name: &str, key: &str, extra: &str| {
        format!(
            "[[keys]]\nname = \"{name}\"\nhash = \"{}\"\ntenant = \"team-a\"\n{extra}\n",
            ecoroute::config::keys::hash_key(key)
        )
    };
    let keys =
        entry("app", "sk-eco-app-1", "") + &entry("limited", "sk-eco-lim-2", "limits = { requests_per_minute = 1 }");
    let h = crate::support::Harness::start_with(&keys, |c| {
        c.llm.api_key = Some("sk-upstream".to_string().into());
        c.llm.anthropic.api_key = Some("sk-upstream-ant".to_string().into());
    })
    .await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/keys_smoke.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .args([h.url(""), "sk-eco-app-1".into(), "sk-eco-lim-2".into()])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "keys client checks failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("checks passed"), "{stdout}");
    // No inbound key reached the upstream.
    assert!(h
        .mock
        .seen()
        .iter()
        .all(|s| !format!("{:?}", s.headers).contains("sk-eco-")));
}
