//! The lookup-vs-complex scorer behind the [`Scorer`] trait. [`HeuristicScorer`] is the v1 model: a
//! handful of hand-weighted, readable features summed into a logit. It is deliberately cautious
//! (a plain question must look like one to pass), and is replaced by a trained model without the
//! interface changing.

use super::text::words;

/// A scorer's verdict: the probability that the text is a simple factual lookup, and the features
/// that moved it most (name, contribution to the logit), for `explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub p_lookup: f64,
    pub contributions: Vec<(String, f64)>,
}

/// A scorer shows as its name: the weights are data, not configuration to print.
impl std::fmt::Debug for dyn Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub trait Scorer: Send + Sync {
    /// A short identifier for reports and `explain`, e.g. `heuristic-v1`.
    fn name(&self) -> &str;
    /// The probability with the features behind it, for `explain`: names are formatted and ranked,
    /// which costs more than the scoring itself. `question` is already out of its chat frame
    /// ([`super::text::core_question`], [`super::RequestFeatures::question`]).
    fn score(&self, question: &str) -> Score;
    /// The probability alone, as every request needs it. Must equal `score(text).p_lookup`; a
    /// scorer overrides it to skip building the explanation.
    fn p_lookup(&self, text: &str) -> f64 {
        self.score(text).p_lookup
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HeuristicScorer;

const WH_START: &[&str] = &[
    "what", "whats", "who", "whos", "whom", "whose", "when", "where", "which", "name",
];
const HOW_LOOKUP: &[&str] = &[
    "many", "much", "tall", "old", "far", "long", "big", "large", "deep", "high", "heavy",
];
const IMPERATIVES: &[&str] = &[
    "write",
    "create",
    "generate",
    "compose",
    "draft",
    "explain",
    "describe",
    "summarize",
    "summarise",
    "translate",
    "list",
    "compare",
    "analyze",
    "analyse",
    "help",
    "fix",
    "debug",
    "implement",
    "design",
    "plan",
    "suggest",
    "recommend",
    "give",
    "make",
    "rewrite",
    "edit",
    "convert",
    "calculate",
    "compute",
    "solve",
    "prove",
    "classify",
    "evaluate",
    "find",
    "brainstorm",
    "outline",
    "imagine",
    "pretend",
    "act",
    "rank",
    "sort",
    "identify",
    "construct",
    "develop",
    "build",
    "provide",
    "categorize",
    "predict",
    "estimate",
    "improve",
    "paraphrase",
];
const YES_NO: &[&str] = &[
    "is", "are", "was", "were", "do", "does", "did", "can", "could", "would", "will", "should", "has", "have", "had",
    "might", "may",
];
const REASONING: &[&str] = &[
    "why",
    "should",
    "would",
    "could",
    "explain",
    "difference between",
    "compare",
    "versus",
    " vs",
    "better",
    "pros and cons",
    "opinion",
    "think",
    "best way",
    "how do i",
    "how to",
    "how can",
    "how should",
    "how does",
    "how would",
    "steps",
    "advice",
    "help me",
    "if ",
    "assume",
    "suppose",
];
const AGGREGATION: &[&str] = &[
    "combined",
    "total",
    "average",
    "both",
    "older than",
    "younger than",
    "more than",
    "less than",
    "sum of",
    "ratio",
    "ranked",
    "all of the",
    "each of",
    "respectively",
    "in common",
    "before or after",
    "how many of",
];
const CODE: &[&str] = &[
    "```", "def ", "function", "};", "=>", "();", "import ", "#include", "select ", "console.", "print(", "</",
];

fn add(contributions: &mut Vec<(String, f64)>, name: &str, weight: f64) {
    contributions.push((name.to_string(), weight));
}

impl Scorer for HeuristicScorer {
    fn name(&self) -> &str {
        "heuristic-v1"
    }

    fn score(&self, text: &str) -> Score {
        let lower = text.to_lowercase();
        let tokens: Vec<String> = words(&lower).collect();
        let mut c = Vec::new();
        add(&mut c, "bias", -0.5);
        let first = tokens.first().map(String::as_str).unwrap_or("");
        let second = tokens.get(1).map(String::as_str).unwrap_or("");
        if WH_START.contains(&first) || (first == "how" && HOW_LOOKUP.contains(&second)) {
            add(&mut c, "starts with a question word", 2.0);
        } else if tokens
            .iter()
            .take(12)
            .any(|w| matches!(w.as_str(), "what" | "who" | "when" | "where" | "which"))
        {
            add(&mut c, "has a question word", 1.0);
        }
        if first == "define" || lower.contains("meaning of") || lower.contains("definition of") {
            add(&mut c, "asks for a definition", 2.0);
        }
        if IMPERATIVES.contains(&first)
            || (matches!(first, "please" | "can" | "could")
                && tokens.iter().take(4).any(|w| IMPERATIVES.contains(&w.as_str())))
        {
            add(&mut c, "imperative request", -3.0);
        }
        if YES_NO.contains(&first) {
            add(&mut c, "yes/no question", -1.5);
        }
        match tokens.len() {
            0..=12 => add(&mut c, "short", 0.8),
            13..=25 => {}
            26..=50 => add(&mut c, "long", -1.5),
            _ => add(&mut c, "very long", -3.0),
        }
        if CODE.iter().any(|m| lower.contains(m)) {
            add(&mut c, "code", -3.0);
        }
        if has_arithmetic(&lower) {
            add(&mut c, "arithmetic", -2.5);
        }
        if REASONING.iter().any(|m| lower.contains(m)) {
            add(&mut c, "reasoning cue", -2.0);
        }
        if AGGREGATION.iter().any(|m| lower.contains(m)) {
            add(&mut c, "aggregation cue", -1.5);
        }
        let sentence_marks = text
            .trim_end()
            .chars()
            .rev()
            .skip(1)
            .filter(|c| matches!(c, '?' | '.' | '!' | '\n'))
            .count();
        if sentence_marks > 0 {
            add(&mut c, "several sentences", -1.0);
        }
        let logit: f64 = c.iter().map(|(_, w)| w).sum();
        c.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        Score {
            p_lookup: 1.0 / (1.0 + (-logit).exp()),
            contributions: c,
        }
    }
}

/// Digits joined by an arithmetic operator ("12 * 7", "3+4=?"), or "x =" style equations.
fn has_arithmetic(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(3).any(|w| {
        (w[0].is_ascii_digit()
            && matches!(w[1], b'+' | b'*' | b'/' | b'^' | b'=')
            && (w[2].is_ascii_digit() || w[2] == b' '))
            || (w[0] == b' ' && matches!(w[1], b'+' | b'*' | b'/' | b'^' | b'=' | b'-') && w[2] == b' ')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(text: &str) -> f64 {
        HeuristicScorer.score(text).p_lookup
    }

    #[test]
    fn plain_questions_look_like_lookups() {
        for q in [
            "What is the capital of Peru?",
            "who wrote hamlet",
            "When was oxygen discovered?",
            "define photosynthesis",
            "how tall is mount everest",
        ] {
            assert!(p(q) >= 0.7, "{q}: {}", p(q));
        }
    }

    #[test]
    fn writing_code_maths_and_reasoning_do_not() {
        for q in [
            "Write a limerick about Lima",
            "Explain how TCP congestion control works",
            "def add(a, b): return a + b  -- why does this fail?",
            "What is 12 * 7 + 3?",
            "Could a llama give birth twice during the Vietnam War?",
            "Compare the economies of Peru and Chile and tell me which grew faster",
        ] {
            assert!(p(q) < 0.7, "{q}: {}", p(q));
        }
    }

    #[test]
    fn explanation_lists_the_features_that_fired() {
        let s = HeuristicScorer.score("Write a poem");
        assert!(s
            .contributions
            .iter()
            .any(|(name, w)| name == "imperative request" && *w < 0.0));
    }

    proptest! {
        #[test]
        fn probability_is_always_in_range(text in "\\PC{0,400}") {
            let s = HeuristicScorer.score(&text);
            prop_assert!(s.p_lookup > 0.0 && s.p_lookup < 1.0);
        }
    }
}
