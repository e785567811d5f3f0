//! Search backends and the answer they can give. Every backend implements [`SearchBackend`]; the
//! server talks to it through [`SearchService`], a `tower::Service`, so that timeouts (and, later,
//! limits and circuit breakers) compose as layers in `server::stack`, and tests can mock it.
//!
//! - [`embedded`]: the default backend, a tantivy index built from the corpus in `corpus/`.
//! - [`answer`]: pure; picks the sentence that answers the question, or refuses.

pub mod answer;
pub mod embedded;

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

pub trait SearchBackend: Send + Sync + 'static {
    /// Short name for logs, the ledger and `system_fingerprint`, e.g. `embedded`.
    fn name(&self) -> &str;
    fn search<'a>(&'a self, query: &'a str, limit: usize) -> BoxFuture<'a, Result<Vec<Hit>, SearchError>>;
}

/// A request to the search service.
#[derive(Debug, Clone)]
pub struct SearchQuery {
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

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `tower::Service` face of a [`SearchBackend`].
#[derive(Clone)]
pub struct SearchService {
    backend: Arc<dyn SearchBackend>,
}

impl SearchService {
    pub fn new(backend: Arc<dyn SearchBackend>) -> Self {
        Self { backend }
    }

    pub fn backend_name(&self) -> &str {
        self.backend.name()
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
        Box::pin(async move {
            let started = Instant::now();
            let meter = crate::cpu::CpuMeter::start();
            let hits = backend.search(&query.text, query.limit).await?;
            let cpu = meter.elapsed();
            Ok(SearchOutcome {
                hits,
                elapsed: started.elapsed(),
                cpu,
            })
        })
    }
}
