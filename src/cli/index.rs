//! `index build`: (re)build an embedded index from a corpus file or folder.

use super::error::CliError;
use super::*;

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

pub(super) fn index_build(
    config_path: &Path,
    input: Option<PathBuf>,
    output: Option<PathBuf>,
) -> Result<ExitCode, CliError> {
    let config = Config::load_offline(config_path)?;
    let (index_dir, corpus) = match (&config.search.backend, input, output) {
        (_, Some(input), Some(output)) => (output, input),
        (SearchBackendConfig::Embedded { index_dir, corpus }, input, output) => {
            (output.unwrap_or(index_dir.clone()), input.unwrap_or(corpus.clone()))
        }
        (other, _, _) => {
            return Err(CliError::Usage(format!(
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
