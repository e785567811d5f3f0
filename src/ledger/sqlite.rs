//! SQLite storage for the ledger: schema, migrations, batched inserts. WAL mode lets `report` and
//! other readers work while the proxy writes.
//!
//! The energy figures are stored flat, one column per side × metric × bound, named like
//! `saved_energy_wh_central`, so that reports are plain `SUM`s and any SQL tool can read them.

use std::path::Path;

use rusqlite::{params_from_iter, types::Value, Connection, Row};

use super::{Accounting, LedgerRecord, RouteTaken, UsageSource};
use crate::classify::Mode;
use crate::classify::{Class, Route};
use crate::energy::{Impacts, Range, RequestCosts, METHOD_VERSION};
use crate::Error;

pub const SCHEMA_VERSION: i64 = 7;
pub(crate) const SIDES: [&str; 3] = ["actual", "counterfactual", "saved"];
pub(crate) const METRICS: [&str; 4] = ["energy_wh", "co2e_g", "water_ml", "cost_usd"];
pub(crate) const BOUNDS: [&str; 3] = ["low", "central", "high"];

/// The 36 figure columns, in storage order.
pub(crate) fn figure_columns() -> Vec<String> {
    columns_for(&SIDES)
}

/// The would-be saving of shadow-mode rows (schema v3): 12 columns `shadow_saved_…`.
pub(crate) fn shadow_columns() -> Vec<String> {
    columns_for(&["shadow_saved"])
}

fn columns_for(sides: &[&str]) -> Vec<String> {
    let mut out = Vec::with_capacity(sides.len() * 12);
    for side in sides {
        for metric in METRICS {
            for bound in BOUNDS {
                out.push(format!("{side}_{metric}_{bound}"));
            }
        }
    }
    out
}

const BASE_COLUMNS: [&str; 20] = [
    "ts_ms",
    "request_id",
    "path",
    "route",
    "reason",
    "class",
    "confidence",
    "escalated",
    "model",
    "status",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "usage_source",
    "latency_ms",
    "upstream_ms",
    "search_ms",
    "answer_source",
    "prompt",
    "error",
];
const V3_COLUMNS: [&str; 3] = ["mode", "shadow_route", "shadow_answer"];
/// v4: the settings a row was computed under (see the `energy_settings` table), whether its model
/// has a price, whether its GPU energy was measured (and how much), and the embodied part of its
/// actual CO2e.
const V4_COLUMNS: [(&str, &str); 12] = [
    ("settings_hash", "TEXT"),
    ("unpriced", "INTEGER"),
    ("energy_source", "TEXT"),
    ("measured_gpu_wh", "REAL"),
    ("actual_embodied_g_low", "REAL"),
    ("actual_embodied_g_central", "REAL"),
    ("actual_embodied_g_high", "REAL"),
    ("cache_origin", "TEXT"),
    ("requested_model", "TEXT"),
    ("tier_shadow_model", "TEXT"),
    ("tier_review_of", "TEXT"),
    ("review_answer", "TEXT"),
];

/// v5: the catalogue entry that priced the row and how its model name found it (`exact`,
/// `undated`, `family`, `default`), and the bounds of the avoided answer's length (its central is
/// `counterfactual_tokens`): a row is recomputed from itself, without replaying the history.
const V5_COLUMNS: [(&str, &str); 4] = [
    ("model_entry", "TEXT"),
    ("model_match", "TEXT"),
    ("counterfactual_tokens_low", "REAL"),
    ("counterfactual_tokens_high", "REAL"),
];

/// A column a migration adds: its name and SQL type.
type Column = (&'static str, &'static str);

/// v6: the upstream deployment that answered, the failed tries before it, and every try
/// (`east:503,west:ok`).
const V6_COLUMNS: [(&str, &str); 3] = [("deployment", "TEXT"), ("failed_tries", "INTEGER"), ("tries", "TEXT")];

/// v7: the name of the inbound key (`[[keys]].name`, never the key) a request came with, so a
/// key's budget is read back from the ledger like a tenant's: after a restart, and across a fleet.
const V7_COLUMNS: [(&str, &str); 1] = [("api_key", "TEXT")];

/// The v7 columns, for the PostgreSQL migration.
pub(crate) fn v7_columns() -> Vec<String> {
    V7_COLUMNS.iter().map(|(c, _)| c.to_string()).collect()
}

/// The v6 columns, for the PostgreSQL migration.
pub(crate) fn v6_columns() -> Vec<String> {
    V6_COLUMNS.iter().map(|(c, _)| c.to_string()).collect()
}

/// The v5 columns, for the PostgreSQL migration.
pub(crate) fn v5_columns() -> Vec<String> {
    V5_COLUMNS.iter().map(|(c, _)| c.to_string()).collect()
}

/// v4: the would-be saving of a model tier in shadow mode, 12 columns `tier_shadow_saved_…`.
pub(crate) fn tier_shadow_columns() -> Vec<String> {
    columns_for(&["tier_shadow_saved"])
}

/// One row per settings hash: the energy settings as JSON, and when this ledger first saw them.
pub(crate) const SETTINGS_TABLE_SQL: &str =
    "CREATE TABLE IF NOT EXISTS energy_settings (hash TEXT PRIMARY KEY, first_seen_ms BIGINT NOT NULL, settings TEXT NOT NULL)";

/// The v4 columns, for the PostgreSQL migration.
pub(crate) fn v4_columns() -> Vec<String> {
    V4_COLUMNS
        .iter()
        .map(|(c, _)| c.to_string())
        .chain(tier_shadow_columns())
        .collect()
}
const V2_COLUMNS: [&str; 7] = [
    "tenant",
    "proxy_cpu_us",
    "search_cpu_us",
    "model_fallback",
    "counterfactual_tokens",
    "tokens_from_history",
    "method_version",
];

fn db_err(context: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |e| {
        let corrupt = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        );
        if corrupt {
            Error::LedgerCorrupt {
                context: context.to_string(),
                source: Some(e.into()),
            }
        } else {
            Error::ledger_from(context, e)
        }
    }
}

/// Moves a corrupt ledger (with its WAL and shared-memory files) aside as
/// `<ledger>.corrupt-<unix ms>`, never deleting it, so the proxy can start a fresh one and the old
/// rows can still be recovered by hand (`sqlite3 … .recover`). Returns the new name.
pub(crate) fn move_aside(path: &Path) -> Result<std::path::PathBuf, Error> {
    let stamp = super::now_ms();
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".corrupt-{stamp}"));
    let aside = std::path::PathBuf::from(aside);
    std::fs::rename(path, &aside)
        .map_err(|e| Error::io(format!("moving the corrupt ledger {} aside", path.display()), e))?;
    for suffix in ["-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(suffix);
        let mut to = aside.as_os_str().to_owned();
        to.push(suffix);
        if std::path::Path::new(&from).exists() {
            std::fs::rename(&from, &to).map_err(|e| Error::io("moving the corrupt ledger's WAL aside", e))?;
        }
    }
    Ok(aside)
}

/// Opens the ledger database, creating the file, its folder and the schema, or migrating an older one.
pub fn open(path: &Path) -> Result<Connection, Error> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    let conn = Connection::open(path).map_err(|e| Error::ledger_from(format!("opening {}", path.display()), e))?;
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
        return Err(Error::ledger(format!(
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
    if version < 2 {
        // v2: tenant, measured CPU time, and the energy figures. Older rows keep NULLs there.
        let mut sql = String::from("BEGIN;\n");
        for (column, kind) in [
            ("tenant", "TEXT"),
            ("proxy_cpu_us", "REAL"),
            ("search_cpu_us", "REAL"),
            ("model_fallback", "INTEGER"),
            ("counterfactual_tokens", "REAL"),
            ("tokens_from_history", "INTEGER"),
            ("method_version", "TEXT"),
        ] {
            sql.push_str(&format!("ALTER TABLE requests ADD COLUMN {column} {kind};\n"));
        }
        for column in figure_columns() {
            sql.push_str(&format!("ALTER TABLE requests ADD COLUMN {column} REAL;\n"));
        }
        sql.push_str(
            "CREATE INDEX IF NOT EXISTS requests_tenant ON requests (tenant);\nPRAGMA user_version = 2;\nCOMMIT;",
        );
        conn.execute_batch(&sql)
            .map_err(db_err("migrating the schema to version 2"))?;
    }
    if version < 3 {
        // v3: routing mode and shadow-mode outcomes.
        let mut sql = String::from("BEGIN;\n");
        for column in V3_COLUMNS {
            sql.push_str(&format!("ALTER TABLE requests ADD COLUMN {column} TEXT;\n"));
        }
        for column in shadow_columns() {
            sql.push_str(&format!("ALTER TABLE requests ADD COLUMN {column} REAL;\n"));
        }
        sql.push_str("PRAGMA user_version = 3;\nCOMMIT;");
        conn.execute_batch(&sql)
            .map_err(db_err("migrating the schema to version 3"))?;
    }
    if version < 4 {
        let mut sql = String::from("BEGIN;\n");
        for (column, kind) in V4_COLUMNS {
            sql.push_str(&format!("ALTER TABLE requests ADD COLUMN {column} {kind};\n"));
        }
        for column in tier_shadow_columns() {
            sql.push_str(&format!("ALTER TABLE requests ADD COLUMN {column} REAL;\n"));
        }
        sql.push_str(SETTINGS_TABLE_SQL);
        sql.push_str(";\nPRAGMA user_version = 4;\nCOMMIT;");
        conn.execute_batch(&sql)
            .map_err(db_err("migrating the schema to version 4"))?;
    }
    // v5 onwards only add columns: one transaction per version, each setting its number.
    let added: [(i64, &[Column], &str); 3] = [
        (5, &V5_COLUMNS, "migrating the schema to version 5"),
        (6, &V6_COLUMNS, "migrating the schema to version 6"),
        (7, &V7_COLUMNS, "migrating the schema to version 7"),
    ];
    for (to, columns, context) in added {
        if version >= to {
            continue;
        }
        let mut sql = String::from("BEGIN;\n");
        for (column, kind) in columns {
            sql.push_str(&format!("ALTER TABLE requests ADD COLUMN {column} {kind};\n"));
        }
        sql.push_str(&format!("PRAGMA user_version = {to};\nCOMMIT;"));
        conn.execute_batch(&sql).map_err(db_err(context))?;
    }
    Ok(conn)
}

/// Every stored column, in the order of [`row_values`].
pub(crate) fn all_columns() -> Vec<String> {
    BASE_COLUMNS
        .iter()
        .chain(V2_COLUMNS.iter())
        .map(|c| c.to_string())
        .chain(figure_columns())
        .chain(V3_COLUMNS.iter().map(|c| c.to_string()))
        .chain(shadow_columns())
        .chain(V4_COLUMNS.iter().map(|(c, _)| c.to_string()))
        .chain(tier_shadow_columns())
        .chain(v5_columns())
        .chain(v6_columns())
        .chain(v7_columns())
        .collect()
}

/// How a column is stored; the same three kinds in SQLite and PostgreSQL, so both hold the same
/// values and reports run the same SQL on either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Integer,
    Real,
    Text,
}

pub(crate) fn kind_of(column: &str) -> Kind {
    match column {
        "ts_ms"
        | "escalated"
        | "status"
        | "stream"
        | "prompt_tokens"
        | "completion_tokens"
        | "model_fallback"
        | "tokens_from_history"
        | "unpriced"
        | "failed_tries" => Kind::Integer,
        "request_id" | "path" | "route" | "reason" | "class" | "model" | "usage_source" | "answer_source"
        | "prompt" | "error" | "tenant" | "method_version" | "mode" | "shadow_route" | "shadow_answer"
        | "settings_hash" | "energy_source" | "cache_origin" | "requested_model" | "tier_shadow_model"
        | "tier_review_of" | "review_answer" | "model_entry" | "model_match" | "deployment" | "tries" | "api_key" => {
            Kind::Text
        }
        _ => Kind::Real,
    }
}

fn impacts_values(i: &Impacts) -> [f64; 12] {
    let r = [i.energy_wh, i.co2e_g, i.water_ml, i.cost_usd];
    let mut out = [0.0; 12];
    for (k, range) in r.iter().enumerate() {
        out[k * 3] = range.low;
        out[k * 3 + 1] = range.central;
        out[k * 3 + 2] = range.high;
    }
    out
}

/// A record as column values, in the order of [`all_columns`].
pub(crate) fn row_values(r: &LedgerRecord) -> Vec<Value> {
    let opt_u32 = |v: Option<u32>| v.map_or(Value::Null, |n| Value::Integer(i64::from(n)));
    let opt_f64 = |v: Option<f64>| v.map_or(Value::Null, Value::Real);
    let opt_text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    let mut values = vec![
        Value::Integer(r.ts_ms),
        Value::Text(r.request_id.clone()),
        Value::Text(r.path.clone()),
        Value::Text(r.route.as_str().to_string()),
        Value::Text(r.reason.clone()),
        opt_text(&r.class.map(|c| c.as_str().to_string())),
        opt_f64(r.confidence),
        Value::Integer(i64::from(r.escalated)),
        opt_text(&r.model),
        Value::Integer(i64::from(r.status)),
        Value::Integer(i64::from(r.stream)),
        opt_u32(r.prompt_tokens),
        opt_u32(r.completion_tokens),
        Value::Text(r.usage_source.as_str().to_string()),
        Value::Real(r.latency_ms),
        opt_f64(r.upstream_ms),
        opt_f64(r.search_ms),
        opt_text(&r.answer_source),
        opt_text(&r.prompt),
        opt_text(&r.error),
        opt_text(&r.tenant),
        Value::Real(r.proxy_cpu_us),
        opt_f64(r.search_cpu_us),
    ];
    match &r.accounting {
        Some(a) => {
            values.push(Value::Integer(i64::from(a.costs.model_fallback)));
            values.push(opt_f64(a.counterfactual_tokens));
            values.push(Value::Integer(i64::from(a.tokens_from_history)));
            values.push(Value::Text(METHOD_VERSION.into()));
            for side in [&a.costs.actual, &a.costs.counterfactual, &a.costs.saved] {
                values.extend(impacts_values(side).into_iter().map(Value::Real));
            }
        }
        None => values.extend(std::iter::repeat_n(Value::Null, 4 + 36)),
    }
    values.push(Value::Text(r.mode.as_str().to_string()));
    values.push(opt_text(&r.shadow_route.map(|route| route.as_str().to_string())));
    values.push(opt_text(&r.shadow_answer));
    match r.accounting.as_ref().and_then(|a| a.shadow_saved) {
        Some(saved) => values.extend(impacts_values(&saved).into_iter().map(Value::Real)),
        None => values.extend(std::iter::repeat_n(Value::Null, 12)),
    }
    values.push(opt_text(&r.settings_hash));
    match &r.accounting {
        Some(a) => {
            let c = &a.costs;
            values.push(Value::Integer(i64::from(c.unpriced)));
            values.push(Value::Text(if c.measured { "measured" } else { "estimated" }.into()));
            values.push(opt_f64(r.measured_gpu_wh));
            let e = c.actual_embodied_g;
            values.extend([e.low, e.central, e.high].map(Value::Real));
        }
        None => values.extend(std::iter::repeat_n(Value::Null, V4_COLUMNS.len() - 6)),
    }
    values.push(opt_text(&r.cache_origin.map(|o| o.as_str().to_string())));
    values.push(opt_text(&r.requested_model));
    values.push(opt_text(&r.tier_shadow_model));
    values.push(opt_text(&r.tier_review_of));
    values.push(opt_text(&r.review_answer));
    match r.accounting.as_ref().and_then(|a| a.tier_shadow_saved) {
        Some(saved) => values.extend(impacts_values(&saved).into_iter().map(Value::Real)),
        None => values.extend(std::iter::repeat_n(Value::Null, 12)),
    }
    values.push(opt_text(&r.model_entry));
    values.push(opt_text(&r.model_match));
    let bounds = r.accounting.as_ref().and_then(|a| a.counterfactual_tokens_bounds);
    values.push(opt_f64(bounds.map(|b| b[0])));
    values.push(opt_f64(bounds.map(|b| b[1])));
    values.push(opt_text(&r.deployment));
    values.push(Value::Integer(i64::from(r.failed_tries)));
    values.push(opt_text(&r.tries));
    values.push(opt_text(&r.api_key));
    values
}

/// The insert statement, built once: `$n` placeholders suit both SQLite and PostgreSQL.
pub static INSERT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let columns = all_columns();
    let placeholders = (1..=columns.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("INSERT INTO requests ({}) VALUES ({placeholders})", columns.join(", "))
});

/// Deletes up to `limit` rows older than `cutoff_ms`, in one short transaction; returns how many.
pub(crate) fn prune(conn: &mut Connection, cutoff_ms: i64, limit: u32) -> Result<u64, Error> {
    let deleted = conn
        .execute(
            "DELETE FROM requests WHERE rowid IN (SELECT rowid FROM requests WHERE ts_ms < ?1 LIMIT ?2)",
            rusqlite::params![cutoff_ms, limit],
        )
        .map_err(db_err("pruning old rows"))?;
    Ok(deleted as u64)
}

pub(crate) fn insert_batch(conn: &mut Connection, rows: &[Box<LedgerRecord>]) -> Result<(), Error> {
    let sql = INSERT_SQL.as_str();
    let tx = conn.transaction().map_err(db_err("starting a transaction"))?;
    {
        let mut insert = tx.prepare_cached(sql).map_err(db_err("preparing the insert"))?;
        for r in rows {
            insert
                .execute(params_from_iter(row_values(r)))
                .map_err(db_err("inserting a row"))?;
        }
    }
    tx.commit().map_err(db_err("committing"))
}

fn read_impacts(v: &[Value], first: usize) -> Option<Impacts> {
    let mut figures = [0.0; 12];
    for (k, slot) in figures.iter_mut().enumerate() {
        *slot = real(v, first + k)?;
    }
    let range = |i: usize| Range {
        low: figures[i],
        central: figures[i + 1],
        high: figures[i + 2],
    };
    Some(Impacts {
        energy_wh: range(0),
        co2e_g: range(3),
        water_ml: range(6),
        cost_usd: range(9),
    })
}

fn real(v: &[Value], i: usize) -> Option<f64> {
    match v.get(i) {
        Some(Value::Real(x)) => Some(*x),
        Some(Value::Integer(n)) => Some(*n as f64),
        _ => None,
    }
}

fn integer(v: &[Value], i: usize) -> Option<i64> {
    match v.get(i) {
        Some(Value::Integer(n)) => Some(*n),
        Some(Value::Real(x)) => Some(*x as i64),
        _ => None,
    }
}

fn text(v: &[Value], i: usize) -> Option<String> {
    match v.get(i) {
        Some(Value::Text(s)) => Some(s.clone()),
        _ => None,
    }
}

/// A record from its column values (in the order of [`all_columns`]), whichever database they
/// came from.
pub(crate) fn record_from_values(v: &[Value]) -> LedgerRecord {
    let figures = BASE_COLUMNS.len() + V2_COLUMNS.len();
    let v4 = figures + 36 + V3_COLUMNS.len() + 12;
    let v5 = v4 + V4_COLUMNS.len() + 12;
    let v6 = v5 + V5_COLUMNS.len();
    let flag = |i: usize| integer(v, i).unwrap_or(0) != 0;
    let embodied = match (real(v, v4 + 4), real(v, v4 + 5), real(v, v4 + 6)) {
        (Some(low), Some(central), Some(high)) => Range { low, central, high },
        _ => Range::default(),
    };
    let tokens = |i: usize| integer(v, i).and_then(|n| u32::try_from(n).ok());
    let accounting = match (
        read_impacts(v, figures),
        read_impacts(v, figures + 12),
        read_impacts(v, figures + 24),
    ) {
        (Some(actual), Some(counterfactual), Some(saved)) => Some(Accounting {
            costs: RequestCosts {
                actual,
                counterfactual,
                saved,
                model_fallback: flag(23),
                actual_embodied_g: embodied,
                unpriced: flag(v4 + 1),
                measured: text(v, v4 + 2).is_some_and(|t| t == "measured"),
            },
            counterfactual_tokens: real(v, 24),
            tokens_from_history: flag(25),
            shadow_saved: read_impacts(v, figures + 36 + 3),
            tier_shadow_saved: read_impacts(v, v4 + V4_COLUMNS.len()),
            counterfactual_tokens_bounds: real(v, v5 + 2).zip(real(v, v5 + 3)).map(|(low, high)| [low, high]),
        }),
        _ => None,
    };
    LedgerRecord {
        ts_ms: integer(v, 0).unwrap_or(0),
        request_id: text(v, 1).unwrap_or_default(),
        path: text(v, 2).unwrap_or_default(),
        route: text(v, 3).and_then(|t| RouteTaken::parse(&t)).unwrap_or_default(),
        reason: text(v, 4).unwrap_or_default(),
        class: text(v, 5).and_then(|t| Class::parse(&t)),
        confidence: real(v, 6),
        escalated: flag(7),
        model: text(v, 8),
        status: integer(v, 9).and_then(|n| u16::try_from(n).ok()).unwrap_or(0),
        stream: flag(10),
        prompt_tokens: tokens(11),
        completion_tokens: tokens(12),
        usage_source: text(v, 13).and_then(|t| UsageSource::parse(&t)).unwrap_or_default(),
        latency_ms: real(v, 14).unwrap_or(0.0),
        upstream_ms: real(v, 15),
        search_ms: real(v, 16),
        answer_source: text(v, 17),
        prompt: text(v, 18),
        error: text(v, 19),
        tenant: text(v, 20),
        proxy_cpu_us: real(v, 21).unwrap_or(0.0),
        search_cpu_us: real(v, 22),
        mode: text(v, figures + 36).and_then(|t| Mode::parse(&t)).unwrap_or_default(),
        shadow_route: text(v, figures + 37).and_then(|t| Route::parse(&t)),
        decided_by: None,
        shadow_answer: text(v, figures + 38),
        settings_hash: text(v, v4),
        measured_gpu_wh: real(v, v4 + 3),
        cache_origin: text(v, v4 + 7).and_then(|t| super::CacheOrigin::parse(&t)),
        requested_model: text(v, v4 + 8),
        tier_shadow_model: text(v, v4 + 9),
        tier_review_of: text(v, v4 + 10),
        review_answer: text(v, v4 + 11),
        model_entry: text(v, v5),
        model_match: text(v, v5 + 1),
        deployment: text(v, v6),
        failed_tries: integer(v, v6 + 1).and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
        tries: text(v, v6 + 2),
        api_key: text(v, v6 + 3),
        estimated_tokens: None,
        accounting,
    }
}

pub(crate) fn read_all(conn: &Connection) -> Result<Vec<LedgerRecord>, Error> {
    read_range(conn, i64::MIN, i64::MAX)
}

/// Rows with `from_ms <= ts_ms < to_ms`, oldest first; the window is applied by the database (the
/// `ts_ms` index), so a report over a day of a large ledger reads a day.
pub(crate) fn read_range(conn: &Connection, from_ms: i64, to_ms: i64) -> Result<Vec<LedgerRecord>, Error> {
    let columns = all_columns();
    let sql = format!(
        "SELECT {} FROM requests WHERE ts_ms >= ?1 AND ts_ms < ?2 ORDER BY id",
        columns.join(", ")
    );
    let mut stmt = conn.prepare(&sql).map_err(db_err("preparing the query"))?;
    let rows = stmt
        .query_map(rusqlite::params![from_ms, to_ms], |r: &Row<'_>| {
            let values = (0..columns.len())
                .map(|i| r.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<Value>>>()?;
            Ok(record_from_values(&values))
        })
        .map_err(db_err("reading rows"))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_err("reading a row"))
}

/// Records the settings under `hash` once (the first writer to see them keeps its timestamp).
pub(crate) fn record_settings(conn: &Connection, hash: &str, settings_json: &str) -> Result<(), Error> {
    conn.execute(
        "INSERT OR IGNORE INTO energy_settings (hash, first_seen_ms, settings) VALUES (?1, ?2, ?3)",
        rusqlite::params![hash, super::now_ms(), settings_json],
    )
    .map_err(db_err("recording the energy settings"))?;
    Ok(())
}

/// Every recorded settings hash with its JSON and first use.
pub(crate) fn read_settings(conn: &Connection) -> Result<Vec<(String, i64, String)>, Error> {
    let mut stmt = conn
        .prepare("SELECT hash, first_seen_ms, settings FROM energy_settings ORDER BY first_seen_ms")
        .map_err(db_err("preparing the settings query"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(db_err("reading the settings"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(db_err("reading a settings row"))
}

/// Upstream-reported output tokens of successful LLM answers to lookups, per model: mean, mean
/// square and count.
pub(crate) fn token_history(conn: &Connection) -> Result<Vec<(String, f64, f64, u64)>, Error> {
    let mut stmt = conn
        .prepare(
            "SELECT model, AVG(completion_tokens), AVG(completion_tokens * completion_tokens * 1.0), COUNT(*)
             FROM requests
             WHERE route = 'llm' AND status = 200 AND usage_source = 'upstream' AND class = 'lookup'
               AND completion_tokens IS NOT NULL AND model IS NOT NULL
             GROUP BY model",
        )
        .map_err(db_err("preparing the history query"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, f64>(1)?,
                r.get::<_, f64>(2)?,
                r.get::<_, i64>(3)?.max(0) as u64,
            ))
        })
        .map_err(db_err("reading the history"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(db_err("reading a history row"))
}

/// Spend per tenant: cost and energy (actual, central) since `day_ms` and since `month_ms`.
pub(crate) fn budget_spend(conn: &Connection, day_ms: i64, month_ms: i64) -> Result<Vec<SpendRow>, Error> {
    let mut stmt = conn
        .prepare(super::BUDGET_SPEND_SQL)
        .map_err(db_err("preparing the spend query"))?;
    let rows = stmt
        .query_map(rusqlite::params![day_ms, month_ms], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
            ))
        })
        .map_err(db_err("reading the spend"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(db_err("reading a spend row"))
}

/// A row of [`super::BUDGET_SPEND_SQL`]: `tenant` or `key`, its name, and its spend.
pub(crate) type SpendRow = (String, String, [f64; 4]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_window_is_read_from_the_database_not_filtered_after() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("l.sqlite")).unwrap();
        let rows: Vec<Box<LedgerRecord>> = (0..10)
            .map(|i| {
                Box::new(LedgerRecord {
                    ts_ms: i * 1000,
                    request_id: format!("r{i}"),
                    ..LedgerRecord::default()
                })
            })
            .collect();
        insert_batch(&mut conn, &rows).unwrap();
        let ids: Vec<String> = read_range(&conn, 3000, 7000)
            .unwrap()
            .into_iter()
            .map(|r| r.request_id)
            .collect();
        assert_eq!(ids, ["r3", "r4", "r5", "r6"], "from included, to excluded");
        assert_eq!(read_all(&conn).unwrap().len(), 10);
    }

    #[test]
    fn a_version_5_ledger_gains_the_upstream_tries_and_the_keys_name_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v5.sqlite");
        {
            // A v5 ledger: today's schema without the v6 and v7 columns, with a row in it.
            let conn = open(&path).unwrap();
            let mut sql = String::new();
            for (column, _) in V6_COLUMNS.iter().chain(&V7_COLUMNS) {
                sql.push_str(&format!("ALTER TABLE requests DROP COLUMN {column};\n"));
            }
            sql.push_str(
                "INSERT INTO requests (ts_ms, request_id, path, route, reason, escalated, status, stream, usage_source, latency_ms)
                 VALUES (1, 'old', '/v1/chat/completions', 'llm', 'r', 0, 200, 0, 'none', 5.0);
                 PRAGMA user_version = 5;",
            );
            conn.execute_batch(&sql).unwrap();
        }
        let mut conn = open(&path).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let new = LedgerRecord {
            ts_ms: 2,
            request_id: "new".into(),
            api_key: Some("ci".into()),
            deployment: Some("west".into()),
            failed_tries: 1,
            tries: Some("east:503,west:ok".into()),
            ..LedgerRecord::default()
        };
        insert_batch(&mut conn, &[Box::new(new)]).unwrap();
        let rows = read_all(&conn).unwrap();
        assert_eq!(
            (
                rows[0].deployment.as_deref(),
                rows[0].failed_tries,
                rows[0].tries.as_deref()
            ),
            (None, 0, None),
            "a row from before has no tries"
        );
        assert_eq!(
            (
                rows[1].deployment.as_deref(),
                rows[1].failed_tries,
                rows[1].tries.as_deref()
            ),
            (Some("west"), 1, Some("east:503,west:ok"))
        );
        assert_eq!(
            (rows[0].api_key.as_deref(), rows[1].api_key.as_deref()),
            (None, Some("ci"))
        );
    }

    #[test]
    fn a_version_1_ledger_is_migrated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE requests (id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, request_id TEXT NOT NULL,
                 path TEXT NOT NULL, route TEXT NOT NULL, reason TEXT NOT NULL, class TEXT, confidence REAL,
                 escalated INTEGER NOT NULL, model TEXT, status INTEGER NOT NULL, stream INTEGER NOT NULL,
                 prompt_tokens INTEGER, completion_tokens INTEGER, usage_source TEXT NOT NULL, latency_ms REAL NOT NULL,
                 upstream_ms REAL, search_ms REAL, answer_source TEXT, prompt TEXT, error TEXT);
                 INSERT INTO requests (ts_ms, request_id, path, route, reason, escalated, status, stream, usage_source, latency_ms)
                 VALUES (1, 'old', '/v1/chat/completions', 'llm', 'r', 0, 200, 0, 'none', 5.0);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let conn = open(&path).unwrap();
        let rows = read_all(&conn).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].request_id, "old");
        assert_eq!(rows[0].accounting, None, "old rows have no figures, and say so");
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }
}
