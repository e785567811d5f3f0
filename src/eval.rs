//! Evaluation and calibration of routing decisions against labelled queries. Pure: callers
//! classify, this counts. "Positive" is `lookup` throughout: a false lookup is a complex request
//! sent to search, the costly mistake.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Confusion {
    /// lookup predicted lookup
    pub true_lookup: u64,
    /// lookup predicted complex (an LLM call that search could have saved)
    pub missed_lookup: u64,
    /// complex predicted lookup (a complex request sent to search)
    pub false_lookup: u64,
    /// complex predicted complex
    pub true_complex: u64,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

impl Confusion {
    pub(crate) fn add(&mut self, gold_lookup: bool, predicted_lookup: bool) {
        match (gold_lookup, predicted_lookup) {
            (true, true) => self.true_lookup += 1,
            (true, false) => self.missed_lookup += 1,
            (false, true) => self.false_lookup += 1,
            (false, false) => self.true_complex += 1,
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.true_lookup + self.missed_lookup + self.false_lookup + self.true_complex
    }

    pub(crate) fn lookup_precision(&self) -> Option<f64> {
        ratio(self.true_lookup, self.true_lookup + self.false_lookup)
    }

    pub(crate) fn lookup_recall(&self) -> Option<f64> {
        ratio(self.true_lookup, self.true_lookup + self.missed_lookup)
    }

    pub(crate) fn complex_precision(&self) -> Option<f64> {
        ratio(self.true_complex, self.true_complex + self.missed_lookup)
    }

    pub(crate) fn complex_recall(&self) -> Option<f64> {
        ratio(self.true_complex, self.gold_complex())
    }

    /// Complex requests, wherever they were sent.
    pub(crate) fn gold_complex(&self) -> u64 {
        self.false_lookup + self.true_complex
    }

    /// Share of complex requests sent to search.
    pub(crate) fn false_lookup_rate(&self) -> Option<f64> {
        ratio(self.false_lookup, self.gold_complex())
    }

    /// Share of all requests routed to search (before the search adequacy check).
    pub(crate) fn kept_off_llm(&self) -> Option<f64> {
        ratio(self.true_lookup + self.false_lookup, self.total())
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct EvalReport {
    pub overall: Confusion,
    pub by_source: BTreeMap<String, Confusion>,
}

impl EvalReport {
    pub(crate) fn add(&mut self, source: Option<&str>, gold_lookup: bool, predicted_lookup: bool) {
        self.overall.add(gold_lookup, predicted_lookup);
        if let Some(s) = source {
            self.by_source
                .entry(s.to_string())
                .or_default()
                .add(gold_lookup, predicted_lookup);
        }
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        let metrics = |c: &Confusion| {
            serde_json::json!({
                "n": c.total(),
                "confusion": c,
                "lookup": {"precision": c.lookup_precision(), "recall": c.lookup_recall()},
                "complex": {"precision": c.complex_precision(), "recall": c.complex_recall()},
                "kept_off_llm": c.kept_off_llm(),
                "false_lookup_rate": c.false_lookup_rate(),
                "false_lookup_rate_95": c.false_lookup_interval(Z_95).map(|(lo, hi)| [lo, hi]),
            })
        };
        let by_source: serde_json::Map<String, serde_json::Value> =
            self.by_source.iter().map(|(k, v)| (k.clone(), metrics(v))).collect();
        let mut out = metrics(&self.overall);
        out["by_source"] = serde_json::Value::Object(by_source);
        out
    }
}

/// One labelled query as calibration sees it: decided by a guard or rule already (`fixed`), or by
/// the scorer's probability against the threshold being chosen.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scored {
    pub fixed: Option<bool>,
    pub p_lookup: f64,
    pub gold_lookup: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Calibration {
    pub threshold: f64,
    pub confusion: Confusion,
}

/// Wilson score interval for `k` successes in `n` trials at the normal quantile `z`. Unlike the
/// textbook ±z·√(p(1−p)/n), it stays inside [0, 1] and is not empty at k = 0, which is the case
/// that matters here: "0 of 405 false lookups" still allows a rate near 1%.
pub(crate) fn wilson_interval(k: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// z for a two-sided 95% interval.
pub(crate) const Z_95: f64 = 1.959_964;
/// z for a one-sided 95% bound.
const Z_95_ONE_SIDED: f64 = 1.644_854;

impl Confusion {
    /// Wilson interval of the false-lookup rate at quantile `z` ([`Z_95`]: how far the rate
    /// measured on this many complex requests may be from the rate on the traffic they came from).
    pub(crate) fn false_lookup_interval(&self, z: f64) -> Option<(f64, f64)> {
        wilson_interval(self.false_lookup, self.gold_complex(), z)
    }
}

/// The confusion of `scored` at `threshold`: scorer decisions against it, fixed ones as they are.
pub(crate) fn confusion_at(scored: &[Scored], threshold: f64) -> Confusion {
    let mut c = Confusion::default();
    for s in scored {
        c.add(s.gold_lookup, s.fixed.unwrap_or(s.p_lookup >= threshold));
    }
    c
}

/// What the false-lookup target is held against when calibrating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FalseLookupBound {
    /// The rate measured on the labelled set.
    Observed,
    /// The one-sided 95% Wilson upper bound of that rate: on a small set the measured rate at the
    /// chosen threshold is the lucky draw that made it fit, and traffic sees more.
    Upper95,
}

/// The threshold with the most lookups whose false-lookup rate stays at or under `max_false_lookup`.
/// None when even the strictest threshold exceeds the target (rules alone break it).
pub(crate) fn calibrate(scored: &[Scored], max_false_lookup: f64) -> Option<Calibration> {
    calibrate_against(scored, max_false_lookup, FalseLookupBound::Observed)
}

/// [`calibrate`], with the target held against `bound`.
pub(crate) fn calibrate_against(
    scored: &[Scored],
    max_false_lookup: f64,
    bound: FalseLookupBound,
) -> Option<Calibration> {
    let rate = |c: &Confusion| match bound {
        FalseLookupBound::Observed => c.false_lookup_rate().unwrap_or(0.0),
        FalseLookupBound::Upper95 => c.false_lookup_interval(Z_95_ONE_SIDED).map_or(0.0, |(_, hi)| hi),
    };
    let mut candidates: Vec<f64> = scored
        .iter()
        .filter(|s| s.fixed.is_none())
        .map(|s| s.p_lookup)
        .collect();
    candidates.push(1.0 + f64::EPSILON);
    candidates.sort_by(f64::total_cmp);
    candidates.dedup();
    // The false-lookup rate only falls as the threshold rises: the first that fits is the best.
    candidates.into_iter().find_map(|t| {
        let c = confusion_at(scored, t);
        (rate(&c) <= max_false_lookup).then_some(Calibration {
            threshold: t.min(1.0),
            confusion: c,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wilson_interval_matches_known_values() {
        // 8 of 405 (the dev set's false lookups at 2%): 1.0% to 3.9%.
        let (lo, hi) = wilson_interval(8, 405, Z_95).unwrap();
        assert!((lo - 0.0101).abs() < 5e-4 && (hi - 0.0385).abs() < 5e-4, "{lo} {hi}");
        let (lo, hi) = wilson_interval(0, 405, Z_95).unwrap();
        assert!(lo == 0.0 && (hi - 0.0094).abs() < 5e-4, "{hi}");
        assert_eq!(wilson_interval(3, 0, Z_95), None);
    }

    #[test]
    fn the_upper_bound_calibration_is_stricter() {
        // 1,000 complex rows scored 0..1 evenly, 1,000 lookups all at 1.0.
        let scored: Vec<Scored> = (0..1000)
            .map(|i| Scored {
                fixed: None,
                p_lookup: f64::from(i) / 1000.0,
                gold_lookup: false,
            })
            .chain((0..1000).map(|_| Scored {
                fixed: None,
                p_lookup: 1.0,
                gold_lookup: true,
            }))
            .collect();
        let observed = calibrate_against(&scored, 0.02, FalseLookupBound::Observed).unwrap();
        let upper = calibrate_against(&scored, 0.02, FalseLookupBound::Upper95).unwrap();
        assert_eq!(observed.confusion.false_lookup, 20);
        assert!(upper.threshold > observed.threshold);
        let (_, hi) = wilson_interval(upper.confusion.false_lookup, 1000, Z_95_ONE_SIDED).unwrap();
        assert!(hi <= 0.02 && upper.confusion.false_lookup < 20, "{hi}");
    }

    #[test]
    fn metrics_from_a_known_confusion() {
        let mut c = Confusion::default();
        for (g, p, n) in [(true, true, 8), (true, false, 2), (false, true, 1), (false, false, 9)] {
            for _ in 0..n {
                c.add(g, p);
            }
        }
        assert_eq!(c.lookup_recall(), Some(0.8));
        assert_eq!(c.false_lookup_rate(), Some(0.1));
        assert_eq!(c.kept_off_llm(), Some(9.0 / 20.0));
        assert!((c.lookup_precision().unwrap() - 8.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn calibration_picks_the_lowest_threshold_within_target() {
        let s = |p: f64, gold: bool| Scored {
            fixed: None,
            p_lookup: p,
            gold_lookup: gold,
        };
        let scored = [s(0.9, true), s(0.8, true), s(0.7, false), s(0.6, true), s(0.2, false)];
        let c = calibrate(&scored, 0.0).unwrap();
        assert_eq!(c.threshold, 0.8);
        assert_eq!(c.confusion.true_lookup, 2);
        let c = calibrate(&scored, 0.5).unwrap();
        assert_eq!(c.threshold, 0.6);
    }

    #[test]
    fn fixed_decisions_can_make_the_target_unreachable() {
        let scored = [
            Scored {
                fixed: Some(true),
                p_lookup: 0.0,
                gold_lookup: false,
            },
            Scored {
                fixed: None,
                p_lookup: 0.1,
                gold_lookup: false,
            },
        ];
        assert_eq!(calibrate(&scored, 0.2), None);
    }

    proptest! {
        #[test]
        fn calibrated_rate_never_exceeds_the_target(ps in proptest::collection::vec((0.0f64..1.0, any::<bool>()), 1..60), target in 0.0f64..0.3) {
            let scored: Vec<Scored> = ps.iter().map(|&(p, g)| Scored { fixed: None, p_lookup: p, gold_lookup: g }).collect();
            let c = calibrate(&scored, target).unwrap();
            prop_assert!(c.confusion.false_lookup_rate().unwrap_or(0.0) <= target);
        }
    }
}

/// Answer quality on questions with gold answers: how many search answered, how many of those
/// answers hold a gold answer, how many escalated. Counted twice: through the whole pipeline
/// (classifier, then search and its adequacy check), and for the search step alone (every
/// question searched), which isolates retrieval and extraction from routing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct AnswerCounts {
    pub questions: u64,
    /// The classifier sent the question to search (always, for the search step alone).
    pub routed_to_search: u64,
    /// Search gave an answer.
    pub answered: u64,
    /// ... that contains a gold answer.
    pub correct: u64,
    /// Routed to search, but the adequacy check (or the backend) sent it on to the LLM.
    pub escalated: u64,
}

impl AnswerCounts {
    pub(crate) fn add(&mut self, routed_to_search: bool, answer: Option<&str>, gold: &[String]) {
        self.questions += 1;
        if !routed_to_search {
            return;
        }
        self.routed_to_search += 1;
        match answer {
            Some(text) => {
                self.answered += 1;
                if contains_gold(text, gold) {
                    self.correct += 1;
                }
            }
            None => self.escalated += 1,
        }
    }

    pub(crate) fn answered_share(&self) -> Option<f64> {
        ratio(self.answered, self.questions)
    }

    /// Of the answers search gave, the share that contain a gold answer: the target metric.
    pub(crate) fn correct_share(&self) -> Option<f64> {
        ratio(self.correct, self.answered)
    }

    pub(crate) fn escalated_share(&self) -> Option<f64> {
        ratio(self.escalated, self.questions)
    }

    pub(crate) fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "questions": self.questions, "routed_to_search": self.routed_to_search,
            "answered": self.answered, "correct": self.correct, "escalated": self.escalated,
            "answered_share": self.answered_share(), "correct_share": self.correct_share(),
            "escalated_share": self.escalated_share(),
        })
    }
}

/// Answer-quality counts overall and per `source`.
#[derive(Debug, Clone, Default)]
pub(crate) struct AnswerReport {
    pub overall: AnswerCounts,
    pub by_source: BTreeMap<String, AnswerCounts>,
}

impl AnswerReport {
    pub(crate) fn add(&mut self, source: Option<&str>, routed_to_search: bool, answer: Option<&str>, gold: &[String]) {
        self.overall.add(routed_to_search, answer, gold);
        if let Some(s) = source {
            self.by_source
                .entry(s.to_string())
                .or_default()
                .add(routed_to_search, answer, gold);
        }
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "overall": self.overall.to_json(),
            "by_source": self.by_source.iter().map(|(k, v)| (k.clone(), v.to_json())).collect::<serde_json::Map<_, _>>(),
        })
    }
}

/// Lower case, digits' thousands separators and punctuation dropped, articles removed, spaces
/// collapsed: "The Mona Lisa" and "mona lisa" match, "29,907,003" and "29907003" match.
fn normalize_answer(text: &str) -> String {
    let text = crate::search::question::fold(text);
    let chars: Vec<char> = text.chars().collect();
    let mut cleaned = String::with_capacity(text.len());
    for (i, c) in chars.iter().enumerate() {
        let between_digits =
            |i: usize| i > 0 && chars[i - 1].is_ascii_digit() && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_alphanumeric() {
            cleaned.extend(c.to_lowercase());
        } else if (*c == ',' || *c == '.') && between_digits(i) {
            if *c == '.' {
                cleaned.push('.');
            }
        } else {
            cleaned.push(' ');
        }
    }
    cleaned
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a gold answer is a pattern: `re:` before it, or the regular expressions of the TREC
/// answer sets ("Tom(my)?\\s+Lasorda").
fn gold_pattern(gold: &str) -> Option<regex::Regex> {
    let pattern = match gold.strip_prefix("re:") {
        Some(p) => p,
        None if gold.contains('\\') || gold.contains(")?") || gold.contains(".*") || gold.contains('[') => gold,
        None => return None,
    };
    regex::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
        .ok()
}

/// The gold answer and its shorter forms: without a parenthesis, and without a generic head such
/// as "City of" ("City of Brussels" is answered by "Brussels").
fn gold_forms(gold: &str) -> Vec<String> {
    static HEADS: &[&str] = &[
        "city of ",
        "town of ",
        "state of ",
        "republic of ",
        "kingdom of ",
        "province of ",
    ];
    let mut forms = vec![normalize_answer(gold)];
    if let Some(i) = gold.find(" (") {
        forms.push(normalize_answer(&gold[..i]));
    }
    let lower = gold.to_lowercase();
    for head in HEADS {
        if let Some(rest) = lower.strip_prefix(head) {
            forms.push(normalize_answer(rest));
        }
    }
    forms.retain(|f| !f.is_empty());
    forms
}

/// Whether an answer contains one of the gold answers, as whole words (SQuAD-style containment)
/// with case and accents folded, or matches a gold pattern.
pub(crate) fn contains_gold(answer: &str, gold: &[String]) -> bool {
    let folded = crate::search::question::fold(answer);
    let normalised = format!(" {} ", normalize_answer(answer));
    gold.iter().any(|g| match gold_pattern(g) {
        Some(re) => re.is_match(&folded),
        None => gold_forms(g).iter().any(|f| normalised.contains(&format!(" {f} "))),
    })
}

#[cfg(test)]
mod answer_tests {
    use super::*;

    #[test]
    fn gold_answers_fold_accents_read_patterns_and_drop_generic_heads() {
        let gold = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(contains_gold(
            "The capital of Brazil is Brasilia.",
            &gold(&["Brasília"])
        ));
        assert!(contains_gold(
            "The capital of Brazil is Brasília.",
            &gold(&["brasilia"])
        ));
        assert!(contains_gold(
            "The capital of Belgium is Brussels.",
            &gold(&["City of Brussels"])
        ));
        assert!(contains_gold(
            "Tommy Lasorda managed them.",
            &gold(&["Tom(my)?\\s+Lasorda"])
        ));
        assert!(contains_gold(
            "It has 39,187,155 people.",
            &gold(&["re:\\b39[,.]?\\d{3}"])
        ));
        assert!(!contains_gold("It has 12 people.", &gold(&["re:\\b39[,.]?\\d{3}"])));
        assert!(!contains_gold("The capital is Bruges.", &gold(&["City of Brussels"])));
    }

    #[test]
    fn gold_answers_match_as_whole_normalised_words() {
        let gold = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(contains_gold("The capital of Peru is Lima.", &gold(&["Lima"])));
        assert!(contains_gold("It has 29907003 people.", &gold(&["29,907,003"])));
        assert!(contains_gold(
            "Painted by da Vinci: the Mona Lisa",
            &gold(&["Mona Lisa"])
        ));
        assert!(!contains_gold(
            "The capital of Peru is Lima.",
            &gold(&["Li", "Peru City"])
        ));
        assert!(
            !contains_gold("anything", &gold(&["", "the"])),
            "empty gold never matches"
        );
    }

    #[test]
    fn counts_split_answered_correct_and_escalated() {
        let gold = vec!["Lima".to_string()];
        let mut r = AnswerReport::default();
        r.add(Some("a"), true, Some("The capital is Lima."), &gold);
        r.add(Some("a"), true, Some("The capital is Cusco."), &gold);
        r.add(Some("b"), true, None, &gold);
        r.add(Some("b"), false, None, &gold);
        let o = r.overall;
        assert_eq!(
            (o.questions, o.routed_to_search, o.answered, o.correct, o.escalated),
            (4, 3, 2, 1, 1)
        );
        assert_eq!(o.correct_share(), Some(0.5));
        assert_eq!(r.by_source["b"].escalated, 1);
    }
}
