//! The `ecoroute` command line. `main` parses it and calls [`run`]; each subcommand loads the config
//! the same way `serve` does, so `check`, `classify` and `search` tell the truth about what the proxy
//! would do.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::classify::{Decider, RequestFeatures};
use crate::config::{Config, SearchBackendConfig};
use crate::search::answer;
use crate::search::embedded::{build_index, read_corpus, EmbeddedIndex};
use crate::{server, Error};

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
    #[arg(
        long,
        short,
        env = "ECOROUTE_CONFIG",
        default_value = "config/ecoroute.toml"
    )]
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

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Build the embedded index from a JSON Lines corpus (gzip or plain).
    Build {
        #[command(flatten)]
        config: ConfigArg,
        /// Corpus file, overriding `search.corpus`.
        #[arg(long)]
        corpus: Option<PathBuf>,
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
            command:
                IndexCommand::Build {
                    config,
                    corpus,
                    output,
                },
        } => index_build(&config.config, corpus, output),
        Command::Search {
            config,
            limit,
            query,
        } => search(&config.config, limit, &query),
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

fn serve(
    config_path: &Path,
    listen: Option<SocketAddr>,
    upstream: Option<String>,
) -> Result<ExitCode, Error> {
    let mut config = Config::load(config_path)?;
    if let Some(addr) = listen {
        config.server.listen = addr;
    }
    if let Some(url) = upstream {
        config.llm.base_url = crate::config::validate_base_url(&url).map_err(|p| {
            crate::config::ConfigError::Invalid {
                file: "--upstream".into(),
                problems: vec![p],
            }
        })?;
    }
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
            println!("{}: ok", config_path.display());
            println!("  listen            {}", config.server.listen);
            println!("  upstream          {}", config.llm.base_url);
            println!(
                "  lookup_threshold  {:.2}",
                config.classifier.lookup_threshold
            );
            println!(
                "  search            min_confidence {:.2}, top_k {}",
                config.search.min_confidence, config.search.top_k
            );
            println!(
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

fn embedded_paths(config: &Config) -> (PathBuf, PathBuf) {
    match &config.search.backend {
        SearchBackendConfig::Embedded { index_dir, corpus } => (index_dir.clone(), corpus.clone()),
    }
}

fn index_build(
    config_path: &Path,
    corpus: Option<PathBuf>,
    output: Option<PathBuf>,
) -> Result<ExitCode, Error> {
    let config = Config::load(config_path)?;
    let (index_dir, default_corpus) = embedded_paths(&config);
    let corpus = corpus.unwrap_or(default_corpus);
    let index_dir = output.unwrap_or(index_dir);
    let started = std::time::Instant::now();
    let count = build_index(&index_dir, read_corpus(&corpus)?)?;
    println!(
        "indexed {count} documents from {} into {} in {:.1}s",
        corpus.display(),
        index_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn search(config_path: &Path, limit: usize, query: &str) -> Result<ExitCode, Error> {
    let config = Config::load(config_path)?;
    let (index_dir, corpus) = embedded_paths(&config);
    let index = EmbeddedIndex::open_or_build(&index_dir, &corpus)?;
    let started = std::time::Instant::now();
    let hits = index
        .search_sync(query, limit.max(config.search.top_k))
        .map_err(|e| Error::Index(e.to_string()))?;
    let elapsed = started.elapsed();
    let mut out = std::io::stdout().lock();
    let io = |e| Error::io("writing to stdout", e);
    for (i, hit) in hits.iter().take(limit).enumerate() {
        writeln!(
            out,
            "{:>2}. {:>7.3}  {} [{}] {}\n              {}",
            i + 1,
            hit.score,
            hit.title,
            hit.source,
            hit.url,
            hit.text
        )
        .map_err(io)?;
    }
    writeln!(
        out,
        "({} hits in {:.2} ms)",
        hits.len(),
        elapsed.as_secs_f64() * 1e3
    )
    .map_err(io)?;
    match answer::answer(
        query,
        &hits[..hits.len().min(config.search.top_k)],
        config.search.min_confidence,
    ) {
        Ok(a) => writeln!(
            out,
            "\nanswer (confidence {:.2}):\n{}",
            a.confidence,
            a.to_message()
        )
        .map_err(io)?,
        Err(refusal) => writeln!(out, "\nno answer: {}", refusal.reason()).map_err(io)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn classify(
    config_path: &Path,
    explain: bool,
    input: Option<&Path>,
    query: Option<&str>,
) -> Result<ExitCode, Error> {
    let config = Config::load(config_path)?;
    let classifier = server::classifier_for(&config);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let io = |e| Error::io("writing to stdout", e);
    let decide_line = |text: &str| {
        let d = classifier.decide(&RequestFeatures::from_query(text));
        serde_json::json!({"class": d.class.as_str(), "confidence": round4(d.confidence), "route": d.route.as_str(), "reason": d.reason()})
    };
    match (input, query) {
        (Some(path), _) => {
            let file = std::fs::File::open(path)
                .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
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
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(line)
        {
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
