//! The upstream LLM: an OpenAI-compatible HTTP API. [`Upstream`] forwards a request to the configured
//! base URL only (never a URL taken from the request), with header hygiene (hop-by-hop headers and
//! ecoroute's own control headers stripped, the configured key substituted when there is one) and
//! three timeouts: connect, first byte (response headers) and total.

pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Method;

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
pub fn response_headers(upstream: &HeaderMap) -> HeaderMap {
    upstream
        .iter()
        .filter(|(name, _)| !is_hop_by_hop(name))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

pub struct UpstreamRequest {
    pub method: Method,
    /// Path after the API prefix plus query, e.g. `/chat/completions` or `/models?limit=5`.
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: reqwest::Body,
    /// The proxy's id for this request, sent upstream as `x-request-id` so both logs join up.
    pub request_id: String,
}

struct Inner {
    client: reqwest::Client,
    base_url: reqwest::Url,
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
pub fn upstream_url(base: &reqwest::Url, path_and_query: &str) -> Option<reqwest::Url> {
    let joined = format!("{}{}", base.as_str().trim_end_matches('/'), path_and_query);
    let url = reqwest::Url::parse(&joined).ok()?;
    let base_path = base.path().trim_end_matches('/');
    let inside = url.path() == base_path || url.path().starts_with(&format!("{base_path}/"));
    let same_origin = url.origin() == base.origin();
    (inside && same_origin).then_some(url)
}

#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

impl Upstream {
    /// The OpenAI-compatible upstream (`[llm]`): chat completions, Responses, everything else.
    pub fn new(config: &LlmConfig) -> Result<Upstream, Error> {
        let key = config
            .api_key
            .as_ref()
            .map(|k| (header::AUTHORIZATION, format!("Bearer {}", k.expose())));
        Upstream::build(config, &config.base_url, key)
    }

    /// The Anthropic upstream (`[llm.anthropic]`), with `[llm]`'s timeouts.
    pub fn anthropic(config: &LlmConfig) -> Result<Upstream, Error> {
        let anthropic = &config.anthropic;
        let key = anthropic
            .api_key
            .as_ref()
            .map(|k| (HeaderName::from_static("x-api-key"), k.expose().to_string()));
        Upstream::build(config, &anthropic.base_url, key)
    }

    fn build(config: &LlmConfig, base_url: &str, key: Option<(HeaderName, String)>) -> Result<Upstream, Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.total_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            // Redirects would let an upstream send us to a host the config never named.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::internal_from("building the HTTP client", e))?;
        let key = match key {
            Some((name, key)) => {
                let mut value = HeaderValue::from_str(&key)
                    .map_err(|_| Error::internal("the configured API key is not a valid header value"))?;
                value.set_sensitive(true);
                Some((name, value))
            }
            None => None,
        };
        let base_url = reqwest::Url::parse(base_url)
            .map_err(|e| Error::internal_from(format!("the upstream base URL `{base_url}` is not a URL"), e))?;
        Ok(Upstream {
            inner: Arc::new(Inner {
                client,
                base_url,
                key,
                connect_timeout: config.connect_timeout,
                first_byte_timeout: config.first_byte_timeout,
                total_timeout: config.total_timeout,
            }),
        })
    }

    pub async fn send(&self, request: UpstreamRequest) -> Result<reqwest::Response, Error> {
        let inner = &self.inner;
        let Some(url) = upstream_url(&inner.base_url, &request.path_and_query) else {
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
            // The configured key replaces whatever key the client sent, under either header.
            headers.remove(header::AUTHORIZATION);
            headers.remove("x-api-key");
            headers.insert(name.clone(), key.clone());
        }
        let pending = inner
            .client
            .request(request.method, url)
            .headers(headers)
            .body(request.body)
            .send();
        match tokio::time::timeout(inner.first_byte_timeout, pending).await {
            Err(_) => Err(Error::UpstreamTimeout(millis(inner.first_byte_timeout))),
            Ok(Err(e)) => Err(self.map_error(e)),
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// Maps a client error, naming the timeout that fired.
    pub fn map_error(&self, e: reqwest::Error) -> Error {
        map_reqwest_error(e, self.inner.connect_timeout, self.inner.total_timeout)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Maps a client error to the proxy's error without echoing the upstream URL to the caller. A
/// connection that could not be made, in time or at all, is a 502 (nothing reached the upstream);
/// only an upstream that took the request and did not answer in time is a 504.
pub fn map_reqwest_error(e: reqwest::Error, connect_timeout: Duration, total_timeout: Duration) -> Error {
    if e.is_connect() && e.is_timeout() {
        Error::UpstreamUnavailable(format!("no connection within {} ms", millis(connect_timeout)))
    } else if e.is_connect() {
        Error::UpstreamUnavailable("connection failed".into())
    } else if e.is_timeout() {
        Error::UpstreamTimeout(millis(total_timeout))
    } else {
        Error::UpstreamUnavailable(e.without_url().to_string())
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
        let base = reqwest::Url::parse("http://upstream.test/openai/v1").unwrap();
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
