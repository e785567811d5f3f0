//! A circuit breaker for the search backend, as a tower layer. After `failure_threshold` failures in
//! a row (errors or timeouts) it opens: for `open_for`, calls fail at once with [`CircuitOpen`] and
//! requests escalate to the LLM without waiting on a backend that is down. Then one trial call is let
//! through (half-open); its success closes the circuit, its failure opens it again.
//!
//! Why not a crate: the tower ecosystem has no maintained breaker, and the state machine is small.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::BoxError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BreakerSettings {
    pub failure_threshold: u32,
    #[serde(rename = "open_ms", serialize_with = "crate::redact::ser::millis")]
    pub open_for: Duration,
}

/// The error a call gets while the circuit is open.
#[derive(Debug, thiserror::Error)]
#[error("search circuit open: the backend failed {failures} times in a row")]
pub(crate) struct CircuitOpen {
    pub failures: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
        failures: u32,
    },
    /// One trial call is in flight; others are refused until it ends.
    HalfOpen {
        failures: u32,
    },
}

/// The breaker's state machine, pure apart from the clock passed in.
#[derive(Debug)]
pub(crate) struct Breaker {
    settings: BreakerSettings,
    state: State,
}

impl Breaker {
    pub(crate) fn new(settings: BreakerSettings) -> Breaker {
        Breaker {
            settings,
            state: State::Closed { failures: 0 },
        }
    }

    /// Whether a call may go ahead now.
    pub(crate) fn admit(&mut self, now: Instant) -> Result<(), CircuitOpen> {
        match self.state {
            State::Closed { .. } => Ok(()),
            State::Open { until, failures } if now >= until => {
                self.state = State::HalfOpen { failures };
                Ok(())
            }
            State::Open { failures, .. } | State::HalfOpen { failures } => Err(CircuitOpen { failures }),
        }
    }

    /// Whether [`Breaker::admit`] would let a call through now, without moving to half-open: to
    /// rank candidates before one of them is called.
    pub(crate) fn would_admit(&self, now: Instant) -> bool {
        match self.state {
            State::Closed { .. } => true,
            State::Open { until, .. } => now >= until,
            State::HalfOpen { .. } => false,
        }
    }

    pub(crate) fn record(&mut self, success: bool, now: Instant) {
        let failures = match self.state {
            State::Closed { failures } | State::Open { failures, .. } | State::HalfOpen { failures } => failures,
        };
        self.state = if success {
            State::Closed { failures: 0 }
        } else {
            let failures = failures.saturating_add(1);
            let tripped = matches!(self.state, State::HalfOpen { .. }) || failures >= self.settings.failure_threshold;
            if tripped {
                State::Open {
                    until: now + self.settings.open_for,
                    failures,
                }
            } else {
                State::Closed { failures }
            }
        }
    }

    /// Open until `until` at least, whatever the failures so far (an upstream's `Retry-After`).
    pub(crate) fn hold_until(&mut self, until: Instant) {
        self.state = match self.state {
            State::Open {
                until: already,
                failures,
            } => State::Open {
                until: until.max(already),
                failures,
            },
            State::Closed { failures } | State::HalfOpen { failures } => State::Open { until, failures },
        };
    }

    // Only the tests look at the state; a search asks `admit`.
    #[cfg(test)]
    fn is_open(&self) -> bool {
        !matches!(self.state, State::Closed { .. })
    }
}

#[derive(Clone)]
pub(crate) struct BreakerLayer {
    breaker: Arc<Mutex<Breaker>>,
}

impl BreakerLayer {
    pub(crate) fn new(settings: BreakerSettings) -> BreakerLayer {
        BreakerLayer {
            breaker: Arc::new(Mutex::new(Breaker::new(settings))),
        }
    }
}

impl<S> tower::Layer<S> for BreakerLayer {
    type Service = BreakerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BreakerService {
            inner,
            breaker: Arc::clone(&self.breaker),
        }
    }
}

#[derive(Clone)]
pub struct BreakerService<S> {
    inner: S,
    breaker: Arc<Mutex<Breaker>>,
}

impl<S> BreakerService<S> {
    /// Whether the circuit is open or half-open, for `/readyz`.
    // Only the tests read the state through the service.
    #[cfg(test)]
    fn is_open(&self) -> bool {
        self.breaker.lock().map(|b| b.is_open()).unwrap_or(false)
    }
}

fn with_breaker<T>(breaker: &Mutex<Breaker>, f: impl FnOnce(&mut Breaker) -> T) -> T {
    // A poisoned lock only means another thread panicked mid-update; the state is still usable.
    let mut guard = breaker.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f(&mut guard)
}

impl<S, Req> tower::Service<Req> for BreakerService<S>
where
    S: tower::Service<Req, Error = BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        if let Err(open) = with_breaker(&self.breaker, |b| b.admit(Instant::now())) {
            return Box::pin(async move { Err(Box::new(open) as BoxError) });
        }
        let future = self.inner.call(request);
        let breaker = Arc::clone(&self.breaker);
        Box::pin(async move {
            let result = future.await;
            with_breaker(&breaker, |b| b.record(result.is_ok(), Instant::now()));
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            failure_threshold: 3,
            open_for: Duration::from_secs(10),
        }
    }

    #[test]
    fn a_hold_opens_it_until_then_and_never_shortens_an_open_wait() {
        let t0 = Instant::now();
        let mut b = Breaker::new(settings());
        b.hold_until(t0 + Duration::from_secs(5));
        assert!(
            !b.would_admit(t0 + Duration::from_secs(4)),
            "held though nothing failed"
        );
        assert!(b.would_admit(t0 + Duration::from_secs(5)));
        for _ in 0..3 {
            b.record(false, t0);
        }
        b.hold_until(t0 + Duration::from_secs(1));
        assert!(!b.would_admit(t0 + Duration::from_secs(9)), "the cool-down's 10 s stay");
        b.admit(t0 + Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn opens_after_the_threshold_and_half_opens_after_the_wait() {
        let t0 = Instant::now();
        let mut b = Breaker::new(settings());
        for _ in 0..2 {
            b.admit(t0).unwrap();
            b.record(false, t0);
        }
        assert!(!b.is_open(), "two failures stay under the threshold of three");
        b.record(false, t0);
        assert!(b.admit(t0 + Duration::from_secs(9)).is_err(), "open: refused at once");
        b.admit(t0 + Duration::from_secs(10)).unwrap();
        assert!(
            b.admit(t0 + Duration::from_secs(10)).is_err(),
            "half-open lets one trial through"
        );
        b.record(true, t0 + Duration::from_secs(10));
        assert!(!b.is_open());
        b.admit(t0 + Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn a_failed_trial_opens_again_and_a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = Breaker::new(settings());
        for _ in 0..3 {
            b.record(false, t0);
        }
        let later = t0 + Duration::from_secs(11);
        b.admit(later).unwrap();
        b.record(false, later);
        assert!(b.admit(later + Duration::from_secs(1)).is_err());

        let mut b = Breaker::new(settings());
        b.record(false, t0);
        b.record(false, t0);
        b.record(true, t0);
        b.record(false, t0);
        b.record(false, t0);
        assert!(b.admit(t0).is_ok(), "a success in between resets the run of failures");
    }

    proptest! {
        #[test]
        fn never_open_without_threshold_failures_in_a_row(outcomes in proptest::collection::vec(any::<bool>(), 0..60)) {
            let t0 = Instant::now();
            let mut b = Breaker::new(settings());
            let mut run = 0u32;
            for ok in outcomes {
                run = if ok { 0 } else { run + 1 };
                b.record(ok, t0);
                prop_assert_eq!(b.is_open(), run >= 3);
            }
        }
    }

    #[tokio::test]
    async fn the_layer_short_circuits_a_failing_service() {
        use std::sync::atomic::{AtomicU32, Ordering};
        use tower::{Layer, ServiceExt};
        let calls = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&calls);
        let failing = tower::service_fn(move |_: ()| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), BoxError>("down".into()) }
        });
        let service = BreakerLayer::new(settings()).layer(failing);
        for _ in 0..5 {
            let err = service.clone().oneshot(()).await.unwrap_err();
            assert!(err.is::<CircuitOpen>() || err.to_string() == "down");
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "calls after the third failure never reach the backend"
        );
        assert!(service.is_open());
    }
}
