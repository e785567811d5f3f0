//! The writer thread: rows in batches (group commit), each accounted first; a batch the database
//! cannot take goes to the spool, replayed at the next batch written; rows past the retention are
//! pruned in small chunks.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::accountant::account_row;
use super::spool::Spool;
use super::{metered, now_ms};
use super::{
    open_for_writing, recover_from_corruption, Accountant, LedgerRecord, LedgerStats, LedgerStore, Message, Store,
};
use crate::metrics::Metrics;
use crate::Error;

/// After a batch could not be written, how long the next batches go to the spool without trying
/// the database (when there is a spool): each try may wait [`super::WRITER_BUSY_TIMEOUT`], and rows wait
/// in memory meanwhile. The spool is replayed at the first batch written after it.
pub(super) const SPOOL_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// How long the writer waits for more rows before writing a batch that is not full.
const GROUP_COMMIT_WAIT: Duration = Duration::from_millis(10);

/// How often the writer deletes rows past `ledger.retention_days`, and how much per go: small
/// transactions, so readers and the next batch of inserts never wait long.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const PRUNE_CHUNK: u32 = 5_000;
const PRUNE_CHUNKS_PER_PASS: usize = 20;

/// Deletes rows older than `retention`; true when none are left.
fn prune_old_rows(store: &mut Store, retention: Duration, metrics: &Metrics) -> bool {
    let cutoff_ms = now_ms().saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
    let mut pruned = 0;
    let mut finished = false;
    for _ in 0..PRUNE_CHUNKS_PER_PASS {
        match store.prune(cutoff_ms, PRUNE_CHUNK) {
            Ok(n) => {
                pruned += n;
                metrics.ledger_pruned.inc_by(n);
                if n < u64::from(PRUNE_CHUNK) {
                    finished = true;
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not delete ledger rows past retention; retrying in an hour");
                finished = true;
                break;
            }
        }
    }
    if pruned > 0 {
        tracing::info!(
            rows = pruned,
            retention_days = retention.as_secs() / 86_400,
            "deleted ledger rows past retention"
        );
    }
    finished
}

/// How the writer batches and how long it keeps rows.
#[derive(Clone, Copy)]
pub(super) struct WriterSettings {
    pub(super) batch_size: usize,
    pub(super) retention: Option<Duration>,
}

#[expect(
    clippy::too_many_arguments,
    reason = "the writer loop owns each of these; a struct would only rename them"
)]
pub(super) fn write_loop(
    mut store: Store,
    target: &LedgerStore,
    mut rx: mpsc::Receiver<Message>,
    WriterSettings { batch_size, retention }: WriterSettings,
    stats: &LedgerStats,
    mut accountant: Accountant,
    metrics: &Metrics,
    spool: Option<&Spool>,
) {
    // Rows spooled by an earlier run (or a crash mid-outage) go in first.
    if let Some(spool) = spool.filter(|s| !s.is_empty()) {
        replay(&mut store, spool, &mut accountant, stats, metrics);
    }
    let mut batch: Vec<Box<LedgerRecord>> = Vec::with_capacity(batch_size);
    // Rows of calls on metered GPUs, until their meter's next reading.
    let mut waiting = metered::Waiting::new(accountant.energy.meters.len());
    let mut stopping = false;
    let mut next_prune = Instant::now();
    // Until when batches skip the database for the spool, after one failed.
    let mut spool_until: Option<Instant> = None;
    // A row joins the batch, or waits for its meter; a reading releases the rows it covers.
    let mut take = |message: Message,
                    batch: &mut Vec<Box<LedgerRecord>>,
                    accountant: &mut Accountant,
                    stopping: &mut bool| match message {
        Message::Record(r) => {
            // Out of the channel: its bytes no longer count against `channel_max_bytes`.
            stats.queued_bytes.fetch_sub(r.memory_bytes(), Ordering::Relaxed);
            match metered::meter_of(&accountant.energy.meters, &r) {
                Some(meter) => waiting.hold(meter, r),
                None => batch.push(r),
            }
        }
        Message::Metered(reading) => {
            let released = waiting.release(reading);
            if let Some(rate) = released.marginal_wh_per_token {
                accountant.marginal_rate(reading.meter, rate);
            }
            batch.extend(released.rows);
        }
        Message::Shutdown => {
            *stopping = true;
            // Readings that will not come: the waiting rows go in as estimated; idle energy with
            // no request after it is in no row, and the metric says how much.
            let (rows, unattributed_wh) = waiting.drain();
            metrics.meter_unattributed_wh.inc_by(unattributed_wh);
            batch.extend(rows);
        }
    };
    while !stopping {
        if let Some(retention) = retention.filter(|_| Instant::now() >= next_prune) {
            let finished = prune_old_rows(&mut store, retention, metrics);
            // A long backlog is deleted a slice per batch, so new rows keep flowing meanwhile.
            next_prune = if finished {
                Instant::now() + PRUNE_EVERY
            } else {
                Instant::now()
            };
        }
        match rx.blocking_recv() {
            Some(message) => take(message, &mut batch, &mut accountant, &mut stopping),
            None => take(Message::Shutdown, &mut batch, &mut accountant, &mut stopping),
        }
        // Take whatever else is already queued, up to a batch. Under load rows arrive one at a
        // time; waiting a moment lets them share one transaction, whose cost is most of a row's.
        let mut waited = false;
        loop {
            match rx.try_recv() {
                Ok(message) => take(message, &mut batch, &mut accountant, &mut stopping),
                Err(_) if !waited && !stopping && batch.len() < batch_size => {
                    std::thread::sleep(GROUP_COMMIT_WAIT);
                    waited = true;
                }
                Err(_) => break,
            }
            if batch.len() >= batch_size {
                break;
            }
        }
        if stopping {
            // Drain what was queued before the shutdown marker was seen but after this batch
            // filled; rows still waiting for a meter go in as estimated.
            while let Ok(message) = rx.try_recv() {
                take(message, &mut batch, &mut accountant, &mut stopping);
            }
            take(Message::Shutdown, &mut batch, &mut accountant, &mut stopping);
        }
        if batch.is_empty() {
            continue;
        }
        for r in batch.iter_mut() {
            account_row(&mut accountant, metrics, r);
        }
        let n = batch.len() as u64;
        // Just after a batch failed (a lock held elsewhere, most often), the next ones go straight
        // to the spool: a row that arrived while one batch waited out the lock used to wait out
        // its own lock too, so a SIGKILL lost rows twice as old as `WRITER_BUSY_TIMEOUT`.
        // The last batch of a graceful stop tries the database all the same, so that the spool is
        // replayed into it if it can be.
        let skip_database = !stopping && spool_until.is_some_and(|until| Instant::now() < until);
        if let Some(spool) = spool.filter(|_| skip_database) {
            match spool.append(batch.iter().map(|b| b.as_ref())) {
                Ok(_) => {
                    stats.spooled.inc_by(n);
                }
                Err(spool_error) => {
                    stats.dropped.inc_by(n);
                    tracing::error!(%spool_error, rows = n, "could not spool ledger rows; rows dropped");
                }
            }
            batch.clear();
            continue;
        }
        match store.insert_batch(&batch) {
            Ok(()) => {
                spool_until = None;
                stats.written.inc_by(n);
                if let Some(spool) = spool.filter(|s| !s.is_empty()) {
                    replay(&mut store, spool, &mut accountant, stats, metrics);
                }
            }
            Err(e) => {
                spool_until = Some(Instant::now() + SPOOL_AFTER_FAILURE);
                let spooled = spool.map(|spool| {
                    (
                        spool.path().display().to_string(),
                        spool.append(batch.iter().map(|b| b.as_ref())),
                    )
                });
                match spooled {
                    Some((path, Ok(_))) => {
                        tracing::error!(error = %e, rows = n, spool = %path, "could not write ledger rows; spooled them");
                        stats.spooled.inc_by(n);
                    }
                    Some((_, Err(spool_error))) => {
                        stats.dropped.inc_by(n);
                        tracing::error!(error = %e, %spool_error, rows = n, "could not write ledger rows, nor spool them; rows dropped");
                    }
                    None => {
                        stats.dropped.inc_by(n);
                        tracing::error!(error = %e, rows = n, "could not write ledger rows and no spool is configured; rows dropped");
                    }
                }
                // A broken connection stays broken: reconnect for the next batch. A file that
                // went corrupt under the writer is moved aside for a fresh one (the batch is in
                // the spool and goes into the new file).
                if let (Error::LedgerCorrupt { .. }, LedgerStore::Sqlite(path)) = (&e, target) {
                    match recover_from_corruption(path, &e.to_string(), metrics)
                        .and_then(|()| open_for_writing(target, metrics))
                    {
                        Ok((fresh, _)) => store = fresh,
                        Err(e) => {
                            tracing::error!(error = %e, "could not start a fresh ledger; batches go to the spool meanwhile")
                        }
                    }
                } else if let Some(reopened) = reconnect(&store, target) {
                    store = reopened;
                }
            }
        }
        batch.clear();
    }
}

/// A fresh connection to the same PostgreSQL ledger when the old one has closed (database restart,
/// network cut); `None` while the database is still unreachable (the next failed batch tries again).
fn reconnect(store: &Store, target: &LedgerStore) -> Option<Store> {
    match store {
        Store::Postgres(client) if client.is_closed() => match Store::open(target) {
            Ok(store) => {
                tracing::info!("reconnected to the PostgreSQL ledger");
                Some(store)
            }
            Err(e) => {
                tracing::warn!(error = %e, "PostgreSQL ledger still unreachable");
                None
            }
        },
        _ => None,
    }
}

/// Moves spooled rows into the database; on failure they go back to the spool.
fn replay(store: &mut Store, spool: &Spool, accountant: &mut Accountant, stats: &LedgerStats, metrics: &Metrics) {
    let rows = match spool.take() {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "could not read the ledger spool");
            return;
        }
    };
    if rows.is_empty() {
        return;
    }
    let mut batch: Vec<Box<LedgerRecord>> = rows
        .into_iter()
        .map(|mut r| {
            if r.accounting.is_none() {
                account_row(accountant, metrics, &mut r);
            }
            Box::new(r)
        })
        .collect();
    let n = batch.len() as u64;
    match store.insert_batch(&batch) {
        Ok(()) => {
            stats.written.inc_by(n);
            stats.replayed.fetch_add(n, Ordering::Relaxed);
            tracing::info!(rows = n, "replayed spooled ledger rows");
        }
        Err(e) => {
            tracing::warn!(error = %e, rows = n, "spool replay failed; rows stay spooled");
            if spool.append(batch.iter_mut().map(|b| &**b)).is_err() {
                stats.dropped.inc_by(n);
            }
        }
    }
}
