//! The decision trace: the scorer's strongest features, and what search makes of a question (its
//! hits and the answer or refusal). For the `x-ecoroute-explain` header and `/admin/explain`.

use serde_json::{json, Value};

use super::{AnswerLimits, Language, Pipeline, PlanRequest};
use crate::classify::{Decider, Decision, RequestFeatures};

/// The scorer's three strongest features, when the scorer decided; `question` as the scorer saw it.
pub(crate) fn top_features(pipeline: &Pipeline, tenant: Option<&str>, question: &str, decision: &Decision) -> String {
    if !matches!(decision.decider, Decider::Classifier { .. }) {
        return String::new();
    }
    let score = pipeline.policy(tenant).classifier.scorer.score(question);
    score
        .contributions
        .iter()
        .take(3)
        .map(|(name, w)| format!("{w:+.2} {name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many of the reader's candidates an explanation lists.
const EXPLAINED_CANDIDATES: usize = 5;

/// What search would do with a question in the request's language (its index, its question out
/// of the frame, its adequacy check): the hits and the answer or refusal.
pub(crate) async fn explain_search(pipeline: &Pipeline, features: &RequestFeatures, language: Language<'_>) -> Value {
    let question = language.question(features);
    let question = question.as_ref();
    match pipeline.run_search(question, language).await {
        Ok(outcome) => {
            let hits: Vec<Value> = outcome
                .hits
                .iter()
                .map(|h| json!({"title": h.title, "source": h.source, "url": h.url, "score": h.score, "text": h.text}))
                .collect();
            let verdict = match language.answer(question, &outcome.hits, &pipeline.config.search.adequacy) {
                Ok(a) => json!({"answer": a.sentence, "confidence": a.confidence, "source": a.url}),
                Err(refusal) => json!({"refusal": refusal.reason()}),
            };
            // The English reader's best candidates, each with why: what to read when a right
            // sentence in the hits was not the answer.
            let candidates: Vec<Value> = match language {
                Language::English => {
                    crate::search::answer::ranked_candidates(question, &outcome.hits, EXPLAINED_CANDIDATES)
                        .into_iter()
                        .map(|(p, title, text, why)| json!({"p": p, "title": title, "text": text, "features": why}))
                        .collect()
                }
                Language::Pack(_) => Vec::new(),
            };
            json!({"hits": hits, "candidates": candidates, "verdict": verdict, "elapsed_ms": outcome.elapsed.as_secs_f64() * 1e3})
        }
        Err(e) => json!({"error": e.to_string()}),
    }
}

/// The full decision for a single-turn question, as `serve` would route it for `tenant`, with the
/// scorer's features and what search makes of it.
pub(crate) async fn explain(pipeline: &Pipeline, query: &str, tenant: Option<&str>) -> Value {
    let features = RequestFeatures::from_query(query);
    let plan = pipeline
        .plan(PlanRequest {
            api: crate::api::Api::ChatCompletions,
            features: &features,
            tenant,
            requested: None,
            limits: &AnswerLimits::default(),
            model: "",
            // The decision itself, not a stored answer from an earlier request.
            cache: None,
            review_draw: None,
        })
        .await;
    let Some(routed) = plan.routed else {
        return json!({"error": "a plan without a cache look-up was not routed"});
    };
    let classifier = &pipeline.policy(tenant).classifier;
    let score = classifier.scorer.score(&features.question);
    let top: Vec<Value> = score
        .contributions
        .iter()
        .take(10)
        .map(|(name, weight)| json!({"feature": name, "weight": weight}))
        .collect();
    // The language the request is answered in, as `serve` chooses it: a French question is
    // explained with the French pack and index.
    let language = routed
        .decision
        .as_ref()
        .map_or(Language::English, |d| pipeline.language(d));
    let search = explain_search(pipeline, &features, language).await;
    json!({
        "query": query,
        "tenant": tenant,
        "language": language.code(),
        "mode": routed.mode.as_str(),
        "class": routed.decision.as_ref().map(|d| d.class.as_str()),
        "confidence": routed.decision.as_ref().map(|d| d.confidence),
        // As the `x-ecoroute-route` header would say, and which of the three outcomes it is.
        "route": if routed.served() == super::Served::Search { "search" } else { "llm" },
        "served": routed.served().as_str(),
        "reason": routed.reason(),
        "scorer": classifier.scorer.name(),
        "p_lookup": score.p_lookup,
        "top_features": top,
        "search": search,
    })
}
