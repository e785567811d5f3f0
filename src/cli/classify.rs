//! `classify`: decisions exactly as `serve` makes them, for one query or a file of them.

use super::error::CliError;
use super::*;

pub(super) fn classify(
    config_path: &Path,
    explain: bool,
    input: Option<&Path>,
    query: Option<&str>,
) -> Result<ExitCode, CliError> {
    let config = Config::load_offline(config_path)?;
    let classifier = crate::pipeline::classifier_for(&config);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let io = |e| CliError::io("writing to stdout", e);
    let decide_line = |text: &str| {
        let features = RequestFeatures::from_query(text);
        let d = classifier.decide(&features);
        // The task type that model tiers read (`[[tiers]]`): what a smaller model may serve.
        let task = crate::classify::tasks::task_type(&features, d.is_confident_lookup());
        serde_json::json!({"class": d.class.as_str(), "confidence": round4(d.confidence), "route": d.route.as_str(), "reason": d.reason(), "task": task.as_str()})
    };
    match (input, query) {
        (Some(path), _) => {
            let file = std::fs::File::open(path).map_err(|e| CliError::io(format!("opening {}", path.display()), e))?;
            for line in std::io::BufReader::new(file).lines() {
                let line = line.map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
                if line.trim().is_empty() {
                    continue;
                }
                let text = query_of_line(&line);
                writeln!(out, "{}", decide_line(&text)).map_err(io)?;
            }
        }
        (None, Some(text)) if explain => {
            let d = classifier.decide(&RequestFeatures::from_query(text));
            writeln!(
                out,
                "class       {}\nconfidence  {:.3}\nroute       {}\nreason      {}",
                d.class.as_str(),
                d.confidence,
                d.route,
                d.reason()
            )
            .map_err(io)?;
            if let Decider::Classifier { .. } = d.decider {
                let score = classifier.scorer.score(&crate::classify::text::question_of(text));
                writeln!(
                    out,
                    "scorer      {}\ntop features (contribution to the logit):",
                    classifier.scorer.name()
                )
                .map_err(io)?;
                for (name, weight) in score.contributions.iter().take(8) {
                    writeln!(out, "  {weight:+.2}  {name}").map_err(io)?;
                }
            }
        }
        (None, Some(text)) => writeln!(out, "{}", decide_line(text)).map_err(io)?,
        (None, None) => {
            eprintln!("give a query, or --input FILE");
            return Ok(ExitCode::from(2));
        }
    }
    out.flush().map_err(io)?;
    Ok(ExitCode::SUCCESS)
}

/// A query from one input line: the `query` field of a JSON object, else the line itself.
pub(crate) fn query_of_line(line: &str) -> String {
    if line.trim_start().starts_with('{') {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(line) {
            if let Some(q) = map.get("query").and_then(|v| v.as_str()) {
                return q.to_string();
            }
        }
    }
    line.to_string()
}

pub(super) fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}
