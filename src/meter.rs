//! GPU energy meters for self-hosted models (`[[energy.meter]]`): each reads a cumulative energy
//! counter from a Prometheus endpoint (NVIDIA's DCGM exporter publishes
//! `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION` in mJ per GPU) every `scrape_interval_ms`, and hands the
//! energy drawn since the previous read to the ledger, which shares it among the requests that
//! ended in the interval by output tokens (see `ledger::metered`). I/O lives here; the share and
//! the accounting are pure and tested where they are.

use std::sync::Arc;
use std::time::Duration;

use crate::energy::MeterSpec;
use crate::ledger::{Ledger, MeterReading};
use crate::metrics::Metrics;

/// Sums every series of `metric` in a Prometheus text exposition (one series per GPU): `None`
/// when the metric is absent.
pub(crate) fn sum_counter(exposition: &str, metric: &str) -> Option<f64> {
    let mut total = None;
    for line in exposition.lines() {
        let line = line.trim_start();
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        // The name must end here: `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION_X` is another metric.
        let rest = match rest.chars().next() {
            Some('{') => labels_end(rest).map(|end| &rest[end + 1..]),
            Some(' ' | '\t') => Some(rest),
            _ => None,
        };
        // An energy counter is never negative.
        let value = rest
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0);
        if let Some(v) = value {
            *total.get_or_insert(0.0) += v;
        }
    }
    // Two series of 1e308 sum to infinity, which no meter measured: no reading, not an infinite one
    // (it turned every report total to null).
    total.filter(|t: &f64| t.is_finite())
}

/// Where a sample's label set (`{gpu="0",name="a } b"}`) ends: the first `}` outside a quoted
/// label value, escapes (`\"`) included. A `}` inside a value ended it before, and the rest of the
/// value was read as the sample (the attack review's L9: `} 1e30 ` put 9.3e22 Wh on each row).
fn labels_end(rest: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Above this average power over an interval a counter's jump is no reading: a node of eight
/// 700 W boards draws under 6 kW, and a counter that leapt (a reset to garbage, a spoofed page) would
/// put its leap on the interval's rows as measured (the attack review's L9).
const MAX_PLAUSIBLE_WATTS: f64 = 100_000.0;

/// The GPU energy of an interval from two reads of a counter, in Wh: `None` when the counter went
/// back (an exporter or board reset), stood still (a live board always draws: a frozen exporter),
/// or leapt past [`MAX_PLAUSIBLE_WATTS`].
fn interval_wh(before: f64, now: f64, seconds: f64, wh_per_unit: f64) -> Option<f64> {
    let wh = (now - before) * wh_per_unit;
    let plausible = seconds > 0.0 && wh / (seconds / 3600.0) <= MAX_PLAUSIBLE_WATTS;
    (now > before && plausible).then_some(wh)
}

/// A meter's page larger than this is no reading: an exporter's page is kilobytes, and an endless
/// one held 1.8 GB in one scrape (the attack review's M8).
const MAX_PAGE_BYTES: usize = 4 << 20;

/// The body of `response` as text, or `None` past `limit` bytes or on a read error; never holds
/// more than `limit` bytes and one chunk.
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Option<String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        if body.len() + chunk.len() > limit {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(String::from_utf8_lossy(&body).into_owned())
}

/// One meter: its endpoint and the counter's last value.
pub(crate) struct Meter {
    index: usize,
    spec: MeterSpec,
    client: reqwest::Client,
    /// The counter's last value, and when it was read.
    last_total: tokio::sync::Mutex<Option<(f64, std::time::Instant)>>,
}

impl Meter {
    /// Reads the counter. The first read sets the baseline (no reading); later ones give the energy
    /// since the previous read, or `gpu_wh: None` when the read failed or the counter went back
    /// (an exporter or GPU reset), so the rows waiting are released as estimated.
    pub(crate) async fn read(&self, metrics: &Metrics) -> Option<MeterReading> {
        let total = self.scrape().await;
        let read_at = std::time::Instant::now();
        let mut last = self.last_total.lock().await;
        // The interval's length too: the marginal energy per token is fitted on power against
        // token rate, and the final read at shutdown ends a shorter interval.
        let seconds = last.map_or(0.0, |(_, at)| read_at.duration_since(at).as_secs_f64());
        let reading = match (total, *last) {
            (Some(now), Some((before, _))) => {
                let gpu_wh = interval_wh(before, now, seconds, self.spec.wh_per_unit);
                if let Some(wh) = gpu_wh {
                    metrics.meter_read_wh.inc_by(wh);
                }
                Some(gpu_wh)
            }
            (Some(_), None) => None,
            (None, _) => Some(None),
        };
        // A refused interval (the counter stood still, went back or leapt) counts too: an operator
        // sees in `/metrics` that readings are being refused, not only that reads failed.
        if total.is_none() || matches!(reading, Some(None)) {
            metrics.meter_scrape_failures.inc();
        }
        if let Some(now) = total {
            *last = Some((now, read_at));
        }
        reading.map(|gpu_wh| MeterReading {
            meter: self.index,
            gpu_wh,
            seconds,
        })
    }

    async fn scrape(&self) -> Option<f64> {
        let response = self.client.get(&self.spec.url).send().await;
        let text = match response.and_then(reqwest::Response::error_for_status) {
            Ok(r) => match read_capped(r, MAX_PAGE_BYTES).await {
                Some(text) => text,
                None => {
                    tracing::warn!(url = %self.spec.url, limit = MAX_PAGE_BYTES, "the GPU energy meter's page is too large or broken; no reading");
                    return None;
                }
            },
            Err(e) => {
                tracing::warn!(url = %self.spec.url, error = %e, "could not read the GPU energy meter");
                return None;
            }
        };
        let total = sum_counter(&text, &self.spec.metric);
        if total.is_none() {
            tracing::warn!(url = %self.spec.url, metric = %self.spec.metric, "the meter's page has no such metric");
        }
        total
    }
}

/// The running meters: a task per meter, and a last read at shutdown so the final interval's
/// requests are measured too.
pub(crate) struct Meters {
    meters: Vec<Arc<Meter>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    ledger: Ledger,
    metrics: Arc<Metrics>,
}

impl Meters {
    /// Reads each meter once for its baseline, then every interval.
    pub(crate) async fn start(specs: &[MeterSpec], ledger: Ledger, metrics: Arc<Metrics>) -> Meters {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        let mut meters = Vec::new();
        let mut tasks = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            let meter = Arc::new(Meter {
                index,
                spec: spec.clone(),
                client: client.clone(),
                last_total: tokio::sync::Mutex::new(None),
            });
            let _ = meter.read(&metrics).await;
            let (task_meter, task_ledger, task_metrics) = (Arc::clone(&meter), ledger.clone(), Arc::clone(&metrics));
            tasks.push(tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_millis(task_meter.spec.scrape_interval_ms));
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                every.tick().await;
                loop {
                    every.tick().await;
                    if let Some(reading) = task_meter.read(&task_metrics).await {
                        task_ledger.meter_reading(reading);
                    }
                }
            }));
            meters.push(meter);
        }
        Meters {
            meters,
            tasks,
            ledger,
            metrics,
        }
    }

    /// Stops reading on a schedule and reads each meter a last time, after the requests in
    /// flight have ended and before the ledger closes.
    pub(crate) async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        for meter in &self.meters {
            if let Some(reading) = meter.read(&self.metrics).await {
                self.ledger.meter_reading(reading);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_gpu_of_the_counter_and_nothing_else() {
        let page = "# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot (in mJ).\n\
# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n\
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu=\"0\",UUID=\"GPU-a\",Hostname=\"h\"} 1000\n\
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu=\"1\",UUID=\"GPU-b\",Hostname=\"h\"} 2500.5 1700000000000\n\
DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION_OTHER{gpu=\"0\"} 99\n\
DCGM_FI_DEV_POWER_USAGE{gpu=\"0\"} 300\n";
        assert_eq!(sum_counter(page, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"), Some(3500.5));
        assert_eq!(sum_counter("gpu_energy_joules 12\n", "gpu_energy_joules"), Some(12.0));
        assert_eq!(sum_counter(page, "nvml_energy"), None);
        assert_eq!(sum_counter("x{a=\"1\"} NaN\n", "x"), None, "not a number is no reading");
        assert_eq!(
            sum_counter("x{gpu=\"0\"} 1e308\nx{gpu=\"1\"} 1e308\n", "x"),
            None,
            "a sum past f64 is no reading (the attack review's M8)"
        );
    }

    #[test]
    fn a_brace_or_a_sign_inside_a_label_is_not_the_sample() {
        let page = "x{gpu=\"0\",name=\"a } 1e30 \"} 12\nx{gpu=\"1\",q=\"say \\\"}\\\" 9\"} 3\n";
        assert_eq!(sum_counter(page, "x"), Some(15.0));
        assert_eq!(
            sum_counter("x{gpu=\"0\"} -5\n", "x"),
            None,
            "a counter is never negative"
        );
        assert_eq!(sum_counter("x{gpu=\"0\"\n", "x"), None, "an unclosed label set");
    }

    #[test]
    fn a_counter_that_stands_still_goes_back_or_leaps_is_no_reading() {
        // 3.6e6 mJ in 60 s is 1 Wh: 60 W.
        let wh = interval_wh(0.0, 3.6e6, 60.0, 1.0 / 3.6e6).expect("a reading");
        assert!((wh - 1.0).abs() < 1e-9, "{wh}");
        assert_eq!(interval_wh(5.0, 5.0, 60.0, 1.0), None, "frozen");
        assert_eq!(interval_wh(5.0, 4.0, 60.0, 1.0), None, "reset");
        assert_eq!(interval_wh(0.0, 1e300, 60.0, 1.0 / 3.6e6), None, "leap");
        assert_eq!(interval_wh(0.0, 1.0, 0.0, 1.0), None, "no interval");
    }

    #[tokio::test]
    async fn an_endless_meter_page_is_no_reading_and_is_not_held() {
        use axum::body::{Body, Bytes};
        let app = axum::Router::new()
            .route("/small", axum::routing::get(|| async { "gpu_energy 12\n" }))
            .route(
                "/endless",
                axum::routing::get(|| async {
                    let chunk = Bytes::from(vec![b'#'; 64 * 1024]);
                    let stream = futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
                    Body::from_stream(stream)
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = reqwest::Client::new();
        let get = |path: &str| client.get(format!("http://{addr}{path}")).send();
        assert_eq!(
            read_capped(get("/small").await.unwrap(), 1 << 20).await.as_deref(),
            Some("gpu_energy 12\n")
        );
        assert_eq!(read_capped(get("/endless").await.unwrap(), 1 << 20).await, None);
    }
}
