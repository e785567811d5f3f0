//! What happened to a request, as types: the route it took, where its token counts came from, who
//! decided its route, what a cached answer was first, and the split every consumer (accountant,
//! report, metrics, replay) reads through [`crate::ledger::LedgerRecord::served`]. A leaf under
//! the cache, the pipeline and the ledger, which all speak these words; the ledger stores each
//! as the same text as before, so the schema does not change.

use serde::{Deserialize, Serialize};

/// The route a request took, as the `route` column stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteTaken {
    /// Refused before routing (bad request, too large, timed out, no such path).
    #[default]
    #[serde(rename = "")]
    Unrouted,
    Search,
    Llm,
    Passthrough,
    /// Answered from the response cache.
    Cache,
}

impl RouteTaken {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteTaken::Unrouted => "",
            RouteTaken::Search => "search",
            RouteTaken::Llm => "llm",
            RouteTaken::Passthrough => "passthrough",
            RouteTaken::Cache => "cache",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<RouteTaken> {
        [
            RouteTaken::Unrouted,
            RouteTaken::Search,
            RouteTaken::Llm,
            RouteTaken::Passthrough,
            RouteTaken::Cache,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }
}

impl From<crate::classify::Route> for RouteTaken {
    fn from(route: crate::classify::Route) -> Self {
        match route {
            crate::classify::Route::Search => RouteTaken::Search,
            crate::classify::Route::Llm => RouteTaken::Llm,
        }
    }
}

/// Where a row's token counts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UsageSource {
    /// No tokens (an error, or a request that never reached a model).
    #[default]
    None,
    /// Reported by the LLM.
    Upstream,
    /// Counted by the proxy (search answers, streams without a usage chunk).
    Estimated,
}

impl UsageSource {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageSource::None => "none",
            UsageSource::Upstream => "upstream",
            UsageSource::Estimated => "estimated",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<UsageSource> {
        [UsageSource::None, UsageSource::Upstream, UsageSource::Estimated]
            .into_iter()
            .find(|u| u.as_str() == text)
    }
}

/// Who decided a chat request's route. Kept with the row in memory and in the spool (for metrics),
/// not in the database, whose `reason` column says the same in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecidedBy {
    Guard,
    Rule,
    Classifier,
    /// The client's `x-ecoroute-route`.
    Override,
    /// `mode = "off"`: nothing decided.
    Off,
    /// A language pack's cues ([`crate::lang`]).
    Language,
}

impl DecidedBy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DecidedBy::Guard => "guard",
            DecidedBy::Rule => "rule",
            DecidedBy::Classifier => "classifier",
            DecidedBy::Override => "override",
            DecidedBy::Off => "off",
            DecidedBy::Language => "language",
        }
    }

    pub(crate) fn of(decider: &crate::classify::Decider) -> DecidedBy {
        use crate::classify::Decider;
        match decider {
            Decider::Guard(_) => DecidedBy::Guard,
            Decider::Rule(_) => DecidedBy::Rule,
            Decider::Override(_) => DecidedBy::Override,
            Decider::Classifier { .. } => DecidedBy::Classifier,
            Decider::Language { .. } => DecidedBy::Language,
        }
    }
}

/// What a cached answer was first: a search answer or an LLM answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheOrigin {
    Search,
    Llm,
}

impl CacheOrigin {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CacheOrigin::Search => "search",
            CacheOrigin::Llm => "llm",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<CacheOrigin> {
        [CacheOrigin::Search, CacheOrigin::Llm]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// What answered a request, the split every report and the accountant make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Served {
    /// Answered from search.
    Search,
    /// Answered from the response cache (an earlier search or LLM answer).
    Cache,
    /// Classified for search, answered by the LLM after search could not.
    Escalated,
    /// Sent to the LLM.
    Llm,
    /// Any other `/v1/*` path, forwarded unchanged.
    Passthrough,
    /// Refused before routing.
    Unrouted,
}

impl Served {
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Search => "search",
            Served::Cache => "cache",
            Served::Escalated => "escalated",
            Served::Llm => "llm",
            Served::Passthrough => "passthrough",
            Served::Unrouted => "unrouted",
        }
    }
}

/// The stored words compare with text, so a row reads as it did when these were strings
/// (`row.route == "search"`).
macro_rules! compares_as_text {
    ($($ty:ty),*) => {$(
        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    )*};
}

compares_as_text!(
    RouteTaken,
    CacheOrigin,
    UsageSource,
    DecidedBy,
    Served,
    crate::classify::Mode,
    crate::classify::Route,
    crate::classify::Class
);
