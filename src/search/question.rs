//! Questions as people type them, made comparable with what documents say. Pure.
//!
//! - [`rewrite`]: other names of countries ("nz", "UK", "usa" → the name the sources use, from
//!   `aliases.tsv`, which `scripts/build_corpus.py` writes from the World Factbook), common
//!   misspellings and shorthand ("capitol", "whats", "ww2"), and lookups phrased the long way
//!   ("how many people live in X" → "population of X").
//! - [`term`]: a word's comparable form. Inflections are cut by [`stem`]; irregular and derived
//!   forms of the verbs that lookups ask about share one form ("wrote", "written", "writer" →
//!   `write`), so "who wrote Hamlet" meets "written by William Shakespeare".
//! - [`surface_forms`]: the other way round, for a search engine that matches words as written.
//! - [`words`]: a text's words in lower case with accents off, as search compares them.
//! - [`same_term`]: equality that forgives one typo in five letters, two in eight ("austrailia").
//! - [`in_field`]: a definition asked within a field ("what is a cache in computing") as the
//!   definition alone, with the field that picks its sense.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

pub(crate) use crate::classify::text::fields::{field_named, Field};
use crate::classify::text::stem;

/// The lower-case words of a text with accents off ("Misérables" → "miserables"): people type
/// names without their accents, and the sources keep them, so search compares words this way.
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    crate::classify::text::words(text).map(|w| if w.is_ascii() { w } else { fold(&w) })
}

/// Verbs of the facts people look up, with their irregular and derived forms. The first word of
/// a group is the group's form.
const WORD_GROUPS: &[&[&str]] = &[
    &[
        "write", "wrote", "written", "writes", "writing", "writer", "author", "authored",
    ],
    &["paint", "painted", "painter", "painting", "paints"],
    &["compose", "composed", "composer", "composition", "composes"],
    &["invent", "invented", "inventor", "invention", "invents"],
    &["discover", "discovered", "discoverer", "discovery", "discovers"],
    // Not "found" itself: it is also the past of "find".
    &["founded", "founder", "founding", "cofounded", "co-founded", "founders"],
    &["direct", "directed", "director", "directs"],
    &["sing", "sang", "sung", "singer", "sings"],
    &["build", "built", "builder", "builds"],
    &["design", "designed", "designer", "designs"],
    &["sculpt", "sculpted", "sculptor", "sculpture"],
    &["born", "birth", "bear"],
    &["die", "died", "death", "dies"],
    &["begin", "began", "begun", "begins", "start", "started", "starts"],
    &["end", "ended", "ends"],
    &["speak", "spoke", "spoken", "speaks"],
    &["height", "tall", "high", "elevation"],
    // A record asked one way and written the other ("tallest mountain" meets "highest mountain";
    // "biggest ocean" meets "largest"), as the reader already reads them.
    &["highest", "tallest"],
    // "in the world" as the encyclopedia says it ("the highest mountain on Earth").
    &["world", "earth"],
    &["largest", "biggest"],
    &["nearest", "closest"],
    &["develop", "developed", "developer", "development"],
    &["record", "recorded", "recording"],
    // Irregular pasts that lookups ask about ("when did the Berlin Wall fall" meets "fell";
    // "when did the Titanic sink" meets "sank"). Not the ones that are also other words
    // ("saw", "left", "rose", "found", "lead").
    &["fall", "fell", "fallen", "falls"],
    &["sink", "sank", "sunk", "sinks"],
    &["win", "won", "winner", "wins", "winning"],
    &["fight", "fought", "fights"],
    &["buy", "bought", "buys", "buyer"],
    &["sell", "sold", "sells"],
    &["become", "became", "becomes"],
    &["fly", "flew", "flown", "flies"],
    &["hold", "held", "holds"],
    &["teach", "taught", "teaches", "teacher"],
    &["give", "gave", "given", "gives"],
    &["take", "took", "taken", "takes"],
    &["grow", "grew", "grown", "grows"],
    &["freeze", "froze", "frozen", "freezes"],
    &["know", "knew", "known", "knows"],
    &["lose", "lost", "loses"],
    &["break", "broke", "broken", "breaks"],
    &["bring", "brought", "brings"],
    &["catch", "caught", "catches"],
    &["steal", "stole", "stolen", "steals"],
    &["strike", "struck", "strikes"],
    &["throw", "threw", "thrown", "throws"],
    &["swim", "swam", "swum", "swims"],
    &["draw", "drew", "drawn", "draws"],
];

static GROUP_OF: LazyLock<HashMap<&'static str, usize>> = LazyLock::new(|| {
    WORD_GROUPS
        .iter()
        .enumerate()
        .flat_map(|(i, group)| group.iter().map(move |w| (*w, i)))
        .collect()
});

/// The comparable form of a lower-case word.
pub(crate) fn term(word: &str) -> String {
    match GROUP_OF.get(word) {
        Some(&group) => WORD_GROUPS[group][0].to_string(),
        None => stem(word).to_string(),
    }
}

/// Every form of the word's group (the word alone when it has none).
pub(crate) fn surface_forms(word: &str) -> Vec<&str> {
    match GROUP_OF.get(word) {
        Some(&group) => WORD_GROUPS[group].to_vec(),
        None => vec![word],
    }
}

/// Whether a question's term and a document's term are the same word, allowing for a typo in a
/// long word: one edit in five to seven letters, two from eight, never in the first letter
/// (so "austria" is not "australia", nor "iran" "iraq").
pub(crate) fn same_term(asked: &str, said: &str) -> bool {
    if asked == said {
        return true;
    }
    let len = asked.chars().count();
    let allowed = match len {
        0..=4 => return false,
        5..=7 => 1,
        _ => 2,
    };
    asked.chars().next() == said.chars().next()
        && said.chars().count().abs_diff(len) <= allowed
        && strsim::damerau_levenshtein(asked, said) <= allowed
}

/// The question with each misspelt word replaced by the spelling the search results use: a word
/// of five letters or more that no result has as such, but that results spell one or two edits
/// away ([`same_term`]), in at least `min_results` of them. Retrieval forgives such typos
/// ("currancy", "recesion"); the reader compares the question's words with each sentence's, so
/// it must read the question as the results spell it. `None` when nothing changes.
pub(crate) fn respell<'a>(
    question: &str,
    results: impl IntoIterator<Item = &'a str>,
    min_results: usize,
) -> Option<String> {
    let results: Vec<std::collections::HashSet<String>> = results.into_iter().map(|r| words(r).collect()).collect();
    // Another form of the word ("state" where results say "states") is no typo.
    let stems: std::collections::HashSet<String> = results.iter().flatten().map(|w| stem(w).to_string()).collect();
    let mut out = question.to_string();
    let mut changed = false;
    for word in words(question) {
        // A small word is never a typo of another: "Where were the first modern Olympic Games
        // held?" had "where" respelt to "were", and read as a yes-or-no question.
        if word.chars().count() < 5
            || !word.chars().all(char::is_alphabetic)
            || stems.contains(stem(&word))
            || crate::classify::text::is_stopword(&word)
        {
            continue;
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for r in &results {
            for said in r.iter().filter(|said| same_term(&word, said)) {
                *counts.entry(said.as_str()).or_default() += 1;
            }
        }
        let best = counts
            .into_iter()
            .filter(|&(_, n)| n >= min_results)
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)));
        if let Some((said, _)) = best {
            if let Ok(re) = Regex::new(&format!(r"(?i)\b{}\b", regex::escape(&word))) {
                out = re.replace_all(&out, regex::NoExpand(said)).into_owned();
                changed = true;
            }
        }
    }
    changed.then_some(out)
}

/// Whether `b` is `a` with two neighbouring letters swapped.
pub(crate) fn swapped_neighbours(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len() != b.len() {
        return false;
    }
    let differ: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    matches!(differ[..], [i, j] if j == i + 1 && a[i] == b[j] && a[j] == b[i])
}

/// Whether `asked` is one of `said`, typos allowed.
pub(crate) fn mentions<'a>(said: impl IntoIterator<Item = &'a String>, asked: &str) -> bool {
    said.into_iter().any(|s| same_term(asked, s))
}

struct Aliases {
    /// Any casing: "uk", "UK", "Uk".
    any: Option<Regex>,
    /// Only as written, because the lower-case form is an English word ("US", "CAR").
    cased: Option<Regex>,
    names: HashMap<String, &'static str>,
}

static ALIASES: LazyLock<Aliases> = LazyLock::new(|| {
    let mut any = Vec::new();
    let mut cased = Vec::new();
    let mut names = HashMap::new();
    for line in include_str!("aliases.tsv").lines() {
        let mut fields = line.split('\t');
        let (Some(alias), Some(name), Some(how)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if alias.starts_with('#') {
            continue;
        }
        names.insert(alias.to_lowercase(), name);
        let escaped = regex::escape(alias);
        if how == "cased" {
            cased.push(escaped);
        } else {
            any.push(escaped);
        }
    }
    // Longest first, so "republic of korea" wins over "korea".
    let build = |mut alternatives: Vec<String>, flags: &str| {
        alternatives.sort_by_key(|a| std::cmp::Reverse(a.len()));
        Regex::new(&format!(r"{flags}\b(?:{})\b", alternatives.join("|"))).ok()
    };
    Aliases {
        any: build(any, "(?i)"),
        cased: build(cased, ""),
        names,
    }
});

/// Misspellings and shorthand common enough in chat to fix before anything else (question words
/// are fixed by [`crate::classify::text::typed_form`] first).
static SHORTHAND: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"(?i)\bcapitol\b", "capital"),
        (
            r"(?i)\b(?:ww ?(?:2|ii)|world war (?:2|two)|second world war)\b",
            "World War II",
        ),
        (
            r"(?i)\b(?:ww ?(?:1|i)|world war (?:1|one)|first world war)\b",
            "World War I",
        ),
    ]
    .into_iter()
    .filter_map(|(pattern, replacement)| Regex::new(pattern).ok().map(|re| (re, replacement)))
    .collect()
});

/// Common phrasings of a lookup, rewritten to the words the facts use ("how many people live in
/// France" → "population of France"), so that retrieval and the adequacy check see the same thing.
static REWRITES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"(?i)\bhow many (people|inhabitants|residents|persons|citizens)( (live|lives|living|reside|are there|are living))?( in)?\b", "population of"),
        (r"(?i)\bwhat is the (size|surface area|land area) of\b", "area of"),
        (r"(?i)\bhow (big|large) is\b", "area of"),
        (r"(?i)\bhow (tall|high) is\b", "height of"),
        (r"(?i)\bcapital city\b", "capital"),
        (r"(?i)\bwhat (currency|money) (is used|do they use|is spent)( in)?\b", "currency of"),
        (r"(?i)\bwho (found|first isolated|first discovered|isolated)\b", "who discovered"),
        // "who came up with the theory of relativity": the encyclopedia says "developed"; left as
        // it is, "up" and "came" are searched for and find the dictionary's "up".
        (r"(?i)\bwho (?:came up with|thought up|dreamed up|dreamt up|devised|formulated|conceived)\b", "who developed"),
        (r"(?i)\b(what|which) currency does (.+?) use\b", "currency of $2"),
        (r"(?i)\b(what|which) currency is used in\b", "currency of"),
        (r"(?i)\b(currency|money) (?:is |that is )?used in\b", "currency of"),
        (r"(?i)\b(?:what|which) (?:currency|money) do (?:they|people|you) use in\b", "currency of"),
        (r"(?i)\b(?:what|which) languages? (?:is|are|do they|do people) (?:spoken|speak) in\b", "languages spoken in"),
        (r"(?i)\b(what|which) (city|town) is the capital of\b", "capital of"),
        (r"(?i)\b(in )?(what|which) year (was|were|did)\b", "when $3"),
        (r"(?i)\b(what|which) countries (border|neighbou?r) (.+?)\??$", "$3 borders"),
        // Hedges that a message adds to a question without changing it ("what exactly is gluten",
        // "who actually invented the telephone"): left in, the hedge is searched for and found
        // in the dictionary ("exactly (adverb): in a precise manner").
        (r"(?i)\b(what|who|where|when|which|how)\s+(?:exactly|actually|really|basically|precisely)\b", "$1"),
        // A word asked about as a word: "what does the German word "schadenfreude" mean", "what
        // does the phrase bite the bullet mean", "(explain) what the word obsolete means".
        (r#"(?i)\bwhat (?:does|do) (?:the (?:[a-z]+ )?(?:word|term|phrase|expression|idiom|saying) )?["'“‘]?(.+?)["'”’]? mean\b"#, "$1"),
        (r#"(?i)^\s*what (?:the (?:[a-z]+ )?(?:word|term|phrase|expression|idiom|saying) )?["'“‘]?(.+?)["'”’]? means\b"#, "$1"),
        (r"(?i)\bwhat (?:does|do) (?:the (?:abbreviation|acronym) )?(.+?) stand for\b", "$1"),
        (r#"(?i)^\s*(?:define|(?:what(?:'s| is) )?(?:the )?(?:definition|meaning) of)\s+(?:the (?:[a-z]+ )?(?:word|term|phrase|expression|idiom) )?["'“‘]?"#, ""),
        (r"(?i)\bwhat (?:are|is) (?:the )?(?:people|a person|someone|residents|inhabitants|natives|citizens) (?:from|of|in) (.+?) called\b", "nationality of $1"),
        // "What is a baby swan called?": the dictionary defines the name by "a young swan"
        // ("cygnet (noun): a young swan"), which "baby" would not find.
        (r"(?i)\bbaby ([a-z]+)((?: is)? called\b)", "young $1$2"),
        (r"(?i)\b(call (?:a|an) )baby ([a-z]+)(\s*\?*\s*)$", "${1}young $2$3"),
    ]
    .into_iter()
    .filter_map(|(pattern, replacement)| Regex::new(pattern).ok().map(|re| (re, replacement)))
    .collect()
});

/// Compiles the tables now, so the first request does not pay for it.
pub(crate) fn warm_up() {
    LazyLock::force(&ALIASES);
    LazyLock::force(&SHORTHAND);
    LazyLock::force(&REWRITES);
    LazyLock::force(&GROUP_OF);
}

/// The question with shorthand fixed, countries named as the sources name them, and long
/// phrasings shortened.
pub(crate) fn rewrite(question: &str) -> Cow<'_, str> {
    // Question words as typed ("whats", "wich") and terse forms, as the classifier reads them.
    let mut text = crate::classify::text::typed_form(question);
    for (re, replacement) in SHORTHAND.iter() {
        if re.is_match(&text) {
            text = Cow::Owned(re.replace_all(&text, *replacement).into_owned());
        }
    }
    let aliases = &*ALIASES;
    let shouting = !question.chars().any(char::is_lowercase);
    let cased = aliases.cased.as_ref().filter(|_| !shouting);
    for re in [aliases.any.as_ref(), cased].into_iter().flatten() {
        if re.is_match(&text) {
            let replaced = re.replace_all(&text, |c: &regex::Captures<'_>| {
                aliases
                    .names
                    .get(&c[0].to_lowercase())
                    .copied()
                    .unwrap_or("")
                    .to_string()
            });
            text = Cow::Owned(replaced.into_owned());
        }
    }
    for (re, replacement) in REWRITES.iter() {
        if re.is_match(&text) {
            text = Cow::Owned(re.replace_all(&text, *replacement).into_owned());
        }
    }
    text
}

/// Accents off ("Brasília" → "Brasilia"), so two sources that spell a name differently agree.
pub(crate) fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    // ASCII has no compatibility decomposition and no combining marks: it folds to itself.
    if text.is_ascii() {
        return text.to_string();
    }
    text.nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .collect()
}

/// For "what does CPU stand for": the abbreviation asked about.
pub(crate) fn abbreviation_asked(question: &str) -> Option<String> {
    static STANDS_FOR: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r#"(?i)\bwhat (?:does|do|is) (?:the (?:abbreviation|acronym) )?["'‘“]?([a-z][a-z0-9&.]{1,9})["'’”]? (?:stand for|short for)\b"#).ok()
    });
    let caps = STANDS_FOR.as_ref()?.captures(question)?;
    let letters: String = caps[1].chars().filter(char::is_ascii_alphanumeric).collect();
    (letters.len() >= 2).then(|| letters.to_lowercase())
}

/// Whether `text` spells out `abbreviation` ("cpu") as consecutive words whose initials are its
/// letters ("central processing unit"), small words allowed in between ("Bank of America").
pub(crate) fn expands(text: &str, abbreviation: &str) -> bool {
    // An elided word is one with the word it leans on: "répondez s'il vous plaît" spells RSVP
    // with "s'il", where a letter said alone would not count.
    static ELIDED: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\b(\w)['’](\w)").ok());
    let text = match ELIDED.as_ref() {
        Some(re) if text.contains(['\'', '’']) => re.replace_all(text, "$1$2"),
        _ => Cow::Borrowed(text),
    };
    // The abbreviation itself is no expansion of it, and neither is it with the next word:
    // "pin (noun): a piece of jewelry" must not read as p-i from "pin" and n from "noun".
    let words: Vec<String> = self::words(&text).filter(|w| w != abbreviation).collect();
    let letters: Vec<char> = abbreviation.chars().collect();
    (0..words.len()).any(|start| spells(&words[start..], &letters, true))
}

/// Whether `words`, from the first, spell `letters`: each word gives its first letter and may give
/// more from inside it, in order ("hypertext" gives h and t of HTML; "deoxyribonucleic" d and n of
/// DNA); small words may come between.
fn spells(words: &[String], letters: &[char], first: bool) -> bool {
    let small = |w: &str| matches!(w, "of" | "and" | "the" | "for" | "in" | "on" | "to" | "a" | "by" | "at");
    let Some(letter) = letters.first() else {
        return true;
    };
    let Some((word, rest)) = words.split_first() else {
        return false;
    };
    // An expansion does not open with a joining word: "and preceding" is not what APR stands for
    // ("The Onion Router" opens with an article, and may), nor "is essential" what i.e. does.
    let opens_nothing = |w: &str| {
        matches!(
            w,
            "is" | "are"
                | "was"
                | "were"
                | "be"
                | "been"
                | "it"
                | "its"
                | "that"
                | "this"
                | "which"
                | "who"
                | "with"
                | "has"
                | "have"
                | "had"
        )
    };
    if first && ((word != "the" && small(word)) || opens_nothing(word)) {
        return false;
    }
    // A possessive's "s" is no word of it: "United Nations International Children's Emergency
    // Fund" spells UNICEF.
    // (Not when s is the letter needed: "Steve's Shell" is no SSH.)
    if word == "s" && !first && *letter != 's' {
        return spells(rest, letters, false);
    }
    if !word.starts_with(*letter) {
        return !first && small(word) && spells(rest, letters, false);
    }
    // A letter said alone is how the abbreviation is pronounced ("/S Q L/") or a possessive's
    // "s", not a word of what it stands for.
    if word.chars().count() < 2 {
        return false;
    }
    // The first word spelling it all is the abbreviation itself, not its expansion.
    let most = if first { letters.len() - 1 } else { letters.len() };
    // Letters this word may take beyond its first: as many as appear in order inside it.
    let inside: Vec<char> = word.chars().skip(1).collect();
    let mut taken = 1;
    let mut at = 0;
    let mut options = vec![1];
    while taken < letters.len() {
        match inside[at..].iter().position(|c| *c == letters[taken]) {
            Some(p) => {
                at += p + 1;
                taken += 1;
                options.push(taken);
            }
            None => break,
        }
    }
    options
        .iter()
        .rev()
        .filter(|&&n| n <= most)
        .any(|&n| spells(rest, &letters[n..], false))
}

/// "C++", "C#", "F#" as words a search engine keeps: its tokenizer would leave "c" of each, so
/// "who created c++" met the C language. Applied to the indexed text and to the question alike.
pub(crate) fn spell_signs(text: &str) -> Cow<'_, str> {
    static SIGNED: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?i)(^|[^\w+#])([cf])(\+\+|#)").ok());
    if !text.contains(['+', '#']) {
        return Cow::Borrowed(text);
    }
    let Some(re) = SIGNED.as_ref() else {
        return Cow::Borrowed(text);
    };
    re.replace_all(text, |c: &regex::Captures| {
        let letter = c[2].to_lowercase();
        let sign = if &c[3] == "++" { "plusplus" } else { "sharp" };
        format!("{}{letter}{sign}", &c[1])
    })
}

/// "What is a cache in computing?", "what does TTL mean in networking", "In machine learning, what
/// is a confusion matrix?": the definition asked without its field ("what is a cache?"), and the
/// field. The field's words would otherwise outrank the term in retrieval (entries that name both
/// "bandwidth" and "networking" in passing before the entry of "bandwidth") and in the reader's
/// coverage of the question. `None` for anything but a definition ("the currency in Brazil" keeps
/// its place: only fields of knowledge are read).
pub(crate) fn in_field(question: &str) -> Option<(String, Field)> {
    static SUFFIX: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"(?i)^(.+?),?\s+(?:in the context of|when talking about|in)\s+([a-z+# ]+?)\s*[?.!]*$").ok()
    });
    static PREFIX: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"(?i)^in\s+([a-z+# ]+?),\s*(.+?)\s*[?.!]*$").ok());
    static DEFINITION: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r#"(?i)^(?:what(?:'s|’s|s| is| are)\s|whats\s|define\s|what does\s.+\s(?:mean|stand for)$)"#).ok()
    });
    let question = question.trim();
    // "Python question: what is a decorator?": the field as the question's label.
    static LABEL: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"(?i)^([a-z+# ]+?)\s+question\s*[:—–-]+\s*(.+?)\s*[?.!]*$").ok());
    let (head, field) = if let Some(c) = SUFFIX.as_ref()?.captures(question) {
        (c.get(1)?.as_str(), c.get(2)?.as_str())
    } else if let Some(c) = LABEL.as_ref()?.captures(question) {
        (c.get(2)?.as_str(), c.get(1)?.as_str())
    } else {
        let c = PREFIX.as_ref()?.captures(question)?;
        (c.get(2)?.as_str(), c.get(1)?.as_str())
    };
    let field = field_named(field)?;
    let head = head.trim_end_matches(['?', '.', '!', ' ']);
    // Something must be left to define: "what is it in python" is no definition.
    let defined = DEFINITION.as_ref()?.is_match(head) && words(head).filter(|w| !is_frame_word(w)).count() >= 1;
    defined.then(|| (format!("{head}?"), field))
}

fn is_frame_word(word: &str) -> bool {
    matches!(
        word,
        "what"
            | "whats"
            | "s"
            | "is"
            | "are"
            | "a"
            | "an"
            | "the"
            | "define"
            | "does"
            | "mean"
            | "stand"
            | "for"
            | "it"
            | "this"
            | "that"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_names_as_typed_become_the_sources_names() {
        assert_eq!(rewrite("capital of nz?"), "capital of New Zealand?");
        assert_eq!(
            rewrite("what is the currency of the UK"),
            "what is the currency of the United Kingdom"
        );
        assert_eq!(rewrite("usa capital"), "United States capital");
        // "us" the pronoun stays; "US" the country is renamed unless the whole question shouts.
        assert_eq!(rewrite("tell us the capital of peru"), "tell us the capital of peru");
        assert_eq!(rewrite("capital of the US"), "capital of United States");
        assert_eq!(rewrite("capital of the us"), "capital of United States");
        assert_eq!(
            rewrite("WHAT IS THE CAPITAL OF PERU AS OF NOW"),
            "WHAT IS THE CAPITAL OF PERU AS OF NOW"
        );
    }

    #[test]
    fn shorthand_and_long_phrasings_are_rewritten() {
        assert_eq!(
            rewrite("whats the capitol of germany"),
            "what is the capital of germany"
        );
        assert_eq!(rewrite("when did ww2 end"), "when did World War II end");
        assert_eq!(rewrite("how tall is mount everest"), "height of mount everest");
        assert_eq!(rewrite("what does CPU stand for"), "CPU");
        assert_eq!(
            rewrite("who came up with the theory of relativity"),
            "who developed the theory of relativity"
        );
        assert_eq!(rewrite("define democracy"), "democracy");
        assert_eq!(rewrite("What exactly is gluten?"), "What is gluten?");
        assert_eq!(
            rewrite("who actually invented the telephone"),
            "who invented the telephone"
        );
        assert_eq!(
            rewrite("What does the German word \"schadenfreude\" mean?"),
            "schadenfreude?"
        );
        assert_eq!(rewrite("what does the phrase bite the bullet mean"), "bite the bullet");
        assert_eq!(rewrite("what the word 'obsolete' means"), "obsolete");
        assert_eq!(rewrite("What's the meaning of the word \"resilient\"?"), "resilient\"?");
        assert_eq!(rewrite("What is the definition of meticulous?"), "meticulous?");
        // Not a hedge: "really" is what is asked about.
        assert_eq!(
            rewrite("what is really simple syndication"),
            "what is really simple syndication"
        );
        assert_eq!(rewrite("What is a baby swan called?"), "What is a young swan called?");
        assert_eq!(rewrite("what do you call a baby goat"), "what do you call a young goat");
        assert_eq!(rewrite("baby kangaroo called"), "young kangaroo called");
        assert_eq!(rewrite("what is baby oil made of"), "what is baby oil made of");
        assert_eq!(rewrite("who sang baby shark?"), "who sang baby shark?");
        assert_eq!(rewrite("What are people from Hamburg called"), "nationality of Hamburg");
    }

    #[test]
    fn irregular_and_derived_forms_share_a_term() {
        assert_eq!(term("wrote"), term("written"));
        assert_eq!(term("writer"), term("write"));
        assert_eq!(term("inventor"), term("invented"));
        assert_eq!(term("painting"), term("painted"));
        assert_eq!(term("capitals"), term("capital"));
        assert_eq!(term("fell"), term("fall"));
        assert_eq!(term("sank"), term("sinks"));
        assert_ne!(term("saw"), term("see"));
        assert!(surface_forms("wrote").contains(&"written"));
        assert_eq!(surface_forms("peru"), ["peru"]);
        // A record asked one way is searched the other way too.
        assert!(surface_forms("tallest").contains(&"highest"));
        assert_eq!(term("biggest"), term("largest"));
        assert_ne!(term("tallest"), term("largest"));
        // "in the world" meets "on Earth".
        assert_eq!(term("world"), term("earth"));
    }

    #[test]
    fn a_typo_is_respelt_as_the_results_spell_it() {
        let results = [
            "The currency of Turkey is the Lira.",
            "Turkey uses the lira as its currency.",
        ];
        assert_eq!(
            respell("what currancy does turkey use", results, 1).as_deref(),
            Some("what currency does turkey use")
        );
        // Spelt as the results spell it, or too short to tell: nothing changes.
        assert_eq!(respell("what currency does turkey use", results, 1), None);
        assert_eq!(respell("what is lyra", ["lira"], 1), None);
        assert_eq!(
            respell("Where were the first Games held?", ["they were held in Athens"], 1),
            None
        );
        assert_eq!(respell("which state is it", ["the states of it"], 1), None);
        // Fewer results than asked for: a rare word is not taken for a typo of another.
        assert_eq!(respell("what currancy does turkey use", results, 3), None);
        assert_eq!(rewrite("wat is the capital of peru"), "what is the capital of peru");
    }

    #[test]
    fn swapped_neighbours_are_one_typo() {
        assert!(swapped_neighbours("frankenstien", "frankenstein"));
        assert!(!swapped_neighbours("frankenstein", "frankenstein"));
        assert!(!swapped_neighbours("gymnophobia", "gynophobia"));
        assert!(!swapped_neighbours("abcd", "badc"));
    }

    #[test]
    fn typos_are_forgiven_in_long_words_only() {
        assert!(same_term("austrailia", "australia"));
        assert!(same_term("switzerlnd", "switzerland"));
        assert!(!same_term("austria", "australia"));
        assert!(!same_term("iran", "iraq"));
        assert!(!same_term("paris", "baris"), "never the first letter");
        assert!(!same_term("mali", "malta"));
    }

    #[test]
    fn an_abbreviation_and_its_part_of_speech_are_no_expansion() {
        assert!(!expands(
            "pin (noun): a piece of jewelry that is pinned onto the wearer's garment.",
            "pin"
        ));
        assert!(expands(
            "PIN (noun): a number; also called personal identification number.",
            "pin"
        ));
    }

    #[test]
    fn abbreviations_are_checked_against_their_expansion() {
        assert_eq!(abbreviation_asked("what does CPU stand for"), Some("cpu".into()));
        assert!(expands(
            "laser stands for light amplification by stimulated emission of radiation.",
            "laser"
        ));
        assert!(expands(
            "UNICEF stands for United Nations International Children's Emergency Fund.",
            "unicef"
        ));
        assert!(!expands("UNICEF is an agency of the United Nations.", "unicef"));
        assert_eq!(abbreviation_asked("What does N.A.S.A. stand for?"), Some("nasa".into()));
        assert_eq!(abbreviation_asked("what is a cpu"), None);
        // Quoted, as people write it; and "is essential" spells no i.e.
        assert_eq!(abbreviation_asked("What does 'i.e.' stand for?"), Some("ie".into()));
        assert_eq!(
            abbreviation_asked("What does the abbreviation \"etc.\" stand for?"),
            Some("etc".into())
        );
        assert!(!expands("a vitamin that is essential for reproduction", "ie"));
        assert!(expands("asap: As soon as possible.", "asap"));
        assert!(expands("RSVP stands for répondez s'il vous plaît.", "rsvp"));
        assert!(expands("A central processing unit (CPU) is ...", "cpu"));
        assert!(expands("the National Aeronautics and Space Administration", "nasa"));
        assert!(expands("Bank of America", "boa"));
        assert!(!expands("a unit that processes centrally", "cpu"));
        assert!(expands("HyperText Markup Language", "html"));
        assert!(expands("also called deoxyribonucleic acid", "dna"));
        assert!(!expands("a long linear polymer", "dna"));
        // Letters said one by one are how it is pronounced, not what it stands for.
        assert!(!expands(
            "SQL: /S Q L/ An industry-standard language for querying databases.",
            "sql"
        ));
        assert!(!expands("ssh: 1. Steve's Shell.", "ssh"));
        assert!(expands("Secure Shell (SSH) is a network protocol.", "ssh"));
        // Nor does a joining word open an expansion.
        assert!(!expands(
            "April (noun): the month following March and preceding May; also called Apr.",
            "apr"
        ));
        assert!(expands("The Onion Router (Tor) is free software.", "tor"));
    }

    proptest::proptest! {
        /// The ASCII shortcut gives what the Unicode path gives.
        #[test]
        fn fold_is_nfkd_without_marks(text in "(\\PC|[ -~]){0,16}") {
            use unicode_normalization::UnicodeNormalization;
            let slow: String = text.nfkd().filter(|c| !unicode_normalization::char::is_combining_mark(*c)).collect();
            proptest::prop_assert_eq!(fold(&text), slow);
        }
    }
    #[test]
    fn signed_language_names_are_words() {
        assert_eq!(spell_signs("who created C++?"), "who created cplusplus?");
        assert_eq!(spell_signs("c# meaning"), "csharp meaning");
        assert_eq!(spell_signs("C++: a superset of C"), "cplusplus: a superset of C");
        assert_eq!(spell_signs("F# and C"), "fsharp and C");
        assert_eq!(spell_signs("a + b"), "a + b");
        assert_eq!(spell_signs("abc++"), "abc++");
    }

    #[test]
    fn a_definition_within_a_field_is_the_definition_and_the_field() {
        assert_eq!(
            in_field("What is a cache in computing?"),
            Some(("What is a cache?".to_string(), Field::Computing))
        );
        assert_eq!(
            in_field("what does ttl mean in networking"),
            Some(("what does ttl mean?".to_string(), Field::Computing))
        );
        assert_eq!(
            in_field("In machine learning, what is a confusion matrix?"),
            Some(("what is a confusion matrix?".to_string(), Field::Learning))
        );
        assert_eq!(
            in_field("what is a bond in finance"),
            Some(("what is a bond?".to_string(), Field::Money))
        );
        assert_eq!(
            in_field("What is a catalyst in chemistry?"),
            Some(("What is a catalyst?".to_string(), Field::Other("chemistry")))
        );
        assert_eq!(
            in_field("Python question: what is a decorator?"),
            Some(("what is a decorator?".into(), Field::Named(&["python"])))
        );
        assert_eq!(in_field("Movie question: who directed Jaws?"), None);
        assert_eq!(in_field("what is the currency in brazil"), None);
        assert_eq!(in_field("what is the speed of sound in air"), None);
        assert_eq!(in_field("who invented the telephone in america"), None);
        assert_eq!(in_field("what is it in python"), None);
        assert_eq!(
            in_field("whats a closure in js"),
            Some(("whats a closure?".to_string(), Field::Named(&["javascript", "js"])))
        );
        assert_eq!(
            in_field("What is an epoch in machine learning?"),
            Some(("What is an epoch?".to_string(), Field::Learning))
        );
    }
}
