//! `ecoroute train-reader`: fits the reader ([`crate::search::reader`]) by distant supervision.
//! Every question is searched in the configured index as `serve` would search it; each sentence of
//! its hits is a candidate, positive when it holds one of the question's gold answers. The weights
//! are fitted on `--input`, the threshold is chosen on `--dev` (never trained on) as the lowest
//! that keeps the precision target, and the model is written with how it was made.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{jsonl, pct, tokio_runtime, CliError, ConfigArg};
use crate::config::Config;
use crate::eval::{contains_gold, wilson_interval, Z_95};
use crate::pipeline::Pipeline;
use crate::search::reader::{self, Candidate, Example, ReaderModel};

#[derive(Debug, Args)]
pub struct TrainReaderArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Questions with gold `answers` to fit the weights on (JSON Lines; repeat the flag).
    #[arg(long, required = true)]
    input: Vec<PathBuf>,
    /// Questions with gold `answers` to choose the threshold on, never fitted on (repeat the flag).
    #[arg(long, required = true)]
    dev: Vec<PathBuf>,
    /// Share of answers given that must hold a gold answer on the dev questions.
    #[arg(long, default_value_t = 0.97)]
    precision: f64,
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Fits with this many seeds (from --seed on), weights averaged.
    #[arg(long, default_value_t = 5)]
    average: usize,
    /// Boosted trees fitted on top of the logistic regression (0: the regression alone).
    #[arg(long, default_value_t = 500)]
    trees: usize,
    /// Depth of each tree.
    #[arg(long, default_value_t = 6)]
    tree_depth: usize,
    /// Also write each dev question's best answer, its probability and whether it holds a gold answer.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Also write every candidate of the training and dev questions (its features and whether it
    /// holds a gold answer), for trying other models on the same features.
    #[arg(long)]
    dump_candidates: Option<PathBuf>,
    /// Inputs whose file name contains this are repeated `--chat-weight` times: questions as
    /// chatbot users type them, which trivia sets outnumber.
    #[arg(long, default_value = "chat")]
    chat_marker: String,
    #[arg(long, default_value_t = 3)]
    chat_weight: usize,
    /// Rows of these sources have as gold the wording of one Wikipedia entry's lead (the synthetic
    /// "what is X" rows): a dictionary's gloss of X can be right without that wording, so only
    /// their Wikipedia candidates are trained on (repeat the flag).
    #[arg(long, default_value = "definitions_synthetic")]
    lead_gold_source: Vec<String>,
    /// Rows of these sources are left out (repeat the flag).
    #[arg(long)]
    skip_source: Vec<String>,
    /// Where the model goes; `models/reader.json` is the one shipped in the binary.
    #[arg(long, default_value = "data/reader.json")]
    output: PathBuf,
}

/// One question searched: its candidates and gold answers (no candidates when a hard refusal or
/// an empty result stopped it before the reader).
struct Searched {
    query: String,
    weight: usize,
    candidates: Vec<Candidate>,
    answers: Vec<String>,
    source: String,
}

/// A labelled row; rows without gold answers (complex requests, time-sensitive lookups) are skipped.
#[derive(serde::Deserialize)]
struct Row {
    query: String,
    #[serde(default)]
    answers: serde_json::Value,
    #[serde(default)]
    source: Option<String>,
}

/// Gold answers as a list, one string, or (some TriviaQA rows) one string holding a Python list.
fn gold_of(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        serde_json::Value::String(s) if s.starts_with('[') && s.ends_with(']') => s[1..s.len() - 1]
            .split(", ")
            .map(|a| a.trim_matches(['\'', '"']).to_string())
            .filter(|a| !a.is_empty())
            .collect(),
        serde_json::Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

async fn search_all(pipeline: &Pipeline, files: &[PathBuf], args: &TrainReaderArgs) -> Result<Vec<Searched>, CliError> {
    let mut out = Vec::new();
    for file in files {
        let chat = file.display().to_string().contains(&args.chat_marker);
        let weight = if chat { args.chat_weight.max(1) } else { 1 };
        for (_, row) in jsonl::read_jsonl::<Row>(file)? {
            if row.source.as_ref().is_some_and(|s| args.skip_source.contains(s)) {
                continue;
            }
            let answers = gold_of(&row.answers);
            if answers.is_empty() {
                continue;
            }
            // As `serve` reads it (`RequestFeatures::question`, then the search question).
            let asked = crate::classify::text::question_of(&row.query);
            let question = crate::classify::text::requested_question(&asked);
            let question = question.as_ref();
            // The calculator answers these before any search: the reader never sees them.
            if crate::calc::calculate(question).is_some() {
                continue;
            }
            let hits = match pipeline.run_search(question, crate::pipeline::Language::English).await {
                Ok(outcome) => outcome.hits,
                Err(e) => {
                    tracing::warn!("search failed: {e}");
                    Vec::new()
                }
            };
            let candidates = crate::search::answer::reader_candidates(question, &hits).unwrap_or_default();
            out.push(Searched {
                query: row.query.clone(),
                weight,
                candidates,
                answers,
                source: row.source.unwrap_or_else(|| file.display().to_string()),
            });
        }
    }
    Ok(out)
}

pub(super) fn train_reader_command(args: &TrainReaderArgs) -> Result<ExitCode, CliError> {
    let config = Config::load_offline(&args.config.config)?;
    let (train, dev) = tokio_runtime()?.block_on(async {
        let pipeline = Pipeline::build(config).await?;
        let train = search_all(&pipeline, &args.input, args).await?;
        let dev = search_all(&pipeline, &args.dev, args).await?;
        Ok::<_, CliError>((train, dev))
    })?;
    if let Some(path) = &args.dump_candidates {
        write_candidates(path, &[("train", &train), ("dev", &dev)])?;
    }
    let examples: Vec<Example> = train
        .iter()
        .flat_map(|q| {
            let lead_gold = args.lead_gold_source.contains(&q.source);
            q.candidates
                .iter()
                .filter(move |c| !lead_gold || c.source == "wikipedia")
                .flat_map(|c| {
                    let label = contains_gold(&c.text, &q.answers);
                    std::iter::repeat_with(move || Example {
                        features: c.features.clone(),
                        label,
                    })
                    .take(q.weight)
                })
        })
        .collect();
    let positives = examples.iter().filter(|e| e.label).count();
    outln!(
        "fitting on {} candidates ({positives} holding a gold answer) of {} questions",
        examples.len(),
        train.len()
    );
    let params = crate::classify::trees::Params {
        trees: args.trees,
        depth: args.tree_depth,
        seed: args.seed,
        ..Default::default()
    };
    let mut model = reader::fit_averaged(&examples, args.epochs, args.seed, args.average);
    if args.trees > 0 {
        model.boost(&examples, &params);
    }
    let scored = |model: &ReaderModel, q: &Searched| {
        reader::best(model, &q.candidates).map(|(c, p)| (p, contains_gold(&c.text, &q.answers)))
    };
    let dev_scores: Vec<(f64, bool)> = dev.iter().filter_map(|q| scored(&model, q)).collect();
    outln!("dev questions answered and right by threshold (of {}):", dev.len());
    for t in [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98] {
        let answered: Vec<&(f64, bool)> = dev_scores.iter().filter(|(p, _)| *p >= t).collect();
        let right = answered.iter().filter(|(_, ok)| *ok).count();
        outln!(
            "  {t:.2}  {:>5} answered  {:>5} right  {}",
            answered.len(),
            right,
            pct((!answered.is_empty()).then(|| right as f64 / answered.len() as f64))
        );
    }
    if let Some(path) = &args.dump {
        let mut lines = String::new();
        for q in &dev {
            let best = reader::best(&model, &q.candidates);
            let row = serde_json::json!({
                "query": q.query, "source": q.source, "gold": q.answers,
                "answer": best.map(|(c, _)| c.text.clone()), "p": best.map(|(_, p)| p),
                "right": best.map(|(c, _)| contains_gold(&c.text, &q.answers)),
                "features": best.map(|(c, _)| reader::contributions(&model, c, 8)),
            });
            lines.push_str(&row.to_string());
            lines.push('\n');
        }
        std::fs::write(path, lines).map_err(|e| CliError::io("writing the dump", e))?;
    }
    let Some(threshold) = reader::choose_threshold(&dev_scores, args.precision, 20) else {
        return Err(CliError::Usage(format!(
            "no threshold keeps {:.0}% precision on the dev questions with 20 answers or more",
            args.precision * 100.0
        )));
    };
    model.threshold = threshold;
    // Figures at the threshold, per dev source, for the provenance line and the operator.
    let mut by_source: std::collections::BTreeMap<&str, (u64, u64, u64)> = Default::default();
    for q in &dev {
        let entry = by_source.entry(q.source.as_str()).or_default();
        entry.0 += 1;
        if let Some((p, right)) = scored(&model, q) {
            if p >= threshold {
                entry.1 += 1;
                entry.2 += u64::from(right);
            }
        }
    }
    outln!(
        "threshold {threshold:.3} for {:.0}% precision on the dev questions",
        args.precision * 100.0
    );
    outln!(
        "  {:<28} {:>6} {:>9} {:>9}  95% interval of right",
        "dev source",
        "n",
        "answered",
        "right"
    );
    let mut summary = Vec::new();
    for (source, (n, answered, right)) in &by_source {
        let interval = wilson_interval(*right, *answered, Z_95)
            .map(|(lo, hi)| format!("{:.1}–{:.1}%", lo * 100.0, hi * 100.0))
            .unwrap_or_default();
        outln!(
            "  {source:<28} {n:>6} {:>9} {:>9}  {interval}",
            pct(Some(*answered as f64 / *n as f64)),
            pct((*answered > 0).then(|| *right as f64 / *answered as f64)),
        );
        summary.push(format!("{source} {answered}/{n} answered, {right} right"));
    }
    model.provenance = format!(
        "fitted on {} candidates of {} questions ({}), {} boosted trees on the regression; threshold {threshold:.3} chosen for {:.0}% precision on {} ({}); seed {}, {} epochs, {} fits averaged",
        examples.len(),
        train.len(),
        args.input.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        args.trees,
        args.precision * 100.0,
        args.dev.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        summary.join("; "),
        args.seed,
        args.epochs,
        args.average,
    );
    super::write_model_json(&model, &args.output, "writing the reader model")?;
    outln!("wrote {}", args.output.display());
    Ok(ExitCode::SUCCESS)
}

/// One line per candidate: split, question number, source, weight, label and features.
fn write_candidates(path: &std::path::Path, splits: &[(&str, &[Searched])]) -> Result<(), CliError> {
    let file = std::fs::File::create(path).map_err(|e| CliError::io("writing the candidates", e))?;
    let mut out = std::io::BufWriter::new(file);
    for (split, questions) in splits {
        for (i, q) in questions.iter().enumerate() {
            for c in &q.candidates {
                let row = serde_json::json!({
                    "split": split, "q": i, "query": q.query, "text": c.text, "source": q.source, "weight": q.weight,
                    "label": contains_gold(&c.text, &q.answers), "hit": c.hit,
                    "features": c.features.iter().map(|(n, x)| (n.clone(), *x)).collect::<std::collections::BTreeMap<_, _>>(),
                });
                writeln!(out, "{row}").map_err(|e| CliError::io("writing the candidates", e))?;
            }
        }
    }
    out.flush().map_err(|e| CliError::io("writing the candidates", e))
}
