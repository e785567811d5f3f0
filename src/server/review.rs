//! A tier's review calls (`review_sample`): which requests are in the sample, and how many calls
//! may be open at once.
//!
//! The attack review's M4 found both steerable: the draw hashed the request id, which the client
//! chooses (40 chosen ids made 40 reviews, each a paid call), and the calls ran outside
//! `max_concurrency` (200 open under a limit of 8, 714 MB held by their bodies).

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The most review calls open at once, whatever `max_concurrency`: each holds the request's body
/// (up to `max_body_bytes`) and reads an answer of up to [`ANSWER_LIMIT`], so this bounds their
/// memory to a few tens of MiB at the defaults.
const MAX_SLOTS: usize = 16;

/// The most a review call reads of the cheaper model's answer (one JSON chat answer).
pub(crate) const ANSWER_LIMIT: usize = 1 << 20;

pub(crate) struct Reviews {
    /// Drawn at start, never shown: the sample cannot be computed outside this process.
    key: [u8; 32],
    slots: Arc<Semaphore>,
    size: usize,
}

impl Reviews {
    /// Review calls take at most an eighth of `max_concurrency` (at least one, at most
    /// [`MAX_SLOTS`]): they are a sample, and never worth a client's place.
    pub(crate) fn new(max_concurrency: usize) -> Reviews {
        let size = (max_concurrency / 8).clamp(1, MAX_SLOTS);
        let mut key = [0u8; 32];
        // Two v4 UUIDs: 244 bits from the CSPRNG uuid already uses for request ids.
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Reviews {
            key,
            slots: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// Whether a request is in the sample: a draw keyed by this process's secret, so the same
    /// request id is always in or out here, and a client cannot search for ids that are in.
    pub(crate) fn sampled(&self, request_id: &str, share: f64) -> bool {
        if share <= 0.0 {
            return false;
        }
        let hash = Sha256::new()
            .chain_update(self.key)
            .chain_update(request_id.as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash[..8]);
        share >= 1.0 || (u64::from_le_bytes(first) as f64 / u64::MAX as f64) < share
    }

    /// A place for one review call, held until it ends; `None` when all are taken (the review
    /// is then skipped, and the request's row says so).
    pub(crate) fn slot(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.slots).try_acquire_owned().ok()
    }

    /// How many review calls may be open at once.
    pub(crate) fn size(&self) -> usize {
        self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The draw the attack review searched offline: SHA-256 of the request id alone.
    fn unkeyed(request_id: &str, share: f64) -> bool {
        let hash = Sha256::digest(request_id.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash[..8]);
        (u64::from_le_bytes(first) as f64 / u64::MAX as f64) < share
    }

    #[test]
    fn ids_found_in_the_sample_offline_are_not_in_it_here() {
        let share = 0.05;
        let chosen: Vec<String> = (0..20_000)
            .map(|i| format!("order-{i}"))
            .filter(|id| unkeyed(id, share))
            .collect();
        assert!(chosen.len() > 500, "{}", chosen.len());
        let reviews = Reviews::new(1024);
        let in_sample = chosen.iter().filter(|id| reviews.sampled(id, share)).count();
        // About one in twenty, as for any ids; all of them were in with the unkeyed draw.
        assert!(
            in_sample * 5 < chosen.len(),
            "{in_sample} of {} chosen ids",
            chosen.len()
        );
        // A draw is stable within the process, and the share holds.
        assert!(chosen
            .iter()
            .all(|id| reviews.sampled(id, share) == reviews.sampled(id, share)));
        let all = (0..20_000).filter(|i| reviews.sampled(&format!("r{i}"), share)).count();
        assert!((700..1300).contains(&all), "{all} of 20,000 at 5%");
        assert!(!reviews.sampled("x", 0.0) && reviews.sampled("x", 1.0));
    }

    #[test]
    fn review_slots_are_a_small_share_of_max_concurrency() {
        for (max_concurrency, size) in [(1, 1), (8, 1), (64, 8), (1024, 16)] {
            let reviews = Reviews::new(max_concurrency);
            assert_eq!(reviews.size(), size, "max_concurrency {max_concurrency}");
            let held: Vec<_> = (0..size).map_while(|_| reviews.slot()).collect();
            assert_eq!(held.len(), size);
            assert!(reviews.slot().is_none(), "all taken");
            drop(held);
            assert!(reviews.slot().is_some(), "given back");
        }
    }
}
