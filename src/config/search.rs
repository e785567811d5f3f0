//! The `[search]` table: which backend, how to reach it, and how far to trust it. Elasticsearch and
//! OpenSearch become the HTTP JSON backend with a preset `_search` body and mapping, so there is
//! one HTTP search client to test and tune.

use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use regex::Regex;
use serde::Serialize;
use serde_json::{json, Value};

use super::raw::{RawElasticsearch, RawHttpSearch, RawPgSearch, RawSearch};
use super::{problem, Problem};
use crate::energy::Range;
pub use crate::search::answer::Adequacy;
use crate::search::breaker::BreakerSettings;
use crate::search::http::{BoxMapping, HitMapping, HttpSearchSettings};
use crate::search::postgres::PgSearchSettings;
pub use crate::search::settings::SearchBackendConfig;

/// The validated `[search]` table: the backend's settings (owned by the search module, which
/// does not depend on the config) and the language packs (which sit above search).
#[derive(Debug, Clone, Serialize)]
pub struct SearchConfig {
    pub backend: SearchBackendConfig,
    #[serde(flatten)]
    pub adequacy: Adequacy,
    pub top_k: usize,
    #[serde(rename = "timeout_ms", serialize_with = "crate::redact::ser::millis")]
    pub timeout: Duration,
    /// How many embedded searches and answer steps run at once, each on a blocking thread of its
    /// own ([`crate::search::pool`]); 0 is one per core.
    pub threads: usize,
    #[serde(rename = "circuit_breaker")]
    pub breaker: BreakerSettings,
    /// Energy per query in Wh, for backends whose CPU time the proxy cannot measure.
    pub wh_per_query: Option<Range>,
    /// Languages besides English, each searched in an embedded index of its own corpus.
    #[serde(serialize_with = "language_codes")]
    pub languages: Vec<LanguageSearch>,
}

/// A language pack and where its index lives.
#[derive(Debug, Clone)]
pub struct LanguageSearch {
    pub pack: std::sync::Arc<crate::lang::LanguagePack>,
    pub index_dir: PathBuf,
}

fn language_codes<S: serde::Serializer>(languages: &[LanguageSearch], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(languages.iter().map(|l| l.pack.code.as_str()))
}

impl AsRef<SearchBackendConfig> for SearchConfig {
    fn as_ref(&self) -> &SearchBackendConfig {
        &self.backend
    }
}

/// Per-query energy assumed for an external backend when the config gives none, with its basis.
/// A dedicated search cluster: 5–100 ms of a 4–12 W core, × PUE 1.2–2, × 3–10 for replicas and
/// idle share. A web search API: Google's published 0.3 Wh per search (2009) as the high end, a
/// tenth of it as the low end for a decade of efficiency gains.
pub(crate) fn default_wh_per_query(kind: &str) -> Option<Range> {
    match kind {
        "embedded" => None,
        "http" => Some(Range::new(0.03, 0.3)),
        _ => Some(Range::new(0.00002, 0.007)),
    }
}

pub(crate) fn validate_search(
    raw: RawSearch,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> SearchConfig {
    let connect_timeout = Duration::from_millis(raw.timeout_ms.max(1));
    if raw.timeout_ms == 0 {
        problems.push(problem(
            "search.timeout_ms",
            "must be greater than 0",
            "give a timeout in milliseconds",
        ));
    }
    if raw.threads > 1024 {
        problems.push(problem(
            "search.threads",
            format!("{} threads is more than 1024", raw.threads),
            "give at most the number of cores, or 0 for one per core",
        ));
    }
    let backend = match raw.backend.as_str() {
        "embedded" => Some(SearchBackendConfig::Embedded {
            index_dir: PathBuf::from(&raw.index_dir),
            corpus: PathBuf::from(&raw.corpus),
        }),
        kind @ ("elasticsearch" | "opensearch") => match raw.elasticsearch {
            Some(es) => {
                elasticsearch(kind, es, env, connect_timeout, problems).map(|s| SearchBackendConfig::Http(Box::new(s)))
            }
            None => {
                problems.push(missing_table(
                    kind,
                    "search.elasticsearch",
                    "url = \"https://es:9200\" and index = \"kb\"",
                ));
                None
            }
        },
        "http" => match raw.http {
            Some(h) => http_json(h, env, connect_timeout, problems).map(|s| SearchBackendConfig::Http(Box::new(s))),
            None => {
                problems.push(missing_table(
                    "http",
                    "search.http",
                    "url, results, title and text (see config/examples/)",
                ));
                None
            }
        },
        "postgres" => match raw.postgres {
            Some(pg) => postgres(pg, env, problems).map(|s| SearchBackendConfig::Postgres(Box::new(s))),
            None => {
                problems.push(missing_table(
                    "postgres",
                    "search.postgres",
                    "url_env = \"SEARCH_DATABASE_URL\"",
                ));
                None
            }
        },
        other => {
            problems.push(problem(
                "search.backend",
                format!("unknown backend `{other}`"),
                "use \"embedded\", \"elasticsearch\", \"opensearch\", \"http\" or \"postgres\"",
            ));
            None
        }
    };
    let backend = backend.unwrap_or(SearchBackendConfig::Embedded {
        index_dir: PathBuf::new(),
        corpus: PathBuf::new(),
    });
    for (key, value) in [
        ("search.min_confidence", raw.min_confidence),
        ("search.rival_score_ratio", raw.rival_score_ratio),
        ("search.rival_margin", raw.rival_margin),
        ("search.reader_threshold", raw.reader_threshold.unwrap_or(0.5)),
    ] {
        super::check_unit(problems, key, value);
    }
    if raw.top_k == 0 || raw.top_k > 100 {
        problems.push(problem(
            "search.top_k",
            "must be between 1 and 100",
            "5 is a good default",
        ));
    }
    if raw.circuit_breaker.failure_threshold == 0 || raw.circuit_breaker.open_ms == 0 {
        problems.push(problem(
            "search.circuit_breaker",
            "failure_threshold and open_ms must be at least 1",
            "use the defaults (5 failures, 30000 ms)",
        ));
    }
    let wh_per_query = match raw.wh_per_query {
        Some([a, b]) if a >= 0.0 && a <= b => Some(Range::new(a, b)),
        Some(_) => {
            problems.push(problem(
                "search.wh_per_query",
                "must be [low, high] with 0 <= low <= high",
                "or remove it to use the measured CPU time (embedded) or the stated default (external)",
            ));
            None
        }
        None => default_wh_per_query(backend.kind()),
    };
    let mut languages = Vec::new();
    for code in &raw.languages {
        let file = PathBuf::from(&raw.language_dir).join(format!("{code}.toml"));
        match crate::lang::LanguagePack::load(&file) {
            Ok(pack) if pack.code == *code => languages.push(LanguageSearch {
                pack: std::sync::Arc::new(pack),
                index_dir: PathBuf::from(format!("{}.{code}", raw.index_dir.trim_end_matches('/'))),
            }),
            Ok(pack) => problems.push(problem(
                "search.languages",
                format!("{} says its code is `{}`, not `{code}`", file.display(), pack.code),
                "name the file after the code it declares",
            )),
            Err(pack_problems) => {
                for p in pack_problems {
                    problems.push(problem(
                        "search.languages",
                        format!("{} `{}` {}", file.display(), p.key, p.problem),
                        format!(
                            "correct that entry of {}, or take `{code}` out of search.languages",
                            file.display()
                        ),
                    ));
                }
            }
        }
    }
    SearchConfig {
        languages,
        backend,
        adequacy: Adequacy {
            min_confidence: raw.min_confidence,
            reader_threshold: raw.reader_threshold,
            rival_score_ratio: raw.rival_score_ratio,
            rival_margin: raw.rival_margin,
        },
        top_k: raw.top_k,
        timeout: Duration::from_millis(raw.timeout_ms),
        threads: raw.threads,
        breaker: BreakerSettings {
            failure_threshold: raw.circuit_breaker.failure_threshold.max(1),
            open_for: Duration::from_millis(raw.circuit_breaker.open_ms.max(1)),
        },
        wh_per_query,
    }
}

fn missing_table(kind: &str, table: &str, example: &str) -> Problem {
    problem(
        "search.backend",
        format!("backend `{kind}` needs a [{table}] table"),
        format!("add [{table}] with {example}"),
    )
}

fn secret_from_env(
    key: &str,
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    match env(name) {
        Some(value) if !value.is_empty() => Some(value),
        _ => {
            problems.push(problem(
                key,
                format!("environment variable `{name}` is not set"),
                format!("export {name}=..., or remove {key}"),
            ));
            None
        }
    }
}

/// A header value from the environment: `VAR` is the variable's value; `Bearer ${VAR}` fills the
/// variable into the text around it.
fn header_from_env(
    key: &str,
    template: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let Some(start) = template.find("${") else {
        return secret_from_env(key, template, env, problems);
    };
    let Some(len) = template[start + 2..].find('}') else {
        problems.push(problem(key, "has `${` without `}`", "write ${VARIABLE}"));
        return None;
    };
    let var = &template[start + 2..start + 2 + len];
    let value = secret_from_env(key, var, env, problems)?;
    Some(format!("{}{value}{}", &template[..start], &template[start + 3 + len..]))
}

fn check_base_url(key: &str, url: &str, problems: &mut Vec<Problem>) -> bool {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => true,
        _ => {
            problems.push(problem(
                key,
                format!("`{url}` is not an http(s) URL"),
                "use e.g. \"https://search.internal:9200\"",
            ));
            false
        }
    }
}

fn sensitive(key: &str, value: &str, problems: &mut Vec<Problem>) -> Option<HeaderValue> {
    match HeaderValue::from_str(value) {
        Ok(mut v) => {
            v.set_sensitive(true);
            Some(v)
        }
        Err(_) => {
            problems.push(problem(
                key,
                "holds characters a header cannot carry",
                "check the value",
            ));
            None
        }
    }
}

fn elasticsearch(
    kind: &str,
    es: RawElasticsearch,
    env: &dyn Fn(&str) -> Option<String>,
    connect_timeout: Duration,
    problems: &mut Vec<Problem>,
) -> Option<HttpSearchSettings> {
    let ok = check_base_url("search.elasticsearch.url", &es.url, problems);
    let index_ok = Regex::new(r"^[a-z0-9][a-z0-9_.,*+-]*$").is_ok_and(|re| re.is_match(&es.index));
    if !index_ok {
        problems.push(problem(
            "search.elasticsearch.index",
            format!("`{}` is not an index name", es.index),
            "use lowercase letters, digits, - _ . (a comma-separated list or * pattern also works)",
        ));
    }
    let mut headers = HeaderMap::new();
    match (&es.username, &es.password_env, &es.api_key_env) {
        (Some(_), _, Some(_)) => problems.push(problem(
            "search.elasticsearch.api_key_env",
            "is set together with username",
            "use either basic auth (username + password_env) or an API key",
        )),
        (Some(user), Some(password_env), None) => {
            if let Some(password) = secret_from_env("search.elasticsearch.password_env", password_env, env, problems) {
                use base64::Engine;
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                if let Some(v) = sensitive("search.elasticsearch.password_env", &format!("Basic {token}"), problems) {
                    headers.insert(http::header::AUTHORIZATION, v);
                }
            }
        }
        (Some(_), None, None) => problems.push(problem(
            "search.elasticsearch.username",
            "is set without password_env",
            "add password_env = \"ES_PASSWORD\" (the variable holding the password)",
        )),
        (None, Some(_), _) => problems.push(problem(
            "search.elasticsearch.password_env",
            "is set without username",
            "add username, or use api_key_env",
        )),
        (None, None, Some(api_key_env)) => {
            if let Some(key) = secret_from_env("search.elasticsearch.api_key_env", api_key_env, env, problems) {
                if let Some(v) = sensitive("search.elasticsearch.api_key_env", &format!("ApiKey {key}"), problems) {
                    headers.insert(http::header::AUTHORIZATION, v);
                }
            }
        }
        (None, None, None) => {}
    }
    let pointer = |field: &str| {
        format!(
            "/_source/{}",
            field.replace('~', "~0").replace('/', "~1").replace('.', "/")
        )
    };
    let mut source_fields = vec![es.title_field.clone(), es.text_field.clone()];
    source_fields.extend(es.url_field.clone());
    let body = match es.query.as_deref() {
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(v) if v.is_object() => v,
            _ => {
                problems.push(problem(
                    "search.elasticsearch.query",
                    "is not a JSON object",
                    "write the _search body as JSON, with \"{{query}}\" where the question goes",
                ));
                Value::Null
            }
        },
        None => json!({
            "size": "{{limit}}",
            "query": {"multi_match": {"query": "{{query}}", "fields": es.fields, "type": "best_fields"}},
            "_source": source_fields,
        }),
    };
    if !(ok && index_ok) {
        return None;
    }
    Some(HttpSearchSettings {
        kind: kind.to_string(),
        method: Method::POST,
        url_template: format!("{}/{}/_search", es.url.trim_end_matches('/'), es.index),
        body_template: Some(body),
        headers,
        mapping: HitMapping {
            results: "/hits/hits".into(),
            title: pointer(&es.title_field),
            text: pointer(&es.text_field),
            url: es.url_field.as_deref().map(pointer),
            score: Some("/_score".into()),
            id: Some("/_id".into()),
            boxes: Vec::new(),
        },
        source_name: es.source_name.unwrap_or_else(|| format!("{kind}:{}", es.index)),
        connect_timeout,
    })
}

fn http_json(
    h: RawHttpSearch,
    env: &dyn Fn(&str) -> Option<String>,
    connect_timeout: Duration,
    problems: &mut Vec<Problem>,
) -> Option<HttpSearchSettings> {
    let mut ok = true;
    let method = match h.method.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        other => {
            problems.push(problem(
                "search.http.method",
                format!("`{other}` is not supported"),
                "use GET or POST",
            ));
            ok = false;
            Method::GET
        }
    };
    ok &= check_base_url(
        "search.http.url",
        &crate::search::http::fill_url(&h.url, "q", 1),
        problems,
    );
    if !h.url.contains("{query}") && h.body.as_deref().is_none_or(|b| !b.contains("{{query}}")) {
        problems.push(problem(
            "search.http.url",
            "neither the URL nor the body has a query placeholder",
            "put {query} in the URL, or \"{{query}}\" in the body",
        ));
        ok = false;
    }
    let body = match h.body.as_deref() {
        None => None,
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(problem(
                    "search.http.body",
                    format!("is not JSON: {e}"),
                    "write the body as JSON",
                ));
                ok = false;
                None
            }
        },
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &h.headers {
        let key = format!("search.http.headers.{name}");
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(n), Ok(v)) => {
                headers.insert(n, v);
            }
            _ => {
                problems.push(problem(key, "is not a valid header", "check the name and value"));
                ok = false;
            }
        }
    }
    for (name, var) in &h.header_env {
        let key = format!("search.http.header_env.{name}");
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            problems.push(problem(key, "is not a header name", "e.g. X-Subscription-Token"));
            ok = false;
            continue;
        };
        match header_from_env(&key, var, env, problems).and_then(|value| sensitive(&key, &value, problems)) {
            Some(v) => {
                headers.insert(header, v);
            }
            None => ok = false,
        }
    }
    for (key, pointer) in [
        ("search.http.results", Some(&h.results)),
        ("search.http.title", Some(&h.title)),
        ("search.http.text", Some(&h.text)),
        ("search.http.url_field", h.url_field.as_ref()),
        ("search.http.score", h.score.as_ref()),
        ("search.http.id", h.id.as_ref()),
    ] {
        ok &= check_pointer(
            key.to_string(),
            pointer,
            true,
            "start it with /, e.g. \"/results\" or \"/document/title\"",
            problems,
        );
    }
    for (i, b) in h.boxes.iter().enumerate() {
        for (field, pointer) in [
            ("results", Some(&b.results)),
            ("title", b.title.as_ref()),
            ("text", Some(&b.text)),
            ("url_field", b.url_field.as_ref()),
        ] {
            ok &= check_pointer(
                format!("search.http.boxes[{i}].{field}"),
                pointer,
                field != "results",
                "start it with /, e.g. \"/infoboxes\" or \"/content\" (\"\" for text: the box is a string)",
                problems,
            );
        }
    }
    if !ok {
        return None;
    }
    let boxes = h
        .boxes
        .into_iter()
        .map(|b| BoxMapping {
            results: b.results,
            title: b.title,
            text: b.text,
            url: b.url_field,
        })
        .collect();
    let host = url::Url::parse(&crate::search::http::fill_url(&h.url, "q", 1))
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    Some(HttpSearchSettings {
        kind: "http".into(),
        method,
        url_template: h.url,
        body_template: body,
        headers,
        mapping: HitMapping {
            results: h.results,
            title: h.title,
            text: h.text,
            url: h.url_field,
            score: h.score,
            id: h.id,
            boxes,
        },
        source_name: h.source_name.unwrap_or(host),
        connect_timeout,
    })
}

/// Whether a configured JSON pointer is one ("" is the whole value, where `may_be_empty`); a
/// problem names the key otherwise.
fn check_pointer(
    key: String,
    pointer: Option<&String>,
    may_be_empty: bool,
    fix: &str,
    problems: &mut Vec<Problem>,
) -> bool {
    match pointer {
        Some(p) if !(p.starts_with('/') || p.is_empty() && may_be_empty) => {
            problems.push(problem(key, format!("`{p}` is not a JSON pointer"), fix));
            false
        }
        _ => true,
    }
}

fn postgres(
    pg: RawPgSearch,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<PgSearchSettings> {
    let url = match (&pg.url, &pg.url_env) {
        (Some(url), None) => Some(url.expose().clone()),
        (None, Some(var)) => secret_from_env("search.postgres.url_env", var, env, problems),
        _ => {
            problems.push(problem(
                "search.postgres.url",
                "give exactly one of url and url_env",
                "url_env = \"SEARCH_DATABASE_URL\" keeps the password out of the file",
            ));
            None
        }
    };
    if let Some(u) = &url {
        if u.parse::<tokio_postgres::Config>().is_err() {
            problems.push(problem(
                "search.postgres.url",
                "is not a PostgreSQL connection string",
                "use postgres://user:password@host:5432/dbname",
            ));
            return None;
        }
    }
    let identifier = Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$").ok();
    let mut ok = url.is_some();
    for (key, value) in [
        ("search.postgres.table", Some(&pg.table)),
        ("search.postgres.id_column", Some(&pg.id_column)),
        ("search.postgres.title_column", Some(&pg.title_column)),
        ("search.postgres.text_column", Some(&pg.text_column)),
        ("search.postgres.url_column", pg.url_column.as_ref()),
        ("search.postgres.tsvector_column", Some(&pg.tsvector_column)),
        ("search.postgres.language", Some(&pg.language)),
    ] {
        if let Some(v) = value {
            if !identifier.as_ref().is_some_and(|re| re.is_match(v)) {
                problems.push(problem(
                    key,
                    format!("`{v}` is not a plain SQL identifier"),
                    "use letters, digits and _ (schema.table for a table)",
                ));
                ok = false;
            }
        }
    }
    if pg.pool_size == 0 {
        problems.push(problem(
            "search.postgres.pool_size",
            "must be at least 1",
            "8 is a good default",
        ));
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(PgSearchSettings {
        url: url.unwrap_or_default().into(),
        source_name: pg.source_name.unwrap_or_else(|| format!("postgres:{}", pg.table)),
        table: pg.table,
        id_column: pg.id_column,
        title_column: pg.title_column,
        text_column: pg.text_column,
        url_column: pg.url_column,
        tsvector_column: pg.tsvector_column,
        language: pg.language,
        pool_size: pg.pool_size,
    })
}
