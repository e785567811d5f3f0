//! Config rules: named, ordered conditions that route a request to search or to the LLM before the
//! scorer is asked. All conditions of a rule must hold; absent conditions are ignored. Regexes were
//! compiled when the config was loaded, so matching cannot fail at request time.

use regex::Regex;

use super::{RequestFeatures, Route};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Rule {
    pub name: String,
    pub route: Route,
    #[serde(flatten)]
    pub when: Conditions,
}

/// Spelled as in the config file when shown (`last_user_regex`, …).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Conditions {
    #[serde(rename = "last_user_regex", serialize_with = "crate::redact::ser::opt_regex")]
    pub last_user: Option<Regex>,
    #[serde(rename = "system_regex", serialize_with = "crate::redact::ser::opt_regex")]
    pub system: Option<Regex>,
    pub has_tools: Option<bool>,
    pub has_media: Option<bool>,
    pub has_response_format: Option<bool>,
    pub min_turns: Option<usize>,
    pub max_turns: Option<usize>,
    pub min_chars: Option<usize>,
    pub max_chars: Option<usize>,
}

impl Conditions {
    /// True when no condition is set (such a rule would match everything; config refuses it).
    pub(crate) fn is_empty(&self) -> bool {
        self.last_user.is_none()
            && self.system.is_none()
            && self.has_tools.is_none()
            && self.has_media.is_none()
            && self.has_response_format.is_none()
            && self.min_turns.is_none()
            && self.max_turns.is_none()
            && self.min_chars.is_none()
            && self.max_chars.is_none()
    }

    pub(crate) fn matches(&self, f: &RequestFeatures) -> bool {
        let chars = f.last_user.chars().count();
        self.last_user.as_ref().is_none_or(|re| re.is_match(&f.last_user))
            && self.system.as_ref().is_none_or(|re| re.is_match(&f.system))
            && self.has_tools.is_none_or(|want| want == f.has_tools)
            && self.has_media.is_none_or(|want| want == f.has_media)
            && self
                .has_response_format
                .is_none_or(|want| want == f.has_response_format)
            && self.min_turns.is_none_or(|n| f.user_turns >= n)
            && self.max_turns.is_none_or(|n| f.user_turns <= n)
            && self.min_chars.is_none_or(|n| chars >= n)
            && self.max_chars.is_none_or(|n| chars <= n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_conditions_must_hold() {
        let c = Conditions {
            system: Some(Regex::new("(?i)support bot").unwrap()),
            max_chars: Some(20),
            ..Default::default()
        };
        let mut f = RequestFeatures::from_query("short question");
        assert!(!c.matches(&f), "system prompt does not match");
        f.system = "You are a Support Bot".into();
        assert!(c.matches(&f));
        f.last_user = "a question that is far longer than twenty characters".into();
        assert!(!c.matches(&f));
    }

    #[test]
    fn turn_bounds_are_inclusive() {
        let c = Conditions {
            min_turns: Some(2),
            max_turns: Some(3),
            ..Default::default()
        };
        let mut f = RequestFeatures::from_query("q");
        for (turns, expected) in [(1, false), (2, true), (3, true), (4, false)] {
            f.user_turns = turns;
            assert_eq!(c.matches(&f), expected, "turns={turns}");
        }
    }
}
