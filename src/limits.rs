//! Limits per API key and per tenant ("subjects"): requests and tokens per minute, and budgets in
//! money and energy per UTC day or month. Pure bookkeeping: the caller passes the clock, the
//! server decides what a refusal looks like.
//!
//! - **Rates** are token buckets (the GCRA's equivalent form) holding a minute's worth: a subject
//!   may burst its whole per-minute allowance, then gets it back at an even pace. A request's
//!   tokens are an estimate at admission, corrected by the usage the upstream reports
//!   ([`Limits::settle_tokens`]), so the bucket may go into debt and a later request waits for it.
//!   `governor` was considered: it cannot give tokens back or take more after the fact, which the
//!   correction needs, and the bucket is 20 lines.
//! - **Budgets** add up the ledger's own figures (cost and central energy of each row, computed
//!   by its writer) with [`Limits::charge`]; a subject over its budget is refused until the period
//!   ends. The counters are this process's: a fleet of N proxies lets a subject spend up to N
//!   times its limits (docs/operations.md, "Keys, limits and budgets").
//!
//! Only subjects the config names are tracked, so clients cannot grow the tables by inventing
//! tenants.

use crate::civil::{civil_from_days, days_from_civil};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

/// The period a budget covers, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Month,
}

impl Period {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
        }
    }
}

/// What one subject may do.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LimitSettings {
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
    pub budget_usd: Option<f64>,
    pub budget_wh: Option<f64>,
    pub budget_period: Option<Period>,
}

impl LimitSettings {
    pub(crate) fn is_empty(&self) -> bool {
        *self == LimitSettings::default()
    }
}

/// Why a request is refused: the subject, the limit, and when to come back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refused {
    pub subject: String,
    /// `requests_per_minute`, `tokens_per_minute`, `budget_usd` or `budget_wh`.
    pub limit: &'static str,
    pub retry_after_s: u64,
}

impl Refused {
    pub(crate) fn is_budget(&self) -> bool {
        self.limit.starts_with("budget")
    }
}

/// How much of a budget is spent, at admission.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BudgetUse {
    pub subject: String,
    /// `usd` or `wh`.
    pub unit: &'static str,
    pub period: Period,
    pub used: f64,
    pub limit: f64,
}

impl BudgetUse {
    pub(crate) fn ratio(&self) -> f64 {
        self.used / self.limit
    }
}

/// A minute's worth of a rate, refilled continuously. `level` may go below zero after a
/// correction: that debt is paid back before the next request passes.
#[derive(Debug, Default)]
struct Bucket {
    level: f64,
    /// When `level` was last brought up to date; `None`: never used, so full.
    at: Option<Instant>,
}

impl Bucket {
    fn refill(&mut self, per_minute: f64, now: Instant) {
        self.level = match self.at {
            None => per_minute,
            Some(at) => {
                (self.level + now.saturating_duration_since(at).as_secs_f64() * per_minute / 60.0).min(per_minute)
            }
        };
        self.at = Some(now);
    }

    /// Seconds until `need` units are there (0 when they are now). A need larger than the whole
    /// minute waits for a full bucket, or it could never pass.
    fn wait_s(&self, need: f64, per_minute: f64) -> f64 {
        let need = need.min(per_minute);
        if self.level >= need {
            0.0
        } else {
            (need - self.level) * 60.0 / per_minute
        }
    }
}

/// Money and energy spent in the current day and month (UTC).
#[derive(Debug, Default)]
struct Spend {
    day: i64,
    month: i64,
    usd_day: f64,
    wh_day: f64,
    usd_month: f64,
    wh_month: f64,
}

impl Spend {
    /// Resets the sums whose period has ended.
    fn roll(&mut self, ts_ms: i64) {
        let (day, month) = (day_of(ts_ms), month_of(ts_ms));
        if day != self.day {
            (self.day, self.usd_day, self.wh_day) = (day, 0.0, 0.0);
        }
        if month != self.month {
            (self.month, self.usd_month, self.wh_month) = (month, 0.0, 0.0);
        }
    }

    fn used(&self, period: Period) -> (f64, f64) {
        match period {
            Period::Day => (self.usd_day, self.wh_day),
            Period::Month => (self.usd_month, self.wh_month),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: Bucket,
    tokens: Bucket,
    spend: Spend,
    /// Requests and tokens taken here since the fleet last heard of them ([`Limits::take_unshared`]).
    unshared: (f64, f64),
}

#[derive(Debug, Default)]
struct Inner {
    settings: HashMap<String, LimitSettings>,
    counters: HashMap<String, Counters>,
}

/// The counters of every configured subject. One lock, held for a few arithmetic operations.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    inner: Mutex<Inner>,
    /// Whether any subject has limits: read on every request without taking the lock.
    any: std::sync::atomic::AtomicBool,
}

impl Limits {
    /// Sets the subjects and their limits (at start and at every reload). Counters of subjects
    /// still configured are kept, so a reload neither forgives a debt nor resets a budget.
    pub(crate) fn configure(&self, settings: HashMap<String, LimitSettings>) {
        let mut inner = self.lock();
        inner.counters.retain(|subject, _| settings.contains_key(subject));
        self.any
            .store(!settings.is_empty(), std::sync::atomic::Ordering::Relaxed);
        inner.settings = settings;
    }

    /// Whether any subject has limits (the server skips the work otherwise).
    pub(crate) fn any(&self) -> bool {
        self.any.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Admits a request of about `tokens` tokens for every subject named, or refuses it for the
    /// first limit it would break; nothing is taken unless all admit it. On admission, the use of
    /// every budget the subjects have.
    pub(crate) fn admit(
        &self,
        subjects: &[String],
        tokens: u64,
        now: Instant,
        ts_ms: i64,
    ) -> Result<Vec<BudgetUse>, Refused> {
        let mut inner = self.lock();
        let Inner { settings, counters } = &mut *inner;
        let mut uses = Vec::new();
        let tokens = tokens as f64;
        for subject in subjects {
            let Some(limits) = settings.get(subject) else { continue };
            let c = counters.entry(subject.clone()).or_default();
            let refused = |limit: &'static str, wait_s: f64| Refused {
                subject: subject.clone(),
                limit,
                retry_after_s: (wait_s.ceil() as u64).max(1),
            };
            if let Some(period) = limits.budget_period {
                c.spend.roll(ts_ms);
                let (usd, wh) = c.spend.used(period);
                for (unit, used, limit) in [("usd", usd, limits.budget_usd), ("wh", wh, limits.budget_wh)] {
                    let Some(limit) = limit else { continue };
                    if used >= limit {
                        let name = if unit == "usd" { "budget_usd" } else { "budget_wh" };
                        return Err(refused(name, seconds_to_period_end(period, ts_ms)));
                    }
                    uses.push(BudgetUse {
                        subject: subject.clone(),
                        unit,
                        period,
                        used,
                        limit,
                    });
                }
            }
            if let Some(rpm) = limits.requests_per_minute {
                c.requests.refill(f64::from(rpm), now);
                let wait = c.requests.wait_s(1.0, f64::from(rpm));
                if wait > 0.0 {
                    return Err(refused("requests_per_minute", wait));
                }
            }
            if let Some(tpm) = limits.tokens_per_minute {
                c.tokens.refill(f64::from(tpm), now);
                let wait = c.tokens.wait_s(tokens, f64::from(tpm));
                if wait > 0.0 {
                    return Err(refused("tokens_per_minute", wait));
                }
            }
        }
        // Every subject admits it: take from every bucket.
        for subject in subjects {
            let (Some(limits), Some(c)) = (settings.get(subject), counters.get_mut(subject)) else {
                continue;
            };
            if limits.requests_per_minute.is_some() {
                c.requests.level -= 1.0;
                c.unshared.0 += 1.0;
            }
            if limits.tokens_per_minute.is_some() {
                c.tokens.level -= tokens;
                c.unshared.1 += tokens;
            }
        }
        Ok(uses)
    }

    /// Replaces a request's estimated tokens by those it used: the difference goes back to (or is
    /// taken from) each subject's bucket. A debt is bounded by one minute's worth.
    pub(crate) fn settle_tokens(&self, subjects: &[String], estimated: u64, used: u64) {
        let mut inner = self.lock();
        let Inner { settings, counters } = &mut *inner;
        let delta = estimated as f64 - used as f64;
        for subject in subjects {
            let (Some(tpm), Some(c)) = (
                settings.get(subject).and_then(|l| l.tokens_per_minute),
                counters.get_mut(subject),
            ) else {
                continue;
            };
            let tpm = f64::from(tpm);
            c.tokens.level = (c.tokens.level + delta).clamp(-tpm, tpm);
            c.unshared.1 -= delta;
        }
    }

    /// Adds a request's cost and energy, as the ledger computed them, to each subject's budgets.
    pub(crate) fn charge(&self, subjects: &[String], usd: f64, wh: f64, ts_ms: i64) {
        let mut inner = self.lock();
        let Inner { settings, counters } = &mut *inner;
        for subject in subjects {
            if settings.get(subject).is_none_or(|l| l.budget_period.is_none()) {
                continue;
            }
            let spend = &mut counters.entry(subject.clone()).or_default().spend;
            spend.roll(ts_ms);
            spend.usd_day += usd;
            spend.usd_month += usd;
            spend.wh_day += wh;
            spend.wh_month += wh;
        }
    }

    /// The requests and tokens taken here since the last call, per subject with a rate limit, for
    /// the other replicas of a fleet ([`crate::ledger::fleet`]).
    pub(crate) fn take_unshared(&self) -> Vec<(String, f64, f64)> {
        let mut inner = self.lock();
        inner
            .counters
            .iter_mut()
            .filter(|(_, c)| c.unshared != (0.0, 0.0))
            .map(|(subject, c)| {
                let (requests, tokens) = std::mem::take(&mut c.unshared);
                (subject.clone(), requests, tokens)
            })
            .collect()
    }

    /// Takes what other replicas of a fleet took from a subject's rates out of its buckets here, so
    /// each replica's buckets approach the fleet's (behind by one exchange).
    pub(crate) fn absorb(&self, subject: &str, requests: f64, tokens: f64, now: Instant) {
        let mut inner = self.lock();
        let Inner { settings, counters } = &mut *inner;
        let Some(limits) = settings.get(subject) else { return };
        let c = counters.entry(subject.to_string()).or_default();
        if let Some(rpm) = limits.requests_per_minute.map(f64::from) {
            c.requests.refill(rpm, now);
            c.requests.level = (c.requests.level - requests).max(-rpm);
        }
        if let Some(tpm) = limits.tokens_per_minute.map(f64::from) {
            c.tokens.refill(tpm, now);
            c.tokens.level = (c.tokens.level - tokens).max(-tpm);
        }
    }

    /// Sets a subject's spend so far this day and month (`[usd_day, wh_day, usd_month, wh_month]`),
    /// as read from the ledger, so budgets survive a restart; subjects without a budget are left out.
    pub(crate) fn seed_spend(&self, subject: &str, spent: [f64; 4], ts_ms: i64) {
        let mut inner = self.lock();
        let Inner { settings, counters } = &mut *inner;
        if settings.get(subject).is_none_or(|l| l.budget_period.is_none()) {
            return;
        }
        let spend = &mut counters.entry(subject.to_string()).or_default().spend;
        spend.roll(ts_ms);
        [spend.usd_day, spend.wh_day, spend.usd_month, spend.wh_month] = spent;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding it leaves plain numbers behind, still usable.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The subject names of a key and a tenant, as the config and the counters spell them.
pub(crate) fn key_subject(name: &str) -> String {
    format!("key:{name}")
}

pub(crate) fn tenant_subject(name: &str) -> String {
    format!("tenant:{name}")
}

const DAY_MS: i64 = 86_400_000;

/// The starts (Unix ms) of the UTC day and month a timestamp falls in.
pub(crate) fn period_starts(ts_ms: i64) -> (i64, i64) {
    let day = day_of(ts_ms);
    let (y, m, _) = civil_from_days(day);
    (day * DAY_MS, days_from_civil(y, m, 1) * DAY_MS)
}

fn day_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(DAY_MS)
}

/// Months since 1970-01 of a timestamp.
fn month_of(ts_ms: i64) -> i64 {
    let (y, m, _) = civil_from_days(day_of(ts_ms));
    (y - 1970) * 12 + i64::from(m) - 1
}

fn seconds_to_period_end(period: Period, ts_ms: i64) -> f64 {
    let end_ms = match period {
        Period::Day => (day_of(ts_ms) + 1) * DAY_MS,
        Period::Month => {
            let (y, m, _) = civil_from_days(day_of(ts_ms));
            let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            days_from_civil(y, m, 1) * DAY_MS
        }
    };
    (end_ms - ts_ms) as f64 / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(subject: &str, settings: LimitSettings) -> Limits {
        let l = Limits::default();
        l.configure(HashMap::from([(subject.to_string(), settings)]));
        l
    }

    #[test]
    fn a_minute_of_requests_then_an_even_pace() {
        let l = limits(
            "key:a",
            LimitSettings {
                requests_per_minute: Some(3),
                ..LimitSettings::default()
            },
        );
        let s = [key_subject("a")];
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.admit(&s, 0, t0, 0).is_ok());
        }
        let refused = l.admit(&s, 0, t0, 0).unwrap_err();
        assert_eq!((refused.limit, refused.retry_after_s), ("requests_per_minute", 20));
        // One request comes back every 20 s.
        assert!(l.admit(&s, 0, t0 + Duration::from_secs(19), 0).is_err());
        assert!(l.admit(&s, 0, t0 + Duration::from_secs(20), 0).is_ok());
        // A subject not configured is never limited.
        assert!(l.admit(&[key_subject("other")], 0, t0, 0).is_ok());
    }

    #[test]
    fn tokens_are_estimated_then_corrected() {
        let l = limits(
            "tenant:t",
            LimitSettings {
                tokens_per_minute: Some(1000),
                ..LimitSettings::default()
            },
        );
        let s = [tenant_subject("t")];
        let t0 = Instant::now();
        assert!(l.admit(&s, 900, t0, 0).is_ok());
        assert_eq!(l.admit(&s, 200, t0, 0).unwrap_err().limit, "tokens_per_minute");
        // It used 100: 800 come back.
        l.settle_tokens(&s, 900, 100);
        assert!(l.admit(&s, 200, t0, 0).is_ok());
        // Used far more than estimated: the debt makes the next one wait.
        l.settle_tokens(&s, 200, 2000);
        let refused = l.admit(&s, 10, t0, 0).unwrap_err();
        assert!(refused.retry_after_s >= 60, "{refused:?}");
    }

    #[test]
    fn a_refusal_takes_nothing_from_the_other_subjects() {
        let l = Limits::default();
        let one = LimitSettings {
            requests_per_minute: Some(1),
            ..LimitSettings::default()
        };
        let many = LimitSettings {
            requests_per_minute: Some(100),
            ..LimitSettings::default()
        };
        l.configure(HashMap::from([
            ("key:a".into(), one),
            ("tenant:t".into(), many.clone()),
        ]));
        let t0 = Instant::now();
        let both = ["tenant:t".to_string(), "key:a".to_string()];
        assert!(l.admit(&both, 0, t0, 0).is_ok());
        for _ in 0..5 {
            assert!(l.admit(&both, 0, t0, 0).is_err());
        }
        // The tenant's bucket lost one request, not six.
        l.configure(HashMap::from([("tenant:t".into(), many)]));
        let tenant = ["tenant:t".to_string()];
        for _ in 0..99 {
            assert!(l.admit(&tenant, 0, t0, 0).is_ok());
        }
        assert!(l.admit(&tenant, 0, t0, 0).is_err());
    }

    #[test]
    fn budgets_refuse_until_the_period_ends() {
        let l = limits(
            "tenant:t",
            LimitSettings {
                budget_usd: Some(1.0),
                budget_wh: Some(10.0),
                budget_period: Some(Period::Month),
                ..LimitSettings::default()
            },
        );
        let s = [tenant_subject("t")];
        let t0 = Instant::now();
        // 2026-12-06T12:00:00Z
        let noon = days_from_civil(2026, 12, 6) * DAY_MS + DAY_MS / 2;
        l.charge(&s, 0.85, 1.0, noon);
        let uses = l.admit(&s, 0, t0, noon).unwrap();
        let usd = uses.iter().find(|u| u.unit == "usd").unwrap();
        assert!((usd.ratio() - 0.85).abs() < 1e-9);
        l.charge(&s, 0.2, 1.0, noon);
        let refused = l.admit(&s, 0, t0, noon).unwrap_err();
        assert_eq!(refused.limit, "budget_usd");
        // Until 2027-01-01T00:00:00Z: 25.5 days.
        assert_eq!(refused.retry_after_s, 25 * 86_400 + 43_200);
        // A new month starts afresh.
        let january = days_from_civil(2027, 1, 1) * DAY_MS;
        assert!(l.admit(&s, 0, t0, january).is_ok());
    }

    #[test]
    fn periods_end_where_the_calendar_says() {
        assert_eq!(month_of(days_from_civil(1970, 2, 28) * DAY_MS), 1);
        let day = days_from_civil(2026, 12, 6) * DAY_MS;
        assert_eq!(seconds_to_period_end(Period::Day, day + 3_600_000), 82_800.0);
    }
}
