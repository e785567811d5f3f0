//! Hard guards: request shapes that search can never serve correctly, so they always go to the LLM,
//! whatever the rules or the scorer say. Each can be switched off in `[guards]`, all are on by default.

use super::RequestFeatures;
use std::collections::HashSet;
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// The request offers tools or functions: the model may need to call them.
    Tools,
    /// Images or audio in the messages: search only reads text.
    Media,
    /// A `response_format` (JSON mode, schema): search answers are prose.
    ResponseFormat,
    /// `n > 1` asks for alternatives; search has one answer.
    MultipleChoices,
    /// The last user turn leans on the conversation ("and its population?").
    FollowUp,
    /// The question is about the assistant, the user or this moment ("Who are you?", "What is my
    /// order status?", "What time is it?"): no index knows the answer, and a near hit ("today:
    /// the present time or age") would be a wrong one.
    Personal,
    /// Nothing to classify: the last message is not a user message with text.
    NoUserText,
    /// The question is not in English, the language of the answers search has: an answer in
    /// another language than the user's is a wrong one.
    Language,
    /// The system prompt asks for something a search answer does not do: a language, a format, a
    /// persona or a scope ("only answer questions about Acme"). A team whose system prompt allows
    /// plain sourced answers turns this guard off (`[guards] system_prompt = false`).
    SystemPrompt,
    /// The request uses what only the LLM's API has: a conversation it stores
    /// (`previous_response_id`), a background job, a stored prompt, extended thinking. Always on:
    /// search cannot see what such a request refers to.
    LlmFeature,
}

impl Guard {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Guard::Tools => "tools",
            Guard::Media => "media",
            Guard::ResponseFormat => "response_format",
            Guard::MultipleChoices => "n>1",
            Guard::FollowUp => "follow-up",
            Guard::Personal => "personal",
            Guard::NoUserText => "no user text",
            Guard::Language => "language",
            Guard::SystemPrompt => "system prompt",
            Guard::LlmFeature => "llm feature",
        }
    }
}

/// Which guards are on; read straight from the config's `[guards]` table (plain flags, nothing to
/// validate).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Guards {
    pub tools: bool,
    pub media: bool,
    pub response_format: bool,
    pub multiple_choices: bool,
    pub follow_up: bool,
    pub personal: bool,
    pub language: bool,
    pub system_prompt: bool,
}

impl Default for Guards {
    fn default() -> Self {
        Self {
            tools: true,
            media: true,
            response_format: true,
            multiple_choices: true,
            follow_up: true,
            personal: true,
            language: true,
            system_prompt: true,
        }
    }
}

impl Guards {
    pub(crate) fn check(&self, f: &RequestFeatures) -> Option<Guard> {
        if f.last_user.trim().is_empty() {
            return Some(Guard::NoUserText);
        }
        if f.llm_feature.is_some() {
            return Some(Guard::LlmFeature);
        }
        if self.tools && f.has_tools {
            return Some(Guard::Tools);
        }
        if self.media && f.has_media {
            return Some(Guard::Media);
        }
        if self.response_format && f.has_response_format {
            return Some(Guard::ResponseFormat);
        }
        if self.multiple_choices && f.choices > 1 {
            return Some(Guard::MultipleChoices);
        }
        if self.follow_up && f.prior_turns > 0 && refers_back(&f.last_user) {
            return Some(Guard::FollowUp);
        }
        if self.personal && is_personal(&f.question) {
            return Some(Guard::Personal);
        }
        if self.language && !reads_as_english(&f.last_user) {
            return Some(Guard::Language);
        }
        if self.system_prompt && system_prompt_constrains(&f.system) {
            return Some(Guard::SystemPrompt);
        }
        None
    }
}

/// Function words of the languages chatbot users most often write in besides English. A question
/// with more of them than of English ones is not in English.
const FOREIGN_FUNCTION_WORDS: &[&str] = &[
    // French
    "le",
    "la",
    "les",
    "est",
    "sont",
    "quel",
    "quelle",
    "quels",
    "quelles",
    "qui",
    "du",
    "des",
    "une",
    "et",
    "où",
    "comment",
    "pourquoi",
    "combien",
    "qu'est-ce",
    "c'est",
    "capitale",
    "ce",
    "je",
    "vous",
    "il",
    "elle",
    "dans",
    "en",
    "au",
    "aux",
    "avec",
    "sur",
    "pas",
    "toujours",
    "tu",
    "réponds",
    "répondez",
    "français",
    "française",
    // Spanish
    "el",
    "los",
    "las",
    "es",
    "cuál",
    "cual",
    "qué",
    "quién",
    "quien",
    "del",
    "una",
    "y",
    "dónde",
    "donde",
    "cómo",
    "cuándo",
    "cuando",
    "cuántos",
    "por",
    "para",
    "siempre",
    "responde",
    "español",
    "usted",
    // German
    "der",
    "die",
    "das",
    "ist",
    "wer",
    "wo",
    "und",
    "ein",
    "eine",
    "wie",
    "wann",
    "welche",
    "welcher",
    "hauptstadt",
    "immer",
    "auf",
    "mit",
    "nicht",
    "sie",
    "du",
    "antworte",
    "antworten",
    "deutsch",
    // Italian, Portuguese
    "il",
    "chi",
    "che",
    "di",
    "è",
    "qual",
    "quem",
    "onde",
    "não",
    "um",
    "uma",
    "capitale",
];

const ENGLISH_FUNCTION_WORDS: &[&str] = &[
    "the", "is", "are", "was", "were", "what", "who", "which", "when", "where", "how", "of", "in", "a", "an", "and",
    "does", "did", "do", "to", "for", "on", "with", "by", "capital", "it",
];

/// The two lists as sets: every chat request's words are looked up in them.
static ENGLISH: LazyLock<HashSet<&'static str>> = LazyLock::new(|| ENGLISH_FUNCTION_WORDS.iter().copied().collect());
static FOREIGN: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    FOREIGN_FUNCTION_WORDS
        .iter()
        .copied()
        .filter(|w| !ENGLISH_FUNCTION_WORDS.contains(w))
        .collect()
});

pub(crate) fn is_english_function_word(word: &str) -> bool {
    ENGLISH.contains(word)
}

/// How many of the message's words are English function words.
pub(crate) fn english_function_word_count(message: &str) -> usize {
    super::text::lower_words(message)
        .filter(|w| is_english_function_word(w))
        .count()
}

/// Whether a message reads as English: written in the Latin script, and with no more foreign
/// function words than English ones ("quelle est la capitale du Pérou" is French, "capital of
/// Peru" English). Short messages with neither count as English: names and terms are shared.
fn reads_as_english(message: &str) -> bool {
    let other_script = message.chars().filter(|c| c.is_alphabetic() && !is_latin(*c)).count();
    let letters = message.chars().filter(|c| c.is_alphabetic()).count();
    if letters > 0 && other_script * 4 > letters {
        return false;
    }
    let (mut english, mut foreign) = (0, 0);
    for word in super::text::lower_words(message) {
        if ENGLISH.contains(&*word) {
            english += 1;
        } else if FOREIGN.contains(&*word) {
            foreign += 1;
        }
    }
    foreign == 0 || english >= foreign
}

fn is_latin(c: char) -> bool {
    c.is_ascii_alphabetic() || ('\u{00C0}'..='\u{024F}').contains(&c) || ('\u{1E00}'..='\u{1EFF}').contains(&c)
}

/// Whether the system prompt asks for what a search answer cannot give: a reply language, a
/// format or length, a tone or persona, or a scope. A bare "You are a helpful assistant." does
/// not; neither does a prompt about safety or honesty.
pub(crate) fn system_prompt_constrains(system: &str) -> bool {
    static CONSTRAINS: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(&ascii_word_boundaries(concat!(
            // "25 words" has no boundary in front: a Unicode digit is no ASCII word character.
            r"(?i)\d+ words|\b(?:",
            // a language
            r"(?:answer|respond|reply|write|speak|talk)\w*\s+(?:only\s+)?in\s+(?:[a-z]+)|in (?:french|spanish|german|italian|portuguese|dutch|chinese|japanese|korean|arabic|russian|hindi)\b|",
            // a format or length
            r"json|markdown|bullet|table|xml|yaml|csv|haiku|rhym\w*|poem|one word|one sentence|single word|(?:under|at most|no more than|fewer than|less than) \d+|concise|brief|short answers?|step[- ]by[- ]step|emoji|format|",
            // a tone or persona
            r"pirate|persona|role[- ]?play|character|pretend|act as|tone|friendly|formal|casual|humou?r\w*|sarcas\w*|",
            // a scope
            r"only (?:answer|respond|help|discuss|talk)|(?:do not|don't|never) (?:answer|discuss|talk|respond)|refuse|off[- ]topic|unrelated|customer|support|our (?:product|service|company)|products?\b",
            r")",
        )))
        .ok()
    });
    // "You are Ada, Acme's assistant": a named persona. "You are a helpful assistant" is none.
    static PERSONA: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(&ascii_word_boundaries(
            r"(?i)\byou are (?:called |named )?([a-z][\w'’-]*)",
        ))
        .ok()
    });
    let persona = PERSONA.as_ref().and_then(|re| re.captures(system)).is_some_and(|c| {
        !matches!(
            c[1].to_lowercase().as_str(),
            "a" | "an" | "the" | "chatgpt" | "gpt" | "claude" | "an ai" | "ai"
        )
    });
    let system = system.trim();
    !system.is_empty()
        && (persona || !reads_as_english(system) || CONSTRAINS.as_ref().is_some_and(|re| re.is_match(system)))
}

/// Does this message need the earlier turns to be understood? True for anaphora ("it", "its",
/// "they", "that one"), for openings that continue a thought ("and", "what about", "also"), and for
/// very short fragments, which are almost always elliptical in a conversation.
pub(crate) fn refers_back(message: &str) -> bool {
    let words: Vec<String> = super::text::words(message).collect();
    if words.len() <= 3 {
        return true;
    }
    const OPENERS: &[&str] = &[
        "and", "but", "also", "so", "then", "or", "same", "ok", "okay", "now", "why", "really",
    ];
    if OPENERS.contains(&words[0].as_str()) {
        return true;
    }
    let lower = message.to_lowercase();
    const PHRASES: &[&str] = &[
        "what about",
        "how about",
        "the same",
        "that one",
        "this one",
        "the other",
        "the previous",
        "the last one",
        "you said",
        "you mentioned",
        "your answer",
        "above",
        "earlier",
        "as well",
        "instead",
        "again",
        "more detail",
    ];
    if PHRASES.iter().any(|p| lower.contains(p)) {
        return true;
    }
    // In a conversation "that", "there" and "one" point back too ("that one", "what's it like
    // there").
    words.iter().any(|w| {
        super::text::POINTING_BACK.contains(&w.as_str()) || matches!(w.as_str(), "hers" | "that" | "there" | "one")
    })
}

/// Is this question about the assistant ("Who made you?", "What do you think about …"), about the
/// user ("When is my flight?", "How old am I?") or about this moment ("… right now", "… today?",
/// "What time is it")? Read on the question inside any chat frame.
///
/// The patterns are narrow on purpose, because titles are full of pronouns: "how i met your
/// mother", "my hero academia", "the lion sleeps tonight". On the 18,000 lookups of the labelled
/// sources they match 52 (0.3%), mostly such titles. "you" alone is not enough: "what do you call a
/// baby kangaroo" is a lookup.
pub(crate) fn is_personal(question: &str) -> bool {
    PERSONAL.as_ref().is_some_and(|re| re.is_match(question.trim()))
}

static PERSONAL: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
    const WH: &str = r"(?:what|who|where|when|why|how|which)";
    let patterns = [
        // "Who are you?", "How are you", "Where are you?": the question ends on "you".
        format!(r"^{WH}(?:\s+\w+)?\s*(?:['’]re|\s+are|\s+were)\s+(?:you|u)\s*[?.!]*$"),
        // "What do you think of …", "Which would you recommend": the assistant's own view.
        format!(
            r"^{WH}(?:\s+\w+)?\s+(?:do|did|can|could|would|will)\s+(?:you|u)\s+(?:think|feel|like|prefer|remember|recommend|mean|believe|want|suggest|know about me|do)\b"
        ),
        r"\b(?:made|built|created|trained|programmed|designed)\s+you\b".to_string(),
        // Small talk: "How's your day?", "how was your weekend", "how's it going".
        r"^how(?:['’]s|\s+is|\s+was|\s+has|\s+have)\s+(?:(?:your|ur)\s+(?:day|week|weekend|morning|afternoon|evening|night|life|family)|it\s+going|things|you\s+been)\b"
            .to_string(),
        r"\byour\s+(?:name|opinion|favou?rite|purpose|creator|limitations|knowledge|training|views?|thoughts|answer|version|model)\b"
            .to_string(),
        // "What is my order status", "Why was my card declined", "what my name is".
        format!(
            r"^{WH}(?:\s+\w+)?(?:['’]s|\s+is|\s+are|\s+was|\s+were|\s+do|\s+does|\s+did|\s+will|\s+should|\s+has|\s+have)\s+my\b|^{WH}\s+my\b"
        ),
        // "How old am I", "Where do I live", "What did I say".
        format!(r"^{WH}(?:\s+\w+)?\s+(?:do|did|am|should|have|can|could)\s+i\b"),
        // This moment: "right now", "at the moment", or a question that ends on "today", "tonight" ….
        r"\b(?:right now|at the moment)\b|\b(?:today|tonight|tomorrow|this (?:morning|afternoon|evening|weekend))\s*[?.!]*$"
            .to_string(),
        r"\bwhat (?:time|day) (?:is it|it is)\b|\bwhat['’]?s the date\b|\bwhat is the date today\b|\btoday['’]s date\b"
            .to_string(),
    ];
    let pattern = format!("(?i){}", patterns.map(|p| format!("(?:{p})")).join("|"));
    regex::Regex::new(&ascii_word_boundaries(&pattern)).ok()
});

/// A pattern with its `\b`s made ASCII word boundaries. A Unicode `\b` cannot run in the regex
/// crate's DFAs once the text holds one non-ASCII character (a curly quote is enough), and the
/// fallback costs hundreds of nanoseconds a byte: over a millisecond for a pasted page. Every `\b`
/// here sits next to an ASCII letter of the pattern, so the two kinds differ only beside a
/// non-ASCII letter, where the ASCII one also matches: such a text is sent to the LLM, never to search.
fn ascii_word_boundaries(pattern: &str) -> String {
    pattern.replace(r"\b", r"(?-u:\b)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(last: &str) -> RequestFeatures {
        RequestFeatures {
            last_user: last.into(),
            question: crate::classify::text::core_question(last).into(),
            user_turns: 2,
            prior_turns: 1,
            choices: 1,
            ..Default::default()
        }
    }

    #[test]
    fn questions_in_another_language_go_to_the_llm() {
        for q in [
            "Quelle est la capitale du Pérou ?",
            "¿Cuál es la capital de Perú?",
            "Wer schrieb Hamlet?",
            "Was ist die Hauptstadt von Peru",
            "ペルーの首都は？",
            "Какая столица Перу?",
        ] {
            assert!(!reads_as_english(q), "{q}");
            assert_eq!(
                Guards::default().check(&RequestFeatures::from_query(q)),
                Some(Guard::Language),
                "{q}"
            );
        }
        for q in [
            "What is the capital of Peru?",
            "capital of peru",
            "who wrote Les Misérables",
            "Lima",
            "define déjà vu",
        ] {
            assert!(reads_as_english(q), "{q}");
        }
    }

    #[test]
    fn a_system_prompt_that_sets_a_language_format_persona_or_scope_goes_to_the_llm() {
        let with_system = |system: &str| RequestFeatures {
            system: system.into(),
            ..RequestFeatures::from_query("What is the capital of Peru?")
        };
        for system in [
            "Always answer in French.",
            "Réponds toujours en français.",
            "Respond in JSON.",
            "Answer in one word.",
            "You are Captain Jack, a pirate. Stay in character.",
            "You are Acme's support bot. Only answer questions about Acme products.",
            "Keep answers under 20 words.",
        ] {
            assert_eq!(
                Guards::default().check(&with_system(system)),
                Some(Guard::SystemPrompt),
                "{system}"
            );
        }
        for system in [
            "",
            "You are a helpful assistant.",
            "You are an AI assistant. Be honest and accurate.",
        ] {
            assert_eq!(Guards::default().check(&with_system(system)), None, "{system}");
        }
        let off = Guards {
            system_prompt: false,
            ..Guards::default()
        };
        assert_eq!(off.check(&with_system("Always answer in French.")), None);
    }

    #[test]
    fn follow_ups_are_caught_only_in_conversations() {
        let g = Guards::default();
        assert_eq!(g.check(&conversation("and its population?")), Some(Guard::FollowUp));
        assert_eq!(g.check(&conversation("What about Chile?")), Some(Guard::FollowUp));
        assert_eq!(g.check(&conversation("Who founded it?")), Some(Guard::FollowUp));
        assert_eq!(g.check(&conversation("What is the capital of Peru?")), None);
        let first = RequestFeatures::from_query("and its population?");
        assert_eq!(g.check(&first), None, "a first message has nothing to refer back to");
    }

    #[test]
    fn each_guard_fires_and_can_be_disabled() {
        let mut f = RequestFeatures::from_query("What is the capital of Peru?");
        f.has_media = true;
        assert_eq!(Guards::default().check(&f), Some(Guard::Media));
        let off = Guards {
            media: false,
            ..Guards::default()
        };
        assert_eq!(off.check(&f), None);
        f.has_media = false;
        f.choices = 3;
        assert_eq!(Guards::default().check(&f), Some(Guard::MultipleChoices));
        f.choices = 1;
        f.has_response_format = true;
        assert_eq!(Guards::default().check(&f), Some(Guard::ResponseFormat));
    }

    /// The guards' patterns use ASCII word boundaries (so the regex DFAs run on any text): text
    /// with curly quotes and accents still matches where it did, and matches more, never less.
    #[test]
    fn ascii_word_boundaries_still_match_text_with_curly_quotes_and_accents() {
        assert!(is_personal("What’s your name? I’m “curious”"));
        assert!(is_personal("Who created you, café owner?"));
        assert!(!is_personal("Who created “Les Misérables”?"));
        assert!(system_prompt_constrains("Réponds en français, s’il te plaît."));
        assert!(system_prompt_constrains("Answer in ٣ words."));
        assert!(system_prompt_constrains("Keep it “brief”."));
        assert!(system_prompt_constrains("You are Zoë’s assistant."));
        assert!(!system_prompt_constrains("You are a helpful assistant. Be “honest”."));
        assert_eq!(ascii_word_boundaries(r"\bmy\b"), r"(?-u:\b)my(?-u:\b)");
    }

    #[test]
    fn questions_about_the_assistant_the_user_or_now_are_personal() {
        let g = Guards::default();
        for q in [
            "Who are you?",
            "how are u",
            "What do you think about remote work?",
            "Who created you?",
            "What's your name?",
            "What is my order status?",
            "Why was my card declined",
            "How old am I?",
            "Is it going to rain today?",
            "Who is winning the match right now?",
            "Hey, can you tell me what time it is? Thanks!",
            "Do you know what my name is?",
            "Hey, how's your day?",
            "how was your weekend",
            "How's it going?",
        ] {
            assert!(is_personal(crate::classify::text::core_question(q)), "{q}");
            assert_eq!(g.check(&RequestFeatures::from_query(q)), Some(Guard::Personal), "{q}");
        }
        // Titles and the generic "you" are full of pronouns and stay with the classifier.
        for q in [
            "what do you call a baby kangaroo",
            "who plays ted in how i met your mother",
            "who sang the lion sleeps tonight in 1961",
            "Can you tell me who wrote Hamlet?",
            "how old do you have to be to vote in france",
            "how is your credit score calculated",
        ] {
            assert!(!is_personal(crate::classify::text::core_question(q)), "{q}");
        }
        let off = Guards {
            personal: false,
            ..Guards::default()
        };
        assert_eq!(off.check(&RequestFeatures::from_query("Who are you?")), None);
    }

    #[test]
    fn empty_user_text_never_goes_to_search() {
        let off = Guards {
            tools: false,
            media: false,
            response_format: false,
            multiple_choices: false,
            follow_up: false,
            personal: false,
            language: false,
            system_prompt: false,
        };
        assert_eq!(off.check(&RequestFeatures::from_query("   ")), Some(Guard::NoUserText));
    }
}
