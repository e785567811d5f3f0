//! Hard guards: request shapes that search can never serve correctly, so they always go to the LLM,
//! whatever the rules or the scorer say. Each can be switched off in `[guards]`, all are on by default.

use super::RequestFeatures;

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
    /// Nothing to classify: the last message is not a user message with text.
    NoUserText,
}

impl Guard {
    pub fn as_str(self) -> &'static str {
        match self {
            Guard::Tools => "tools",
            Guard::Media => "media",
            Guard::ResponseFormat => "response_format",
            Guard::MultipleChoices => "n>1",
            Guard::FollowUp => "follow-up",
            Guard::NoUserText => "no user text",
        }
    }
}

/// Which guards are on; read straight from the config's `[guards]` table (plain flags, nothing to
/// validate).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Guards {
    pub tools: bool,
    pub media: bool,
    pub response_format: bool,
    pub multiple_choices: bool,
    pub follow_up: bool,
}

impl Default for Guards {
    fn default() -> Self {
        Self {
            tools: true,
            media: true,
            response_format: true,
            multiple_choices: true,
            follow_up: true,
        }
    }
}

impl Guards {
    pub fn check(&self, f: &RequestFeatures) -> Option<Guard> {
        if f.last_user.trim().is_empty() {
            return Some(Guard::NoUserText);
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
        None
    }
}

/// Does this message need the earlier turns to be understood? True for anaphora ("it", "its",
/// "they", "that one"), for openings that continue a thought ("and", "what about", "also"), and for
/// very short fragments, which are almost always elliptical in a conversation.
pub fn refers_back(message: &str) -> bool {
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
    const PRONOUNS: &[&str] = &[
        "it", "its", "they", "their", "them", "he", "his", "him", "she", "her", "hers", "this", "that", "these",
        "those", "there", "one",
    ];
    words.iter().any(|w| PRONOUNS.contains(&w.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(last: &str) -> RequestFeatures {
        RequestFeatures {
            last_user: last.into(),
            user_turns: 2,
            prior_turns: 1,
            choices: 1,
            ..Default::default()
        }
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

    #[test]
    fn empty_user_text_never_goes_to_search() {
        let off = Guards {
            tools: false,
            media: false,
            response_format: false,
            multiple_choices: false,
            follow_up: false,
        };
        assert_eq!(off.check(&RequestFeatures::from_query("   ")), Some(Guard::NoUserText));
    }
}
