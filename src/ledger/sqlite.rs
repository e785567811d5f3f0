//! SQLite storage for the ledger: schema, migrations, batched inserts. WAL mode lets `report` and
//! other readers work while the proxy writes.

use std::path::Path;

use rusqlite::{params, Connection};

use super::LedgerRecord;
use crate::Error;

pub const SCHEMA_VERSION: i64 = 1;

fn db_err(context: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |e| Error::Ledger(format!("{context}: {e}"))
}

/// Opens the ledger database, creating the file, its folder and the schema if needed.
pub fn open(path: &Path) -> Result<Connection, Error> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    let conn = Connection::open(path).map_err(|e| Error::Ledger(format!("opening {}: {e}", path.display())))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(db_err("enabling WAL"))?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(db_err("setting synchronous"))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db_err("setting busy_timeout"))?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db_err("reading the schema version"))?;
    if version > SCHEMA_VERSION {
        return Err(Error::Ledger(format!(
            "{} has schema version {version}, newer than this ecoroute ({SCHEMA_VERSION}); upgrade ecoroute or use another ledger.path",
            path.display()
        )));
    }
    if version < 1 {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS requests (
                id INTEGER PRIMARY KEY,
                ts_ms INTEGER NOT NULL,
                request_id TEXT NOT NULL,
                path TEXT NOT NULL,
                route TEXT NOT NULL,
                reason TEXT NOT NULL,
                class TEXT,
                confidence REAL,
                escalated INTEGER NOT NULL,
                model TEXT,
                status INTEGER NOT NULL,
                stream INTEGER NOT NULL,
                prompt_tokens INTEGER,
                completion_tokens INTEGER,
                usage_source TEXT NOT NULL,
                latency_ms REAL NOT NULL,
                upstream_ms REAL,
                search_ms REAL,
                answer_source TEXT,
                prompt TEXT,
                error TEXT
            );
            CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts_ms);
            PRAGMA user_version = 1;",
        )
        .map_err(db_err("creating the schema"))?;
    }
    Ok(conn)
}

pub fn insert_batch(conn: &mut Connection, rows: &[Box<LedgerRecord>]) -> Result<(), Error> {
    let tx = conn.transaction().map_err(db_err("starting a transaction"))?;
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO requests (ts_ms, request_id, path, route, reason, class, confidence, escalated, model, status,
                    stream, prompt_tokens, completion_tokens, usage_source, latency_ms, upstream_ms, search_ms,
                    answer_source, prompt, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
            )
            .map_err(db_err("preparing the insert"))?;
        for r in rows {
            insert
                .execute(params![
                    r.ts_ms,
                    r.request_id,
                    r.path,
                    r.route,
                    r.reason,
                    r.class,
                    r.confidence,
                    r.escalated,
                    r.model,
                    r.status,
                    r.stream,
                    r.prompt_tokens,
                    r.completion_tokens,
                    r.usage_source,
                    r.latency_ms,
                    r.upstream_ms,
                    r.search_ms,
                    r.answer_source,
                    r.prompt,
                    r.error,
                ])
                .map_err(db_err("inserting a row"))?;
        }
    }
    tx.commit().map_err(db_err("committing"))
}

pub fn read_all(conn: &Connection) -> Result<Vec<LedgerRecord>, Error> {
    let mut stmt = conn
        .prepare(
            "SELECT ts_ms, request_id, path, route, reason, class, confidence, escalated, model, status, stream,
                prompt_tokens, completion_tokens, usage_source, latency_ms, upstream_ms, search_ms, answer_source, prompt, error
             FROM requests ORDER BY id",
        )
        .map_err(db_err("preparing the query"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(LedgerRecord {
                ts_ms: r.get(0)?,
                request_id: r.get(1)?,
                path: r.get(2)?,
                route: r.get(3)?,
                reason: r.get(4)?,
                class: r.get(5)?,
                confidence: r.get(6)?,
                escalated: r.get(7)?,
                model: r.get(8)?,
                status: r.get(9)?,
                stream: r.get(10)?,
                prompt_tokens: r.get(11)?,
                completion_tokens: r.get(12)?,
                usage_source: r.get(13)?,
                latency_ms: r.get(14)?,
                upstream_ms: r.get(15)?,
                search_ms: r.get(16)?,
                answer_source: r.get(17)?,
                prompt: r.get(18)?,
                error: r.get(19)?,
            })
        })
        .map_err(db_err("reading rows"))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_err("reading a row"))
}
