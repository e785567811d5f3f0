//! The `ecoroute` binary: parse the command line, then hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = ecoroute::cli::Cli::parse();
    ecoroute::cli::init_tracing();
    match ecoroute::cli::run(cli) {
        Ok(code) => code,
        // `ecoroute … | head`: the reader has what it wanted.
        Err(ecoroute::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
