//! `report`: footprint and savings reports from the ledger, in JSON, CSV, Markdown or HTML.

use super::error::CliError;
use super::*;

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
    /// How rows are grouped.
    #[arg(long, value_enum, default_value = "day")]
    pub by: crate::report::GroupBy,
    #[arg(long, value_enum, default_value = "json")]
    pub format: ReportFormat,
    /// Write to this file instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

pub(super) fn report_command(args: &ReportArgs) -> Result<ExitCode, CliError> {
    let by = args.by;
    let day = |flag: &str, value: &Option<String>| -> Result<Option<i64>, CliError> {
        value
            .as_deref()
            .map(|v| {
                crate::report::days_from_civil(v)
                    .ok_or_else(|| CliError::Usage(format!("{flag} {v}: use a date as YYYY-MM-DD")))
            })
            .transpose()
    };
    let from_ms = day("--from", &args.from)?.map(|d| d * 86_400_000);
    let to_ms = day("--to", &args.to)?.map(|d| (d + 1) * 86_400_000);
    let store = match &args.ledger {
        Some(p) if p.starts_with("postgres://") || p.starts_with("postgresql://") => {
            crate::ledger::LedgerStore::postgres(p.clone())
        }
        Some(p) => {
            let path = PathBuf::from(p);
            if !path.exists() {
                return Err(CliError::io(
                    format!("reading the ledger {}", path.display()),
                    std::io::ErrorKind::NotFound.into(),
                ));
            }
            crate::ledger::LedgerStore::Sqlite(path)
        }
        None => {
            let config = Config::load_offline(&args.config.config)?;
            config.ledger.store.ok_or_else(|| {
                CliError::Usage("the ledger is disabled in this config; pass --ledger PATH or postgres://...".into())
            })?
        }
    };
    let (rows, recorded) = crate::ledger::read_store_with_settings(&store, from_ms, to_ms)?;
    let report = crate::report::build(&rows, by, args.from.clone(), args.to.clone()).with_settings(&recorded);
    let text = match args.format {
        ReportFormat::Json => {
            serde_json::to_string_pretty(&report).map_err(|e| Error::internal_from("writing the report as JSON", e))?
                + "\n"
        }
        ReportFormat::Csv => crate::report::to_csv(&report),
        ReportFormat::Md => crate::report::to_markdown(&report),
        ReportFormat::Html => crate::report::html::render(
            &rows,
            &recorded,
            args.from.clone(),
            args.to.clone(),
            crate::ledger::now_ms(),
            crate::report::html::Page::Report,
            Some(by),
        ),
    };
    match &args.output {
        Some(file) => {
            std::fs::write(file, text).map_err(|e| CliError::io(format!("writing {}", file.display()), e))?;
            eprintln!("wrote {} ({} requests)", file.display(), report.totals.requests);
        }
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| CliError::io("writing to stdout", e))?,
    }
    Ok(ExitCode::SUCCESS)
}
