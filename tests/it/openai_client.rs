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
