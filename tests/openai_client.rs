//! The proxy driven by the official `openai` Python package, streaming and not, on both routes.
//! `.ci/run` installs the package into `.venv`; elsewhere the test says how to get it. Under CI
//! (`CI` set) a missing package is a failure, not a skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

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
async fn official_openai_client_works_unchanged() {
    let python = python();
    let has_openai = std::process::Command::new(&python)
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_openai {
        let hint = "install it with `python3 -m venv .venv && .venv/bin/pip install openai` (as .ci/run does)";
        if std::env::var_os("CI").is_some() {
            panic!("the openai Python package is missing for {}: {hint}", python.display());
        }
        eprintln!(
            "SKIPPED official_openai_client_works_unchanged: no openai package for {}; {hint}",
            python.display()
        );
        return;
    }
    let h = common::Harness::start().await;
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
    println!("{stdout}");
}
