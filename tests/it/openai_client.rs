//! The proxy driven by the official `openai` Python package, streaming and not, on both routes.
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

#[tokio::test]
#[ignore = "needs the openai Python package: python3 -m venv .venv && .venv/bin/pip install openai, then cargo test -- --include-ignored"]
async fn official_openai_client_works_unchanged() {
    let python = python();
    let has_openai = std::process::Command::new(&python)
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_openai,
        "the openai Python package is missing for {}: install it with `python3 -m venv .venv && .venv/bin/pip install openai` (as .ci/run does)",
        python.display()
    );
    let h = crate::support::Harness::start().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/openai_smoke.py");
    let out = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(h.url("/v1"))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openai client checks failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("checks passed"), "{stdout}");
    eprintln!("{stdout}");
}
