//! Hot reload: load and validate the config file again, build a new [`Pipeline`] and swap it in
//! atomically. A request keeps the snapshot it started with, so requests in flight are unaffected;
//! a config that does not validate is refused and the running one stays.
//!
//! Triggers: SIGHUP, a change to the config file (polled every two seconds), `POST /admin/reload`.
//! Settings bound at start (listen address, concurrency limit, ledger and energy settings) need a
//! restart; a reload that changes them says so instead of silently ignoring them.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::AppState;
use crate::config::{Config, Purpose};
use crate::pipeline::Pipeline;
use crate::Error;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Reloaded {
    pub source: String,
    /// Changed settings that only a restart applies.
    pub restart_needed_for: Vec<&'static str>,
}

fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if old.server.listen != new.server.listen {
        keys.push("server.listen");
    }
    if old.server.max_concurrency != new.server.max_concurrency {
        keys.push("server.max_concurrency");
    }
    if old.server.worker_threads != new.server.worker_threads {
        keys.push("server.worker_threads");
    }
    if old.ledger.store != new.ledger.store
        || old.ledger.spool != new.ledger.spool
        || old.ledger.channel_capacity != new.ledger.channel_capacity
        || old.ledger.channel_max_bytes != new.ledger.channel_max_bytes
        || old.ledger.batch_size != new.ledger.batch_size
    {
        keys.push("ledger");
    }
    if old.keys.fleet_sync != new.keys.fleet_sync {
        keys.push("limits.fleet_sync_ms");
    }
    if old.telemetry != new.telemetry {
        keys.push("telemetry");
    }
    if old.energy.local != new.energy.local
        || old.energy.meters != new.energy.meters
        || old.energy.catalogue.version() != new.energy.catalogue.version()
    {
        keys.push("energy");
    }
    keys
}

impl AppState {
    /// Reloads from the file the running config came from.
    pub async fn reload(&self) -> Result<Reloaded, Error> {
        let _one_at_a_time = self.reloading.lock().await;
        let current = self.runtime();
        let path = current.config.source.clone();
        // The command line's --listen / --upstream win over the file now as they did at start.
        let overrides = current.config.overrides.clone();
        let config = tokio::task::spawn_blocking(move || Config::load_with(&path, &overrides, Purpose::Serve))
            .await
            .map_err(|e| Error::internal_from("reload task failed", e))??;
        let restart_needed_for = restart_needed(&current.config, &config);
        let runtime = if config.search.backend.same_as(&current.config.search.backend) {
            Pipeline::with_backend(config, Arc::clone(&current.search_backend))?
        } else {
            let backend = crate::search::connect(&config.search).await?;
            Pipeline::with_backend(config, backend)?
        };
        let runtime = runtime.with_languages(Some(&current)).await?;
        // Keys are read from the runtime on every request; the limits' counters stay.
        self.limits.configure(runtime.config.keys.subjects());
        self.runtime.store(Arc::new(runtime));
        self.seed_spend().await;
        let source = current.config.source.display().to_string();
        if restart_needed_for.is_empty() {
            tracing::info!(%source, "config reloaded");
        } else {
            tracing::warn!(%source, restart_needed_for = ?restart_needed_for, "config reloaded; some changes need a restart");
        }
        Ok(Reloaded {
            source,
            restart_needed_for,
        })
    }

    /// Reloads and logs the outcome; for signal and file-watch triggers, which have no caller to tell.
    pub(crate) async fn reload_and_log(&self, trigger: &str) {
        match self.reload().await {
            Ok(_) => {}
            Err(Error::Config(e)) => {
                tracing::error!(trigger, error = %e, "config reload refused; the running config stays")
            }
            Err(e) => tracing::error!(trigger, error = %e, "config reload failed; the running config stays"),
        }
    }
}

fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Watches the config file and SIGHUP until the state is dropped.
pub(crate) fn spawn_triggers(state: &Arc<AppState>) {
    let weak = Arc::downgrade(state);
    // The baseline is taken now, not on the task's first poll, so a change made in between counts.
    let mut last = stamp(&state.runtime().config.source);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { return };
            let now = stamp(&state.runtime().config.source);
            if now.is_some() && now != last {
                last = now;
                state.reload_and_log("config file changed").await;
            }
        }
    });
    #[cfg(unix)]
    {
        let weak = Arc::downgrade(state);
        tokio::spawn(async move {
            let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                let Some(state) = weak.upgrade() else { return };
                state.reload_and_log("SIGHUP").await;
            }
        });
    }
}
