//! `ecoroute train-router` and `ecoroute calibrate-tiers`: the difficulty router
//! ([`crate::classify::difficulty`]) fitted on, and measured against, the per-prompt strong/cheap
//! outcomes in `../shared/data/routing/` (`unified_strong_weak.jsonl`, one schema for every set).
//!
//! The split is fixed here, by subject and data set, never by row, so no figure measures
//! memorised prompts:
//! - fitted on: RouteLLM MMLU, every other subject in sorted order (the same half
//!   `baseline_tfidf.py` trains on), less the dev subjects below; Apache-2.0 rows only;
//! - dev (choosing the settings and the recommended threshold, never fitted on): every fourth of
//!   those subjects;
//! - held out (scored, never used to choose anything): the other 28 MMLU subjects, GSM8K,
//!   MT-Bench; and, as internal yardsticks only, RouterBench's test rows (licence unclear) and
//!   AlpacaEval (CC BY-NC 4.0), which nothing shipped is trained on.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde::Deserialize;

use super::{jsonl, CliError};
use crate::classify::difficulty::{self, DifficultyModel, FitOptions, Labelled, Promise};
use crate::classify::route_metrics::{self, Figures, Outcome};
use crate::classify::train::Rng;

const DEFAULT_DATA: &str = "../shared/data/routing/unified_strong_weak.jsonl";

/// One prompt of the routing sets, as `unified_strong_weak.jsonl` has it.
#[derive(Debug, Deserialize)]
struct RoutingRow {
    source: String,
    group: String,
    prompt: String,
    strong_score: f64,
    weak_score: f64,
    licence: String,
}

/// Where a row goes in the split.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Split {
    Train,
    Dev,
    /// A held-out set, by name; `internal` when its licence keeps it to internal evaluation.
    Test {
        name: String,
        internal: bool,
    },
    /// RouterBench's train rows: neither fitted on (licence) nor a held-out set.
    Unused,
}

/// The split, from the MMLU subjects present.
struct Splitter {
    train: Vec<String>,
    dev: Vec<String>,
}

impl Splitter {
    fn new(rows: &[RoutingRow]) -> Splitter {
        let mut subjects: Vec<&str> = rows
            .iter()
            .filter(|r| r.source == "routellm_mmlu")
            .map(|r| r.group.as_str())
            .collect();
        subjects.sort_unstable();
        subjects.dedup();
        let fitted: Vec<&str> = subjects.iter().step_by(2).copied().collect();
        let (mut train, mut dev) = (Vec::new(), Vec::new());
        for (i, subject) in fitted.into_iter().enumerate() {
            if i % 4 == 1 {
                dev.push(subject.to_string());
            } else {
                train.push(subject.to_string());
            }
        }
        Splitter { train, dev }
    }

    fn split(&self, row: &RoutingRow) -> Split {
        let test = |name: &str, internal: bool| Split::Test {
            name: name.to_string(),
            internal,
        };
        match row.source.as_str() {
            "routellm_mmlu" if self.train.contains(&row.group) => Split::Train,
            "routellm_mmlu" if self.dev.contains(&row.group) => Split::Dev,
            "routellm_mmlu" => test("MMLU, 28 held-out subjects", false),
            "routellm_gsm8k" => test("GSM8K", false),
            "routellm_mt_bench" => test("MT-Bench", false),
            s if s.starts_with("routerbench_") && row.group == "test" => {
                test(&format!("RouterBench {} test", &s["routerbench_".len()..]), true)
            }
            s if s.starts_with("alpaca") => test("AlpacaEval 2 (NC, chat)", true),
            _ => Split::Unused,
        }
    }
}

fn read_rows(data: &Path, extra: Option<&Path>) -> Result<Vec<RoutingRow>, CliError> {
    let mut rows: Vec<RoutingRow> = jsonl::read_jsonl(data)?.into_iter().map(|(_, r)| r).collect();
    if let Some(extra) = extra {
        rows.extend(jsonl::read_jsonl::<RoutingRow>(extra)?.into_iter().map(|(_, r)| r));
    }
    Ok(rows)
}

/// The router's, the baselines' and the oracle's figures on one set.
struct SetFigures {
    router: Figures,
    random: Figures,
    length: Figures,
    oracle: Figures,
}

fn outcomes(rows: &[&RoutingRow], mut score: impl FnMut(&RoutingRow) -> f64) -> Vec<Outcome> {
    rows.iter()
        .map(|r| Outcome {
            strong: r.strong_score,
            weak: r.weak_score,
            score: score(r),
        })
        .collect()
}

/// Random routers vary by a few points of APGR from seed to seed on sets of a few hundred: the
/// mean of this many seeds is the baseline.
const RANDOM_SEEDS: u64 = 20;

fn set_figures(rows: &[&RoutingRow], model: &DifficultyModel, quality: f64) -> SetFigures {
    let mut random: Option<Figures> = None;
    for seed in 0..RANDOM_SEEDS {
        let mut rng = Rng::new(seed);
        let f = route_metrics::figures(
            &outcomes(rows, |_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64),
            quality,
        );
        random = Some(match random {
            None => f,
            Some(sum) => Figures {
                apgr: sum.apgr + f.apgr,
                cpt50: sum.cpt50 + f.cpt50,
                cpt80: sum.cpt80 + f.cpt80,
                cheap_at_quality: sum.cheap_at_quality + f.cheap_at_quality,
                ..sum
            },
        });
    }
    let k = RANDOM_SEEDS as f64;
    let random = random.map(|s| Figures {
        apgr: s.apgr / k,
        cpt50: s.cpt50 / k,
        cpt80: s.cpt80 / k,
        cheap_at_quality: s.cheap_at_quality / k,
        ..s
    });
    let router = route_metrics::figures(&outcomes(rows, |r| model.difficulty(&r.prompt)), quality);
    SetFigures {
        router,
        random: random.unwrap_or(router),
        length: route_metrics::figures(&outcomes(rows, |r| r.prompt.chars().count() as f64), quality),
        oracle: route_metrics::figures(&outcomes(rows, |r| r.strong_score - r.weak_score), quality),
    }
}

/// The held-out sets, in a fixed order: the Apache-2.0 ones first.
fn held_out(rows: &[RoutingRow], splitter: &Splitter) -> BTreeMap<(bool, String), Vec<usize>> {
    let mut sets: BTreeMap<(bool, String), Vec<usize>> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        if let Split::Test { name, internal } = splitter.split(row) {
            sets.entry((internal, name)).or_default().push(i);
        }
    }
    sets
}

/// Thresholds at which the shipped model's promises are measured.
fn promise_grid() -> Vec<f64> {
    (1..=200).map(|i| f64::from(i) / 200.0).collect()
}

#[derive(Debug, Args)]
pub struct TrainRouterArgs {
    /// The routing sets (`unified_strong_weak.jsonl`); only its Apache-2.0 rows are fitted on.
    #[arg(long, default_value = DEFAULT_DATA)]
    data: PathBuf,
    /// Where the model goes; `models/difficulty.json` is the one shipped in the binary.
    #[arg(long, default_value = "data/difficulty.json")]
    output: PathBuf,
    #[arg(long, default_value_t = FitOptions::default().l2)]
    l2: f64,
    #[arg(long, default_value_t = FitOptions::default().steps)]
    steps: usize,
    #[arg(long, default_value_t = FitOptions::default().learning_rate)]
    learning_rate: f64,
    #[arg(long, default_value_t = FitOptions::default().min_count)]
    min_count: usize,
    /// Print the dev subjects' figures for these settings and write nothing: how the settings
    /// were chosen, without looking at a held-out set.
    #[arg(long)]
    dev_only: bool,
}

pub(super) fn train_router_command(args: &TrainRouterArgs) -> Result<ExitCode, CliError> {
    let rows = read_rows(&args.data, None)?;
    let splitter = Splitter::new(&rows);
    let mut train: Vec<Labelled<'_>> = Vec::new();
    let mut dev: Vec<&RoutingRow> = Vec::new();
    for row in &rows {
        match splitter.split(row) {
            Split::Train => {
                if !row.licence.starts_with("Apache-2.0") {
                    return Err(CliError::Usage(format!(
                        "a training row of {} is not Apache-2.0 ({}): nothing shipped may be fitted on it",
                        row.source, row.licence
                    )));
                }
                train.push(Labelled {
                    prompt: &row.prompt,
                    harder: row.strong_score > row.weak_score,
                    weight: 1.0,
                });
            }
            Split::Dev => dev.push(row),
            Split::Test { .. } | Split::Unused => {}
        }
    }
    let options = FitOptions {
        l2: args.l2,
        steps: args.steps,
        learning_rate: args.learning_rate,
        min_count: args.min_count,
    };
    let harder = train.iter().filter(|r| r.harder).count();
    outln!(
        "fitting on {} prompts ({harder} where the cheaper model did worse) of {} MMLU subjects; dev: {} prompts of {} subjects",
        train.len(),
        splitter.train.len(),
        dev.len(),
        splitter.dev.len()
    );
    let provenance = format!(
        "logistic regression fitted by `ecoroute train-router --l2 {} --steps {} --learning-rate {} --min-count {}` on {} prompts of RouteLLM's MMLU evaluation data (Apache-2.0; MMLU questions MIT; gpt-4-1106-preview against Mixtral-8x7B-Instruct-v0.1), subjects {}; settings chosen on the dev subjects {}; GSM8K, MT-Bench and the other MMLU subjects held out; no RouterBench or AlpacaEval row fitted on",
        args.l2,
        args.steps,
        args.learning_rate,
        args.min_count,
        train.len(),
        splitter.train.join(", "),
        splitter.dev.join(", "),
    );
    let mut model = difficulty::fit(&train, &options, provenance);
    let dev_figures = set_figures(&dev, &model, 0.95);
    outln!("dev subjects ({} prompts):", dev.len());
    print_header()?;
    print_set("dev", &dev_figures)?;
    if args.dev_only {
        return Ok(ExitCode::SUCCESS);
    }
    // What each threshold kept on the held-out Apache-2.0 sets: measured, not chosen on.
    let sets = held_out(&rows, &splitter);
    let apache: Vec<Vec<Outcome>> = sets
        .iter()
        .filter(|((internal, _), _)| !internal)
        .map(|(_, idx)| {
            let set: Vec<&RoutingRow> = idx.iter().map(|&i| &rows[i]).collect();
            outcomes(&set, |r| model.difficulty(&r.prompt))
        })
        .collect();
    model.promises = promise_grid()
        .into_iter()
        .map(|threshold| {
            let worst = apache
                .iter()
                .map(|set| route_metrics::at_threshold(set, threshold))
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .unwrap_or((1.0, 0.0));
            Promise {
                threshold,
                quality: (worst.0 * 10_000.0).round() / 10_000.0,
                cheap_share: (worst.1 * 10_000.0).round() / 10_000.0,
            }
        })
        .collect();
    write_model(&model, &args.output)?;
    outln!("wrote {}", args.output.display());
    Ok(ExitCode::SUCCESS)
}

fn write_model(model: &DifficultyModel, output: &Path) -> Result<(), CliError> {
    super::write_model_json(model, output, "writing the router model")
}

#[derive(Debug, Args)]
pub struct CalibrateTiersArgs {
    /// The routing sets (`unified_strong_weak.jsonl`).
    #[arg(long, default_value = DEFAULT_DATA)]
    data: PathBuf,
    /// Another file in the same schema, scored as an internal set (AlpacaEval's
    /// `unified_strong_weak_NC.jsonl`: non-commercial, evaluation only).
    #[arg(long)]
    extra: Option<PathBuf>,
    /// The share of the strong model's quality a tier must keep; the threshold printed is the
    /// highest that keeps it on the dev subjects.
    #[arg(long, default_value_t = 0.95)]
    quality: f64,
    /// A model file to measure instead of the one in the binary.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Also write each held-out row's set, scores and router score as JSON Lines, so
    /// `routing_metrics.py` can recompute the figures.
    #[arg(long)]
    scores: Option<PathBuf>,
    /// Bootstrap resamples for the interval of the cheap share on MT-Bench.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Requests (JSON Lines with `query`, and `label` if labelled; repeat the flag): how many of
    /// the complex ones (all, when unlabelled) the router would send to the cheaper model at the
    /// threshold printed.
    #[arg(long)]
    traffic: Vec<PathBuf>,
}

/// A request of `--traffic`.
#[derive(Debug, Deserialize)]
struct TrafficRow {
    query: String,
    #[serde(default)]
    label: Option<String>,
}

pub(super) fn calibrate_tiers_command(args: &CalibrateTiersArgs) -> Result<ExitCode, CliError> {
    if !(0.0..=1.0).contains(&args.quality) {
        return Err(CliError::Usage(
            "--quality is a share of the strong model's quality, 0 to 1 (e.g. 0.95)".into(),
        ));
    }
    let owned;
    let model = match &args.model {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
            owned = serde_json::from_str::<DifficultyModel>(&text)
                .map_err(|e| CliError::Usage(format!("{}: not a router model: {e}", path.display())))?;
            &owned
        }
        None => {
            DifficultyModel::builtin().ok_or_else(|| CliError::Usage("the built-in router model is broken".into()))?
        }
    };
    let rows = read_rows(&args.data, args.extra.as_deref())?;
    let splitter = Splitter::new(&rows);
    let dev: Vec<&RoutingRow> = rows.iter().filter(|r| splitter.split(r) == Split::Dev).collect();
    let threshold =
        route_metrics::threshold_for_quality(&outcomes(&dev, |r| model.difficulty(&r.prompt)), args.quality);
    outln!(
        "APGR / CPT(50%) / CPT(80%) / cheap share at {:.0}% of strong quality; random = mean of {RANDOM_SEEDS} seeds",
        args.quality * 100.0
    );
    print_header()?;
    let dev_figures = set_figures(&dev, model, args.quality);
    print_set(
        &format!("dev: {} MMLU subjects (chose settings)", splitter.dev.len()),
        &dev_figures,
    )?;
    let sets = held_out(&rows, &splitter);
    let mut scores_out = String::new();
    let mut at_threshold = Vec::new();
    for ((internal, name), idx) in &sets {
        let set: Vec<&RoutingRow> = idx.iter().map(|&i| &rows[i]).collect();
        let label = if *internal {
            format!("{name} [internal]")
        } else {
            name.clone()
        };
        let figures = set_figures(&set, model, args.quality);
        print_set(&label, &figures)?;
        let scored = outcomes(&set, |r| model.difficulty(&r.prompt));
        at_threshold.push((label.clone(), route_metrics::at_threshold(&scored, threshold)));
        if name == "MT-Bench" {
            let (lo, hi) = bootstrap_cheap_share(&scored, args.quality, args.bootstrap);
            outln!(
                "    MT-Bench cheap share at {:.0}% quality: {:.2} (95% bootstrap interval {lo:.2}–{hi:.2}, {} resamples)",
                args.quality * 100.0,
                figures.router.cheap_at_quality,
                args.bootstrap
            );
        }
        for (row, o) in set.iter().zip(&scored) {
            scores_out.push_str(
                &serde_json::json!({"set": name, "source": row.source, "strong_score": o.strong, "weak_score": o.weak, "score": o.score})
                    .to_string(),
            );
            scores_out.push('\n');
        }
    }
    outln!(
        "threshold for {:.0}% of strong quality on the dev subjects: max_difficulty = {threshold:.3}",
        args.quality * 100.0
    );
    outln!("  at that threshold, per held-out set: quality / strong-only quality, share on the cheaper model");
    for (label, (q, cheap)) in &at_threshold {
        outln!("  {label:<40} {:>6.1}%  {:>6.1}%", q * 100.0, cheap * 100.0);
    }
    for path in &args.traffic {
        let rows: Vec<TrafficRow> = jsonl::read_jsonl(path)?.into_iter().map(|(_, r)| r).collect();
        let complex: Vec<&TrafficRow> = rows
            .iter()
            .filter(|r| r.label.as_deref().is_none_or(|l| l == "complex"))
            .collect();
        let cheap = complex
            .iter()
            .filter(|r| model.difficulty(&r.query) <= threshold)
            .count();
        outln!(
            "{}: {cheap} of {} complex requests at or under max_difficulty {threshold:.3} ({:.1}%)",
            path.display(),
            complex.len(),
            100.0 * cheap as f64 / complex.len().max(1) as f64
        );
    }
    if let Some(path) = &args.scores {
        std::fs::write(path, scores_out).map_err(|e| CliError::io("writing the scores", e))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The 2.5th and 97.5th percentiles of the cheap share at `quality` over seeded resamples.
fn bootstrap_cheap_share(rows: &[Outcome], quality: f64, resamples: usize) -> (f64, f64) {
    if rows.is_empty() || resamples == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = Rng::new(7);
    let mut shares: Vec<f64> = (0..resamples)
        .map(|_| {
            let sample: Vec<Outcome> = (0..rows.len())
                .map(|_| rows[(rng.next_u64() % rows.len() as u64) as usize])
                .collect();
            route_metrics::figures(&sample, quality).cheap_at_quality
        })
        .collect();
    shares.sort_by(f64::total_cmp);
    let at = |p: f64| shares[((p * (shares.len() - 1) as f64).round() as usize).min(shares.len() - 1)];
    (at(0.025), at(0.975))
}

fn print_header() -> Result<(), CliError> {
    outln!(
        "  {:<40} {:>5} {:>13}  {:<24} {:<24} {:<24} {:<24}",
        "set",
        "n",
        "weak/strong",
        "router",
        "random",
        "length",
        "oracle"
    );
    Ok(())
}

fn print_set(name: &str, f: &SetFigures) -> Result<(), CliError> {
    let cell = |x: &Figures| format!("{:.3}/{:.3}/{:.3}/{:.3}", x.apgr, x.cpt50, x.cpt80, x.cheap_at_quality);
    outln!(
        "  {name:<40} {:>5} {:>13}  {:<24} {:<24} {:<24} {:<24}",
        f.router.n,
        format!("{:.3}/{:.3}", f.router.weak_only, f.router.strong_only),
        cell(&f.router),
        cell(&f.random),
        cell(&f.length),
        cell(&f.oracle)
    );
    Ok(())
}
