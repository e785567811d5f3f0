//! The search backend's settings, validated from `[search]` by the config module. The search
//! module owns these types so that it does not depend on the config that builds them; the whole
//! table (with the language packs, which sit above search) is `config::SearchConfig`.

use std::path::PathBuf;

use serde::Serialize;

use super::http::HttpSearchSettings;
use super::postgres::PgSearchSettings;

/// Which backend answers, and how to reach it. Credentials are [`crate::redact::Secret`]s or
/// sensitive header values, so the derived `Debug` and `Serialize` never show them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchBackendConfig {
    Embedded { index_dir: PathBuf, corpus: PathBuf },
    Http(Box<HttpSearchSettings>),
    Postgres(Box<PgSearchSettings>),
}

/// [`super::connect`] takes the backend's settings, or anything that holds them (the config's
/// `[search]` table).
impl AsRef<SearchBackendConfig> for SearchBackendConfig {
    fn as_ref(&self) -> &SearchBackendConfig {
        self
    }
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
    pub(crate) fn same_as(&self, other: &SearchBackendConfig) -> bool {
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
