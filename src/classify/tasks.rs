//! What kind of task a request is, for smaller-model tiers: pure, microseconds, conservative.
//!
//! A smaller model is as good as a large one on short, well-bounded tasks (pull facts out of a
//! given text, sort a text into given labels, rewrite or translate a short text) and falls behind
//! on code, maths, multi-step reasoning and long creative writing. No preference or win-rate data
//! was available here to learn that boundary from, so it is a stated policy instead: a request
//! is one of the small tasks only when its instruction says so in words ("extract", "classify",
//! "translate", "rephrase", …), and anything that also looks like code, maths, reasoning or
//! long-form writing is [`TaskType::Other`]. When unsure, the request keeps the model the client
//! asked for.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::RequestFeatures;

/// A request's task, as far as model tiers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    /// A factual lookup the LLM answers (escalated, or search is off).
    Lookup,
    /// Pull named items or fields out of a given text.
    Extraction,
    /// Sort a given text into given labels (sentiment, topic, spam).
    Classification,
    /// Rewrite a short given text: grammar, tone, shorter, simpler.
    ShortRewrite,
    /// Translate a short given text.
    Translation,
    /// Anything else, code, maths, reasoning and long writing included: the requested model.
    Other,
}

impl TaskType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TaskType::Lookup => "lookup",
            TaskType::Extraction => "extraction",
            TaskType::Classification => "classification",
            TaskType::ShortRewrite => "short_rewrite",
            TaskType::Translation => "translation",
            TaskType::Other => "other",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<TaskType> {
        [
            TaskType::Lookup,
            TaskType::Extraction,
            TaskType::Classification,
            TaskType::ShortRewrite,
            TaskType::Translation,
            TaskType::Other,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

/// What keeps a request on the requested model, whatever else it says.
static HARD: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        ```|\b(def|fn|func|class|function|public\s+static|import|\#include|select\s+.+\s+from|console\.log)\b
        |\b(code|program|script|function|regex|sql|python|javascript|typescript|rust|java|c\+\+|bug|debug|compile|algorithm|api)\b
        |\b(prove|proof|derive|calculate|compute|solve|equation|integral|probability|how\s+many|step\s+by\s+step|reason|explain\s+why|why\s+does|why\s+is|compare|pros\s+and\s+cons|plan|strategy)\b
        |\d\s*[-+*/^=]\s*\d
        |\b(essay|story|poem|novel|blog\s+post|article|speech|cover\s+letter|report|song|lyrics|screenplay)\b",
    )
    .ok()
});

static EXTRACTION: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(please\s+)?(extract|pull\s+out|(list|find|identify)\s+(all\s+)?the\s+\w+\s+(mentioned|named)\s+in)\b").ok()
});

/// The text the task works on is in the request: after a colon or a line break, in quotes, or
/// named as "the following", "this" or "the given".
static GIVEN_TEXT: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"(?i):\s*\S|\n\s*\S|["“«]|\b(the\s+following|this|these|the\s+given|a\s+given)\b"#).ok()
});

static CLASSIFICATION: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(please\s+)?(classify|categori[sz]e|label|tag)\b|\b(is\s+(this|the\s+following)\s+(review|message|email|text|tweet|sentence)\s+(positive|negative|spam))\b|\bsentiment\s+of\b").ok()
});

static REWRITE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(please\s+)?(rephrase|reword|paraphrase|proofread|rewrite\s+(this|the\s+following)|fix\s+the\s+(grammar|spelling|typos)|correct\s+the\s+(grammar|spelling)|make\s+(this|it)\s+(more\s+)?(formal|polite|concise|shorter|simpler|friendlier))\b").ok()
});

static TRANSLATION: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(please\s+)?translate\b|\bhow\s+do\s+you\s+say\b.+\bin\s+(french|spanish|german|italian|portuguese|dutch|english)\b").ok()
});

/// The request's task. `lookup`: the classifier is sure enough it is a factual lookup to have
/// sent it to search ([`super::Decision::is_confident_lookup`]).
pub(crate) fn task_type(features: &RequestFeatures, lookup: bool) -> TaskType {
    let text = features.last_user.as_str();
    // One-shot requests on text alone: a conversation, tools or images need the requested model.
    if features.prior_turns > 0 || features.has_tools || features.has_media || text.trim().is_empty() {
        return TaskType::Other;
    }
    if lookup {
        return TaskType::Lookup;
    }
    // A pattern that failed to compile keeps the requested model (the tests compile them all).
    if HARD.as_ref().is_none_or(|hard| hard.is_match(text)) {
        return TaskType::Other;
    }
    // Small tasks work on a text the request gives; "categorize coral reef habitats" is not one.
    if !GIVEN_TEXT.as_ref().is_some_and(|given| given.is_match(text)) {
        return TaskType::Other;
    }
    for (pattern, task) in [
        (&*TRANSLATION, TaskType::Translation),
        (&*EXTRACTION, TaskType::Extraction),
        (&*CLASSIFICATION, TaskType::Classification),
        (&*REWRITE, TaskType::ShortRewrite),
    ] {
        if pattern.as_ref().is_some_and(|p| p.is_match(text)) {
            return task;
        }
    }
    TaskType::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(text: &str) -> TaskType {
        task_type(&RequestFeatures::from_query(text), false)
    }

    #[test]
    fn the_patterns_compile() {
        for pattern in [
            &*HARD,
            &*EXTRACTION,
            &*CLASSIFICATION,
            &*REWRITE,
            &*TRANSLATION,
            &*GIVEN_TEXT,
        ] {
            assert!(pattern.is_some());
        }
    }

    #[test]
    fn small_tasks_are_told_by_their_instruction() {
        assert_eq!(
            task("Translate to French: the meeting is moved to Tuesday."),
            TaskType::Translation
        );
        assert_eq!(
            task("Extract the dates mentioned in: we met on May 3 and again on June 9."),
            TaskType::Extraction
        );
        assert_eq!(
            task("Classify this review as positive or negative: great phone, poor battery."),
            TaskType::Classification
        );
        assert_eq!(task("Is this email spam? WIN A FREE CRUISE"), TaskType::Classification);
        assert_eq!(
            task("What do you make of this email? WIN A FREE CRUISE"),
            TaskType::Other,
            "no instruction: unsure"
        );
        assert_eq!(
            task("Rephrase this to be more polite: send me the file now."),
            TaskType::ShortRewrite
        );
        assert_eq!(
            task("Fix the grammar: me and him goes to school."),
            TaskType::ShortRewrite
        );
    }

    #[test]
    fn code_maths_reasoning_and_long_writing_keep_the_requested_model() {
        for text in [
            "Translate this Python function to Rust: def add(a, b): return a + b",
            "Extract the SQL query from this log and explain why it is slow",
            "Rewrite this essay to be more formal",
            "Classify these numbers: 12 + 7 = 19",
            "Write a poem about autumn",
            "Explain why the sky is blue",
            "Solve for x: 3x + 2 = 11",
            "Rephrase the following step by step proof",
            "Categorize different coral reef habitats",
            "Identify the countries in South Asia and the name of their anthems",
        ] {
            assert_eq!(task(text), TaskType::Other, "{text}");
        }
        let mut follow_up = RequestFeatures::from_query("Translate it to German");
        follow_up.prior_turns = 2;
        assert_eq!(
            task_type(&follow_up, false),
            TaskType::Other,
            "a follow-up needs the conversation"
        );
        assert_eq!(
            task_type(&RequestFeatures::from_query("Who wrote Hamlet?"), true),
            TaskType::Lookup
        );
    }
}
