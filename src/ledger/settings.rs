//! The ledger's settings, validated from `[ledger]` by the config module. The ledger owns these
//! types so that it does not depend on the config that builds them.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::redact::{ser, Secret};

/// Where the ledger is kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerStore {
    Sqlite(PathBuf),
    /// Shared by a fleet of proxies. The URL may carry a password.
    Postgres {
        url: Secret<String>,
    },
}

impl LedgerStore {
    /// A fleet's shared ledger.
    pub fn postgres(url: impl Into<String>) -> LedgerStore {
        LedgerStore::Postgres {
            url: Secret::new(url.into()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LedgerConfig {
    /// `None` when the ledger is disabled.
    pub store: Option<LedgerStore>,
    /// Rows the database cannot take go here, to be replayed; `None` drops (and counts) them.
    pub spool: Option<PathBuf>,
    pub store_prompts: bool,
    /// Request header that names the tenant; without it the tenant is a hash of the API key.
    #[serde(serialize_with = "ser::display")]
    pub tenant_header: http::HeaderName,
    pub channel_capacity: usize,
    /// The most the queued rows may hold in memory, in bytes.
    pub channel_max_bytes: usize,
    pub batch_size: usize,
    /// Rows older than this are deleted by the ledger writer; `None` keeps every row.
    #[serde(rename = "retention_days", serialize_with = "ser::opt_days")]
    pub retention: Option<Duration>,
}
