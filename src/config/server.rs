//! `[server]`: the listener and the limits that protect it.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::{problem, raw::RawServer, Problem};
use crate::redact::ser;

#[derive(Debug, Clone, Serialize)]
pub struct ServerConfig {
    #[serde(serialize_with = "ser::display")]
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    /// More messages than this in one chat request is a 400.
    pub max_messages: usize,
    pub max_concurrency: usize,
    #[serde(rename = "shutdown_grace_ms", serialize_with = "ser::millis")]
    pub shutdown_grace: Duration,
    /// After SIGTERM, how long to keep accepting while `/readyz` says draining, so a load balancer
    /// stops sending traffic before the listener closes.
    #[serde(rename = "drain_delay_ms", serialize_with = "ser::millis")]
    pub drain_delay: Duration,
    /// Open client connections at most; past it the proxy stops accepting until one closes.
    pub max_connections: usize,
    /// From accepting a connection (or the end of the previous response on a keep-alive one) to
    /// the end of the request headers. Covers idle keep-alive connections and slow headers.
    #[serde(rename = "header_read_timeout_ms", serialize_with = "ser::millis")]
    pub header_read_timeout: Duration,
    /// A connection with no request in flight this long is closed (HTTP/2 with a GOAWAY); HTTP/1
    /// keep-alive connections are also bounded by `header_read_timeout`, whichever ends first.
    #[serde(rename = "idle_timeout_ms", serialize_with = "ser::millis")]
    pub idle_timeout: Duration,
    /// How often an HTTP/2 connection is pinged, and how long the ping's answer may take before
    /// the connection is dropped as dead.
    #[serde(rename = "http2_keep_alive_interval_ms", serialize_with = "ser::millis")]
    pub http2_keep_alive_interval: Duration,
    #[serde(rename = "http2_keep_alive_timeout_ms", serialize_with = "ser::millis")]
    pub http2_keep_alive_timeout: Duration,
    /// From the end of the headers to the end of the body. The body is read before the request
    /// takes a concurrency slot, so a client that stalls is cut off without holding one.
    #[serde(rename = "body_read_timeout_ms", serialize_with = "ser::millis")]
    pub body_read_timeout: Duration,
    /// Request header fields at most (HTTP/1.1); more is a 431.
    pub max_headers: usize,
    /// Bytes of request line and headers at most (HTTP/1.1); more is a 431.
    pub max_header_bytes: usize,
    /// Serving threads ([`crate::shard`]), each a single-threaded runtime that keeps its
    /// connections; 0 is one per core.
    pub worker_threads: usize,
}

pub(super) fn validate_server(raw: &RawServer, problems: &mut Vec<Problem>) -> ServerConfig {
    let listen = raw.listen.parse::<SocketAddr>().unwrap_or_else(|e| {
        problems.push(problem(
            "server.listen",
            format!("`{}` is not an address: {e}", raw.listen),
            "use IP:PORT, e.g. \"127.0.0.1:8080\"",
        ));
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    if raw.max_body_bytes < 1024 {
        problems.push(problem(
            "server.max_body_bytes",
            "must be at least 1024",
            "raise it; OpenAI requests are often tens of kilobytes",
        ));
    }
    if raw.worker_threads > 1024 {
        problems.push(problem(
            "server.worker_threads",
            format!("{} threads is more than 1024", raw.worker_threads),
            "use 0 (one per core) or a small number",
        ));
    }
    if raw.max_connections == 0 {
        problems.push(problem(
            "server.max_connections",
            "must be at least 1",
            "set it to the client connections the proxy may hold open at once (default 4096)",
        ));
    }
    for (key, value) in [
        ("server.header_read_timeout_ms", raw.header_read_timeout_ms),
        ("server.body_read_timeout_ms", raw.body_read_timeout_ms),
        ("server.idle_timeout_ms", raw.idle_timeout_ms),
        ("server.http2_keep_alive_interval_ms", raw.http2_keep_alive_interval_ms),
        ("server.http2_keep_alive_timeout_ms", raw.http2_keep_alive_timeout_ms),
    ] {
        if value == 0 {
            problems.push(problem(key, "must be greater than 0", "give a timeout in milliseconds"));
        }
    }
    if raw.max_headers == 0 {
        problems.push(problem(
            "server.max_headers",
            "must be at least 1",
            "use the default, 100",
        ));
    }
    // hyper's read buffer cannot be smaller than 8 KiB.
    if raw.max_header_bytes < 8192 {
        problems.push(problem(
            "server.max_header_bytes",
            "must be at least 8192",
            "use the default, 65536",
        ));
    }
    if raw.max_concurrency == 0 {
        problems.push(problem(
            "server.max_concurrency",
            "must be at least 1",
            "set it to the number of requests the proxy may serve at once",
        ));
    }
    ServerConfig {
        listen,
        max_body_bytes: raw.max_body_bytes,
        max_messages: raw.max_messages,
        max_concurrency: raw.max_concurrency,
        shutdown_grace: Duration::from_millis(raw.shutdown_grace_ms),
        drain_delay: Duration::from_millis(raw.drain_delay_ms),
        max_connections: raw.max_connections,
        header_read_timeout: Duration::from_millis(raw.header_read_timeout_ms),
        idle_timeout: Duration::from_millis(raw.idle_timeout_ms),
        http2_keep_alive_interval: Duration::from_millis(raw.http2_keep_alive_interval_ms),
        http2_keep_alive_timeout: Duration::from_millis(raw.http2_keep_alive_timeout_ms),
        body_read_timeout: Duration::from_millis(raw.body_read_timeout_ms),
        max_headers: raw.max_headers,
        max_header_bytes: raw.max_header_bytes,
        worker_threads: raw.worker_threads,
    }
}
