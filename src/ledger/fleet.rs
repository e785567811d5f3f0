//! Rate limits shared by a fleet through its PostgreSQL ledger database (`limits.fleet_sync_ms`):
//! every interval, each replica adds what its keys and tenants took from their per-minute rates
//! to `ecoroute_limit_usage`, reads what the other replicas added since its last look, and takes
//! that out of its own buckets ([`crate::limits::Limits::absorb`]). Each replica's buckets then
//! follow the fleet's, one interval behind: the fleet can overshoot a limit by what it admits
//! within one interval, never by a factor of its size. No request waits on the database: the
//! exchange runs on its own thread, and while the database is unreachable each replica limits
//! alone (and warns).
//!
//! Rows older than two minutes are deleted (a per-minute rate never needs more).

use std::sync::Weak;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

use crate::limits::Limits;
use crate::Error;

const TABLE_SQL: &str = "CREATE TABLE IF NOT EXISTS ecoroute_limit_usage (
    id BIGSERIAL PRIMARY KEY,
    replica TEXT NOT NULL,
    subject TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    requests DOUBLE PRECISION NOT NULL,
    tokens DOUBLE PRECISION NOT NULL);
  CREATE INDEX IF NOT EXISTS ecoroute_limit_usage_ts ON ecoroute_limit_usage (ts_ms)";
const KEEP_MS: i64 = 120_000;
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Starts the exchange; it ends when `limits` is dropped.
pub(crate) fn spawn_rate_sharing(url: String, limits: Weak<Limits>, every: Duration) -> Result<(), Error> {
    std::thread::Builder::new()
        .name("ecoroute-fleet-limits".into())
        .spawn(move || run(&url, &limits, every))
        .map(|_| ())
        .map_err(|e| Error::io("starting the fleet limits thread", e))
}

/// A connection and how far this replica has read.
struct Session {
    client: Client,
    last_id: i64,
}

fn run(url: &str, limits: &Weak<Limits>, every: Duration) {
    let replica = uuid::Uuid::new_v4().simple().to_string();
    let mut session: Option<Session> = None;
    let mut next_prune = Instant::now();
    loop {
        std::thread::sleep(every);
        let Some(limits) = limits.upgrade() else { return };
        if session.is_none() {
            match connect(url, &replica, &limits) {
                Ok(s) => session = Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "fleet limits: the database is unreachable; this replica limits alone");
                    continue;
                }
            }
        }
        let Some(s) = session.as_mut() else { continue };
        let mine = limits.take_unshared();
        match exchange(s, &replica, &mine) {
            Ok(others) => {
                let now = Instant::now();
                for (subject, requests, tokens) in others {
                    limits.absorb(&subject, requests, tokens, now);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "fleet limits: the exchange failed; reconnecting");
                session = None;
                continue;
            }
        }
        if Instant::now() >= next_prune {
            next_prune = Instant::now() + PRUNE_EVERY;
            let cutoff = super::now_ms() - KEEP_MS;
            if let Err(e) = s
                .client
                .execute("DELETE FROM ecoroute_limit_usage WHERE ts_ms < $1", &[&cutoff])
            {
                tracing::warn!(error = %e, "fleet limits: pruning failed");
            }
        }
    }
}

/// Connects, creates the table, and takes in what the others took in the last minute.
fn connect(url: &str, replica: &str, limits: &Limits) -> Result<Session, postgres::Error> {
    let mut client = Client::connect(url, NoTls)?;
    client.batch_execute(TABLE_SQL)?;
    let last_id: i64 = client
        .query_one("SELECT COALESCE(MAX(id), 0) FROM ecoroute_limit_usage", &[])?
        .try_get(0)?;
    let since = super::now_ms() - 60_000;
    let rows = client.query(
        "SELECT subject, SUM(requests), SUM(tokens) FROM ecoroute_limit_usage
         WHERE id <= $1 AND ts_ms > $2 AND replica <> $3 GROUP BY subject",
        &[&last_id, &since, &replica],
    )?;
    let now = Instant::now();
    for row in rows {
        limits.absorb(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, now);
    }
    Ok(Session { client, last_id })
}

/// Adds this replica's share, returns the others' since the last exchange.
fn exchange(
    s: &mut Session,
    replica: &str,
    mine: &[(String, f64, f64)],
) -> Result<Vec<(String, f64, f64)>, postgres::Error> {
    if !mine.is_empty() {
        let now = super::now_ms();
        let mut tx = s.client.transaction()?;
        for (subject, requests, tokens) in mine {
            tx.execute(
                "INSERT INTO ecoroute_limit_usage (replica, subject, ts_ms, requests, tokens) VALUES ($1, $2, $3, $4, $5)",
                &[&replica, subject, &now, requests, tokens],
            )?;
        }
        tx.commit()?;
    }
    let rows = s.client.query(
        "SELECT id, subject, requests, tokens FROM ecoroute_limit_usage WHERE id > $1 AND replica <> $2 ORDER BY id",
        &[&s.last_id, &replica],
    )?;
    let mut others = Vec::with_capacity(rows.len());
    for row in rows {
        s.last_id = s.last_id.max(row.try_get(0)?);
        others.push((row.try_get(1)?, row.try_get(2)?, row.try_get(3)?));
    }
    Ok(others)
}
