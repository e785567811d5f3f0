//! `index build`: (re)build an embedded index from a corpus file or folder.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::error::CliError;
use super::*;
use crate::search::ingest::{IngestOptions, Progress};

/// How often a long build says how far it has got.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Build the embedded index from a corpus: a JSON Lines file (gzip or plain), Markdown or
    /// text, a Kiwix ZIM archive, a Wikidata JSON dump, a Wikipedia abstracts dump, or a folder
    /// of them. Shows progress on stderr.
    Build {
        #[command(flatten)]
        config: ConfigArg,
        /// File or folder to index, overriding `search.corpus`.
        #[arg(long, visible_alias = "corpus")]
        input: Option<PathBuf>,
        /// Index directory, overriding `search.index_dir`.
        #[arg(long)]
        output: Option<PathBuf>,
        /// The language read from Wikidata dumps (labels, descriptions, and which Wikipedia an
        /// item needs an article in).
        #[arg(long, default_value = "en")]
        language: String,
        /// The most one entry may hold once decompressed (a JSON line, an XML text, a ZIM
        /// cluster or article, a Markdown or text file): what the build holds at once. In bytes,
        /// or with KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
        #[arg(long, default_value = "64MiB", value_parser = parse_size)]
        max_entry_bytes: u64,
        /// The most one input file may decompress to [default: 100 times its size on disk]. Same
        /// units as --max-entry-bytes.
        #[arg(long, value_parser = parse_size)]
        max_input_bytes: Option<u64>,
    },
}

/// "64MiB", "2 GB", "1000" as bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| {
        format!("`{text}` is not a size: write bytes, or a whole number with KB, MB, GB, KiB, MiB or GiB")
    })?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
                "`{other}` is not a unit of size: use KB, MB, GB, TB, KiB, MiB, GiB or TiB"
            ))
        }
    };
    number
        .checked_mul(scale)
        .filter(|&bytes| bytes > 0)
        .ok_or_else(|| format!("`{text}` is not a size between 1 byte and 16 EiB"))
}

pub(super) fn index_build(
    config_path: &Path,
    input: Option<PathBuf>,
    output: Option<PathBuf>,
    options: IngestOptions,
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
    EmbeddedIndex::check_replaceable(&index_dir, &corpus)?;
    let started = std::time::Instant::now();
    let progress = Progress::default();
    let done = AtomicBool::new(false);
    let count = std::thread::scope(|scope| {
        scope.spawn(|| report_progress(&progress, &done, started));
        // Set on the way out, a panic included: the progress thread then stops and the panic ends
        // the command, where it used to print progress forever.
        let _stop = StopOnDrop(&done);
        EmbeddedIndex::build_with(&index_dir, &corpus, &options, &progress)
    })?;
    outln!(
        "indexed {count} documents from {} into {} in {:.1}s",
        corpus.display(),
        index_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Sets its flag when dropped, by a return or by a panic's unwinding.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Writes a progress line to stderr every few seconds until `done`: the share of the input read,
/// the documents indexed and the rate, and the time left at that rate.
fn report_progress(progress: &Progress, done: &AtomicBool, started: Instant) {
    let mut last = Instant::now();
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if last.elapsed() < PROGRESS_EVERY {
            continue;
        }
        last = Instant::now();
        let (read, total, documents) = (progress.read_bytes(), progress.total_bytes(), progress.documents());
        let seconds = started.elapsed().as_secs_f64();
        let share = if total == 0 { 0.0 } else { read as f64 / total as f64 };
        let left = if share > 0.0 {
            seconds * (1.0 - share) / share
        } else {
            f64::NAN
        };
        tracing::info!(
            "indexing: {:.1}% of {:.1} MB read, {documents} documents ({:.0}/s), about {:.0}s left",
            share * 100.0,
            total as f64 / 1e6,
            documents as f64 / seconds.max(1e-9),
            left
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_with_their_units() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("2 GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("3kib"), Ok(3 << 10));
        for bad in ["", "0", "MiB", "1.5GB", "12 parsecs", "99999999999 TiB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_panicking_build_still_stops_the_progress_thread() {
        let done = AtomicBool::new(false);
        let outcome = std::panic::catch_unwind(|| {
            let _stop = StopOnDrop(&done);
            panic!("a build that panics");
        });
        assert!(outcome.is_err());
        assert!(
            done.load(Ordering::Relaxed),
            "the flag the progress thread waits on is set"
        );
    }
}
