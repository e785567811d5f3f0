//! PostgreSQL storage for the ledger, so a fleet of proxies writes one ledger and `report` reads it.
//! Same table, columns and values as the SQLite ledger (see [`super::sqlite`]); only the column
//! types are spelled the PostgreSQL way. Each proxy's writer thread holds one connection and writes
//! a batch per transaction; rows carry their own `request_id`, so proxies never collide.
//!
//! The `postgres` client runs its own small runtime, which must not start inside tokio's, so every
//! call here happens on a plain thread: the writer thread, or one started by [`on_own_thread`].

use postgres::types::ToSql;
use postgres::{Client, NoTls};
use rusqlite::types::Value;

use super::sqlite::{
    all_columns, kind_of, record_from_values, row_values, v4_columns, v5_columns, v6_columns, v7_columns, Kind,
    SpendRow, INSERT_SQL, SCHEMA_VERSION, SETTINGS_TABLE_SQL,
};
use super::LedgerRecord;
use crate::Error;

fn db_err(context: &'static str) -> impl Fn(postgres::Error) -> Error {
    move |e| Error::ledger_from(context, e)
}

/// Any number: a fleet's proxies take this advisory lock while creating or migrating the schema, so
/// two starting at once do not race.
const SCHEMA_LOCK: i64 = 0x6563_6f72_6f75_7465;

fn sql_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Integer => "BIGINT",
        Kind::Real => "DOUBLE PRECISION",
        Kind::Text => "TEXT",
    }
}

/// Runs `f` on a fresh thread and waits for it, so the blocking client never runs inside tokio.
pub(crate) fn on_own_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    std::thread::Builder::new()
        .name("ecoroute-pg".into())
        .spawn(f)
        .map_err(|e| Error::io("starting a PostgreSQL thread", e))?
        .join()
        .map_err(|_| Error::ledger("the PostgreSQL thread panicked"))?
}

/// Connects and creates (or checks) the schema.
pub fn open(url: &str) -> Result<Client, Error> {
    let mut client = Client::connect(url, NoTls).map_err(db_err("connecting to the PostgreSQL ledger"))?;
    let mut tx = client.transaction().map_err(db_err("starting a transaction"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .map_err(db_err("taking the schema lock"))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS ecoroute_schema (version BIGINT NOT NULL)")
        .map_err(db_err("creating the schema table"))?;
    let version: Option<i64> = tx
        .query_opt("SELECT max(version) FROM ecoroute_schema", &[])
        .map_err(db_err("reading the schema version"))?
        .map(|row| row.try_get::<_, Option<i64>>(0))
        .transpose()
        .map_err(db_err("reading the schema version"))?
        .flatten();
    match version {
        Some(v) if v > SCHEMA_VERSION => {
            return Err(Error::ledger(format!(
                "the PostgreSQL ledger has schema version {v}, newer than this ecoroute ({SCHEMA_VERSION}); upgrade ecoroute"
            )))
        }
        Some(v) if v == SCHEMA_VERSION => {}
        Some(v @ 3..=6) => {
            // v4 adds columns (settings hash, price and measurement flags, embodied CO2e) and the
            // settings table; v5 the catalogue entry of each row and its avoided length's bounds;
            // v6 the deployment that answered and the upstream tries; v7 the inbound key's name.
            // Rows written before keep NULLs there.
            let mut added = if v == 3 { v4_columns() } else { Vec::new() };
            if v <= 4 {
                added.extend(v5_columns());
            }
            if v <= 5 {
                added.extend(v6_columns());
            }
            let mut sql = String::new();
            for column in added.into_iter().chain(v7_columns()) {
                sql.push_str(&format!(
                    "ALTER TABLE requests ADD COLUMN IF NOT EXISTS {column} {};\n",
                    sql_type(kind_of(&column))
                ));
            }
            sql.push_str(&format!(
                "{SETTINGS_TABLE_SQL};\nDELETE FROM ecoroute_schema;\nINSERT INTO ecoroute_schema (version) VALUES ({SCHEMA_VERSION});"
            ));
            tx.batch_execute(&sql).map_err(db_err("migrating the ledger schema"))?;
        }
        _ => {
            // The PostgreSQL ledger starts at the current version; later versions add columns here.
            let columns: Vec<String> = all_columns()
                .iter()
                .map(|c| format!("{c} {}", sql_type(kind_of(c))))
                .collect();
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS requests (id BIGSERIAL PRIMARY KEY, {});
                 CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts_ms);
                 CREATE INDEX IF NOT EXISTS requests_tenant ON requests (tenant);
                 {SETTINGS_TABLE_SQL};
                 DELETE FROM ecoroute_schema;
                 INSERT INTO ecoroute_schema (version) VALUES ({SCHEMA_VERSION});",
                columns.join(", ")
            ))
            .map_err(db_err("creating the ledger schema"))?;
        }
    }
    tx.commit().map_err(db_err("committing the schema"))?;
    Ok(client)
}

/// A column value as a typed PostgreSQL parameter (a NULL still needs its column's type).
fn param(value: Value, kind: Kind) -> Box<dyn ToSql + Sync> {
    match (kind, value) {
        (Kind::Integer, Value::Integer(n)) => Box::new(Some(n)),
        (Kind::Integer, Value::Real(x)) => Box::new(Some(x as i64)),
        (Kind::Integer, _) => Box::new(None::<i64>),
        (Kind::Real, Value::Real(x)) => Box::new(Some(x)),
        (Kind::Real, Value::Integer(n)) => Box::new(Some(n as f64)),
        (Kind::Real, _) => Box::new(None::<f64>),
        (Kind::Text, Value::Text(s)) => Box::new(Some(s)),
        (Kind::Text, _) => Box::new(None::<String>),
    }
}

/// Deletes up to `limit` rows older than `cutoff_ms`, in one short transaction; returns how many.
/// Every replica of a fleet prunes; the deletes are idempotent.
pub(crate) fn prune(client: &mut Client, cutoff_ms: i64, limit: u32) -> Result<u64, Error> {
    client
        .execute(
            "DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE ts_ms < $1 LIMIT $2)",
            &[&cutoff_ms, &i64::from(limit)],
        )
        .map_err(db_err("pruning old rows"))
}

pub(crate) fn insert_batch(client: &mut Client, rows: &[Box<LedgerRecord>]) -> Result<(), Error> {
    let kinds: Vec<Kind> = all_columns().iter().map(|c| kind_of(c)).collect();
    let mut tx = client.transaction().map_err(db_err("starting a transaction"))?;
    let statement = tx.prepare(&INSERT_SQL).map_err(db_err("preparing the insert"))?;
    for r in rows {
        let params: Vec<Box<dyn ToSql + Sync>> = row_values(r)
            .into_iter()
            .zip(&kinds)
            .map(|(value, kind)| param(value, *kind))
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        tx.execute(&statement, &refs).map_err(db_err("inserting a row"))?;
    }
    tx.commit().map_err(db_err("committing"))
}

pub(crate) fn read_range(client: &mut Client, from_ms: i64, to_ms: i64) -> Result<Vec<LedgerRecord>, Error> {
    let columns = all_columns();
    let sql = format!(
        "SELECT {} FROM requests WHERE ts_ms >= $1 AND ts_ms < $2 ORDER BY ts_ms, id",
        columns.join(", ")
    );
    let rows = client
        .query(&sql, &[&from_ms, &to_ms])
        .map_err(db_err("reading the ledger"))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            let read = db_err("reading a ledger column");
            let value = match kind_of(column) {
                Kind::Integer => row
                    .try_get::<_, Option<i64>>(i)
                    .map_err(read)?
                    .map_or(Value::Null, Value::Integer),
                Kind::Real => row
                    .try_get::<_, Option<f64>>(i)
                    .map_err(read)?
                    .map_or(Value::Null, Value::Real),
                Kind::Text => row
                    .try_get::<_, Option<String>>(i)
                    .map_err(read)?
                    .map_or(Value::Null, Value::Text),
            };
            values.push(value);
        }
        out.push(record_from_values(&values));
    }
    Ok(out)
}

/// Records the settings under `hash` once; replicas of a fleet racing on it keep the first.
pub(crate) fn record_settings(client: &mut Client, hash: &str, settings_json: &str) -> Result<(), Error> {
    client
        .execute(
            "INSERT INTO energy_settings (hash, first_seen_ms, settings) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING",
            &[&hash, &super::now_ms(), &settings_json],
        )
        .map_err(db_err("recording the energy settings"))?;
    Ok(())
}

pub(crate) fn read_settings(client: &mut Client) -> Result<Vec<(String, i64, String)>, Error> {
    let rows = client
        .query(
            "SELECT hash, first_seen_ms, settings FROM energy_settings ORDER BY first_seen_ms",
            &[],
        )
        .map_err(db_err("reading the energy settings"))?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect::<Result<Vec<_>, postgres::Error>>()
        .map_err(db_err("reading the energy settings"))
}

/// Spend per tenant: cost and energy (actual, central) since `day_ms` and since `month_ms`.
pub(crate) fn budget_spend(client: &mut Client, day_ms: i64, month_ms: i64) -> Result<Vec<SpendRow>, Error> {
    let sql = super::BUDGET_SPEND_SQL.replace("?1", "$1").replace("?2", "$2");
    let rows = client
        .query(&sql, &[&day_ms, &month_ms])
        .map_err(db_err("reading the spend"))?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<_, String>(0)?,
                r.try_get::<_, String>(1)?,
                [r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?],
            ))
        })
        .collect::<Result<Vec<_>, postgres::Error>>()
        .map_err(db_err("reading a spend row"))
}

pub(crate) fn token_history(client: &mut Client) -> Result<Vec<(String, f64, f64, u64)>, Error> {
    let rows = client
        .query(
            "SELECT model, AVG(completion_tokens)::double precision,
                    AVG(completion_tokens::double precision * completion_tokens), COUNT(*) FROM requests
             WHERE route = 'llm' AND status = 200 AND usage_source = 'upstream' AND class = 'lookup'
               AND completion_tokens IS NOT NULL AND model IS NOT NULL
             GROUP BY model",
            &[],
        )
        .map_err(db_err("reading the token history"))?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<_, String>(0)?,
                r.try_get::<_, f64>(1)?,
                r.try_get::<_, f64>(2)?,
                r.try_get::<_, i64>(3)?.max(0) as u64,
            ))
        })
        .collect::<Result<Vec<_>, postgres::Error>>()
        .map_err(db_err("reading the token history"))
}
