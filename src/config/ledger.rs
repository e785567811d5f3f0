//! `[ledger]`: where rows are kept (an SQLite file or a fleet's PostgreSQL), how long, and the
//! writer's batching.

use std::path::PathBuf;

use super::{problem, raw::RawLedger, Problem};
use crate::ledger::{LedgerConfig, LedgerStore};
use crate::redact::Secret;

pub(super) fn validate_ledger(
    raw: RawLedger,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> LedgerConfig {
    if raw.channel_capacity == 0 || raw.batch_size == 0 {
        problems.push(problem(
            "ledger.channel_capacity",
            "channel_capacity and batch_size must be at least 1",
            "use the defaults (65536 and 512)",
        ));
    }
    if raw.channel_max_bytes < 1 << 20 {
        problems.push(problem(
            "ledger.channel_max_bytes",
            "is under 1 MiB: a burst of ordinary rows would go to the spool instead of the database",
            "use the default (67108864, 64 MiB) or at least 1048576",
        ));
    }
    if raw.retention_days == Some(0) {
        problems.push(problem(
            "ledger.retention_days",
            "0 would delete every row as soon as it is written",
            "use at least 1, or remove the key to keep every row",
        ));
    }
    let url = match (&raw.url, &raw.url_env) {
        (Some(_), Some(_)) => {
            problems.push(problem(
                "ledger.url",
                "is set together with ledger.url_env",
                "keep one; url_env keeps the password out of the file",
            ));
            None
        }
        (Some(url), None) => Some(url.expose().clone()),
        (None, Some(var)) => match env(var) {
            Some(url) if !url.is_empty() => Some(url),
            _ => {
                problems.push(problem(
                    "ledger.url_env",
                    format!("environment variable `{var}` is not set"),
                    format!("export {var}=postgres://..., or remove ledger.url_env to use the SQLite file"),
                ));
                None
            }
        },
        (None, None) => None,
    };
    if let Some(url) = &url {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
            || url.parse::<tokio_postgres::Config>().is_err()
        {
            problems.push(problem(
                "ledger.url",
                "is not a PostgreSQL URL",
                "use postgres://user:password@host:5432/dbname",
            ));
        }
    }
    if raw.enabled && url.is_none() && raw.path.trim().is_empty() {
        problems.push(problem(
            "ledger.path",
            "is empty",
            "give a file path such as \"data/ledger.sqlite\", or set enabled = false",
        ));
    }
    let store = match (raw.enabled, url) {
        (false, _) => None,
        (true, Some(url)) => Some(LedgerStore::Postgres { url: Secret::new(url) }),
        (true, None) => Some(LedgerStore::Sqlite(PathBuf::from(&raw.path))),
    };
    let spool = match (&raw.spool, &store) {
        (Some(path), _) if path.is_empty() => None,
        (Some(path), _) => Some(PathBuf::from(path)),
        (None, Some(LedgerStore::Sqlite(path))) => Some(crate::ledger::spool::Spool::default_path(path)),
        (None, _) => None,
    };
    let tenant_header =
        http::HeaderName::from_bytes(raw.tenant_header.to_ascii_lowercase().as_bytes()).unwrap_or_else(|_| {
            problems.push(problem(
                "ledger.tenant_header",
                format!("`{}` is not a header name", raw.tenant_header),
                "use a name such as \"x-ecoroute-tenant\"",
            ));
            http::HeaderName::from_static("x-ecoroute-tenant")
        });
    LedgerConfig {
        store,
        spool,
        store_prompts: raw.store_prompts,
        tenant_header,
        channel_capacity: raw.channel_capacity,
        channel_max_bytes: raw.channel_max_bytes,
        batch_size: raw.batch_size,
        retention: raw
            .retention_days
            .map(|days| std::time::Duration::from_secs(u64::from(days) * 86_400)),
    }
}
