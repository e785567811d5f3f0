//! One request's route: the decision (guards, rules, scorer, a client's override), then, when the
//! decision is search, the search step (backend through timeout and breaker, the adequacy check, and
//! the request's own `stop` and `max_tokens`). The result is a typed [`Routed`]; `serve` answers or
//! forwards from it, and the offline tools read the same value.

use std::sync::Arc;
use std::time::Instant;

use tower::ServiceExt;

use super::{Language, Pipeline};
use crate::classify::Mode;
use crate::classify::{apply_override, Decision, RequestFeatures, Route};
use crate::cpu::CpuMeter;
pub use crate::openai::AnswerLimits;
pub use crate::outcome::Served;
use crate::search::answer::{self, Answer};
use crate::search::pool::PoolError;
use crate::search::{BoxError, SearchOutcome, SearchQuery};

/// What routing needs to know of a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteRequest<'a> {
    pub features: &'a RequestFeatures,
    /// Picks the tenant's policy, if it has one.
    pub tenant: Option<&'a str>,
    /// The client's `x-ecoroute-route`, if any.
    pub requested: Option<Route>,
    pub limits: &'a AnswerLimits,
}

/// Why the search backend gave no hits at all (as opposed to hits that do not answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SearchFailure {
    Timeout,
    Error,
    CircuitOpen,
    /// Every search thread stayed busy for `search.timeout_ms`, so the answer step could not run.
    Busy,
}

impl SearchFailure {
    /// The metric label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SearchFailure::Timeout => "timeout",
            SearchFailure::Error => "error",
            SearchFailure::CircuitOpen => "circuit_open",
            SearchFailure::Busy => "busy",
        }
    }

    fn reason(self) -> &'static str {
        match self {
            SearchFailure::Timeout => "search timed out",
            SearchFailure::Error => "search failed",
            SearchFailure::CircuitOpen => "search circuit open",
            SearchFailure::Busy => "search threads busy",
        }
    }
}

/// What the search step cost, and whether the backend failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SearchCost {
    /// Thread CPU time of the search and the adequacy check; `None` when the backend failed.
    pub cpu_us: Option<f64>,
    pub elapsed_ms: f64,
    pub failure: Option<SearchFailure>,
}

/// The search step alone: the answer or why it escalates, and its cost.
pub(crate) struct SearchStep {
    pub verdict: Result<Answer, String>,
    pub cost: SearchCost,
}

/// What happened after the decision.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// `mode = "off"`: forwarded without deciding.
    Off,
    /// Decided for the LLM; no search.
    Llm,
    /// Search answered; `content` is the message, fitted to the request's limits.
    Answered {
        answer: Answer,
        content: String,
        search: SearchCost,
    },
    /// Decided for search, but search could not answer well enough: the LLM answers.
    Escalated { why: String, search: SearchCost },
}

/// A request's route: the mode that applied, the decision (none in `off` mode) and the outcome.
#[derive(Debug, Clone)]
pub(crate) struct Routed {
    pub mode: Mode,
    pub decision: Option<Decision>,
    pub outcome: Outcome,
    /// Thread CPU time of the decision (the search step's is in [`SearchCost`]).
    pub decide_cpu_us: f64,
}

impl Routed {
    /// What `serve` does with the request (search, escalated or llm; a chat request is never
    /// passthrough or unrouted): answer from search only in `route` mode.
    pub(crate) fn served(&self) -> Served {
        match self.mode {
            Mode::Route => self.would_serve(),
            Mode::Shadow | Mode::Off => Served::Llm,
        }
    }

    /// What the routing would do if it were live: in shadow mode, what it would have done.
    pub(crate) fn would_serve(&self) -> Served {
        match &self.outcome {
            Outcome::Answered { .. } => Served::Search,
            Outcome::Escalated { .. } => Served::Escalated,
            Outcome::Off | Outcome::Llm => Served::Llm,
        }
    }

    pub(crate) fn search(&self) -> Option<&SearchCost> {
        match &self.outcome {
            Outcome::Answered { search, .. } | Outcome::Escalated { search, .. } => Some(search),
            Outcome::Off | Outcome::Llm => None,
        }
    }

    /// The answer search gave (served, or in shadow mode noted).
    pub(crate) fn answer(&self) -> Option<(&Answer, &str)> {
        match &self.outcome {
            Outcome::Answered { answer, content, .. } => Some((answer, content.as_str())),
            _ => None,
        }
    }

    /// The `x-ecoroute-reason` text, and the ledger's `reason`: the one place it is written.
    pub(crate) fn reason(&self) -> String {
        let Some(decision) = &self.decision else {
            return "mode: off".into();
        };
        let decided = decision.reason();
        let shadow = self.mode == Mode::Shadow;
        match &self.outcome {
            Outcome::Off => "mode: off".into(),
            Outcome::Llm if shadow => format!("shadow: would route to the LLM; {decided}"),
            Outcome::Llm => decided,
            Outcome::Answered { answer, .. } if shadow => format!(
                "shadow: search would answer (confidence {:.2}); {decided}",
                answer.confidence
            ),
            Outcome::Answered { answer, .. } if answer.source == answer::CALCULATOR => {
                format!("{}; {decided}", answer.doc_id)
            }
            Outcome::Answered { answer, .. } => format!("{decided}; search confidence {:.2}", answer.confidence),
            Outcome::Escalated { why, .. } if shadow => format!("shadow: search would escalate ({why}); {decided}"),
            Outcome::Escalated { why, .. } => format!("{why}; {decided}"),
        }
    }
}

impl Pipeline {
    /// Routes one request. Never fails: any search failure is a reason to escalate.
    pub(crate) async fn route(&self, request: RouteRequest<'_>) -> Routed {
        let policy = self.policy(request.tenant);
        if policy.mode == Mode::Off {
            return Routed {
                mode: Mode::Off,
                decision: None,
                outcome: Outcome::Off,
                decide_cpu_us: 0.0,
            };
        }
        let meter = CpuMeter::start();
        let decision = apply_override(
            policy.classifier.decide(request.features),
            request.requested,
            self.config.classifier.allow_search_override,
        );
        let decide_cpu_us = meter.micros();
        let outcome = if let Some(outcome) = Self::calculator_step(&decision, request) {
            outcome
        } else if decision.route == Route::Search {
            // A question a language pack decided is searched in that language's index, and
            // answered in its words.
            let language = self.language(&decision);
            let question = language.question(request.features);
            let step = self.search_step_in(&question, language).await;
            let fitted = step.verdict.and_then(|answer| {
                request
                    .limits
                    .fit(&language.message(&answer))
                    .map(|content| (answer, content))
            });
            match fitted {
                Ok((answer, content)) => Outcome::Answered {
                    answer,
                    content,
                    search: step.cost,
                },
                Err(why) => Outcome::Escalated { why, search: step.cost },
            }
        } else {
            Outcome::Llm
        };
        Routed {
            mode: policy.mode,
            decision: Some(decision),
            outcome,
            decide_cpu_us,
        }
    }

    /// The simplest tool first: a question that is wholly a unit conversion, a sum, a percentage, a
    /// count of days or a distance between cities is answered exactly by [`crate::calc`], before
    /// any search. Guards still
    /// come first (tools, a system prompt, a follow-up, another language: the LLM), and so does a
    /// client's `x-ecoroute-route: llm`; a rule or the scorer does not stop it, as the
    /// `arithmetic` rule only says that search cannot answer a sum.
    fn calculator_step(decision: &Decision, request: RouteRequest<'_>) -> Option<Outcome> {
        use crate::classify::Decider;
        if !matches!(decision.decider, Decider::Classifier { .. } | Decider::Rule(_)) {
            return None;
        }
        let started = Instant::now();
        let meter = CpuMeter::start();
        let calculation = crate::calc::calculate(&request.features.question)?;
        let answer = Answer::calculated(&calculation);
        let search = SearchCost {
            cpu_us: Some(meter.micros()),
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
            failure: None,
        };
        Some(match request.limits.fit(&answer.to_message()) {
            Ok(content) => Outcome::Answered {
                answer,
                content,
                search,
            },
            Err(why) => Outcome::Escalated { why, search },
        })
    }

    /// One call to a language's search stack (timeout and breaker included) with the configured
    /// number of hits.
    pub(crate) async fn run_search(&self, question: &str, language: Language<'_>) -> Result<SearchOutcome, BoxError> {
        let query = SearchQuery {
            text: question.to_string(),
            limit: self.config.search.top_k,
        };
        match language.stack() {
            Some(l) => l.search.clone().oneshot(query).await,
            None => self.search.clone().oneshot(query).await,
        }
    }

    /// Searches and runs the adequacy check. Any failure (timeout, backend error, weak hit) is a
    /// reason to escalate, never an error for the client.
    ///
    /// `question` is out of its chat frame ([`crate::classify::RequestFeatures::question`]): "Hi!
    /// Can you tell me who wrote Hamlet? Thanks" searches for, and checks the answer against, what
    /// is asked, not the greeting around it. `language` picks the index and the adequacy check.
    pub(crate) async fn search_step_in(&self, question: &str, language: Language<'_>) -> SearchStep {
        let started = Instant::now();
        let outcome = match self.run_search(question, language).await {
            Ok(outcome) => outcome,
            Err(e) => {
                let failure = if e.is::<tower::timeout::error::Elapsed>() {
                    SearchFailure::Timeout
                } else if e.is::<crate::search::breaker::CircuitOpen>() {
                    SearchFailure::CircuitOpen
                } else {
                    tracing::warn!(error = %e, backend = %self.search_backend_name, "search backend failed; escalating");
                    SearchFailure::Error
                };
                return SearchStep {
                    verdict: Err(format!("escalated: {}", failure.reason())),
                    cost: SearchCost {
                        cpu_us: None,
                        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
                        failure: Some(failure),
                    },
                };
            }
        };
        // The adequacy check (the reader scores every sentence of the hits) is CPU work too, and
        // part of the search step's cost: it runs on the search pool, measured there. Its wait for
        // a thread is bounded by the search timeout; the check itself is not, as before.
        let adequacy = self.config.search.adequacy;
        let pack = language.stack().map(|l| Arc::clone(&l.pack));
        let owned = question.to_string();
        let check = move || {
            match pack {
                Some(pack) => pack.answer(&owned, &outcome.hits, &adequacy),
                None => answer::answer(&owned, &outcome.hits, &adequacy),
            }
            .map_err(|refusal| refusal.reason())
        };
        let searched_cpu = outcome.cpu;
        let (verdict, check_cpu) = match self.search_pool.run(Some(self.config.search.timeout), check).await {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(error = %e, "search answer step did not run; escalating");
                let failure = match e {
                    PoolError::Busy(_) => SearchFailure::Busy,
                    PoolError::Failed(_) => SearchFailure::Error,
                };
                return SearchStep {
                    verdict: Err(format!("escalated: {}", failure.reason())),
                    cost: SearchCost {
                        cpu_us: searched_cpu.map(|d| d.as_secs_f64() * 1e6),
                        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
                        failure: Some(failure),
                    },
                };
            }
        };
        let cpu_us = [searched_cpu, check_cpu]
            .iter()
            .flatten()
            .map(|d| d.as_secs_f64() * 1e6)
            .sum::<f64>();
        SearchStep {
            verdict,
            cost: SearchCost {
                cpu_us: Some(cpu_us),
                elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
                failure: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_cut_at_the_first_stop_and_refuse_long_or_emptied_answers() {
        let text = "The capital of Peru is Lima.\n\nSource: Peru (GeoNames)";
        let none = AnswerLimits::default();
        assert_eq!(none.fit(text).unwrap(), text);
        let stop = AnswerLimits {
            stop: vec!["\n\nSource".into(), "Lima".into()],
            max_tokens: None,
        };
        assert_eq!(
            stop.fit(text).unwrap(),
            "The capital of Peru is",
            "the earliest stop wins"
        );
        let cuts_all = AnswerLimits {
            stop: vec!["The".into()],
            max_tokens: None,
        };
        assert!(cuts_all.fit(text).is_err());
        let short = AnswerLimits {
            stop: vec![],
            max_tokens: Some(3),
        };
        assert!(short.fit(text).unwrap_err().contains("max_tokens (3)"));
    }
}
