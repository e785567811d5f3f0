//! Rows of LLM calls served on metered GPUs (`[[energy.meter]]`) wait in the writer until the
//! meter has read the GPUs' energy counter for the interval they ended in; then each row gets its
//! share of that interval's energy by output tokens, and is accounted and written as measured.
//!
//! The share is by end time: a row belongs to the first reading taken after it reached the
//! writer. All the energy of an interval goes to the requests that ended in it, idle draw
//! included, since SCI counts provisioned hardware; an interval in which no metered request ended
//! gives its energy to no row, and `ecoroute_meter_unattributed_gpu_energy_wh` counts it. A failed
//! read, or a shutdown, releases the waiting rows as estimated: a row is never held back for good.

use super::{LedgerRecord, Served};
use crate::energy::MeterSpec;

/// One read of a meter: the GPU energy drawn since its previous read (None when the read failed,
/// or the counter went backwards because an exporter restarted).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeterReading {
    pub meter: usize,
    pub gpu_wh: Option<f64>,
}

/// What a reading released: the rows, and the measured energy per output token (for search
/// answers' counterfactuals on the same GPUs) when there was any.
pub struct Released {
    pub rows: Vec<Box<LedgerRecord>>,
    pub wh_per_token: Option<f64>,
    pub unattributed_wh: f64,
}

/// The rows waiting for each meter's next reading.
#[derive(Default)]
pub struct Waiting {
    #[expect(
        clippy::vec_box,
        reason = "rows arrive boxed from the channel and leave boxed in a batch"
    )]
    per_meter: Vec<Vec<Box<LedgerRecord>>>,
}

/// The meter whose GPUs served this row's LLM answer, if any.
pub fn meter_of(meters: &[MeterSpec], r: &LedgerRecord) -> Option<usize> {
    let answered = matches!(r.served(), Served::Llm | Served::Escalated)
        && r.status == 200
        && r.completion_tokens.is_some_and(|t| t > 0);
    let model = r.model.as_deref()?;
    answered.then(|| crate::energy::meter_for(meters, model))?
}

impl Waiting {
    pub fn new(meters: usize) -> Waiting {
        Waiting {
            per_meter: (0..meters).map(|_| Vec::new()).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.per_meter.iter().all(Vec::is_empty)
    }

    /// Keeps the row until meter `meter` is next read.
    pub fn hold(&mut self, meter: usize, r: Box<LedgerRecord>) {
        if let Some(rows) = self.per_meter.get_mut(meter) {
            rows.push(r);
        }
    }

    /// Releases every row waiting for the reading's meter, each with its share of the energy.
    pub fn release(&mut self, reading: MeterReading) -> Released {
        let rows = self
            .per_meter
            .get_mut(reading.meter)
            .map(std::mem::take)
            .unwrap_or_default();
        let tokens: f64 = rows.iter().map(|r| f64::from(r.completion_tokens.unwrap_or(0))).sum();
        match reading.gpu_wh {
            Some(wh) if tokens > 0.0 => {
                let per_token = wh / tokens;
                let rows = rows
                    .into_iter()
                    .map(|mut r| {
                        r.measured_gpu_wh = Some(per_token * f64::from(r.completion_tokens.unwrap_or(0)));
                        r
                    })
                    .collect();
                Released {
                    rows,
                    wh_per_token: Some(per_token),
                    unattributed_wh: 0.0,
                }
            }
            Some(wh) => Released {
                rows,
                wh_per_token: None,
                unattributed_wh: wh,
            },
            None => Released {
                rows,
                wh_per_token: None,
                unattributed_wh: 0.0,
            },
        }
    }

    /// Everything still waiting (at shutdown): released as estimated.
    pub fn drain(&mut self) -> Vec<Box<LedgerRecord>> {
        self.per_meter.iter_mut().flat_map(std::mem::take).collect()
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

    #[test]
    fn an_interval_is_shared_by_output_tokens() {
        let mut waiting = Waiting::new(2);
        waiting.hold(0, answer("m", 30));
        waiting.hold(0, answer("m", 10));
        waiting.hold(1, answer("n", 5));
        let released = waiting.release(MeterReading {
            meter: 0,
            gpu_wh: Some(0.4),
        });
        let shares: Vec<f64> = released.rows.iter().filter_map(|r| r.measured_gpu_wh).collect();
        assert_eq!(shares.len(), 2);
        assert!(
            (shares[0] - 0.3).abs() < 1e-12 && (shares[1] - 0.1).abs() < 1e-12,
            "{shares:?}"
        );
        assert_eq!(released.wh_per_token, Some(0.01));
        assert!(!waiting.is_empty(), "the other meter's row still waits");
        // An idle interval: nobody to give the energy to.
        let idle = waiting.release(MeterReading {
            meter: 0,
            gpu_wh: Some(0.05),
        });
        assert!(idle.rows.is_empty() && idle.unattributed_wh == 0.05);
        // A failed read releases rows unmeasured.
        let failed = waiting.release(MeterReading { meter: 1, gpu_wh: None });
        assert_eq!(failed.rows.len(), 1);
        assert_eq!(failed.rows[0].measured_gpu_wh, None);
        assert!(waiting.is_empty());
    }
}
