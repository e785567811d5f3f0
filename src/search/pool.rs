//! The bounded pool that CPU-bound search work runs on: embedded index searches and the answer
//! step after every search (the reader scores sentences). A search over a multi-gigabyte index can
//! take hundreds of milliseconds; on a serving thread (one single-threaded runtime per core) it
//! would stall every other request of that core, and `search.timeout_ms` could not fire, since a
//! timer needs the thread the search holds.
//!
//! Built on tokio's blocking threads, gated by a semaphore of `search.threads` permits: tokio's own
//! pool grows to 512 threads and queues without bound, which is what this must not do. A permit
//! travels with the work into its thread, so work abandoned by a timeout still holds its permit
//! until it really ends: at most `search.threads` such jobs ever run, and the rest wait for a
//! permit, as long as their caller lets them (the search timeout), then escalate.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// Why work did not run on the pool.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PoolError {
    #[error("every search thread stayed busy for {0:?}")]
    Busy(Duration),
    #[error("a search thread failed: {0}")]
    Failed(String),
}

/// A cheap handle; clones share the permits.
#[derive(Clone, Debug)]
pub struct SearchPool {
    permits: Arc<Semaphore>,
}

impl SearchPool {
    /// `threads` concurrent jobs at most; 0 means one per core.
    pub(crate) fn new(threads: usize) -> SearchPool {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        };
        SearchPool {
            permits: Arc::new(Semaphore::new(threads)),
        }
    }

    /// Runs `work` on a blocking thread once a permit is free, waiting for one at most `wait`
    /// (`None`: as long as the caller awaits, for callers that bound the whole call with a
    /// timeout). Returns what `work` returned and the thread CPU time it used there.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        wait: Option<Duration>,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<(T, Option<Duration>), PoolError> {
        let acquire = Arc::clone(&self.permits).acquire_owned();
        let permit = match wait {
            None => acquire.await,
            Some(wait) => tokio::time::timeout(wait, acquire)
                .await
                .map_err(|_| PoolError::Busy(wait))?,
        }
        // The semaphore is never closed.
        .map_err(|e| PoolError::Failed(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let meter = crate::cpu::CpuMeter::start();
            let out = work();
            (out, meter.elapsed())
        })
        .await
        .map_err(|e| PoolError::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn work_runs_off_the_calling_thread_and_is_charged_its_cpu() {
        let pool = SearchPool::new(1);
        let caller = std::thread::current().id();
        let (ran_on, cpu) = pool
            .run(None, || {
                let mut x = 0u64;
                for i in 0..2_000_000u64 {
                    x = x.wrapping_mul(31).wrapping_add(i);
                }
                std::hint::black_box(x);
                std::thread::current().id()
            })
            .await
            .unwrap();
        assert_ne!(ran_on, caller);
        assert!(cpu.is_some_and(|d| d > Duration::ZERO), "{cpu:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_pool_refuses_after_the_wait_and_abandoned_work_keeps_its_permit() {
        let pool = SearchPool::new(1);
        let (release, released) = std::sync::mpsc::channel::<()>();
        // Abandoned at once, as a timeout abandons a search: its thread still holds the permit.
        let abandoned = tokio::time::timeout(
            Duration::from_millis(20),
            pool.run(None, move || released.recv().is_ok()),
        )
        .await;
        assert!(abandoned.is_err());
        let busy = pool.run(Some(Duration::from_millis(30)), || ()).await;
        assert!(matches!(busy, Err(PoolError::Busy(_))), "{busy:?}");
        release.send(()).unwrap();
        let (done, _) = pool.run(Some(Duration::from_secs(5)), || 7).await.unwrap();
        assert_eq!(done, 7);
    }
}
