//! `search`: ask the configured backend, list its hits, and show the answer the proxy's search
//! step would give.

use super::error::CliError;
use super::*;

/// Searches with the configured backend (whichever it is) and shows the hits and the answer the
/// proxy would give.
pub(super) fn search(config_path: &Path, limit: usize, candidates: usize, query: &str) -> Result<ExitCode, CliError> {
    let config = Config::load_offline(config_path)?;
    // As the proxy does: the question without its chat frame.
    let question = crate::classify::text::question_of(query);
    let query = crate::classify::text::requested_question(&question);
    let query = query.as_ref();
    let wanted = limit.max(config.search.top_k);
    // `shown` is what is listed; `answered_from` is exactly what the proxy's adequacy check sees.
    let (shown, answered_from, elapsed) = match &config.search.backend {
        // Past top_k, the hits the proxy does not read are listed too.
        SearchBackendConfig::Embedded { index_dir, corpus } => {
            let index = EmbeddedIndex::open_or_build(index_dir, corpus)?;
            let started = std::time::Instant::now();
            let proxy_hits = index
                .search_sync(query, config.search.top_k)
                .map_err(|e| Error::index_from("searching", e))?;
            let elapsed = started.elapsed();
            let shown = index
                .search_sync(query, wanted)
                .map_err(|e| Error::index_from("searching", e))?;
            (shown, proxy_hits, elapsed)
        }
        _ => tokio_runtime()?.block_on(async {
            let backend = crate::search::connect(&config.search).await?;
            let started = std::time::Instant::now();
            let hits = backend
                .search(query, wanted)
                .await
                .map_err(|e| Error::index_from("searching", e))?;
            let proxy_hits = hits[..hits.len().min(config.search.top_k)].to_vec();
            Ok::<_, Error>((hits, proxy_hits, started.elapsed()))
        })?,
    };
    let mut out = std::io::stdout().lock();
    let io = |e| CliError::io("writing to stdout", e);
    for (i, hit) in shown.iter().take(limit).enumerate() {
        let near_miss = !answered_from.iter().any(|h| h.id == hit.id);
        writeln!(
            out,
            "{:>2}. {:>7.3}  {} [{}] {}{}\n              {}",
            i + 1,
            hit.score,
            hit.title,
            hit.source,
            hit.url,
            if near_miss {
                "  (past top_k: the proxy does not read it)"
            } else {
                ""
            },
            hit.text
        )
        .map_err(io)?;
    }
    writeln!(
        out,
        "({} hits for the proxy in {:.2} ms)",
        answered_from.len(),
        elapsed.as_secs_f64() * 1e3
    )
    .map_err(io)?;
    if candidates > 0 {
        writeln!(out, "\nthe reader's {candidates} most likely answers:").map_err(io)?;
        for (p, title, text, why) in crate::search::answer::ranked_candidates(query, &answered_from, candidates) {
            writeln!(out, "  p={p:.3}  [{title}] {text}\n           {}", why.join(", ")).map_err(io)?;
        }
    }
    // The answer exactly as the proxy's search step gives it: through the search stack's timeout
    // and circuit breaker, and the adequacy check.
    let verdict = tokio_runtime()?.block_on(async {
        let pipeline = Pipeline::build(config).await?;
        let language = pipeline.language_of(query);
        let question = match language.stack() {
            Some(l) => l.pack.core_question(query),
            None => query.to_string(),
        };
        let step = pipeline.search_step_in(&question, language).await;
        // In the words the proxy answers in: a pack's answer in its own language.
        Ok::<_, Error>(step.verdict.map(|a| (a.confidence, language.message(&a))))
    })?;
    match verdict {
        Ok((confidence, message)) => writeln!(out, "\nanswer (confidence {confidence:.2}):\n{message}").map_err(io)?,
        Err(why) => writeln!(out, "\nno answer: {why}").map_err(io)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `explain`: the decision for one question as `serve` makes it (the pipeline's own trace, the
/// one `/admin/explain` serves), printed as indented JSON.
pub(super) fn explain(config_path: &Path, tenant: Option<&str>, query: &str) -> Result<ExitCode, CliError> {
    let config = Config::load_offline(config_path)?;
    let explained = tokio_runtime()?.block_on(async {
        let pipeline = Pipeline::build(config).await?;
        Ok::<_, Error>(crate::pipeline::explain::explain(&pipeline, query, tenant).await)
    })?;
    let text =
        serde_json::to_string_pretty(&explained).map_err(|e| CliError::io("writing JSON", std::io::Error::other(e)))?;
    writeln!(std::io::stdout().lock(), "{text}").map_err(|e| CliError::io("writing to stdout", e))?;
    Ok(ExitCode::SUCCESS)
}
