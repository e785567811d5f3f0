//! Small, allocation-light text helpers shared by the classifier and the answer extractor.

use std::sync::LazyLock;

/// The words of a text as slices of it: runs of alphanumerics (Unicode aware), apostrophes inside
/// words kept out, so "Peru's" yields "Peru" and "s". The one definition of a word here.
pub(crate) fn word_slices(text: &str) -> impl Iterator<Item = &str> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty())
}

/// Lower-cased [`word_slices`].
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    lower_words(text).map(std::borrow::Cow::into_owned)
}

/// [`words`] without a copy of the words already in lower case: what the classifier's word
/// counts read on every request.
pub(crate) fn lower_words(text: &str) -> impl Iterator<Item = std::borrow::Cow<'_, str>> + '_ {
    word_slices(text).map(lower)
}

/// A word in lower case, borrowed when it already is. Only plain ASCII is checked in place;
/// anything else takes the full Unicode mapping, so the result is always `str::to_lowercase`'s.
pub(crate) fn lower(word: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    if !word.is_ascii() {
        Cow::Owned(word.to_lowercase())
    } else if word.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(word.to_ascii_lowercase())
    } else {
        Cow::Borrowed(word)
    }
}

/// Byte spans of the [`word_slices`] in `text`.
fn word_spans(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    word_slices(text).map(move |w| {
        let start = w.as_ptr() as usize - text.as_ptr() as usize;
        (start, start + w.len())
    })
}

/// The question inside a chat frame: "Hey, can you tell me who wrote Hamlet? Thanks!" becomes
/// "who wrote Hamlet?". Chatbot users wrap lookups in greetings and politeness that the labelled
/// sources never have; left in, those words read as a conversation and push lookups to the LLM,
/// and the search backend would look for them too.
///
/// Only closed-class filler is removed, so nothing that changes what is asked can go:
/// - a lead-in made only of [`is_frame_word`]s, up to the first question word ("could you let me
///   know when ...") or after "know" ("do you know the capital of ..."), or a greeting closed by
///   punctuation ("Hi! ...", "Quick question: ...");
/// - a closing of thanks or "please" ("... thanks a lot!", "..., please").
///
/// A request with a task in its lead-in keeps it: "Can you explain what a monad is" has
/// "explain", which is not filler. Returns a slice of `text`, never an empty one.
pub fn core_question(text: &str) -> &str {
    // "I'm trying to remember who invented dynamite. Do you know?": the question is before the
    // tag that hands it over.
    if let Some(asked) = before_tag_question(text) {
        return core_question(asked);
    }
    // "Can you help me with something? What does UNESCO stand for?", "I have a question. Who …":
    // a first sentence that only asks to ask.
    if let Some(asked) = after_asking_to_ask(text) {
        return core_question(asked);
    }
    let spans: Vec<(usize, usize)> = word_spans(text).collect();
    let lower: Vec<String> = spans.iter().map(|&(s, e)| text[s..e].to_lowercase()).collect();
    let mut first = 0;
    if let Some(q) = lower.iter().position(|w| is_question_word(w)) {
        // "... know in which year", "... tell me to whom": the preposition belongs to the question.
        let q = if q > 1 && is_preposition(&lower[q - 1]) {
            q - 1
        } else {
            q
        };
        if q > 0 && q <= MAX_FRAME_WORDS && lower[..q].iter().all(|w| is_frame_word(w)) {
            first = q;
        }
    }
    if first == 0 {
        // "Do you happen to know the capital of Peru", "Could you tell me the capital of Turkey":
        // an asking frame ending in "know" or "tell me" before a question that has no question
        // word.
        let lead = lower
            .iter()
            .take(MAX_FRAME_WORDS)
            .take_while(|w| is_frame_word(w))
            .count();
        // Only "tell me the …": "tell me a joke", "tell me about X" are tasks, not lookups.
        let ends_frame = |i: usize| {
            lower[i] == "know"
                || (matches!(lower[i].as_str(), "me" | "us")
                    && i > 0
                    && lower[i - 1] == "tell"
                    && lower.get(i + 1).is_some_and(|w| w == "the"))
        };
        if let Some(end) = (0..lead).rev().find(|&i| ends_frame(i)) {
            if end + 1 < lower.len() {
                first = end + 1;
            }
        }
    }
    if first == 0 {
        // A greeting closed by punctuation, perhaps with the name it is addressed to: "Hi! …",
        // "Hey assistant, …", "Hello ChatGPT: …".
        let greeting = lower.iter().take_while(|w| is_greeting(w)).count();
        if greeting > 0 {
            let last_end = (greeting + MAX_VOCATIVE_WORDS).min(lower.len() - 1);
            first = (greeting..=last_end)
                .find(|&end| text[spans[end - 1].1..spans[end].0].contains([',', '!', ':', '.', '-']))
                .unwrap_or(0);
        }
    }
    if first == 0 {
        first = after_context(text, &spans, &lower);
    }
    let mut last = lower.len();
    // A closing is a run of thanks words that starts with a thanks or "please".
    let tail = lower[first..].iter().rev().take_while(|w| is_closing_word(w)).count();
    if tail > 0 {
        let run = &lower[last - tail..];
        if let Some(head) = run.iter().position(|w| is_closing_head(w)) {
            let cut = last - tail + head;
            // Only a closing set apart by punctuation or a capital ("... hamlet Thank you"): "how
            // do you say thank you" keeps its end.
            let apart = || {
                text[spans[cut - 1].1..spans[cut].0].contains([',', '?', '!', '.', ';', '-'])
                    || text[spans[cut].0..].starts_with(|c: char| c.is_uppercase())
            };
            if cut > first && apart() {
                last = cut;
            }
        }
    }
    if first == 0 && last == lower.len() {
        return text;
    }
    let start = spans[first].0;
    let end = if last == lower.len() {
        text.len()
    } else {
        // Keep the question's own punctuation ("Hamlet?"), drop what joined it to the closing.
        let gap = &text[spans[last - 1].1..spans[last].0];
        let keep = gap
            .find(|c: char| c != '?' && c != '.' && c != '!')
            .unwrap_or(gap.len());
        spans[last - 1].1 + keep
    };
    text[start..end].trim_end_matches([',', ' ', ';', '-'])
}

/// The text before a closing tag question ("… Do you know?", "… What's the answer?", "… Any
/// idea?", "My daughter asked me what a marsupial is, what should I tell her?", "… How do I
/// explain it?"), when that text asks something itself.
fn before_tag_question(text: &str) -> Option<&str> {
    static TAG: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
        regex::Regex::new(r"(?i)(?:[.!?;]|,\s*(?:so\s+)?(?:what|how))\s*(?:do you know|does anyone know|what'?s the answer|what is the answer|any idea|any ideas|(?:what|how)?\s*(?:should|do|can|would)\s+i\s+(?:tell|say\s+to|explain\s+(?:it|that|this))(?:\s+(?:to\s+)?(?:her|him|them|my\s+\w+))?)\s*[?.!]*\s*$").ok()
    });
    let tag = TAG.as_ref()?.find(text)?;
    let asked = text[..tag.start() + 1].trim_end();
    let spans: Vec<(usize, usize)> = word_spans(asked).collect();
    spans
        .iter()
        .any(|&(s, e)| is_question_word(&asked[s..e].to_lowercase()))
        .then_some(asked)
}

/// The text after a first sentence that only asks to ask ("Can you help me with something?", "I
/// have a quick question.", "Hi, I need some help!"), when that text asks something itself.
fn after_asking_to_ask(text: &str) -> Option<&str> {
    let end = text.find(['?', '.', '!'])?;
    let (first, rest) = (&text[..end], text[end + 1..].trim_start_matches(['?', '.', '!', ' ']));
    let asks_to_ask = words(first).all(|w| {
        is_frame_word(&w)
            || matches!(
                w.as_str(),
                "help" | "with" | "something" | "question" | "questions" | "some" | "little" | "quick" | "ask"
            )
    }) && words(first).any(|w| matches!(w.as_str(), "help" | "question" | "ask" | "something"));
    let asks_itself = words(rest).any(|w| is_question_word(&w));
    (asks_to_ask && asks_itself && !rest.is_empty()).then_some(rest)
}

/// Where the question starts after a lead-in that only says why it is asked: "I'm doing a
/// crossword — what's the capital of Norway?", "My kids love cartoons: who created Mickey Mouse?".
/// The lead-in is a statement about the asker (it opens with "I", "my", "we", "for my …"), set
/// apart by a dash, colon, semicolon or a sentence end, with no question, number or code in it;
/// the question after it names its own subject. A question that points back into the lead-in
/// ("… Angkor Wat. Which country is it in?") keeps it, and so goes to the LLM. 0 when there is
/// no such lead-in.
fn after_context(text: &str, spans: &[(usize, usize)], lower: &[String]) -> usize {
    // "Looking at laptops — what is an SSD?", "Setting up a database — …": what the asker is
    // doing, said in a gerund, is about the asker too.
    let opens_about_asker = lower.first().is_some_and(|w| {
        matches!(
            w.as_str(),
            "i" | "my" | "we" | "our" | "me" | "for" | "just" | "settling" | "crossword" | "trivia" | "quiz"
        ) || (w.len() > 5 && w.ends_with("ing"))
    });
    if !opens_about_asker {
        return 0;
    }
    let Some(q) = (1..lower.len().min(MAX_CONTEXT_WORDS + 1)).find(|&i| {
        let gap = &text[spans[i - 1].1..spans[i].0];
        is_question_word(&lower[i])
            && (gap.contains(['—', '–', ':', ';'])
                || gap.contains(". ")
                || gap.contains("! ")
                || gap.contains(" - ")
                || (gap.trim_end() == "," && comma_lead_in(&lower[..i], &lower[i..])))
    }) else {
        return 0;
    };
    let lead = &text[..spans[q].0];
    if lead.contains(['?', '`', '{', '=', '"']) || lead.chars().any(|c| c.is_ascii_digit()) {
        return 0;
    }
    // "… my LDL. What is that?": "that" stands for the term before, as "it" does.
    let asks_about_that = lower[q..].iter().all(|w| {
        matches!(
            w.as_str(),
            "what" | "whats" | "s" | "is" | "does" | "that" | "mean" | "stand" | "for" | "exactly"
        )
    }) && lower[q..].iter().any(|w| w == "that");
    // "what does it mean to braise": that "it" stands for nothing before.
    let dummy_it = |i: usize| {
        lower[i] == "it" && lower.get(i + 1).is_some_and(|w| w == "mean") && lower.get(i + 2).is_some_and(|w| w == "to")
    };
    let points_back =
        asks_about_that || (q..lower.len()).any(|i| POINTING_BACK.contains(&lower[i].as_str()) && !dummy_it(i));
    if points_back {
        0
    } else {
        q
    }
}

/// A lead-in set apart only by a comma is taken off when it cannot hold what the question needs:
/// it says the asker is curious ("I'm curious, which company …", "Just curious, what is …"), or
/// the question after it asks what a term is, which names its own subject ("I'm new to investing,
/// what's a dividend?", "I hear the word 'cache' a lot, what is a cache?"). "I'm in Japan, what
/// currency should I bring?" keeps its lead-in: the question needs it.
fn comma_lead_in(lead: &[String], question: &[String]) -> bool {
    let curious = lead.iter().any(|w| {
        matches!(
            w.as_str(),
            "curious" | "wondered" | "wondering" | "quiz" | "trivia" | "crossword"
        )
    });
    curious || (asks_what_a_term_is(question) && !names_a_technical_setting(lead))
}

/// "I'm new to programming", "in the API docs", "at work on our servers": a setting in which a
/// term has a technical sense that its dictionary entry may not give ("function", "idempotent"
/// in mathematics). A question after such a lead-in keeps it, and so goes to the LLM.
fn names_a_technical_setting(lead: &[String]) -> bool {
    lead.iter().any(|w| {
        matches!(
            w.as_str(),
            "programming"
                | "coding"
                | "code"
                | "codebase"
                | "api"
                | "apis"
                | "docs"
                | "documentation"
                | "developer"
                | "developers"
                | "software"
                | "computer"
                | "computers"
                | "tech"
                | "data"
                | "network"
                | "networking"
                | "cloud"
                | "database"
                | "databases"
                | "server"
                | "servers"
                | "web"
                | "app"
                | "apps"
                | "devops"
                | "engineering"
                | "logs"
                | "sql"
                | "python"
                | "javascript"
                | "java"
                | "linux"
                | "git"
                | "github"
                | "ml"
                | "ai"
        )
    })
}

/// "what is a dividend", "what are embeddings", "what's osmosis", "what does mTLS mean": a
/// question that asks only what a term of at most four words is, the term its own subject (no
/// "the", no pronoun, no question or verb beyond "is" and "mean").
fn asks_what_a_term_is(question: &[String]) -> bool {
    let term = match question {
        [what, be, rest @ ..] if what == "what" && matches!(be.as_str(), "is" | "are" | "s") => match rest {
            [article, term @ ..] if matches!(article.as_str(), "a" | "an") => term,
            term => term,
        },
        [what, does, rest @ .., mean] if what == "what" && does == "does" && mean == "mean" => rest,
        _ => return false,
    };
    (1..=4).contains(&term.len())
        && term.iter().all(|w| {
            !is_question_word(w)
                && !POINTING_BACK.contains(&w.as_str())
                && !matches!(
                    w.as_str(),
                    "the" | "that" | "is" | "are" | "my" | "your" | "i" | "you" | "we" | "our" | "best"
                )
        })
}

/// Pronouns that stand for something said before: a question holding one needs what came before
/// it (the lead-in of [`core_question`], the earlier turns of a conversation).
pub(crate) const POINTING_BACK: &[&str] = &[
    "it", "its", "they", "them", "their", "he", "she", "him", "her", "his", "this", "these", "those",
];

/// A lead-in of more words than this is the request itself, not why it is asked.
const MAX_CONTEXT_WORDS: usize = 20;

/// At most this many words of lead-in are taken for a frame; a longer lead-in is content.
const MAX_FRAME_WORDS: usize = 10;

/// At most this many words may name the addressee between a greeting and its punctuation.
const MAX_VOCATIVE_WORDS: usize = 2;

/// The question a message asks, as the classifier, the guards and search read it: out of its chat
/// frame ([`core_question`]) and in full ([`typed_form`]).
pub fn question_of(message: &str) -> String {
    typed_form(core_question(message)).into_owned()
}

/// Question words as chat users type them, each group with the word it stands for. Short words:
/// too short for the typo tolerance of longer words. One table for the patterns and for the cheap
/// test of whether to run them.
const TYPED_QUESTION_WORDS: &[(&[&str], &str)] = &[
    (&["whats"], "what is"),
    (&["whos"], "who is"),
    (&["wat", "wht", "waht", "whta"], "what"),
    (&["wich", "whcih", "whihc"], "which"),
    // "what yr did the berlin wall fall": the year asked, shortened.
    (&["yr"], "year"),
];

static SHORTHAND: LazyLock<Vec<(regex::Regex, &'static str)>> = LazyLock::new(|| {
    TYPED_QUESTION_WORDS
        .iter()
        .filter_map(|(typed, word)| {
            regex::Regex::new(&format!(r"(?i)\b(?:{})\b", typed.join("|")))
                .ok()
                .map(|re| (re, *word))
        })
        .collect()
});

// (pattern, the question it asks); the subject is the first group.
static TERSE: LazyLock<Vec<(regex::Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"(?i)^\s*((?:[\w.&+/-]+\s+){0,2}[\w.&+/-]+)\s+(?:stands\s+for|stand\s+for|is\s+short\s+for|full\s+form)\s*\??\s*$",
            "stand for",
        ),
        (r"(?i)^\s*full\s+form\s+of\s+((?:[\w.&+/-]+\s+){0,2}[\w.&+/-]+)\s*\??\s*$", "stand for"),
        (
            r"(?i)^\s*((?:[\w.&+/-]+\s+){0,2}[\w.&+/-]+)\s+(?:meaning|definition)\s*\??\s*$",
            "mean",
        ),
    ]
    .into_iter()
    .filter_map(|(pattern, asks)| regex::Regex::new(pattern).ok().map(|re| (re, asks)))
    .collect()
});

// "I keep seeing the word 'lucid'. What does it mean?": the word named, then asked about by
// "it". Only a word set apart as one (quoted, or after "word"/"term") and a closing question
// that asks nothing else.
// "udp meaning networking", "nlp meaning in ai": a terse definition with its field after it.
static FIELDED: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?i)^\s*((?:[\w.&+/-]+\s+){0,2}[\w.&+/-]+)\s+(meaning|definition|stands?\s+for|full\s+form)\s+(?:in\s+)?([a-z+# ]+?)\s*\??\s*$",
    )
    .ok()
});

static NAMED_THEN_ASKED: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    regex::Regex::new(
        r#"(?i)^[^?]{0,80}?\b(?:word|term|phrase|expression|acronym|abbreviation)\s+["'“‘]?([\w&+/-]+(?:[ .][\w&+/-]+){0,2})["'”’]?\s*[.,;:!]?\s+(?:so\s+|but\s+)?what\s+(?:does|do)\s+(?:it|that|this)\s+(mean|stand\s+for)\s*\??\s*$"#,
    )
    .ok()
});

/// "My teammate mentioned a 'flaky test'. What does that mean?", "My doctor mentioned my LDL.
/// What is that?", "My kid keeps saying 'rizz', what does it mean?": the term the first sentence
/// (or clause) quotes, or the abbreviation it spells in capitals, is what the second asks about.
static QUOTED_THEN_ASKED: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    regex::Regex::new(
        r#"(?i)^[^?]{0,80}?["'“‘]([\w&+/-]+(?:[ .][\w&+/-]+){0,2})["'”’][^?"'“”‘’]{0,40}?(?:[.!]\s+|\s*[,;:—–]\s*|\s+-\s+)(?:so\s+)?(?:what\s+(?:is|does)|what's)\s+(?:it|that|this)(?:\s+(mean|stand\s+for))?\s*\??\s*$"#,
    )
    .ok()
});
static CAPITALS_THEN_ASKED: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    regex::Regex::new(
        r#"^[^?]{0,80}?\b([A-Z]{2,6})\b[^?A-Z]{0,40}?[.!]\s+(?:[Ss]o\s+)?(?:[Ww]hat\s+(?:is|does)|[Ww]hat's)\s+(?:it|that|this)(?:\s+(mean|stand\s+for))?\s*\??\s*$"#,
    )
    .ok()
});

static DOES_DO: LazyLock<Option<regex::Regex>> = LazyLock::new(|| {
    regex::Regex::new(r"(?i)^\s*what\s+does\s+(an?|the)\s+([\w-]+(?:\s+[\w-]+){0,2}?)\s+(?:actually\s+)?do\s*\??\s*$")
        .ok()
});

/// Compiles [`typed_form`]'s tables now: every request reads its question through them.
pub(crate) fn warm_up() {
    LazyLock::force(&SHORTHAND);
    LazyLock::force(&TERSE);
    LazyLock::force(&FIELDED);
    LazyLock::force(&NAMED_THEN_ASKED);
    LazyLock::force(&QUOTED_THEN_ASKED);
    LazyLock::force(&CAPITALS_THEN_ASKED);
    LazyLock::force(&DOES_DO);
}

/// A terse lookup in the form the labelled sources ask it: "whats a mutex" as "what is a mutex",
/// "http stands for" as "what does http stand for", "mutex meaning" as "what does mutex mean".
/// Chat users type these forms and the sources seldom do: the classifier scored "whats a mutex"
/// 0.38 and "what is a mutex" 0.98, and search did not know "X stands for" as a question about an
/// abbreviation. The classifier's features and search both read the question through this. The
/// subject of a trailing "stands for" or "meaning" is at most three words, so a sentence that ends
/// that way ("what the colour red in my dream meaning") is not taken for a word's definition.
pub fn typed_form(question: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    // Every request passes here: the patterns run only where their words are.
    let lower = question.to_lowercase();
    let end = lower.trim_end_matches(|c: char| c == '?' || c.is_whitespace());
    // "What does a cardiologist do?" asks what a cardiologist is: the entry says what one does.
    if end.ends_with(" do") && lower.starts_with("what does ") {
        if let Some(c) = DOES_DO.as_ref().and_then(|re| re.captures(question)) {
            if let (Some(article), Some(thing)) = (c.get(1), c.get(2)) {
                return Cow::Owned(format!("what is {} {}", article.as_str(), thing.as_str()));
            }
        }
    }
    let named = lower.contains("mean") || lower.contains("stand");
    let that = ["what is that", "what is it", "what's that", "what is this"]
        .iter()
        .any(|w| end.ends_with(w));
    // A term named in a first sentence, then asked about by "it" or "that" in the second.
    if named || that {
        if let Some(c) = [&QUOTED_THEN_ASKED, &CAPITALS_THEN_ASKED, &NAMED_THEN_ASKED]
            .iter()
            .find_map(|re| re.as_ref().and_then(|re| re.captures(question)))
        {
            // "I keep seeing 'idempotent' in API docs, …": the term in its technical sense, which
            // the dictionary entry the bare term finds may not give.
            let setting: Vec<String> = match c.get(1) {
                Some(term) => words(&question[..term.start()])
                    .chain(words(&question[term.end()..]))
                    .collect(),
                None => Vec::new(),
            };
            if let Some(term) = c.get(1).filter(|_| !names_a_technical_setting(&setting)) {
                return Cow::Owned(match c.get(2) {
                    Some(asks) if asks.as_str().to_lowercase().starts_with("mean") => {
                        format!("what does {} mean", term.as_str())
                    }
                    Some(_) => format!("what does {} stand for", term.as_str()),
                    None => format!("what is {}", term.as_str()),
                });
            }
        }
    }
    if named || lower.contains("definition") || lower.contains("full form") {
        if let Some(c) = FIELDED.as_ref().and_then(|re| re.captures(question)) {
            if let (Some(subject), Some(asks), Some(field)) = (c.get(1), c.get(2), c.get(3)) {
                let subject = subject.as_str();
                if names_the_thing(subject) && fields::field_named(field.as_str()).is_some() {
                    let asks = asks.as_str().to_lowercase();
                    let asks = if asks.starts_with("stand") || asks.ends_with("form") {
                        "stand for"
                    } else {
                        "mean"
                    };
                    return Cow::Owned(format!("what does {subject} {asks} in {}", field.as_str()));
                }
            }
        }
    }
    let shorthand = TYPED_QUESTION_WORDS
        .iter()
        .flat_map(|(typed, _)| typed.iter())
        .any(|w| lower.contains(w));
    let terse = ["for", "meaning", "definition", "form"]
        .iter()
        .any(|w| end.ends_with(w))
        || end.contains("full form");
    if !named && !shorthand && !terse {
        return Cow::Borrowed(question);
    }
    let mut text = Cow::Borrowed(question);
    for (re, replacement) in SHORTHAND.iter().filter(|_| shorthand) {
        if re.is_match(&text) {
            text = Cow::Owned(re.replace_all(&text, *replacement).into_owned());
        }
    }
    for (re, asks) in TERSE.iter().filter(|_| terse) {
        let Some(subject) = re.captures(&text).and_then(|c| c.get(1)).map(|m| m.as_str()) else {
            continue;
        };
        if !names_the_thing(subject) {
            continue;
        }
        return Cow::Owned(format!("what does {subject} {asks}"));
    }
    text
}

/// "what is the meaning", "the word meaning": the subject of a terse "X meaning" must be the thing
/// itself, no question word or small word.
fn names_the_thing(subject: &str) -> bool {
    !lower_words(subject).any(|w| is_question_word(&w) || is_stopword(&w))
}

/// The question search reads in a request for a definition: "Could you explain what compound
/// interest is?" asks "what compound interest is". [`core_question`] keeps "explain" (a task word,
/// which the classifier weighs); once the classifier has called the request a lookup, search
/// reads the question the request names. Only "can/could/would/will you (please) explain/define/
/// describe (to me)" before "what" or "who" is taken off. A terse form is asked in full
/// ([`typed_form`]).
pub fn requested_question(question: &str) -> std::borrow::Cow<'_, str> {
    typed_form(named_question(question))
}

fn named_question(question: &str) -> &str {
    let spans: Vec<(usize, usize)> = word_spans(question).collect();
    let lower: Vec<String> = spans
        .iter()
        .take(12)
        .map(|&(s, e)| question[s..e].to_lowercase())
        .collect();
    let at = |i: usize| lower.get(i).map(String::as_str);
    // "How would you define gravity?" asks what "define gravity" asks.
    if (at(0), at(1), at(2), at(3)) == (Some("how"), Some("would"), Some("you"), Some("define")) && spans.len() > 4 {
        return question[spans[3].0..].trim_end_matches(['?', '.', '!', ' ']);
    }
    let mut i = 0;
    if !matches!(at(i), Some("can" | "could" | "would" | "will")) {
        return question;
    }
    i += 1;
    // "Can someone explain what a cookie is": anyone asked is the assistant.
    if !matches!(at(i), Some("you" | "u" | "someone" | "anyone" | "somebody")) {
        return question;
    }
    i += 1;
    while matches!(at(i), Some("please" | "briefly" | "quickly" | "simply" | "just")) {
        i += 1;
    }
    if !matches!(at(i), Some("explain" | "define" | "describe" | "tell")) {
        return question;
    }
    let verb = i;
    i += 1;
    if at(verb) == Some("tell") {
        // Only "tell me what …": "tell me a joke" is a task.
        if at(i) != Some("me") {
            return question;
        }
        i += 1;
    } else if at(i) == Some("to") && at(i + 1) == Some("me") {
        i += 2;
    }
    // "Can you explain in one line / in simple terms what a CDN is": how to say it, not what.
    if at(i) == Some("in") && matches!(at(i + 1), Some("one" | "simple" | "plain" | "a")) {
        i += 3;
    } else if matches!(at(i), Some("briefly" | "simply" | "quickly")) {
        i += 1;
    }
    match at(i) {
        Some("what" | "who") => &question[spans[i].0..],
        // "Can you define "ambiguous" for me?" asks what "define ambiguous" asks.
        Some(_) if lower[verb] == "define" => {
            let asked = question[spans[verb].0..].trim_end_matches(['?', '.', '!', ' ']);
            asked
                .strip_suffix(" for me")
                .or_else(|| asked.strip_suffix(" please"))
                .unwrap_or(asked)
        }
        _ => question,
    }
}

fn is_question_word(word: &str) -> bool {
    matches!(
        word,
        "what" | "whats" | "who" | "whom" | "whose" | "when" | "where" | "which" | "why" | "how"
    )
}

pub(crate) fn is_preposition(word: &str) -> bool {
    matches!(
        word,
        "in" | "on"
            | "at"
            | "from"
            | "for"
            | "by"
            | "with"
            | "to"
            | "of"
            | "during"
            | "since"
            | "after"
            | "before"
            | "under"
            | "about"
            | "into"
            | "through"
    )
}

fn is_greeting(word: &str) -> bool {
    matches!(
        word,
        "hi" | "hey"
            | "hello"
            | "hiya"
            | "yo"
            | "there"
            | "ok"
            | "okay"
            | "so"
            | "well"
            | "um"
            | "quick"
            | "simple"
            | "random"
            | "question"
            | "good"
            | "morning"
            | "afternoon"
            | "evening"
            | "dear"
            | "thanks"
    )
}

/// Greetings, politeness and the verbs of asking: words that frame a question without changing it.
fn is_frame_word(word: &str) -> bool {
    is_greeting(word)
        || matches!(
            word,
            "please"
                | "pls"
                | "plz"
                | "kindly"
                | "can"
                | "could"
                | "would"
                | "will"
                | "you"
                | "u"
                | "tell"
                | "say"
                | "me"
                | "us"
                | "i"
                | "d"
                | "m"
                | "ll"
                | "ve"
                | "do"
                | "does"
                | "did"
                | "know"
                | "happen"
                | "to"
                | "by"
                | "any"
                | "chance"
                | "idea"
                | "let"
                | "like"
                | "want"
                | "wanted"
                | "need"
                | "was"
                | "am"
                | "wondering"
                | "wonder"
                | "curious"
                | "just"
                | "find"
                | "out"
                | "remind"
                | "ask"
                | "asking"
                | "one"
                | "more"
                | "another"
                | "also"
                | "and"
                | "but"
                | "a"
                | "have"
                | "got"
                // "I'm trying to remember who …", "My son asked me what …": who asks, not what.
                | "trying"
                | "remember"
                | "recall"
                | "forgot"
                | "forget"
                | "asked"
                | "wants"
                | "my"
                | "kid"
                | "son"
                | "daughter"
                | "child"
                | "friend"
                // "Sorry if this is basic, but what is …", "Quick question: who …": an apology or
                // a label for the question, not part of it.
                | "sorry"
                | "if"
                | "this"
                | "is"
                | "basic"
                | "quick"
                | "question"
                | "random"
        )
}

fn is_closing_head(word: &str) -> bool {
    matches!(
        word,
        "thanks" | "thank" | "thx" | "ty" | "cheers" | "please" | "pls" | "plz" | "appreciated"
    )
}

fn is_closing_word(word: &str) -> bool {
    is_closing_head(word)
        || matches!(
            word,
            "you" | "so" | "very" | "much" | "a" | "lot" | "in" | "advance" | "again" | "mate"
        )
}

/// Function words and question words that carry no topic; a lookup's content terms are the rest.
pub(crate) fn is_stopword(word: &str) -> bool {
    matches!(
        word,
        "a" | "an"
            | "the"
            | "of"
            | "in"
            | "on"
            | "at"
            | "to"
            | "for"
            | "from"
            | "by"
            | "with"
            | "and"
            | "or"
            | "is"
            | "are"
            | "was"
            | "were"
            | "be"
            | "been"
            | "being"
            | "do"
            | "does"
            | "did"
            | "what"
            | "whats"
            | "who"
            | "whom"
            | "whose"
            | "which"
            | "when"
            | "where"
            | "why"
            | "how"
            | "s"
            | "it"
            | "its"
            | "this"
            | "that"
            | "these"
            | "those"
            | "there"
            | "as"
            | "about"
            | "me"
            | "tell"
            | "please"
            | "can"
            | "you"
            | "i"
            | "my"
            | "much"
            | "many"
            | "called"
            | "named"
            | "name"
            | "meaning"
            | "mean"
            | "means"
            | "define"
            | "definition"
            | "de"
            | "la"
            | "le"
            | "el"
            | "has"
            | "have"
            | "had"
            | "into"
            | "than"
    )
}

/// Crude English stem, enough to match "discovered" with "discovery" and "capitals" with "capital"
/// when comparing a query with a short fact.
pub(crate) fn stem(word: &str) -> &str {
    let w = word;
    for suffix in ["ies", "ied", "ing", "ers", "ed", "es", "er", "s", "y", "e"] {
        if w.len() > suffix.len() + 3 && w.ends_with(suffix) {
            return &w[..w.len() - suffix.len()];
        }
    }
    w
}

/// The fields of knowledge a definition may be asked within ("what is a cache in computing",
/// "udp meaning networking"), by the names people give them: the question reader
/// (`search::question::in_field`) reads the sense from them, and [`typed_form`] reads a terse
/// "X meaning <field>" as the question in that field.
pub(crate) mod fields {
    const COMPUTING: &[&str] = &[
        "computer",
        "programming",
        "computing",
        "computer science",
        "computers",
        "a computer",
        "networking",
        "networks",
        "databases",
        "a database",
        "software",
        "software engineering",
        "software development",
        "web development",
        "distributed systems",
        "operating systems",
        "an operating system",
        "os",
        "data structures",
        "the cloud",
        "cloud computing",
        "security",
        "cybersecurity",
        "cryptography",
    ];
    const LEARNING: &[&str] = &[
        "machine learning",
        "ml",
        "deep learning",
        "ai",
        "nlp",
        "neural networks",
        "neural nets",
        "llms",
        "data science",
    ];
    /// Each platform by the names a sentence may call it.
    const NAMED: &[&[&str]] = &[
        &["python"],
        &["java"],
        &["javascript", "js"],
        &["typescript"],
        &["rust"],
        &["sql"],
        &["git"],
        &["linux"],
        &["docker"],
        &["kubernetes", "k8s"],
        &["aws", "amazon web services"],
        &["excel"],
    ];
    const MONEY: &[&str] = &[
        "finance",
        "investing",
        "banking",
        "accounting",
        "economics",
        "business",
        "insurance",
        "marketing",
        "the stock market",
        "stocks",
        "trading",
    ];
    const OTHER: &[&str] = &[
        "physics",
        "chemistry",
        "biology",
        "mathematics",
        "maths",
        "math",
        "statistics",
        "law",
        "medicine",
        "grammar",
        "music",
        "literature",
        "poetry",
        "linguistics",
        "philosophy",
        "psychology",
        "geology",
        "astronomy",
        "ecology",
        "genetics",
        "typography",
        "photography",
        "cooking",
    ];

    /// The field of knowledge a definition is asked within: what picks the sense of its term.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Field {
        /// Programming, networking, databases…: "cache", "kernel" and "index" mean something else in
        /// a dictionary's first sense.
        Computing,
        /// Machine learning, AI, NLP: a computing dictionary of the 1990s gives "epoch", "embedding"
        /// and "GAN" older senses, so the sense must speak of learning.
        Learning,
        /// A language, a program or a platform ("lambda in python", "lambda in aws", "closure in
        /// js"): the sense must name it (any of these names).
        Named(&'static [&'static str]),
        /// Finance, investing, accounting, insurance…: "bond", "equity", "liquidity".
        Money,
        /// Any other (physics, chemistry, grammar…), by its name: a sense that names it is preferred.
        Other(&'static str),
    }

    /// The field of knowledge a phrase names ("networking", "machine learning", "js"), if any.
    pub(crate) fn field_named(phrase: &str) -> Option<Field> {
        let phrase = phrase.trim().to_lowercase();
        let phrase = phrase.as_str();
        Some(if COMPUTING.contains(&phrase) {
            Field::Computing
        } else if LEARNING.contains(&phrase) {
            Field::Learning
        } else if let Some(names) = NAMED.iter().find(|names| names.contains(&phrase)) {
            Field::Named(names)
        } else if MONEY.contains(&phrase) {
            Field::Money
        } else {
            Field::Other(OTHER.iter().find(|f| **f == phrase)?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_lowercase_and_split_on_punctuation() {
        let w: Vec<String> = words("What's Peru's CAPITAL?").collect();
        assert_eq!(w, ["what", "s", "peru", "s", "capital"]);
    }

    #[test]
    fn a_lead_in_about_the_asker_is_not_the_question() {
        for (framed, core) in [
            (
                "I'm doing a crossword — what's the capital of Norway?",
                "what's the capital of Norway?",
            ),
            (
                "My kids love cartoons: who created Mickey Mouse?",
                "who created Mickey Mouse?",
            ),
            (
                "We're settling a bet. Which planet is the hottest?",
                "Which planet is the hottest?",
            ),
            ("Looking at laptops — what is an SSD?", "what is an SSD?"),
            (
                "I'm new to cooking — what does it mean to braise something?",
                "what does it mean to braise something?",
            ),
            ("I'm new to investing, what's a dividend?", "what's a dividend?"),
            (
                "I'm curious, which company created TypeScript?",
                "which company created TypeScript?",
            ),
            ("I hear the word 'cache' a lot, what is a cache?", "what is a cache?"),
        ] {
            assert_eq!(core_question(framed), core, "{framed}");
        }
        // The question points back into the lead-in, the lead-in holds numbers or a question, or
        // it is not about the asker: all kept whole.
        for text in [
            "We're planning a trip to see Angkor Wat. Which country is it in?",
            "I have 3 apples and eat 2: how many are left?",
            "I asked my teacher, was he right? What is a monad",
            "Write a poem about the sea. What rhymes with orange?",
            "The Nile is long — what is the longest river?",
            "Watching Apocalypse Now tonight — who directed it?",
            "Can you help me with my essay? What should I write about?",
            // After a comma only a question that names its own term, or a curious asker.
            "I'm in Japan, what currency should I bring?",
            "I live in Paris, what is the best museum?",
            "My laptop is slow, what is it doing?",
            // A term in its technical sense, which the dictionary may not give.
            "I'm new to programming, what is a function?",
        ] {
            assert_eq!(core_question(text), text, "{text}");
        }
    }

    #[test]
    fn chat_frames_are_removed_around_the_question() {
        for (framed, core) in [
            ("Hey, can you tell me who wrote Hamlet? Thanks!", "who wrote Hamlet?"),
            (
                "I'm trying to remember who invented dynamite. Do you know?",
                "who invented dynamite.",
            ),
            (
                "My kid asked me how many legs an insect has. What's the answer?",
                "how many legs an insect has.",
            ),
            (
                "My daughter asked me what a marsupial is, what should I tell her?",
                "what a marsupial is",
            ),
            (
                "My kid asked me what an isthmus is. How do I explain it?",
                "what an isthmus is.",
            ),
            (
                "My daughter wants to know what the tallest mountain is.",
                "what the tallest mountain is.",
            ),
            (
                "Sorry if this is basic, but what is a hypervisor?",
                "what is a hypervisor?",
            ),
            ("Quick question: what is a webhook?", "what is a webhook?"),
            (
                "Can you help me with something? What does UNESCO stand for?",
                "What does UNESCO stand for?",
            ),
            ("I have a quick question. Who wrote Hamlet?", "Who wrote Hamlet?"),
            (
                "Could you let me know when the Berlin Wall fell",
                "when the Berlin Wall fell",
            ),
            (
                "I'd like to know what is the capital of Peru, please",
                "what is the capital of Peru",
            ),
            ("Quick question: capital of peru", "capital of peru"),
            (
                "Hi! Who painted the Mona Lisa? Thank you so much.",
                "Who painted the Mona Lisa?",
            ),
            ("who wrote hamlet? thx", "who wrote hamlet?"),
            ("who wrote hamlet Thank you so much.", "who wrote hamlet"),
            (
                "Do you happen to know where Napoleon was born?",
                "where Napoleon was born?",
            ),
            ("can you tell me in which year Rome fell", "in which year Rome fell"),
            ("I'd like to know the capital of Peru", "the capital of Peru"),
            ("Could you tell me the capital of Turkey?", "the capital of Turkey?"),
            (
                "Hi! Can you tell me the year of the Russian Revolution?",
                "the year of the Russian Revolution?",
            ),
            ("Hey assistant, who wrote Hamlet?", "who wrote Hamlet?"),
            ("Hello ChatGPT! Write a poem about Lima", "Write a poem about Lima"),
        ] {
            assert_eq!(core_question(framed), core, "{framed}");
        }
    }

    #[test]
    fn tasks_and_plain_questions_are_left_whole() {
        for text in [
            "Who wrote Hamlet?",
            "Can you explain what a monad is?",
            "Please write a poem",
            "how do you say thank you in French",
            "who wrote hamlet thanks",
            "how much is a lot",
            "Tell me a story about a dragon",
            "Hey",
            "thanks",
            "Hi there",
            "Do you think that is fair?",
            "Do you know",
            "Can you tell me a joke",
            "Can you tell me about the history of Rome",
            "I need a plan for what to cook this week",
            "Hello world program in Rust, how do I write one?",
        ] {
            let core = core_question(text);
            assert!(!core.is_empty(), "{text}");
            assert_eq!(core, text);
        }
    }

    proptest::proptest! {
        #[test]
        fn the_core_is_a_non_empty_part_of_the_text(text in "\\PC{0,80}", frame in 0usize..6) {
            let framed = [
                text.clone(),
                format!("Hi! Can you tell me {text}"),
                format!("{text} thanks"),
                format!("Do you know, {text}? Thank you!"),
                format!("please tell me who {text}, thx"),
                format!("know {text} Thanks a lot"),
            ][frame].clone();
            let core = core_question(&framed);
            proptest::prop_assert!(framed.contains(core));
            if framed.chars().any(char::is_alphanumeric) {
                proptest::prop_assert!(core.chars().any(char::is_alphanumeric), "{framed:?} -> {core:?}");
            }
        }

        #[test]
        fn lower_is_str_to_lowercase(word in "(\\PC|[A-Za-z]){0,12}") {
            let expected = word.to_lowercase();
            let lowered = lower(&word);
            proptest::prop_assert_eq!(lowered.as_ref(), expected.as_str());
        }
    }

    #[test]
    fn stem_matches_related_forms() {
        assert_eq!(stem("discovered"), stem("discovery"));
        assert_eq!(stem("capitals"), stem("capital"));
        assert_eq!(stem("peru"), "peru");
    }
    #[test]
    fn terse_lookups_are_asked_in_full() {
        assert_eq!(typed_form("whats a mutex"), "what is a mutex");
        assert_eq!(
            typed_form("what yr did the berlin wall fall"),
            "what year did the berlin wall fall"
        );
        assert_eq!(typed_form("maple syrup"), "maple syrup");
        assert_eq!(typed_form("http stands for"), "what does http stand for");
        assert_eq!(typed_form("SaaS stands for?"), "what does SaaS stand for");
        assert_eq!(typed_form("full form of CPU"), "what does CPU stand for");
        assert_eq!(typed_form("mutex meaning"), "what does mutex mean");
        assert_eq!(typed_form("bear market definition"), "what does bear market mean");
        // Not a word's definition: the subject holds function words, or is too long.
        assert_eq!(typed_form("what is the meaning"), "what is the meaning");
        assert_eq!(typed_form("dream about snakes meaning"), "dream about snakes meaning");
        assert_eq!(
            typed_form("red dress dream snake meaning"),
            "red dress dream snake meaning"
        );
        assert_eq!(typed_form("who wrote hamlet"), "who wrote hamlet");
        assert_eq!(typed_form("wat is inflation"), "what is inflation");
        assert_eq!(
            typed_form("I keep seeing the word 'lucid'. What does it mean?"),
            "what does lucid mean"
        );
        assert_eq!(
            typed_form("My boss keeps saying the acronym EOD, what does it stand for?"),
            "what does EOD stand for"
        );
        // A question about something else that only mentions a word stays as it is.
        assert_eq!(
            typed_form("I used the word 'lucid' in my essay. Why does it sound odd?"),
            "I used the word 'lucid' in my essay. Why does it sound odd?"
        );
        // The classifier reads the full form: "whats" is "what is" to it.
        assert_eq!(requested_question("whats a mutex"), "what is a mutex");
    }

    #[test]
    fn a_request_to_explain_what_something_is_asks_what_it_is() {
        assert_eq!(
            requested_question("Could you explain what compound interest is?"),
            "what compound interest is?"
        );
        assert_eq!(
            requested_question("Can you define \"ambiguous\" for me?"),
            "define \"ambiguous\""
        );
        assert_eq!(requested_question("Could you define entropy?"), "define entropy");
        assert_eq!(requested_question("How would you define gravity?"), "define gravity");
        assert_eq!(
            requested_question("Can someone explain what a credit score is?"),
            "what a credit score is?"
        );
        assert_eq!(
            requested_question("Can you explain in one line what a CDN is?"),
            "what a CDN is?"
        );
        assert_eq!(
            requested_question("Could you briefly tell me what a firewall is?"),
            "what a firewall is?"
        );
        assert_eq!(requested_question("Can you tell me a joke?"), "Can you tell me a joke?");
        assert_eq!(typed_form("My doctor mentioned my LDL. What is that?"), "what is LDL");
        assert_eq!(
            typed_form("My teammate mentioned a 'flaky test'. What does that mean?"),
            "what does flaky test mean"
        );
        assert_eq!(
            question_of("My kid keeps saying 'rizz', what does it mean?"),
            "what does rizz mean"
        );
        assert_eq!(
            question_of("I keep seeing 'idempotent' in API docs, what does it mean?"),
            "I keep seeing 'idempotent' in API docs, what does it mean?"
        );
        assert_eq!(
            question_of("My manager mentioned 'technical debt' — what does that mean?"),
            "what does technical debt mean"
        );
        assert_eq!(
            typed_form("I went to Paris last week. What is that?"),
            "I went to Paris last week. What is that?"
        );
        assert_eq!(typed_form("udp meaning networking"), "what does udp mean in networking");
        assert_eq!(typed_form("nlp meaning in ai"), "what does nlp mean in ai");
        assert_eq!(
            typed_form("ram full form computer"),
            "what does ram stand for in computer"
        );
        // Not a field: a translation, kept as typed.
        assert_eq!(typed_form("thank you meaning in hindi"), "thank you meaning in hindi");
        assert_eq!(typed_form("what does a cardiologist do"), "what is a cardiologist");
        assert_eq!(typed_form("What does a DHCP server do?"), "what is a DHCP server");
        assert_eq!(
            typed_form("what does a teacher do with the grades"),
            "what does a teacher do with the grades"
        );
        assert_eq!(
            requested_question("can you please explain to me who Ada Lovelace was"),
            "who Ada Lovelace was"
        );
        // Not a request for a definition: kept whole.
        assert_eq!(
            requested_question("Can you explain how a vaccine works?"),
            "Can you explain how a vaccine works?"
        );
        assert_eq!(
            requested_question("could you write what you think"),
            "could you write what you think"
        );
        assert_eq!(requested_question("what is a monad"), "what is a monad");
    }
}
