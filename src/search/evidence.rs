//! What a question asks and what a hit's sentences offer, pure: the answer type a question wants
//! ([`AnswerType`]), what is known of it before any hit is scored ([`Asked`]), and the tests on
//! hits and sentences (subject, coverage, names, records, life dates). Both the adequacy check
//! (`answer.rs`) and the reader (`reader.rs`) apply them; they sit here, under both, so that the
//! reader does not import the module that calls it (imports in `search/` go one way: see
//! `scripts/ci/imports.sh`).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use super::question::words;
use super::question::{self, mentions, same_term, term};
use super::Hit;
use crate::classify::text::is_stopword;

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

/// Whether the sentence gives a life's years in parentheses ("(1878-1967)"): in a dictionary
/// gloss they are its headword's, whoever else the gloss names.
pub(super) fn has_life_years(sentence: &str) -> bool {
    LIFE_YEARS.as_ref().is_some_and(|re| re.is_match(sentence))
}

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
/// civil war") are no answer and do not count. With `whole`, a name sharing any word with the
/// question does not count either: the maker of "Ray" is not "Ray Charles", whom the film is about.
fn has_person_name(sentence: &str, asked: &[String], whole: bool) -> bool {
    let Some(re) = NAME.as_ref() else {
        return false;
    };
    let text = format!(". {sentence}");
    // "VIM: 1. Vendor Independent Messaging.": the words an abbreviation of the sentence stands
    // for are no person's name.
    let abbreviations: Vec<String> = sentence
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| (2..=6).contains(&w.len()) && w.chars().all(|c| c.is_ascii_uppercase()))
        .map(str::to_lowercase)
        .collect();
    re.find_iter(&text).any(|m| {
        // The match starts with the character before the name.
        let name: Vec<&str> = m.as_str().split_whitespace().skip(1).collect();
        let last = name.last().copied().unwrap_or("").to_lowercase();
        let parts: Vec<String> = name.iter().flat_map(|part| words(part).collect::<Vec<_>>()).collect();
        let spelt = parts.join(" ");
        if abbreviations.iter().any(|a| question::expands(&spelt, a)) {
            return false;
        }
        let is_asked = |w: &String| asked.iter().any(|t| same_term(t, &term(w)));
        let new = if whole {
            !parts.iter().any(is_asked)
        } else {
            !parts.iter().all(is_asked)
        };
        !THING_HEADS.contains(&last.as_str()) && new
    })
}

/// Whether the sentence names something the question does not (a capitalised word past the
/// first, not one of the question's terms).
pub(super) fn new_names(sentence: &str, asked: &[String]) -> bool {
    new_names_where(sentence, asked, |_| true)
}

/// [`new_names`], counting only the names whose lower-cased words pass `keep`.
pub(super) fn new_names_where(sentence: &str, asked: &[String], keep: impl Fn(&str) -> bool) -> bool {
    sentence
        .split_whitespace()
        .skip(1)
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
        .flat_map(|w| words(w).collect::<Vec<_>>())
        .any(|w| !is_stopword(&w) && keep(&w) && !asked.iter().any(|t| same_term(t, &term(&w))))
}

/// The answer type check with what the question says: a "when" not about a birth or a death is
/// not answered by the years of a life, and a "who" by a name that only repeats the question.
pub(super) fn fits_question(asked: &Asked, sentence: &str) -> bool {
    match asked.expected {
        AnswerType::Year if !asked.asks_life() => {
            AnswerType::Year.fits(&without(sentence, &[&LIFE_YEARS, &LIFE_EVENTS, &YEAR_OF_ANOTHER]))
        }
        AnswerType::Person if asked.asks_maker => {
            // A maker is named or is the "he" or "she" of the sentence; "musician Ray Charles"
            // in a sentence about the film "Ray" names whom it is about, not who made it.
            // And it says the making asked: "who directed Ray" is not answered by a sentence in
            // which Ray Charles sings in an advert.
            let said = term_set(sentence);
            let says_making = asked
                .terms
                .iter()
                .filter(|t| MAKER_TERMS.contains(&t.as_str()))
                .all(|t| mentions(&said, t));
            says_making
                && (has_person_name(sentence, &asked.terms, true)
                    || words(sentence).any(|w| matches!(w.as_str(), "he" | "she" | "his" | "her" | "him")))
        }
        AnswerType::Person => {
            has_person_name(sentence, &asked.terms, false) || words(sentence).any(|w| PERSON_CUES.contains(w.as_str()))
        }
        other => other.fits(sentence),
    }
}

/// "the 2011 Fukushima accident", "the 2026 World Cup": a year naming another event, which does
/// not say when the one asked about happened.
static YEAR_OF_ANOTHER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\bthe \d{4} [A-Z]").ok());

/// What a "who made it" question names: "who wrote and can it be that i should gain" → "and can it
/// be that i should gain"; "who invented the telephone" → "telephone".
pub(super) fn work_asked_about(question: &str) -> Option<String> {
    static WORK: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\bwho (?:first )?(?:wrote|painted|composed|invented|discovered|founded|directed|sang|built|designed|sculpted|developed|created)\s+(?:(?:the|a|an) )?(?:\d{4} )?(?:(?:song|book|novel|poem|play|film|movie|opera|symphony|painting|hymn|story|lyrics|music|words)(?: to| of| for)?,? )?(?:(?:the|a|an) )?(.+?)[\s?.!]*$").ok()
    });
    // Quotes around a title ("the 1942 film, ‘Casablanca’") are not part of it.
    let question = question.replace(['‘', '’', '“', '”', '"', '\''], "");
    let phrase = WORK.as_ref()?.captures(&question)?.get(1)?.as_str().trim().to_string();
    (!phrase.is_empty()).then_some(phrase)
}

/// Whether `text` says `phrase` word for word (case, accents and punctuation aside).
pub(super) fn phrase_in(text: &str, phrase: &str) -> bool {
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
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AnswerType::Any => "fact",
            AnswerType::Number => "number",
            AnswerType::Year => "date",
            AnswerType::Person => "person",
            AnswerType::Place => "place",
        }
    }

    /// What kind of answer the question wants, from its wording.
    pub(super) fn of_question(question: &str) -> AnswerType {
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
        let cues = |set: &HashSet<&str>| words(sentence).any(|w| set.contains(w.as_str()));
        match self {
            AnswerType::Any => true,
            // A count or a measure, not the years of a life: "(1214-1270)" does not say how many.
            // Or written as a word ("its eight planets"); not "one", which is mostly "one of".
            AnswerType::Number => {
                without(sentence, &[&LIFE_YEARS, &DATED, &PERCENT])
                    .chars()
                    .any(|c| c.is_ascii_digit())
                    || words(sentence).any(|w| w != "one" && NUMBER_WORDS.contains(&w.as_str()))
            }
            AnswerType::Year => sentence
                .split(|c: char| !c.is_ascii_digit())
                .any(|run| (3..=4).contains(&run.len())),
            // A person is named ("Henry Cavendish") or described as one ("English poet").
            AnswerType::Person => has_person_name(sentence, &[], false) || cues(&PERSON_CUES),
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
pub(crate) fn warm_up() {
    question::warm_up();
    LazyLock::force(&NAME);
    LazyLock::force(&PERSON_CUES);
    LazyLock::force(&PLACE_CUES);
}

/// The question as retrieval and the adequacy check read it: see [`question::rewrite`].
pub(crate) fn normalize_question(question: &str) -> Cow<'_, str> {
    question::rewrite(question)
}

/// The content words of a text in comparable form ([`question::term`]): what a lookup is about.
pub(crate) fn content_terms(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    words(text)
        .filter(|w| !is_stopword(w))
        .map(|w| term(&w))
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

pub(super) fn term_set(text: &str) -> HashSet<String> {
    words(text).map(|w| term(&w)).collect()
}

/// Verbs whose subject is the answer to a "who" question: "who invented the telephone" is
/// answered by the document about the inventor, not the one about the telephone.
pub(super) const MAKER_TERMS: &[&str] = &[
    "write", "paint", "compose", "invent", "discover", "founded", "direct", "sing", "build", "design", "sculpt",
    "develop",
];

/// A title that reads as a person's name: two to four words, each capitalised ("Alexander Graham
/// Bell", "Leonardo da Vinci" allows a lower-case particle).
pub(crate) fn looks_like_a_name(title: &str) -> bool {
    let words: Vec<&str> = title.split_whitespace().collect();
    (2..=4).contains(&words.len())
        && words
            .first()
            .is_some_and(|w| w.chars().next().is_some_and(char::is_uppercase))
        && words
            .last()
            .is_some_and(|w| w.chars().next().is_some_and(char::is_uppercase))
        && words
            .iter()
            .all(|w| w.chars().next().is_some_and(char::is_uppercase) || name_particle(w))
        && !title.contains(|c: char| c.is_ascii_digit())
}

/// A lower-case word inside a person's name: "Leonardo da Vinci", "Ludwig van Beethoven".
fn name_particle(word: &str) -> bool {
    matches!(word, "da" | "de" | "van" | "von" | "del" | "di" | "la" | "le")
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
pub(crate) fn life_sentences(title: &str, text: &str) -> Option<String> {
    let subject = entity(title);
    if !looks_like_a_name(subject) {
        return None;
    }
    let first = sentences(text).into_iter().next()?;
    let life = LIFE_DATES.as_ref()?.captures(first)?;
    // The dates follow the name the sentence opens with ("Claude Monet (1840–1926) was …"), not a
    // name further on: "Water Lilies is a series of … paintings by Claude Monet (1840–1926)" gives
    // the painter's life, not the paintings'.
    let before = &first[..life.get(0)?.start()];
    let name_words = before.split_whitespace().count();
    if name_words == 0
        || name_words > 6
        || !before
            .split_whitespace()
            .all(|w| w.chars().next().is_some_and(char::is_uppercase) || name_particle(w) || matches!(w, "of" | "the"))
    {
        return None;
    }
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
pub(super) fn with_life_dates(hit: &Hit) -> Cow<'_, Hit> {
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
pub(crate) fn entity(title: &str) -> &str {
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

/// What is known of the question before any hit is scored.
pub(super) struct Asked {
    pub(super) terms: Vec<String>,
    pub(super) expected: AnswerType,
    /// "what does CPU stand for": `cpu`.
    pub(super) abbreviation: Option<String>,
    /// A "who" question about who made something ("who wrote", "who invented").
    pub(super) asks_maker: bool,
    /// "largest ocean", "longest river": the answer is whatever a sentence in the present tense
    /// says holds that record ("is the longest river"), matched by this pattern.
    pub(super) superlative: Option<Regex>,
}

impl Asked {
    /// "when was X born", "when did X die": the years of a life answer it.
    pub(super) fn asks_life(&self) -> bool {
        self.terms.iter().any(|t| t == "born" || t == "die")
    }
}

/// For a question after the record holder of a kind ("the largest ocean"): a pattern for a
/// sentence that says something holds it now ("is the largest ocean", "is the largest of the
/// oceans"), not that it did ("was the world's tallest building until 1970").
pub(super) fn asks_superlative(question: &str) -> Option<Regex> {
    let (record, kind, end) = record_asked(question)?;
    // "in Africa" bounds the record: "the longest river in South Africa" is another record.
    static SCOPE: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"(?i)\b(?:in|on|of) (?:the )?([a-z][a-z ]*?)\s*\??$").ok());
    let scope = SCOPE
        .as_ref()
        .and_then(|re| re.captures(&question[end..]))
        .map(|c| format!(r"[^.;]*\b(?:in|on|of) (?:the )?{}\b", regex::escape(&c[1])))
        .unwrap_or_default();
    Regex::new(&format!(
        r"(?i)\b(?:is|are)\b[^.;]*?\b{record}\b\s+(?:[\w-]+\s+){{0,2}}{kind}\w*{scope}"
    ))
    .ok()
}

/// For "what is the largest ocean": the record word ("largest"), the stem of the kind that holds
/// it ("ocean") and where the phrase ends in the question.
pub(super) fn record_asked(question: &str) -> Option<(String, String, usize)> {
    static SUPERLATIVE: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(largest|biggest|longest|tallest|highest|smallest|deepest|oldest|fastest|hottest|coldest|closest|nearest|heaviest|lightest|brightest)\s+(?:[a-z]+\s+)?([a-z]{3,})").ok()
    });
    let caps = SUPERLATIVE.as_ref()?.captures(question)?;
    let kind = crate::classify::text::stem(&caps[2].to_lowercase()).to_string();
    Some((caps[1].to_lowercase(), kind, caps.get(0).map_or(0, |m| m.end())))
}

/// "the second-largest", "third largest": a record, but not the one asked for.
pub(super) fn ranked_below_first(sentence: &str) -> bool {
    static BELOW: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(?:(?:second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|\w+teenth|\w+tieth|\d+(?:st|nd|rd|th)|one of the)[- ]+(?:[\w'’]+[- ]+)?(?:largest|biggest|longest|tallest|highest|smallest|deepest|oldest|fastest|hottest|coldest|closest|nearest|heaviest|lightest|most|brightest)|until|formerly|previously|former|once)\b").ok()
    });
    BELOW.as_ref().is_some_and(|re| re.is_match(sentence))
}

/// How surely the hit is about what the question asks: 0.7 × coverage, plus 0.3 when the hit's
/// subject is named in the question (0.2 for a person named by surname alone: "when was
/// Shakespeare born"), when it spells out the abbreviation asked about, or when it is the maker
/// a "who" question asks for and one sentence of it says so.
pub(super) fn hit_confidence(asked: &Asked, hit: &Hit) -> f64 {
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
    0.7 * coverage + bonus
}

/// Splits a short document into sentences (". ", "? ", "! " and "; " between definitions).
pub(super) fn sentences(text: &str) -> Vec<&str> {
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

/// Figures written as words, as a count may be ("eleven players", "a dozen eggs").
pub(super) const NUMBER_WORDS: &[&str] = &[
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "dozen",
    "hundred", "thousand", "million", "billion",
];

/// The words that make a question about the present: its answer changes, and the embedded
/// sources (and a search hit without a date) cannot say they are recent enough.
pub(super) fn asks_about_now(question: &str) -> Option<String> {
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
pub(super) fn kind_asked(question: &str) -> Option<String> {
    static KIND: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(?:which|what)(?: is| was)?(?: the)? (?:[\w-]+ ){0,2}?(?:(?:us|u\.s\.|american|canadian|australian|indian) )?(state|province|county|region|district)\b").ok()
    });
    let caps = KIND.as_ref()?.captures(question)?;
    Some(caps[1].to_lowercase())
}

/// Questions a fact on their subject does not answer: what someone did or does with it, yes-or-no
/// questions, lists and judgements, and questions about people they only call "they" or "he"
/// (characters of a story) or "you" (unless it is anyone: "what vitamin do you get from
/// sunlight", "in which country would I find the Geirangerfjord").
pub(super) fn asks_beyond_facts(question: &str) -> Option<&'static str> {
    static ACTION: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"(?i)^\s*what (?:do|does|did|can|could|should|would|will) ").ok());
    static PRONOUN: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r"(?i)\b(?:do|does|did|was|were|is|are|will|would|can|could|has|have|had) (?:they|he|she|we|you|i)\b",
        )
        .ok()
    });
    // "What vitamin do you get from sunlight", "in which country would I find X": "you" is anyone,
    // asked which thing; "how many trees do you need to plant" asks for advice.
    static GENERIC_PERSON: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(?:which|what) [\w-]+(?: [\w-]+)? (?:do|does|would|can|could|will) (?:you|we|i) (?:get|find|see|visit|perform|hear|use|call|eat|hit|do|play|score|throw|kick|wear)\b").ok()
    });
    // "Is Ganymede in the Milky Way?": a yes or no, which a sentence about one of its words is not.
    static YES_NO: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*(?:is|are|was|were|does|do|did|can|could|will|would|has|have|had|should|shall|am)\b").ok()
    });
    // "List the US states that border Mexico", "what are the Four Noble Truths", "which one is
    // better", "the intention/conclusions of …": a list, a judgement, or two things asked as one.
    static LIST_OR_JUDGEMENT: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*(?:list|enumerate|name all|name every)\b|\b(?:which|what)(?: one)? (?:is|was|are|were) (?:better|worse)\b|\bbetter than\b|\b(?:top )?(?:[2-9]|[1-9][0-9]) (?:\w+est|most|best)\b|^\s*what (?:are|were) (?:the )?(?:two|three|four|five|six|seven|eight|nine|ten|twelve|[2-9]|[1-9][0-9]) \w|\b[a-z]{4,}/[a-z]{4,}\b").ok()
    });
    // "What does X stand for / mean" ask for a definition; "what money do they use in Mexico"
    // means people there in general; "what do you call a baby kangaroo" asks a name (also after
    // a lead-in: "In bowling, what do you call …"); "what does an anemometer measure", "what do
    // pandas eat" ask what a thing is for, which its entry says.
    static DEFINITION_OR_HABIT: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r"(?i)\b(?:stand for|short for|mean|means)\b|\bdo (?:they|people) (?:speak|call|celebrate|use|eat|drink)\b[^?]*\bin\b|\bwhat (?:do|does) (?:you|we|people|one) call\b|^\s*what (?:do|does) (?:an? |the )?[\w-]+(?: [\w-]+)? (?:measure|detect|produce|secrete|eat)\s*[?.!]*$",
        )
        .ok()
    });
    // "Who was Rhett Butler in Gone with the Wind": a role in a work, which a summary of the work
    // names among others.
    static ROLE_IN_WORK: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"(?i)^\s*who (?:is|was|played) .+ in (?:the )?[a-z]").ok());
    // "Who is the author of The Catcher in the Rye": the maker of a work, not a role in it.
    static MAKER_OF: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*who (?:is|was) the (?:author|writer|creator|director|composer|painter|founder|inventor|designer|architect|(?:lead )?singer) of\b").ok()
    });
    // "Who was the first person in space": a record, not a role.
    static RECORD_HOLDER: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*who (?:is|was) the (?:first|last|only|youngest|oldest) (?:\w+ ){1,3}(?:in|on|to) ").ok()
    });
    // "Why is the sky blue", "what causes the seasons", "how does a vaccine work", "what are the
    // benefits of exercising": an explanation,
    // which a sentence that shares the words is not. "How many", "how tall" are facts.
    static EXPLANATION: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*(?:why\b|what (?:causes|caused|makes|made) |how (?:does|do|did|can|could|should|would|is|are|was|were) |what are (?:the |some )?(?:benefits|advantages|disadvantages|pros|cons|risks|dangers|effects|consequences|reasons)\b)").ok()
    });
    // "What is the purpose of life": a question of meaning, which a gloss of "life" or of a
    // scripture does not answer.
    static MEANING_OF_LIFE: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(?:meaning|purpose|point|goal|sense) of (?:life|existence|living|being alive|it all|the universe)\b")
            .ok()
    });
    if EXPLANATION.as_ref().is_some_and(|re| re.is_match(question)) {
        Some("explanations (why, how, what causes)")
    } else if YES_NO.as_ref().is_some_and(|re| re.is_match(question)) {
        Some("yes-or-no questions")
    } else if LIST_OR_JUDGEMENT.as_ref().is_some_and(|re| re.is_match(question)) {
        Some("lists and judgements")
    } else if asks_through_another(question) {
        Some("one fact found through another")
    } else if MEANING_OF_LIFE.as_ref().is_some_and(|re| re.is_match(question)) {
        Some("questions of meaning and value")
    } else if DEFINITION_OR_HABIT.as_ref().is_some_and(|re| re.is_match(question)) {
        None
    } else if ROLE_IN_WORK.as_ref().is_some_and(|re| re.is_match(question))
        && !question.contains(" in the world")
        && !MAKER_OF.as_ref().is_some_and(|re| re.is_match(question))
        && !RECORD_HOLDER.as_ref().is_some_and(|re| re.is_match(question))
    {
        Some("who someone is in a story")
    } else if ACTION.as_ref().is_some_and(|re| re.is_match(question)) {
        Some("what someone does with something")
    } else if PRONOUN.as_ref().is_some_and(|re| re.is_match(question))
        && !GENERIC_PERSON.as_ref().is_some_and(|re| re.is_match(question))
    {
        Some("questions about people named only by a pronoun")
    } else {
        None
    }
}

/// "the currency used in the country whose capital is Nairobi", "what river flows through the
/// capital of Hungary", "when did the father of Queen Elizabeth II die": one fact found through
/// another, which a sentence about either does not answer. "What is the capital of Hungary" and
/// "who was the father of …" ask the relation itself.
fn asks_through_another(question: &str) -> bool {
    static WHOSE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?i)^\s*\S.*\bwhose\b").ok());
    static RELATION_OF: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\bthe (?:capital|father|mother|son|daughter|wife|husband|brother|sister|founder|author|inventor|creator|director|composer|president|king|queen|leader|successor|predecessor|birthplace|currency) of\b").ok()
    });
    static ASKS_THE_RELATION: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(
            r"(?i)^\s*(?:(?:[\w']+\s+){0,3}(?:is|was|are|were|serves as|served as|acts as)|(?:what|who|which|where)(?:'s|s)?|name|tell me)?\s*$",
        )
        .ok()
    });
    // The question is the last sentence: "Going on safari soon! What's the currency of Kenya?"
    // asks the relation itself.
    let question = last_sentence(question);
    let nested = RELATION_OF.as_ref().and_then(|re| re.find(question)).is_some_and(|m| {
        !ASKS_THE_RELATION
            .as_ref()
            .is_some_and(|re| re.is_match(&question[..m.start()]))
    });
    nested || WHOSE.as_ref().is_some_and(|re| re.is_match(question))
}

/// The last sentence of a message ("I'm doing a crossword. What's the capital of Portugal?" →
/// "What's the capital of Portugal?").
fn last_sentence(text: &str) -> &str {
    let body = text.trim_end().trim_end_matches(['?', '!', '.']);
    match body.rfind(['.', '!', '?']) {
        Some(at) if text[at + 1..].starts_with(char::is_whitespace) => text[at + 1..].trim_start(),
        _ => text,
    }
}

/// For "how many X in a Y": Y.
pub(super) fn per_unit(question: &str) -> Option<String> {
    static PER: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)\bhow many [\w-]+ (?:are )?(?:there )?(?:in|per) (?:a|an|one) ([\w-]+)").ok()
    });
    let caps = PER.as_ref()?.captures(question)?;
    Some(caps[1].to_lowercase())
}

/// A sentence from the middle of a summary says "It is the highest mountain in Africa"; alone, as
/// an answer, it must say what "it" is.
pub(super) fn name_the_subject(sentence: &str, subject: &str) -> String {
    // An entry's short description, which the corpus keeps in parentheses after its summary
    // ("(American tennis player (born 1981).)"), is shown as what it describes.
    if let Some(inner) = sentence.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
        if !subject.is_empty()
            && inner.chars().filter(|&c| c == '(').count() == inner.chars().filter(|&c| c == ')').count()
        {
            return format!("{subject}: {inner}");
        }
    }
    for pronoun in ["It ", "He ", "She ", "They "] {
        if let Some(rest) = sentence.strip_prefix(pronoun) {
            if !subject.is_empty() {
                return format!("{subject} {rest}");
            }
        }
    }
    // "At the mean surface level, the atmosphere reaches 737 K, making it the hottest planet":
    // a sentence that says "it" or "its" of a subject it never names is shown with that subject.
    let said: HashSet<String> = words(sentence).collect();
    let names_subject = words(subject).any(|w| said.contains(&w));
    if !subject.is_empty()
        && !names_subject
        && ["it", "its", "he", "his", "she", "her", "they", "their"]
            .iter()
            .any(|p| said.contains(*p))
    {
        return format!("{subject}: {sentence}");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentence_alone_says_what_it_is_about() {
        assert_eq!(
            name_the_subject("It is the highest mountain in Africa.", "Kilimanjaro"),
            "Kilimanjaro is the highest mountain in Africa."
        );
        assert_eq!(
            name_the_subject(
                "At the surface it reaches 737 K, making it the hottest planet.",
                "Venus"
            ),
            "Venus: At the surface it reaches 737 K, making it the hottest planet."
        );
        assert_eq!(
            name_the_subject("Venus is hot; its air is thick.", "Venus"),
            "Venus is hot; its air is thick."
        );
        assert_eq!(
            name_the_subject("(American tennis player (born 1981).)", "Serena Williams"),
            "Serena Williams: American tennis player (born 1981)."
        );
        // Not one parenthesis holding the whole sentence.
        assert_eq!(
            name_the_subject("(a) first, (b) second", "List"),
            "(a) first, (b) second"
        );
    }

    #[test]
    fn a_maker_is_not_the_person_a_work_is_named_after() {
        let asked = |terms: &[&str]| Asked {
            expected: AnswerType::Person,
            terms: terms.iter().map(|t| t.to_string()).collect(),
            asks_maker: true,
            abbreviation: None,
            superlative: None,
        };
        let ray = asked(&["direct", "ray"]);
        let film = "Ray is a 2004 American biographical film on the life of musician Ray Charles.";
        assert!(!fits_question(&ray, film));
        assert!(fits_question(&ray, "Ray was directed by Taylor Hackford."));
        assert!(fits_question(&ray, "He directed Ray in 2004."));
        // Outside a maker question, a name past the question's words still counts.
        let who = Asked {
            asks_maker: false,
            ..asked(&["ray"])
        };
        assert!(fits_question(&who, film));
    }

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
        // Not a person's name, or dates that are not a life, or dates after the first sentence,
        // or the life of another person the sentence names.
        assert_eq!(
            said(
                "Water Lilies (Monet series)",
                "Water Lilies is a series of oil paintings by Claude Monet (1840–1926). They depict his garden."
            ),
            None
        );
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

    /// These tests hold which sentence the reader picks (its ranking) at a lenient threshold, or
    /// a refusal that holds whatever the threshold; `min_confidence` is the language packs' key.
    #[test]
    fn the_answer_type_follows_the_question_word() {
        assert_eq!(AnswerType::of_question("Who discovered oxygen?"), AnswerType::Person);
        assert_eq!(AnswerType::of_question("where is Lima"), AnswerType::Place);
        assert_eq!(AnswerType::of_question("When was gold found"), AnswerType::Year);
        assert_eq!(AnswerType::of_question("whose idea was it"), AnswerType::Any);
        assert!(AnswerType::Person.fits("Discovered by Henry Cavendish in 1776."));
        assert!(AnswerType::Person.fits("shakespeare (noun): English poet and dramatist (1564-1616)."));
        assert!(!AnswerType::Person.fits("hamlet (noun): a community of people smaller than a village."));
        // What an abbreviation stands for is no name, however capitalised.
        assert!(!AnswerType::Person.fits("VIM: 1. <messaging> Vendor Independent Messaging."));
        assert!(AnswerType::Person.fits("VIM was written by Bram Moolenaar."));
        assert!(AnswerType::Place.fits("Lima is a city in Peru."));
        assert!(!AnswerType::Place.fits("entropy (noun): a measure of disorder."));
    }

    #[test]
    fn web_titles_name_their_subject_without_the_site() {
        assert_eq!(entity("Lima - Wikipedia"), "Lima");
        assert_eq!(entity("Billing › Refunds"), "Refunds");
        assert_eq!(entity("Lima, Peru"), "Lima");
    }
}
