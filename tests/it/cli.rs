//! The command line as scripts use it: `classify`, `eval`, `calibrate`, `train`, `check`, `search`.

use std::process::Command;

use serde_json::Value;

fn ecoroute(args: &[&str]) -> (bool, String, String) {
    ecoroute_in(std::path::Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

#[test]
fn classify_input_writes_one_json_line_per_query_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("q.jsonl");
    std::fs::write(&jsonl, "{\"query\":\"What is the capital of Peru?\",\"label\":\"lookup\"}\n{\"query\":\"Write a limerick about Lima\"}\n").unwrap();
    let plain = dir.path().join("q.txt");
    std::fs::write(&plain, "What is the capital of Peru?\n\nWrite a limerick about Lima\n").unwrap();
    for input in [&jsonl, &plain] {
        let (ok, stdout, stderr) = ecoroute(&["classify", "--input", input.to_str().unwrap()]);
        assert!(ok, "{stderr}");
        let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert_eq!(lines[0]["class"], "lookup");
        assert_eq!(lines[0]["route"], "search");
        assert_eq!(lines[1]["class"], "complex");
        assert_eq!(lines[1]["route"], "llm");
        for l in &lines {
            let c = l["confidence"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&c));
            assert!(!l["reason"].as_str().unwrap().is_empty());
        }
    }
}

#[test]
fn classify_applies_config_guards_and_rules_like_serve() {
    let reason = |query: &str| {
        let (ok, stdout, stderr) = ecoroute(&["classify", query]);
        assert!(ok, "{stderr}");
        let v: Value = serde_json::from_str(stdout.trim()).unwrap();
        v["reason"].as_str().unwrap().to_string()
    };
    assert_eq!(
        reason("Please write a haiku about the capital of Peru"),
        "rule: writing-task",
        "the shipped config's rule decides"
    );
    assert_eq!(
        reason("Which film came out first, Vertigo or Psycho?"),
        "rule: comparison"
    );
    assert_eq!(reason("Hi! Who are you?"), "guard: personal");
    // Natural Questions asks without the comma and labels it a lookup: the classifier decides.
    let nq = reason("which came first huck finn or tom sawyer");
    assert!(nq.starts_with("classifier:"), "{nq}");
    let (ok, stdout, _) = ecoroute(&["classify", "--explain", "Who discovered oxygen?"]);
    assert!(ok);
    assert!(stdout.contains("top features"), "{stdout}");
}

#[test]
fn eval_json_counts_a_known_set() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("labelled.jsonl");
    std::fs::write(
        &input,
        [
            r#"{"query":"What is the capital of Peru?","label":"lookup","source":"a"}"#,
            r#"{"query":"Who discovered oxygen?","label":"lookup","source":"a"}"#,
            r#"{"query":"Write a limerick about Lima","label":"complex","source":"b"}"#,
            r#"{"query":"Write a Python function to reverse a linked list","label":"complex","source":"b"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let (ok, stdout, stderr) = ecoroute(&["eval", "--json", "--input", input.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["n"], 4);
    assert_eq!(v["confusion"]["true_complex"], 2);
    assert_eq!(v["false_lookup_rate"], 0.0);
    // 0 of 2 complex requests: the interval still reaches far up.
    assert_eq!(v["false_lookup_rate_95"][0], 0.0);
    assert!(v["false_lookup_rate_95"][1].as_f64().unwrap() > 0.5, "{v}");
    assert_eq!(v["by_source"]["b"]["n"], 2);
    let (ok, stdout, _) = ecoroute(&["eval", "--input", input.to_str().unwrap()]);
    assert!(ok && stdout.contains("false-lookup rate"), "{stdout}");
}

#[test]
fn calibrate_prints_the_config_line() {
    let (ok, stdout, stderr) = ecoroute(&[
        "calibrate",
        "--input",
        "training/dev.jsonl",
        "--max-false-lookup",
        "0.05",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("[classifier]\nlookup_threshold = "), "{stdout}");
    assert!(
        stdout.contains("; 95% interval "),
        "the rate comes with its uncertainty: {stdout}"
    );
    let threshold = |stdout: &str| -> f64 {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("lookup_threshold = "))
            .unwrap()
            .parse()
            .unwrap()
    };
    let (ok, strict, stderr) = ecoroute(&[
        "calibrate",
        "--input",
        "training/dev.jsonl",
        "--max-false-lookup",
        "0.05",
        "--upper-bound",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        threshold(&strict) > threshold(&stdout),
        "the 95% upper bound must be met with a stricter threshold:\n{stdout}\n{strict}"
    );
}

#[test]
fn train_is_reproducible_with_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("t.jsonl");
    let rows: Vec<String> = (0..40)
        .map(|i| {
            if i % 2 == 0 {
                format!(r#"{{"query":"what is the capital of country {i}","label":"lookup"}}"#)
            } else {
                format!(r#"{{"query":"write a poem about topic {i}","label":"complex"}}"#)
            }
        })
        .collect();
    std::fs::write(&input, rows.join("\n")).unwrap();
    let out = |name: &str, seed: &str| {
        let path = dir.path().join(name);
        let (ok, _, stderr) = ecoroute(&[
            "train",
            "--input",
            input.to_str().unwrap(),
            "--output",
            path.to_str().unwrap(),
            "--seed",
            seed,
        ]);
        assert!(ok, "{stderr}");
        std::fs::read(path).unwrap()
    };
    assert_eq!(out("a.bin.gz", "1"), out("b.bin.gz", "1"));
    assert_ne!(out("a.bin.gz", "1"), out("c.bin.gz", "2"));
    // A trained file is usable as `classifier.model`.
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("[classifier]\nmodel = \"{}\"\n", dir.path().join("a.bin.gz").display()),
    )
    .unwrap();
    let (ok, stdout, stderr) = ecoroute(&["check", "--config", config.to_str().unwrap()]);
    assert!(ok, "{stdout}{stderr}");
}

#[test]
fn train_cross_validates_per_source() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("t.jsonl");
    // "poems" is separable; "tricky" complex rows read exactly like the lookups, so they are the
    // false lookups, and the report must pin them on their source.
    let mut rows: Vec<String> = (0..60)
        .map(|i| format!(r#"{{"query":"who founded company number {i}","label":"lookup","source":"facts"}}"#))
        .collect();
    rows.extend(
        (0..30).map(|i| format!(r#"{{"query":"write a poem about topic {i}","label":"complex","source":"poems"}}"#)),
    );
    rows.extend((0..6).map(|i| {
        format!(
            r#"{{"query":"who founded company number {}","label":"complex","source":"tricky"}}"#,
            100 + i
        )
    }));
    // Template rows are trained on but kept out of the headline, which must speak of real rows.
    rows.extend((0..20).map(|i| {
        format!(r#"{{"query":"compose a sonnet on theme {i}","label":"complex","source":"synthetic_templates"}}"#)
    }));
    std::fs::write(&input, rows.join("\n")).unwrap();
    let model = dir.path().join("m.bin.gz");
    let scores = dir.path().join("scores.jsonl");
    let train_with_scores = [
        "train",
        "--input",
        input.to_str().unwrap(),
        "--output",
        model.to_str().unwrap(),
        "--scores-output",
        scores.to_str().unwrap(),
    ];
    let (ok, stdout, stderr) = ecoroute(
        &[
            &train_with_scores[..],
            &["--folds", "3", "--max-false-lookup", "0.2", "--at-threshold", "1.0"],
        ]
        .concat(),
    );
    assert!(ok, "{stderr}");
    // Column `from_end` (0 = false lookups, 1 = lookup recall) of a source's row in the table.
    let column = |stdout: &str, source: &str, from_end: usize| {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(source))
            .unwrap_or_else(|| panic!("no {source} line in {stdout}"));
        line.split_whitespace()
            .rev()
            .nth(from_end)
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        stdout.contains("3-fold cross-validation (96 rows; 20 synthetic* rows trained on, not scored)"),
        "{stdout}"
    );
    assert!(column(&stdout, "synthetic_templates", 0).contains('%'), "{stdout}");
    // At a threshold nothing reaches, nothing is a false lookup: 0 of the 36 real complex rows.
    assert!(
        stdout.contains("3-fold cross-validation at threshold 1.000: false lookups 0.0% (0 of 36;"),
        "{stdout}"
    );
    // The per-source table is at the threshold asked about: nothing passes 1.0.
    assert!(stdout.contains("per source at threshold 1.000:"), "{stdout}");
    assert_eq!(column(&stdout, "tricky", 0), "0.0%", "{stdout}");
    assert_eq!(column(&stdout, "facts", 1), "0.0%", "{stdout}");

    // Without it, the table is at the threshold that meets the target, which lets tricky rows through.
    let (ok, stdout, stderr) =
        ecoroute(&[&train_with_scores[..], &["--folds", "3", "--max-false-lookup", "0.2"]].concat());
    assert!(ok, "{stderr}");
    assert_eq!(column(&stdout, "poems", 0), "0.0%", "{stdout}");
    assert_ne!(column(&stdout, "tricky", 0), "0.0%", "{stdout}");
    assert_ne!(column(&stdout, "facts", 1), "0.0%", "{stdout}");

    // One out-of-fold score per input row, in order, with its label and source.
    let scored: Vec<serde_json::Value> = std::fs::read_to_string(&scores)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(scored.len(), rows.len());
    assert_eq!(scored[0]["query"], "who founded company number 0");
    assert_eq!(scored[60]["source"], "poems");
    let p = |row: &serde_json::Value| row["p_lookup"].as_f64().unwrap();
    assert!(scored.iter().all(|r| (0.0..=1.0).contains(&p(r))));
    assert!(
        p(&scored[0]) > p(&scored[60]),
        "a lookup must outscore a poem out of fold"
    );

    // Without folds there are no out-of-fold scores: refused, not silently ignored.
    let (ok, _, stderr) = ecoroute(&train_with_scores);
    assert!(!ok);
    assert!(
        stderr.contains("--scores-output") && stderr.contains("--folds"),
        "{stderr}"
    );
}

#[test]
fn check_fails_with_key_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[search]\nmin_confidence = 2\n").unwrap();
    let (ok, _, stderr) = ecoroute(&["check", "--config", config.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("`search.min_confidence`") && stderr.contains("Fix:"),
        "{stderr}"
    );
}

/// Writes the test config (fixture corpus, an LLM nobody answers at) plus `extra` into `dir/name`.
fn write_config(dir: &std::path::Path, name: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        crate::support::test_config_toml("http://127.0.0.1:9/v1", dir, extra),
    )
    .unwrap();
    path
}

#[test]
fn search_prints_hits_and_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "c.toml", "");
    let (ok, stdout, stderr) = ecoroute(&[
        "search",
        "--config",
        config.to_str().unwrap(),
        "What is the capital of Peru?",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("The capital of Peru is Lima."), "{stdout}");
    assert!(stdout.contains("answer (confidence"), "{stdout}");
}

#[test]
fn explain_prints_the_decision_and_the_readers_candidates_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "c.toml", "");
    let (ok, stdout, stderr) = ecoroute(&[
        "explain",
        "--config",
        config.to_str().unwrap(),
        "What is the capital of Peru?",
    ]);
    assert!(ok, "{stderr}");
    let explained: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(explained["route"], "search", "{explained}");
    let best = &explained["search"]["candidates"][0];
    assert_eq!(best["text"], "The capital of Peru is Lima.", "{explained}");
    assert!(best["p"].as_f64().unwrap() >= explained["search"]["verdict"]["confidence"].as_f64().unwrap() - 1e-9);
    assert!(!best["features"].as_array().unwrap().is_empty());
    // A request for writing is the LLM's, and says why.
    let (_, stdout, _) = ecoroute(&[
        "explain",
        "--config",
        config.to_str().unwrap(),
        "Write a poem about the sea",
    ]);
    let explained: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(explained["route"], "llm", "{explained}");
}

#[test]
fn replay_compare_lists_exactly_the_requests_whose_route_changed() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_config(dir.path(), "a.toml", "");
    let rule = "[[rules]]\nname = \"peru-to-llm\"\nroute = \"llm\"\nlast_user_regex = \"Peru\"\n";
    let b = write_config(dir.path(), "b.toml", rule);
    let input = dir.path().join("requests.jsonl");
    let body =
        |q: &str| serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": q}]}).to_string();
    let lines = [
        body("What is the capital of Peru?"),
        body("What is the capital of Chile?"),
        body("Write a limerick about Lima"),
        serde_json::json!({"prompt": "What is the capital of Peru?", "model": "gpt-4o", "tenant": "t"}).to_string(),
    ];
    std::fs::write(&input, lines.join("\n")).unwrap();
    let replay = [
        "replay",
        "--input",
        input.to_str().unwrap(),
        "--config",
        a.to_str().unwrap(),
        "--compare",
        b.to_str().unwrap(),
    ];
    let (ok, stdout, stderr) = ecoroute(&[&replay[..], &["--format", "json"]].concat());
    assert!(ok, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let changed: Vec<u64> = v["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["line"].as_u64().unwrap())
        .collect();
    assert_eq!(changed, [1, 4], "{stdout}");
    for c in v["changed"].as_array().unwrap() {
        assert_eq!(
            (c["a"]["route"].as_str(), c["b"]["route"].as_str()),
            (Some("search"), Some("llm"))
        );
        assert_eq!(c["b"]["reason"], "rule: peru-to-llm");
    }
    assert_eq!(
        (v["a"]["search"].as_u64(), v["b"]["search"].as_u64()),
        (Some(3), Some(1))
    );
    assert!(
        v["a"]["expected_energy_saved_wh"]["central"].as_f64().unwrap()
            > v["b"]["expected_energy_saved_wh"]["central"].as_f64().unwrap()
    );
    let (ok, text, _) = ecoroute(&replay);
    assert!(ok && text.contains("2 requests change route"), "{text}");
}

#[test]
fn eval_answers_counts_answered_correct_and_escalated() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "c.toml", "");
    let questions = dir.path().join("answers.jsonl");
    std::fs::write(
        &questions,
        [
            r#"{"query": "What is the capital of Peru?", "answers": ["Lima"], "source": "capitals"}"#,
            r#"{"query": "What is the capital of Chile?", "answers": ["Valparaiso"], "source": "capitals"}"#,
            r#"{"query": "Who wrote Hamlet?", "answers": "Shakespeare", "source": "people"}"#,
            r#"{"query": "Write a limerick about Lima", "answers": ["Lima"]}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let (ok, stdout, stderr) = ecoroute(&[
        "eval",
        "--config",
        config.to_str().unwrap(),
        "--answers",
        questions.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let p = &v["pipeline"]["overall"];
    assert_eq!(p["questions"], 4, "{v}");
    assert_eq!(p["routed_to_search"], 3, "the limerick goes to the LLM: {v}");
    assert_eq!(
        p["answered"], 2,
        "Peru and Chile are answered, Hamlet is not in the corpus: {v}"
    );
    assert_eq!(p["correct"], 1, "Santiago is not the gold Valparaiso: {v}");
    assert_eq!(p["escalated"], 1, "{v}");
    assert_eq!(v["search_step_alone"]["overall"]["routed_to_search"], 4);
    assert_eq!(v["pipeline"]["by_source"]["capitals"]["correct_share"], 0.5);
}

/// Runs the binary in `dir` (so relative defaults land there), with the test's unset variable unset.
fn ecoroute_in(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ecoroute"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "error")
        .env_remove("ECOROUTE_TEST_UNSET_ADMIN_TOKEN")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn train_without_output_leaves_the_shipped_model_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    let shipped = dir.path().join("models/classifier.bin.gz");
    std::fs::write(&shipped, b"the shipped model").unwrap();
    let rows: Vec<String> = (0..20)
        .map(|i| {
            let (q, l) = if i % 2 == 0 {
                ("what is the capital of", "lookup")
            } else {
                ("write a poem about", "complex")
            };
            format!(r#"{{"query":"{q} thing {i}","label":"{l}"}}"#)
        })
        .collect();
    std::fs::write(dir.path().join("t.jsonl"), rows.join("\n")).unwrap();
    let (ok, stdout, stderr) = ecoroute_in(dir.path(), &["train", "--input", "t.jsonl"]);
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(
        std::fs::read(&shipped).unwrap(),
        b"the shipped model",
        "not overwritten"
    );
    assert!(dir.path().join("data/classifier.bin.gz").exists(), "{stdout}");
}

#[test]
fn offline_commands_do_not_need_the_admin_token_or_the_upstream_key_but_serve_and_check_do() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\ntoken_env = \"ECOROUTE_TEST_UNSET_ADMIN_TOKEN\"\n[llm]\napi_key_env = \"ECOROUTE_TEST_UNSET_ADMIN_TOKEN\"\n[search]\ncorpus = \"{}\"\nindex_dir = \"{}\"\n",
            crate::support::fixture_corpus().display(),
            dir.path().join("index").display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (ok, stdout, stderr) = ecoroute_in(
        dir.path(),
        &["classify", "--config", config, "What is the capital of Peru?"],
    );
    assert!(ok, "classify: {stdout}{stderr}");
    let (ok, stdout, stderr) = ecoroute_in(
        dir.path(),
        &["search", "--config", config, "What is the capital of Peru?"],
    );
    assert!(ok, "search: {stdout}{stderr}");
    assert!(stdout.contains("Lima"), "{stdout}");
    let (ok, _, stderr) = ecoroute_in(dir.path(), &["check", "--config", config]);
    assert!(!ok, "check tells the truth about serve");
    assert!(
        stderr.contains("admin.token_env") && stderr.contains("llm.api_key_env"),
        "{stderr}"
    );
}

#[test]
fn check_lists_every_problem_of_a_file_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[server]\nlisten_addr = \"x\"\nmax_concurrency = \"many\"\n[classifier]\nlookup_threshold = 1.5\nthreshhold = 2\n",
    )
    .unwrap();
    let (ok, _, stderr) = ecoroute(&["check", "--config", config.to_str().unwrap()]);
    assert!(!ok);
    for key in [
        "server.listen_addr",
        "server.max_concurrency",
        "classifier.threshhold",
        "classifier.lookup_threshold",
    ] {
        assert!(stderr.contains(&format!("`{key}`")), "{key} missing from:\n{stderr}");
    }
    assert!(stderr.contains("line 2"), "problems name their line:\n{stderr}");
}

/// The attack review's M7: `index build --output DIR` deleted DIR whole, its input and a team's
/// files included. It now refuses, says why, and leaves the folder as it was.
#[test]
fn index_build_never_deletes_a_folder_it_did_not_build() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::create_dir_all(victim.join("docs")).unwrap();
    std::fs::write(victim.join("README.md"), "notes").unwrap();
    std::fs::write(victim.join("docs/notes.txt"), "more notes").unwrap();
    std::fs::write(
        victim.join("kb.jsonl"),
        "{\"id\":\"a\",\"title\":\"A\",\"text\":\"A is a letter.\"}\n",
    )
    .unwrap();
    let input = victim.join("kb.jsonl");
    let build_into = |output: &std::path::Path| {
        ecoroute(&[
            "index",
            "build",
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
        ])
    };
    let (ok, _, stderr) = build_into(&victim);
    assert!(!ok);
    assert!(stderr.contains("holds the input"), "{stderr}");
    assert!(victim.join("README.md").exists() && victim.join("docs/notes.txt").exists() && input.exists());
    // Into a new folder it builds; built again into the same folder it replaces its own index.
    let out = dir.path().join("index");
    for _ in 0..2 {
        let (ok, _, stderr) = build_into(&out);
        assert!(ok, "{stderr}");
    }
}

/// The attack review's M6: a small `.gz` holding one huge line took gigabytes. The build stops at
/// `--max-entry-bytes`, names the file and the flag, and leaves no half-built index behind (L12:
/// a failed build left `<output>.building`).
#[test]
fn index_build_stops_a_decompression_bomb_and_cleans_up() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bomb.jsonl.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b"{\"title\":\"A\",\"text\":\"").unwrap();
    gz.write_all(&vec![b'a'; 4 << 20]).unwrap();
    gz.write_all(b"\"}\n").unwrap();
    std::fs::write(&input, gz.finish().unwrap()).unwrap();
    let output = dir.path().join("index");
    let (ok, _, stderr) = ecoroute(&[
        "index",
        "build",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--max-entry-bytes",
        "1MiB",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("bomb.jsonl.gz") && stderr.contains("--max-entry-bytes"),
        "{stderr}"
    );
    assert!(!output.exists() && !dir.path().join("index.building").exists());
}

/// `--log-format json`: one JSON object a line; plain text has no colour escapes when stderr is
/// not a terminal (it had, into files too).
#[test]
fn logs_are_json_on_request_and_never_coloured_into_a_pipe() {
    use std::io::BufRead;
    let mock = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/v1", mock.local_addr().unwrap());
    for format in ["json", "plain"] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("c.toml");
        std::fs::write(&config, crate::support::test_config_toml(&base_url, dir.path(), "")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ecoroute"))
            .args(["--log-format", format, "serve", "--config"])
            .arg(&config)
            .env_remove("RUST_LOG")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut lines = Vec::new();
        for line in stderr.lines() {
            let line = line.unwrap();
            let done = line.contains("ecoroute listening");
            lines.push(line);
            if done {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let logged: Vec<&String> = lines
            .iter()
            .filter(|l| !l.starts_with("ecoroute listening on"))
            .collect();
        assert!(!logged.is_empty(), "{lines:?}");
        for line in &logged {
            assert!(!line.contains('\u{1b}'), "colour escapes in a pipe: {line:?}");
            if format == "json" {
                let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
                assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
            }
        }
        let json_line = lines.iter().any(|l| l.contains("\"message\":\"ecoroute listening\""));
        assert_eq!(json_line, format == "json", "{lines:?}");
    }
}

/// `check` says how many keys there are and warns, as `serve` does, of an upstream key anyone who
/// reaches the port can spend.
#[test]
fn check_lists_the_keys_and_warns_of_an_open_proxy_with_its_own_key() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open.toml");
    std::fs::write(&open, "[llm]\napi_key_env = \"ECOROUTE_TEST_CHECK_KEY\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ecoroute"))
        .args(["check", "--config"])
        .arg(&open)
        .env("ECOROUTE_TEST_CHECK_KEY", "sk-upstream")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("keys              none: any client that reaches the port is served"),
        "{stdout}"
    );
    assert!(
        stdout.contains("warning") && stdout.contains("anyone who reaches this port"),
        "{stdout}"
    );

    let keyed = dir.path().join("keyed.toml");
    std::fs::write(
        &keyed,
        format!(
            "[llm]\napi_key_env = \"ECOROUTE_TEST_CHECK_KEY\"\n[llm.anthropic]\napi_key_env = \"ECOROUTE_TEST_CHECK_KEY\"\n[[keys]]\nname = \"ci\"\nhash = \"{}\"\ntenant = \"team-a\"\nlimits = {{ requests_per_minute = 5 }}\n",
            ecoroute::config::keys::hash_key("k")
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ecoroute"))
        .args(["check", "--config"])
        .arg(&keyed)
        .env("ECOROUTE_TEST_CHECK_KEY", "sk-upstream")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("keys              1 (tenants: team-a); limits on 1"),
        "{stdout}"
    );
    assert!(!stdout.contains("warning"), "{stdout}");
}
