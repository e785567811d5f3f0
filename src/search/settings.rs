//! The search backend's settings, validated from `[search]` by the config module. The search
//! module owns these types so that it does not depend on the config that builds them.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::answer::Adequacy;
use super::breaker::BreakerSettings;
use super::http::HttpSearchSettings;
use super::postgres::PgSearchSettings;
use crate::energy::Range;

/// Which backend answers, and how to reach it. Credentials are [`crate::redact::Secret`]s or
/// sensitive header values, so the derived `Debug` and `Serialize` never show them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchBackendConfig {
    Embedded { index_dir: PathBuf, corpus: PathBuf },
    Http(Box<HttpSearchSettings>),
    Postgres(Box<PgSearchSettings>),
}

impl SearchBackendConfig {
    /// The backend's name, as the backend itself reports it.
    pub fn kind(&self) -> &str {
        match self {
            SearchBackendConfig::Embedded { .. } => "embedded",
            SearchBackendConfig::Http(s) => &s.kind,
            SearchBackendConfig::Postgres(_) => "postgres",
        }
    }

    /// Whether two configs reach the same backend the same way (a reload then keeps it open).
    pub fn same_as(&self, other: &SearchBackendConfig) -> bool {
        match (self, other) {
            (
                SearchBackendConfig::Embedded { index_dir, corpus },
                SearchBackendConfig::Embedded {
                    index_dir: d2,
                    corpus: c2,
                },
            ) => index_dir == d2 && corpus == c2,
            (SearchBackendConfig::Postgres(a), SearchBackendConfig::Postgres(b)) => a == b,
            (SearchBackendConfig::Http(a), SearchBackendConfig::Http(b)) => {
                a.kind == b.kind
                    && a.url_template == b.url_template
                    && a.body_template == b.body_template
                    && a.headers == b.headers
                    && a.mapping == b.mapping
                    && a.method == b.method
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchConfig {
    pub backend: SearchBackendConfig,
    #[serde(flatten)]
    pub adequacy: Adequacy,
    pub top_k: usize,
    #[serde(rename = "timeout_ms", serialize_with = "crate::redact::ser::millis")]
    pub timeout: Duration,
    /// How many embedded searches and answer steps run at once, each on a blocking thread of its
    /// own ([`super::pool`]); 0 is one per core.
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
