//! `[classifier]`: which scorer decides lookup versus complex, and how sure it must be.

use std::sync::Arc;

use serde::{Serialize, Serializer};

use super::{check_unit, problem, raw::RawClassifier, Problem};
use crate::classify::{model, HeuristicScorer, Scorer};

#[derive(Debug, Clone, Serialize)]
pub struct ClassifierConfig {
    pub lookup_threshold: f64,
    /// Whether a client may force search with `x-ecoroute-route: search` (forcing the LLM is always allowed).
    pub allow_search_override: bool,
    /// What `model` named: `builtin`, `heuristic`, or a file path.
    pub model: String,
    /// The loaded scorer; loading happens at config load so `check` catches a bad model file.
    #[serde(serialize_with = "scorer_name")]
    pub scorer: Arc<dyn Scorer>,
}

fn scorer_name<S: Serializer>(scorer: &Arc<dyn Scorer>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(scorer.name())
}

pub(super) fn validate_classifier(raw: RawClassifier, problems: &mut Vec<Problem>) -> ClassifierConfig {
    check_unit(problems, "classifier.lookup_threshold", raw.lookup_threshold);
    let scorer: Arc<dyn Scorer> = match load_scorer(&raw.model) {
        Ok(scorer) => scorer,
        Err(message) => {
            problems.push(problem(
                "classifier.model",
                message,
                "use \"builtin\", \"heuristic\", or the path of a file written by `ecoroute train`",
            ));
            Arc::new(HeuristicScorer)
        }
    };
    ClassifierConfig {
        lookup_threshold: raw.lookup_threshold,
        allow_search_override: raw.allow_search_override,
        model: raw.model,
        scorer,
    }
}

/// The scorer a `classifier.model` value names.
pub(crate) fn load_scorer(spec: &str) -> Result<Arc<dyn Scorer>, String> {
    match spec {
        "builtin" => Ok(model::builtin()?),
        "heuristic" => Ok(Arc::new(HeuristicScorer)),
        path => {
            let bytes = std::fs::read(path).map_err(|e| format!("cannot read model file `{path}`: {e}"))?;
            Ok(Arc::new(model::decode_gz(&bytes, path)?))
        }
    }
}
