//! A slow embedded search (a delay injected by the `test-hooks` feature, as a query over a very
//! large index would take) must time out under `search.timeout_ms`, escalate to the LLM, count for
//! the circuit breaker, and leave the serving thread free: on one serving thread, a `/healthz` and
//! an LLM request sent meanwhile complete long before the search would have.

use std::time::{Duration, Instant};

use crate::support::{user, Harness};
use ecoroute::search::embedded::test_hooks::{self, SLOW_SEARCH};

const SLOW_QUESTION: &str = "What is the capital of Peru zzslowsearch?";

#[tokio::test]
async fn a_slow_embedded_search_times_out_and_does_not_stall_its_serving_thread() {
    test_hooks::arm();
    let mut h = Harness::start_with("", |config| {
        // One serving thread: every connection below shares it with the slow search.
        config.server.worker_threads = 1;
        config.search.timeout = Duration::from_millis(100);
        config.search.breaker.failure_threshold = 2;
    })
    .await;
    // The hook is live: the same question without a timeout in the way would take SLOW_SEARCH.
    let slow = {
        let (client, url) = (h.client.clone(), h.url("/v1/chat/completions"));
        tokio::spawn(async move {
            let started = Instant::now();
            let r = client.post(url).json(&user(SLOW_QUESTION)).send().await.unwrap();
            let route = r.headers()["x-ecoroute-route"].to_str().unwrap().to_string();
            let reason = r.headers()["x-ecoroute-reason"].to_str().unwrap().to_string();
            (started.elapsed(), r.status(), route, reason)
        })
    };
    // Let the slow request reach its search before the others are sent.
    tokio::time::sleep(Duration::from_millis(30)).await;

    let started = Instant::now();
    let health = h.client.get(h.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let llm = h.chat(user("Write a limerick about a teapot")).await;
    assert_eq!(llm.status(), 200);
    assert_eq!(llm.headers()["x-ecoroute-route"], "llm");
    let others = started.elapsed();
    assert!(
        others < SLOW_SEARCH / 3,
        "a /healthz and an LLM request on the same serving thread took {others:?} while a search ran"
    );

    let (took, status, route, reason) = slow.await.unwrap();
    assert_eq!(status, 200, "the LLM answers when the search times out");
    assert_eq!(route, "llm");
    assert!(reason.starts_with("escalated: search timed out"), "{reason}");
    assert!(
        took < SLOW_SEARCH / 2,
        "search.timeout_ms (100 ms), not the search ({SLOW_SEARCH:?}), set the pace: {took:?}"
    );

    // A second timeout opens the circuit (threshold 2): the next search is not even tried.
    let r = h.chat(user(SLOW_QUESTION)).await;
    assert!(r.headers()["x-ecoroute-reason"]
        .to_str()
        .unwrap()
        .starts_with("escalated: search timed out"));
    let r = h.chat(user("What is the capital of Peru?")).await;
    let reason = r.headers()["x-ecoroute-reason"].to_str().unwrap().to_string();
    assert!(reason.starts_with("escalated: search circuit open"), "{reason}");
    let metrics = h.metrics().await;
    assert!(
        metrics.contains(r#"ecoroute_search_failures_total{backend="embedded",reason="timeout"} 2"#),
        "{metrics}"
    );
    h.stop().await;
}

/// The search's thread CPU time is still measured where the search runs, and reaches the ledger.
#[tokio::test]
async fn an_answered_search_is_charged_its_thread_cpu_time() {
    let mut h = Harness::start_with("", |config| config.server.worker_threads = 1).await;
    let r = h.chat(user("What is the capital of Peru?")).await;
    assert_eq!(r.headers()["x-ecoroute-route"], "search");
    let rows = h.stop().await;
    let cpu = rows[0].search_cpu_us.unwrap_or_default();
    assert!(cpu > 0.0, "search_cpu_us = {:?}", rows[0].search_cpu_us);
}
