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
use crate::pipeline::cache::CacheRequest;
use crate::pipeline::{Action, AnswerLimits, Outcome, Pipeline, Plan, PlanRequest, Routed, Served};
use crate::search::embedded::EmbeddedIndex;
use crate::Error;

/// `println!` that returns an error instead of panicking when stdout is closed (`ecoroute … | head`).
macro_rules! outln {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|e| CliError::io("writing to stdout", e))?
    };
}

mod error;
pub(crate) use error::CliError;
mod calibrate;
mod classify;
mod eval;
mod index;
mod jsonl;
mod replay;
mod report;
mod router;
mod search;
mod serve;
mod train;
mod train_reader;

use calibrate::calibrate_command;
use classify::classify;
use eval::{decide_labelled, eval_answers_command, eval_command, pct};
use index::index_build;
pub(crate) use index::IndexCommand;
pub(crate) use jsonl::{read_labelled, Labelled};
use replay::replay_command;
pub(crate) use replay::ReplayArgs;
use report::report_command;
pub(crate) use report::ReportArgs;
use router::{calibrate_tiers_command, train_router_command};
pub(crate) use router::{CalibrateTiersArgs, TrainRouterArgs};
use search::{explain, search};
use serve::{check, hash_key, serve};
pub(crate) use train::TrainArgs;
use train::{describe_false_lookups, source_table, train_command};
use train_reader::train_reader_command;
pub(crate) use train_reader::TrainReaderArgs;

#[derive(Debug, Parser)]
#[command(
    name = "ecoroute",
    version,
    about = "Inference routing proxy: answers simple lookups from search, sends the rest to the LLM"
)]
pub struct Cli {
    /// Log lines as `plain` text (colours only when stderr is a terminal) or as `json`, one
    /// object a line, for a log collector.
    #[arg(long, global = true, env = "ECOROUTE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Plain,
    Json,
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
        /// Upstream API root of every API, overriding `llm.base_url` and `llm.anthropic.base_url`
        /// (e.g. http://127.0.0.1:9000/v1, the shipped mock).
        #[arg(long, env = "ECOROUTE_UPSTREAM")]
        upstream: Option<String>,
        /// Anthropic Messages upstream root, overriding `llm.anthropic.base_url` (and `--upstream`
        /// for that API).
        #[arg(long, env = "ECOROUTE_ANTHROPIC_UPSTREAM")]
        anthropic_upstream: Option<String>,
    },
    /// Print the `hash = "sha256:..."` line of an inbound key for `[[keys]]`. The key is read from
    /// standard input (so it stays out of the shell's history and the process list), or made up
    /// with --generate.
    HashKey {
        /// Make up a new random key, print it once (to stderr) and its hash line (to stdout).
        #[arg(long)]
        generate: bool,
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
        /// Also show the reader's N most likely answers among the proxy's hits, each with its
        /// probability and the features that weighed most: why a right sentence was not chosen.
        #[arg(long, default_value_t = 0)]
        candidates: usize,
        query: String,
    },
    /// Savings report from the ledger: totals and groups, each figure a low/central/high range.
    Report(ReportArgs),
    /// Run requests through classification and search as `serve` would, without calling the LLM;
    /// with --compare, list every request whose route differs between two configs.
    Replay(ReplayArgs),
    /// Train the lookup-vs-complex model from labelled queries (reproducible with --seed).
    Train(TrainArgs),
    /// Train the reader (which sentence of the search hits answers, and how surely) from questions
    /// with gold answers, searched in the configured index; the threshold is chosen on --dev.
    TrainReader(TrainReaderArgs),
    /// Fit the difficulty router for model tiers (`max_difficulty`) on the routing sets'
    /// Apache-2.0 rows.
    TrainRouter(TrainRouterArgs),
    /// Measure the difficulty router on the held-out routing sets (APGR, CPT, cheap share) beside
    /// the random, length and oracle routers, and print the `max_difficulty` for a quality target.
    CalibrateTiers(CalibrateTiersArgs),
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
        /// Write each question's outcome as JSON Lines beside its gold answers (route, answer or
        /// refusal, whether it holds a gold answer), for reading by hand.
        #[arg(long, requires = "answers")]
        write: Option<PathBuf>,
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
    /// The whole decision for one question as `serve` would make it, as JSON: the class and route
    /// with the reason, the scorer's weightiest features, the search hits, the reader's most
    /// likely answers with their probabilities, and the answer or refusal (`/admin/explain`'s).
    Explain {
        #[command(flatten)]
        config: ConfigArg,
        /// Decide under this tenant's policy (`[[tenants]]`), as a request with its key would be.
        #[arg(long)]
        tenant: Option<String>,
        query: String,
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

pub fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tantivy=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour escapes only for a person at a terminal: in a file or a collector they are noise.
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Serve {
            config,
            listen,
            upstream,
            anthropic_upstream,
        } => serve(&config.config, listen, upstream, anthropic_upstream),
        Command::Check { config } => check(&config.config),
        Command::HashKey { generate } => hash_key(generate),
        Command::Index {
            command:
                IndexCommand::Build {
                    config,
                    input,
                    output,
                    language,
                    max_entry_bytes,
                    max_input_bytes,
                },
        } => index_build(
            &config.config,
            input,
            output,
            crate::search::ingest::IngestOptions {
                language,
                max_entry_bytes,
                max_input_bytes,
            },
        ),
        Command::Search {
            config,
            limit,
            candidates,
            query,
        } => search(&config.config, limit, candidates, &query),
        Command::Train(args) => train_command(&args),
        Command::TrainReader(args) => train_reader_command(&args),
        Command::TrainRouter(args) => train_router_command(&args),
        Command::CalibrateTiers(args) => calibrate_tiers_command(&args),
        Command::Replay(args) => replay_command(&args),
        Command::Report(args) => report_command(&args),
        Command::Eval {
            config,
            input,
            answers,
            verbose,
            write,
            json,
        } => match (input, answers) {
            (_, Some(answers)) => eval_answers_command(&config.config, &answers, json, verbose, write.as_deref()),
            (Some(input), None) => eval_command(&config.config, &input, json),
            (None, None) => Err(CliError::Usage("eval needs --input or --answers".into())),
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
        Command::Explain { config, tenant, query } => explain(&config.config, tenant.as_deref(), &query),
    }
}

/// A multi-threaded runtime, one thread per core, for the offline commands.
fn tokio_runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("starting the async runtime", e))
}

/// The runtime `serve` starts on: one thread for the control plane (accepting connections,
/// signals, reloads, meters). Requests are served on [`crate::shard`]s.
fn control_runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("starting the async runtime", e))
}

/// Writes a trained model as pretty JSON with its `weights` sorted by name, so a retrained model
/// diffs line by line (`train-reader`, `train-router`).
fn write_model_json(model: &impl serde::Serialize, output: &Path, what: &'static str) -> Result<(), CliError> {
    let mut json = serde_json::to_value(model).map_err(|e| CliError::Usage(e.to_string()))?;
    if let Some(weights) = json.get_mut("weights") {
        let mut sorted: Vec<(String, serde_json::Value)> = weights
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        *weights = serde_json::Value::Object(sorted.into_iter().collect());
    }
    let text = serde_json::to_string_pretty(&json).map_err(|e| CliError::Usage(e.to_string()))?;
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| CliError::io("creating the output folder", e))?;
    }
    std::fs::write(output, text + "\n").map_err(|e| CliError::io(what, e))
}
