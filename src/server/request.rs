//! Small HTTP helpers the handlers share: the request id, header values from free text, the
//! tenant of a request, reading a body within its limit, ecoroute's own headers and the
//! `Cache-Control` directives a request or an upstream answer carries.

use axum::body::Body;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue};
use http_body_util::BodyExt;

use crate::Error;

/// The request id: the client's `x-request-id` when it is sane, else a fresh one.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// Bytes a header value from free text percent-encodes: controls (header values cannot hold
/// them), non-ASCII (always encoded), and `%` itself, so decoding gives the text back.
const HEADER_ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

/// A header value from free text (rule names, questions and language cues may be Unicode): UTF-8
/// percent-encoded (RFC 3986 style, as `decodeURIComponent` or Python's `urllib.parse.unquote`
/// read it), so "Pérou" arrives as `P%C3%A9rou` rather than `P?rou`. Capped at 512 characters
/// before encoding so a header can never be refused.
pub fn header_value(text: &str) -> HeaderValue {
    let capped = text.char_indices().nth(512).map_or(text, |(at, _)| &text[..at]);
    let encoded = percent_encoding::utf8_percent_encode(capped, HEADER_ESCAPED).to_string();
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// The tenant of a request: the tenant header when sane, else `key:` and the first 16 hex digits of
/// a salted SHA-256 of the Authorization header, so the key itself is never stored.
pub(crate) fn tenant_of(headers: &HeaderMap, tenant_header: &http::HeaderName) -> Option<String> {
    claimed_tenant(headers, tenant_header).or_else(|| credential_of(headers))
}

/// The tenant header, when sane: what [`tenant_of`] takes before the credentials.
pub(crate) fn claimed_tenant(headers: &HeaderMap, tenant_header: &http::HeaderName) -> Option<String> {
    if let Some(name) = headers
        .get(tenant_header)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
    {
        return Some(name.to_string());
    }
    None
}

/// `key:` and the first 16 hex digits of a salted SHA-256 of the credentials a request carries:
/// OpenAI's `Authorization`, Anthropic's `x-api-key`, Azure's `api-key`, or the name of the
/// `[[keys]]` entry the request was admitted with (which replaces the key itself,
/// [`super::auth`]). `None` without any.
pub(crate) fn credential_of(headers: &HeaderMap) -> Option<String> {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new().chain_update(b"ecoroute-tenant:");
    let mut any = false;
    for name in [
        http::header::AUTHORIZATION.as_str(),
        "x-api-key",
        "api-key",
        super::auth::KEY_HEADER.as_str(),
    ] {
        if let Some(value) = headers.get(name) {
            // The bare Authorization value keeps the hashes of existing ledgers' tenants.
            if any || name != "authorization" {
                digest.update(name.as_bytes());
                digest.update(b"=");
            }
            digest.update(value.as_bytes());
            any = true;
        }
    }
    if !any {
        return None;
    }
    let hex: String = digest.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    Some(format!("key:{hex}"))
}

/// The cache partition of a request: its tenant and its credentials. A cached answer goes only to
/// a request that carries the same ones, so neither a claimed `x-ecoroute-tenant` nor another key
/// (or none) reaches it.
pub(crate) fn cache_partition(tenant: Option<&str>, credential: Option<&str>) -> Option<String> {
    match (tenant, credential) {
        (Some(t), Some(c)) if t == c => Some(c.to_string()),
        (Some(t), Some(c)) => Some(format!("{t}|{c}")),
        (t, c) => t.or(c).map(str::to_string),
    }
}

/// Reads a request body up to `limit` bytes; a declared or actual larger body is a 413.
pub(crate) async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Error> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Error::PayloadTooLarge { limit });
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(Error::PayloadTooLarge { limit })
        }
        Err(e) => Err(Error::BodyRead(e.to_string())),
    }
}

/// The route a request took (`search`, `llm`, `cache`), on every response of the chat APIs.
pub(crate) const ROUTE_HEADER: &str = "x-ecoroute-route";
/// Why, in words (`pipeline::Plan::reason`).
pub(crate) const REASON_HEADER: &str = "x-ecoroute-reason";
/// Asks for (and carries) the compact decision trace.
pub(crate) const EXPLAIN_HEADER: &str = "x-ecoroute-explain";
/// Says which model a tier sent the request to, besides the answer's own `model`.
pub(crate) const MODEL_HEADER: &str = "x-ecoroute-model";

/// `Cache-Control: no-cache`, `no-store` or `max-age=0`, or `Pragma: no-cache`, on the request:
/// the client wants a fresh answer.
pub(super) fn refuses_cache(headers: &HeaderMap) -> bool {
    let pragma = cache_directives(headers, header::PRAGMA).any(|(name, _)| name == "no-cache");
    pragma
        || cache_directives(headers, header::CACHE_CONTROL).any(|(name, value)| match name.as_str() {
            // `no-cache="field"` too: it asks to revalidate, and an answer cannot be.
            "no-cache" | "no-store" => true,
            "max-age" => value.and_then(|v| v.parse::<u64>().ok()) == Some(0),
            _ => false,
        })
}

/// The oldest cached answer a request accepts (`Cache-Control: max-age=N`), if it says.
pub(super) fn max_age(headers: &HeaderMap) -> Option<std::time::Duration> {
    cache_directives(headers, header::CACHE_CONTROL)
        .filter(|(name, _)| name == "max-age")
        .filter_map(|(_, value)| value?.parse::<u64>().ok())
        .min()
        .map(std::time::Duration::from_secs)
}

/// Whether an upstream answer may not be kept: `Cache-Control: no-store`, or `private` (the
/// response cache is shared by every client of a tenant and key).
pub(super) fn forbids_keeping(headers: &HeaderMap) -> bool {
    cache_directives(headers, header::CACHE_CONTROL).any(|(name, _)| matches!(name.as_str(), "no-store" | "private"))
}

/// A cache header's directives, each name in lower case with its value (quotes taken off).
fn cache_directives(
    headers: &HeaderMap,
    name: header::HeaderName,
) -> impl Iterator<Item = (String, Option<String>)> + '_ {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| match d.split_once('=') {
            Some((name, value)) => (
                name.trim().to_ascii_lowercase(),
                Some(value.trim().trim_matches('"').to_string()),
            ),
            None => (d.trim().to_ascii_lowercase(), None),
        })
}
/// The client's `x-ecoroute-route` request, if any.
pub(super) fn requested_route(headers: &HeaderMap) -> Option<crate::classify::Route> {
    match headers.get(ROUTE_HEADER)?.to_str().ok()?.trim() {
        "llm" => Some(crate::classify::Route::Llm),
        "search" => Some(crate::classify::Route::Search),
        _ => None,
    }
}

pub(super) fn wants_explain(headers: &HeaderMap) -> bool {
    headers
        .get(EXPLAIN_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_when_sane() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&h), "abc-123");
        h.insert("x-request-id", HeaderValue::from_static("has space"));
        assert_eq!(request_id(&h).len(), 32);
    }

    #[test]
    fn tenants_come_from_the_header_or_a_key_hash_never_the_key() {
        let name = http::HeaderName::from_static("x-ecoroute-tenant");
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer sk-secret-123"),
        );
        let hashed = tenant_of(&h, &name).unwrap();
        assert!(hashed.starts_with("key:") && hashed.len() == 20, "{hashed}");
        assert!(!hashed.contains("sk-secret"));
        assert_eq!(tenant_of(&h, &name), Some(hashed), "stable");
        h.insert("x-ecoroute-tenant", HeaderValue::from_static("team-a"));
        assert_eq!(tenant_of(&h, &name).as_deref(), Some("team-a"));
        assert_eq!(tenant_of(&HeaderMap::new(), &name), None);
    }

    #[test]
    fn header_values_are_always_valid() {
        assert_eq!(header_value("rule: café\n"), "rule: caf%C3%A9%0A");
        // Non-ASCII text comes back whole from the header, where it came back as `?`.
        for text in [
            "language fr: lookup cue `Quelle est la capitale du Pérou`",
            "100% 東京",
            "a\u{1b}[2Jb",
        ] {
            let value = header_value(text);
            let decoded = percent_encoding::percent_decode(value.as_bytes())
                .decode_utf8()
                .unwrap();
            assert_eq!(decoded, text);
        }
        assert_eq!(
            header_value("plain ASCII: p(lookup)=0.99"),
            "plain ASCII: p(lookup)=0.99"
        );
    }
}
