//! Routing decision, pure and synchronous: given what a request looks like ([`RequestFeatures`]),
//! decide whether it is a simple factual lookup for search or a complex request for the LLM.
//!
//! Order of evaluation, first match wins:
//! 1. hard [`guards`]: things search can never serve (tool calls, images or audio,
//!    `response_format`, `n > 1`, follow-ups that lean on the conversation, questions about the
//!    assistant, the user or this moment) always go to the LLM;
//! 2. the ordered [`rules`] from the config;
//! 3. the [`scorer`], a lookup-vs-complex model with a confidence, against `lookup_threshold`.
//!
//! When in doubt the answer is the LLM: a wrong answer from search costs more than an LLM call.

pub mod difficulty;
pub(crate) mod guards;
pub(crate) mod model;
pub(crate) mod route_metrics;
pub(crate) mod rules;
pub(crate) mod scorer;
pub(crate) mod tasks;
pub mod text;
pub(crate) mod train;
pub(crate) mod trees;

use std::fmt;
use std::sync::Arc;

pub(crate) use guards::{Guard, Guards};

pub(crate) use rules::{Conditions, Rule};
pub(crate) use scorer::{HeuristicScorer, Scorer};

/// What the classifier may look at. Built from the request by [`crate::openai`]; kept free of wire
/// types so that the core can be tested and benched without HTTP.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFeatures {
    /// Text of the last user message (text parts joined with newlines).
    pub last_user: String,
    /// The question inside `last_user`'s chat frame ([`text::core_question`]), computed once per
    /// request: the scorer, the personal-question guard and search all read this.
    pub question: String,
    /// Text of all system (and developer) messages joined.
    pub system: String,
    /// Number of user messages.
    pub user_turns: usize,
    /// Number of assistant or tool messages before the last user message.
    pub prior_turns: usize,
    pub has_tools: bool,
    pub has_media: bool,
    pub has_response_format: bool,
    /// Requested number of choices (`n`), 1 when absent.
    pub choices: u32,
    /// A feature only the LLM's API can serve (state it holds, extended thinking), by name.
    pub llm_feature: Option<&'static str>,
}

impl RequestFeatures {
    /// Features of a single-turn question, as CLI tools and evaluation see it.
    pub fn from_query(query: &str) -> Self {
        Self {
            last_user: query.to_string(),
            question: text::question_of(query),
            user_turns: 1,
            choices: 1,
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Lookup,
    Complex,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Lookup => "lookup",
            Class::Complex => "complex",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Class> {
        [Class::Lookup, Class::Complex].into_iter().find(|c| c.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    Search,
    Llm,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Search => "search",
            Route::Llm => "llm",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Route> {
        [Route::Search, Route::Llm].into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How requests are handled: `route` (the product), `shadow` (classify and search, answer from
/// the LLM, ledger what would have happened) or `off` (straight to the LLM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Route,
    Shadow,
    Off,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Route => "route",
            Mode::Shadow => "shadow",
            Mode::Off => "off",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Mode> {
        [Mode::Route, Mode::Shadow, Mode::Off]
            .into_iter()
            .find(|m| m.as_str() == text)
    }
}

/// What decided the route; rendered as the `x-ecoroute-reason` header and stored in the ledger.
#[derive(Debug, Clone, PartialEq)]
pub enum Decider {
    Guard(Guard),
    Rule(String),
    /// The client asked for this route with `x-ecoroute-route`.
    Override(Route),
    Classifier {
        p_lookup: f64,
        threshold: f64,
    },
    /// A language pack's cues ([`crate::lang`]): the question is in that language. `guard` is
    /// set when one of the guards that read words fired in that language's words.
    Language {
        code: String,
        cue: String,
        guard: Option<Guard>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub class: Class,
    /// Confidence in `class`, in 0..=1. Guards and rules are certain by construction.
    pub confidence: f64,
    pub route: Route,
    pub decider: Decider,
}

impl Decision {
    /// A lookup sure enough to be sent to search (past the threshold, or by a rule): what model
    /// tiers count as a lookup task when search could not answer it.
    pub(crate) fn is_confident_lookup(&self) -> bool {
        self.class == Class::Lookup && self.route == Route::Search
    }

    /// The question is about the assistant, the user or this moment, in any language.
    pub(crate) fn is_personal(&self) -> bool {
        matches!(
            self.decider,
            Decider::Guard(Guard::Personal)
                | Decider::Language {
                    guard: Some(Guard::Personal),
                    ..
                }
        )
    }

    /// The language the decision was made in, for per-language figures: a pack's code, `other`
    /// for a language no pack has, `en` otherwise.
    pub(crate) fn language(&self) -> &str {
        match &self.decider {
            Decider::Language { code, .. } => code,
            Decider::Guard(Guard::Language) => "other",
            _ => "en",
        }
    }

    pub fn reason(&self) -> String {
        match &self.decider {
            Decider::Guard(g) => format!("guard: {}", g.as_str()),
            Decider::Rule(name) => format!("rule: {name}"),
            Decider::Override(route) => format!("override: client asked for {route}"),
            Decider::Language {
                code, guard: Some(g), ..
            } => format!("guard: {} (language {code})", g.as_str()),
            Decider::Language { code, cue, .. } => format!("language {code}: {cue}"),
            Decider::Classifier { p_lookup, threshold } => {
                let cmp = if *p_lookup >= *threshold { ">=" } else { "<" };
                format!("classifier: p(lookup)={p_lookup:.3} {cmp} {threshold:.3}")
            }
        }
    }
}

/// Guards, rules and scorer together; cheap to share behind an `Arc` and swapped whole on reload.
#[derive(Clone)]
pub struct Classifier {
    pub guards: Guards,
    pub rules: Vec<Rule>,
    pub scorer: Arc<dyn Scorer>,
    pub lookup_threshold: f64,
    /// System prompts a tenant has declared compatible with plain sourced answers: a request whose
    /// system prompt matches skips the system-prompt guard (`[[tenant]] search_compatible_system`).
    pub compatible_system: Option<regex::Regex>,
    /// Languages besides English that search answers in (the packs of `lang`, which sits above
    /// this module and implements [`LanguageCues`] for them).
    pub languages: Vec<Arc<dyn LanguageCues>>,
}

/// What the classifier asks of a language search has a corpus for: how many of its function words
/// a text has (which language a message is in), and its own decision for a question in it.
pub trait LanguageCues: Send + Sync {
    fn function_word_count(&self, text: &str) -> usize;

    /// Lookup or task, for a question already known to be in this language; `guards` are the
    /// request's, and `system_in_this_language` says the system prompt is in it too.
    fn decide(&self, features: &RequestFeatures, guards: &Guards, system_in_this_language: bool) -> Decision;
}

/// The item whose language the message is in, when it is not English: the one with most function
/// words in it, if it has more of them than English has. `cues` reads an item's language.
pub(crate) fn language_among<'a, T>(
    items: &'a [T],
    cues: impl Fn(&T) -> &dyn LanguageCues,
    message: &str,
) -> Option<&'a T> {
    if items.is_empty() || message.is_empty() {
        return None;
    }
    let english = guards::english_function_word_count(message);
    items
        .iter()
        .map(|p| (p, cues(p).function_word_count(message)))
        .filter(|(_, n)| *n > english)
        .max_by_key(|(_, n)| *n)
        .map(|(p, _)| p)
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Classifier")
            .field("guards", &self.guards)
            .field("rules", &self.rules.iter().map(|r| r.name.as_str()).collect::<Vec<_>>())
            .field("scorer", &self.scorer.name())
            .field("lookup_threshold", &self.lookup_threshold)
            .field(
                "compatible_system",
                &self.compatible_system.as_ref().map(regex::Regex::as_str),
            )
            .finish()
    }
}

impl Classifier {
    pub fn decide(&self, features: &RequestFeatures) -> Decision {
        let declared_compatible = !features.system.trim().is_empty()
            && self
                .compatible_system
                .as_ref()
                .is_some_and(|re| re.is_match(&features.system));
        let guards = Guards {
            system_prompt: self.guards.system_prompt && !declared_compatible,
            ..self.guards
        };
        // A question in a language search has a corpus for is that language's to decide: the
        // guards that read words are its own, those that read no words (tools, media, format)
        // still apply here.
        let pack = language_among(&self.languages, |p| p.as_ref(), &features.last_user);
        let system_language = language_among(&self.languages, |p| p.as_ref(), &features.system);
        let shape_guards = match pack {
            Some(_) => Guards {
                language: false,
                personal: false,
                follow_up: false,
                system_prompt: false,
                ..guards
            },
            None => guards,
        };
        // A conversation whose system prompt is in another language than an English question wants
        // its answer in that language, which search does not have ("Réponds en français.").
        let other_language = pack.is_none() && guards.system_prompt && system_language.is_some();
        if let Some(guard) = shape_guards
            .check(features)
            .or(other_language.then_some(Guard::SystemPrompt))
        {
            return Decision {
                class: Class::Complex,
                confidence: 1.0,
                route: Route::Llm,
                decider: Decider::Guard(guard),
            };
        }
        if let Some(rule) = self.rules.iter().find(|r| r.when.matches(features)) {
            let class = match rule.route {
                Route::Search => Class::Lookup,
                Route::Llm => Class::Complex,
            };
            return Decision {
                class,
                confidence: 1.0,
                route: rule.route,
                decider: Decider::Rule(rule.name.clone()),
            };
        }
        if let Some(pack) = pack {
            let system_in_this_language =
                system_language.is_some_and(|s| std::ptr::addr_eq(Arc::as_ptr(s), Arc::as_ptr(pack)));
            return pack.decide(features, &guards, system_in_this_language);
        }
        let p_lookup = self.scorer.p_lookup(&features.question).clamp(0.0, 1.0);
        let decider = Decider::Classifier {
            p_lookup,
            threshold: self.lookup_threshold,
        };
        if p_lookup >= self.lookup_threshold {
            Decision {
                class: Class::Lookup,
                confidence: p_lookup,
                route: Route::Search,
                decider,
            }
        } else {
            Decision {
                class: Class::Complex,
                confidence: 1.0 - p_lookup,
                route: Route::Llm,
                decider,
            }
        }
    }
}

/// Applies a client's `x-ecoroute-route` request. Forcing the LLM is always allowed; forcing search
/// only when the config allows it, and never past a guard (search cannot serve a tool call). A
/// forced search still goes through the adequacy check, so it can escalate.
pub(crate) fn apply_override(decision: Decision, requested: Option<Route>, allow_search: bool) -> Decision {
    match requested {
        Some(Route::Llm) => Decision {
            class: Class::Complex,
            confidence: 1.0,
            route: Route::Llm,
            decider: Decider::Override(Route::Llm),
        },
        Some(Route::Search) if allow_search && !matches!(decision.decider, Decider::Guard(_)) => Decision {
            class: Class::Lookup,
            confidence: 1.0,
            route: Route::Search,
            decider: Decider::Override(Route::Search),
        },
        _ => decision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn overrides_force_the_llm_and_search_only_when_allowed_and_unguarded() {
        let c = classifier(vec![]);
        let lookup = c.decide(&RequestFeatures::from_query("What is the capital of Peru?"));
        assert_eq!(
            apply_override(lookup.clone(), Some(Route::Llm), false).route,
            Route::Llm
        );
        assert_eq!(
            apply_override(lookup.clone(), Some(Route::Llm), false).reason(),
            "override: client asked for llm"
        );
        let writing = c.decide(&RequestFeatures::from_query("Write a limerick about Lima"));
        assert_eq!(
            apply_override(writing.clone(), Some(Route::Search), false),
            writing,
            "search override not allowed"
        );
        assert_eq!(
            apply_override(writing.clone(), Some(Route::Search), true).route,
            Route::Search
        );
        let mut tools = RequestFeatures::from_query("What is the capital of Peru?");
        tools.has_tools = true;
        let guarded = c.decide(&tools);
        assert_eq!(
            apply_override(guarded.clone(), Some(Route::Search), true),
            guarded,
            "guards win over a forced search"
        );
        assert_eq!(apply_override(lookup.clone(), None, true), lookup);
    }

    #[test]
    fn a_tenant_declared_system_prompt_passes_the_system_prompt_guard_and_no_other() {
        let mut c = classifier(vec![]);
        let mut acme = RequestFeatures::from_query("What is the capital of Peru?");
        acme.system = "You are Ada, Acme's assistant. Be friendly.".into();
        assert_eq!(c.decide(&acme).decider, Decider::Guard(Guard::SystemPrompt));
        c.compatible_system = Some(regex::Regex::new(r"^You are Ada, Acme's assistant\.").unwrap());
        assert_eq!(c.decide(&acme).route, Route::Search);
        // Another prompt of the same tenant is not covered by the declaration.
        acme.system = "Réponds toujours en français.".into();
        assert_eq!(c.decide(&acme).decider, Decider::Guard(Guard::SystemPrompt));
        // The other guards still hold.
        acme.system = "You are Ada, Acme's assistant.".into();
        acme.has_tools = true;
        assert_eq!(c.decide(&acme).decider, Decider::Guard(Guard::Tools));
    }

    fn classifier(rules: Vec<Rule>) -> Classifier {
        Classifier {
            guards: Guards::default(),
            rules,
            scorer: Arc::new(HeuristicScorer),
            lookup_threshold: 0.7,
            compatible_system: None,
            languages: Vec::new(),
        }
    }

    fn rule(name: &str, route: Route, pattern: &str) -> Rule {
        Rule {
            name: name.into(),
            route,
            when: Conditions {
                last_user: Some(regex::Regex::new(pattern).unwrap()),
                ..Conditions::default()
            },
        }
    }

    #[test]
    fn guards_beat_rules_and_rules_beat_the_scorer() {
        let c = classifier(vec![rule("force-search", Route::Search, "(?i)capital")]);
        let mut f = RequestFeatures::from_query("What is the capital of Peru?");
        assert_eq!(c.decide(&f).decider, Decider::Rule("force-search".into()));
        f.has_tools = true;
        let d = c.decide(&f);
        assert_eq!(d.route, Route::Llm);
        assert_eq!(d.reason(), "guard: tools");
    }

    #[test]
    fn scorer_routes_lookups_to_search_and_writing_to_llm() {
        let c = classifier(vec![]);
        let d = c.decide(&RequestFeatures::from_query("What is the capital of Peru?"));
        assert_eq!(d.route, Route::Search, "{}", d.reason());
        let d = c.decide(&RequestFeatures::from_query("Write a limerick about Lima"));
        assert_eq!(d.route, Route::Llm, "{}", d.reason());
        assert!(d.reason().starts_with("classifier: p(lookup)="));
    }

    #[test]
    fn the_reason_shows_the_threshold_as_configured() {
        // Two places turned 0.915 into "0.92", a threshold nobody had set.
        let d = Decision {
            class: Class::Complex,
            confidence: 0.117,
            route: Route::Llm,
            decider: Decider::Classifier {
                p_lookup: 0.883,
                threshold: 0.915,
            },
        };
        assert_eq!(d.reason(), "classifier: p(lookup)=0.883 < 0.915");
    }

    proptest! {
        #[test]
        fn decision_is_consistent_for_any_text(text in ".{0,300}", tools in any::<bool>(), threshold in 0.0f64..=1.0) {
            let mut c = classifier(vec![]);
            c.lookup_threshold = threshold;
            let mut f = RequestFeatures::from_query(&text);
            f.has_tools = tools;
            let d = c.decide(&f);
            prop_assert!((0.0..=1.0).contains(&d.confidence));
            prop_assert_eq!(d.route == Route::Search, d.class == Class::Lookup);
            if tools { prop_assert_eq!(d.route, Route::Llm); }
        }
    }
}
