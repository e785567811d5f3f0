//! The difficulty router, pure: P(a cheaper model's answer is worse than the strong model's | the
//! prompt), for model tiers' `max_difficulty` ([`crate::config::tiers`]). A logistic regression
//! over named features of the prompt alone: its length and shape (lines, numbers, maths and code
//! markers, answer options), its first word (the task: "write", "calculate", "explain") and its
//! content words. Nothing here reads a file or the clock, so the same text always gets the same
//! probability, in `serve`, in `calibrate-tiers` and in the bench.
//!
//! The weights are fitted by [`fit`] (run by `ecoroute train-router`) on the Apache-2.0 rows of
//! RouteLLM's evaluation data only (MMLU on half of its subjects: GPT-4 against Mixtral-8x7B), and
//! ship in the binary (`models/difficulty.json`) with how they were made. Why named features and
//! not hashed ones: the model file says what it learned, and a word never seen in training simply
//! has no weight.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::model::sigmoid;
use super::text::{is_stopword, lower_words, stem};

/// The trained router: a bias, named weights, and how it was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DifficultyModel {
    pub bias: f64,
    /// What it was fitted on, with which settings: written by `train-router`.
    pub provenance: String,
    /// Measured by `train-router` on the held-out Apache-2.0 sets: for thresholds in increasing
    /// order, the lowest share of the strong model's quality any of those sets kept when requests
    /// at or under the threshold went to the cheaper model. What the reports quote as the
    /// router's promise at a tier's `max_difficulty`.
    #[serde(default)]
    pub promises: Vec<Promise>,
    pub weights: HashMap<String, f64>,
}

/// The quality a threshold kept on held-out sets (see [`DifficultyModel::promises`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Promise {
    pub threshold: f64,
    /// Quality with the router at this threshold / quality with the strong model alone, on the
    /// held-out set where that ratio was lowest.
    pub quality: f64,
    /// The share of that set's requests the cheaper model took.
    pub cheap_share: f64,
}

static BUILTIN: LazyLock<Option<DifficultyModel>> =
    LazyLock::new(|| serde_json::from_str(include_str!("../../models/difficulty.json")).ok());

impl DifficultyModel {
    /// The model shipped in the binary. `None` only if the file in the repository is broken, which
    /// a unit test rules out.
    pub fn builtin() -> Option<&'static DifficultyModel> {
        BUILTIN.as_ref()
    }

    /// P(the cheaper model's answer is worse) for a prompt, read up to [`MAX_READ_BYTES`].
    pub fn difficulty(&self, prompt: &str) -> f64 {
        let prompt = prefix(prompt, MAX_READ_BYTES);
        let mut z = self.bias;
        for_each_feature(prompt, &mut |name, x| {
            z += self.weights.get(name).copied().unwrap_or(0.0) * x;
        });
        sigmoid(z)
    }

    /// The promise measured at the smallest threshold not below `threshold`: between two measured
    /// thresholds, the higher one's figures, which send more requests to the cheaper model, so
    /// the quality quoted is never the better of the two.
    pub(crate) fn promise_at(&self, threshold: f64) -> Option<Promise> {
        self.promises.iter().find(|p| p.threshold >= threshold - 1e-12).copied()
    }
}

/// The router reads at most this much of a prompt: it runs on the serving thread, and its cost
/// grows with the text (156 µs at 8,000 characters, `cargo bench --bench difficulty`), while no
/// training prompt was longer than 4,868 characters, so nothing past this was ever learned from.
const MAX_READ_BYTES: usize = 16 * 1024;

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// How a tier's reason says the router let a request through: "difficulty 0.123 <= 0.15". The
/// ledger keeps it in the row's reason, where [`threshold_in`] reads the threshold back for the
/// report's quality promise.
pub(crate) fn describe(difficulty: f64, max_difficulty: f64) -> String {
    format!("difficulty {difficulty:.3} <= {max_difficulty}")
}

/// The `max_difficulty` in a reason written with [`describe`], if any.
pub(crate) fn threshold_in(reason: &str) -> Option<f64> {
    let rest = &reason[reason.find("difficulty ")? + "difficulty ".len()..];
    let rest = &rest[rest.find(" <= ")? + " <= ".len()..];
    let end = rest.find([' ', ';']).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Calls `emit` with each feature of a prompt and its value. Every feature's value is within
/// about [0, 3], so one L2 weight suits them all.
fn for_each_feature(prompt: &str, emit: &mut dyn FnMut(&str, f64)) {
    let chars = prompt.chars().count();
    let mut digits = 0usize;
    let mut maths = 0usize;
    let mut questions = 0usize;
    for c in prompt.chars() {
        match c {
            '0'..='9' => digits += 1,
            '=' | '+' | '*' | '/' | '^' | '<' | '>' | '%' | '\\' | '$' | '√' | '∑' | '∫' | '≤' | '≥' | '×' | '÷' => {
                maths += 1
            }
            '?' => questions += 1,
            _ => {}
        }
    }
    let lines = prompt.lines().filter(|l| !l.trim().is_empty()).count();
    let ln = |n: usize| (n as f64).ln_1p();
    emit("shape:chars", ln(chars) / 5.0);
    emit("shape:lines", ln(lines) / 2.0);
    emit("shape:digits", (digits as f64 / chars.max(1) as f64).sqrt() * 2.0);
    emit("shape:maths", ln(maths) / 2.0);
    emit("shape:questions", ln(questions) / 2.0);
    // Answer options ("A. …" lines): a multiple-choice question, as MMLU asks them.
    if prompt.contains("\nA.") && prompt.contains("\nB.") {
        emit("shape:options", 1.0);
    }
    if prompt.contains("```") || prompt.contains("def ") || prompt.contains("();") || prompt.contains("{\n") {
        emit("shape:code", 1.0);
    }
    // Cues of questions that take reasoning rather than recall: two statements to judge, a
    // negated question ("which is NOT"), answers that are numbers to compute.
    if prompt.contains("Statement 1") {
        emit("shape:statements", 1.0);
    }
    if prompt.contains(" NOT ") || prompt.contains("EXCEPT") {
        emit("shape:negated", 1.0);
    }
    let numeric_options = prompt
        .lines()
        .filter_map(|l| l.strip_prefix(['A', 'B', 'C', 'D']).and_then(|l| l.strip_prefix(". ")))
        .filter(|l| {
            l.trim()
                .starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '$')
        })
        .count();
    if numeric_options >= 2 {
        emit("shape:numeric_options", 1.0);
    }
    let mut numbers = 0usize;
    let mut first: Option<String> = None;
    let mut words: Vec<String> = Vec::new();
    for word in lower_words(prompt) {
        if word.chars().all(|c| c.is_ascii_digit()) {
            numbers += 1;
            continue;
        }
        if first.is_none() {
            first = Some(word.to_string());
        }
        if word.chars().count() < 3 || is_stopword(&word) {
            continue;
        }
        words.push(stem(&word).to_string());
    }
    // Each distinct word once, in a fixed order.
    words.sort_unstable();
    words.dedup();
    emit("shape:numbers", ln(numbers) / 2.0);
    emit("shape:words", ln(words.len()) / 4.0);
    // Technical vocabulary: long words.
    let long = words.iter().filter(|w| w.chars().count() >= 9).count();
    emit("shape:long_words", (long as f64 / words.len().max(1) as f64) * 2.0);
    if let Some(first) = first {
        emit(&format!("first:{first}"), 1.0);
    }
    // Each distinct content word once, scaled so a long prompt's words weigh as much in all as a
    // short one's: length has its own features.
    let scale = 1.0 / (words.len().max(1) as f64).sqrt();
    let mut name = String::with_capacity(32);
    for w in &words {
        name.clear();
        name.push_str("w:");
        name.push_str(w);
        emit(&name, scale);
    }
}

/// Settings of [`fit`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FitOptions {
    /// L2 penalty per weight (the bias is not penalised).
    pub l2: f64,
    /// Full-batch gradient steps.
    pub steps: usize,
    pub learning_rate: f64,
    /// Word and first-word features seen in fewer training prompts are dropped.
    pub min_count: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            l2: 1e-2,
            steps: 400,
            learning_rate: 0.1,
            min_count: 5,
        }
    }
}

/// One training prompt: its text, whether the cheaper model's answer was worse, and its weight.
#[derive(Debug, Clone)]
pub(crate) struct Labelled<'a> {
    pub prompt: &'a str,
    pub harder: bool,
    pub weight: f64,
}

/// Fits the weights by full-batch gradient descent with Adam on the weighted log-loss plus L2.
/// Deterministic: no sampling, features visited in a fixed order, so the same rows and options
/// give the same model bit for bit. Unweighted classes, so the output stays a probability.
pub(crate) fn fit(rows: &[Labelled<'_>], options: &FitOptions, provenance: String) -> DifficultyModel {
    // Vocabulary: the shape features always, words by how many prompts have them.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for row in rows {
        for_each_feature(row.prompt, &mut |name, _| {
            *counts.entry(name.to_string()).or_default() += 1;
        });
    }
    let mut names: Vec<String> = counts
        .into_iter()
        .filter(|(name, n)| name.starts_with("shape:") || *n >= options.min_count)
        .map(|(name, _)| name)
        .collect();
    names.sort();
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let data: Vec<Vec<(usize, f64)>> = rows
        .iter()
        .map(|row| {
            let mut features = Vec::new();
            for_each_feature(row.prompt, &mut |name, x| {
                if let Some(&i) = index.get(name) {
                    features.push((i, x));
                }
            });
            features
        })
        .collect();
    let total: f64 = rows.iter().map(|r| r.weight).sum::<f64>().max(f64::MIN_POSITIVE);
    let dim = names.len() + 1; // the last one is the bias
    let mut w = vec![0.0; dim];
    let (mut m, mut v) = (vec![0.0; dim], vec![0.0; dim]);
    let (beta1, beta2, eps) = (0.9, 0.999, 1e-8);
    let mut grad = vec![0.0; dim];
    for step in 1..=options.steps {
        grad.iter_mut().for_each(|g| *g = 0.0);
        for (row, features) in rows.iter().zip(&data) {
            let z = w[dim - 1] + features.iter().map(|&(i, x)| w[i] * x).sum::<f64>();
            let y = if row.harder { 1.0 } else { 0.0 };
            let g = (sigmoid(z) - y) * row.weight / total;
            for &(i, x) in features {
                grad[i] += g * x;
            }
            grad[dim - 1] += g;
        }
        for i in 0..dim - 1 {
            grad[i] += options.l2 * w[i];
        }
        let (c1, c2) = (1.0 - beta1_pow(beta1, step), 1.0 - beta1_pow(beta2, step));
        for i in 0..dim {
            m[i] = beta1 * m[i] + (1.0 - beta1) * grad[i];
            v[i] = beta2 * v[i] + (1.0 - beta2) * grad[i] * grad[i];
            w[i] -= options.learning_rate * (m[i] / c1) / ((v[i] / c2).sqrt() + eps);
        }
    }
    DifficultyModel {
        bias: w[dim - 1],
        provenance,
        promises: Vec::new(),
        // Weights too small to matter are left out of the file.
        weights: names.into_iter().zip(w).filter(|(_, x)| x.abs() >= 1e-4).collect(),
    }
}

fn beta1_pow(beta: f64, step: usize) -> f64 {
    beta.powi(i32::try_from(step).unwrap_or(i32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(prompt: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_feature(prompt, &mut |n, _| out.push(n.to_string()));
        out
    }

    #[test]
    fn the_shipped_model_parses_and_says_what_it_was_trained_on() {
        let model = DifficultyModel::builtin().expect("models/difficulty.json parses");
        assert!(model.provenance.contains("Apache-2.0"), "{}", model.provenance);
        assert!(!model.weights.is_empty());
        assert!(model.promises.windows(2).all(|p| p[0].threshold < p[1].threshold));
    }

    #[test]
    fn features_read_the_task_and_the_shape() {
        let f = names("Calculate the integral of x^2 from 0 to 3.\nA. 9\nB. 3");
        for expected in ["first:calculate", "w:integral", "shape:options", "shape:maths"] {
            assert!(f.iter().any(|n| n == expected), "{expected} in {f:?}");
        }
        // Stopwords and numbers are not words; a repeated word counts once.
        let f = names("the the cat cat 42");
        assert_eq!(f.iter().filter(|n| n.starts_with("w:")).count(), 1, "{f:?}");
    }

    #[test]
    fn fitting_learns_a_separable_cue_and_is_deterministic() {
        let mut rows = Vec::new();
        for i in 0..40 {
            let hard = i % 2 == 0;
            let prompt = if hard {
                "prove the theorem about groups"
            } else {
                "name the capital city please"
            };
            rows.push(Labelled {
                prompt,
                harder: hard,
                weight: 1.0,
            });
        }
        let options = FitOptions {
            min_count: 1,
            ..FitOptions::default()
        };
        let a = fit(&rows, &options, "test".into());
        let b = fit(&rows, &options, "test".into());
        assert!(
            a.difficulty("prove the theorem") > 0.7,
            "{}",
            a.difficulty("prove the theorem")
        );
        assert!(a.difficulty("name the capital city") < 0.3);
        let mut wa: Vec<_> = a.weights.iter().collect();
        let mut wb: Vec<_> = b.weights.iter().collect();
        wa.sort_by(|x, y| x.0.cmp(y.0));
        wb.sort_by(|x, y| x.0.cmp(y.0));
        assert_eq!(wa, wb, "bit for bit");
    }

    #[test]
    fn a_reason_gives_its_threshold_back() {
        let reason = format!("complex; tier: {} to gpt-4o-mini", describe(0.1234, 0.15));
        assert_eq!(threshold_in(&reason), Some(0.15));
        assert_eq!(threshold_in("complex; tier: translation to gpt-4o-mini"), None);
    }

    #[test]
    fn a_promise_is_the_measured_one_at_or_under_the_threshold() {
        let model = DifficultyModel {
            bias: 0.0,
            provenance: String::new(),
            promises: vec![
                Promise {
                    threshold: 0.1,
                    quality: 0.99,
                    cheap_share: 0.1,
                },
                Promise {
                    threshold: 0.2,
                    quality: 0.95,
                    cheap_share: 0.4,
                },
            ],
            weights: HashMap::new(),
        };
        assert_eq!(model.promise_at(0.05).map(|p| p.quality), Some(0.99));
        assert_eq!(model.promise_at(0.1).map(|p| p.quality), Some(0.99));
        assert_eq!(model.promise_at(0.15).map(|p| p.quality), Some(0.95));
        assert_eq!(model.promise_at(0.25), None, "never measured that far");
    }

    #[test]
    fn a_long_prompt_is_read_up_to_the_cap_only() {
        let model = DifficultyModel::builtin().expect("parses");
        let head = "é".repeat(MAX_READ_BYTES / 2 + 1);
        let a = format!("{head} calculate the integral");
        assert_eq!(model.difficulty(&a).to_bits(), model.difficulty(&head).to_bits());
        assert_eq!(prefix("héllo", 2), "h", "never cut inside a character");
    }

    proptest! {
        #[test]
        fn any_text_gets_a_probability(text in "\\PC{0,400}") {
            let model = DifficultyModel::builtin().expect("parses");
            let p = model.difficulty(&text);
            prop_assert!((0.0..=1.0).contains(&p), "{p}");
            prop_assert_eq!(p.to_bits(), model.difficulty(&text).to_bits());
        }

        #[test]
        fn feature_values_stay_small(text in "\\PC{0,2000}") {
            for_each_feature(&text, &mut |name, x| {
                assert!(x.is_finite() && (0.0..=4.0).contains(&x), "{name} = {x}");
            });
        }
    }
}
