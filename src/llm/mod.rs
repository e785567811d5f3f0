//! The upstream LLM: an OpenAI-compatible HTTP API. [`Upstream`] forwards a request to the configured
//! base URL only (never a URL taken from the request), with header hygiene (hop-by-hop headers and
//! ecoroute's own control headers stripped, the configured key substituted when there is one) and
//! three timeouts: connect, first byte (response headers) and total (the body included).

pub(crate) mod fleet;
pub(crate) mod usage;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::config::llm::{DeploymentApi, DeploymentConfig};
use crate::config::LlmConfig;
use crate::Error;

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus the ones the HTTP client
/// computes itself.
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
    header::CONTENT_LENGTH,
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name) || name.as_str() == "keep-alive" || name.as_str() == "proxy-connection"
}

/// Response headers to hand back to the client: all but the hop-by-hop ones.
pub(crate) fn response_headers(upstream: &HeaderMap) -> HeaderMap {
    upstream
        .iter()
        .filter(|(name, _)| !is_hop_by_hop(name))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// What a request to the upstream carries: the client's bytes for a chat request, its body as it
/// was read for a passthrough.
pub type UpstreamBody = axum::body::Body;

pub(crate) struct UpstreamRequest {
    pub method: Method,
    /// Path after the API prefix plus query, e.g. `/chat/completions` or `/models?limit=5`.
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: UpstreamBody,
    /// The proxy's id for this request, sent upstream as `x-request-id` so both logs join up.
    pub request_id: String,
}

/// hyper-util's pooled client, over TLS or plain TCP. It replaced reqwest on this path: on the
/// load benchmark's minimal proxy, reqwest's layers (URL handling, redirect policy, its own body
/// and timeout wrappers) took the proxy from 84 to 153 µs of CPU per request at c=1
/// (`docs/benchmarks.md`).
type HttpClient = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

struct Inner {
    /// One pool per serving shard, and one more for calls made off the shards: a connection is
    /// driven by a task on the runtime that opened it, so a shard that used another's connection
    /// would wait for a wake-up from another core ([`crate::shard`]).
    clients: Vec<HttpClient>,
    base_url: url::Url,
    /// The upstream URIs of the three chat paths, parsed once: every chat request goes to one.
    fixed: Vec<(&'static str, Uri)>,
    /// The configured key, under the header its API reads (`Authorization: Bearer`, `x-api-key`).
    key: Option<(HeaderName, HeaderValue)>,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
    total_timeout: Duration,
}

/// The upstream URL for a path under the base, or `None` when the path, once resolved as the
/// HTTP client will resolve it (dot segments, backslashes, percent-encoded dots), lands outside
/// the base's path. Checked on the parsed URL itself, so no spelling of `..` gets past it, and the
/// configured key is never sent anywhere but under `llm.base_url`.
pub(crate) fn upstream_url(base: &url::Url, path_and_query: &str) -> Option<url::Url> {
    let joined = format!("{}{}", base.as_str().trim_end_matches('/'), path_and_query);
    let url = url::Url::parse(&joined).ok()?;
    let base_path = base.path().trim_end_matches('/');
    let inside = url.path() == base_path || url.path().starts_with(&format!("{base_path}/"));
    let same_origin = url.origin() == base.origin();
    (inside && same_origin).then_some(url)
}

#[derive(Clone)]
pub(crate) struct Upstream {
    inner: Arc<Inner>,
}

impl Upstream {
    /// The OpenAI-compatible upstream (`[llm]`): chat completions, Responses, everything else.
    pub(crate) fn new(config: &LlmConfig, shards: usize) -> Result<Upstream, Error> {
        let key = config
            .api_key
            .as_ref()
            .map(|k| (header::AUTHORIZATION, format!("Bearer {}", k.expose())));
        Upstream::build(config, &config.base_url, key, shards)
    }

    /// The Anthropic upstream (`[llm.anthropic]`), with `[llm]`'s timeouts.
    pub(crate) fn anthropic(config: &LlmConfig, shards: usize) -> Result<Upstream, Error> {
        let anthropic = &config.anthropic;
        let key = anthropic
            .api_key
            .as_ref()
            .map(|k| (HeaderName::from_static("x-api-key"), k.expose().to_string()));
        Upstream::build(config, &anthropic.base_url, key, shards)
    }

    /// A `[[llm.deployments]]` entry, with `[llm]`'s timeouts; its key under the header its API reads.
    pub(crate) fn deployment(
        config: &LlmConfig,
        deployment: &DeploymentConfig,
        shards: usize,
    ) -> Result<Upstream, Error> {
        let key = deployment.api_key.as_ref().map(|k| match deployment.api {
            DeploymentApi::Openai => (header::AUTHORIZATION, format!("Bearer {}", k.expose())),
            DeploymentApi::Anthropic => (HeaderName::from_static("x-api-key"), k.expose().to_string()),
        });
        Upstream::build(config, &deployment.base_url, key, shards)
    }

    fn build(
        config: &LlmConfig,
        base_url: &str,
        key: Option<(HeaderName, String)>,
        shards: usize,
    ) -> Result<Upstream, Error> {
        let connector = connector(config);
        let clients = (0..=shards).map(|_| http_client(connector.clone())).collect();
        let key = match key {
            Some((name, key)) => {
                let mut value = HeaderValue::from_str(&key)
                    .map_err(|_| Error::internal("the configured API key is not a valid header value"))?;
                value.set_sensitive(true);
                Some((name, value))
            }
            None => None,
        };
        let base_url = url::Url::parse(base_url)
            .map_err(|e| Error::internal_from(format!("the upstream base URL `{base_url}` is not a URL"), e))?;
        let fixed = crate::api::Api::ALL
            .iter()
            .filter_map(|api| {
                let url = upstream_url(&base_url, api.upstream_path())?;
                Some((api.upstream_path(), Uri::try_from(url.as_str()).ok()?))
            })
            .collect();
        Ok(Upstream {
            inner: Arc::new(Inner {
                clients,
                base_url,
                fixed,
                key,
                connect_timeout: config.connect_timeout,
                first_byte_timeout: config.first_byte_timeout,
                total_timeout: config.total_timeout,
            }),
        })
    }

    /// Whether a configured key replaces the client's on every request to this upstream.
    pub(crate) fn sends_own_key(&self) -> bool {
        self.inner.key.is_some()
    }

    /// The URI a path goes to, or `None` when it would leave the base path ([`upstream_url`]).
    fn uri_for(&self, path_and_query: &str) -> Option<Uri> {
        let inner = &self.inner;
        if let Some((_, uri)) = inner.fixed.iter().find(|(path, _)| *path == path_and_query) {
            return Some(uri.clone());
        }
        let url = upstream_url(&inner.base_url, path_and_query)?;
        Uri::try_from(url.as_str()).ok()
    }

    /// Sends a request; the answer's headers must come within `llm.first_byte_timeout_ms`, and
    /// the whole answer, body included, within `llm.total_timeout_ms`.
    pub(crate) async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, Error> {
        let inner = &self.inner;
        let deadline = tokio::time::Instant::now() + inner.total_timeout;
        let Some(uri) = self.uri_for(&request.path_and_query) else {
            return Err(Error::InvalidRequest {
                message: "the path leaves the API's base path".into(),
                param: None,
            });
        };
        let mut headers = HeaderMap::with_capacity(request.headers.len() + 1);
        for (name, value) in &request.headers {
            if !is_hop_by_hop(name) && !name.as_str().starts_with("x-ecoroute-") && name != "x-request-id" {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Ok(id) = HeaderValue::from_str(&request.request_id) {
            headers.insert("x-request-id", id);
        }
        if let Some((name, key)) = &inner.key {
            // The configured key replaces whatever key the client sent, under any header a
            // provider reads (Azure's `api-key` too).
            headers.remove(header::AUTHORIZATION);
            headers.remove("x-api-key");
            headers.remove("api-key");
            headers.insert(name.clone(), key.clone());
        }
        let mut outgoing = http::Request::new(request.body);
        *outgoing.method_mut() = request.method;
        *outgoing.uri_mut() = uri;
        *outgoing.headers_mut() = headers;
        let first_byte = inner.first_byte_timeout.min(inner.total_timeout);
        // Off the shards, or past their number after a reload that changed it: the last pool.
        let last = inner.clients.len().saturating_sub(1);
        let Some(client) = inner.clients.get(crate::shard::current().map_or(last, |s| s.min(last))) else {
            return Err(Error::internal("the upstream has no client"));
        };
        match tokio::time::timeout(first_byte, client.request(outgoing)).await {
            Err(_) => Err(Error::UpstreamTimeout(millis(first_byte))),
            Ok(Err(e)) => Err(self.map_error(&e)),
            Ok(Ok(response)) => {
                let (parts, body) = response.into_parts();
                Ok(UpstreamResponse {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                    deadline,
                    total_ms: millis(inner.total_timeout),
                })
            }
        }
    }

    /// Maps a client error, naming the timeout that fired.
    fn map_error(&self, e: &hyper_util::client::legacy::Error) -> Error {
        map_client_error(e, self.inner.connect_timeout)
    }
}

/// The connector every pool of an upstream clones: one TLS configuration (root store included)
/// shared by all shards, not one per shard.
fn connector(config: &LlmConfig) -> HttpsConnector<HttpConnector> {
    let mut tcp = HttpConnector::new();
    tcp.set_connect_timeout(Some(config.connect_timeout));
    tcp.set_nodelay(true);
    // The TLS layer below takes https:// URLs; plain http:// ones (a local model server) pass.
    tcp.enforce_http(false);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(tcp)
}

/// A connection pool over the shared connector.
fn http_client(connector: HttpsConnector<HttpConnector>) -> HttpClient {
    // The client never follows redirects: an upstream cannot send the request (and its key) to a
    // host the config never named.
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector)
}

/// An upstream answer whose body is still to be read, within the request's total deadline.
pub(crate) struct UpstreamResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: hyper::body::Incoming,
    deadline: tokio::time::Instant,
    total_ms: u64,
}

impl UpstreamResponse {
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body's length, when the upstream said it (`Content-Length`).
    pub(crate) fn content_length(&self) -> Option<u64> {
        use hyper::body::Body as _;
        self.body.size_hint().exact()
    }

    /// The whole body, when it is at most `limit` bytes: a body read whole is held whole, so
    /// what the upstream sends must not choose how much.
    pub(crate) async fn bytes_within(self, limit: usize) -> Result<Bytes, Error> {
        use http_body_util::BodyExt as _;
        let limited = http_body_util::Limited::new(self.body, limit);
        match tokio::time::timeout_at(self.deadline, limited.collect()).await {
            Err(_) => Err(Error::UpstreamTimeout(self.total_ms)),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(Error::UpstreamUnavailable(format!(
                "the upstream's answer is over {limit} bytes"
            ))),
            Ok(Err(e)) => Err(Error::UpstreamUnavailable(format!("the upstream body failed: {e}"))),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
        }
    }

    /// The body chunk by chunk as it arrives; past the deadline it ends with a timeout.
    pub(crate) fn bytes_stream(self) -> impl futures_util::Stream<Item = Result<Bytes, Error>> + Send + 'static {
        use http_body_util::BodyExt as _;
        let deadline = Box::pin(tokio::time::sleep_until(self.deadline));
        let state = (self.body, deadline, self.total_ms, false);
        futures_util::stream::unfold(state, |(mut body, mut deadline, total_ms, ended)| async move {
            if ended {
                return None;
            }
            loop {
                let frame = tokio::select! {
                    frame = body.frame() => frame,
                    () = &mut deadline => {
                        return Some((Err(Error::UpstreamTimeout(total_ms)), (body, deadline, total_ms, true)));
                    }
                };
                match frame {
                    None => return None,
                    Some(Err(e)) => return Some((Err(body_error(&e)), (body, deadline, total_ms, true))),
                    // Trailers carry nothing the client reads here.
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Some((Ok(data), (body, deadline, total_ms, false)));
                        }
                    }
                }
            }
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A body that failed mid-way: the connection was cut or broke the protocol.
fn body_error(e: &hyper::Error) -> Error {
    Error::UpstreamUnavailable(format!("the upstream body failed: {e}"))
}

/// How a call that got no answer failed, for the ledger's `tries`: `connect` (no connection),
/// `timeout` (no headers in time) or `error` (the connection closed or broke before the headers).
/// Read from the messages [`map_client_error`] writes, next to it so the two stay in step.
fn failure_kind(e: &Error) -> &'static str {
    match e {
        Error::UpstreamTimeout(_) => "timeout",
        Error::UpstreamUnavailable(why) if why.starts_with(CONNECT_FAILED) || why.starts_with(NO_CONNECTION) => {
            "connect"
        }
        _ => "error",
    }
}

const CONNECT_FAILED: &str = "connection failed";
const NO_CONNECTION: &str = "no connection within";

/// Maps a client error to the proxy's error without echoing the upstream URL to the caller. A
/// connection that could not be made, in time or at all, is a 502 (nothing reached the upstream).
fn map_client_error(e: &hyper_util::client::legacy::Error, connect_timeout: Duration) -> Error {
    let timed_out = std::iter::successors(std::error::Error::source(e), |cause| cause.source()).any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    });
    if e.is_connect() && timed_out {
        Error::UpstreamUnavailable(format!("{NO_CONNECTION} {} ms", millis(connect_timeout)))
    } else if e.is_connect() {
        Error::UpstreamUnavailable(CONNECT_FAILED.into())
    } else {
        let cause = std::error::Error::source(e).map_or_else(|| e.to_string(), ToString::to_string);
        Error::UpstreamUnavailable(cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_not_returned() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert("x-ratelimit-remaining-requests", HeaderValue::from_static("99"));
        let out = response_headers(&h);
        assert_eq!(out.len(), 2);
        assert!(out.contains_key("x-ratelimit-remaining-requests"));
    }

    #[test]
    fn no_spelling_of_a_path_leaves_the_base_path() {
        let base = url::Url::parse("http://upstream.test/openai/v1").unwrap();
        for path in [
            "/../x",
            "/..\\..\\secret",
            "/models\\..\\..\\internal/admin",
            "/%2e%2e/%2e%2e/x",
            "/.%2E/x",
            "/models/../../x",
        ] {
            assert_eq!(upstream_url(&base, path), None, "{path} escapes");
        }
        for path in [
            "/models",
            "/chat/completions",
            "/files/file-1/content?x=1",
            "/models/ft:gpt-4o:acme",
        ] {
            let url = upstream_url(&base, path).unwrap_or_else(|| panic!("{path} is inside"));
            assert!(url.path().starts_with("/openai/v1/"), "{url}");
        }
        assert_eq!(
            upstream_url(&base, "@evil.test/x").map(|u| u.host_str().map(str::to_string)),
            None,
            "no other host"
        );
    }
}
