//! The per-request ledger row: [`PendingRecord`] travels with the request (and its response
//! stream) and hands the row to the ledger when it is dropped, so even a request whose client went
//! away is recorded. [`PendingRecord::apply`] writes a request's route into it in one place.

use std::sync::Arc;
use std::time::Instant;

use super::AppState;

use crate::classify::Mode;
use crate::classify::Route;
use crate::ledger::{DecidedBy, Ledger, LedgerRecord, RouteTaken};
use crate::metrics::Metrics;
use crate::pipeline::{Outcome, Routed};

/// Per-request ledger state. Travels with the request, and with the response stream when there is
/// one; dropping it writes the row. A request dropped before it finished (client gone) is recorded
/// with status 499, as nginx does.
pub struct PendingRecord {
    ledger: Ledger,
    metrics: Arc<Metrics>,
    limits: Arc<crate::limits::Limits>,
    traces: Option<Arc<crate::telemetry::Traces>>,
    started: Instant,
    pub record: LedgerRecord,
    finished: bool,
    /// False once the row has been handed on by [`PendingRecord::take`].
    armed: bool,
}

impl PendingRecord {
    pub fn new(state: &AppState, path: &str, request_id: &str) -> PendingRecord {
        let ledger = state.ledger.clone();
        ledger.request_started();
        let ts_ms = crate::ledger::now_ms();
        let admission = super::auth::take_admission().unwrap_or_default();
        PendingRecord {
            ledger,
            metrics: Arc::clone(&state.metrics),
            limits: Arc::clone(&state.limits),
            traces: state.traces.clone(),
            started: Instant::now(),
            record: LedgerRecord {
                ts_ms,
                request_id: request_id.to_string(),
                path: path.to_string(),
                status: 499,
                api_key: admission.key,
                estimated_tokens: admission.estimated_tokens,
                ..LedgerRecord::default()
            },
            finished: false,
            armed: true,
        }
    }

    /// Moves the row out (to a response stream that will finish it); this one then writes nothing.
    pub fn take(&mut self) -> PendingRecord {
        self.armed = false;
        PendingRecord {
            ledger: self.ledger.clone(),
            metrics: Arc::clone(&self.metrics),
            limits: Arc::clone(&self.limits),
            traces: self.traces.clone(),
            started: self.started,
            record: std::mem::take(&mut self.record),
            finished: false,
            armed: true,
        }
    }

    /// Writes a request's route into its row: mode, class, route, reason, what search did (and in
    /// shadow mode what it would have done) and what the decision and the search step cost.
    pub fn apply(&mut self, routed: &Routed) {
        let r = &mut self.record;
        r.mode = routed.mode;
        r.route = RouteTaken::Llm;
        r.reason = routed.reason();
        r.proxy_cpu_us += routed.decide_cpu_us;
        r.decided_by = Some(
            routed
                .decision
                .as_ref()
                .map_or(DecidedBy::Off, |d| DecidedBy::of(&d.decider)),
        );
        if let Some(decision) = &routed.decision {
            r.class = Some(decision.class);
            r.confidence = Some(decision.confidence);
        }
        if let Some(search) = routed.search() {
            r.search_cpu_us = search.cpu_us;
            r.search_ms = Some(search.elapsed_ms);
        }
        let live = routed.mode == Mode::Route;
        match &routed.outcome {
            Outcome::Answered { answer, .. } if live => {
                r.route = RouteTaken::Search;
                r.answer_source = Some(answer.source_ref());
            }
            Outcome::Answered { answer, content, .. } => {
                r.shadow_route = Some(Route::Search);
                r.shadow_answer = Some(content.clone());
                r.answer_source = Some(answer.source_ref());
            }
            Outcome::Escalated { .. } if live => r.escalated = true,
            Outcome::Escalated { .. } | Outcome::Llm if routed.mode == Mode::Shadow => {
                r.shadow_route = Some(Route::Llm);
            }
            Outcome::Escalated { .. } | Outcome::Llm | Outcome::Off => {}
        }
    }

    /// Marks the request as complete; the row is written when this is dropped.
    pub fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for PendingRecord {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut record = std::mem::take(&mut self.record);
        record.latency_ms = self.started.elapsed().as_secs_f64() * 1e3;
        if !self.finished {
            record.status = 499;
            record
                .error
                .get_or_insert_with(|| "client closed the request before it completed".into());
        }
        self.metrics.observe_request(&record, record.latency_ms / 1e3);
        super::auth::settle(&self.limits, &record);
        if let Some(traces) = &self.traces {
            traces.record(&record);
        }
        self.ledger.record(record);
        self.ledger.request_ended();
    }
}
