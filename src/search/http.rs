//! Search over HTTP JSON APIs: one backend for Elasticsearch / OpenSearch (`_search`) and for any
//! search API that answers JSON (SearxNG, Brave Search, Meilisearch, Typesense, an in-house service).
//!
//! A request is built from a URL template (`{query}` and `{limit}`, URL-encoded) and, for POST, a
//! JSON body template whose strings may hold `{{query}}` and `{{limit}}`; substitution happens on
//! the parsed JSON value, so a query can never break out of its string. The response is mapped to
//! [`Hit`]s with JSON pointers (RFC 6901): one to the result array, and one per field inside a result.
//! Elasticsearch is this backend with a preset body and mapping (see `config::search`).

use std::time::Duration;

use futures_util::future::BoxFuture;
use http::{HeaderMap, Method};
use serde_json::Value;

use super::{Hit, SearchBackend, SearchError};

/// Where the fields of a hit are in one result object.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HitMapping {
    /// Pointer to the array of results in the response, e.g. `/hits/hits`.
    pub results: String,
    pub title: String,
    pub text: String,
    pub url: Option<String>,
    /// Without a score, results score by rank (1, 1/2, 1/3, ...).
    pub score: Option<String>,
    pub id: Option<String>,
    /// Answer boxes, read before the results: what "use a search engine" means in practice.
    pub boxes: Vec<BoxMapping>,
}

/// Where a web search API puts a direct answer (SearxNG `answers` and `infoboxes`, Brave `infobox`
/// and `faq`). A box ranks above every result; the adequacy check still judges it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BoxMapping {
    /// Pointer to an array of boxes, or to a single box.
    pub results: String,
    /// Pointer to the box's subject. `None`: the engine answered the question as asked (SearxNG's
    /// `answers`), so the question is the box's title.
    pub title: Option<String>,
    /// Pointer to the answer text; "" when each box is a string.
    pub text: String,
    pub url: Option<String>,
}

/// Everything needed to call one HTTP search API.
#[derive(Clone, serde::Serialize)]
pub struct HttpSearchSettings {
    /// `elasticsearch`, `opensearch` or `http`: the backend's name in logs, the ledger and metrics.
    pub kind: String,
    #[serde(serialize_with = "crate::redact::ser::display")]
    pub method: Method,
    pub url_template: String,
    pub body_template: Option<Value>,
    /// Sent with every call. Values read from the environment are marked sensitive, so `Debug`
    /// and logs never show them; `/admin/config` shows the names only.
    #[serde(serialize_with = "crate::redact::ser::header_names")]
    pub headers: HeaderMap,
    pub mapping: HitMapping,
    /// The `source` label of hits, e.g. "Company wiki".
    pub source_name: String,
    #[serde(rename = "connect_timeout_ms", serialize_with = "crate::redact::ser::millis")]
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for HttpSearchSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSearchSettings")
            .field("kind", &self.kind)
            .field("method", &self.method)
            .field("url_template", &self.url_template)
            .field("body_template", &self.body_template)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("mapping", &self.mapping)
            .finish()
    }
}

pub(crate) struct HttpSearch {
    settings: HttpSearchSettings,
    client: reqwest::Client,
}

impl HttpSearch {
    pub(crate) fn new(settings: HttpSearchSettings) -> Result<HttpSearch, SearchError> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            // The search API is named in the config; a redirect elsewhere is not followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SearchError::Backend(format!("cannot build HTTP client: {e}")))?;
        Ok(HttpSearch { settings, client })
    }

    fn request(&self, query: &str, limit: usize) -> reqwest::RequestBuilder {
        let url = fill_url(&self.settings.url_template, query, limit);
        let mut request = self
            .client
            .request(self.settings.method.clone(), url)
            .headers(self.settings.headers.clone())
            .header(http::header::ACCEPT, "application/json");
        if let Some(template) = &self.settings.body_template {
            request = request.json(&fill_body(template, query, limit));
        }
        request
    }
}

impl SearchBackend for HttpSearch {
    fn name(&self) -> &str {
        &self.settings.kind
    }

    fn search<'a>(&'a self, query: &'a str, limit: usize) -> BoxFuture<'a, Result<Vec<Hit>, SearchError>> {
        Box::pin(async move {
            let response = self.request(query, limit).send().await.map_err(|e| {
                SearchError::Backend(format!("{} request failed: {}", self.settings.kind, e.without_url()))
            })?;
            let status = response.status();
            if !status.is_success() {
                return Err(SearchError::Backend(format!(
                    "{} answered {status}",
                    self.settings.kind
                )));
            }
            let body: Value = response.json().await.map_err(|e| {
                SearchError::Backend(format!("{} sent no JSON: {}", self.settings.kind, e.without_url()))
            })?;
            let mut hits = map_hits_for(&body, &self.settings.mapping, &self.settings.source_name, query)?;
            // Boxes rank first: above the best result's score.
            let top = hits.iter().map(|h| h.score).fold(1.0f32, f32::max);
            for hit in hits.iter_mut().filter(|h| h.id.starts_with("box-")) {
                hit.score = top * 2.0;
            }
            hits.truncate(limit + self.settings.mapping.boxes.len());
            Ok(hits)
        })
    }
}

/// Fills `{query}` and `{limit}` in a URL template, URL-encoded.
pub(crate) fn fill_url(template: &str, query: &str, limit: usize) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
    template
        .replace("{query}", &encoded)
        .replace("{limit}", &limit.to_string())
}

/// Fills `{{query}}` and `{{limit}}` in the strings of a JSON body template. A string that is
/// exactly `"{{limit}}"` becomes a number, as search APIs expect.
fn fill_body(template: &Value, query: &str, limit: usize) -> Value {
    match template {
        Value::String(s) if s == "{{limit}}" => Value::from(limit),
        // Split on the query placeholder first, so a query that itself says "{{limit}}" stays as sent.
        Value::String(s) => Value::String(
            s.split("{{query}}")
                .map(|part| part.replace("{{limit}}", &limit.to_string()))
                .collect::<Vec<_>>()
                .join(query),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill_body(v, query, limit)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill_body(v, query, limit)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Maps a response body to hits. Results without a title and text are skipped; a response without
/// the result array is an error (the mapping or the API is wrong, and that must show in logs).
// Only the tests map without a query; searches use `map_hits_for`.
#[cfg(test)]
fn map_hits(body: &Value, mapping: &HitMapping, source_name: &str) -> Result<Vec<Hit>, SearchError> {
    map_hits_for(body, mapping, source_name, "")
}

/// As [`map_hits`], with the answer boxes first; `query` titles a box that has no title.
fn map_hits_for(body: &Value, mapping: &HitMapping, source_name: &str, query: &str) -> Result<Vec<Hit>, SearchError> {
    let mut hits = map_boxes(body, &mapping.boxes, source_name, query);
    hits.extend(map_results(body, mapping, source_name)?);
    Ok(hits)
}

/// The answer boxes of a response, scored above any result (2, where results score at most their
/// own best, normalised against it by the adequacy check).
fn map_boxes(body: &Value, boxes: &[BoxMapping], source_name: &str, query: &str) -> Vec<Hit> {
    let text_at = |item: &Value, pointer: &str| item.pointer(pointer).map(text_of).unwrap_or_default();
    let mut hits = Vec::new();
    for (b, mapping) in boxes.iter().enumerate() {
        let items: Vec<&Value> = match body.pointer(&mapping.results) {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(item @ Value::Object(_)) => vec![item],
            _ => continue,
        };
        for (i, item) in items.into_iter().enumerate() {
            let text = text_at(item, &mapping.text);
            if text.is_empty() {
                continue;
            }
            let title = match &mapping.title {
                Some(pointer) => text_at(item, pointer),
                None => query.to_string(),
            };
            let url = mapping.url.as_deref().map(|p| text_at(item, p)).unwrap_or_default();
            hits.push(Hit {
                id: format!("box-{b}-{i}"),
                title,
                text,
                source: source_name.to_string(),
                url,
                score: 0.0,
            });
        }
    }
    hits
}

fn map_results(body: &Value, mapping: &HitMapping, source_name: &str) -> Result<Vec<Hit>, SearchError> {
    let results = body
        .pointer(&mapping.results)
        .and_then(Value::as_array)
        .ok_or_else(|| SearchError::Backend(format!("no result array at `{}` in the response", mapping.results)))?;
    let text_at = |item: &Value, pointer: &str| item.pointer(pointer).map(text_of).unwrap_or_default();
    let mut hits = Vec::with_capacity(results.len());
    for (rank, item) in results.iter().enumerate() {
        let title = text_at(item, &mapping.title);
        let text = text_at(item, &mapping.text);
        if title.is_empty() && text.is_empty() {
            continue;
        }
        let score = mapping
            .score
            .as_deref()
            .and_then(|p| item.pointer(p))
            .and_then(Value::as_f64)
            .unwrap_or(1.0 / (rank as f64 + 1.0)) as f32;
        let url = mapping.url.as_deref().map(|p| text_at(item, p)).unwrap_or_default();
        let id = match mapping.id.as_deref().map(|p| text_at(item, p)) {
            Some(id) if !id.is_empty() => id,
            _ if !url.is_empty() => url.clone(),
            _ => format!("result-{rank}"),
        };
        hits.push(Hit {
            id,
            title,
            text,
            source: source_name.to_string(),
            url,
            score,
        });
    }
    Ok(hits)
}

/// A field's text: strings as they are (HTML tags and common entities removed, since web search
/// snippets carry highlighting), arrays joined (Elasticsearch highlight fragments), numbers printed.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => strip_html(s),
        Value::Array(items) => items.iter().map(text_of).collect::<Vec<_>>().join(" … "),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn strip_html(s: &str) -> String {
    if !s.contains('<') && !s.contains('&') {
        return s.trim().to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn mapping() -> HitMapping {
        HitMapping {
            results: "/results".into(),
            title: "/title".into(),
            text: "/content".into(),
            url: Some("/url".into()),
            score: Some("/score".into()),
            id: None,
            boxes: Vec::new(),
        }
    }

    #[test]
    fn answer_boxes_come_first_and_an_untitled_one_answers_the_question() {
        // A SearxNG response: a direct answer, an infobox, then web results.
        let body = json!({
            "answers": ["Lima"],
            "infoboxes": [{"infobox": "Peru", "content": "Peru's capital and largest city is Lima.", "id": "https://en.wikipedia.org/wiki/Peru"}],
            "results": [{"title": "Lima - Wikipedia", "content": "Lima is the capital of Peru.", "url": "https://x", "score": 3.0}]
        });
        let searxng = HitMapping {
            boxes: vec![
                BoxMapping {
                    results: "/answers".into(),
                    title: None,
                    text: "".into(),
                    url: None,
                },
                BoxMapping {
                    results: "/infoboxes".into(),
                    title: Some("/infobox".into()),
                    text: "/content".into(),
                    url: Some("/id".into()),
                },
            ],
            ..mapping()
        };
        let hits = map_hits_for(&body, &searxng, "SearxNG", "capital of peru").unwrap();
        assert_eq!(hits.len(), 3);
        assert_eq!(
            (hits[0].title.as_str(), hits[0].text.as_str()),
            ("capital of peru", "Lima")
        );
        assert_eq!(hits[1].title, "Peru");
        assert_eq!(hits[2].title, "Lima - Wikipedia");
        // A Brave infobox is one object, not an array; a response without boxes is no error.
        let brave = json!({"infobox": {"title": "Peru", "long_desc": "Peru is a country."}, "results": []});
        let one = BoxMapping {
            results: "/infobox".into(),
            title: Some("/title".into()),
            text: "/long_desc".into(),
            url: None,
        };
        let hits = map_hits_for(
            &brave,
            &HitMapping {
                boxes: vec![one],
                ..mapping()
            },
            "Brave",
            "peru",
        )
        .unwrap();
        assert_eq!(hits.len(), 1);
        assert!(map_hits_for(
            &json!({"results": []}),
            &HitMapping {
                boxes: searxng.boxes.clone(),
                ..mapping()
            },
            "S",
            "q"
        )
        .unwrap()
        .is_empty());
    }

    #[test]
    fn url_and_body_templates_are_filled_safely() {
        assert_eq!(
            fill_url(
                "http://s/search?q={query}&n={limit}&format=json",
                "capital of Peru & co",
                5
            ),
            "http://s/search?q=capital+of+Peru+%26+co&n=5&format=json"
        );
        let body = fill_body(
            &json!({"q": "{{query}}", "limit": "{{limit}}", "opts": ["x {{query}}"]}),
            "say \"hi\"",
            3,
        );
        assert_eq!(body, json!({"q": "say \"hi\"", "limit": 3, "opts": ["x say \"hi\""]}));
    }

    #[test]
    fn maps_results_and_scores_by_rank_when_missing() {
        let body = json!({"results": [
            {"title": "<b>Lima</b> - Wikipedia", "content": "Lima is the capital of Peru &amp; its largest city.", "url": "https://w/Lima", "score": 2.5},
            {"title": "", "content": ""},
            {"title": "Peru", "content": "A country.", "url": "https://w/Peru"}
        ]});
        let hits = map_hits(&body, &mapping(), "SearxNG").unwrap();
        assert_eq!(hits.len(), 2, "an empty result is skipped");
        assert_eq!(hits[0].title, "Lima - Wikipedia");
        assert_eq!(hits[0].text, "Lima is the capital of Peru & its largest city.");
        assert_eq!(hits[0].score, 2.5);
        assert_eq!(hits[0].id, "https://w/Lima");
        assert!(
            (hits[1].score - 1.0 / 3.0).abs() < 1e-6,
            "third by rank, no score given"
        );
        assert!(map_hits(&json!({"other": []}), &mapping(), "x").is_err());
    }

    proptest! {
        #[test]
        fn any_query_round_trips_through_the_body(query in "\\PC{0,60}") {
            let body = fill_body(&json!({"query": {"match": {"text": "{{query}}"}}}), &query, 5);
            prop_assert_eq!(body.pointer("/query/match/text").and_then(Value::as_str), Some(query.as_str()));
        }
    }
}
