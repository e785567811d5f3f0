//! The adequacy check and answer extraction, pure. Given the question and the backend's hits, either
//! pick the one sentence that answers it (with its source), or refuse so the request escalates to
//! the LLM. It is built to refuse: a wrong answer from search is worse than an LLM call.
//!
//! Confidence of a hit = 0.7 × coverage + 0.3 × entity match, where
//! - coverage is the share of the question's content words (stemmed) found in the hit, and
//! - entity match says the hit's subject (its title) is named in the question.
//!
//! The best hit is then refused when its confidence is under the threshold, when another subject
//! scores as well (ambiguous: "population of Lima" could be Peru or Ohio), or when the answer has
//! the wrong type for the question (a "how many" with no number, a "when" with no year).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use super::Hit;
use crate::classify::text::{is_stopword, stem, words};

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The sentence that answers the question, as it stands in the source.
    pub sentence: String,
    pub title: String,
    pub source: String,
    pub url: String,
    pub doc_id: String,
    pub confidence: f64,
}

impl Answer {
    /// Where the answer comes from, for the ledger: the source URL, else the document id.
    pub fn source_ref(&self) -> String {
        if self.url.is_empty() {
            self.doc_id.clone()
        } else {
            self.url.clone()
        }
    }

    /// The assistant message: the answer, then where it comes from.
    pub fn to_message(&self) -> String {
        format!(
            "{}\n\nSource: {} ({}), {}",
            self.sentence, self.title, self.source, self.url
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    NoContentWords,
    NoHits,
    LowConfidence { confidence: f64, threshold: f64 },
    Ambiguous { confidence: f64, other: String },
    WrongAnswerType { expected: AnswerType },
}

impl Refusal {
    /// Why the request escalated, for `x-ecoroute-reason` and the ledger.
    pub fn reason(&self) -> String {
        match self {
            Refusal::NoContentWords => "escalated: nothing to search for".into(),
            Refusal::NoHits => "escalated: no search results".into(),
            Refusal::LowConfidence { confidence, threshold } => {
                format!("escalated: low search confidence ({confidence:.2} < {threshold:.2})")
            }
            Refusal::Ambiguous { other, .. } => {
                format!("escalated: ambiguous search answer (also {other})")
            }
            Refusal::WrongAnswerType { expected } => {
                format!("escalated: search answer is not a {}", expected.as_str())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerType {
    Any,
    Number,
    Year,
}

impl AnswerType {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerType::Any => "fact",
            AnswerType::Number => "number",
            AnswerType::Year => "date",
        }
    }

    /// What kind of answer the question wants, from its wording.
    pub fn of_question(question: &str) -> AnswerType {
        let q = question.to_lowercase();
        if q.starts_with("when") || q.contains("what year") || q.contains("which year") || q.contains("in what year") {
            AnswerType::Year
        } else if q.contains("how many")
            || q.contains("how much")
            || q.contains("population")
            || q.contains("how big")
            || q.contains("how large")
            || q.contains("atomic number")
            || q.contains("atomic weight")
        {
            AnswerType::Number
        } else {
            AnswerType::Any
        }
    }

    fn fits(self, sentence: &str) -> bool {
        match self {
            AnswerType::Any => true,
            AnswerType::Number => sentence.chars().any(|c| c.is_ascii_digit()),
            AnswerType::Year => sentence
                .split(|c: char| !c.is_ascii_digit())
                .any(|run| (3..=4).contains(&run.len())),
        }
    }
}

/// Common phrasings of a lookup, rewritten to the words the facts use ("how many people live in
/// France" → "population of France"), so that retrieval and the adequacy check see the same thing.
static REWRITES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"(?i)\bhow many (people|inhabitants|residents|persons|citizens)( (live|lives|living|reside|are there|are living))?( in)?\b", "population of"),
        (r"(?i)\bwhat is the (size|surface area|land area) of\b", "area of"),
        (r"(?i)\bhow (big|large) is\b", "area of"),
        (r"(?i)\bcapital city\b", "capital"),
        (r"(?i)\bwhat (currency|money) (is used|do they use|is spent)( in)?\b", "currency of"),
        (r"(?i)\bwho (found|first isolated|first discovered|isolated)\b", "who discovered"),
    ]
    .into_iter()
    .filter_map(|(pattern, replacement)| Regex::new(pattern).ok().map(|re| (re, replacement)))
    .collect()
});

pub fn normalize_question(question: &str) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(question);
    for (re, replacement) in REWRITES.iter() {
        if re.is_match(&text) {
            text = Cow::Owned(re.replace_all(&text, *replacement).into_owned());
        }
    }
    text
}

/// The stemmed content words of a text: what a lookup is about.
pub fn content_terms(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    words(text)
        .filter(|w| !is_stopword(w))
        .map(|w| stem(&w).to_string())
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

fn term_set(text: &str) -> HashSet<String> {
    words(text).map(|w| stem(&w).to_string()).collect()
}

/// The subject of a hit: its title up to a comma or parenthesis ("Lima, Peru" → "Lima").
pub fn entity(title: &str) -> &str {
    title.split([',', '(']).next().unwrap_or(title).trim()
}

/// A second subject is a real rival only if the backend ranked it comparably: "Compiler-Compiler"
/// far below "compiler" does not make "what is a compiler" ambiguous.
const RIVAL_MIN_SCORE_RATIO: f32 = 0.5;

struct Scored<'a> {
    hit: &'a Hit,
    confidence: f64,
}

fn score_hit<'a>(question_terms: &[String], hit: &'a Hit) -> Scored<'a> {
    let doc_terms = term_set(&format!("{} {}", hit.title, hit.text));
    let covered = question_terms.iter().filter(|t| doc_terms.contains(*t)).count();
    let coverage = covered as f64 / question_terms.len() as f64;
    let entity_terms = term_set(entity(&hit.title));
    let named = !entity_terms.is_empty() && entity_terms.iter().all(|t| question_terms.contains(t));
    Scored {
        hit,
        confidence: 0.7 * coverage + if named { 0.3 } else { 0.0 },
    }
}

/// Splits a short document into sentences (". ", "? ", "! " and "; " between definitions).
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for i in 0..bytes.len().saturating_sub(1) {
        if matches!(bytes[i], b'.' | b'?' | b'!') && bytes[i + 1] == b' ' {
            // "St. Louis", "e.g. x": a period after a short lowercase-free token is not a sentence end.
            let before = &text[start..i];
            let last_word = before.rsplit(' ').next().unwrap_or("");
            if last_word.len() <= 2 || last_word.contains('.') {
                continue;
            }
            out.push(text[start..=i].trim());
            start = i + 2;
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// The sentence of the hit that shares most content words with the question, the words naming the
/// hit's own subject aside (every sentence of "Hydrogen" is about hydrogen; the one that says
/// "discovered" answers "who discovered hydrogen"). The first sentence wins ties.
fn best_sentence<'a>(question_terms: &[String], hit: &'a Hit) -> &'a str {
    let subject = term_set(entity(&hit.title));
    let focus: Vec<&String> = question_terms.iter().filter(|t| !subject.contains(*t)).collect();
    let mut best = ("", 0usize);
    for sentence in sentences(&hit.text) {
        let terms = term_set(sentence);
        let overlap = focus.iter().filter(|t| terms.contains(**t)).count();
        if best.0.is_empty() || overlap > best.1 {
            best = (sentence, overlap);
        }
    }
    best.0
}

/// Decides whether the hits answer the question, and if so with which sentence.
pub fn answer(question: &str, hits: &[Hit], min_confidence: f64) -> Result<Answer, Refusal> {
    let terms = content_terms(&normalize_question(question));
    if terms.is_empty() {
        return Err(Refusal::NoContentWords);
    }
    let mut scored: Vec<Scored<'_>> = hits.iter().map(|h| score_hit(&terms, h)).collect();
    // Stable sort: among equal confidences, the backend's ranking decides.
    scored.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let Some(best) = scored.first() else {
        return Err(Refusal::NoHits);
    };
    if best.confidence < min_confidence {
        return Err(Refusal::LowConfidence {
            confidence: best.confidence,
            threshold: min_confidence,
        });
    }
    // Titles name subjects in full ("Lima, Peru" vs "Lima, United States"), so compare them whole.
    let best_title = best.hit.title.to_lowercase();
    if let Some(rival) = scored[1..].iter().find(|s| {
        s.confidence >= best.confidence - 0.05
            && s.hit.score >= best.hit.score * RIVAL_MIN_SCORE_RATIO
            && s.hit.title.to_lowercase() != best_title
    }) {
        // Two different subjects answer equally well; but an identical answer sentence is no conflict.
        if best_sentence(&terms, rival.hit) != best_sentence(&terms, best.hit) {
            return Err(Refusal::Ambiguous {
                confidence: best.confidence,
                other: rival.hit.title.clone(),
            });
        }
    }
    let sentence = best_sentence(&terms, best.hit);
    let expected = AnswerType::of_question(question);
    if !expected.fits(sentence) {
        return Err(Refusal::WrongAnswerType { expected });
    }
    Ok(Answer {
        sentence: sentence.to_string(),
        title: best.hit.title.clone(),
        source: best.hit.source.clone(),
        url: best.hit.url.clone(),
        doc_id: best.hit.id.clone(),
        confidence: best.confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hit(id: &str, title: &str, text: &str) -> Hit {
        Hit {
            id: id.into(),
            title: title.into(),
            text: text.into(),
            source: "GeoNames".into(),
            url: format!("https://example.org/{id}"),
            score: 1.0,
        }
    }

    fn peru() -> Vec<Hit> {
        vec![
            hit(
                "wn/lima",
                "Lima",
                "Lima (noun): capital and largest city and economic center of Peru.",
            ),
            hit("country/PE/capital", "Peru", "The capital of Peru is Lima."),
            hit(
                "country/PE/population",
                "Peru",
                "The population of Peru is 29,907,003 people.",
            ),
        ]
    }

    #[test]
    fn answers_the_capital_of_peru_with_its_source() {
        let a = answer("What is the capital of Peru?", &peru(), 0.8).unwrap();
        assert_eq!(a.sentence, "The capital of Peru is Lima.");
        assert_eq!(a.doc_id, "country/PE/capital");
        assert!(a
            .to_message()
            .contains("Source: Peru (GeoNames), https://example.org/country/PE/capital"));
    }

    #[test]
    fn refuses_when_the_question_is_not_covered() {
        let hits = vec![hit(
            "wn/hamlet",
            "hamlet",
            "hamlet (noun): a community of people smaller than a village.",
        )];
        match answer("who wrote hamlet", &hits, 0.8) {
            Err(Refusal::LowConfidence { confidence, .. }) => assert!(confidence < 0.8),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_ambiguous_subjects() {
        let hits = vec![
            hit(
                "city/1",
                "Lima, Peru",
                "Lima is a city in Peru with a population of 7,737,002 people.",
            ),
            hit(
                "city/2",
                "Lima, United States",
                "Lima is a city in United States with a population of 38,355 people.",
            ),
        ];
        assert!(matches!(
            answer("population of Lima", &hits, 0.8),
            Err(Refusal::Ambiguous { .. })
        ));
    }

    #[test]
    fn a_far_weaker_rival_is_no_ambiguity() {
        let mut weak = hit(
            "foldoc/cc",
            "Compiler-Compiler",
            "Compiler-Compiler: generates a compiler.",
        );
        weak.score = 0.2;
        let hits = vec![
            hit(
                "wn/compiler",
                "compiler",
                "compiler (noun): a program that translates source code.",
            ),
            weak,
        ];
        assert_eq!(answer("What is a compiler?", &hits, 0.8).unwrap().doc_id, "wn/compiler");
    }

    #[test]
    fn refuses_answers_of_the_wrong_type() {
        let hits = vec![hit("el/8", "Oxygen (O)", "Oxygen is a colourless gas.")];
        assert_eq!(
            answer("When was oxygen discovered?", &hits, 0.5),
            Err(Refusal::WrongAnswerType {
                expected: AnswerType::Year
            })
        );
    }

    #[test]
    fn picks_the_sentence_that_answers() {
        let hits = vec![hit("el/1", "Hydrogen (H)", "Hydrogen: Colourless, odourless gaseous chemical element. Lightest and most abundant element in the universe. Discovered by Henry Cavendish in 1776.")];
        let a = answer("Who discovered hydrogen?", &hits, 0.8).unwrap();
        assert_eq!(a.sentence, "Discovered by Henry Cavendish in 1776.");
    }

    #[test]
    fn no_hits_and_no_content_words_refuse() {
        assert_eq!(answer("what is the capital of Peru", &[], 0.8), Err(Refusal::NoHits));
        assert_eq!(answer("what is it?", &peru(), 0.8), Err(Refusal::NoContentWords));
    }

    #[test]
    fn rewrites_compile_and_apply() {
        assert_eq!(REWRITES.len(), 6, "every rewrite pattern compiles");
        assert_eq!(
            normalize_question("How many people live in France?"),
            "population of France?"
        );
        assert_eq!(
            normalize_question("What is the capital city of Peru"),
            "What is the capital of Peru"
        );
        assert!(matches!(normalize_question("Who wrote Hamlet?"), Cow::Borrowed(_)));
    }

    proptest! {
        #[test]
        fn an_answer_always_meets_the_threshold(question in "\\PC{0,80}", threshold in 0.0f64..=1.0) {
            if let Ok(a) = answer(&question, &peru(), threshold) {
                prop_assert!(a.confidence >= threshold);
                prop_assert!(!a.sentence.is_empty());
            }
        }
    }
}
