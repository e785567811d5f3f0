//! Languages besides English, each one a data file (`lang/<code>.toml`) and a corpus: what marks a
//! message as written in it, the chat frames around a question, the cues that tell a lookup from a
//! task for the model, the words a question shares with every document, word endings and word
//! groups, and the answer types. From them this module classifies a question in that language,
//! reads its content words, and runs the adequacy check on hits from that language's index. A
//! third language is a file and a corpus, not a code change. Pure once loaded.
//!
//! English keeps its own, richer rules ([`crate::classify`], [`crate::search::answer`]); a pack
//! is deliberately stricter: a question it has no lookup cue for goes to the LLM.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

use crate::classify::{Class, Decider, Decision, Guard, RequestFeatures, Route};
use crate::search::answer::{Adequacy, Answer, AnswerType, Refusal};
use crate::search::evidence::entity;
use crate::search::question::{fold, same_term};
use crate::search::Hit;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPack {
    code: String,
    name: String,
    corpus: String,
    source_label: String,
    function_words: Vec<String>,
    /// Letters that mark a word as this language's ("é", "ç"), counted like function words.
    #[serde(default)]
    letters: String,
    stopwords: Vec<String>,
    suffixes: Vec<String>,
    #[serde(default)]
    word_groups: Vec<Vec<String>>,
    #[serde(default)]
    frames: Vec<String>,
    cues: RawCues,
    #[serde(default)]
    types: RawTypes,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCues {
    lookup: Vec<String>,
    complex: Vec<String>,
    #[serde(default)]
    personal: Vec<String>,
    #[serde(default)]
    refers_back: Vec<String>,
    #[serde(default)]
    now: Vec<String>,
    #[serde(default)]
    system_constrains: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTypes {
    #[serde(default)]
    person: Vec<String>,
    #[serde(default)]
    place: Vec<String>,
    #[serde(default)]
    year: Vec<String>,
    #[serde(default)]
    number: Vec<String>,
    /// A document about a person ("né le …"): asked about by surname alone, it is still named.
    #[serde(default)]
    person_document: Vec<String>,
}

/// A pattern list, compiled; `first` names the first that matches, for the reason a request took.
#[derive(Debug, Clone, Default)]
struct Cues(Vec<Regex>);

impl Cues {
    fn first(&self, text: &str) -> Option<&str> {
        self.0.iter().find(|re| re.is_match(text)).map(Regex::as_str)
    }

    fn matched(&self, text: &str) -> Option<String> {
        self.0
            .iter()
            .find_map(|re| re.find(text))
            .map(|m| m.as_str().trim().to_string())
    }
}

/// One language, loaded from its file.
#[derive(Debug)]
pub struct LanguagePack {
    pub code: String,
    pub name: String,
    /// The corpus its index is built from (relative to the working directory, like `search.corpus`).
    pub corpus: PathBuf,
    pub source_label: String,
    function_words: HashSet<String>,
    letters: Vec<char>,
    stopwords: HashSet<String>,
    /// Longest first.
    suffixes: Vec<String>,
    /// A folded word → its group's first word, stemmed.
    groups: HashMap<String, String>,
    /// A group's first word, stemmed → every folded form of the group.
    forms: HashMap<String, Vec<String>>,
    frames: Vec<Regex>,
    lookup: Cues,
    complex: Cues,
    personal: Cues,
    refers_back: Cues,
    now: Cues,
    system_constrains: Cues,
    person: Cues,
    place: Cues,
    year: Cues,
    number: Cues,
    person_document: Cues,
}

/// A problem in a pack's file: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct PackProblem {
    pub key: String,
    pub problem: String,
}

/// Lower case, accents off: how words are compared.
fn fold_word(word: &str) -> String {
    fold(&word.to_lowercase())
}

impl LanguagePack {
    /// Reads `lang/<code>.toml`; a problem names the key.
    pub fn load(path: &Path) -> Result<LanguagePack, Vec<PackProblem>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![PackProblem {
                key: String::new(),
                problem: format!("cannot be read: {e}"),
            }]
        })?;
        Self::from_toml(&text)
    }

    fn from_toml(text: &str) -> Result<LanguagePack, Vec<PackProblem>> {
        let raw: RawPack = toml::from_str(text).map_err(|e| {
            vec![PackProblem {
                key: e.span().map(|s| format!("at byte {}", s.start)).unwrap_or_default(),
                problem: e.message().to_string(),
            }]
        })?;
        let mut problems = Vec::new();
        let mut compile = |key: &str, patterns: &[String]| -> Cues {
            let mut out = Vec::new();
            for (i, p) in patterns.iter().enumerate() {
                match Regex::new(&format!("(?i){p}")) {
                    Ok(re) => out.push(re),
                    Err(e) => problems.push(PackProblem {
                        key: format!("{key}[{i}]"),
                        problem: format!("is not a regular expression: {e}"),
                    }),
                }
            }
            Cues(out)
        };
        let frames = compile("frames", &raw.frames).0;
        let lookup = compile("cues.lookup", &raw.cues.lookup);
        let complex = compile("cues.complex", &raw.cues.complex);
        let personal = compile("cues.personal", &raw.cues.personal);
        let refers_back = compile("cues.refers_back", &raw.cues.refers_back);
        let now = compile("cues.now", &raw.cues.now);
        let system_constrains = compile("cues.system_constrains", &raw.cues.system_constrains);
        let person = compile("types.person", &raw.types.person);
        let place = compile("types.place", &raw.types.place);
        let year = compile("types.year", &raw.types.year);
        let number = compile("types.number", &raw.types.number);
        let person_document = compile("types.person_document", &raw.types.person_document);
        if raw.code.trim().is_empty() || !raw.code.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            problems.push(PackProblem {
                key: "code".into(),
                problem: format!("`{}` is not a language code like \"fr\"", raw.code),
            });
        }
        if lookup.0.is_empty() {
            problems.push(PackProblem {
                key: "cues.lookup".into(),
                problem: "is empty: without a lookup cue nothing in this language is answered from search".into(),
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut suffixes: Vec<String> = raw.suffixes.iter().map(|s| fold_word(s)).collect();
        suffixes.sort_by_key(|s| std::cmp::Reverse(s.chars().count()));
        let mut pack = LanguagePack {
            code: raw.code,
            name: raw.name,
            corpus: PathBuf::from(raw.corpus),
            source_label: raw.source_label,
            function_words: raw.function_words.iter().map(|w| fold_word(w)).collect(),
            letters: raw.letters.chars().flat_map(char::to_lowercase).collect(),
            // Kept with their accents: folded, "né" (born) would be the stopword "ne".
            stopwords: raw.stopwords.iter().map(|w| w.to_lowercase()).collect(),
            suffixes,
            groups: HashMap::new(),
            forms: HashMap::new(),
            frames,
            lookup,
            complex,
            personal,
            refers_back,
            now,
            system_constrains,
            person,
            place,
            year,
            number,
            person_document,
        };
        for group in &raw.word_groups {
            let Some(head) = group.first() else { continue };
            let head = pack.stem(&fold_word(head));
            let forms: Vec<String> = group.iter().map(|w| fold_word(w)).collect();
            for form in &forms {
                pack.groups.insert(form.clone(), head.clone());
            }
            pack.forms.insert(head, forms);
        }
        Ok(pack)
    }

    /// How many of the message's words mark it as this language: its function words (those
    /// English shares, like "a", aside) and words with its letters.
    /// Capitalised words past the first are names and titles ("Who wrote Les Misérables?"), which
    /// do not make a message French.
    pub(crate) fn function_word_count(&self, text: &str) -> usize {
        crate::classify::text::word_slices(text)
            .enumerate()
            .filter(|(i, w)| *i == 0 || !w.chars().next().is_some_and(char::is_uppercase))
            .map(|(_, w)| crate::classify::text::lower(w))
            .filter(|w| {
                // Folding an ASCII word changes nothing, and it is most words of most messages.
                let function_word = if w.is_ascii() {
                    self.function_words.contains(&**w)
                } else {
                    self.function_words.contains(&fold(w))
                };
                (function_word && !crate::classify::guards::is_english_function_word(w))
                    || w.chars().any(|c| self.letters.contains(&c))
            })
            .count()
    }

    /// The question inside its chat frame: greetings and politeness taken off, repeatedly.
    pub(crate) fn core_question(&self, text: &str) -> String {
        let mut q = text.trim().to_string();
        loop {
            let before = q.len();
            for frame in &self.frames {
                q = frame.replace(&q, "").trim().to_string();
            }
            if q.len() == before {
                break;
            }
        }
        if q.is_empty() {
            text.trim().to_string()
        } else {
            q
        }
    }

    fn stem(&self, folded: &str) -> String {
        let len = folded.chars().count();
        for suffix in &self.suffixes {
            let keep = len.saturating_sub(suffix.chars().count());
            if keep >= 4 && folded.ends_with(suffix.as_str()) {
                return folded.chars().take(keep).collect();
            }
        }
        folded.to_string()
    }

    /// A word in comparable form: its group's first word, or its stem.
    pub(crate) fn term(&self, word: &str) -> String {
        let folded = fold_word(word);
        match self.groups.get(&folded) {
            Some(head) => head.clone(),
            None => self.stem(&folded),
        }
    }

    /// The words a search looks for: folded, without stopwords, in order, once each.
    pub(crate) fn keywords(&self, question: &str) -> Vec<String> {
        let mut seen = HashSet::new();
        crate::classify::text::words(question)
            .filter(|w| w.chars().count() > 1 && !self.stopwords.contains(w))
            .map(|w| fold(&w))
            .filter(|w| seen.insert(w.clone()))
            .collect()
    }

    /// Every form a search may find a keyword by (its word group), the keyword first.
    pub(crate) fn surface_forms(&self, keyword: &str) -> Vec<String> {
        let mut out = vec![keyword.to_string()];
        if let Some(forms) = self.groups.get(keyword).and_then(|head| self.forms.get(head)) {
            out.extend(
                forms
                    .iter()
                    .filter(|f| f.as_str() != keyword && !f.contains(' '))
                    .cloned(),
            );
        }
        out
    }

    fn content_terms(&self, text: &str) -> Vec<String> {
        let mut seen = HashSet::new();
        self.keywords(text)
            .iter()
            .map(|w| self.term(w))
            .filter(|t| seen.insert(t.clone()))
            .collect()
    }

    fn term_set(&self, text: &str) -> HashSet<String> {
        crate::classify::text::words(text).map(|w| self.term(&w)).collect()
    }

    /// Lookup or task, for a question already known to be in this language. The guards that need
    /// words (follow-up, personal, system prompt) are this language's; a question with no lookup
    /// cue, or with a task cue, goes to the LLM.
    /// `system_in_this_language`: the system prompt is written in this pack's language (see
    /// [`language_among`]).
    pub(crate) fn decide(
        &self,
        features: &RequestFeatures,
        guards: &crate::classify::Guards,
        system_in_this_language: bool,
    ) -> Decision {
        let question = self.core_question(&features.last_user);
        let guard = |guard: Guard| Decision {
            class: Class::Complex,
            confidence: 1.0,
            route: Route::Llm,
            decider: Decider::Language {
                code: self.code.clone(),
                cue: String::new(),
                guard: Some(guard),
            },
        };
        if guards.follow_up && features.prior_turns > 0 && self.refers_back.first(&question).is_some() {
            return guard(Guard::FollowUp);
        }
        if guards.personal && self.personal.first(&question).is_some() {
            return guard(Guard::Personal);
        }
        // A system prompt in this language is read by this language's cues; any other by English's
        // guard, which also refuses a prompt in a third language.
        let constrains = if system_in_this_language {
            self.system_constrains.first(&features.system).is_some()
        } else {
            crate::classify::guards::system_prompt_constrains(&features.system)
        };
        if guards.system_prompt && constrains {
            return guard(Guard::SystemPrompt);
        }
        let decided = |class: Class, cue: String| Decision {
            class,
            confidence: if class == Class::Lookup { LOOKUP_CONFIDENCE } else { 1.0 },
            route: if class == Class::Lookup {
                Route::Search
            } else {
                Route::Llm
            },
            decider: Decider::Language {
                code: self.code.clone(),
                cue,
                guard: None,
            },
        };
        // A lookup is one short question.
        let words = crate::classify::text::words(&question).count();
        if words > MAX_LOOKUP_WORDS || question.matches('?').count() > 1 {
            return decided(Class::Complex, "long or several questions".into());
        }
        if let Some(cue) = self.complex.matched(&question) {
            return decided(Class::Complex, format!("task cue `{cue}`"));
        }
        match self.lookup.matched(&question) {
            Some(cue) => decided(Class::Lookup, format!("lookup cue `{cue}`")),
            None => decided(Class::Complex, "no lookup cue".into()),
        }
    }

    fn expected(&self, question: &str) -> AnswerType {
        if self.year.first(question).is_some() {
            AnswerType::Year
        } else if self.number.first(question).is_some() {
            AnswerType::Number
        } else if self.person.first(question).is_some() {
            AnswerType::Person
        } else if self.place.first(question).is_some() {
            AnswerType::Place
        } else {
            AnswerType::Any
        }
    }

    /// The adequacy check of [`crate::search::answer::answer`], on this language's words: the best
    /// hit must cover the question's content words (0.7 × coverage) and name its subject (+0.3),
    /// have no rival subject scoring as well, say every word asked in the answer sentence or its
    /// subject, and hold the kind of answer asked for. Anything else escalates.
    pub(crate) fn answer(&self, question: &str, hits: &[Hit], adequacy: &Adequacy) -> Result<Answer, Refusal> {
        if let Some(cue) = self.now.matched(question) {
            return Err(Refusal::TimeSensitive { cue });
        }
        let terms = self.content_terms(question);
        if terms.is_empty() {
            return Err(Refusal::NoContentWords);
        }
        let covers = |said: &HashSet<String>, t: &String| said.iter().any(|s| same_term(t, s));
        let mut scored: Vec<(&Hit, f64)> = hits
            .iter()
            .map(|hit| {
                let said = self.term_set(&format!("{} {}", hit.title, hit.text));
                let coverage = terms.iter().filter(|t| covers(&said, t)).count() as f64 / terms.len() as f64;
                let name = entity(&hit.title);
                let subject = self.content_terms(name);
                let asked = |s: &String| terms.iter().any(|t| same_term(t, s));
                let named = !subject.is_empty() && subject.iter().all(asked);
                // "Où est né Mozart": a person named by surname alone, as English allows.
                let by_surname = crate::search::evidence::looks_like_a_name(name)
                    && self.person_document.first(&hit.text).is_some()
                    && subject.last().is_some_and(asked);
                let bonus = if named {
                    0.3
                } else if by_surname {
                    0.2
                } else {
                    0.0
                };
                (hit, 0.7 * coverage + bonus)
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        let Some(&(best, confidence)) = scored.first() else {
            return Err(Refusal::NoHits);
        };
        if confidence < adequacy.min_confidence {
            return Err(Refusal::LowConfidence {
                confidence,
                threshold: adequacy.min_confidence,
            });
        }
        let subject: HashSet<String> = self.content_terms(entity(&best.title)).into_iter().collect();
        let sentence = self.best_sentence(&terms, &subject, best);
        let top = f64::from(best.score).max(f32::MIN_POSITIVE.into());
        if let Some((rival, _)) = scored[1..].iter().find(|(h, c)| {
            *c >= confidence - adequacy.rival_margin
                && f64::from(h.score) / top >= adequacy.rival_score_ratio
                && h.title != best.title
                && self.best_sentence(&terms, &subject, h) != sentence
        }) {
            return Err(Refusal::Ambiguous {
                confidence,
                other: rival.title.clone(),
            });
        }
        let said = self.term_set(&format!("{} {sentence}", best.title));
        if let Some(missing) = terms.iter().find(|t| !covers(&said, t)) {
            return Err(Refusal::Unsupported {
                missing: missing.clone(),
            });
        }
        let expected = self.expected(question);
        let asked: Vec<&String> = terms.iter().filter(|t| !subject.contains(*t)).collect();
        if !holds(expected, sentence) || (expected == AnswerType::Year && !self.dated_near(sentence, &asked)) {
            return Err(Refusal::WrongAnswerType { expected });
        }
        Ok(Answer::from_hit(best, sentence.to_string(), confidence))
    }

    /// The sentence of the hit that says most of what is asked beyond its subject; the first wins ties.
    fn best_sentence<'a>(&self, terms: &[String], subject: &HashSet<String>, hit: &'a Hit) -> &'a str {
        let asked: Vec<&String> = terms.iter().filter(|t| !subject.contains(*t)).collect();
        let mut best = ("", 0usize);
        for sentence in split_sentences(&hit.text) {
            let said = self.term_set(sentence);
            let n = asked.iter().filter(|t| said.iter().any(|s| same_term(t, s))).count();
            if best.0.is_empty() || n > best.1 {
                best = (sentence, n);
            }
        }
        best.0
    }

    /// For a "when": a year follows what is asked ("né ... 1802"), within a few words; a year
    /// elsewhere in the sentence (the year of a death, for a birth) is not the answer.
    fn dated_near(&self, sentence: &str, asked: &[&String]) -> bool {
        if asked.is_empty() {
            return true;
        }
        let words: Vec<String> = crate::classify::text::words(sentence).collect();
        words.iter().enumerate().any(|(i, w)| {
            let term = self.term(w);
            asked.iter().any(|t| same_term(t, &term))
                && words[i + 1..]
                    .iter()
                    .take(YEAR_WINDOW)
                    .any(|n| n.len() >= 3 && n.len() <= 4 && n.chars().all(|c| c.is_ascii_digit()))
        })
    }

    /// The answer as the client reads it, with its source in this language's words.
    pub(crate) fn message(&self, answer: &Answer) -> String {
        format!(
            "{}\n\n{} {} ({}), {}",
            answer.sentence, self.source_label, answer.title, answer.source, answer.url
        )
    }
}

/// Lookups found by a cue are as sure as the cue; the adequacy check is the second gate.
const LOOKUP_CONFIDENCE: f64 = 0.9;
/// How many words after what a "when" asks its year must come.
const YEAR_WINDOW: usize = 6;
/// A question longer than this is not a lookup.
const MAX_LOOKUP_WORDS: usize = 16;

/// Whether a sentence holds the kind of answer asked for: a year, a number, a name.
fn holds(expected: AnswerType, sentence: &str) -> bool {
    let has_digits = |min: usize| {
        sentence
            .split(|c: char| !c.is_ascii_digit())
            .any(|run| run.len() >= min)
    };
    let named = || {
        sentence
            .split_whitespace()
            .skip(1)
            .any(|w| w.chars().next().is_some_and(char::is_uppercase))
    };
    match expected {
        AnswerType::Any => true,
        AnswerType::Year => has_digits(3),
        AnswerType::Number => has_digits(1),
        AnswerType::Person | AnswerType::Place => named(),
    }
}

/// Sentences of a short document: a full stop, question or exclamation mark, then a space and a
/// capital letter ("J.-C." and "St. Louis" stay whole).
fn split_sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for i in 0..chars.len().saturating_sub(2) {
        let (at, c) = chars[i];
        if matches!(c, '.' | '?' | '!') && chars[i + 1].1 == ' ' && chars[i + 2].1.is_uppercase() {
            let before = &text[start..at];
            let last = before.rsplit(' ').next().unwrap_or("");
            if last.chars().count() <= 2 || last.contains('.') {
                continue;
            }
            out.push(text[start..=at].trim());
            start = chars[i + 1].0 + 1;
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// The pack whose language the message is in, when it is not English: the one with most function
/// words in it, if it has more of them than English has.
// The tests ask about packs directly; the pipeline goes through `language_among`.
#[cfg(test)]
pub(crate) fn language_of<'a>(
    packs: &'a [std::sync::Arc<LanguagePack>],
    message: &str,
) -> Option<&'a std::sync::Arc<LanguagePack>> {
    language_among(packs, |p| p, message)
}

/// [`language_of`] over anything that holds a pack (a pipeline's language stacks).
pub(crate) fn language_among<'a, T>(
    items: &'a [T],
    pack: impl Fn(&T) -> &LanguagePack,
    message: &str,
) -> Option<&'a T> {
    crate::classify::language_among(items, |item| pack(item) as &dyn crate::classify::LanguageCues, message)
}

impl crate::search::embedded::QueryWords for LanguagePack {
    fn keywords(&self, question: &str) -> Vec<String> {
        LanguagePack::keywords(self, question)
    }

    fn surface_forms(&self, keyword: &str) -> Vec<String> {
        LanguagePack::surface_forms(self, keyword)
    }
}

impl crate::classify::LanguageCues for LanguagePack {
    fn function_word_count(&self, text: &str) -> usize {
        LanguagePack::function_word_count(self, text)
    }

    fn decide(
        &self,
        features: &RequestFeatures,
        guards: &crate::classify::Guards,
        system_in_this_language: bool,
    ) -> Decision {
        LanguagePack::decide(self, features, guards, system_in_this_language)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn french() -> LanguagePack {
        LanguagePack::from_toml(include_str!("../lang/fr.toml")).unwrap()
    }

    fn hit(title: &str, text: &str, score: f32) -> Hit {
        Hit {
            id: format!("wiki-fr/{title}"),
            title: title.into(),
            text: text.into(),
            source: "Wikipédia".into(),
            url: format!("https://fr.wikipedia.org/wiki/{title}"),
            score,
        }
    }

    fn decide(text: &str) -> Decision {
        french().decide(
            &RequestFeatures::from_query(text),
            &crate::classify::Guards::default(),
            false,
        )
    }

    #[test]
    fn french_lookups_and_tasks_are_told_apart() {
        for q in [
            "Quelle est la capitale du Pérou ?",
            "Bonjour, pourriez-vous me dire quelle est la capitale du Pérou ? Merci !",
            "qui a écrit les misérables",
            "Qu'est-ce que la photosynthèse ?",
            "En quelle année est mort Victor Hugo ?",
            "Où se trouve le Machu Picchu ?",
        ] {
            let d = decide(q);
            assert_eq!(
                (d.class, d.route),
                (Class::Lookup, Route::Search),
                "{q}: {}",
                d.reason()
            );
        }
        for q in [
            "Écris un poème sur la mer",
            "Rédige un e-mail à mon patron pour demander un congé",
            "Explique-moi la relativité générale",
            "Pourquoi le ciel est-il bleu ?",
            "Traduis « bonjour » en anglais",
            "Quelle est la capitale du Pérou et quelle est sa population ? Compare avec le Chili.",
            "J'ai besoin d'aide pour mon CV",
            "Quelle heure est-il ?",
        ] {
            let d = decide(q);
            assert_eq!(d.route, Route::Llm, "{q}: {}", d.reason());
        }
    }

    #[test]
    fn a_french_system_prompt_that_sets_another_language_goes_to_the_llm() {
        let mut f = RequestFeatures::from_query("Quelle est la capitale du Pérou ?");
        f.system = "Réponds toujours en anglais.".into();
        let d = french().decide(&f, &crate::classify::Guards::default(), true);
        assert!(
            matches!(
                d.decider,
                Decider::Language {
                    guard: Some(Guard::SystemPrompt),
                    ..
                }
            ),
            "{d:?}"
        );
    }

    #[test]
    fn the_answer_is_the_french_sentence_that_says_it() {
        let fr = french();
        let hits = [
            hit("Pérou", "La capitale du Pérou est Lima.", 9.0),
            hit("Lima", "Lima est la capitale et la plus grande ville du Pérou.", 8.0),
        ];
        let answer = fr
            .answer("Quelle est la capitale du Perou ?", &hits, &Adequacy::default())
            .unwrap();
        assert_eq!(answer.sentence, "La capitale du Pérou est Lima.");
        assert!(fr.message(&answer).contains("Source : Pérou (Wikipédia)"));
        // A stale answer is a wrong one; a hit that does not say what is asked is no answer.
        assert!(matches!(
            fr.answer(
                "Quelle est la capitale actuelle du Pérou ?",
                &hits,
                &Adequacy::default()
            ),
            Err(Refusal::TimeSensitive { .. })
        ));
        let unrelated = [hit("Pérou", "Le Pérou est un pays d'Amérique du Sud.", 9.0)];
        assert!(fr
            .answer("Quelle est la monnaie du Pérou ?", &unrelated, &Adequacy::default())
            .is_err());
        let other_year = [hit(
            "Victor Hugo",
            "Victor Hugo, né le 7 ventôse an X à Besançon et mort le 22 mai 1885 à Paris, est un poète.",
            9.0,
        )];
        assert!(
            fr.answer("Quand est né Victor Hugo ?", &other_year, &Adequacy::default())
                .is_err(),
            "1885 is the year of his death"
        );
        let born = [hit(
            "Marie Curie",
            "Marie Curie, née le 7 novembre 1867 à Varsovie, est une physicienne.",
            9.0,
        )];
        assert!(fr
            .answer("Quand est née Marie Curie ?", &born, &Adequacy::default())
            .is_ok());
        let no_year = [hit("Victor Hugo", "Victor Hugo est un poète français.", 9.0)];
        assert!(fr
            .answer("En quelle année est né Victor Hugo ?", &no_year, &Adequacy::default())
            .is_err());
    }

    #[test]
    fn a_french_system_prompt_keeps_an_english_question_off_search() {
        let classifier = crate::classify::Classifier {
            guards: crate::classify::Guards::default(),
            rules: Vec::new(),
            scorer: Arc::new(crate::classify::HeuristicScorer),
            lookup_threshold: 0.0,
            compatible_system: None,
            languages: vec![Arc::new(french())],
        };
        let mut f = RequestFeatures::from_query("What is the capital of Peru?");
        assert_eq!(
            classifier.decide(&f).route,
            Route::Search,
            "a lookup with no system prompt"
        );
        f.system = "Tu es un assistant serviable. Réponds toujours en français.".into();
        assert_eq!(classifier.decide(&f).decider, Decider::Guard(Guard::SystemPrompt));
        let mut french_question = RequestFeatures::from_query("Quelle est la capitale du Pérou ?");
        french_question.system = "Tu es un assistant serviable.".into();
        let d = classifier.decide(&french_question);
        assert_eq!(d.route, Route::Search, "same language: {}", d.reason());
    }

    #[test]
    fn languages_are_told_by_their_function_words() {
        let packs = [Arc::new(french())];
        assert!(language_of(&packs, "Quelle est la capitale du Pérou ?").is_some());
        assert!(language_of(&packs, "Rédige un e-mail pour annuler ma réservation").is_some());
        assert!(language_of(&packs, "Dis-moi qui a écrit Germinal").is_some());
        assert!(language_of(&packs, "Wie heißt die Hauptstadt von Peru?").is_none());
        assert!(language_of(&packs, "What is the capital of Peru?").is_none());
        assert!(
            language_of(&packs, "Who wrote Les Misérables?").is_none(),
            "a French title in English"
        );
    }

    #[test]
    fn a_bad_pattern_is_named_by_its_key() {
        let text = include_str!("../lang/fr.toml").replacen("lookup = [", "lookup = [\"(unclosed\", ", 1);
        let problems = LanguagePack::from_toml(&text).unwrap_err();
        assert_eq!(problems[0].key, "cues.lookup[0]");
    }
}
