//! The reader, pure: one learned, calibrated model in place of per-question-type rules. It reads
//! the question once (what type of answer it asks for, its content words, the subject of a "what
//! is X"), takes every sentence of the top hits of any backend as a candidate answer, describes
//! each with general features (how much of the question the sentence and its title cover, whether
//! the answer type fits, the hit's rank and source, the sentence's place, a rival subject that
//! scores as well), and scores it with a logistic regression whose output is the probability that
//! the sentence holds the right answer. The best candidate answers when that probability reaches
//! the threshold chosen on held-out questions for the precision target; otherwise the request
//! escalates to the LLM.
//!
//! The weights are trained by distant supervision ([`fit`], run by `ecoroute train-reader`): a
//! candidate is positive when it contains a gold answer of its question, over Natural Questions,
//! TriviaQA, typed chatbot lookups and real chatbot first messages searched in the shipped index.
//! The model ships in the binary (`models/reader.json`), with the threshold and the figures it was
//! chosen on.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::evidence::{self, AnswerType, Asked};
use super::question::words;
use super::question::{self, mentions};
use super::Hit;
use crate::classify::text::is_stopword;
use crate::classify::trees::{self, Trees};

/// How many sentences of each hit are candidates: summaries put the answer early, and later
/// sentences are mostly asides.
const SENTENCES_PER_HIT: usize = 8;
/// Below this length a definition's opening sentence is shown with the next one.
const DEFINITION_LEAD_CHARS: usize = 200;

/// One candidate answer: a sentence of a hit, with what the model reads of it.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// Index of the hit in the backend's list.
    pub hit: usize,
    /// The sentence as the answer says it (a leading pronoun replaced by the subject).
    pub text: String,
    /// The kind of source it comes from ("wikipedia", "wordnet", …): training reads it.
    pub source: &'static str,
    pub features: Vec<(String, f64)>,
}

/// The trained model: a bias, named weights, the threshold and how it was chosen.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReaderModel {
    pub bias: f64,
    /// The probability a best candidate must reach to be given as the answer.
    pub threshold: f64,
    /// What the threshold was chosen for, and on what: written by `train-reader`.
    pub provenance: String,
    pub weights: HashMap<String, f64>,
    /// Boosted trees fitted on top of the weights (the interactions a linear model misses); none
    /// in a model trained without them.
    #[serde(default, skip_serializing_if = "Trees::is_empty")]
    pub trees: Trees,
}

static BUILTIN: LazyLock<Option<ReaderModel>> =
    LazyLock::new(|| serde_json::from_str(include_str!("../../models/reader.json")).ok());

impl ReaderModel {
    /// The model shipped in the binary. `None` only if the file in the repository is broken, which
    /// a unit test rules out.
    pub(crate) fn builtin() -> Option<&'static ReaderModel> {
        BUILTIN.as_ref()
    }

    /// The probability that a candidate with these features is a right answer.
    pub(crate) fn probability(&self, features: &[(String, f64)]) -> f64 {
        crate::classify::model::sigmoid(self.linear(features) + self.trees.margin(features))
    }

    /// The logistic regression's margin alone: the base the trees are fitted on.
    fn linear(&self, features: &[(String, f64)]) -> f64 {
        features.iter().fold(self.bias, |z, (name, x)| {
            z + self.weights.get(name).copied().unwrap_or(0.0) * x
        })
    }

    /// Fits boosted trees on top of the weights, on the same examples.
    pub(crate) fn boost(&mut self, examples: &[Example], params: &trees::Params) {
        let (names, rows) = indexed(examples);
        let labels: Vec<bool> = examples.iter().map(|e| e.label).collect();
        let base: Vec<f64> = examples.iter().map(|e| self.linear(&e.features)).collect();
        self.trees = trees::fit(&names, &rows, &labels, &base, params);
    }
}

/// "samsung is from what country", "blue and yellow make what color": "which" or "what" before a
/// noun, after the words it asks about ("explain what an algorithm is" asks no kind).
fn asks_which_at_the_end(q: &str) -> bool {
    let said: Vec<&str> = q.split_whitespace().collect();
    said.windows(2).skip(1).any(|pair| {
        matches!(pair[0], "which" | "what")
            && !matches!(
                pair[1],
                "is" | "was" | "are" | "were" | "does" | "do" | "did" | "a" | "an" | "the" | "it" | "this" | "that"
            )
    })
}

/// What a question asks for, as one word: the model learns a bias and interactions per type.
fn question_type(question: &str) -> &'static str {
    let q = question.trim_start().to_lowercase();
    let q = q.strip_prefix("and ").unwrap_or(&q);
    // "In which country is Petra?", "By whom was Hamlet written?": the question word after a
    // leading preposition is the type asked, as at the start.
    let q = q
        .split_once(' ')
        .filter(|(first, rest)| {
            crate::classify::text::is_preposition(first)
                && ["which ", "what ", "whom ", "whose "]
                    .iter()
                    .any(|w| rest.starts_with(w))
        })
        .map_or(q, |(_, rest)| rest);
    let starts = |w: &str| q.starts_with(w) && q[w.len()..].starts_with([' ', '\'', '’', 's']);
    if definition_subject(question).is_some() {
        "definition"
    } else if q.contains("stand for") || q.contains(" mean") {
        "meaning"
    } else if starts("when") || q.contains("what year") || q.contains("which year") {
        "when"
    } else if q.contains("how many") {
        "how_many"
    } else if q.contains("how much") {
        "how_much"
    } else if q.starts_with("how long")
        || q.starts_with("how far")
        || q.starts_with("how tall")
        || q.starts_with("how high")
        || q.starts_with("how big")
        || q.starts_with("how old")
        || q.starts_with("how deep")
    {
        "how_measure"
    } else if starts("who") || starts("whom") || starts("whose") {
        "who"
    } else if starts("where") {
        "where"
    } else if starts("which") || q.starts_with("what country") || q.starts_with("what city") {
        "which"
    } else if starts("what") || starts("whats") {
        "what"
    } else if starts("name") || starts("list") {
        "name"
    } else if asks_which_at_the_end(q) {
        "which"
    } else {
        "other"
    }
}

/// The closed class a question's answer belongs to: "which country is Timbuktu in", "what
/// continent is Mongolia on", "which planet is closest to the Sun", "the largest ocean". Its
/// answer must name a member of the class; a sentence that names none ("a tower in Pisa", "the
/// point of an orbit nearest the sun") fills no slot.
fn closed_class_asked(question: &str) -> Option<&'static str> {
    static CLASS: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(
            r"(?i)\b(?:(?:which|what)\s+(?:[a-z-]+\s+)?|(?:largest|biggest|smallest|hottest|coldest|closest|nearest|farthest|furthest|brightest|densest)\s+)(country|continent|planet|ocean|sport|instrument)\b",
        )
        .ok()
    });
    let caps = CLASS.as_ref()?.captures(question)?;
    Some(match caps[1].to_lowercase().as_str() {
        "country" => "country",
        "continent" => "continent",
        "planet" => "planet",
        "ocean" => "ocean",
        "sport" => "sport",
        _ => "instrument",
    })
}

/// Sports, and those who play them.
const SPORTS: &str = "tennis, golf, golfer, football, footballer, soccer, basketball, baseball, cricket, \
     cricketer, rugby, hockey, ice hockey, boxing, boxer, swimming, swimmer, cycling, cyclist, \
     athletics, sprinter, gymnastics, gymnast, skiing, skier, volleyball, badminton, table \
     tennis, wrestling, wrestler, snooker, chess, racing driver, skating, skater, surfing, \
     surfer, fencing, fencer, rowing, rower, sailing, polo, handball, lacrosse, softball, \
     archery, judo, karate, taekwondo, triathlon, curling, bowling, darts, marathon, sumo, \
     squash, netball, motorsport, climbing, mountaineer, weightlifting, decathlon";
/// Instruments, and those who play them.
const INSTRUMENTS: &str = "piano, pianist, guitar, guitarist, violin, violinist, trumpet, trumpeter, saxophone, \
     saxophonist, drums, drummer, cello, cellist, bass, bassist, flute, flautist, flutist, \
     clarinet, clarinetist, clarinettist, organ, organist, harp, harpist, trombone, trombonist, \
     viola, violist, banjo, harmonica, accordion, sitar, ukulele, oboe, bassoon, tuba, keyboard, \
     keyboardist, harpsichord, lute, mandolin, percussion, percussionist";

/// The members of each closed class, by their names as written.
static CLASS_MEMBERS: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    let mut members: HashMap<&'static str, &'static str> =
        crate::calc::country_names().map(|name| (name, "country")).collect();
    // A sport or an instrument is also named by its player ("a professional golfer", "a jazz
    // trumpeter"), which is how an entry's lead says what someone plays.
    let fixed: [(&str, &[&str]); 3] = [
        (
            "continent",
            &[
                "Africa",
                "Antarctica",
                "Asia",
                "Europe",
                "North America",
                "South America",
                "Oceania",
                "Australia",
            ],
        ),
        (
            "planet",
            &[
                "Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune", "Pluto",
            ],
        ),
        (
            "ocean",
            &["Pacific", "Atlantic", "Indian", "Arctic", "Southern", "Antarctic"],
        ),
    ];
    for (class, names) in fixed {
        for name in names {
            members.insert(name, class);
        }
    }
    for (class, names) in [("sport", SPORTS), ("instrument", INSTRUMENTS)] {
        for name in names.split(", ") {
            members.insert(name, class);
        }
    }
    members
});

/// Whether the text names a member of `class` that the question does not name itself. Names are
/// matched as written ("Indian Ocean", not "southern Jordan"), or in any case for a hit's title,
/// which a dictionary writes in lower case ("mercury (noun): the smallest planet").
fn names_member(text: &str, class: &str, asked: &[String], any_case: bool) -> bool {
    let words: Vec<&str> = crate::classify::text::word_slices(text).collect();
    (0..words.len()).any(|start| {
        (1..=3).filter(|n| start + n <= words.len()).any(|n| {
            let span = &words[start..start + n];
            let name = if any_case {
                span.iter()
                    .map(|w| crate::calc::capitalise(w))
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                span.join(" ")
            };
            // Sports and instruments are common nouns, written in any case. (Colours are no class:
            // "Yellow is a color between green and orange" names one in passing.)
            let common = matches!(class, "sport" | "instrument");
            let member = |name: &str| CLASS_MEMBERS.get(name).is_some_and(|c| *c == class);
            (member(&name) || (common && member(&name.to_lowercase())))
                && !span.iter().any(|w| holds_word(asked, &w.to_lowercase()))
        })
    })
}

/// For "what is X", "whats a X", "define X", "who is X", "X?": the subject phrase X.
fn definition_subject(question: &str) -> Option<String> {
    static DEFINITION: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(r"(?i)^\s*(?:(?:what|who)(?:'s|’s| is| are| was| were|s)|define|definition of|meaning of|explain what)\s+(?:(?:a|an|the)\s+)?(.+?)[\s?.!]*$").ok()
    });
    let caps = DEFINITION.as_ref()?.captures(question)?;
    let subject = without_field(caps.get(1)?.as_str().trim());
    let n = words(subject).count();
    // "What is the capital of Peru" asks something about Peru, not what "capital of Peru" is.
    let relational = words(subject).any(|w| {
        matches!(
            w.as_str(),
            "of" | "in" | "for" | "by" | "from" | "between" | "on" | "at" | "to" | "with"
        )
    });
    // "What is the largest ocean" asks which thing holds a record, not what "largest ocean" is.
    let record = words(subject).any(|w| superlative(&w));
    ((1..=4).contains(&n) && !relational && !record).then(|| subject.to_string())
}

/// A definition asked within a field ("what is a deductible in insurance", "velocity in physics")
/// asks what the term is, not something about a place: the subject is the term, so that another
/// entry that merely mentions the term ("take-home pay: … after deductions for … insurance") is not
/// read as its definition. Only fields of knowledge are dropped, never a place ("the currency in
/// Brazil" stays a question about Brazil).
fn without_field(subject: &str) -> &str {
    for lead in [" in the context of ", " in "] {
        if let Some(at) = subject.to_ascii_lowercase().rfind(lead) {
            if at > 0 && question::field_named(&subject[at + lead.len()..]).is_some() {
                return subject[..at].trim_end();
            }
        }
    }
    subject
}

/// The one word a request for its meaning asks about: "what does 'vicarious' mean", "melancholy
/// meaning", "define gregarious", "the meaning of the word ostracize". `None` for anything else.
pub(super) fn meaning_word(question: &str) -> Option<String> {
    static MEANING: LazyLock<Vec<regex::Regex>> = LazyLock::new(|| {
        [
            r#"(?i)^\s*what does (?:the (?:word|term) )?["'“‘]?([a-z][a-z-]+)["'”’]? mean\b"#,
            r#"(?i)^\s*(?:(?:what is|what's|whats) )?(?:the )?(?:meaning|definition) of (?:the (?:word|term) )?["'“‘]?([a-z][a-z-]+)["'”’]?\s*[?.!]*\s*$"#,
            r#"(?i)^\s*define ["'“‘]?([a-z][a-z-]+)["'”’]?\s*[?.!]*\s*$"#,
            r#"(?i)^\s*["'“‘]?([a-z][a-z-]+)["'”’]? (?:meaning|definition)\s*[?.!]*\s*$"#,
        ]
        .iter()
        .filter_map(|p| regex::Regex::new(p).ok())
        .collect()
    });
    MEANING
        .iter()
        .find_map(|re| re.captures(question))
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_lowercase())
        .filter(|w| {
            !matches!(
                w.as_str(),
                "it" | "this" | "that" | "he" | "she" | "they" | "you" | "we"
            )
        })
}

/// Whether a hit is the entry of `word`: its title, less any "(…)", is that word or a form or
/// near spelling of it, or spells it out ("comma separated values" for "what does csv mean").
fn is_entry_of(hit: &Hit, word: &str) -> bool {
    let title = evidence::entity(&hit.title).to_lowercase();
    if spells_out(&title, word) {
        return true;
    }
    let mut title_words = words(&title);
    match (title_words.next(), title_words.next()) {
        (Some(t), None) => {
            t == word
                || question::same_term(&question::term(word), &question::term(&t))
                || question::same_term(word, &t)
        }
        _ => false,
    }
}

/// Whether `hit` is a dictionary's noun or adjective entry of the stem of `word`, a word in
/// "-ing" ("gaslight (noun)" for "gaslighting").
fn names_a_thing_for_a_doing(hit: &Hit, word: &str) -> bool {
    let title = evidence::entity(&hit.title).to_lowercase();
    word.len() > 5
        && word.ends_with("ing")
        && !title.ends_with("ing")
        && source_kind(&hit.source) == "wordnet"
        && !hit.text.contains("(verb)")
}

/// Whether an entry's title names any word of the subject, or spells one out: "JSON" for "a json
/// file", "comma separated values" for "a csv file", "Assembly language" for "the arm assembly
/// language"; not "sharding" for "a load balancer".
fn titled_like(title: &str, subject: &str) -> bool {
    let title = question::fold(evidence::entity(title)).to_lowercase();
    let title_terms = evidence::content_terms(&title);
    evidence::content_terms(&question::fold(subject)).iter().any(|t| {
        title_terms
            .iter()
            .any(|u| question::same_term(t, u) || question::same_term(u, t))
            || spells_out(&title, t)
    })
}

/// Whether a title spells out a short word as its abbreviation: "Gross domestic product" for
/// "gdp", "comma separated values" for "csv".
fn spells_out(title: &str, word: &str) -> bool {
    (2..=6).contains(&word.len()) && word.chars().all(|c| c.is_ascii_alphanumeric()) && question::expands(title, word)
}

/// Whether a sentence defines `subject` rather than mention it: the subject within its first
/// words and before what is said of them ("In mathematics, a quadratic equation is …", not "Soy
/// sauce is recognized for its … umami taste"), or as another name of the thing it defines ("…
/// also called H2O", "… (DNA)").
fn names_subject(sentence: &str, subject: &str) -> bool {
    const OPENING_CHARS: usize = 60;
    let text = question::fold(sentence).to_lowercase();
    let subject = question::fold(subject).to_lowercase();
    let Some(at) = text.find(&subject) else {
        return false;
    };
    let before = &text[..at];
    let said_of_another = [" is ", " are ", " was ", " were ", ": "]
        .iter()
        .any(|verb| before.contains(verb));
    (before.chars().count() <= OPENING_CHARS && !said_of_another)
        || before.ends_with("also called ")
        || before.ends_with("also known as ")
        || before.ends_with('(')
}

/// The record words that say the same: "largest" and "biggest", "tallest" and "highest".
fn record_twins(record: &str) -> &'static [&'static str] {
    const TWINS: &[&[&str]] = &[
        &["largest", "biggest"],
        &["tallest", "highest"],
        &["closest", "nearest"],
        &["longest"],
        &["smallest"],
        &["deepest"],
        &["oldest"],
        &["fastest"],
        &["hottest"],
        &["coldest"],
        &["heaviest"],
        &["lightest"],
        &["brightest"],
    ];
    TWINS.iter().find(|t| t.contains(&record)).copied().unwrap_or(&[])
}

/// Whether the sentence has the record word asked or its twin ("biggest" for "largest").
fn says_record(sentence: &str, record: &str) -> bool {
    let twins = record_twins(record);
    words(sentence).any(|w| w == record || twins.contains(&w.as_str()))
}

/// Whether a word ranks ("largest", "most"): a question with one asks which thing holds
/// the record. "-est" words that are not superlatives ("interest", "forest") are listed out.
fn superlative(word: &str) -> bool {
    const NOT: &[&str] = &[
        "interest",
        "forest",
        "test",
        "west",
        "rest",
        "nest",
        "guest",
        "quest",
        "chest",
        "harvest",
        "protest",
        "contest",
        "manifest",
        "honest",
        "modest",
        "everest",
        "budapest",
        "bucharest",
        "request",
        "conquest",
        "arrest",
        "digest",
        "priest",
        "pest",
        "vest",
        "zest",
        "crest",
        "inquest",
        "suggest",
        "invest",
        "attest",
        "detest",
        "infest",
        "earnest",
        "tempest",
    ];
    // Not "first" or "last": "the First Amendment", "the Last Supper" are names.
    matches!(word, "most" | "least") || (word.len() > 4 && word.ends_with("est") && !NOT.contains(&word))
}

/// A share as a bucket name: "0", "lt50", "lt100", "100".
fn share_bucket(x: f64) -> &'static str {
    if x <= 0.0 {
        "0"
    } else if x < 0.5 {
        "lt50"
    } else if x < 1.0 {
        "lt100"
    } else {
        "100"
    }
}

/// A measure asked ("how deep", "how tall", "how long" …).
struct Measure {
    /// The beginnings of the words a sentence giving it uses ("depth"; "height", "elevation",
    /// "stands"). The caller leaves out record words ("the deepest trench"), which name no measure.
    family: &'static [&'static str],
    /// Whether it is answered by a quantity with its unit, and if so whether two years may give
    /// it (a duration): "how old" is answered by a year of birth or founding, with no unit.
    quantity: Option<bool>,
}

/// The measure a question asks for; `None` for other questions.
fn measure_asked(question: &str) -> Option<Measure> {
    const HEIGHT: &[&str] = &["tall", "height", "high", "elevation", "altitude", "stand", "rise"];
    const FAMILIES: [(&str, &[&str], Option<bool>); 6] = [
        ("how deep", &["deep", "depth"], Some(false)),
        ("how tall", HEIGHT, Some(false)),
        ("how high", HEIGHT, Some(false)),
        (
            "how long",
            &["long", "length", "last", "dur", "minute", "hour", "day", "year", "week"],
            Some(true),
        ),
        ("how far", &["far", "distan", "away", "from"], Some(false)),
        (
            "how old",
            &["old", "age", "born", "found", "built", "year", "date"],
            None,
        ),
    ];
    let q = question.trim_start().to_lowercase();
    FAMILIES
        .iter()
        .find(|(start, _, _)| q.starts_with(start))
        .map(|&(_, family, quantity)| Measure { family, quantity })
}

/// Whether a sentence states a quantity with its unit ("42.195 km", "about 120 days", "8,848.86
/// m"), or, for a duration, two years ("began in 1939 and ended in 1945"): what "how long", "how
/// far", "how tall", "how high" and "how deep" ask for. A sentence that only names the measure
/// ("More than 800 marathons are held worldwide each year") does not.
fn states_quantity(sentence: &str, duration: bool) -> bool {
    static QUANTITY: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(
            r"(?i)(?:\d[\d,.]*(?:\s|-|\u{a0})*|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|hundred|thousand|million|billion)(?:\s|-|\u{a0})+)(?:km|kilomet(?:re|er)s?|m|met(?:re|er)s?|cm|mm|mi|miles?|ft|feet|foot|inch(?:es)?|yards?|yd|light[- ]years?|au|nmi|seconds?|min|minutes?|hrs?|hours?|days?|weeks?|months?|years?|decades?|centur(?:y|ies)|millenni(?:um|a))\b",
        )
        .ok()
    });
    static YEARS: LazyLock<Option<regex::Regex>> =
        LazyLock::new(|| regex::Regex::new(r"\b\d{3,4}\b.{0,60}?\b\d{3,4}\b").ok());
    let found = |re: &LazyLock<Option<regex::Regex>>| re.as_ref().is_some_and(|r| r.is_match(sentence));
    found(&QUANTITY) || (duration && found(&YEARS))
}

/// Whether a sentence closes a parenthesis it never opened: the tail of a split sentence.
fn closes_before_opening(sentence: &str) -> bool {
    sentence
        .find(')')
        .is_some_and(|close| sentence.find('(').is_none_or(|open| close < open))
}

/// The most content words in one run of words the question and the sentence share in the same
/// order ("first person to walk on the moon" in both: 4). Stop words carry a run but do not count.
fn phrase_run(question: &[String], sentence: &[String]) -> usize {
    let mut best = 0;
    // One row of the longest-common-substring table, counting content words only.
    let mut previous = vec![(0usize, 0usize); sentence.len() + 1];
    for q in question {
        let mut current = vec![(0usize, 0usize); sentence.len() + 1];
        for (j, s) in sentence.iter().enumerate() {
            if q == s {
                let (length, content) = previous[j];
                let content = content + usize::from(!is_stopword(q));
                current[j + 1] = (length + 1, content);
                best = best.max(content);
            }
        }
        previous = current;
    }
    best
}

/// How closely the question's words other than the subject sit together in the sentence: the
/// share of the window from the first to the last of them that they fill. "none" when fewer than
/// two of them are said.
fn density_bucket(terms: &[String], subject: &HashSet<String>, sentence: &[String]) -> &'static str {
    let focus: Vec<&String> = terms.iter().filter(|t| !mentions(subject, t)).collect();
    let positions: Vec<usize> = sentence
        .iter()
        .enumerate()
        .filter(|(_, w)| focus.iter().any(|t| question::same_term(t, w)))
        .map(|(i, _)| i)
        .collect();
    let (Some(first), Some(last)) = (positions.first(), positions.last()) else {
        return "none";
    };
    if positions.len() < 2 {
        return "none";
    }
    let share = positions.len() as f64 / (last - first + 1) as f64;
    if share >= 0.5 {
        "tight"
    } else if share >= 0.25 {
        "near"
    } else {
        "loose"
    }
}

/// The candidates of a question with their features, best hits first. `asked` is the question as
/// [`super::answer`] read it.
pub(super) fn candidates(question: &str, asked: &Asked, hits: &[&Hit]) -> Vec<Candidate> {
    let qt = question_type(question);
    let definition = definition_subject(question);
    let meaning = meaning_word(question);
    let expected = asked.expected;
    let top_score = hits.iter().map(|h| f64::from(h.score)).fold(f64::MIN, f64::max);
    let ratio = |h: &Hit| {
        if top_score > 0.0 {
            f64::from(h.score) / top_score
        } else {
            1.0
        }
    };
    let confidences: Vec<f64> = hits.iter().map(|h| evidence::hit_confidence(asked, h)).collect();
    let subjects: Vec<String> = hits.iter().map(|h| evidence::entity(&h.title).to_lowercase()).collect();
    let kind = evidence::kind_asked(question);
    let class = closed_class_asked(question);
    let unit = evidence::per_unit(question);
    let work = asked.asks_maker.then(|| evidence::work_asked_about(question)).flatten();
    let n_terms = asked.terms.len();
    let counted = counted_noun(question);
    let record = evidence::record_asked(question);
    let measure = measure_asked(question);
    let question_seq: Vec<String> = words(question).map(|w| question::term(&w)).collect();
    let making_terms: Vec<String> = MAKING.iter().map(|v| question::term(v)).collect();
    let making = |t: &String| making_terms.iter().any(|v| question::same_term(t, v));
    let asks_making = matches!(qt, "who" | "which") && asked.terms.iter().any(making);
    let composition_terms: Vec<String> = COMPOSITION.iter().map(|v| question::term(v)).collect();
    let composition = |t: &String| composition_terms.iter().any(|v| question::same_term(t, v));
    let asks_composition = asks_composition(question);
    // A closed class asked ("what sport", "which country") is said by naming a member, which
    // every candidate of such a question does, and a sport or an instrument that someone plays by
    // naming the player: "Tiger Woods is an American professional golfer".
    let class_terms: Vec<String> = match class {
        Some(c @ ("sport" | "instrument")) => vec![question::term(c), question::term("play")],
        Some(c) => vec![question::term(c)],
        None => Vec::new(),
    };
    let after_article = words_after_an_article(question);
    let question_digits: HashSet<&str> = question
        .split(|c: char| !c.is_ascii_digit())
        .filter(|r| !r.is_empty())
        .collect();
    // The share of each hit's subject that the question names ("Ray" in full for "who directed
    // Ray"; "Cosmic Ray" in part).
    let named_shares: Vec<f64> = hits
        .iter()
        .map(|h| {
            let title_terms = evidence::content_terms(evidence::entity(&h.title));
            if title_terms.is_empty() {
                return 0.0;
            }
            let named = title_terms
                .iter()
                .filter(|t| asked.terms.iter().any(|q| question::same_term(q, t)))
                .count();
            named as f64 / title_terms.len() as f64
        })
        .collect();
    let named_in_full = named_shares.iter().any(|&share| share >= 1.0);
    let life_asked = asked.asks_life();
    // What each hit's sentences offer for the slot: an answer that several independent hits give
    // ("1989" in the Berlin Wall's entry and in Honecker's) is more often right than one only one
    // hit gives. Definitions are left out: their fillers are any words of a gloss.
    let offered: Vec<Vec<HashSet<String>>> = hits
        .iter()
        .map(|h| {
            evidence::sentences(&h.text)
                .into_iter()
                .take(SENTENCES_PER_HIT)
                .map(|s| fillers(qt, s, &asked.terms, &question_digits))
                .collect()
        })
        .collect();
    let mut out = Vec::new();
    for (rank, hit) in hits.iter().enumerate() {
        let named_share = named_shares[rank];
        let named_elsewhere = named_share < 1.0 && named_in_full;
        let subject_name = evidence::entity(&hit.title);
        let subject = evidence::term_set(subject_name);
        // "Cosmic Ray" beside "Ray" for "who directed Ray": a subject the question names only in
        // part is another thing than the one it names in full.
        if named_elsewhere && named_share > 0.0 {
            continue;
        }
        let asks_what_it_is = asked.terms.iter().all(|t| mentions(&subject, t));
        let definition_matches = definition.as_deref().is_some_and(|d| {
            let d = question::fold(d).to_lowercase();
            let s = question::fold(subject_name).to_lowercase();
            // "what is gdp" is answered by "Gross domestic product": a short one-word subject
            // whose letters the title spells out.
            d == s || d.trim_end_matches('s') == s.trim_end_matches('s') || spells_out(&s, &d)
        });
        let rival = hits.iter().enumerate().any(|(j, other)| {
            j != rank
                && subjects[j] != subjects[rank]
                && confidences[j] >= confidences[rank] - 0.05
                && ratio(other) >= 0.5 * ratio(hit)
        });
        let same_subject_hits = subjects.iter().filter(|s| **s == subjects[rank]).count();
        let doc_terms = evidence::term_set(&format!("{} {}", hit.title, hit.text));
        let doc_cov = asked.terms.iter().filter(|t| mentions(&doc_terms, t)).count() as f64 / n_terms.max(1) as f64;
        let source = source_kind(&hit.source);
        // A place, a country's figures or a dated event say what something is called or where it
        // is, never what a word means: "what does gracias mean" is not answered by the town of
        // Gràcia, which the spelling step finds for the word the index lacks.
        if qt == "meaning" && matches!(source, "geonames" | "factbook" | "events") {
            continue;
        }
        // "What does 'vicarious' mean" is answered by the entry of "vicarious", not by another
        // word's that uses it ("vicarship: … vicariate", "Coventry: … ostracized"). An
        // abbreviation is read by the letters it stands for instead.
        if asked.abbreviation.is_none() && meaning.as_deref().is_some_and(|w| !is_entry_of(hit, w)) {
            continue;
        }
        // "gaslighting meaning" is not the gas light: a word in "-ing" asked is the doing, which
        // the entry of the bare noun does not say ("ghosting", "gaslighting").
        if meaning.as_deref().is_some_and(|w| names_a_thing_for_a_doing(hit, w)) {
            continue;
        }
        // "What is kriging" is not answered by an entry on something else that names kriging in
        // passing ("… applying techniques … such as kriging"): outside the subject's own entry, a
        // definition names its subject at its start, or as another name of the thing it defines
        // ("water (noun): … also called H2O").
        let elsewhere = definition
            .as_deref()
            .filter(|d| !definition_matches && meaning.is_none() && !titled_like(&hit.title, d));
        let all_sentences = evidence::sentences(&hit.text);
        let common_noun = asks_a_common_noun(&after_article, &hit.title);
        for (index, &sentence) in all_sentences.iter().take(SENTENCES_PER_HIT).enumerate() {
            // "what a limerick is": a dictionary's sense that names one place or one person ("port
            // city in southwestern Ireland") is not what "a limerick" is.
            if common_noun
                && ((source == "wordnet" && names_one_place_or_person(sentence))
                    || matches!(source, "geonames" | "factbook"))
            {
                continue;
            }
            if elsewhere.is_some_and(|d| !names_subject(sentence, d)) {
                continue;
            }
            // "What does PIN stand for" is answered by the words PIN stands for, not by a gloss
            // of "pin" (a piece of jewellery), however well the gloss scores otherwise.
            if asked
                .abbreviation
                .as_ref()
                .is_some_and(|a| !question::expands(sentence, a))
            {
                continue;
            }
            // "How deep is the Mariana Trench" is not answered by its length: a measure asked is
            // answered by a sentence that names that measure.
            // A record word is no measure: "the deepest trench, 200 km east of the islands".
            let names_measure = |family: &[&str]| {
                words(sentence).any(|w| !w.ends_with("est") && family.iter().any(|f| w.starts_with(f)))
            };
            if measure.as_ref().is_some_and(|m| {
                !names_measure(m.family) || m.quantity.is_some_and(|duration| !states_quantity(sentence, duration))
            }) {
                continue;
            }
            // "1450-1498); also called Cabot, John Cabot.": the tail of a sentence split inside
            // its parentheses, which says nothing on its own.
            if closes_before_opening(sentence) {
                continue;
            }
            let fits = evidence::fits_question(asked, sentence);
            // What the sentence adds to the question: a name, a number, a year the question does
            // not already hold. An answer says something new; a restatement does not.
            let new_name = evidence::new_names(sentence, &asked.terms);
            let new_number = sentence
                .split(|c: char| !c.is_ascii_digit())
                .any(|run| !run.is_empty() && !question_digits.contains(run));
            // The slot asked must be filled by something the question does not already say: a
            // "who" by a name, a "when" by a date, a "how many" by a figure. A sentence that
            // cannot answer the slot is no candidate at all.
            // A typed slot must also have the right kind of filler: a person for "who" (not a
            // tower), a date that is not a life's years for "when", a count that is not a year;
            // and "which state" is answered by a sentence that names a state.
            let typed_slot = matches!(qt, "who" | "when" | "how_many" | "how_much" | "how_measure");
            // "The Odyssey was written by Homer": one name after "by" is a maker too.
            let by_name = qt == "who" && by_a_name(sentence, &asked.terms);
            let new_place = evidence::new_names_where(sentence, &asked.terms, |w| !is_calendar_word(w));
            if !slot_filled(qt, sentence, new_name, new_place, &question_digits)
                || record
                    .as_ref()
                    .is_some_and(|(word, _, _)| only_below_first(sentence, word, &asked.terms))
                // A record is answered by a sentence that says it ("the smallest planet"), not by
                // one that names the holder among others ("eight planets: Mercury, Venus …").
                || record.as_ref().is_some_and(|(word, _, _)| !says_record(sentence, word))
                // "when was abraham lincoln born": the years in Carl Sandburg's gloss ("… his
                // biography of Abraham Lincoln (1878-1967)") are Sandburg's.
                || (life_asked && named_share == 0.0 && evidence::has_life_years(sentence))
                // "how many moons": a figure of moons, not the Moon's distance in kilometres.
                || counted.as_ref().is_some_and(|c| !PEOPLE.contains(&c.as_str()) && !counts(sentence, c))
                || (typed_slot && !fits && !by_name)
                || kind.as_ref().is_some_and(|k| !words(sentence).any(|w| &w == k))
                || class.is_some_and(|c| {
                    !names_member(sentence, c, &asked.terms, false) && !names_member(&hit.title, c, &asked.terms, true)
                })
            {
                continue;
            }
            let said = evidence::term_set(sentence);
            // "who made javascript" is answered in JavaScript's own entry by "Created by Brendan
            // Eich": any verb of making, with the maker's name after "by", says the verb asked.
            let made_by = named_share >= 1.0 && asks_making && made_by_a_name(sentence, &asked.terms);
            // "main ingredient in hummus", "what is miso made from": its own entry says what it is
            // made of ("a thick spread made from mashed chickpeas…") in other words.
            let composed = named_share >= 1.0 && asks_composition && states_composition(sentence);
            let says = |words: &HashSet<String>, t: &String| {
                mentions(words, t) || (made_by && making(t)) || (composed && composition(t))
            };
            let with_title = evidence::term_set(&format!("{} {sentence}", hit.title));
            let in_sentence = asked.terms.iter().filter(|t| says(&said, t)).count();
            let covered = asked.terms.iter().filter(|t| says(&with_title, t)).count();
            let missing = asked
                .terms
                .iter()
                .filter(|t| !mentions(&subject, t) && !mentions(&with_title, t))
                .count();
            let cov = covered as f64 / n_terms.max(1) as f64;
            let cov_sentence = in_sentence as f64 / n_terms.max(1) as f64;
            let slen = words(sentence).count();
            let sidx = index.min(3);
            let mut f: Vec<(String, f64)> = Vec::with_capacity(48);
            let mut on = |name: String| f.push((name, 1.0));
            on(format!("qt={qt}"));
            on(format!("terms={}", n_terms.min(5)));
            on(format!("rank={}", rank.min(4)));
            on(format!("sidx={sidx}"));
            on(format!("src={source}"));
            on(format!("qt={qt}&src={source}"));
            on(format!("qt={qt}&sidx={sidx}"));
            on(format!("cov={}", share_bucket(cov)));
            on(format!("covs={}", share_bucket(cov_sentence)));
            on(format!("qt={qt}&cov={}", share_bucket(cov)));
            on(format!("miss={}", missing.min(2)));
            on(format!("qt={qt}&miss={}", missing.min(2)));
            on(format!("named={}", share_bucket(named_share)));
            on(format!("qt={qt}&named={}", share_bucket(named_share)));
            on(format!("whatitis={asks_what_it_is}&sidx={sidx}"));
            on(format!("fits={fits}&qt={qt}"));
            on(format!("rival={rival}&whatitis={asks_what_it_is}"));
            on(format!("samesubject={}", same_subject_hits.min(3)));
            on(format!("named_elsewhere={named_elsewhere}"));
            on(format!(
                "slen={}",
                match slen {
                    0..=5 => "tiny",
                    6..=12 => "short",
                    13..=30 => "mid",
                    _ => "long",
                }
            ));
            on(format!("doccov={}", share_bucket(doc_cov)));
            if definition.is_some() {
                on(format!("def&subject={definition_matches}&sidx={sidx}"));
                on(format!("def&subject={definition_matches}&src={source}"));
                on(format!("def&rank={}&subject={definition_matches}", rank.min(4)));
            }
            if sentence.starts_with(|c: char| c.is_ascii_digit()) {
                on("starts_with_digit".into());
            }
            if matches!(expected, AnswerType::Number | AnswerType::Year) {
                on(format!(
                    "digits={}&qt={qt}",
                    sentence.chars().any(|c| c.is_ascii_digit())
                ));
            }
            if let Some(unit) = &unit {
                on(format!("unit_is_subject={}", subject.contains(&question::term(unit))));
            }
            if let Some(work) = &work {
                let about = evidence::phrase_in(&hit.title, work);
                on(format!("work_named={}", about || evidence::phrase_in(sentence, work)));
            }
            if let Some(abbreviation) = &asked.abbreviation {
                on(format!("expands={}", question::expands(sentence, abbreviation)));
            }
            // Looser than `record`: the record word (or its twin: "biggest" for "largest") with
            // the kind up to eight words after it ("the world's largest desert", "the largest and
            // deepest of Earth's five oceanic divisions").
            if let Some((record, kind, _)) = &record {
                let said: Vec<String> = words(sentence).collect();
                let twins = record_twins(record);
                let at = said.iter().position(|w| twins.contains(&w.as_str()));
                let near = at.is_some_and(|i| said[i + 1..].iter().take(8).any(|w| w.starts_with(kind.as_str())));
                on(format!("recordword={}&near={near}", at.is_some()));
            }
            if let Some(record) = &asked.superlative {
                let holds = record.is_match(sentence) && !evidence::ranked_below_first(sentence);
                on(format!("record={holds}"));
            }
            if sentence.starts_with("It ")
                || sentence.starts_with("He ")
                || sentence.starts_with("She ")
                || sentence.starts_with("They ")
            {
                on("pronoun_start".into());
            }
            if definition.is_none() {
                let mine = &offered[rank][index];
                let agreeing = offered
                    .iter()
                    .enumerate()
                    .filter(|(j, other)| {
                        *j != rank && subjects[*j] != subjects[rank] && other.iter().any(|o| !o.is_disjoint(mine))
                    })
                    .count();
                on(format!("agree={}&qt={qt}", agreeing.min(2)));
            }
            on(format!("newname={new_name}&qt={qt}"));
            on(format!("newnumber={new_number}&qt={qt}"));
            let copula = copula_lead(sentence, subject_name);
            on(format!("copula={copula}&qt={qt}"));
            on(format!("copula={copula}&named={}", share_bucket(named_share)));
            if let Some(pos) = wordnet_pos(sentence) {
                on(format!("pos={pos}&qt={qt}"));
            }
            // The conjunctions a linear model cannot form alone: the subject named, every other
            // word of the question in the sentence, the answer type fits, and something new said.
            let focus_in_sentence = asked
                .terms
                .iter()
                .filter(|t| !mentions(&subject, t))
                .filter(|t| !class_terms.iter().any(|c| question::same_term(t, c)))
                .all(|t| says(&said, t));
            let says_new = new_name || new_number || definition.is_some() || composed;
            let strict = named_share >= 1.0 && focus_in_sentence && fits && says_new;
            on(format!("strict={strict}&qt={qt}"));
            // "how many moons": a number next to "moons", not any number in a sentence on the Moon.
            if let Some(counted) = &counted {
                on(format!("counted={}", counts(sentence, counted)));
            }
            // "who wrote 1984" against "(1896-1984)": only the question's figures matched.
            let words_matched = asked
                .terms
                .iter()
                .filter(|t| !t.chars().all(|c| c.is_ascii_digit()))
                .any(|t| mentions(&with_title, t));
            on(format!("words_matched={words_matched}"));
            // "the second-largest", "until 1970", "one of the": a record, but not the one asked.
            on(format!(
                "below_first={}&qt={qt}",
                evidence::ranked_below_first(sentence)
            ));
            on(format!("focus={focus_in_sentence}&fits={fits}&new={says_new}"));
            on(format!(
                "focus={focus_in_sentence}&named={}&qt={qt}",
                share_bucket(named_share)
            ));
            if definition.is_some() {
                on(format!("def&subject={definition_matches}&copula={copula}&sidx={sidx}"));
            }
            // Word order: "first person to walk on the Moon" said in so many words is stronger
            // evidence than the same words scattered over a long sentence.
            let sentence_seq: Vec<String> = words(sentence).map(|w| question::term(&w)).collect();
            let run = phrase_run(&question_seq, &sentence_seq);
            on(format!("phrase={}&qt={qt}", run.min(3)));
            on(format!(
                "phrase_share={}",
                share_bucket(run as f64 / n_terms.max(1) as f64)
            ));
            on(format!(
                "dense={}",
                density_bucket(&asked.terms, &subject, &sentence_seq)
            ));
            f.push(("cov_x".into(), cov));
            f.push(("covs_x".into(), cov_sentence));
            f.push(("score_x".into(), ratio(hit)));
            f.push(("conf_x".into(), confidences[rank].min(1.0)));
            // A definition is the lead of its entry, as a search engine shows it: the opening
            // sentence and, when it is short, the one after ("Anxiety is an emotion …. It is
            // often accompanied by …"), which is what the gold words of a definition are read in.
            let mut text = evidence::name_the_subject(sentence, subject_name);
            // Not in a dictionary, whose next sentence is another sense.
            let dictionary = matches!(source, "wordnet" | "foldoc");
            if definition_matches && !dictionary && index == 0 && text.len() < DEFINITION_LEAD_CHARS {
                if let Some(next) = all_sentences.get(1) {
                    if text.len() + next.len() < 2 * DEFINITION_LEAD_CHARS {
                        text = format!("{text} {next}");
                    }
                }
            }
            out.push(Candidate {
                hit: rank,
                text,
                source,
                features: f,
            });
        }
    }
    out
}

/// Whether the sentence opens by saying what its subject is: "The Odyssey is …", "Homer was …",
/// "baize (noun): …".
fn copula_lead(sentence: &str, subject: &str) -> bool {
    let lower = sentence.to_lowercase();
    let subject = subject.to_lowercase();
    let rest = lower.strip_prefix("the ").unwrap_or(&lower);
    let rest = rest
        .strip_prefix(subject.as_str())
        .or_else(|| lower.strip_prefix(subject.as_str()));
    rest.is_some_and(|r| {
        let r = r.trim_start_matches(|c: char| c != ' ' && c != '(' && !c.is_alphanumeric());
        let r = r.trim_start();
        // "Ray Charles Robinson (September 23, 1930 – …) was": a parenthesis before the verb.
        let r = if r.starts_with('(') {
            r.split_once(") ").map_or(r, |(_, after)| after)
        } else {
            r
        };
        [
            "is ",
            "was ",
            "are ",
            "were ",
            "refers ",
            "means ",
            "(noun)",
            "(verb)",
            "(adjective)",
            "(adverb)",
            "(",
        ]
        .iter()
        .any(|v| r.starts_with(v))
    })
}

/// Whether the sentence names the record asked only as a lower rank ("Africa's sixth-largest
/// lake", "the second biggest"): it is about another thing than the record holder, whatever else
/// it shares with the question.
fn only_below_first(sentence: &str, record: &str, asked: &[String]) -> bool {
    let said: Vec<String> = words(sentence).collect();
    let twins = record_twins(record);
    let ordinal = |w: &str| {
        matches!(
            w,
            "second"
                | "third"
                | "fourth"
                | "fifth"
                | "sixth"
                | "seventh"
                | "eighth"
                | "ninth"
                | "tenth"
                | "eleventh"
                | "twelfth"
        ) || w.ends_with("teenth")
            || w.ends_with("tieth")
            || (w.len() > 2
                && w.starts_with(|c: char| c.is_ascii_digit())
                && ["nd", "rd", "th"].iter().any(|s| w.ends_with(s)))
    };
    // "one of the longest rivers", "the largest by population" (for the largest by area): a
    // record among several, or by a measure the question does not ask for.
    let among_several = |i: usize| i >= 3 && said[i - 3..i] == ["one", "of", "the"];
    let by_another_measure = |i: usize| {
        (i + 1..(i + 4).min(said.len()))
            .find(|&j| said[j] == "by")
            .and_then(|j| said.get(j + 1))
            .is_some_and(|measure| !holds_word(asked, measure))
    };
    let ranks: Vec<bool> = said
        .iter()
        .enumerate()
        .filter(|(_, w)| twins.contains(&w.as_str()))
        .map(|(i, _)| (i > 0 && ordinal(&said[i - 1])) || among_several(i) || by_another_measure(i))
        .collect();
    let scopes = scoped_elsewhere(sentence, twins, asked);
    !ranks.is_empty()
        && ranks
            .iter()
            .enumerate()
            .all(|(k, &ranked)| ranked || scopes.get(k).copied().unwrap_or(false))
}

/// For each record word of the sentence, in order: whether it holds only within a named place the
/// question does not name ("the largest island in Canada", "the highest mountain of South Africa"
/// for the highest in Africa) or among a named kind ("the largest Portuguese-speaking country").
fn scoped_elsewhere(sentence: &str, twins: &[&str], asked: &[String]) -> Vec<bool> {
    // Words, and the punctuation between them as tokens of its own, so that a place ends at a
    // comma or semicolon ("in Africa; Lake Tanganyika …").
    let tokens: Vec<&str> = sentence
        .split_inclusive(|c: char| !c.is_alphanumeric())
        .flat_map(|t| {
            let split = match t.chars().last() {
                Some(c) if !c.is_alphanumeric() => t.len() - c.len_utf8(),
                _ => t.len(),
            };
            [&t[..split], &t[split..]]
        })
        .filter(|t| !t.trim().is_empty() && *t != "-" && *t != "'" && *t != "’")
        .collect();
    let everywhere = ["world", "earth", "planet", "universe", "history"];
    let capitalised = |t: &str| t.starts_with(|c: char| c.is_uppercase());
    let asked_word = |t: &str| {
        let lower = t.to_lowercase();
        everywhere.contains(&lower.as_str()) || holds_word(asked, &lower)
    };
    tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| twins.contains(&t.to_lowercase().as_str()))
        .map(|(i, _)| {
            let after = &tokens[i + 1..tokens.len().min(i + 8)];
            // A capitalised word right after the record word, before the kind: a qualifier.
            if after.first().is_some_and(|t| capitalised(t) && !asked_word(t)) {
                return true;
            }
            let Some(at) = after.iter().position(|t| *t == "in" || *t == "of") else {
                return false;
            };
            // "in the province of Quebec", "in the state of Texas": the place is the name after
            // the kind of place.
            const KINDS: &[&str] = &[
                "province",
                "state",
                "region",
                "county",
                "country",
                "city",
                "island",
                "canton",
                "prefecture",
                "department",
                "territory",
                "district",
                "of",
            ];
            let place: Vec<&str> = after[at + 1..]
                .iter()
                .skip_while(|t| t.eq_ignore_ascii_case("the"))
                .skip_while(|t| KINDS.contains(t))
                .take_while(|t| capitalised(t))
                .copied()
                .collect();
            !place.is_empty() && !place.iter().all(|t| asked_word(t))
        })
        .collect()
}

/// Whether a sentence can fill the slot a question of type `qt` asks for.
fn slot_filled(qt: &str, sentence: &str, new_name: bool, new_place: bool, question_digits: &HashSet<&str>) -> bool {
    let new_digits = |min: usize, max: usize| {
        sentence
            .split(|c: char| !c.is_ascii_digit())
            .any(|run| (min..=max).contains(&run.len()) && !question_digits.contains(run))
    };
    match qt {
        "who" => new_name,
        // A place is a name, and not a month's or a weekday's ("born on 11 March 1952").
        "where" => new_place,
        "when" => {
            new_digits(3, 4)
                || words(sentence)
                    .any(|w| MONTHS.contains(&w.as_str()) || matches!(w.as_str(), "century" | "bc" | "ad"))
        }
        "how_many" | "how_much" | "how_measure" => {
            new_digits(1, usize::MAX)
                || words(sentence).any(|w| evidence::NUMBER_WORDS.contains(&w.as_str()) || w == "none")
        }
        _ => true,
    }
}

/// The fillers a sentence offers for the slot asked, to be compared across hits: the years of a
/// "when", the figures of a "how many", otherwise the capitalised words the question does not hold.
fn fillers(qt: &str, sentence: &str, asked: &[String], question_digits: &HashSet<&str>) -> HashSet<String> {
    let digit_runs = |min: usize| {
        sentence
            .split(|c: char| !c.is_ascii_digit())
            .filter(move |run| run.len() >= min && !question_digits.contains(run))
            .map(str::to_string)
    };
    match qt {
        "when" => digit_runs(3).filter(|run| run.len() <= 4).collect(),
        "how_many" | "how_much" | "how_measure" => digit_runs(1)
            .chain(words(sentence).filter(|w| evidence::NUMBER_WORDS.contains(&w.as_str())))
            .collect(),
        _ => sentence
            .split_whitespace()
            .skip(1)
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
            .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
            .flat_map(|w| words(w).collect::<Vec<_>>())
            .filter(|w| w.len() > 2 && !is_stopword(w) && !holds_word(asked, w))
            .collect(),
    }
}

/// The words the question writes after "a" or "an", as written ("what a limerick is": "limerick").
fn words_after_an_article(question: &str) -> Vec<&str> {
    let said: Vec<&str> = question
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .collect();
    said.windows(2)
        .filter(|pair| matches!(pair[0].to_lowercase().as_str(), "a" | "an"))
        .map(|pair| pair[1])
        .collect()
}

/// Whether the question asks about "a" or "an" of the title's word, in lower case: a thing of a
/// kind, not the place or person the word also names ("what a limerick is").
fn asks_a_common_noun(after_article: &[&str], title: &str) -> bool {
    let word = title.to_lowercase();
    !word.contains(' ') && after_article.contains(&word.as_str())
}

/// A dictionary's sense of one place or one person: "port city in southwestern Ireland",
/// "United States writer (1835-1910)".
fn names_one_place_or_person(sentence: &str) -> bool {
    static ONE: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(r"^[^:]*\(noun\):\s*(?:(?:a|an|the)\s+)?(?:[\w-]+\s+){0,2}?(?:city|town|village|port|river|region|island|lake|province|county|capital)\s+(?:in|of|on|near)\s+(?:[a-z-]+\s+){0,2}[A-Z]|\(\d{3,4}-\d{3,4}\)|\(born\b").ok()
    });
    ONE.as_ref().is_some_and(|re| re.is_match(sentence))
}

/// The words of a question on what something is made of, which its entry says otherwise.
const COMPOSITION: &[&str] = &[
    "main",
    "ingredient",
    "ingredients",
    "made",
    "make",
    "traditionally",
    "traditional",
    "mainly",
    "usually",
    "primarily",
    "typically",
    "herb",
    "herbs",
    "spice",
    "base",
    "key",
];

/// "main ingredient in guacamole", "what is haggis made of", "what is tofu made from".
fn asks_composition(question: &str) -> bool {
    static ASKS: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(
            r"(?i)\b(?:ingredients?|made (?:from|of|with)|consists? of|composed of|(?:main|key) (?:herb|spice))\b",
        )
        .ok()
    });
    ASKS.as_ref().is_some_and(|re| re.is_match(question))
}

/// "made from mashed chickpeas", "consisting of a ball of cork", "contains crushed basil".
fn states_composition(sentence: &str) -> bool {
    static STATES: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(r"(?i)\b(?:made (?:from|of|with)|consist(?:s|ing)? of|contains?|containing|composed of|prepared (?:from|with))\b").ok()
    });
    STATES.as_ref().is_some_and(|re| re.is_match(sentence))
}

/// The verbs a question asks a maker with, any of which an entry may say instead of another.
const MAKING: &[&str] = &[
    "made",
    "make",
    "makes",
    "created",
    "create",
    "creates",
    "developed",
    "develop",
    "designed",
    "design",
    "invented",
    "invent",
    "founded",
    "found",
    "built",
    "build",
    "started",
    "start",
];

/// "Created by Brendan Eich in 1995", "developed primarily by Bjarne Stroustrup": a verb of
/// making, then "by" and a name the question does not hold.
fn made_by_a_name(sentence: &str, asked: &[String]) -> bool {
    static MADE_BY: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(
            r"\b(?i:created|developed|designed|invented|founded|co-founded|made|built|started)\s+(?:\w+ly\s+)?by\s+(?:[a-z]+\s+)?([A-Z][\w'’-]+)",
        )
        .ok()
    });
    MADE_BY
        .as_ref()
        .is_some_and(|re| names_one_not_asked(re, sentence, asked))
}

/// Whether the question's content terms hold `word`, by any of its forms.
fn holds_word(asked: &[String], word: &str) -> bool {
    let word = question::term(word);
    asked.iter().any(|t| question::same_term(t, &word))
}

/// Whether a name the pattern captures (its first group) is one the question does not hold.
fn names_one_not_asked(re: &regex::Regex, sentence: &str, asked: &[String]) -> bool {
    re.captures_iter(sentence)
        .any(|c| !holds_word(asked, &c[1].to_lowercase()))
}

/// "… was written by Homer": a capitalised word after "by" that the question does not hold.
fn by_a_name(sentence: &str, asked: &[String]) -> bool {
    static BY: LazyLock<Option<regex::Regex>> = LazyLock::new(|| regex::Regex::new(r"\bby ([A-Z][\w'’-]+)").ok());
    BY.as_ref().is_some_and(|re| names_one_not_asked(re, sentence, asked))
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn is_calendar_word(word: &str) -> bool {
    MONTHS.contains(&word)
        || matches!(
            word,
            "monday" | "tuesday" | "wednesday" | "thursday" | "friday" | "saturday" | "sunday"
        )
}

/// For "how many moons does …": the thing counted, stemmed.
fn counted_noun(question: &str) -> Option<String> {
    let lower = question.to_lowercase();
    let rest = lower.split_once("how many ")?.1;
    let word = words(rest).next()?;
    Some(crate::classify::text::stem(&word).to_string())
}

/// "how many people live in X" is read as "population of X", which a population answers without
/// saying "people".
const PEOPLE: &[&str] = &["peopl", "person", "inhabit", "resid", "citizen"];

/// Whether the sentence gives a number of the thing counted: a figure within four words before it
/// ("88 black and white keys").
fn counts(sentence: &str, counted: &str) -> bool {
    // "an eight-sided polygon": the figure and the thing are one token.
    let tokens: Vec<String> = sentence
        .split(|c: char| c.is_whitespace() || matches!(c, '-' | '–' | '—'))
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect();
    tokens.iter().enumerate().any(|(i, w)| {
        let word = w.trim_matches(|c: char| !c.is_alphanumeric());
        crate::classify::text::stem(word) == counted
            && tokens[i.saturating_sub(4)..i].iter().any(|t| {
                let t = t.trim_matches(|c: char| !c.is_alphanumeric());
                t.chars().next().is_some_and(|c| c.is_ascii_digit()) || evidence::NUMBER_WORDS.contains(&t)
            })
    })
}

/// The part of speech of a WordNet gloss ("baize (noun): …").
fn wordnet_pos(sentence: &str) -> Option<&'static str> {
    let head = sentence.split_once("):")?.0;
    ["noun", "verb", "adjective", "adverb"]
        .into_iter()
        .find(|pos| head.ends_with(&format!("({pos}")))
}

/// The family of a hit's source, as a feature: sources differ in what their sentences are.
pub(super) fn source_kind(source: &str) -> &'static str {
    let s = source.to_lowercase();
    if s.contains("wikipedia") {
        "wikipedia"
    } else if s.contains("v.e.r.a") || s.contains("abbreviations") {
        "abbreviations"
    } else if s.contains("wordnet") {
        "wordnet"
    } else if s.contains("foldoc") {
        "foldoc"
    } else if s.contains("geonames") {
        "geonames"
    } else if s.contains("factbook") {
        "factbook"
    } else if s.contains("element") || s.contains("mendeleev") {
        "elements"
    } else if s.contains("debian") {
        "software"
    } else if s.contains("calendar") || s.contains("event") {
        "events"
    } else {
        "other"
    }
}

/// The best candidate and its probability, if any.
pub(crate) fn best<'a>(model: &ReaderModel, candidates: &'a [Candidate]) -> Option<(&'a Candidate, f64)> {
    candidates.iter().map(|c| (c, model.probability(&c.features))).fold(
        None,
        |best: Option<(&Candidate, f64)>, (c, p)| match best {
            Some((_, q)) if q >= p => best,
            _ => Some((c, p)),
        },
    )
}

/// A training example: a candidate's features and whether it holds a gold answer; `group` is its
/// question.
pub(crate) struct Example {
    pub features: Vec<(String, f64)>,
    pub label: bool,
}

/// The examples' features by position: each distinct name, in order of first sight, and each
/// example as (position, value) pairs.
fn indexed(examples: &[Example]) -> (Vec<String>, Vec<Vec<(usize, f64)>>) {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    let rows = examples
        .iter()
        .map(|e| {
            e.features
                .iter()
                .map(|(name, x)| {
                    let j = *index.entry(name.as_str()).or_insert_with(|| {
                        names.push(name.clone());
                        names.len() - 1
                    });
                    (j, *x)
                })
                .collect()
        })
        .collect();
    (names, rows)
}

/// Fits the weights by stochastic gradient descent on the log loss with L2 shrinkage, in a fixed
/// order (a seeded shuffle), so the same examples give the same model.
pub(crate) fn fit(examples: &[Example], epochs: usize, seed: u64) -> ReaderModel {
    let (names, rows) = indexed(examples);
    let mut w = vec![0.0f64; names.len()];
    let mut bias = 0.0f64;
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = crate::classify::train::Rng::new(seed);
    let l2 = 1e-6;
    for epoch in 0..epochs {
        rng.shuffle(&mut order);
        let rate = 0.1 / (1.0 + epoch as f64);
        for &i in &order {
            let z = rows[i].iter().fold(bias, |z, &(j, x)| z + w[j] * x);
            let g = crate::classify::model::sigmoid(z) - if examples[i].label { 1.0 } else { 0.0 };
            bias -= rate * g;
            for &(j, x) in &rows[i] {
                w[j] -= rate * (g * x + l2 * w[j]);
            }
        }
    }
    ReaderModel {
        bias,
        threshold: 0.5,
        provenance: String::new(),
        trees: Trees::default(),
        weights: names
            .into_iter()
            .enumerate()
            .map(|(j, name)| (name, w[j]))
            .filter(|(_, x)| x.abs() > 1e-9)
            .collect(),
    }
}

/// [`fit`] with `runs` seeds from `seed` on, weights averaged: one fit's result depends on the
/// order it saw the examples in, and the average of several does much less.
pub(crate) fn fit_averaged(examples: &[Example], epochs: usize, seed: u64, runs: usize) -> ReaderModel {
    let runs = runs.max(1);
    let fits: Vec<ReaderModel> = (0..runs as u64).map(|i| fit(examples, epochs, seed + i)).collect();
    let mut weights: HashMap<String, f64> = HashMap::new();
    for model in &fits {
        for (name, w) in &model.weights {
            *weights.entry(name.clone()).or_insert(0.0) += w / runs as f64;
        }
    }
    ReaderModel {
        bias: fits.iter().map(|m| m.bias).sum::<f64>() / runs as f64,
        threshold: 0.5,
        provenance: String::new(),
        weights,
        trees: Trees::default(),
    }
}

/// The lowest threshold at which the answers given (best candidates at or above it) are right at
/// least `precision` of the time, with at least `min_answered` of them; `None` if no threshold
/// reaches it. `scored` holds each question's best probability and whether that answer is right.
pub(crate) fn choose_threshold(scored: &[(f64, bool)], precision: f64, min_answered: usize) -> Option<f64> {
    let mut sorted: Vec<(f64, bool)> = scored.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut right, mut chosen) = (0usize, None);
    for (n, &(p, ok)) in sorted.iter().enumerate() {
        right += usize::from(ok);
        let answered = n + 1;
        // Only where the next question scores lower can a threshold stop here.
        let boundary = sorted.get(n + 1).is_none_or(|next| next.0 < p);
        if boundary && answered >= min_answered && right as f64 >= precision * answered as f64 {
            chosen = Some(p);
        }
    }
    chosen
}

/// The words of a question that make it two questions ("what is X and who wrote Y"): a second
/// question word after "and", or a second question mark with words after the first.
pub(crate) fn several_questions(question: &str) -> bool {
    static SECOND: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(r"(?i)\b(?:and|also|plus)\s+(?:what|who|when|where|which|how|why)\b|\?\s*\S.*\?").ok()
    });
    SECOND.as_ref().is_some_and(|re| re.is_match(question))
}

/// The `n` features that weighed most for a candidate, strongest first, each as "+1.23 name"
/// (for `explain`, `search --candidates` and the training dump).
pub(crate) fn contributions(model: &ReaderModel, candidate: &Candidate, n: usize) -> Vec<String> {
    let mut c: Vec<(String, f64)> = candidate
        .features
        .iter()
        .map(|(n, x)| (n.clone(), model.weights.get(n).copied().unwrap_or(0.0) * x))
        .filter(|(_, w)| w.abs() > 1e-6)
        .collect();
    let trees = model.trees.margin(&candidate.features);
    if trees.abs() > 1e-6 {
        c.push(("(trees)".to_string(), trees));
    }
    c.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    c.into_iter()
        .take(n)
        .map(|(name, w)| format!("{w:+.2} {name}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_loads_with_a_threshold_in_range() {
        let model = ReaderModel::builtin().expect("models/reader.json parses");
        assert!(model.threshold > 0.5 && model.threshold < 1.0, "{}", model.threshold);
        assert!(model.weights.len() > 50, "{} weights", model.weights.len());
        assert!(!model.provenance.is_empty());
    }

    #[test]
    fn definition_subjects_are_read_from_the_question() {
        assert_eq!(definition_subject("what is kriging?").as_deref(), Some("kriging"));
        assert_eq!(definition_subject("whats a haiku").as_deref(), Some("haiku"));
        assert_eq!(
            definition_subject("Who was Alan Turing").as_deref(),
            Some("Alan Turing")
        );
        assert_eq!(definition_subject("define entropy").as_deref(), Some("entropy"));
        assert_eq!(definition_subject("what is the capital of peru"), None);
        assert_eq!(
            definition_subject("what is a deductible in insurance").as_deref(),
            Some("deductible")
        );
        assert_eq!(
            definition_subject("What is velocity in physics?").as_deref(),
            Some("velocity")
        );
        assert_eq!(definition_subject("what is the currency in brazil"), None);
        let lamp = Hit {
            id: "wn/gaslight".into(),
            title: "gaslight".into(),
            text: "gaslight (noun): light yielded by the combustion of illuminating gas.".into(),
            source: "WordNet 3.0".into(),
            url: String::new(),
            score: 1.0,
        };
        assert!(names_a_thing_for_a_doing(&lamp, "gaslighting"));
        assert!(!names_a_thing_for_a_doing(&lamp, "gaslight"));
        assert_eq!(definition_subject("what is the largest ocean"), None);
        assert_eq!(definition_subject("whats the tallest building"), None);
        assert_eq!(
            definition_subject("what is the first amendment").as_deref(),
            Some("first amendment")
        );
        assert_eq!(definition_subject("what is a forest").as_deref(), Some("forest"));
        assert_eq!(definition_subject("what is interest").as_deref(), Some("interest"));
        assert_eq!(
            definition_subject("what is the best way to learn a language quickly"),
            None
        );
    }

    #[test]
    fn a_measure_is_answered_by_a_quantity_with_its_unit() {
        assert!(states_quantity(
            "The marathon is a long-distance foot race with a distance of 42.195 km.",
            false
        ));
        assert!(states_quantity("Red blood cells circulate for about 120 days.", true));
        assert!(states_quantity("Its height is 8,848.86 m above sea level.", false));
        assert!(states_quantity("It is twenty-four hours long.", true));
        assert!(!states_quantity(
            "More than 800 marathons are held worldwide each year, with the vast majority of competitors being recreational athletes.",
            true
        ));
        assert!(!states_quantity(
            "Larger marathons can have tens of thousands of participants.",
            true
        ));
        assert!(states_quantity("World War II began in 1939 and ended in 1945.", true));
        assert!(!states_quantity("World War II began in 1939 and ended in 1945.", false));
    }

    fn hit(title: &str, text: &str, source: &str) -> Hit {
        Hit {
            id: title.into(),
            title: title.into(),
            text: text.into(),
            source: source.into(),
            url: String::new(),
            score: 1.0,
        }
    }

    fn candidates_of(question: &str, hits: &[Hit]) -> Vec<Candidate> {
        super::super::answer::reader_candidates(question, hits).expect("a question search reads")
    }

    #[test]
    fn a_definition_is_the_lead_of_its_entry_but_one_sense_of_a_dictionary() {
        let lead = "Anxiety is an emotion of inner turmoil. It often comes with worry about the future.";
        let from_encyclopedia = candidates_of("what is anxiety", &[hit("Anxiety", lead, "Wikipedia")]);
        assert_eq!(from_encyclopedia[0].text, lead);
        let senses = "anxiety (noun): a vague unpleasant emotion. anxiety (noun): a cognitive state of worry.";
        let from_dictionary = candidates_of("what is anxiety", &[hit("anxiety", senses, "WordNet 3.0")]);
        assert_eq!(from_dictionary[0].text, "anxiety (noun): a vague unpleasant emotion.");
    }

    /// Whether the one hit gives the question any candidate answer.
    fn readable(question: &str, title: &str, text: &str, source: &str) -> bool {
        !candidates_of(question, &[hit(title, text, source)]).is_empty()
    }

    #[test]
    fn a_count_is_answered_only_by_a_figure_of_the_thing_counted() {
        let moon = "The Moon orbits around Earth at an average distance of 384,399 kilometers.";
        assert!(!readable(
            "How many moons does the Earth have?",
            "Moon",
            moon,
            "Wikipedia"
        ));
        let piano = "Modern pianos have a row of 88 black and white keys—with the exception of a few.";
        assert!(readable("how many keys on a piano", "Piano", piano, "Wikipedia"));
        let octagon = "octagon (noun): an eight-sided polygon.";
        assert!(readable(
            "how many sides does an octagon have",
            "octagon",
            octagon,
            "WordNet 3.0"
        ));
        // "How many people live in Canada" is asked as its population.
        let canada = "The population of Canada is 39,187,155 (2025 est.).";
        assert!(readable(
            "how many people live in canada",
            "Canada",
            canada,
            "CIA World Factbook 2025"
        ));
    }

    #[test]
    fn the_years_of_a_life_are_those_of_the_entry_they_stand_in() {
        let sandburg =
            "Sandburg (noun): United States writer remembered for his biography of Abraham Lincoln (1878-1967).";
        assert!(!readable(
            "when was abraham lincoln born",
            "Sandburg",
            sandburg,
            "WordNet 3.0"
        ));
        let shakespeare =
            "Shakespeare (noun): English poet and dramatist (1564-1616); also called William Shakespeare.";
        assert!(readable(
            "when did shakespeare die",
            "Shakespeare",
            shakespeare,
            "WordNet 3.0"
        ));
    }

    #[test]
    fn a_record_is_answered_only_by_a_sentence_that_says_it() {
        let planets = "The Solar System has eight planets: Mercury, Venus, Earth and Mars, and the giants. \
                       Mercury is the smallest planet and the nearest to the Sun.";
        let found = candidates_of(
            "smallest planet in the solar system",
            &[hit("Planet", planets, "Wikipedia")],
        );
        assert!(!found.is_empty());
        assert!(found.iter().all(|c| c.text.contains("smallest")), "{found:?}");
        let pacific = "Pacific Ocean stretches from the Arctic Ocean in the north to the Southern Ocean.";
        assert!(!readable(
            "largest ocean on earth",
            "Pacific Ocean",
            pacific,
            "Wikipedia"
        ));
        // Its twin says it too.
        let everest = "Mount Everest is the highest mountain on Earth above sea level.";
        assert!(readable(
            "tallest mountain in the world",
            "Mount Everest",
            everest,
            "Wikipedia"
        ));
    }

    #[test]
    fn an_abbreviation_asked_about_is_the_subject_its_title_spells() {
        let text = "Gross domestic product (GDP) is a monetary measure of the market value of goods.";
        let matched = |question: &str| {
            candidates_of(question, &[hit("Gross domestic product", text, "Wikipedia")])
                .first()
                .is_some_and(|c| c.features.iter().any(|(name, _)| name.starts_with("def&subject=true")))
        };
        assert!(matched("what is gdp"));
        assert!(!matched("what is gnp"));
    }

    #[test]
    fn a_meaning_is_read_from_the_entry_of_the_word_asked() {
        let hits = [
            hit(
                "vicarship",
                "vicarship (noun): the religious institution under the authority of a vicar; also called vicariate.",
                "WordNet 3.0",
            ),
            hit(
                "Coventry",
                "Coventry (noun): the state of being banished or ostracized; also called ostracism.",
                "WordNet 3.0",
            ),
        ];
        assert!(candidates_of("What does \"vicarious\" mean?", &hits).is_empty());
        assert!(candidates_of("What's the definition of \"ostracize\"?", &hits).is_empty());
        let own = [hit(
            "vicarious",
            "vicarious (adjective): experienced at second hand.",
            "WordNet 3.0",
        )];
        assert!(!candidates_of("What does \"vicarious\" mean?", &own).is_empty());
        assert!(!candidates_of("vicarous meaning", &own).is_empty());
        assert_eq!(meaning_word("define gregarious").as_deref(), Some("gregarious"));
        let spelt = [hit(
            "comma separated values",
            "comma separated values: (CSV) A file format.",
            "FOLDOC",
        )];
        assert!(!candidates_of("what does csv mean", &spelt).is_empty());
        assert_eq!(meaning_word("what does it mean to be kind"), None);
    }

    #[test]
    fn a_maker_is_named_by_a_sentence_that_says_the_making() {
        let advert = [hit(
            "You Got the Right One, Baby",
            "A series of television ads featured singer Ray Charles, surrounded by models, singing a song about Diet Pepsi.",
            "Wikipedia",
        )];
        assert!(candidates_of("Who directed Ray?", &advert).is_empty());
        let film = [hit(
            "Ray (film)",
            "Ray is a 2004 biographical film directed by Taylor Hackford.",
            "Wikipedia",
        )];
        assert!(!candidates_of("Who directed Ray?", &film).is_empty());
    }

    #[test]
    fn a_definition_is_not_a_mention_in_passing() {
        let passing = [hit(
            "Technical geography",
            "Technical geography may also explore applying techniques developed for one application to another unrelated topic, such as kriging.",
            "Wikipedia",
        )];
        assert!(candidates_of("what is kriging?", &passing).is_empty());
        let other_name = [hit(
            "water",
            "water (noun): binary compound that occurs at room temperature as a clear liquid; also called H2O.",
            "WordNet 3.0",
        )];
        assert!(!candidates_of("what is h2o", &other_name).is_empty());
        let in_field = [hit(
            "Quadratic formula",
            "In mathematics, a quadratic equation is an equation of the second degree.",
            "Wikipedia",
        )];
        assert!(!candidates_of("what is a quadratic equation", &in_field).is_empty());
        let spelt = [hit(
            "comma separated values",
            "comma separated values: (CSV) A file format.",
            "FOLDOC",
        )];
        assert!(!candidates_of("what is a csv file", &spelt).is_empty());
        let elsewhere = [hit(
            "sharding",
            "sharding: A form of data partitioning across servers behind a load balancer.",
            "FOLDOC",
        )];
        assert!(candidates_of("what is a load balancer", &elsewhere).is_empty());
        let said_of_another = [hit(
            "Soy sauce",
            "Soy sauce is recognized for its saltiness and pronounced umami taste.",
            "Wikipedia",
        )];
        assert!(candidates_of("what is umami", &said_of_another).is_empty());
    }

    #[test]
    fn a_meaning_is_not_answered_by_a_place() {
        let town = [hit(
            "Gràcia, Spain",
            "Gràcia is a city in Spain with a population of 121,502 people.",
            "GeoNames",
        )];
        assert!(candidates_of("what does gracias mean", &town).is_empty());
        // The same sentence still answers where the place is.
        assert!(!candidates_of("which country is gracia in", &town).is_empty());
        let expansion = [hit("JWT", "JWT stands for JSON Web Token.", "V.E.R.A.")];
        assert!(!candidates_of("what does JWT stand for", &expansion).is_empty());
        let expansion = [hit(
            "IaaS",
            "IaaS stands for infrastructure as a service.",
            "Common abbreviations (ecoroute)",
        )];
        assert!(!candidates_of("what does IaaS stand for?", &expansion).is_empty());
        let expansion = [hit(
            "RSVP",
            "RSVP stands for répondez s'il vous plaît, French for \"please reply\".",
            "Common abbreviations (ecoroute)",
        )];
        assert!(!candidates_of("what does rsvp stand for", &expansion).is_empty());
    }

    #[test]
    fn a_measure_asked_is_answered_by_that_measure() {
        let text = "The Mariana Trench measures about 2,550 km in length. Its maximum depth is about 10,984 m.";
        let hits = [hit("Mariana Trench", text, "Wikipedia")];
        let deep = candidates_of("how deep is the mariana trench", &hits);
        assert!(!deep.is_empty());
        assert!(
            deep.iter().all(|c| c.text.contains("depth")),
            "{:?}",
            deep.iter().map(|c| &c.text).collect::<Vec<_>>()
        );
        let deepest = [hit(
            "Mariana Trench",
            "The Mariana Trench is the deepest oceanic trench, about 200 km east of the Mariana Islands.",
            "Wikipedia",
        )];
        assert!(candidates_of("how deep is the mariana trench", &deepest).is_empty());
        let long = candidates_of("how long is the mariana trench", &hits);
        assert!(long.iter().any(|c| c.text.contains("length")));
    }

    #[test]
    fn a_thing_of_a_kind_is_not_the_place_its_word_names() {
        let asked = |q: &'static str, title: &str| asks_a_common_noun(&words_after_an_article(q), title);
        assert!(asked("Could you tell me what a limerick is?", "Limerick"));
        assert!(!asked("where is Limerick", "Limerick"));
        assert!(names_one_place_or_person(
            "Limerick (noun): port city in southwestern Ireland."
        ));
        assert!(!names_one_place_or_person(
            "Limerick (noun): a humorous verse form of 5 anapestic lines with a rhyme scheme aabba."
        ));
        assert!(!names_one_place_or_person(
            "recession (noun): the state of the economy declines; a widespread decline in the GDP."
        ));
        assert!(!names_one_place_or_person(
            "annuity (noun): income from capital investment paid in a series of regular payments."
        ));
        let limerick = [hit(
            "Limerick",
            "Limerick (noun): port city in southwestern Ireland. Limerick (noun): a humorous verse form of 5 anapestic lines.",
            "WordNet 3.0",
        )];
        let read = candidates_of("what is a limerick", &limerick);
        assert!(!read.is_empty());
        assert!(
            read.iter().all(|c| c.text.contains("verse")),
            "{:?}",
            read.iter().map(|c| &c.text).collect::<Vec<_>>()
        );
    }

    #[test]
    fn what_a_thing_is_made_of_is_said_in_its_entry() {
        assert!(asks_composition("What's the main ingredient in hummus?"));
        assert!(asks_composition("what is miso made from"));
        assert!(!asks_composition("who made javascript"));
        let hummus = [hit(
            "hummus",
            "hummus (noun): a thick spread made from mashed chickpeas, tahini, lemon juice and garlic.",
            "WordNet 3.0",
        )];
        let read = candidates_of("main ingredient in hummus", &hummus);
        let strict = |c: &Candidate| c.features.iter().any(|(n, _)| n.starts_with("strict=true"));
        let feats: Vec<_> = read.iter().map(|c| &c.features).collect();
        assert!(read.iter().any(strict), "{feats:?}");
        // Not a sentence that does not say what it is made of.
        let other = [hit(
            "hummus",
            "hummus (noun): a dish popular in the Middle East.",
            "WordNet 3.0",
        )];
        assert!(!candidates_of("main ingredient in hummus", &other).iter().any(strict));
    }

    #[test]
    fn a_maker_is_said_by_any_verb_of_making_with_a_name() {
        let asked = evidence::content_terms("who made javascript");
        assert!(made_by_a_name(
            "Created by Brendan Eich in 1995, it is maintained by Ecma.",
            &asked
        ));
        assert!(made_by_a_name(
            "a language developed primarily by Bjarne Stroustrup",
            &asked
        ));
        assert!(!made_by_a_name("It is maintained by Ecma International.", &asked));
        assert!(!made_by_a_name("JavaScript was created by JavaScript fans.", &asked));
        let js = [hit(
            "JavaScript",
            "JavaScript is a programming language of the Web. Created by Brendan Eich in 1995, it is maintained by Ecma.",
            "Wikipedia",
        )];
        let read = candidates_of("who made javascript", &js);
        let strict = |c: &Candidate| c.features.iter().any(|(n, _)| n == "strict=true&qt=who");
        let eich: Vec<_> = read
            .iter()
            .filter(|c| c.text.contains("Eich"))
            .map(|c| &c.features)
            .collect();
        assert!(read.iter().any(|c| c.text.contains("Eich") && strict(c)), "{eich:?}");
    }

    #[test]
    fn the_type_asked_is_read_past_a_leading_preposition_and_at_the_end() {
        assert_eq!(question_type("In which country is Petra?"), "which");
        assert_eq!(question_type("By whom was Hamlet written?"), "who");
        assert_eq!(question_type("In what year did the Berlin Wall fall?"), "when");
        assert_eq!(question_type("samsung is from what country"), "which");
        assert_eq!(question_type("please explain what an algorithm is"), "other");
        assert_eq!(question_type("In Norse mythology, what is the hall called?"), "other");
        // A preposition before anything else is no question word.
        assert_eq!(question_type("in the summer, rain"), "other");
    }

    #[test]
    fn a_closed_class_asked_is_answered_by_one_of_its_members() {
        assert_eq!(
            closed_class_asked("what country is the leaning tower of pisa in"),
            Some("country")
        );
        assert_eq!(
            closed_class_asked("Which planet is closest to the Sun?"),
            Some("planet")
        );
        assert_eq!(closed_class_asked("largest ocean"), Some("ocean"));
        assert_eq!(
            closed_class_asked("what sport does serena williams play"),
            Some("sport")
        );
        assert_eq!(
            closed_class_asked("what musical instrument did louis armstrong play"),
            Some("instrument")
        );
        assert_eq!(closed_class_asked("blue and yellow make what color"), None);
        let armstrong = [hit(
            "Louis Armstrong",
            "Louis Daniel Armstrong was an American jazz trumpeter and vocalist. He was born in New Orleans.",
            "Wikipedia",
        )];
        let read = candidates_of("what instrument did louis armstrong play", &armstrong);
        assert_eq!(read.len(), 1, "{:?}", read.iter().map(|c| &c.text).collect::<Vec<_>>());
        assert!(read[0].text.contains("trumpeter"));
        assert_eq!(closed_class_asked("who wrote hamlet"), None);
        let pisa = [hit(
            "Leaning Tower",
            "Leaning Tower (noun): a tall round marble campanile in Pisa that is not perpendicular.",
            "WordNet 3.0",
        )];
        assert!(candidates_of("what country is the leaning tower of pisa in", &pisa).is_empty());
        let agra = [hit(
            "Taj Mahal",
            "The Taj Mahal is a mausoleum in Agra, Uttar Pradesh, India.",
            "Wikipedia",
        )];
        assert!(!candidates_of("what country is the taj mahal in", &agra).is_empty());
        // A dictionary's lower-case title names the planet; "perihelion" names none.
        let sun = [
            hit(
                "perihelion",
                "perihelion (noun): the point in the orbit of a planet nearest to the sun.",
                "WordNet 3.0",
            ),
            hit(
                "mercury",
                "mercury (noun): the smallest planet and the nearest to the sun.",
                "WordNet 3.0",
            ),
        ];
        let read = candidates_of("which planet is closest to the sun", &sun);
        assert!(
            read.iter().all(|c| c.text.starts_with("mercury")),
            "{:?}",
            read.iter().map(|c| &c.text).collect::<Vec<_>>()
        );
        assert!(!read.is_empty());
        // A name the question gives is no answer to it: "which country is Greenland part of".
        assert!(!names_member(
            "Greenland is a country in North America.",
            "country",
            &evidence::content_terms("which country is greenland part of"),
            false
        ));
    }

    #[test]
    fn the_tail_of_a_split_sentence_is_no_candidate() {
        assert!(closes_before_opening("1450-1498); also called Cabot, John Cabot."));
        assert!(!closes_before_opening("Cabot (1450-1498) was a navigator."));
        assert!(!closes_before_opening("Cabot was a navigator."));
        let hits = [hit(
            "Cabot",
            "1450-1498); also called Cabot, John Cabot.",
            "WordNet 3.0",
        )];
        assert!(candidates_of("who discovered america", &hits).is_empty());
    }

    #[test]
    fn a_record_within_another_place_is_no_answer() {
        let asked = |q: &str| evidence::content_terms(q);
        let world = asked("largest island in the world");
        let baffin = "Baffin Island, in Nunavut, is the largest island in Canada.";
        assert!(only_below_first(baffin, "largest", &world));
        assert!(!only_below_first(baffin, "largest", &asked("largest island in canada")));
        assert!(!only_below_first(
            "Greenland is the largest island in the world.",
            "largest",
            &world
        ));
        let arabian = "Arabian Desert is the fourth largest desert in the world and the largest in Asia.";
        assert!(only_below_first(
            arabian,
            "largest",
            &asked("largest desert in the world")
        ));
        assert!(only_below_first(
            "Ntheledi is the highest mountain of South Africa",
            "highest",
            &asked("highest mountain in africa")
        ));
        let south = "The highest point (highest mountain) of South Africa is Mafadi.";
        assert!(only_below_first(south, "highest", &asked("highest mountain in africa")));
        assert!(!only_below_first(
            south,
            "highest",
            &asked("highest mountain in south africa")
        ));
        let brasil =
            "Brasil: the largest Latin American country and the largest Portuguese speaking country in the world.";
        assert!(only_below_first(
            brasil,
            "largest",
            &asked("largest country in the world")
        ));
        // A record among several, or by another measure than the one asked.
        assert!(only_below_first(
            "The Orinoco is one of the longest rivers in South America.",
            "longest",
            &asked("longest river in south america")
        ));
        let india = "India is the world's seventh-largest country by area and the largest by population.";
        assert!(only_below_first(india, "largest", &asked("largest country by area")));
        assert!(!only_below_first(
            india,
            "largest",
            &asked("largest country by population")
        ));
        // "of" a common noun is no place: "the largest of the oceans".
        assert!(!only_below_first(
            "The Pacific is the largest of the oceans.",
            "largest",
            &asked("largest ocean")
        ));
    }

    #[test]
    fn a_count_written_as_a_word_answers_how_many() {
        let text = "The Solar System is the gravitationally bound system of the Sun and the masses that orbit it, most prominently its eight planets, of which Earth is one. The system formed 4.6 billion years ago.";
        let found = candidates_of(
            "How many planets are there in the solar system?",
            &[hit("Solar System", text, "Wikipedia")],
        );
        assert!(
            found.iter().any(|c| c.text.contains("eight planets")),
            "{:?}",
            found.iter().map(|c| &c.text).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_lower_rank_of_the_record_asked_is_no_answer() {
        assert!(only_below_first(
            "Lake Albert is Africa's sixth-largest lake.",
            "largest",
            &[]
        ));
        assert!(only_below_first(
            "It is the second biggest of Uganda's lakes.",
            "largest",
            &[]
        ));
        assert!(only_below_first("K2 is the 2nd highest mountain.", "tallest", &[]));
        assert!(only_below_first(
            "Lake Erie is the fourth-largest of the five Great Lakes and the eleventh-largest globally.",
            "largest",
            &[]
        ));
        assert!(!only_below_first(
            "Lake Victoria is the largest lake in Africa; Lake Tanganyika is the second-largest.",
            "largest",
            &evidence::content_terms("largest lake in africa")
        ));
        assert!(!only_below_first("The Pacific is the largest ocean.", "largest", &[]));
        let hits = [hit(
            "Lake Albert",
            "Lake Albert is Africa's sixth-largest lake.",
            "Wikipedia",
        )];
        assert!(candidates_of("largest lake in africa", &hits).is_empty());
    }

    #[test]
    fn an_answer_other_hits_give_is_marked_as_agreed() {
        let wall = hit(
            "Berlin Wall",
            "The Berlin Wall fell on 9 November 1989, opening the border.",
            "Wikipedia",
        );
        let agreed = |other: &str| {
            let hits = [wall.clone(), hit("Erich Honecker", other, "Wikipedia")];
            let found = candidates_of("when did the berlin wall fall", &hits);
            let first = found
                .iter()
                .find(|c| c.hit == 0)
                .expect("the wall's sentence is a candidate");
            first
                .features
                .iter()
                .find(|(n, _)| n.starts_with("agree="))
                .map(|(n, _)| n.clone())
        };
        assert_eq!(
            agreed("Honecker led East Germany until shortly before the fall of the Wall in 1989.").as_deref(),
            Some("agree=1&qt=when")
        );
        assert_eq!(
            agreed("Honecker led East Germany from 1971 and died in 1994.").as_deref(),
            Some("agree=0&qt=when")
        );
        // Definitions offer no filler to agree on.
        let found = candidates_of(
            "what is anxiety",
            &[hit("Anxiety", "Anxiety is an emotion.", "Wikipedia")],
        );
        assert!(found[0].features.iter().all(|(n, _)| !n.starts_with("agree=")));
    }

    #[test]
    fn a_record_is_read_loosely_and_one_of_several_is_no_record() {
        let has = |question: &str, text: &str, feature: &str| {
            candidates_of(question, &[hit("Pacific Ocean", text, "Wikipedia")])
                .first()
                .is_some_and(|c| c.features.iter().any(|(name, _)| name == feature))
        };
        let pacific = "The Pacific Ocean is the largest and deepest of Earth's five oceanic divisions.";
        assert!(has("what is the largest ocean", pacific, "recordword=true&near=true"));
        assert!(has("biggest ocean in the world", pacific, "recordword=true&near=true"));
        assert!(has("what is the deepest lake", pacific, "recordword=true&near=false"));
        assert!(only_below_first(
            "Montreal is the largest city in the province of Quebec, the second-largest in Canada, and the eighth-largest in North America.",
            "largest",
            &["largest".to_string(), "citi".to_string(), "canada".to_string()],
        ));
        assert!(evidence::ranked_below_first(
            "a major African river (one of the world's longest)"
        ));
    }

    fn terms_of(text: &str) -> Vec<String> {
        words(text).map(|w| question::term(&w)).collect()
    }

    #[test]
    fn a_phrase_said_in_order_counts_its_content_words() {
        let q = terms_of("first person to walk on the moon");
        let said = terms_of("Armstrong became the first person to walk on the Moon in 1969.");
        assert_eq!(phrase_run(&q, &said), 4);
        let scattered = terms_of("The Moon landing: a person may walk there first.");
        assert_eq!(phrase_run(&q, &scattered), 1);
        // Stop words alone are no phrase.
        assert_eq!(phrase_run(&terms_of("to the"), &terms_of("went to the shop")), 0);
    }

    #[test]
    fn question_words_close_together_are_dense() {
        let terms = evidence::content_terms("who discovered penicillin");
        let none = HashSet::new();
        let close = terms_of("Fleming discovered penicillin in 1928.");
        assert_eq!(density_bucket(&terms, &none, &close), "tight");
        let far = terms_of(
            "He discovered many things over a long and varied career in several countries, among them penicillin.",
        );
        assert_eq!(density_bucket(&terms, &none, &far), "loose");
        assert_eq!(
            density_bucket(&terms, &none, &terms_of("Penicillin is an antibiotic.")),
            "none"
        );
    }

    #[test]
    fn two_questions_in_one_are_seen() {
        assert!(several_questions(
            "what is the capital of France and what is its population"
        ));
        assert!(several_questions("Who wrote Hamlet? When was it written?"));
        assert!(!several_questions("who wrote hamlet?"));
        assert!(!several_questions("what is the capital and largest city of Australia"));
    }

    #[test]
    fn training_separates_what_the_labels_separate() {
        let ex = |f: &str, label: bool| Example {
            features: vec![(f.to_string(), 1.0), ("always".into(), 1.0)],
            label,
        };
        let mut examples = Vec::new();
        for _ in 0..200 {
            examples.push(ex("good", true));
            examples.push(ex("bad", false));
        }
        let model = fit(&examples, 5, 1);
        let p = |f: &str| model.probability(&[(f.to_string(), 1.0), ("always".into(), 1.0)]);
        assert!(p("good") > 0.9 && p("bad") < 0.1, "{} {}", p("good"), p("bad"));
        // Reproducible.
        let again = fit(&examples, 5, 1);
        assert_eq!(model.bias, again.bias);
    }

    #[test]
    fn the_threshold_is_the_lowest_that_keeps_the_precision() {
        let scored = [
            (0.99, true),
            (0.95, true),
            (0.9, false),
            (0.85, true),
            (0.8, true),
            (0.7, false),
            (0.6, false),
        ];
        // At 0.8: 4 right of 5 = 80%.
        assert_eq!(choose_threshold(&scored, 0.8, 1), Some(0.8));
        assert_eq!(choose_threshold(&scored, 0.95, 1), Some(0.95));
        assert_eq!(choose_threshold(&scored, 0.95, 3), None);
    }
}
