//! `train`: fit the lookup-vs-complex model, with optional cross-validation.

use super::error::CliError;
use super::*;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Labelled JSON Lines (`query`, `label` = lookup|complex); repeat for several files.
    #[arg(long, required = true)]
    pub input: Vec<PathBuf>,
    /// Where to write the model (gzip); use it with `classifier.model = "PATH"`. The default keeps
    /// the shipped model (models/classifier.bin.gz, embedded at build time) untouched: name that
    /// file here on purpose to replace it.
    #[arg(long, default_value = "data/classifier.bin.gz")]
    pub output: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// AdaGrad base learning rate.
    #[arg(long, default_value_t = 0.2)]
    pub learning_rate: f32,
    /// L2 penalty per update.
    #[arg(long, default_value_t = 1e-4)]
    pub l2: f32,
    /// Share of rows held out to report accuracy and a threshold before the final fit on all rows.
    #[arg(long, default_value_t = 0.1)]
    pub holdout: f64,
    /// False-lookup target used for the threshold suggested from the holdout.
    #[arg(long, default_value_t = 0.02)]
    pub max_false_lookup: f64,
    /// Also cross-validate with this many folds: recall at the false-lookup target on rows each
    /// fold's model never saw, per source. Slower (one fit per fold), far less noisy than --holdout.
    #[arg(long, default_value_t = 0)]
    pub folds: usize,
    /// Fit this many times with seeds seed, seed+1, … and average the weights: one model, as fast
    /// to run, whose ranking depends less on the order the examples were seen in
    #[arg(long, default_value_t = 5)]
    pub average: usize,
    /// With --folds: also report the cross-validated false-lookup rate and recall at this
    /// threshold (the one in a config, say), not only at the one that meets the target, and give
    /// the per-source table at it
    #[arg(long)]
    pub at_threshold: Option<f64>,
    /// With --folds: write each row's out-of-fold p(lookup) here as JSON Lines (`query`, `label`,
    /// `source`, `p_lookup`), to read which rows the model gets wrong on data it never saw
    #[arg(long)]
    pub scores_output: Option<PathBuf>,
}

pub(super) fn train_command(args: &TrainArgs) -> Result<ExitCode, CliError> {
    // Both only mean something for out-of-fold scores; without folds they would be dropped in silence.
    for (flag, given) in [
        ("--at-threshold", args.at_threshold.is_some()),
        ("--scores-output", args.scores_output.is_some()),
    ] {
        if given && args.folds < 2 {
            return Err(CliError::Usage(format!(
                "{flag} reports on cross-validation: add --folds 5 (2 or more)"
            )));
        }
    }
    let mut rows = Vec::new();
    for path in &args.input {
        rows.extend(read_labelled(path)?);
    }
    let mut examples: Vec<Example> = rows
        .iter()
        .map(|r| Example {
            text: r.query.clone(),
            lookup: r.is_lookup(),
        })
        .collect();
    let options = TrainOptions {
        epochs: args.epochs,
        seed: args.seed,
        learning_rate: args.learning_rate,
        l2: args.l2,
        average: args.average,
    };
    let name = format!("linear-v1 seed={}", args.seed);
    let started = std::time::Instant::now();
    // Before the holdout's shuffle, so scores and rows (with their sources) still line up.
    let cross_validation = (args.folds >= 2).then(|| cross_validate(&examples, &options, args.folds));
    if args.holdout > 0.0 && args.holdout < 1.0 {
        Rng::new(args.seed ^ 0x5eed).shuffle(&mut examples);
        let cut = ((examples.len() as f64) * (1.0 - args.holdout)) as usize;
        let (fit, held) = examples.split_at(cut);
        let model = train(fit, &options, &name);
        let scored: Vec<Scored> = held
            .iter()
            .map(|e| Scored {
                fixed: None,
                p_lookup: model.p_lookup(&e.text),
                gold_lookup: e.lookup,
            })
            .collect();
        let at_half = confusion_at(&scored, 0.5);
        outln!(
            "holdout ({} rows): at 0.5 lookup recall {}, false-lookup rate {}",
            held.len(),
            pct(at_half.lookup_recall()),
            pct(at_half.false_lookup_rate())
        );
        if let Some(c) = calibrate(&scored, args.max_false_lookup) {
            outln!("holdout: {}", describe_calibration(&c, args.max_false_lookup));
        }
    }
    if let Some(scores) = cross_validation {
        if let Some(path) = &args.scores_output {
            write_out_of_fold_scores(path, &rows, &scores)?;
        }
        report_cross_validation(&rows, &scores, args.folds, args.max_false_lookup, args.at_threshold)?;
    }
    let model = train(&examples, &options, &name);
    let bytes = model::encode_gz(&model);
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| CliError::io(format!("creating {}", parent.display()), e))?;
    }
    std::fs::write(&args.output, &bytes).map_err(|e| CliError::io(format!("writing {}", args.output.display()), e))?;
    outln!(
        "trained on {} rows ({} lookup) in {:.1}s; wrote {} ({} KB)",
        examples.len(),
        examples.iter().filter(|e| e.lookup).count(),
        started.elapsed().as_secs_f64(),
        args.output.display(),
        bytes.len() / 1024
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) fn write_out_of_fold_scores(path: &Path, rows: &[Labelled], scores: &[f64]) -> Result<(), CliError> {
    let mut out = String::new();
    for (r, &p) in rows.iter().zip(scores) {
        let line = serde_json::json!({
            "query": r.query,
            "label": r.label,
            "source": r.source,
            "p_lookup": (p * 1e4).round() / 1e4,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    std::fs::write(path, out).map_err(|e| CliError::io(format!("writing {}", path.display()), e))
}

/// "1.5% (6 of 405; 95% interval 0.7–3.2%)": the rate, what it was measured on, and how far off
/// that many rows leave it.
pub(super) fn describe_false_lookups(c: &crate::eval::Confusion) -> String {
    match c.false_lookup_interval(Z_95) {
        Some((lo, hi)) => format!(
            "{} ({} of {}; 95% interval {:.1}–{:.1}%)",
            pct(c.false_lookup_rate()),
            c.false_lookup,
            c.gold_complex(),
            lo * 100.0,
            hi * 100.0
        ),
        None => pct(c.false_lookup_rate()),
    }
}

pub(super) fn describe_calibration(c: &crate::eval::Calibration, max_false_lookup: f64) -> String {
    format!(
        "threshold {:.3} keeps false lookups at {} (target {}) with lookup recall {}",
        c.threshold,
        describe_false_lookups(&c.confusion),
        pct(Some(max_false_lookup)),
        pct(c.confusion.lookup_recall())
    )
}

/// Sources written by `scripts/prepare_training.py` from templates. They are trained on in every
/// fold but left out of the cross-validation headline: template rows are easier than real traffic
/// and would flatter the figure (and move the threshold it suggests).
pub(super) const TEMPLATE_SOURCE_PREFIX: &str = "synthetic";

/// `scores` are the out-of-fold p(lookup) of `rows`, in order.
pub(super) fn report_cross_validation(
    rows: &[Labelled],
    scores: &[f64],
    folds: usize,
    max_false_lookup: f64,
    at_threshold: Option<f64>,
) -> Result<(), CliError> {
    let is_template = |r: &Labelled| {
        r.source
            .as_deref()
            .is_some_and(|s| s.starts_with(TEMPLATE_SOURCE_PREFIX))
    };
    let scored: Vec<Scored> = rows
        .iter()
        .zip(scores)
        .filter(|(r, _)| !is_template(r))
        .map(|(r, &p)| Scored {
            fixed: None,
            p_lookup: p,
            gold_lookup: r.is_lookup(),
        })
        .collect();
    let Some(c) = calibrate(&scored, max_false_lookup) else {
        outln!("{folds}-fold cross-validation: no threshold meets the false-lookup target");
        return Ok(());
    };
    let left_out = rows.len() - scored.len();
    outln!(
        "{folds}-fold cross-validation ({} rows{}): {}",
        scored.len(),
        if left_out > 0 {
            format!("; {left_out} {TEMPLATE_SOURCE_PREFIX}* rows trained on, not scored")
        } else {
            String::new()
        },
        describe_calibration(&c, max_false_lookup)
    );
    if let Some(threshold) = at_threshold {
        let at = confusion_at(&scored, threshold);
        outln!(
            "{folds}-fold cross-validation at threshold {threshold:.3}: false lookups {}, lookup recall {}",
            describe_false_lookups(&at),
            pct(at.lookup_recall())
        );
    }
    // Per source at the threshold asked about, if any: that is the config a team is weighing, and
    // which sources it lets through is what they need to read.
    let table_threshold = at_threshold.unwrap_or(c.threshold);
    let mut report = EvalReport::default();
    for (r, &p) in rows.iter().zip(scores) {
        report.add(r.source.as_deref(), r.is_lookup(), p >= table_threshold);
    }
    outln!("per source at threshold {table_threshold:.3}:");
    outln!("{}", source_table(&report, "  "));
    Ok(())
}

/// The per-source table of `eval` and `train --folds`: rows, lookup recall, false-lookup rate.
pub(super) fn source_table(report: &EvalReport, indent: &str) -> String {
    group_table(report, indent, "source")
}

/// [`source_table`] with its first column named `what` (a source, a language).
pub(super) fn group_table(report: &EvalReport, indent: &str, what: &str) -> String {
    let row = |source: &str, n: &str, recall: &str, false_lookups: &str| {
        format!("{indent}{source:<40} {n:>6} {recall:>14} {false_lookups:>14}")
    };
    std::iter::once(row(what, "n", "lookup recall", "false-lookup"))
        .chain(report.by_source.iter().map(|(source, c)| {
            row(
                source,
                &c.total().to_string(),
                &pct(c.lookup_recall()),
                &pct(c.false_lookup_rate()),
            )
        }))
        .collect::<Vec<_>>()
        .join("\n")
}
