//! The `ecoroute` binary: parse the command line, then hand over to the library.

use clap::Parser;

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = ecoroute::cli::Cli::parse();
    ecoroute::cli::init_tracing();
    Ok(ecoroute::cli::run(cli)?)
}
