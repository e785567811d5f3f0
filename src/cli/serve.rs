//! `serve` (start the proxy, stop it on SIGTERM or Ctrl-C) and `check` (validate a config).

use super::error::CliError;
use super::*;
// The one command that starts the HTTP server; every other command works offline.
use crate::server as proxy;

pub(super) fn serve(
    config_path: &Path,
    listen: Option<SocketAddr>,
    upstream: Option<String>,
    anthropic_upstream: Option<String>,
) -> Result<ExitCode, CliError> {
    let overrides = crate::config::Overrides {
        listen,
        upstream,
        anthropic_upstream,
    };
    let config = Config::load_with(config_path, &overrides, crate::config::Purpose::Serve)?;
    control_runtime()?.block_on(async {
        let running = proxy::start(config).await?;
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

pub(super) async fn shutdown_signal() {
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

/// `hash-key`: the line to paste into a `[[keys]]` entry.
pub(super) fn hash_key(generate: bool) -> Result<ExitCode, CliError> {
    let key = if generate {
        // Two v4 UUIDs: 244 bits from the CSPRNG the request ids use.
        let key = format!(
            "sk-eco-{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        eprintln!("key (give it to the client; it is not stored anywhere): {key}");
        key
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| CliError::io("reading the key from standard input", e))?;
        let key = line.trim().to_string();
        if key.is_empty() {
            return Err(CliError::Usage(
                "give the key on standard input (`printf %s \"$KEY\" | ecoroute hash-key`), or use --generate".into(),
            ));
        }
        key
    };
    outln!("hash = \"{}\"", crate::config::keys::hash_key(&key));
    Ok(ExitCode::SUCCESS)
}

pub(super) fn check(config_path: &Path) -> Result<ExitCode, CliError> {
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
            let keys = &config.keys;
            let tenants: std::collections::BTreeSet<&str> = keys.keys.iter().map(|k| k.tenant.as_str()).collect();
            if keys.keys.is_empty() {
                // Said plainly: without `[[keys]]` the port is the only gate.
                outln!(
                    "  keys              none: any client that reaches the port is served; limits on {} tenant(s)",
                    keys.subjects().len()
                );
            } else {
                outln!(
                    "  keys              {} (tenants: {}); limits on {} key(s) and tenant(s)",
                    keys.keys.len(),
                    tenants.into_iter().collect::<Vec<_>>().join(", "),
                    keys.subjects().len()
                );
            }
            for warning in crate::config::keys::start_warnings(
                keys,
                [
                    ("OpenAI", config.llm.api_key.is_some()),
                    ("Anthropic", config.llm.anthropic.api_key.is_some()),
                ],
            ) {
                outln!("  warning           {warning}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
