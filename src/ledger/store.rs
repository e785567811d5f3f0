//! The database a ledger writes to (SQLite or PostgreSQL) and the reads reports make of it.

use serde::Serialize;

use super::{open_sqlite, postgres, sqlite, LedgerRecord, LedgerStore};
use crate::Error;

/// An open ledger database.
pub(crate) enum Store {
    Sqlite(rusqlite::Connection),
    Postgres(Box<::postgres::Client>),
}

impl Store {
    /// Opens (creating or migrating the schema). Blocking: call it off the async runtime (the
    /// PostgreSQL client refuses to run inside it).
    pub fn open(target: &LedgerStore) -> Result<Store, Error> {
        Ok(match target {
            LedgerStore::Sqlite(path) => Store::Sqlite(open_sqlite(path)?),
            LedgerStore::Postgres { url } => Store::Postgres(Box::new(postgres::open(url.expose())?)),
        })
    }

    pub(super) fn insert_batch(&mut self, rows: &[Box<LedgerRecord>]) -> Result<(), Error> {
        match self {
            Store::Sqlite(conn) => sqlite::insert_batch(conn, rows),
            Store::Postgres(client) => postgres::insert_batch(client, rows),
        }
    }

    pub(super) fn prune(&mut self, cutoff_ms: i64, limit: u32) -> Result<u64, Error> {
        match self {
            Store::Sqlite(conn) => sqlite::prune(conn, cutoff_ms, limit),
            Store::Postgres(client) => postgres::prune(client, cutoff_ms, limit),
        }
    }

    pub(super) fn record_settings(&mut self, hash: &str, settings_json: &str) -> Result<(), Error> {
        match self {
            Store::Sqlite(conn) => sqlite::record_settings(conn, hash, settings_json),
            Store::Postgres(client) => postgres::record_settings(client, hash, settings_json),
        }
    }

    /// Every settings hash the ledger has recorded, with the settings and when first seen.
    /// Cost and energy per tenant in the current day and month: `[usd_day, wh_day, usd_month,
    /// wh_month]`.
    fn budget_spend(&mut self, day_ms: i64, month_ms: i64) -> Result<Vec<sqlite::SpendRow>, Error> {
        match self {
            Store::Sqlite(conn) => sqlite::budget_spend(conn, day_ms, month_ms),
            Store::Postgres(client) => postgres::budget_spend(client, day_ms, month_ms),
        }
    }

    pub(crate) fn read_settings(&mut self) -> Result<Vec<StoredSettings>, Error> {
        let rows = match self {
            Store::Sqlite(conn) => sqlite::read_settings(conn)?,
            Store::Postgres(client) => postgres::read_settings(client)?,
        };
        Ok(rows
            .into_iter()
            .filter_map(|(hash, first_seen_ms, json)| {
                let settings = serde_json::from_str(&json).ok()?;
                Some(StoredSettings {
                    hash,
                    first_seen_ms,
                    settings,
                })
            })
            .collect())
    }

    pub(super) fn token_history(&mut self) -> Result<Vec<(String, f64, f64, u64)>, Error> {
        match self {
            Store::Sqlite(conn) => sqlite::token_history(conn),
            Store::Postgres(client) => postgres::token_history(client),
        }
    }

    /// Rows with `from_ms <= ts_ms < to_ms`, oldest first, the window applied by the database.
    pub(crate) fn read_range(&mut self, from_ms: i64, to_ms: i64) -> Result<Vec<LedgerRecord>, Error> {
        match self {
            Store::Sqlite(conn) => sqlite::read_range(conn, from_ms, to_ms),
            Store::Postgres(client) => postgres::read_range(client, from_ms, to_ms),
        }
    }
}

/// One recorded set of energy settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredSettings {
    pub hash: String,
    pub first_seen_ms: i64,
    pub settings: crate::energy::EnergySettings,
}

/// The rows of a ledger in a window, and the settings it has recorded: what a report needs.
pub fn read_store_with_settings(
    target: &LedgerStore,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
) -> Result<(Vec<LedgerRecord>, Vec<StoredSettings>), Error> {
    let target = target.clone();
    let (from_ms, to_ms) = (from_ms.unwrap_or(i64::MIN), to_ms.unwrap_or(i64::MAX));
    postgres::on_own_thread(move || {
        let mut store = Store::open(&target)?;
        Ok((store.read_range(from_ms, to_ms)?, store.read_settings()?))
    })
}

/// Every row of a ledger, oldest first; safe to call from anywhere (the work runs on its own thread).
pub fn read_store(target: &LedgerStore) -> Result<Vec<LedgerRecord>, Error> {
    read_store_range(target, None, None)
}

/// The rows of a ledger in a time window (`from_ms` included, `to_ms` not), oldest first.
pub(crate) fn read_store_range(
    target: &LedgerStore,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
) -> Result<Vec<LedgerRecord>, Error> {
    let target = target.clone();
    let (from_ms, to_ms) = (from_ms.unwrap_or(i64::MIN), to_ms.unwrap_or(i64::MAX));
    postgres::on_own_thread(move || Store::open(&target)?.read_range(from_ms, to_ms))
}

/// Spend per tenant and per inbound key so far this UTC day and month, by limit subject
/// (`tenant:a`, `key:b`; `[usd_day, wh_day, usd_month, wh_month]`), read from the ledger (a
/// fleet's PostgreSQL ledger: every replica's rows). Blocking; on its own thread, as PostgreSQL's
/// client needs.
pub(crate) fn budget_spend(target: &LedgerStore, now_ms: i64) -> Result<Vec<(String, [f64; 4])>, Error> {
    let target = target.clone();
    let (day_ms, month_ms) = crate::limits::period_starts(now_ms);
    let rows = postgres::on_own_thread(move || Store::open(&target)?.budget_spend(day_ms, month_ms))?;
    Ok(rows
        .into_iter()
        .map(|(kind, name, spent)| {
            let subject = if kind == "key" {
                crate::limits::key_subject(&name)
            } else {
                crate::limits::tenant_subject(&name)
            };
            (subject, spent)
        })
        .collect())
}
