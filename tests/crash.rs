//! The real `ecoroute serve` process under load, stopped by SIGTERM and killed by SIGKILL, with the
//! ledger counted against the responses clients actually received.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "it/support/mod.rs"]
mod support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{start_mock, test_config_toml, user};

/// Requests each client keeps in flight against the proxy.
const CLIENTS: usize = 16;

struct Proxy {
    child: Child,
    addr: SocketAddr,
    ledger: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts the `ecoroute` binary cargo built for this test, on port 0, and reads the bound
/// address from its start-up line.
fn spawn_proxy(base_url: &str) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ecoroute.toml");
    std::fs::write(&config, test_config_toml(base_url, dir.path(), "")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecoroute"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("ecoroute exited before listening").unwrap();
        if let Some(rest) = line.strip_prefix("ecoroute listening on http://") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Proxy {
        child,
        addr,
        ledger: dir.path().join("ledger.sqlite"),
        _dir: dir,
    }
}

/// Through the shell's built-in `kill`, which every machine has (std can only send SIGKILL).
fn signal(child: &Child, name: &str) {
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{name} {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
}

/// What the clients saw: every request id sent, and for each complete 200 response the time it
/// finished.
#[derive(Default)]
struct Load {
    sent: Mutex<HashSet<String>>,
    served: Mutex<HashMap<String, Instant>>,
}

/// Runs CLIENTS loops of back-to-back requests (lookups answered from search and LLM calls, half
/// each) until `stop` is set or the proxy goes away.
fn start_load(addr: SocketAddr, stop: Arc<AtomicBool>) -> (Arc<Load>, Vec<tokio::task::JoinHandle<()>>) {
    let load = Arc::new(Load::default());
    let next_id = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::new();
    let tasks = (0..CLIENTS)
        .map(|_| {
            let (load, next_id, client, stop) = (load.clone(), next_id.clone(), client.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let n = next_id.fetch_add(1, Ordering::Relaxed);
                    let id = format!("load-{n}");
                    let text = if n % 2 == 0 {
                        "What is the capital of Peru?"
                    } else {
                        "Write a haiku about fog"
                    };
                    load.sent.lock().unwrap().insert(id.clone());
                    let sent = client
                        .post(format!("http://{addr}/v1/chat/completions"))
                        .header("x-request-id", &id)
                        .json(&user(text))
                        .send()
                        .await;
                    let Ok(response) = sent else { break };
                    let ok = response.status() == 200;
                    // Served means the whole body arrived.
                    if response.bytes().await.is_ok() && ok {
                        load.served.lock().unwrap().insert(id, Instant::now());
                    }
                }
            })
        })
        .collect();
    (load, tasks)
}

fn ledger_ids(path: &std::path::Path) -> Vec<String> {
    ecoroute::ledger::read_all(path)
        .unwrap()
        .into_iter()
        .map(|r| r.request_id)
        .collect()
}

/// Starts the proxy, puts it under load for 1.5 s, sends it `signal_name`, and waits for it to
/// exit and for the clients to stop (they keep sending while it drains). Returns the exit status,
/// the proxy (for its ledger), what the clients saw, and when the signal was sent.
async fn signal_under_load(signal_name: &str) -> (ExitStatus, Proxy, Arc<Load>, Instant) {
    let mock = start_mock().await;
    let mut proxy = spawn_proxy(&mock.base_url());
    let stop = Arc::new(AtomicBool::new(false));
    let (load, tasks) = start_load(proxy.addr, stop.clone());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal(&proxy.child, signal_name);
    let signalled_at = Instant::now();
    let (status, proxy) = tokio::task::spawn_blocking(move || (proxy.child.wait().unwrap(), proxy))
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    (status, proxy, load, signalled_at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_ledger_row() {
    let (status, proxy, load, _) = signal_under_load("TERM").await;
    assert!(status.success(), "a clean exit after SIGTERM: {status:?}");

    let served: HashSet<String> = load.served.lock().unwrap().keys().cloned().collect();
    let rows = ledger_ids(&proxy.ledger);
    let in_ledger: HashSet<String> = rows.iter().cloned().collect();
    assert!(served.len() > 100, "the load ran: {} served", served.len());
    assert_eq!(rows.len(), in_ledger.len(), "no row is written twice");
    let missing: Vec<&String> = served.difference(&in_ledger).collect();
    assert!(
        missing.is_empty(),
        "{} of {} served requests have no row: {missing:?}",
        missing.len(),
        served.len()
    );
    let sent = load.sent.lock().unwrap();
    assert!(
        in_ledger.iter().all(|id| sent.contains(id)),
        "every row is a request that was sent"
    );
    eprintln!(
        "SIGTERM under load: {} served, {} ledger rows, 0 lost",
        served.len(),
        rows.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_at_most_the_last_moments_of_rows() {
    let (status, proxy, load, killed_at) = signal_under_load("KILL").await;
    assert!(!status.success(), "killed: {status:?}");

    // SQLite recovers the write-ahead log on open: the ledger is readable and consistent.
    let rows = ledger_ids(&proxy.ledger);
    let in_ledger: HashSet<String> = rows.iter().cloned().collect();
    assert_eq!(rows.len(), in_ledger.len(), "no row is written twice");
    let sent = load.sent.lock().unwrap();
    assert!(
        in_ledger.iter().all(|id| sent.contains(id)),
        "every row is a request that was sent"
    );

    // Rows are committed in groups every few milliseconds, off the request path, so a SIGKILL can
    // lose only those of the last moments; anything served a second before the kill is durable.
    let served = load.served.lock().unwrap();
    assert!(served.len() > 100, "the load ran: {} served", served.len());
    let lost: Vec<(&String, Duration)> = served
        .iter()
        .filter(|(id, _)| !in_ledger.contains(*id))
        .map(|(id, at)| (id, killed_at.saturating_duration_since(*at)))
        .collect();
    let old_losses: Vec<_> = lost
        .iter()
        .filter(|(_, before)| *before > Duration::from_secs(1))
        .collect();
    assert!(
        old_losses.is_empty(),
        "rows served long before the kill were lost: {old_losses:?}"
    );
    eprintln!(
        "SIGKILL mid-load: {} served, {} ledger rows, {} served but lost (all within {:?} of the kill)",
        served.len(),
        rows.len(),
        lost.len(),
        lost.iter().map(|(_, d)| *d).max().unwrap_or_default()
    );
}
