//! Search with PostgreSQL full-text search (`tsvector` / `ts_rank`), for a company whose knowledge
//! base already lives in Postgres. The table needs a `tsvector` column with a GIN index;
//! `config/examples/postgres.toml` gives a schema. Identifiers come from the config and are checked
//! there (letters, digits and `_` only) and quoted here; the query text is always a bind parameter.
//!
//! The question's words are OR-ed (`plainto_tsquery` with `&` turned into `|`), and `ts_rank`
//! orders documents by how many of them they hold and how often: the adequacy check, not the
//! database, decides whether the best one answers.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::future::BoxFuture;
use tokio_postgres::NoTls;

use super::{Hit, SearchBackend, SearchError};
use crate::redact::Secret;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PgSearchSettings {
    /// Connection string; it may hold a password.
    pub url: Secret<String>,
    pub table: String,
    pub id_column: String,
    pub title_column: String,
    pub text_column: String,
    pub url_column: Option<String>,
    pub tsvector_column: String,
    /// Text search configuration, e.g. `english`.
    pub language: String,
    pub pool_size: usize,
    pub source_name: String,
}

pub(crate) struct PgSearch {
    pool: Pool,
    sql: String,
    language: String,
    source_name: String,
}

fn quote(identifier: &str) -> String {
    // Identifiers are validated at config load; quoting keeps reserved words and case intact.
    identifier
        .split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

/// The search statement for a table layout.
fn search_sql(s: &PgSearchSettings) -> String {
    let url = s
        .url_column
        .as_deref()
        .map_or_else(|| "''".to_string(), |c| format!("coalesce({}::text, '')", quote(c)));
    format!(
        "SELECT {id}::text, coalesce({title}::text, ''), coalesce({text}::text, ''), {url}, \
         ts_rank({tsv}, q)::real AS score \
         FROM {table}, to_tsquery($1::text::regconfig, replace(plainto_tsquery($1::text::regconfig, $2)::text, ' & ', ' | ')) AS q \
         WHERE {tsv} @@ q ORDER BY score DESC LIMIT $3",
        id = quote(&s.id_column),
        title = quote(&s.title_column),
        text = quote(&s.text_column),
        tsv = quote(&s.tsvector_column),
        table = quote(&s.table),
    )
}

impl PgSearch {
    /// Creates the pool; connections open on first use, so a database that is down at start makes
    /// requests escalate (and the circuit breaker open) instead of stopping the proxy.
    pub(crate) fn new(settings: &PgSearchSettings) -> Result<PgSearch, SearchError> {
        let pg_config: tokio_postgres::Config = settings
            .url
            .expose()
            .parse()
            .map_err(|e| SearchError::Backend(format!("bad PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(
            pg_config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .build()
            .map_err(|e| SearchError::Backend(format!("cannot build PostgreSQL pool: {e}")))?;
        Ok(PgSearch {
            pool,
            sql: search_sql(settings),
            language: settings.language.clone(),
            source_name: settings.source_name.clone(),
        })
    }
}

impl SearchBackend for PgSearch {
    fn name(&self) -> &str {
        "postgres"
    }

    fn search<'a>(&'a self, query: &'a str, limit: usize) -> BoxFuture<'a, Result<Vec<Hit>, SearchError>> {
        Box::pin(async move {
            let client = self
                .pool
                .get()
                .await
                .map_err(|e| SearchError::Backend(format!("PostgreSQL connection: {e}")))?;
            let statement = client
                .prepare_cached(&self.sql)
                .await
                .map_err(|e| SearchError::Backend(format!("PostgreSQL prepare: {e}")))?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = client
                .query(&statement, &[&self.language, &query, &limit])
                .await
                .map_err(|e| SearchError::Backend(format!("PostgreSQL search: {e}")))?;
            Ok(rows
                .iter()
                .map(|row| Hit {
                    id: row.get(0),
                    title: row.get(1),
                    text: row.get(2),
                    url: row.get(3),
                    score: row.get(4),
                    source: self.source_name.clone(),
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_quotes_identifiers_and_binds_the_query() {
        let sql = search_sql(&PgSearchSettings {
            url: Secret::default(),
            table: "kb.documents".into(),
            id_column: "id".into(),
            title_column: "title".into(),
            text_column: "body".into(),
            url_column: None,
            tsvector_column: "tsv".into(),
            language: "english".into(),
            pool_size: 4,
            source_name: "KB".into(),
        });
        assert!(sql.contains("FROM \"kb\".\"documents\""), "{sql}");
        assert!(sql.contains("coalesce(\"body\"::text, '')"));
        assert!(
            sql.contains("plainto_tsquery($1::text::regconfig, $2)"),
            "the query is a parameter"
        );
        assert!(sql.contains(", '',"), "no url column selects an empty string");
    }
}
