//! The `ecoroute` binary: parse the command line, then hand over to the library.

use std::process::ExitCode;

use clap::Parser;

/// Every request allocates and frees many small buffers across threads (bodies, headers, JSON);
/// mimalloc does that with less contention than glibc's allocator (see the load benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = ecoroute::cli::Cli::parse();
    ecoroute::cli::init_tracing(cli.log_format);
    match ecoroute::cli::run(cli) {
        Ok(code) => code,
        // `ecoroute … | head`: the reader has what it wanted.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
