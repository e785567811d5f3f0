//! The upstream LLM: an OpenAI-compatible HTTP API. [`Upstream`] forwards a request to the configured
//! base URL only (never a URL taken from the request), with header hygiene (hop-by-hop headers and
//! ecoroute's own control headers stripped, the configured key substituted when there is one) and
//! three timeouts: connect, first byte (response headers) and total. It is a `tower::Service`, so
//! the server stack can wrap it in further layers.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
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
}

struct Inner {
    client: reqwest::Client,
    base_url: String,
    authorization: Option<HeaderValue>,
    first_byte_timeout: Duration,
    total_timeout: Duration,
}

#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

impl Upstream {
    pub fn new(config: &LlmConfig) -> Result<Upstream, Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.total_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            // Redirects would let an upstream send us to a host the config never named.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Internal(format!("building the HTTP client: {e}")))?;
        let authorization = match &config.api_key {
            Some(key) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                    .map_err(|_| Error::Internal("the configured API key is not a valid header value".into()))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Upstream {
            inner: Arc::new(Inner {
                client,
                base_url: config.base_url.clone(),
                authorization,
                first_byte_timeout: config.first_byte_timeout,
                total_timeout: config.total_timeout,
            }),
        })
    }

    pub async fn send(&self, request: UpstreamRequest) -> Result<reqwest::Response, Error> {
        let inner = &self.inner;
        let url = format!("{}{}", inner.base_url, request.path_and_query);
        let mut headers = HeaderMap::with_capacity(request.headers.len());
        for (name, value) in &request.headers {
            if !is_hop_by_hop(name) && !name.as_str().starts_with("x-ecoroute-") {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Some(auth) = &inner.authorization {
            headers.insert(header::AUTHORIZATION, auth.clone());
        }
        let pending = inner
            .client
            .request(request.method, url)
            .headers(headers)
            .body(request.body)
            .send();
        match tokio::time::timeout(inner.first_byte_timeout, pending).await {
            Err(_) => Err(Error::UpstreamTimeout(millis(inner.first_byte_timeout))),
            Ok(Err(e)) => Err(map_reqwest_error(e, inner.total_timeout)),
            Ok(Ok(response)) => Ok(response),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Maps a client error to the proxy's error without echoing the upstream URL to the caller.
pub fn map_reqwest_error(e: reqwest::Error, total_timeout: Duration) -> Error {
    if e.is_timeout() {
        Error::UpstreamTimeout(millis(total_timeout))
    } else if e.is_connect() {
        Error::UpstreamUnavailable("connection failed".into())
    } else {
        Error::UpstreamUnavailable(e.without_url().to_string())
    }
}

impl tower::Service<UpstreamRequest> for Upstream {
    type Response = reqwest::Response;
    type Error = Error;
    type Future = BoxFuture<'static, Result<reqwest::Response, Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: UpstreamRequest) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.send(request).await })
    }
}

impl Upstream {
    pub fn total_timeout(&self) -> Duration {
        self.inner.total_timeout
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
}
