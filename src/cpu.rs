//! Thread CPU time of a synchronous stretch of work, for the energy ledger: the proxy's own work
//! and the search step are charged by the CPU time they used, not by wall time.

use std::thread::ThreadId;
use std::time::Duration;

/// The calling thread's CPU clock.
fn thread_cpu_now() -> Option<Duration> {
    cpu_time::ThreadTime::try_now().ok().map(|t| t.as_duration())
}

/// Measures CPU time on the calling thread. A task that moved to another thread in between cannot
/// be measured this way, and reports nothing rather than a wrong figure.
pub struct CpuMeter {
    /// The thread's CPU clock at the start, as a plain `Duration` so the meter stays `Send`.
    start: Option<Duration>,
    thread: ThreadId,
}

impl CpuMeter {
    pub fn start() -> CpuMeter {
        CpuMeter {
            start: thread_cpu_now(),
            thread: std::thread::current().id(),
        }
    }

    /// CPU time since `start`, or `None` when it cannot be measured.
    pub(crate) fn elapsed(&self) -> Option<Duration> {
        match (self.start, thread_cpu_now()) {
            (Some(start), Some(now)) if std::thread::current().id() == self.thread => Some(now.saturating_sub(start)),
            _ => None,
        }
    }

    /// Microseconds of CPU since `start`, or 0 when not measurable.
    pub(crate) fn micros(&self) -> f64 {
        self.elapsed().map_or(0.0, |d| d.as_secs_f64() * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_work_on_this_thread() {
        let meter = CpuMeter::start();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(meter.micros() > 0.0);
        assert!(meter.elapsed().is_some());
    }

    #[test]
    fn another_thread_reports_nothing() {
        let meter = CpuMeter::start();
        let elsewhere = std::thread::spawn(move || meter.elapsed()).join().unwrap();
        assert_eq!(elsewhere, None);
    }
}
