//! The `ecoroute` command line. `main` parses it and calls [`run`]; each subcommand loads the config
//! the same way `serve` does, so `check`, `classify` and `search` tell the truth about what the proxy
//! would do.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::classify::train::{cross_validate, train, Example, Rng, TrainOptions};
use crate::classify::{model, Classifier, Decider, RequestFeatures};
use crate::config::{Config, SearchBackendConfig};
use crate::eval::{calibrate, calibrate_against, confusion_at, EvalReport, FalseLookupBound, Scored, Z_95};
use crate::pipeline::{AnswerLimits, Outcome, Pipeline, RouteRequest, Routed, Served};
use crate::search::embedded::EmbeddedIndex;
use crate::{server, Error};

/// `println!` that returns an error instead of panicking when stdout is closed (`ecoroute … | head`).
macro_rules! outln {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|e| Error::io("writing to stdout", e))?
    };
}

#[derive(Debug, Parser)]
#[command(
    name = "ecoroute",
    version,
    about = "Inference routing proxy: answers simple lookups from search, sends the rest to the LLM"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Config file.
    #[arg(long, short, env = "ECOROUTE_CONFIG", default_value = "config/ecoroute.toml")]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy.
    Serve {
        #[command(flatten)]
        config: ConfigArg,
        /// Address to listen on, overriding `server.listen`.
        #[arg(long, env = "ECOROUTE_LISTEN")]
        listen: Option<SocketAddr>,
        /// Upstream API root, overriding `llm.base_url` (e.g. http://127.0.0.1:9000/v1).
        #[arg(long, env = "ECOROUTE_UPSTREAM")]
        upstream: Option<String>,
    },
    /// Validate a config file and print every problem with its key and fix.
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Manage the embedded search index.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Search the configured index and show the answer the proxy would give.
    Search {
        #[command(flatten)]
        config: ConfigArg,
        /// Number of hits to show.
        #[arg(long, default_value_t = 5)]
        limit: usize,
        query: String,
    },
    /// Savings report from the ledger: totals and groups, each figure a low/central/high range.
    Report(ReportArgs),
    /// Run requests through classification and search as `serve` would, without calling the LLM;
    /// with --compare, list every request whose route differs between two configs.
    Replay(ReplayArgs),
    /// Train the lookup-vs-complex model from labelled queries (reproducible with --seed).
    Train(TrainArgs),
    /// Measure routing against labelled queries: precision, recall, confusion, false lookups per source.
    Eval {
        #[command(flatten)]
        config: ConfigArg,
        /// Labelled JSON Lines (`query`, `label`, optional `source`): routing quality.
        #[arg(long, required_unless_present = "answers", conflicts_with = "answers")]
        input: Option<PathBuf>,
        /// JSON Lines with gold `answers` (and `query`, optional `source`): answer quality of the
        /// search route, through the whole pipeline and for the search step alone.
        #[arg(long)]
        answers: Option<PathBuf>,
        /// Also print each question, what search answered, and whether it holds a gold answer.
        #[arg(long, requires = "answers")]
        verbose: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pick the lookup_threshold with the most lookups under a false-lookup target.
    Calibrate {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        input: PathBuf,
        /// Highest acceptable share of complex requests sent to search.
        #[arg(long, default_value_t = 0.02)]
        max_false_lookup: f64,
        /// Hold the target against the one-sided 95% upper bound of the false-lookup rate, not the
        /// rate measured: on a few hundred complex rows the threshold that just fits them lets more
        /// through on traffic.
        #[arg(long)]
        upper_bound: bool,
    },
    /// Classify queries exactly as `serve` would (guards, rules, threshold from the config).
    Classify {
        #[command(flatten)]
        config: ConfigArg,
        /// Show the deciding guard or rule, or the scorer's top features.
        #[arg(long)]
        explain: bool,
        /// JSON Lines with a `query` field, or plain text with one query a line; writes one JSON line each.
        #[arg(long, conflicts_with = "query")]
        input: Option<PathBuf>,
        query: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Json,
    Csv,
    Md,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Ledger to read, overriding the config's: a SQLite file, or a postgres:// URL.
    #[arg(long)]
    pub ledger: Option<String>,
    /// First day included (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub from: Option<String>,
    /// Last day included (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub to: Option<String>,
    /// day, week, month, tenant, route or model.
    #[arg(long, default_value = "day")]
    pub by: String,
    #[arg(long, value_enum, default_value = "json")]
    pub format: ReportFormat,
    /// Write to this file instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReplayFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// JSON Lines, each a question (`query`), a whole chat request (`request`, or the body itself
    /// with `messages`) or a ledger row with its stored `prompt`; or a ledger database (`.sqlite`,
    /// rows stored with ledger.store_prompts). An optional `tenant` picks that tenant's policy.
    #[arg(long)]
    pub input: PathBuf,
    /// One JSON line per input, in order: how `serve` would answer it (`route` search or llm,
    /// `served` search, escalated or llm, `reason`, and the `answer` text when search answers).
    #[arg(long, conflicts_with = "compare")]
    pub json: bool,
    /// Config A.
    #[arg(long, short, env = "ECOROUTE_CONFIG", default_value = "config/ecoroute.toml")]
    pub config: PathBuf,
    /// Config B, to compare with A.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReplayFormat,
}

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

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Build the embedded index from a corpus: a JSON Lines file (gzip or plain), a Markdown or
    /// text file, or a folder of them.
    Build {
        #[command(flatten)]
        config: ConfigArg,
        /// File or folder to index, overriding `search.corpus`.
        #[arg(long, visible_alias = "corpus")]
        input: Option<PathBuf>,
        /// Index directory, overriding `search.index_dir`.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tantivy=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Serve {
            config,
            listen,
            upstream,
        } => serve(&config.config, listen, upstream),
        Command::Check { config } => check(&config.config),
        Command::Index {
            command: IndexCommand::Build { config, input, output },
        } => index_build(&config.config, input, output),
        Command::Search { config, limit, query } => search(&config.config, limit, &query),
        Command::Train(args) => train_command(&args),
        Command::Replay(args) => replay_command(&args),
        Command::Report(args) => report_command(&args),
        Command::Eval {
            config,
            input,
            answers,
            verbose,
            json,
        } => match (input, answers) {
            (_, Some(answers)) => eval_answers_command(&config.config, &answers, json, verbose),
            (Some(input), None) => eval_command(&config.config, &input, json),
            (None, None) => Err(Error::InvalidRequest {
                message: "eval needs --input or --answers".into(),
                param: None,
            }),
        },
        Command::Calibrate {
            config,
            input,
            max_false_lookup,
            upper_bound,
        } => calibrate_command(
            &config.config,
            &input,
            max_false_lookup,
            if upper_bound {
                FalseLookupBound::Upper95
            } else {
                FalseLookupBound::Observed
            },
        ),
        Command::Classify {
            config,
            explain,
            input,
            query,
        } => classify(&config.config, explain, input.as_deref(), query.as_deref()),
    }
}

fn tokio_runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime", e))
}

fn serve(config_path: &Path, listen: Option<SocketAddr>, upstream: Option<String>) -> Result<ExitCode, Error> {
    let overrides = crate::config::Overrides { listen, upstream };
    let config = Config::load_with(config_path, &overrides, crate::config::Purpose::Serve)?;
    tokio_runtime()?.block_on(async {
        let running = server::start(config).await?;
        eprintln!(
            "ecoroute listening on http://{} (config {})",
            running.addr,
            config_path.display()
        );
        shutdown_signal().await;
        running.shutdown().await
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

fn check(config_path: &Path) -> Result<ExitCode, Error> {
    match Config::load(config_path) {
        Ok(config) => {
            outln!("{}: ok", config_path.display());
            outln!("  listen            {}", config.server.listen);
            outln!("  upstream          {}", config.llm.base_url);
            outln!("  lookup_threshold  {:.3}", config.classifier.lookup_threshold);
            outln!(
                "  search            {} backend, min_confidence {:.2}, top_k {}",
                config.search.backend.kind(),
                config.search.adequacy.min_confidence,
                config.search.top_k
            );
            outln!(
                "  rules             {}",
                config
                    .rules
                    .iter()
                    .map(|r| format!("{} → {}", r.name, r.route))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn index_build(config_path: &Path, input: Option<PathBuf>, output: Option<PathBuf>) -> Result<ExitCode, Error> {
    let config = Config::load_offline(config_path)?;
    let (index_dir, corpus) = match (&config.search.backend, input, output) {
        (_, Some(input), Some(output)) => (output, input),
        (SearchBackendConfig::Embedded { index_dir, corpus }, input, output) => {
            (output.unwrap_or(index_dir.clone()), input.unwrap_or(corpus.clone()))
        }
        (other, _, _) => {
            return Err(Error::Index(format!(
                "search.backend is `{}`, which ecoroute does not index; pass --input and --output to build an embedded index anyway",
                other.kind()
            )))
        }
    };
    let started = std::time::Instant::now();
    let count = EmbeddedIndex::build(&index_dir, &corpus)?;
    outln!(
        "indexed {count} documents from {} into {} in {:.1}s",
        corpus.display(),
        index_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Searches with the configured backend (whichever it is) and shows the hits and the answer the
/// proxy would give.
fn search(config_path: &Path, limit: usize, query: &str) -> Result<ExitCode, Error> {
    let config = Config::load_offline(config_path)?;
    // As the proxy does: the question without its chat frame.
    let query = crate::classify::text::core_question(query);
    let wanted = limit.max(config.search.top_k);
    // `shown` is what is listed; `answered_from` is exactly what the proxy's adequacy check sees.
    let (shown, answered_from, elapsed) = match &config.search.backend {
        // The embedded index also lists near misses (documents with only some of the words), to
        // explain why nothing answered; the proxy never sees them.
        SearchBackendConfig::Embedded { index_dir, corpus } => {
            let index = EmbeddedIndex::open_or_build(index_dir, corpus)?;
            let started = std::time::Instant::now();
            let proxy_hits = index
                .search_sync(query, config.search.top_k)
                .map_err(|e| Error::Index(e.to_string()))?;
            let elapsed = started.elapsed();
            let shown = index
                .search_with_near_misses(query, wanted)
                .map_err(|e| Error::Index(e.to_string()))?;
            (shown, proxy_hits, elapsed)
        }
        _ => tokio_runtime()?.block_on(async {
            let backend = crate::search::connect(&config.search).await?;
            let started = std::time::Instant::now();
            let hits = backend
                .search(query, wanted)
                .await
                .map_err(|e| Error::Index(e.to_string()))?;
            let proxy_hits = hits[..hits.len().min(config.search.top_k)].to_vec();
            Ok::<_, Error>((hits, proxy_hits, started.elapsed()))
        })?,
    };
    let mut out = std::io::stdout().lock();
    let io = |e| Error::io("writing to stdout", e);
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
                "  (near miss: lacks a word of the question)"
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
    // The answer exactly as the proxy's search step gives it: through the search stack's timeout
    // and circuit breaker, and the adequacy check.
    let step = tokio_runtime()?.block_on(async {
        let pipeline = Pipeline::build(config).await?;
        Ok::<_, Error>(pipeline.search_step(query).await)
    })?;
    match step.verdict {
        Ok(a) => writeln!(out, "\nanswer (confidence {:.2}):\n{}", a.confidence, a.to_message()).map_err(io)?,
        Err(why) => writeln!(out, "\nno answer: {why}").map_err(io)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn classify(config_path: &Path, explain: bool, input: Option<&Path>, query: Option<&str>) -> Result<ExitCode, Error> {
    let config = Config::load_offline(config_path)?;
    let classifier = crate::pipeline::classifier_for(&config);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let io = |e| Error::io("writing to stdout", e);
    let decide_line = |text: &str| {
        let d = classifier.decide(&RequestFeatures::from_query(text));
        serde_json::json!({"class": d.class.as_str(), "confidence": round4(d.confidence), "route": d.route.as_str(), "reason": d.reason()})
    };
    match (input, query) {
        (Some(path), _) => {
            let file = std::fs::File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
            for line in std::io::BufReader::new(file).lines() {
                let line = line.map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
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
                let score = classifier.scorer.score(text);
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
pub fn query_of_line(line: &str) -> String {
    if line.trim_start().starts_with('{') {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(line) {
            if let Some(q) = map.get("query").and_then(|v| v.as_str()) {
                return q.to_string();
            }
        }
    }
    line.to_string()
}

fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// One labelled query.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Labelled {
    pub query: String,
    pub label: String,
    #[serde(default)]
    pub source: Option<String>,
}

impl Labelled {
    fn is_lookup(&self) -> bool {
        self.label == "lookup"
    }
}

/// Reads labelled JSON Lines; a row whose label is neither lookup nor complex is an error naming the line.
pub fn read_labelled(path: &Path) -> Result<Vec<Labelled>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let row: Labelled = serde_json::from_str(line)
            .map_err(|e| Error::InvalidJson(format!("{} line {}: {e}", path.display(), i + 1)))?;
        if row.label != "lookup" && row.label != "complex" {
            return Err(Error::InvalidRequest {
                message: format!(
                    "{} line {}: label must be lookup or complex, not `{}`",
                    path.display(),
                    i + 1,
                    row.label
                ),
                param: None,
            });
        }
        rows.push(row);
    }
    Ok(rows)
}

fn train_command(args: &TrainArgs) -> Result<ExitCode, Error> {
    // Both only mean something for out-of-fold scores; without folds they would be dropped in silence.
    for (flag, given) in [
        ("--at-threshold", args.at_threshold.is_some()),
        ("--scores-output", args.scores_output.is_some()),
    ] {
        if given && args.folds < 2 {
            return Err(Error::InvalidRequest {
                message: format!("{flag} reports on cross-validation: add --folds 5 (2 or more)"),
                param: None,
            });
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
        std::fs::create_dir_all(parent).map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    std::fs::write(&args.output, &bytes).map_err(|e| Error::io(format!("writing {}", args.output.display()), e))?;
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

fn write_out_of_fold_scores(path: &Path, rows: &[Labelled], scores: &[f64]) -> Result<(), Error> {
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
    std::fs::write(path, out).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// "1.5% (6 of 405; 95% interval 0.7–3.2%)": the rate, what it was measured on, and how far off
/// that many rows leave it.
fn describe_false_lookups(c: &crate::eval::Confusion) -> String {
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

fn describe_calibration(c: &crate::eval::Calibration, max_false_lookup: f64) -> String {
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
const TEMPLATE_SOURCE_PREFIX: &str = "synthetic";

/// `scores` are the out-of-fold p(lookup) of `rows`, in order.
fn report_cross_validation(
    rows: &[Labelled],
    scores: &[f64],
    folds: usize,
    max_false_lookup: f64,
    at_threshold: Option<f64>,
) -> Result<(), Error> {
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
fn source_table(report: &EvalReport, indent: &str) -> String {
    let row = |source: &str, n: &str, recall: &str, false_lookups: &str| {
        format!("{indent}{source:<40} {n:>6} {recall:>14} {false_lookups:>14}")
    };
    std::iter::once(row("source", "n", "lookup recall", "false-lookup"))
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

fn decide_labelled(classifier: &Classifier, rows: &[Labelled]) -> Vec<crate::classify::Decision> {
    rows.iter()
        .map(|r| classifier.decide(&RequestFeatures::from_query(&r.query)))
        .collect()
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{:.1}%", v * 100.0))
}

fn eval_command(config_path: &Path, input: &Path, json: bool) -> Result<ExitCode, Error> {
    let config = Config::load_offline(config_path)?;
    let classifier = crate::pipeline::classifier_for(&config);
    let rows = read_labelled(input)?;
    let mut report = EvalReport::default();
    for (row, d) in rows.iter().zip(decide_labelled(&classifier, &rows)) {
        report.add(
            row.source.as_deref(),
            row.is_lookup(),
            d.route == crate::classify::Route::Search,
        );
    }
    let mut out = std::io::stdout().lock();
    let io = |e| Error::io("writing to stdout", e);
    if json {
        let mut v = report.to_json();
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
        writeln!(out, "{}", source_table(&report, "")).map_err(io)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Deserialize)]
struct WithAnswers {
    query: String,
    /// A list of acceptable answers, or one answer.
    #[serde(deserialize_with = "one_or_many")]
    answers: Vec<String>,
    #[serde(default)]
    source: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match <OneOrMany as serde::Deserialize>::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

fn eval_answers_command(config_path: &Path, input: &Path, json: bool, verbose: bool) -> Result<ExitCode, Error> {
    use crate::eval::AnswerReport;
    let config = Config::load_offline(config_path)?;
    let text = std::fs::read_to_string(input).map_err(|e| Error::io(format!("reading {}", input.display()), e))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let row: WithAnswers = serde_json::from_str(line)
            .map_err(|e| Error::InvalidJson(format!("{} line {}: {e}", input.display(), i + 1)))?;
        if row.answers.is_empty() {
            return Err(Error::InvalidRequest {
                message: format!("{} line {}: `answers` is empty", input.display(), i + 1),
                param: None,
            });
        }
        rows.push(row);
    }
    let (pipeline, alone, lines) = tokio_runtime()?.block_on(async {
        let routing = Pipeline::build(config).await?;
        let (mut pipeline, mut alone) = (AnswerReport::default(), AnswerReport::default());
        let mut lines = Vec::new();
        let limits = AnswerLimits::default();
        for row in &rows {
            let features = RequestFeatures::from_query(&row.query);
            let routed = routing
                .route(RouteRequest {
                    features: &features,
                    tenant: None,
                    requested: None,
                    limits: &limits,
                })
                .await;
            let routed_to_search = routed
                .decision
                .as_ref()
                .is_some_and(|d| d.route == crate::classify::Route::Search);
            // The search step's verdict: the one the pipeline ran, or, for questions it kept on
            // the LLM, the same step run alone.
            let verdict: Result<String, String> = match &routed.outcome {
                Outcome::Answered { answer, .. } => Ok(answer.sentence.clone()),
                Outcome::Escalated { why, .. } => Err(why.clone()),
                Outcome::Off | Outcome::Llm => routing.search_step(&row.query).await.verdict.map(|a| a.sentence),
            };
            let answer = verdict.as_ref().ok().map(String::as_str);
            pipeline.add(row.source.as_deref(), routed_to_search, answer, &row.answers);
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
        Ok::<_, Error>((pipeline, alone, lines))
    })?;
    if json {
        let v = serde_json::json!({"pipeline": pipeline.to_json(), "search_step_alone": alone.to_json()});
        outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    for line in &lines {
        outln!("{line}");
    }
    for (title, report) in [
        ("pipeline (classifier, then search and its adequacy check)", &pipeline),
        ("search step alone (every question searched)", &alone),
    ] {
        let o = &report.overall;
        outln!("\n{title}: {} questions", o.questions);
        outln!(
            "  answered from search       {:>6}  ({})",
            o.answered,
            pct(o.answered_share())
        );
        outln!(
            "  answers with a gold answer {:>6}  ({} of answers)",
            o.correct,
            pct(o.correct_share())
        );
        outln!(
            "  escalated to the LLM       {:>6}  ({})",
            o.escalated,
            pct(o.escalated_share())
        );
        if report.by_source.len() > 1 {
            outln!(
                "  {:<32} {:>6} {:>9} {:>9} {:>10}",
                "source",
                "n",
                "answered",
                "correct",
                "escalated"
            );
            for (source, c) in &report.by_source {
                outln!(
                    "  {:<32} {:>6} {:>9} {:>9} {:>10}",
                    source,
                    c.questions,
                    pct(c.answered_share()),
                    pct(c.correct_share()),
                    pct(c.escalated_share())
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn calibrate_command(
    config_path: &Path,
    input: &Path,
    max_false_lookup: f64,
    bound: FalseLookupBound,
) -> Result<ExitCode, Error> {
    let config = Config::load_offline(config_path)?;
    let classifier = crate::pipeline::classifier_for(&config);
    let rows = read_labelled(input)?;
    let scored: Vec<Scored> = rows
        .iter()
        .zip(decide_labelled(&classifier, &rows))
        .map(|(row, d)| match d.decider {
            Decider::Classifier { p_lookup, .. } => Scored {
                fixed: None,
                p_lookup,
                gold_lookup: row.is_lookup(),
            },
            _ => Scored {
                fixed: Some(d.route == crate::classify::Route::Search),
                p_lookup: 0.0,
                gold_lookup: row.is_lookup(),
            },
        })
        .collect();
    match calibrate_against(&scored, max_false_lookup, bound) {
        Some(c) => {
            outln!(
                "{} queries: at threshold {:.3} the false-lookup rate is {} (target {}{}), lookup recall {}, {} routed to search",
                rows.len(),
                c.threshold,
                describe_false_lookups(&c.confusion),
                pct(Some(max_false_lookup)),
                match bound {
                    FalseLookupBound::Observed => "",
                    FalseLookupBound::Upper95 => ", held against the 95% upper bound",
                },
                pct(c.confusion.lookup_recall()),
                pct(c.confusion.kept_off_llm())
            );
            let rounded_up = (c.threshold * 1000.0).ceil() / 1000.0;
            outln!(
                "\nset in {}:\n[classifier]\nlookup_threshold = {rounded_up:.3}",
                config_path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("no threshold meets a false-lookup rate of {max_false_lookup}: rules that route to search already exceed it");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn report_command(args: &ReportArgs) -> Result<ExitCode, Error> {
    let by = crate::report::GroupBy::parse(&args.by).ok_or_else(|| Error::InvalidRequest {
        message: format!("--by {}: use day, week, month, tenant, route or model", args.by),
        param: None,
    })?;
    let day = |flag: &str, value: &Option<String>| -> Result<Option<i64>, Error> {
        value
            .as_deref()
            .map(|v| {
                crate::report::days_from_civil(v).ok_or_else(|| Error::InvalidRequest {
                    message: format!("{flag} {v}: use a date as YYYY-MM-DD"),
                    param: None,
                })
            })
            .transpose()
    };
    let from_ms = day("--from", &args.from)?.map(|d| d * 86_400_000);
    let to_ms = day("--to", &args.to)?.map(|d| (d + 1) * 86_400_000);
    let store = match &args.ledger {
        Some(p) if p.starts_with("postgres://") || p.starts_with("postgresql://") => {
            crate::config::LedgerStore::Postgres { url: p.clone() }
        }
        Some(p) => {
            let path = PathBuf::from(p);
            if !path.exists() {
                return Err(Error::io(
                    format!("reading the ledger {}", path.display()),
                    std::io::ErrorKind::NotFound.into(),
                ));
            }
            crate::config::LedgerStore::Sqlite(path)
        }
        None => {
            let config = Config::load_offline(&args.config.config)?;
            config.ledger.store.ok_or_else(|| Error::InvalidRequest {
                message: "the ledger is disabled in this config; pass --ledger PATH or postgres://...".into(),
                param: None,
            })?
        }
    };
    let rows: Vec<_> = crate::ledger::read_store(&store)?
        .into_iter()
        .filter(|r| from_ms.is_none_or(|f| r.ts_ms >= f) && to_ms.is_none_or(|t| r.ts_ms < t))
        .collect();
    let report = crate::report::build(&rows, by, args.from.clone(), args.to.clone());
    let text = match args.format {
        ReportFormat::Json => serde_json::to_string_pretty(&report).map_err(|e| Error::Internal(e.to_string()))? + "\n",
        ReportFormat::Csv => crate::report::to_csv(&report),
        ReportFormat::Md => crate::report::to_markdown(&report),
        ReportFormat::Html => {
            crate::report::html::render(&rows, args.from.clone(), args.to.clone(), crate::ledger::now_ms(), None)
        }
    };
    match &args.output {
        Some(file) => {
            std::fs::write(file, text).map_err(|e| Error::io(format!("writing {}", file.display()), e))?;
            eprintln!("wrote {} ({} requests)", file.display(), report.totals.requests);
        }
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| Error::io("writing to stdout", e))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// One request to replay.
struct ReplayItem {
    line: usize,
    features: RequestFeatures,
    model: String,
    tenant: Option<String>,
    prompt_tokens: f64,
    /// The request's `stop` and `max_tokens` (none for a bare question).
    limits: AnswerLimits,
}

fn replay_items(path: &Path) -> Result<Vec<ReplayItem>, Error> {
    let from_text = |line: usize, text: &str, model: Option<String>, tenant: Option<String>| ReplayItem {
        line,
        prompt_tokens: f64::from(crate::openai::estimate_tokens(text) + 7),
        features: RequestFeatures::from_query(text),
        model: model.unwrap_or_else(|| "unknown".into()),
        tenant,
        limits: AnswerLimits::default(),
    };
    if path.extension().is_some_and(|e| e == "sqlite") {
        return Ok(crate::ledger::read_all(path)?
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| {
                r.prompt
                    .clone()
                    .map(|p| from_text(i + 1, &p, r.model.clone(), r.tenant.clone()))
            })
            .collect());
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |why: String| Error::InvalidRequest {
            message: format!("{} line {}: {why}", path.display(), i + 1),
            param: None,
        };
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let tenant = value.get("tenant").and_then(|t| t.as_str()).map(str::to_string);
        let request = match value.get("request") {
            Some(request) => Some(request.to_string()),
            None if value.get("messages").is_some() => Some(line.to_string()),
            None => None,
        };
        if let Some(request) = request {
            let chat = crate::openai::ChatRequest::parse(request.as_bytes()).map_err(|e| bad(e.to_string()))?;
            items.push(ReplayItem {
                line: i + 1,
                prompt_tokens: f64::from(chat.estimated_prompt_tokens()),
                features: chat.features(),
                model: chat.model_name().to_string(),
                tenant,
                limits: chat.limits(),
            });
        } else if let Some(prompt) = value
            .get("query")
            .or_else(|| value.get("prompt"))
            .and_then(|p| p.as_str())
        {
            let model = value.get("model").and_then(|m| m.as_str()).map(str::to_string);
            items.push(from_text(i + 1, prompt, model, tenant));
        } else {
            return Err(bad(
                "none of `query`, `request`, `messages` (a chat body) or `prompt` (a ledger row)".into(),
            ));
        }
    }
    Ok(items)
}

#[derive(serde::Serialize, Default)]
struct ReplaySummary {
    config: String,
    requests: usize,
    search: usize,
    escalated: usize,
    llm: usize,
    expected_energy_saved_wh: crate::energy::Range,
    expected_cost_saved_usd: crate::energy::Range,
}

/// Each item's route, as `serve` would take it.
async fn route_items(config: Config, items: &[ReplayItem]) -> Result<(Pipeline, Vec<Routed>), Error> {
    let pipeline = Pipeline::build(config).await?;
    let mut routed = Vec::with_capacity(items.len());
    for item in items {
        let request = RouteRequest {
            features: &item.features,
            tenant: item.tenant.as_deref(),
            requested: None,
            limits: &item.limits,
        };
        routed.push(pipeline.route(request).await);
    }
    Ok((pipeline, routed))
}

async fn replay_with(config: Config, items: &[ReplayItem]) -> Result<(ReplaySummary, Vec<(String, String)>), Error> {
    use crate::energy::{account, LocalWork, Outcome as Accounted};
    let source = config.source.display().to_string();
    let (pipeline, routed) = route_items(config, items).await?;
    let energy = &pipeline.config.energy;
    let default_tokens = energy.local.default_output_tokens;
    let mut summary = ReplaySummary {
        config: source,
        ..ReplaySummary::default()
    };
    let mut routes = Vec::with_capacity(items.len());
    for (item, run) in items.iter().zip(&routed) {
        // In shadow mode, what the routing would do live: that is what a team replays it for.
        let outcome = run.would_serve();
        let work = LocalWork {
            proxy_cpu_s: 0.0,
            search_cpu_s: run.search().and_then(|s| s.cpu_us).unwrap_or(0.0) / 1e6,
        };
        let accounted = match outcome {
            Served::Search => Accounted::Search {
                prompt_tokens: item.prompt_tokens,
                expected_output_tokens: default_tokens,
            },
            Served::Escalated => Accounted::Escalated {
                prompt_tokens: item.prompt_tokens,
                completion_tokens: default_tokens,
                latency_s: None,
            },
            Served::Llm => Accounted::Llm {
                prompt_tokens: item.prompt_tokens,
                completion_tokens: default_tokens,
                latency_s: None,
            },
        };
        let costs = account(&energy.catalogue, &energy.local, &item.model, accounted, work);
        summary.expected_energy_saved_wh = summary.expected_energy_saved_wh + costs.saved.energy_wh;
        summary.expected_cost_saved_usd = summary.expected_cost_saved_usd + costs.saved.cost_usd;
        summary.requests += 1;
        match outcome {
            Served::Search => summary.search += 1,
            Served::Escalated => summary.escalated += 1,
            Served::Llm => summary.llm += 1,
        }
        routes.push((outcome.as_str().to_string(), run.reason()));
    }
    Ok((summary, routes))
}

/// `replay --json`: one line per input, what `serve` would answer.
fn replay_lines(config: Config, items: &[ReplayItem]) -> Result<ExitCode, Error> {
    let (_, routed) = tokio_runtime()?.block_on(route_items(config, items))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (item, run) in items.iter().zip(&routed) {
        let served = run.served();
        let line = serde_json::json!({
            "line": item.line,
            "query": item.features.last_user,
            // As the `x-ecoroute-route` header says it.
            "route": if served == Served::Search { "search" } else { "llm" },
            "served": served.as_str(),
            "mode": run.mode.as_str(),
            "reason": run.reason(),
            "answer": run.answer().filter(|_| served == Served::Search).map(|(_, content)| content),
        });
        writeln!(out, "{line}").map_err(|e| Error::io("writing to stdout", e))?;
    }
    out.flush().map_err(|e| Error::io("writing to stdout", e))?;
    Ok(ExitCode::SUCCESS)
}

fn replay_command(args: &ReplayArgs) -> Result<ExitCode, Error> {
    let items = replay_items(&args.input)?;
    let config_a = Config::load_offline(&args.config)?;
    if args.json {
        return replay_lines(config_a, &items);
    }
    let config_b = args.compare.as_deref().map(Config::load_offline).transpose()?;
    let (a, b) = tokio_runtime()?.block_on(async {
        let a = replay_with(config_a, &items).await?;
        let b = match config_b {
            Some(c) => Some(replay_with(c, &items).await?),
            None => None,
        };
        Ok::<_, Error>((a, b))
    })?;
    let changed: Vec<serde_json::Value> = match &b {
        Some((_, routes_b)) => items
            .iter()
            .zip(a.1.iter().zip(routes_b.iter()))
            .filter(|(_, (ra, rb))| ra.0 != rb.0)
            .map(|(item, (ra, rb))| {
                serde_json::json!({"line": item.line, "query": item.features.last_user,
                    "a": {"route": ra.0, "reason": ra.1}, "b": {"route": rb.0, "reason": rb.1}})
            })
            .collect(),
        None => Vec::new(),
    };
    match args.format {
        ReplayFormat::Json => {
            let v = serde_json::json!({"a": a.0, "b": b.as_ref().map(|b| &b.0), "changed": changed});
            outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        ReplayFormat::Text => {
            for summary in std::iter::once(&a.0).chain(b.as_ref().map(|b| &b.0)) {
                let share = |n: usize| 100.0 * n as f64 / summary.requests.max(1) as f64;
                outln!("{} ({} requests)", summary.config, summary.requests);
                outln!(
                    "  answered from search {:>6}  {:5.1}%",
                    summary.search,
                    share(summary.search)
                );
                outln!(
                    "  escalated to the LLM {:>6}  {:5.1}%",
                    summary.escalated,
                    share(summary.escalated)
                );
                outln!("  sent to the LLM      {:>6}  {:5.1}%", summary.llm, share(summary.llm));
                outln!(
                    "  expected energy saved {}, spend avoided ${:.4}\n",
                    crate::report::human(summary.expected_energy_saved_wh, "Wh"),
                    summary.expected_cost_saved_usd.central
                );
            }
            if b.is_some() {
                outln!("{} requests change route between the configs:", changed.len());
                for c in &changed {
                    outln!(
                        "  line {:>5}: {} -> {}  {}\n              A: {}\n              B: {}",
                        c["line"],
                        c["a"]["route"].as_str().unwrap_or(""),
                        c["b"]["route"].as_str().unwrap_or(""),
                        c["query"].as_str().unwrap_or(""),
                        c["a"]["reason"].as_str().unwrap_or(""),
                        c["b"]["reason"].as_str().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
