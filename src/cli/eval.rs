//! `eval`: routing quality over labelled queries, and answer quality over questions with gold answers.

use super::error::CliError;
use super::*;

pub(super) fn decide_labelled(classifier: &Classifier, rows: &[Labelled]) -> Vec<crate::classify::Decision> {
    rows.iter()
        .map(|r| classifier.decide(&RequestFeatures::from_query(&r.query)))
        .collect()
}

pub(super) fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{:.1}%", v * 100.0))
}

pub(super) fn eval_command(config_path: &Path, input: &Path, json: bool) -> Result<ExitCode, CliError> {
    let config = Config::load_offline(config_path)?;
    let classifier = crate::pipeline::classifier_for(&config);
    let rows = read_labelled(input)?;
    let mut report = EvalReport::default();
    // The same counts per language the question was decided in.
    let mut by_language = EvalReport::default();
    for (row, d) in rows.iter().zip(decide_labelled(&classifier, &rows)) {
        let search = d.route == crate::classify::Route::Search;
        report.add(row.source.as_deref(), row.is_lookup(), search);
        by_language.add(Some(d.language()), row.is_lookup(), search);
    }
    let mut out = std::io::stdout().lock();
    let io = |e| CliError::io("writing to stdout", e);
    if json {
        let mut v = report.to_json();
        v["by_language"] = by_language.to_json()["by_source"].take();
        v["scorer"] = classifier.scorer.name().into();
        v["lookup_threshold"] = classifier.lookup_threshold.into();
        writeln!(out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default()).map_err(io)?;
        return Ok(ExitCode::SUCCESS);
    }
    let c = &report.overall;
    writeln!(
        out,
        "{} queries, scorer {}, lookup_threshold {:.3}\n",
        c.total(),
        classifier.scorer.name(),
        classifier.lookup_threshold
    )
    .map_err(io)?;
    writeln!(out, "class     precision  recall").map_err(io)?;
    writeln!(
        out,
        "lookup    {:>9}  {:>6}",
        pct(c.lookup_precision()),
        pct(c.lookup_recall())
    )
    .map_err(io)?;
    writeln!(
        out,
        "complex   {:>9}  {:>6}\n",
        pct(c.complex_precision()),
        pct(c.complex_recall())
    )
    .map_err(io)?;
    writeln!(out, "confusion          predicted lookup  predicted complex").map_err(io)?;
    writeln!(out, "gold lookup        {:>16}  {:>17}", c.true_lookup, c.missed_lookup).map_err(io)?;
    writeln!(
        out,
        "gold complex       {:>16}  {:>17}\n",
        c.false_lookup, c.true_complex
    )
    .map_err(io)?;
    writeln!(out, "kept off the LLM (routed to search): {}", pct(c.kept_off_llm())).map_err(io)?;
    writeln!(
        out,
        "false-lookup rate (complex sent to search): {}\n",
        describe_false_lookups(c)
    )
    .map_err(io)?;
    if !report.by_source.is_empty() {
        writeln!(out, "{}\n", source_table(&report, "")).map_err(io)?;
    }
    writeln!(out, "{}", super::train::group_table(&by_language, "", "language")).map_err(io)?;
    Ok(ExitCode::SUCCESS)
}

/// A share's 95% Wilson interval, as "lo–hi%".
fn interval(k: u64, n: u64) -> String {
    crate::eval::wilson_interval(k, n, crate::eval::Z_95)
        .map(|(lo, hi)| format!("{:.1}–{:.1}%", lo * 100.0, hi * 100.0))
        .unwrap_or_else(|| "-".into())
}

pub(super) fn eval_answers_command(
    config_path: &Path,
    input: &Path,
    json: bool,
    verbose: bool,
    write: Option<&Path>,
) -> Result<ExitCode, CliError> {
    use crate::eval::AnswerReport;
    let config = Config::load_offline(config_path)?;
    let rows = super::jsonl::read_with_answers(input)?;
    let (pipeline, alone, lines, by_language, written) = tokio_runtime()?.block_on(async {
        let routing = Pipeline::build(config).await?;
        let (mut pipeline, mut alone) = (AnswerReport::default(), AnswerReport::default());
        let mut by_language = AnswerReport::default();
        let mut lines = Vec::new();
        let mut written = Vec::new();
        let limits = AnswerLimits::default();
        for row in &rows {
            let features = RequestFeatures::from_query(&row.query);
            let plan = routing
                .plan(PlanRequest {
                    api: crate::api::Api::ChatCompletions,
                    features: &features,
                    tenant: None,
                    requested: None,
                    limits: &limits,
                    model: "",
                    // The routing alone: a repeated question is judged again, not found in a cache.
                    cache: None,
                    review_draw: None,
                })
                .await;
            let routed = plan
                .routed
                .ok_or_else(|| Error::internal("a plan without a cache look-up was not routed"))?;
            // Sent to search by the decision, or answered before it by the calculator (which a
            // rule such as `arithmetic` may have routed to the LLM).
            let routed_to_search = routed
                .decision
                .as_ref()
                .is_some_and(|d| d.route == crate::classify::Route::Search)
                || matches!(routed.outcome, Outcome::Answered { .. });
            // The search step's verdict: the one the pipeline ran, or, for questions it kept on
            // the LLM, the same step run alone.
            let verdict: Result<String, String> = match &routed.outcome {
                Outcome::Answered { answer, .. } => Ok(answer.sentence.clone()),
                Outcome::Escalated { why, .. } => Err(why.clone()),
                Outcome::Off | Outcome::Llm => {
                    let language = routing.language_of(&row.query);
                    let question = language.question(&features);
                    routing
                        .search_step_in(&question, language)
                        .await
                        .verdict
                        .map(|a| a.sentence)
                }
            };
            let answer = verdict.as_ref().ok().map(String::as_str);
            if write.is_some() {
                written.push(
                    serde_json::json!({
                        "query": row.query, "source": row.source, "gold": row.answers,
                        "routed_to_search": routed_to_search,
                        "served": routed.served().as_str(),
                        "answer": answer, "refusal": verdict.as_ref().err(),
                        "holds_gold": answer.map(|a| crate::eval::contains_gold(a, &row.answers)),
                        "reason": routed.reason(),
                    })
                    .to_string(),
                );
            }
            pipeline.add(row.source.as_deref(), routed_to_search, answer, &row.answers);
            let language = routed.decision.as_ref().map_or("en", |d| d.language());
            by_language.add(Some(language), routed_to_search, answer, &row.answers);
            alone.add(row.source.as_deref(), true, answer, &row.answers);
            if verbose {
                let verdict = match (&verdict, answer) {
                    (Ok(_), Some(text)) if crate::eval::contains_gold(text, &row.answers) => format!("correct  {text}"),
                    (Ok(_), Some(text)) => format!("WRONG    {text}  (gold: {})", row.answers.join(" | ")),
                    (Err(why), _) => format!("refused  {why}"),
                    _ => String::new(),
                };
                lines.push(format!(
                    "{:<7} {:<60} {verdict}",
                    if routed_to_search { "search" } else { "llm" },
                    row.query
                ));
            }
        }
        Ok::<_, Error>((pipeline, alone, lines, by_language, written))
    })?;
    if let Some(path) = write {
        std::fs::write(path, written.join("\n") + "\n")
            .map_err(|e| CliError::io(format!("writing {}", path.display()), e))?;
    }
    if json {
        let v = serde_json::json!({"pipeline": pipeline.to_json(), "search_step_alone": alone.to_json(),
                                   "by_language": by_language.to_json()["by_source"]});
        outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    for line in &lines {
        outln!("{line}");
    }
    for (title, report) in [
        ("pipeline (classifier, then search and its adequacy check)", &pipeline),
        ("search step alone (every question searched)", &alone),
        ("pipeline, per language the question was decided in", &by_language),
    ] {
        let o = &report.overall;
        outln!("\n{title}: {} questions", o.questions);
        outln!(
            "  answered from search       {:>6}  ({})",
            o.answered,
            pct(o.answered_share())
        );
        outln!(
            "  answers with a gold answer {:>6}  ({} of answers; 95% interval {})",
            o.correct,
            pct(o.correct_share()),
            interval(o.correct, o.answered)
        );
        outln!(
            "  escalated to the LLM       {:>6}  ({})",
            o.escalated,
            pct(o.escalated_share())
        );
        if report.by_source.len() > 1 {
            outln!(
                "  {:<32} {:>6} {:>9} {:>13} {:>9} {:>13} {:>10}",
                "source",
                "n",
                "answered",
                "(95%)",
                "correct",
                "(95%)",
                "escalated"
            );
            for (source, c) in &report.by_source {
                outln!(
                    "  {:<32} {:>6} {:>9} {:>13} {:>9} {:>13} {:>10}",
                    source,
                    c.questions,
                    pct(c.answered_share()),
                    interval(c.answered, c.questions),
                    pct(c.correct_share()),
                    interval(c.correct, c.answered),
                    pct(c.escalated_share())
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
