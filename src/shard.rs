//! Thread-per-core serving. The server runs its connections on `server.worker_threads` shards, each
//! a single-threaded tokio runtime on its own OS thread; a connection stays on the shard it was
//! given, and so do its request, its upstream call and the upstream connection's task. No request
//! waits for a wake-up from another core, and no worker steals another's tasks: on the load
//! benchmark that is the difference between one runtime thread and several (`docs/benchmarks.md`).
//!
//! [`current`] says which shard the calling thread is, so the LLM client can keep one connection
//! pool per shard ([`crate::llm::Upstream`]).

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::Error;

thread_local! {
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The shard the calling thread serves, or `None` off the shards (tests, the control plane).
pub(crate) fn current() -> Option<usize> {
    SHARD.with(Cell::get)
}

/// How many shards `server.worker_threads` means: 0 is one per core.
pub(crate) fn count(worker_threads: usize) -> usize {
    match worker_threads {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    }
}

/// The running shards. Dropping this stops them: each runtime ends, and with it the tasks still
/// on it (idle upstream connections; client connections have been drained or aborted by then).
pub(crate) struct Shards {
    handles: Vec<tokio::runtime::Handle>,
    /// Dropped to stop the shards: each one's runtime waits on its receiver.
    _stop: Vec<tokio::sync::oneshot::Sender<()>>,
    next: AtomicUsize,
}

impl Shards {
    /// Starts `n` shards (at least one).
    pub(crate) fn start(n: usize) -> Result<Shards, Error> {
        let mut handles = Vec::with_capacity(n);
        let mut stop = Vec::with_capacity(n);
        for index in 0..n.max(1) {
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let (handle_tx, handle_rx) = std::sync::mpsc::sync_channel(1);
            std::thread::Builder::new()
                .name(format!("ecoroute-shard-{index}"))
                .spawn(move || {
                    SHARD.with(|shard| shard.set(Some(index)));
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                    match runtime {
                        Ok(runtime) => {
                            let _ = handle_tx.send(Ok(runtime.handle().clone()));
                            // Returns when the sender is used or dropped.
                            let _ = runtime.block_on(stop_rx);
                        }
                        Err(e) => {
                            let _ = handle_tx.send(Err(e));
                        }
                    }
                })
                .map_err(|e| Error::io("starting a serving thread", e))?;
            let handle = handle_rx
                .recv()
                .map_err(|_| Error::internal("a serving thread ended before it started"))?
                .map_err(|e| Error::io("starting a serving thread's runtime", e))?;
            handles.push(handle);
            stop.push(stop_tx);
        }
        Ok(Shards {
            handles,
            _stop: stop,
            next: AtomicUsize::new(0),
        })
    }

    /// The shard for the next connection, in turn.
    pub(crate) fn next(&self) -> &tokio::runtime::Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }

    // Only the tests count the shards.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.handles.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_to_the_shards_in_turn_and_each_knows_its_index() {
        let shards = Shards::start(2).unwrap();
        assert_eq!(shards.len(), 2);
        let seen: Vec<Option<usize>> = (0..4)
            .map(|_| {
                let (tx, rx) = std::sync::mpsc::channel();
                shards.next().spawn(async move { tx.send(current()).unwrap() });
                rx.recv().unwrap()
            })
            .collect();
        assert_eq!(seen, [Some(0), Some(1), Some(0), Some(1)]);
        assert_eq!(current(), None, "the test thread is no shard");
    }

    #[test]
    fn zero_means_one_per_core() {
        assert!(count(0) >= 1);
        assert_eq!(count(3), 3);
    }
}
