//! Rows of LLM calls served on metered GPUs (`[[energy.meter]]`) wait in the writer until the
//! meter has read the GPUs' energy counter for the interval they ended in; then each row gets its
//! share of that interval's energy by output tokens, and is accounted and written as measured.
//!
//! The share is by end time: a row belongs to the first reading taken after it reached the
//! writer. All the energy of an interval goes to the requests that ended in it, idle draw
//! included, since SCI counts provisioned hardware; an interval in which no metered request ended
//! carries its energy to the next interval that has requests, so the idle draw is in the actual
//! footprint (and the SCI) rather than in no report. What is still carried at shutdown is in no
//! row, and `ecoroute_meter_unattributed_gpu_energy_wh` counts it. A failed read, or a shutdown,
//! releases the waiting rows as estimated: a row is never held back for good.
//!
//! A call that search avoided saved only the *marginal* energy of its tokens: the idle draw is
//! spent anyway. `MarginalFit` estimates it from the readings themselves, as the slope of power
//! against token rate over busy and idle intervals.

use super::{LedgerRecord, Served};
use crate::energy::{MeterSpec, Range};

/// One read of a meter: the GPU energy drawn since its previous read (None when the read failed,
/// or the counter went backwards because an exporter restarted), and the interval's length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MeterReading {
    pub meter: usize,
    pub gpu_wh: Option<f64>,
    pub seconds: f64,
}

/// What a reading released: the rows, and the meter's marginal GPU energy per output token (for
/// search answers' counterfactuals on the same GPUs) once it can be estimated.
pub(crate) struct Released {
    #[expect(
        clippy::vec_box,
        reason = "rows arrive boxed from the channel and leave boxed in a batch"
    )]
    pub rows: Vec<Box<LedgerRecord>>,
    pub marginal_wh_per_token: Option<Range>,
}

/// A least-squares line through a meter's intervals: GPU power (Wh/s) against the token rate of
/// the calls that ended in them (tokens/s). Its slope is the energy one more output token costs,
/// idle draw excluded (the intercept is the idle power); its standard error gives the range.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct MarginalFit {
    n: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    sxy: f64,
    syy: f64,
}

impl MarginalFit {
    fn add(&mut self, tokens: f64, gpu_wh: f64, seconds: f64) {
        if !(seconds > 0.0 && gpu_wh.is_finite() && tokens.is_finite()) {
            return;
        }
        let (x, y) = (tokens / seconds, gpu_wh / seconds);
        self.n += 1.0;
        self.sx += x;
        self.sy += y;
        self.sxx += x * x;
        self.sxy += x * y;
        self.syy += y * y;
    }

    /// Wh per output token (low, central, high: the slope ± two standard errors, never below 0),
    /// once there are three intervals at two different token rates at least.
    fn wh_per_token(&self) -> Option<Range> {
        let n = self.n;
        let var_x = self.sxx - self.sx * self.sx / n;
        // Relative to the rates seen, so rounding of equal rates does not pass for a spread.
        if n < 3.0 || var_x <= 1e-9 * self.sxx.max(f64::MIN_POSITIVE) {
            return None;
        }
        let cov = self.sxy - self.sx * self.sy / n;
        let var_y = self.syy - self.sy * self.sy / n;
        let slope = cov / var_x;
        let residual = (var_y - slope * cov).max(0.0);
        let se = (residual / (n - 2.0) / var_x).sqrt();
        let central = slope.max(0.0);
        Some(Range {
            low: (slope - 2.0 * se).max(0.0).min(central),
            central,
            high: (slope + 2.0 * se).max(central),
        })
    }
}

/// The rows waiting for each meter's next reading, the idle energy carried to the next busy
/// interval, and each meter's marginal fit.
#[derive(Default)]
pub(crate) struct Waiting {
    #[expect(
        clippy::vec_box,
        reason = "rows arrive boxed from the channel and leave boxed in a batch"
    )]
    per_meter: Vec<Vec<Box<LedgerRecord>>>,
    carried_wh: Vec<f64>,
    fits: Vec<MarginalFit>,
}

/// The meter whose GPUs served this row's LLM answer, if any.
pub(crate) fn meter_of(meters: &[MeterSpec], r: &LedgerRecord) -> Option<usize> {
    let answered = matches!(r.served(), Served::Llm | Served::Escalated)
        && r.status == 200
        && r.completion_tokens.is_some_and(|t| t > 0);
    let model = r.model.as_deref()?;
    answered.then(|| crate::energy::meter_for(meters, model))?
}

impl Waiting {
    pub(crate) fn new(meters: usize) -> Waiting {
        Waiting {
            per_meter: (0..meters).map(|_| Vec::new()).collect(),
            carried_wh: vec![0.0; meters],
            fits: vec![MarginalFit::default(); meters],
        }
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.per_meter.iter().all(Vec::is_empty)
    }

    /// Keeps the row until meter `meter` is next read.
    pub(crate) fn hold(&mut self, meter: usize, r: Box<LedgerRecord>) {
        if let Some(rows) = self.per_meter.get_mut(meter) {
            rows.push(r);
        }
    }

    /// Releases every row waiting for the reading's meter, each with its share of the energy
    /// (the interval's, plus the idle energy carried from intervals without requests).
    pub(crate) fn release(&mut self, reading: MeterReading) -> Released {
        let rows = self
            .per_meter
            .get_mut(reading.meter)
            .map(std::mem::take)
            .unwrap_or_default();
        let tokens: f64 = rows.iter().map(|r| f64::from(r.completion_tokens.unwrap_or(0))).sum();
        let (Some(carried), Some(fit)) = (self.carried_wh.get_mut(reading.meter), self.fits.get_mut(reading.meter))
        else {
            return Released {
                rows,
                marginal_wh_per_token: None,
            };
        };
        let rows = match reading.gpu_wh {
            Some(wh) => {
                fit.add(tokens, wh, reading.seconds);
                if tokens > 0.0 {
                    let per_token = (wh + std::mem::take(carried)) / tokens;
                    rows.into_iter()
                        .map(|mut r| {
                            r.measured_gpu_wh = Some(per_token * f64::from(r.completion_tokens.unwrap_or(0)));
                            r
                        })
                        .collect()
                } else {
                    *carried += wh;
                    rows
                }
            }
            None => rows,
        };
        Released {
            rows,
            marginal_wh_per_token: fit.wh_per_token(),
        }
    }

    /// Everything still waiting (at shutdown): released as estimated, with the idle energy that
    /// found no request after it (Wh).
    #[expect(
        clippy::vec_box,
        reason = "rows arrive boxed from the channel and leave boxed in a batch"
    )]
    pub(crate) fn drain(&mut self) -> (Vec<Box<LedgerRecord>>, f64) {
        let unattributed = self.carried_wh.iter_mut().map(std::mem::take).sum();
        (
            self.per_meter.iter_mut().flat_map(std::mem::take).collect(),
            unattributed,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::RouteTaken;

    fn meter(models: &[&str]) -> MeterSpec {
        let c = crate::energy::Catalogue::builtin().unwrap();
        MeterSpec {
            url: "http://127.0.0.1:1/metrics".into(),
            metric: "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION".into(),
            unit: "mJ".into(),
            wh_per_unit: 1.0 / 3.6e6,
            models: models.iter().map(|m| m.to_string()).collect(),
            scrape_interval_ms: 5000,
            site: crate::energy::Site {
                pue: [1.1, 1.2],
                wue_l_per_kwh: [0.0, 0.0],
                zone: c.zone("FRA").unwrap().clone(),
            },
        }
    }

    fn answer(model: &str, tokens: u32) -> Box<LedgerRecord> {
        Box::new(LedgerRecord {
            route: RouteTaken::Llm,
            status: 200,
            model: Some(model.into()),
            completion_tokens: Some(tokens),
            ..LedgerRecord::default()
        })
    }

    #[test]
    fn only_answers_of_metered_models_wait() {
        let meters = [meter(&["llama-8b"]), meter(&["qwen-32b"])];
        assert_eq!(meter_of(&meters, &answer("llama-8b", 10)), Some(0));
        assert_eq!(meter_of(&meters, &answer("QWEN-32B", 10)), Some(1));
        assert_eq!(meter_of(&meters, &answer("gpt-4o", 10)), None);
        assert_eq!(meter_of(&meters, &answer("llama-8b", 0)), None, "no tokens, no share");
        let mut failed = answer("llama-8b", 10);
        failed.status = 502;
        assert_eq!(meter_of(&meters, &failed), None);
        let mut search = answer("llama-8b", 10);
        search.route = RouteTaken::Search;
        assert_eq!(meter_of(&meters, &search), None, "a search answer used no GPU");
    }

    fn read(meter: usize, gpu_wh: Option<f64>) -> MeterReading {
        MeterReading {
            meter,
            gpu_wh,
            seconds: 2.0,
        }
    }

    #[test]
    fn an_interval_is_shared_by_output_tokens_idle_energy_included() {
        let mut waiting = Waiting::new(2);
        waiting.hold(0, answer("m", 30));
        waiting.hold(0, answer("m", 10));
        waiting.hold(1, answer("n", 5));
        let released = waiting.release(read(0, Some(0.4)));
        let shares: Vec<f64> = released.rows.iter().filter_map(|r| r.measured_gpu_wh).collect();
        assert_eq!(shares.len(), 2);
        assert!(
            (shares[0] - 0.3).abs() < 1e-12 && (shares[1] - 0.1).abs() < 1e-12,
            "{shares:?}"
        );
        assert!(!waiting.is_empty(), "the other meter's row still waits");
        // An idle interval: its energy goes to the requests of the next busy one, so the
        // footprint holds all the energy the boards drew.
        let idle = waiting.release(read(0, Some(0.05)));
        assert!(idle.rows.is_empty());
        waiting.hold(0, answer("m", 10));
        let next = waiting.release(read(0, Some(0.1)));
        assert!((next.rows[0].measured_gpu_wh.unwrap() - 0.15).abs() < 1e-12);
        // A failed read releases rows unmeasured.
        let failed = waiting.release(read(1, None));
        assert_eq!(failed.rows.len(), 1);
        assert_eq!(failed.rows[0].measured_gpu_wh, None);
        assert!(waiting.is_empty());
        // Idle energy no request followed is what stays unattributed at shutdown.
        let _ = waiting.release(read(0, Some(0.07)));
        let (rows, unattributed) = waiting.drain();
        assert!(rows.is_empty() && (unattributed - 0.07).abs() < 1e-12);
    }

    /// The energy audit's H1 board: 124 W idle and 0.2 J per generated token. Intervals of 2 s
    /// with 0 to 60 tokens average 0.0023–0.035 Wh per token with the idle draw in; one more
    /// token costs 0.2 J = 5.6e-5 Wh, which is what a call that did not happen saved.
    #[test]
    fn the_marginal_energy_per_token_leaves_the_idle_draw_out() {
        let mut waiting = Waiting::new(1);
        let idle_wh = 124.0 * 2.0 / 3600.0;
        let per_token_wh = 0.2 / 3600.0;
        let mut last = None;
        for tokens in [0u32, 30, 0, 60, 30, 0] {
            if tokens > 0 {
                waiting.hold(0, answer("m", tokens));
            }
            let wh = idle_wh + f64::from(tokens) * per_token_wh;
            last = waiting.release(read(0, Some(wh))).marginal_wh_per_token;
        }
        let rate = last.expect("busy and idle intervals: a slope");
        assert!(
            (rate.central - per_token_wh).abs() < 1e-12 * per_token_wh.max(1.0) + 1e-15,
            "{rate:?}"
        );
        assert!(rate.low <= rate.central && rate.central <= rate.high);
        // Busy intervals alone, all at one rate: no slope, so no marginal figure (the avoided call
        // is modelled instead).
        let mut flat = MarginalFit::default();
        for _ in 0..5 {
            flat.add(30.0, idle_wh + 30.0 * per_token_wh, 2.0);
        }
        assert_eq!(flat.wh_per_token(), None);
    }
}
