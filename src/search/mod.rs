//! Search backends and the answer they can give. Every backend implements [`SearchBackend`]; the
//! pipeline talks to it through [`SearchService`], a `tower::Service`, so that the timeout and the
//! circuit breaker compose as layers ([`crate::pipeline::search_stack`]), and tests can mock it.
//!
//! - [`embedded`]: the default backend, a tantivy index built from the corpus in `corpus/`, or from
//!   a company's own files read by [`ingest`] (JSON Lines, Markdown, plain text, Kiwix ZIM, Wikidata and Wikipedia abstracts dumps).
//! - [`http`]: Elasticsearch / OpenSearch `_search`, and any JSON search API (SearxNG, Brave,
//!   Meilisearch, Typesense) by URL template and JSON pointers.
//! - [`postgres`]: PostgreSQL full-text search.
//! - [`breaker`]: the circuit breaker layer in front of every backend.
//! - [`pool`]: the bounded blocking pool that embedded searches and the answer step run on.
//! - [`answer`]: pure; picks the sentence that answers the question, or refuses. It calls the
//!   reader (`reader.rs`, the learned model that scores sentences), and both read questions and
//!   hits with `evidence.rs`, which reads words with `question.rs`: imports go answer → reader →
//!   evidence → question, never back (`scripts/ci/imports.sh` checks it).

pub mod answer;
pub(crate) mod breaker;
pub mod embedded;
pub(crate) mod evidence;
pub(crate) mod http;
pub mod ingest;
pub(crate) mod pool;
pub(crate) mod postgres;
pub(crate) mod question;
pub(crate) mod reader;
pub(crate) mod settings;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

/// One search result, as every backend returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub id: String,
    pub title: String,
    pub text: String,
    pub source: String,
    pub url: String,
    /// Backend-specific relevance score (BM25 for the embedded index); only comparable within one result list.
    pub score: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search backend failed: {0}")]
    Backend(String),
}

/// Opens the backend a config names. The embedded index is opened (or first built) on a blocking
/// thread; external backends connect lazily, so one that is down at start makes requests escalate
/// rather than stopping the proxy.
pub async fn connect(
    config: &(impl AsRef<settings::SearchBackendConfig> + ?Sized),
) -> Result<Arc<dyn SearchBackend>, crate::Error> {
    use settings::SearchBackendConfig;
    Ok(match config.as_ref() {
        SearchBackendConfig::Embedded { index_dir, corpus } => {
            let (dir, corpus) = (index_dir.clone(), corpus.clone());
            let index = tokio::task::spawn_blocking(move || embedded::EmbeddedIndex::open_or_build(&dir, &corpus))
                .await
                .map_err(|e| crate::Error::internal_from("index task failed", e))??;
            tracing::info!(documents = index.num_docs(), "embedded search index ready");
            Arc::new(index)
        }
        SearchBackendConfig::Http(settings) => Arc::new(
            http::HttpSearch::new((**settings).clone())
                .map_err(|e| crate::Error::internal_from("starting the search client", e))?,
        ),
        SearchBackendConfig::Postgres(settings) => Arc::new(
            postgres::PgSearch::new(settings)
                .map_err(|e| crate::Error::internal_from("starting the search client", e))?,
        ),
    })
}

pub trait SearchBackend: Send + Sync + 'static {
    /// Short name for logs, the ledger and `system_fingerprint`, e.g. `embedded`.
    fn name(&self) -> &str;
    fn search<'a>(&'a self, query: &'a str, limit: usize) -> BoxFuture<'a, Result<Vec<Hit>, SearchError>>;

    /// `Some` for a backend whose search is CPU work in this process (the embedded index): the
    /// same search as a blocking call, which [`SearchService`] runs on the [`pool::SearchPool`]
    /// instead of awaiting [`SearchBackend::search`] on the serving thread.
    fn blocking(self: Arc<Self>) -> Option<Arc<dyn BlockingSearch>> {
        None
    }
}

/// A search that is CPU work: it runs to its end on the thread that calls it.
pub trait BlockingSearch: Send + Sync + 'static {
    fn search_blocking(&self, query: &str, limit: usize) -> Result<Vec<Hit>, SearchError>;
}

/// A request to the search service.
#[derive(Debug, Clone)]
pub(crate) struct SearchQuery {
    pub text: String,
    pub limit: usize,
}

/// Hits plus how long the backend took, which the energy accounting needs.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    pub hits: Vec<Hit>,
    pub elapsed: Duration,
    /// Thread CPU time of the search, when it ran on one thread (the embedded backend always does).
    pub cpu: Option<Duration>,
}

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `tower::Service` face of a [`SearchBackend`].
#[derive(Clone)]
pub struct SearchService {
    backend: Arc<dyn SearchBackend>,
    /// The backend's blocking face, when it has one.
    blocking: Option<Arc<dyn BlockingSearch>>,
    pool: pool::SearchPool,
}

impl SearchService {
    /// `pool` runs the searches of a backend that has a blocking face.
    pub(crate) fn new(backend: Arc<dyn SearchBackend>, pool: pool::SearchPool) -> Self {
        let blocking = Arc::clone(&backend).blocking();
        Self {
            backend,
            blocking,
            pool,
        }
    }
}

impl tower::Service<SearchQuery> for SearchService {
    type Response = SearchOutcome;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<SearchOutcome, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, query: SearchQuery) -> Self::Future {
        let backend = Arc::clone(&self.backend);
        let blocking = self.blocking.clone();
        let pool = self.pool.clone();
        Box::pin(async move {
            let started = Instant::now();
            let (hits, cpu) = match blocking {
                // The wait for a thread counts against the timeout layer around this service,
                // so a full pool escalates at `search.timeout_ms` like a slow search does.
                Some(blocking) => {
                    let (hits, cpu) = pool
                        .run(None, move || blocking.search_blocking(&query.text, query.limit))
                        .await?;
                    (hits?, cpu)
                }
                None => {
                    let meter = crate::cpu::CpuMeter::start();
                    let hits = backend.search(&query.text, query.limit).await?;
                    (hits, meter.elapsed())
                }
            };
            Ok(SearchOutcome {
                hits,
                elapsed: started.elapsed(),
                cpu,
            })
        })
    }
}
