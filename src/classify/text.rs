//! Small, allocation-light text helpers shared by the classifier and the answer extractor.

/// Lower-cased word tokens: runs of alphanumerics (Unicode aware), apostrophes inside words kept
/// out, so "Peru's" yields "peru" and "s".
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
}

/// Function words and question words that carry no topic; a lookup's content terms are the rest.
pub fn is_stopword(word: &str) -> bool {
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
pub fn stem(word: &str) -> &str {
    let w = word;
    for suffix in ["ies", "ied", "ing", "ers", "ed", "es", "er", "s", "y", "e"] {
        if w.len() > suffix.len() + 3 && w.ends_with(suffix) {
            return &w[..w.len() - suffix.len()];
        }
    }
    w
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
    fn stem_matches_related_forms() {
        assert_eq!(stem("discovered"), stem("discovery"));
        assert_eq!(stem("capitals"), stem("capital"));
        assert_eq!(stem("peru"), "peru");
    }
}
