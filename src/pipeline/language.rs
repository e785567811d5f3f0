//! The language a request is answered in, chosen once per request by [`Pipeline::language`]:
//! English, or a language pack with its own search index. Every step that depends on it (the
//! question out of its frame, the index, the adequacy check, the answer's words) asks this value,
//! so `serve`, `replay`, `eval` and `/admin/explain` cannot pick differently.

use std::borrow::Cow;

use super::{LanguageStack, Pipeline};
use crate::classify::{Decider, Decision, RequestFeatures};
use crate::search::answer::{self, Adequacy, Answer, Refusal};
use crate::search::Hit;

#[derive(Clone, Copy)]
pub(crate) enum Language<'a> {
    English,
    /// A language pack and the search stack over its own index.
    Pack(&'a LanguageStack),
}

impl<'a> Language<'a> {
    /// `en`, or the pack's code.
    pub(crate) fn code(&self) -> &'a str {
        match self {
            Language::English => "en",
            Language::Pack(l) => &l.pack.code,
        }
    }

    /// The search stack over this language's index (`None`: the main one).
    pub(crate) fn stack(&self) -> Option<&'a LanguageStack> {
        match self {
            Language::English => None,
            Language::Pack(l) => Some(l),
        }
    }

    /// The question out of its chat frame, as this language's search reads it.
    pub(crate) fn question<'f>(&self, features: &'f RequestFeatures) -> Cow<'f, str> {
        match self {
            Language::English => crate::classify::text::requested_question(&features.question),
            Language::Pack(l) => Cow::Owned(l.pack.core_question(&features.last_user)),
        }
    }

    /// The adequacy check, in this language's words.
    pub(crate) fn answer(&self, question: &str, hits: &[Hit], adequacy: &Adequacy) -> Result<Answer, Refusal> {
        match self {
            Language::English => answer::answer(question, hits, adequacy),
            Language::Pack(l) => l.pack.answer(question, hits, adequacy),
        }
    }

    /// The answer as the message the client gets.
    pub(crate) fn message(&self, answer: &Answer) -> String {
        match self {
            Language::English => answer.to_message(),
            Language::Pack(l) => l.pack.message(answer),
        }
    }
}

impl Pipeline {
    /// The language a routed request is answered in: a pack's when that pack decided it (a
    /// question in a language search has a corpus for), else English. The one place it is chosen.
    pub(crate) fn language(&self, decision: &Decision) -> Language<'_> {
        match &decision.decider {
            Decider::Language { code, .. } => self
                .languages
                .iter()
                .find(|l| &l.pack.code == code)
                .map_or(Language::English, Language::Pack),
            _ => Language::English,
        }
    }

    /// The language a message is written in, when it is not English and a pack has it: for a
    /// question searched without a decision (`eval`'s search step alone, `ecoroute search`).
    pub(crate) fn language_of(&self, message: &str) -> Language<'_> {
        crate::lang::language_among(&self.languages, |l| &l.pack, message).map_or(Language::English, Language::Pack)
    }
}
