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

use super::question::{self, mentions, same_term, term};
use super::Hit;
use crate::classify::text::{is_stopword, words};

/// How far the adequacy check trusts a backend's ranking.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Adequacy {
    /// The best hit's confidence must reach this.
    pub min_confidence: f64,
    /// A different subject whose backend score is at least this share of the best one's (after
    /// normalising scores to the best) and whose confidence is within `rival_margin` makes the
    /// answer ambiguous.
    pub rival_score_ratio: f64,
    pub rival_margin: f64,
}

impl Default for Adequacy {
    fn default() -> Self {
        Adequacy {
            min_confidence: 0.8,
            rival_score_ratio: 0.5,
            rival_margin: 0.05,
        }
    }
}

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
    LowConfidence {
        confidence: f64,
        threshold: f64,
    },
    Ambiguous {
        confidence: f64,
        other: String,
    },
    WrongAnswerType {
        expected: AnswerType,
    },
    /// The answer sentence does not speak to a word of the question.
    Unsupported {
        missing: String,
    },
    /// The question asks what someone did or does with something ("what did they use to build
    /// it", "what do you use a cleaver for"), or about people it calls "they" or "he": a document
    /// on the subject rarely says that, and its definition is no answer.
    NotAFact {
        why: &'static str,
    },
    /// The question asks about now ("these days", "this year", "current"); the sources carry no
    /// date that says they are recent enough, and a stale answer is a wrong one.
    TimeSensitive {
        cue: String,
    },
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
            Refusal::Unsupported { missing } => {
                format!("escalated: search answer does not mention `{missing}`")
            }
            Refusal::NotAFact { why } => format!("escalated: search answers facts, not {why}"),
            Refusal::TimeSensitive { cue } => {
                format!("escalated: the question asks about the present (`{cue}`) and search has no dated source")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerType {
    Any,
    Number,
    Year,
    Person,
    Place,
}

/// Words that say a text is about a person: roles, trades, titles, and the verbs of a life.
static PERSON_CUES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    [
        "he",
        "she",
        "his",
        "her",
        "him",
        "born",
        "died",
        "person",
        "man",
        "woman",
        "author",
        "writer",
        "poet",
        "dramatist",
        "playwright",
        "novelist",
        "painter",
        "artist",
        "sculptor",
        "composer",
        "musician",
        "singer",
        "actor",
        "actress",
        "director",
        "scientist",
        "physicist",
        "chemist",
        "biologist",
        "mathematician",
        "astronomer",
        "philosopher",
        "economist",
        "engineer",
        "inventor",
        "explorer",
        "discoverer",
        "king",
        "queen",
        "emperor",
        "empress",
        "president",
        "minister",
        "prime",
        "chancellor",
        "general",
        "leader",
        "statesman",
        "politician",
        "founder",
        "pope",
        "saint",
        "prophet",
        "ruler",
        "pharaoh",
        "prince",
        "princess",
        "lord",
        "sir",
        "dr",
        "ceo",
        "chairman",
    ]
    .into_iter()
    .collect()
});

static PLACE_CUES: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    [
        "in",
        "at",
        "near",
        "located",
        "city",
        "town",
        "country",
        "state",
        "province",
        "region",
        "capital",
        "island",
        "continent",
        "north",
        "south",
        "east",
        "west",
        "river",
        "mountain",
        "coast",
        "border",
        "borders",
        "county",
        "district",
        "village",
        "ocean",
        "sea",
        "lake",
    ]
    .into_iter()
    .collect()
});

/// Years in parentheses, as after a name: "(1756-1791)".
static LIFE_YEARS: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\(\s*(?:c\. |born )?\d{3,4}\s*(?:BC\s*)?[–-]\s*\d{0,4}\s*(?:BC|AD)?\s*\)").ok());

/// The sentence with what the patterns match taken out.
fn without(sentence: &str, patterns: &[&LazyLock<Option<Regex>>]) -> String {
    patterns
        .iter()
        .filter_map(|p| p.as_ref())
        .fold(sentence.to_string(), |text, re| re.replace_all(&text, "").into_owned())
}

/// A share ("25.3%"), which is no count.
static PERCENT: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\d+(?:[.,]\d+)?\s*%").ok());

/// A year as a date ("in 1270", "since 1991"), which answers "when", not "how many".
static DATED: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)\b(?:in|since|until|from|by|born in|died in)\s+\d{3,4}\b").ok());

/// Words that end the names of things, not people: "World War", "World Cup", "Pacific Ocean".
const THING_HEADS: &[&str] = &[
    "war",
    "cup",
    "ocean",
    "sea",
    "river",
    "mountains",
    "empire",
    "kingdom",
    "republic",
    "university",
    "company",
    "party",
    "church",
    "award",
    "prize",
    "games",
    "league",
    "championship",
    "revolution",
    "treaty",
    "act",
    "states",
    "union",
    "island",
    "islands",
    "city",
    "county",
    "province",
    "lake",
    "bay",
    "street",
    "station",
    "airport",
    "museum",
    "bridge",
    "tower",
    "hall",
    "park",
    "school",
    "college",
    "institute",
    "society",
    "council",
    "army",
    "navy",
    "corporation",
    "records",
    "times",
    "day",
    "series",
    "tournament",
    "festival",
    "age",
    "era",
    "dynasty",
];

/// A name that reads as a person's: two or more capitalised words whose last is not the head of a
/// thing's name ("World War II", "Pacific Ocean").
/// Names made only of the question's own words ("Sri Lanka" for "who fought in the Sri Lankan
/// civil war") are no answer and do not count.
fn has_person_name(sentence: &str, asked: &[String]) -> bool {
    let Some(re) = NAME.as_ref() else {
        return false;
    };
    let text = format!(". {sentence}");
    re.find_iter(&text).any(|m| {
        // The match starts with the character before the name.
        let name: Vec<&str> = m.as_str().split_whitespace().skip(1).collect();
        let last = name.last().copied().unwrap_or("").to_lowercase();
        let new = name
            .iter()
            .flat_map(|part| words(part).collect::<Vec<_>>())
            .any(|w| !asked.iter().any(|t| same_term(t, &term(&w))));
        !THING_HEADS.contains(&last.as_str()) && new
    })
}

/// The answer type check with what the question says: a "when" not about a birth or a death is
/// not answered by the years of a life, and a "who" by a name that only repeats the question.
fn fits_question(asked: &Asked, sentence: &str) -> bool {
    match asked.expected {
        AnswerType::Year if !asked.terms.iter().any(|t| t == "born" || t == "die") => {
            AnswerType::Year.fits(&without(sentence, &[&LIFE_YEARS, &LIFE_EVENTS, &YEAR_OF_ANOTHER]))
        }
        AnswerType::Person => {
            has_person_name(sentence, &asked.terms) || words(sentence).any(|w| PERSON_CUES.contains(w.as_str()))
        }
        other => other.fits(sentence),
    }
}

/// "the 2011 Fukushima accident", "the 2026 World Cup": a year naming another event, which does
/// not say when the one asked about happened.
static YEAR_OF_ANOTHER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\bthe \d{4} [A-Z]").ok());

/// What a "who made it" question names: "who wrote and can it be that i should gain" → "and can it
/// be that i should gain"; "who invented the telephone" → "telephone".
fn work_asked_about(question: &str) -> Option<String> {
    static WORK: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\bwho (?:first )?(?:wrote|painted|composed|invented|discovered|founded|directed|sang|built|designed|sculpted|developed|created)\s+(?:(?:the|a|an) )?(?:\d{4} )?(?:(?:song|book|novel|poem|play|film|movie|opera|symphony|painting|hymn|story|lyrics|music|words)(?: to| of| for)?,? )?(?:(?:the|a|an) )?(.+?)[\s?.!]*$").ok()
    });
    // Quotes around a title ("the 1942 film, ‘Casablanca’") are not part of it.
    let question = question.replace(['‘', '’', '“', '”', '"', '\''], "");
    let phrase = WORK.as_ref()?.captures(&question)?.get(1)?.as_str().trim().to_string();
    (!phrase.is_empty()).then_some(phrase)
}

/// Whether `text` says `phrase` word for word (case, accents and punctuation aside).
fn phrase_in(text: &str, phrase: &str) -> bool {
    let flat = |s: &str| format!(" {} ", words(&question::fold(s)).collect::<Vec<_>>().join(" "));
    flat(text).contains(&flat(phrase))
}

/// "born in 1918", "died in 2013": the dates of a life.
static LIFE_EVENTS: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)\b(?:born|died)(?: in)? \d{3,4}\b").ok());

/// Two or more capitalised words in a row, not at the start of the sentence: a name.
static NAME: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"[^.!?]\s(?:[A-Z][a-z'’-]+|[A-Z]\.)(?:\s+(?:[A-Z][a-z'’-]+|[A-Z]\.|de|van|von|da|del|la|le))*\s+[A-Z][a-z'’-]+").ok()
});

impl AnswerType {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerType::Any => "fact",
            AnswerType::Number => "number",
            AnswerType::Year => "date",
            AnswerType::Person => "person",
            AnswerType::Place => "place",
        }
    }

    /// What kind of answer the question wants, from its wording.
    pub fn of_question(question: &str) -> AnswerType {
        let q = question.trim_start().to_lowercase();
        let starts = |w: &str| q.starts_with(w) && q[w.len()..].starts_with([' ', '\'', '’']);
        if starts("when") || q.contains("what year") || q.contains("which year") || q.contains("in what year") {
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
        } else if starts("who") || starts("whom") || q.starts_with("who's") {
            AnswerType::Person
        } else if starts("where") {
            AnswerType::Place
        } else {
            AnswerType::Any
        }
    }

    fn fits(self, sentence: &str) -> bool {
        let cues = |set: &HashSet<&str>| crate::classify::text::words(sentence).any(|w| set.contains(w.as_str()));
        match self {
            AnswerType::Any => true,
            // A count or a measure, not the years of a life: "(1214-1270)" does not say how many.
            AnswerType::Number => without(sentence, &[&LIFE_YEARS, &DATED, &PERCENT])
                .chars()
                .any(|c| c.is_ascii_digit()),
            AnswerType::Year => sentence
                .split(|c: char| !c.is_ascii_digit())
                .any(|run| (3..=4).contains(&run.len())),
            // A person is named ("Henry Cavendish") or described as one ("English poet").
            AnswerType::Person => has_person_name(sentence, &[]) || cues(&PERSON_CUES),
            // A place is named (a capitalised word past the first) or described as one.
            AnswerType::Place => {
                cues(&PLACE_CUES)
                    || sentence
                        .split_whitespace()
                        .skip(1)
                        .any(|w| w.chars().next().is_some_and(char::is_uppercase))
            }
        }
    }
}

/// Compiles the question tables and answer-type patterns now, so the first request does not pay
/// for it (tens of milliseconds in a debug build, charged to that request's CPU time).
pub fn warm_up() {
    question::warm_up();
    LazyLock::force(&NAME);
    LazyLock::force(&PERSON_CUES);
    LazyLock::force(&PLACE_CUES);
}

/// The question as retrieval and the adequacy check read it: see [`question::rewrite`].
pub fn normalize_question(question: &str) -> Cow<'_, str> {
    question::rewrite(question)
}

/// The content words of a text in comparable form ([`question::term`]): what a lookup is about.
pub fn content_terms(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    words(text)
        .filter(|w| !is_stopword(w))
        .map(|w| term(&w))
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

fn term_set(text: &str) -> HashSet<String> {
    words(text).map(|w| term(&w)).collect()
}

/// Verbs whose subject is the answer to a "who" question: "who invented the telephone" is
/// answered by the document about the inventor, not the one about the telephone.
const MAKER_TERMS: &[&str] = &[
    "write", "paint", "compose", "invent", "discover", "founded", "direct", "sing", "build", "design", "sculpt",
    "develop",
];

/// A title that reads as a person's name: two to four words, each capitalised ("Alexander Graham
/// Bell", "Leonardo da Vinci" allows a lower-case particle).
pub fn looks_like_a_name(title: &str) -> bool {
    let words: Vec<&str> = title.split_whitespace().collect();
    (2..=4).contains(&words.len())
        && words
            .first()
            .is_some_and(|w| w.chars().next().is_some_and(char::is_uppercase))
        && words
            .last()
            .is_some_and(|w| w.chars().next().is_some_and(char::is_uppercase))
        && words.iter().all(|w| {
            w.chars().next().is_some_and(char::is_uppercase)
                || matches!(*w, "da" | "de" | "van" | "von" | "del" | "di" | "la" | "le")
        })
        && !title.contains(|c: char| c.is_ascii_digit())
}

/// The dates of a life as Wikipedia's first sentence gives them: "(September 23, 1930 – June 10,
/// 2004)", "(23 April 1564 – 23 April 1616)", "(/ˈpærɪs/; born 5 May 1960)".
static LIFE_DATES: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let date = r"(?:c\. )?(?:[A-Z][a-z]+\.? \d{1,2}, |\d{1,2} [A-Z][a-z]+ |[A-Z][a-z]+ )?(?:\d{1,4} BC|\d{3,4})";
    Regex::new(&format!(
        r"\((?:[^()]*?;\s*)?(?:(born)\s+({date})|({date})\s*[–-]\s*({date}))\s*\)"
    ))
    .ok()
});

/// A person's passage says when they were born and died only in the parenthesis after their name;
/// said as sentences ("Ray Charles was born on September 23, 1930."), "when was X born" finds the
/// words it asks with and an answer that reads on its own. None for other passages.
pub fn life_sentences(title: &str, text: &str) -> Option<String> {
    let subject = entity(title);
    if !looks_like_a_name(subject) {
        return None;
    }
    let first = sentences(text).into_iter().next()?;
    let life = LIFE_DATES.as_ref()?.captures(first)?;
    // A painting or a war has dates in parentheses too; a person's passage says "he" or "she".
    if !words(text).any(|w| matches!(w.as_str(), "he" | "she" | "his" | "her" | "him")) {
        return None;
    }
    // "on 10 June 2004" with a day, "in June 2004" and "in 44 BC" without.
    let said = |date: &str| {
        let numbers = date
            .split_whitespace()
            .filter(|w| w.trim_end_matches(',').chars().all(|c| c.is_ascii_digit()))
            .count();
        if numbers >= 2 {
            format!("on {date}")
        } else {
            format!("in {date}")
        }
    };
    match (life.get(2), life.get(3), life.get(4)) {
        (Some(born), _, _) => Some(format!("{subject} was born {}.", said(born.as_str()))),
        (None, Some(born), Some(died)) => Some(format!(
            "{subject} was born {}. {subject} died {}.",
            said(born.as_str()),
            said(died.as_str())
        )),
        _ => None,
    }
}

/// The hit with its life dates said as sentences ([`life_sentences`]), for passages from backends
/// that did not add them when indexing.
fn with_life_dates(hit: &Hit) -> Cow<'_, Hit> {
    match life_sentences(&hit.title, &hit.text) {
        Some(said) if !hit.text.contains(&said) => Cow::Owned(Hit {
            text: format!("{} {said}", hit.text),
            ..hit.clone()
        }),
        _ => Cow::Borrowed(hit),
    }
}

/// The subject of a hit: its title up to a comma or parenthesis ("Lima, Peru" → "Lima"), without a
/// site name ("Lima - Wikipedia" → "Lima") or a heading path ("Billing › Refunds" → "Refunds").
pub fn entity(title: &str) -> &str {
    let title = title.rsplit(" › ").next().unwrap_or(title);
    let title = title.split([',', '(', '|']).next().unwrap_or(title);
    title
        .split(" - ")
        .next()
        .unwrap_or(title)
        .split(" — ")
        .next()
        .unwrap_or(title)
        .trim()
}

struct Scored<'a> {
    hit: &'a Hit,
    confidence: f64,
}

/// What is known of the question before any hit is scored.
struct Asked {
    terms: Vec<String>,
    expected: AnswerType,
    /// "what does CPU stand for": `cpu`.
    abbreviation: Option<String>,
    /// A "who" question about who made something ("who wrote", "who invented").
    asks_maker: bool,
    /// "largest ocean", "longest river": the answer is whatever a sentence in the present tense
    /// says holds that record ("is the longest river"), matched by this pattern.
    superlative: Option<Regex>,
}

/// For a question after the record holder of a kind ("the largest ocean"): a pattern for a
/// sentence that says something holds it now ("is the largest ocean", "is the largest of the
/// oceans"), not that it did ("was the world's tallest building until 1970").
fn asks_superlative(question: &str) -> Option<Regex> {
    static SUPERLATIVE: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(largest|biggest|longest|tallest|highest|smallest|deepest|oldest|fastest|hottest|coldest|closest|nearest|heaviest|lightest|brightest)\s+(?:[a-z]+\s+)?([a-z]{3,})").ok()
    });
    let caps = SUPERLATIVE.as_ref()?.captures(question)?;
    let record = caps[1].to_lowercase();
    let kind = caps[2].to_lowercase();
    let kind = crate::classify::text::stem(&kind);
    // "in Africa" bounds the record: "the longest river in South Africa" is another record.
    static SCOPE: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"(?i)\b(?:in|on|of) (?:the )?([a-z][a-z ]*?)\s*\??$").ok());
    let scope = SCOPE
        .as_ref()
        .and_then(|re| re.captures(&question[caps.get(0).map_or(0, |m| m.end())..]))
        .map(|c| format!(r"[^.;]*\b(?:in|on|of) (?:the )?{}\b", regex::escape(&c[1])))
        .unwrap_or_default();
    Regex::new(&format!(
        r"(?i)\b(?:is|are)\b[^.;]*?\b{record}\b\s+(?:[\w-]+\s+){{0,2}}{kind}\w*{scope}"
    ))
    .ok()
}

/// "the second-largest", "third largest": a record, but not the one asked for.
fn ranked_below_first(sentence: &str) -> bool {
    static BELOW: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(?:(?:second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|\w+teenth|\w+tieth|\d+(?:st|nd|rd|th)|one of the)[- ]+(?:\w+[- ]+)?(?:largest|biggest|longest|tallest|highest|smallest|deepest|oldest|fastest|hottest|coldest|closest|nearest|heaviest|lightest|most|brightest)|until|formerly|previously|former|once)\b").ok()
    });
    BELOW.as_ref().is_some_and(|re| re.is_match(sentence))
}

/// How surely the hit is about what the question asks: 0.7 × coverage, plus 0.3 when the hit's
/// subject is named in the question (0.2 for a person named by surname alone: "when was
/// Shakespeare born"), when it spells out the abbreviation asked about, or when it is the maker
/// a "who" question asks for and one sentence of it says so.
fn score_hit<'a>(asked: &Asked, hit: &'a Hit) -> Scored<'a> {
    let doc_terms = term_set(&format!("{} {}", hit.title, hit.text));
    let covered = asked.terms.iter().filter(|t| mentions(&doc_terms, t)).count();
    let coverage = covered as f64 / asked.terms.len() as f64;
    let subject = entity(&hit.title);
    let entity_terms: Vec<String> = words(subject).filter(|w| !is_stopword(w)).map(|w| term(&w)).collect();
    let in_question = |t: &String| asked.terms.iter().any(|q| same_term(q, t));
    let named = !entity_terms.is_empty() && entity_terms.iter().all(in_question);
    let spelled_out = asked
        .abbreviation
        .as_deref()
        .is_some_and(|a| question::expands(&hit.text, a));
    let person = looks_like_a_name(subject) && about_a_person(&hit.text);
    let maker = asked.asks_maker
        && person
        && sentences(&hit.text).iter().any(|s| {
            let said = term_set(s);
            asked.terms.iter().all(|t| mentions(&said, t))
        });
    // "What is the largest ocean": the answer is the subject of a sentence that says so, not a
    // second-largest one.
    let superlative = asked.superlative.as_ref().is_some_and(|record| {
        sentences(&hit.text).iter().any(|s| {
            let said = term_set(s);
            asked.terms.iter().all(|t| mentions(&said, t)) && record.is_match(s) && !ranked_below_first(s)
        })
    });
    let bonus = if named || spelled_out || maker || superlative {
        0.3
    } else if person && entity_terms.last().is_some_and(in_question) {
        0.2
    } else {
        0.0
    };
    Scored {
        hit,
        confidence: 0.7 * coverage + bonus,
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
fn best_sentence<'a>(asked: &Asked, hit: &'a Hit) -> &'a str {
    let subject = term_set(entity(&hit.title));
    let focus: Vec<&String> = asked.terms.iter().filter(|t| !mentions(&subject, t)).collect();
    let mut best = ("", 0usize);
    for sentence in sentences(&hit.text) {
        let terms = term_set(sentence);
        let mut overlap = focus.iter().filter(|t| mentions(&terms, t)).count();
        // The sentence that spells the abbreviation out is the answer to "what does it stand for".
        if asked
            .abbreviation
            .as_deref()
            .is_some_and(|a| question::expands(sentence, a))
        {
            overlap += asked.terms.len() + 1;
        }
        // Among sentences that share as many words, one with a date answers "when"; "which
        // happened in Japan" does not, for "when did it happen". (Not for counts or names: any
        // number or name in a sentence on the subject would do, and most are not the answer.)
        let dated = asked.expected == AnswerType::Year && fits_question(asked, sentence);
        let overlap = 2 * overlap + usize::from(dated);
        if best.0.is_empty() || overlap > best.1 {
            best = (sentence, overlap);
        }
    }
    best.0
}

/// Whether two hits say the same thing: the same sentence, or one gives the other's subject as
/// its answer ("Hamlet was written by William Shakespeare" and the article on Shakespeare, for
/// "who wrote Hamlet"). A subject the question itself names is no answer: two documents that
/// both mention "black hole" do not agree on what a black hole is.
fn agree(asked: &Asked, a: &Hit, a_sentence: &str, b: &Hit, b_sentence: &str) -> bool {
    let names = |sentence: &str, other: &Hit| {
        let subject = entity(&other.title);
        let asked_about = words(subject).any(|w| asked.terms.iter().any(|t| same_term(t, &term(&w))));
        subject.len() > 2 && !asked_about && sentence.to_lowercase().contains(&subject.to_lowercase())
    };
    // Or they give the same particulars: the names and figures one sentence adds to the question
    // ("Ottawa"; "Au", "79") all stand in the other.
    let same_particulars = |x: &str, y: &str| {
        let particulars = particulars(asked, x);
        let other: HashSet<String> = words(y).map(|w| question::fold(&w)).collect();
        !particulars.is_empty() && particulars.iter().all(|p| other.contains(p))
    };
    a_sentence == b_sentence
        || names(a_sentence, b)
        || names(b_sentence, a)
        || same_particulars(a_sentence, b_sentence)
        || same_particulars(b_sentence, a_sentence)
}

/// The names and figures a sentence adds to what the question says: capitalised words past the
/// first, and numbers, lower-cased.
fn particulars(asked: &Asked, sentence: &str) -> Vec<String> {
    sentence
        .split_whitespace()
        .skip(1)
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.chars().next().is_some_and(|c| c.is_uppercase() || c.is_ascii_digit()))
        .flat_map(|w| words(w).collect::<Vec<_>>())
        .filter(|w| !asked.terms.iter().any(|t| same_term(t, &term(w))))
        .map(|w| question::fold(&w))
        .collect()
}

/// The words that make a question about the present: its answer changes, and the embedded
/// sources (and a search hit without a date) cannot say they are recent enough.
fn asks_about_now(question: &str) -> Option<String> {
    static NOW: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r"(?i)\b(these days|nowadays|right now|at the moment|currently|current|presently|this (?:year|season|month|week)|last (?:year|season|night|week)|latest|most recent|so far|to date|as of (?:now|today)|today|now|still|incumbent|reigning|recent(?:ly)?)\b",
        )
        .ok()
    });
    // "Who is the president of X" asks who holds the office now; "where did the capitol used to
    // be" asks for what no longer holds.
    static OFFICE: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(?:who(?:'s| is) the (?:\w+ )?(?:president|ceo|head|leader|chairman|chairwoman|chair|administrator|director|prime minister|premier|king|queen|monarch|mayor|governor|chancellor|secretary|manager|coach|captain|owner|pope|chief|minister|speaker|editor|principal)|used to|formerly|no longer|any ?more)\b").ok()
    });
    NOW.as_ref()?
        .find(question)
        .or_else(|| OFFICE.as_ref()?.find(question))
        .map(|m| m.as_str().to_lowercase())
}

/// For "which state is ...": the part of a country asked for. A fact about the whole country
/// ("the highest point of the United States is Denali") is the typical wrong answer to it.
fn kind_asked(question: &str) -> Option<String> {
    static KIND: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(?:which|what)(?: is| was)?(?: the)? (?:[\w-]+ ){0,2}?(?:(?:us|u\.s\.|american|canadian|australian|indian) )?(state|province|county|region|district)\b").ok()
    });
    let caps = KIND.as_ref()?.captures(question)?;
    Some(caps[1].to_lowercase())
}

/// Questions a fact on their subject does not answer: what someone did or does with it, and
/// questions about people they only call "they" or "he" (characters of a story).
fn asks_beyond_facts(question: &str) -> Option<&'static str> {
    static ACTION: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"(?i)^\s*what (?:do|does|did|can|could|should|would|will) ").ok());
    static PRONOUN: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r"(?i)\b(?:do|does|did|was|were|is|are|will|would|can|could|has|have|had) (?:they|he|she|we|you|i)\b",
        )
        .ok()
    });
    // "What does X stand for / mean" ask for a definition; "what money do they use in Mexico"
    // means people there in general.
    static DEFINITION_OR_HABIT: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r"(?i)\b(?:stand for|short for|mean|means)\b|\bdo (?:they|people) (?:speak|call|celebrate)\b[^?]*\bin\b",
        )
        .ok()
    });
    // "Who was Rhett Butler in Gone with the Wind": a role in a work, which a summary of the work
    // names among others.
    static ROLE_IN_WORK: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"(?i)^\s*who (?:is|was|played) .+ in (?:the )?[a-z]").ok());
    // "Why is the sky blue", "what causes the seasons", "how does a vaccine work": an explanation,
    // which a sentence that shares the words is not. "How many", "how tall" are facts.
    static EXPLANATION: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*(?:why\b|what (?:causes|caused|makes|made) |how (?:does|do|did|can|could|should|would|is|are|was|were) )").ok()
    });
    if EXPLANATION.as_ref().is_some_and(|re| re.is_match(question)) {
        Some("explanations (why, how, what causes)")
    } else if DEFINITION_OR_HABIT.as_ref().is_some_and(|re| re.is_match(question)) {
        None
    } else if ROLE_IN_WORK.as_ref().is_some_and(|re| re.is_match(question)) && !question.contains(" in the world") {
        Some("who someone is in a story")
    } else if ACTION.as_ref().is_some_and(|re| re.is_match(question)) {
        Some("what someone does with something")
    } else if PRONOUN.as_ref().is_some_and(|re| re.is_match(question)) {
        Some("questions about people named only by a pronoun")
    } else {
        None
    }
}

/// For "how many X in a Y": Y.
fn per_unit(question: &str) -> Option<String> {
    static PER: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\bhow many [\w-]+ (?:are )?(?:there )?(?:in|per) (?:a|an|one) ([\w-]+)").ok()
    });
    let caps = PER.as_ref()?.captures(question)?;
    Some(caps[1].to_lowercase())
}

/// A sentence from the middle of a summary says "It is the highest mountain in Africa"; alone, as
/// an answer, it must say what "it" is.
fn name_the_subject(sentence: &str, subject: &str) -> String {
    for pronoun in ["It ", "He ", "She ", "They "] {
        if let Some(rest) = sentence.strip_prefix(pronoun) {
            if !subject.is_empty() {
                return format!("{subject} {rest}");
            }
        }
    }
    sentence.to_string()
}

/// Whether a document reads as being about a person: a life's years, "born", or a pronoun.
fn about_a_person(text: &str) -> bool {
    static PERSON: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"\(\s*(?:c\. |born )?\d{3,4}\s*[–-]\s*\d{3,4}\s*\)|\b(?:born|[Hh]e|[Ss]he|[Hh]is|[Hh]er)\b").ok()
    });
    PERSON.as_ref().is_some_and(|re| re.is_match(text))
}

/// Decides whether the hits answer the question, and if so with which sentence.
pub fn answer(question: &str, hits: &[Hit], adequacy: &Adequacy) -> Result<Answer, Refusal> {
    if let Some(cue) = asks_about_now(question) {
        return Err(Refusal::TimeSensitive { cue });
    }
    if let Some(why) = asks_beyond_facts(question) {
        return Err(Refusal::NotAFact { why });
    }
    let terms = content_terms(&normalize_question(question));
    if terms.is_empty() {
        return Err(Refusal::NoContentWords);
    }
    // "Who wrote And Can It Be That I Should Gain": a title of small words leaves one or two
    // words to match, and those match anything.
    let length = words(question).count();
    if length >= 8 && terms.len() * 4 < length {
        return Err(Refusal::NotAFact {
            why: "questions made mostly of small words (a quoted title?)",
        });
    }
    let expected = AnswerType::of_question(question);
    let asked = Asked {
        asks_maker: expected == AnswerType::Person && terms.iter().any(|t| MAKER_TERMS.contains(&t.as_str())),
        superlative: asks_superlative(question),
        abbreviation: question::abbreviation_asked(question),
        terms,
        expected,
    };
    let terms = &asked.terms;
    let hits: Vec<Cow<'_, Hit>> = hits.iter().map(with_life_dates).collect();
    let hits: Vec<&Hit> = hits.iter().map(AsRef::as_ref).collect();
    let mut scored: Vec<Scored<'_>> = hits.iter().map(|h| score_hit(&asked, h)).collect();
    // Stable sort: among equal confidences, the backend's ranking decides.
    scored.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let Some(best) = scored.first() else {
        return Err(Refusal::NoHits);
    };
    if best.confidence < adequacy.min_confidence {
        return Err(Refusal::LowConfidence {
            confidence: best.confidence,
            threshold: adequacy.min_confidence,
        });
    }
    // Backends score on their own scales (BM25, ts_rank, rank order); relative to the top score
    // they compare. A second subject is a real rival only if the backend ranked it comparably:
    // "Compiler-Compiler" far below "compiler" does not make "what is a compiler" ambiguous.
    let top_score = hits.iter().map(|h| f64::from(h.score)).fold(f64::MIN, f64::max);
    let normalised = |h: &Hit| {
        if top_score > 0.0 {
            f64::from(h.score) / top_score
        } else {
            1.0
        }
    };
    // Another subject that answers as well makes the answer a guess. So does another sense of the
    // same word when the question asks what the word is ("compiler": a program, or a person who
    // compiles); when it asks something about the subject ("who discovered oxygen"), documents on
    // that subject are facts about one thing, not rivals. An identical sentence is no conflict.
    let best_title = best.hit.title.to_lowercase();
    let subject = term_set(entity(&best.hit.title));
    let asks_what_it_is = terms.iter().all(|t| mentions(&subject, t));
    // A typed question ("who", "when", "how many") is checked against the type below; an untyped
    // one has nothing else to tell two facts on the subject apart ("symbol for sodium": its symbol,
    // or the etymology of its symbol), so there they are rivals too.
    let expected = asked.expected;
    let same_subject_rivals = asks_what_it_is || expected == AnswerType::Any;
    let sentence = best_sentence(&asked, best.hit);
    if let Some(rival) = scored[1..].iter().find(|s| {
        s.confidence >= best.confidence - adequacy.rival_margin
            && normalised(s.hit) >= normalised(best.hit) * adequacy.rival_score_ratio
            && (same_subject_rivals || s.hit.title.to_lowercase() != best_title)
            && !agree(&asked, best.hit, sentence, s.hit, best_sentence(&asked, s.hit))
    }) {
        return Err(Refusal::Ambiguous {
            confidence: best.confidence,
            other: rival.hit.title.clone(),
        });
    }
    // "Which state", "what planet": the answer names one, in those words.
    if let Some(kind) = kind_asked(question) {
        if !words(sentence).any(|w| w == kind) {
            return Err(Refusal::Unsupported { missing: kind });
        }
    }
    // "How many feet in a mile" is answered by what a mile is, not by what a foot is.
    if let Some(unit) = per_unit(question) {
        if !subject.contains(&term(&unit)) {
            return Err(Refusal::Unsupported { missing: unit });
        }
    }
    // What the question asks about its subject must be in the answer itself: "the state capitol of
    // New Mexico" is not answered by "a state in southwestern United States", however well the
    // document matches the rest.
    let said = term_set(&format!("{} {sentence}", best.hit.title));
    if let Some(missing) = terms.iter().find(|t| !mentions(&subject, t) && !mentions(&said, t)) {
        return Err(Refusal::Unsupported {
            missing: missing.clone(),
        });
    }
    if let Some(work) = asked.asks_maker.then(|| work_asked_about(question)).flatten() {
        let about_the_work =
            subject.iter().all(|t| terms.iter().any(|q| same_term(q, t))) && phrase_in(&best.hit.title, &work);
        if !about_the_work && !phrase_in(sentence, &work) {
            return Err(Refusal::Unsupported { missing: work });
        }
    }
    if !fits_question(&asked, sentence)
        || asked
            .abbreviation
            .as_deref()
            .is_some_and(|a| !question::expands(sentence, a))
    {
        return Err(Refusal::WrongAnswerType { expected });
    }
    Ok(Answer {
        sentence: name_the_subject(sentence, entity(&best.hit.title)),
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

    #[test]
    fn the_dates_of_a_life_are_said_as_sentences() {
        let said = |title: &str, text: &str| life_sentences(title, text);
        assert_eq!(
            said(
                "Ray Charles",
                "Ray Charles Robinson (September 23, 1930 – June 10, 2004) was an American singer. He was blind."
            )
            .as_deref(),
            Some("Ray Charles was born on September 23, 1930. Ray Charles died on June 10, 2004.")
        );
        assert_eq!(
            said(
                "William Shakespeare",
                "William Shakespeare (c. 23 April 1564 – 23 April 1616) was an English playwright. His plays..."
            )
            .as_deref(),
            Some("William Shakespeare was born on c. 23 April 1564. William Shakespeare died on 23 April 1616.")
        );
        assert_eq!(
            said(
                "Tom Hanks",
                "Thomas Jeffrey Hanks (/hæŋks/; born July 9, 1956) is an American actor. He won two Oscars."
            )
            .as_deref(),
            Some("Tom Hanks was born on July 9, 1956.")
        );
        assert_eq!(
            said(
                "Julius Caesar",
                "Gaius Julius Caesar (100 BC – 44 BC) was a Roman general. He crossed the Rubicon."
            )
            .as_deref(),
            Some("Julius Caesar was born in 100 BC. Julius Caesar died in 44 BC.")
        );
        // Not a person's name, or dates that are not a life, or dates after the first sentence.
        assert_eq!(
            said(
                "Mona Lisa",
                "The Mona Lisa (1503 – 1519) is a painting. It hangs in the Louvre."
            ),
            None
        );
        assert_eq!(
            said("World War II", "World War II (1939 – 1945) was a global war."),
            None
        );
        assert_eq!(
            said(
                "Ray Charles",
                "Ray Charles was a singer. His band (1950 – 1960) toured."
            ),
            None
        );
        assert_eq!(
            said("Ray Charles", "Ray Charles (1930 – 2004) was a singer."),
            None,
            "no pronoun"
        );
    }

    fn adequacy(min_confidence: f64) -> Adequacy {
        Adequacy {
            min_confidence,
            ..Adequacy::default()
        }
    }

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

    #[test]
    fn a_maker_is_named_for_the_work_asked_about_word_for_word() {
        let a = adequacy(0.8);
        let goodland = hit(
            "w1",
            "Eugenius Warming",
            "Johannes Eugenius Bülow Warming was a Danish botanist. Ecologist Robert J. Goodland wrote in 1975: \"If one individual can be singled out to be honoured as the founder of ecology, Warming should gain precedence.\" Eugenius Warming was born in 1841 and died in 1924.",
        );
        let got = answer("who wrote and can it be that i should gain", &[goodland], &a);
        assert!(matches!(got, Err(Refusal::Unsupported { .. })), "{got:?}");
        let casablanca = hit(
            "f1",
            "Casablanca (film)",
            "Casablanca is a 1942 American romantic drama film directed by Michael Curtiz and starring Humphrey Bogart.",
        );
        let got = answer("Who directed the 1942 film, ‘Casablanca’?", &[casablanca], &a).unwrap();
        assert!(got.sentence.contains("Michael Curtiz"), "{}", got.sentence);
        assert_eq!(
            work_asked_about("who invented the telephone?").as_deref(),
            Some("telephone")
        );
        assert_eq!(
            work_asked_about("Who wrote the 1884 novel ‘The Adventures of Huckleberry Finn’?").as_deref(),
            Some("Adventures of Huckleberry Finn")
        );
        assert_eq!(work_asked_about("who is the author of Hamlet"), None);
    }

    #[test]
    fn when_is_answered_by_the_date_of_the_event_not_of_another_it_names() {
        let a = adequacy(0.8);
        let chernobyl = hit(
            "c1",
            "Chernobyl disaster",
            "On 26 April 1986, reactor 4 of the Chernobyl Nuclear Power Plant exploded. It is one of two nuclear accidents rated at the maximum severity, the other being the 2011 Fukushima nuclear accident, which happened in Japan.",
        );
        match answer("when did the nuclear disaster in chernobyl happen", &[chernobyl], &a) {
            Ok(got) => assert!(got.sentence.contains("1986"), "{}", got.sentence),
            Err(refusal) => assert!(!matches!(refusal, Refusal::NoHits), "{refusal:?}"),
        }
        assert!(!fits_question(
            &Asked {
                terms: vec!["chernobyl".into()],
                expected: AnswerType::Year,
                abbreviation: None,
                asks_maker: false,
                superlative: None,
            },
            "It is one of two accidents, the other being the 2011 Fukushima nuclear accident."
        ));
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
        let a = answer("What is the capital of Peru?", &peru(), &adequacy(0.8)).unwrap();
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
        match answer("who wrote hamlet", &hits, &adequacy(0.8)) {
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
            answer("population of Lima", &hits, &adequacy(0.8)),
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
        assert_eq!(
            answer("What is a compiler?", &hits, &adequacy(0.8)).unwrap().doc_id,
            "wn/compiler"
        );
    }

    #[test]
    fn the_answer_must_speak_to_what_the_question_asks() {
        let hits = vec![hit(
            "wn/nm",
            "New Mexico",
            "New Mexico (noun): a state in southwestern United States on the Mexican border.",
        )];
        assert_eq!(
            answer("what is the state capitol of new mexico", &hits, &adequacy(0.8)),
            // "capitol" is read as the usual misspelling of "capital".
            Err(Refusal::Unsupported {
                missing: "capital".into()
            })
        );
    }

    #[test]
    fn two_senses_of_the_word_asked_about_are_ambiguous_but_facts_on_one_subject_are_not() {
        let senses = vec![
            hit(
                "wn/compiler/1",
                "compiler",
                "compiler (noun): a person who compiles information.",
            ),
            hit(
                "wn/compiler/2",
                "compiler",
                "compiler (noun): a program that translates source code.",
            ),
        ];
        assert!(matches!(
            answer("What is a compiler?", &senses, &adequacy(0.8)),
            Err(Refusal::Ambiguous { .. })
        ));
        let facts = vec![
            hit(
                "el/8/d",
                "Oxygen (O)",
                "Oxygen was discovered by Joseph Priestley in 1774.",
            ),
            hit(
                "el/8/x",
                "Oxygen (O)",
                "Oxygen: colourless gas, discovered in 1774 by Priestley.",
            ),
        ];
        let a = answer("Who discovered oxygen?", &facts, &adequacy(0.8)).unwrap();
        assert_eq!(a.doc_id, "el/8/d");
    }

    #[test]
    fn refuses_answers_of_the_wrong_type() {
        let hits = vec![hit("el/8", "Oxygen (O)", "Oxygen was discovered by Joseph Priestley.")];
        assert_eq!(
            answer("When was oxygen discovered?", &hits, &adequacy(0.5)),
            Err(Refusal::WrongAnswerType {
                expected: AnswerType::Year
            })
        );
    }

    #[test]
    fn the_answer_type_follows_the_question_word() {
        assert_eq!(AnswerType::of_question("Who discovered oxygen?"), AnswerType::Person);
        assert_eq!(AnswerType::of_question("where is Lima"), AnswerType::Place);
        assert_eq!(AnswerType::of_question("When was gold found"), AnswerType::Year);
        assert_eq!(AnswerType::of_question("whose idea was it"), AnswerType::Any);
        assert!(AnswerType::Person.fits("Discovered by Henry Cavendish in 1776."));
        assert!(AnswerType::Person.fits("shakespeare (noun): English poet and dramatist (1564-1616)."));
        assert!(!AnswerType::Person.fits("hamlet (noun): a community of people smaller than a village."));
        assert!(AnswerType::Place.fits("Lima is a city in Peru."));
        assert!(!AnswerType::Place.fits("entropy (noun): a measure of disorder."));
    }

    #[test]
    fn a_who_question_is_not_answered_with_a_thing() {
        let hits = vec![hit(
            "wn/hamlet",
            "Hamlet",
            "Hamlet (noun): a community of people smaller than a village.",
        )];
        assert_eq!(
            answer("Who is Hamlet?", &hits, &adequacy(0.5)),
            Err(Refusal::WrongAnswerType {
                expected: AnswerType::Person
            })
        );
    }

    #[test]
    fn web_titles_name_their_subject_without_the_site() {
        assert_eq!(entity("Lima - Wikipedia"), "Lima");
        assert_eq!(entity("Billing › Refunds"), "Refunds");
        assert_eq!(entity("Lima, Peru"), "Lima");
    }

    #[test]
    fn picks_the_sentence_that_answers() {
        let hits = vec![hit("el/1", "Hydrogen (H)", "Hydrogen: Colourless, odourless gaseous chemical element. Lightest and most abundant element in the universe. Discovered by Henry Cavendish in 1776.")];
        let a = answer("Who discovered hydrogen?", &hits, &adequacy(0.8)).unwrap();
        assert_eq!(a.sentence, "Discovered by Henry Cavendish in 1776.");
    }

    #[test]
    fn a_passage_answers_with_the_verb_the_question_uses_in_another_form() {
        let hits = vec![hit(
            "wiki/Hamlet",
            "Hamlet",
            "The Tragedy of Hamlet is a tragedy written by William Shakespeare sometime between 1599 and 1601. It is Shakespeare's longest play.",
        )];
        let a = answer("who wrote hamlet", &hits, &adequacy(0.8)).unwrap();
        assert!(a.sentence.contains("William Shakespeare"), "{}", a.sentence);
    }

    #[test]
    fn the_maker_is_found_by_what_they_made_and_agrees_with_the_work() {
        let bell = hit(
            "wiki/Bell",
            "Alexander Graham Bell",
            "Alexander Graham Bell was a Scottish-born inventor who is credited with patenting the first practical telephone. He was born in 1847.",
        );
        let telephone = hit(
            "wiki/Telephone",
            "Telephone",
            "A telephone is a telecommunications device. The telephone was invented by Alexander Graham Bell in 1876.",
        );
        let a = answer("who invented the telephone", &[bell.clone(), telephone], &adequacy(0.8)).unwrap();
        assert!(a.sentence.contains("Bell"), "{}", a.sentence);
        // Not a person: a thing's document is no maker.
        let tower = hit(
            "wiki/Tower",
            "Eiffel Tower",
            "The Eiffel Tower was invented as a telephone mast.",
        );
        assert!(answer("who invented the telephone", &[tower], &adequacy(0.8)).is_err());
    }

    #[test]
    fn what_someone_did_with_a_thing_is_not_answered_by_its_definition() {
        let wall = vec![hit(
            "wn/gw",
            "Great Wall",
            "Great Wall (noun): a fortification 1,500 miles long built across northern China.",
        )];
        assert!(matches!(
            answer(
                "what did they use to build the great wall of china",
                &wall,
                &adequacy(0.5)
            ),
            Err(Refusal::NotAFact { .. })
        ));
        let cpu = vec![hit(
            "wn/cpu",
            "CPU",
            "CPU (noun): the processor; also called central processing unit.",
        )];
        assert!(answer("what does cpu stand for", &cpu, &adequacy(0.8)).is_ok());
    }

    #[test]
    fn explanations_are_not_facts_but_how_many_is() {
        let seasons = vec![hit(
            "w/s",
            "Season",
            "In temperate regions, the seasons are marked by changes in the intensity of sunlight; the seasons change because the Earth's axis is tilted.",
        )];
        for question in [
            "What causes the seasons to change?",
            "why do the seasons change",
            "how do the seasons change",
        ] {
            assert!(
                matches!(
                    answer(question, &seasons, &adequacy(0.5)),
                    Err(Refusal::NotAFact { .. })
                ),
                "{question}"
            );
        }
        assert_eq!(asks_beyond_facts("how many seasons are there"), None);
        assert_eq!(asks_beyond_facts("how tall is mount everest"), None);
    }

    #[test]
    fn questions_about_the_present_escalate() {
        let hits = vec![hit("wiki/Acme", "Acme", "The chief executive of Acme is Jane Doe.")];
        for q in [
            "who is the ceo of acme these days",
            "who is the current ceo of acme",
            "who won the cup this year",
        ] {
            assert!(
                matches!(answer(q, &hits, &adequacy(0.5)), Err(Refusal::TimeSensitive { .. })),
                "{q}"
            );
        }
    }

    #[test]
    fn a_life_is_no_count_and_a_state_must_be_named_as_one() {
        let louis = vec![hit(
            "wn/louis",
            "Saint Louis",
            "Saint Louis (noun): king of France (1214-1270); born in 1214, died in 1270.",
        )];
        assert!(answer("how many kings of france were named louis", &louis, &adequacy(0.8)).is_err());
        let peak = vec![hit(
            "fb/us",
            "United States",
            "The highest point of United States is Denali 6,190 m.",
        )];
        assert!(answer(
            "in which US state is the highest point of the united states",
            &peak,
            &adequacy(0.5)
        )
        .is_err());
    }

    #[test]
    fn an_abbreviation_is_answered_only_by_its_expansion() {
        let good = vec![hit(
            "wn/cpu",
            "CPU",
            "CPU (noun): the part of a computer that does most of the data processing; also called central processing unit.",
        )];
        let a = answer("what does CPU stand for", &good, &adequacy(0.8)).unwrap();
        assert!(a.sentence.contains("central processing unit"));
        let bad = vec![hit(
            "wn/cpu",
            "CPU",
            "CPU (noun): the part of a computer that does the processing.",
        )];
        assert!(answer("what does CPU stand for", &bad, &adequacy(0.8)).is_err());
    }

    #[test]
    fn two_sources_that_give_the_same_particulars_are_no_rivals() {
        let hits = vec![
            hit("geo/ca", "Canada", "The capital of Canada is Ottawa."),
            hit(
                "wiki/Canada",
                "Canada",
                "Canada is a country in North America. Its capital is Ottawa.",
            ),
        ];
        let a = answer("capital of canada", &hits, &adequacy(0.8)).unwrap();
        assert!(a.sentence.contains("Ottawa"));
        let conflicting = vec![
            hit("geo/ca", "Canada", "The capital of Canada is Ottawa."),
            hit("wiki/Canada", "Canada", "Canada is a country. Its capital is Toronto."),
        ];
        assert!(matches!(
            answer("capital of canada", &conflicting, &adequacy(0.8)),
            Err(Refusal::Ambiguous { .. })
        ));
    }

    #[test]
    fn a_web_search_answer_box_answers_and_agrees_with_the_infobox() {
        let hits = vec![
            hit("box-0-0", "capital of peru", "Lima"),
            hit("box-1-0", "Peru", "Peru's capital and largest city is Lima."),
            hit(
                "r1",
                "Lima - Wikipedia",
                "Lima is the capital and the largest city of Peru.",
            ),
        ];
        let a = answer("capital of peru", &hits, &adequacy(0.8)).unwrap();
        assert!(a.sentence.contains("Lima"), "{}", a.sentence);
        // A box that contradicts the infobox is no answer.
        let conflicting = vec![
            hit("box-0-0", "capital of peru", "Cusco"),
            hit("box-1-0", "Peru", "Peru's capital and largest city is Lima."),
        ];
        assert!(answer("capital of peru", &conflicting, &adequacy(0.8)).is_err());
    }

    #[test]
    fn no_hits_and_no_content_words_refuse() {
        assert_eq!(
            answer("what is the capital of Peru", &[], &adequacy(0.8)),
            Err(Refusal::NoHits)
        );
        assert_eq!(
            answer("what is it?", &peru(), &adequacy(0.8)),
            Err(Refusal::NoContentWords)
        );
    }

    #[test]
    fn rewrites_compile_and_apply() {
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
            if let Ok(a) = answer(&question, &peru(), &adequacy(threshold)) {
                prop_assert!(a.confidence >= threshold);
                prop_assert!(!a.sentence.is_empty());
            }
        }
    }
}
