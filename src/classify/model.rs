//! The trained lookup-vs-complex scorer: logistic regression over hashed features. Pure: features
//! and scoring here, training in [`super::train`], file I/O at the edges (the CLI).
//!
//! Features (all lower-cased, digits folded to `0`, so casing and numbers do not leak style):
//! - word unigrams and bigrams, ordered pairs of words anywhere in the first 16, the first word,
//!   the first two words, the last word;
//! - shape n-grams: the question with function words kept and other words folded to one
//!   placeholder ("where was the N of N"), so structure learnt with some names carries to others;
//! - character trigrams over the whole text (robust to typos, inflections and unseen words);
//! - hand features: length buckets, question marks, digits, arithmetic, code symbols, line breaks,
//!   commas, "or" choices, quotes. Whether a question ends in "?" is deliberately not a feature:
//!   it says more about the dataset a query came from than about what it asks.
//!
//! All of them are taken from the question inside any chat frame ("Hi! Could you tell me ...").
//!
//! Each feature is hashed (FNV-1a) into 2^22 weights. N-gram groups are scaled by 1/sqrt(count) so
//! that a long text does not win by volume.

use super::scorer::{Score, Scorer};
use super::text::word_slices;

/// 2^22 weights: fewer collisions among the word pairs than 2^20 gave 0.3–1.0 points of
/// cross-validated recall at 2% false lookups and 0.8–1.8 points on data never trained on (4
/// seeds each); 2^23 and 2^24 about half a point more for two and four times the memory (16 MB
/// here).
const DIM_BITS: u32 = 22;
/// Word pairs are taken from this many first words (at most 120 pairs): 24 cost twice the time at
/// p99 for the same cross-validated recall.
const PAIR_WINDOW: usize = 16;
/// Shape n-grams are 3 and 4 words long. They gained about a point of cross-validated recall at 2%
/// false lookups (4 seeds) and 1–3 points on data never trained on; shape bigrams added nothing
/// over the word bigrams, 2–3 did less well and 2–5 no better.
const SHAPE_N: std::ops::RangeInclusive<usize> = 3..=4;
/// Shapes are taken from this many first words: a question's structure is at its start, and a
/// long prompt is not a lookup for other reasons.
const SHAPE_WINDOW: usize = 24;
pub(crate) const DIM: usize = 1 << DIM_BITS;
const MAGIC: &[u8; 4] = b"ECLR";
/// 2: word pairs added and 2^20 weights; 3: shape n-grams added. A model trained for other
/// features would score nonsense, so an old file is refused rather than read (and so is one with
/// another number of weights, by its header).
const FORMAT_VERSION: u32 = 3;

/// A feature's identity: a kind tag and up to two text parts, hashed without allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Feature<'a> {
    pub kind: &'static str,
    pub a: &'a str,
    pub b: &'a str,
}

impl Feature<'_> {
    pub(crate) fn bucket(&self) -> usize {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [
            self.kind.as_bytes(),
            b"\x1f",
            self.a.as_bytes(),
            b"\x1f",
            self.b.as_bytes(),
        ] {
            for &byte in part {
                h ^= u64::from(byte);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        (h ^ (h >> 29)) as usize & (DIM - 1)
    }

    pub(crate) fn name(&self) -> String {
        match (self.a.is_empty(), self.b.is_empty()) {
            (true, _) => self.kind.to_string(),
            (false, true) => format!("{} \"{}\"", self.kind, self.a),
            (false, false) => format!("{} \"{} {}\"", self.kind, self.a, self.b),
        }
    }
}

/// Lower-cases and folds digits to `0`.
fn normalize(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_ascii_digit() { '0' } else { c })
        .collect()
}

/// Calls `emit` for every feature of `text` with its value. `text` is a question already out of
/// its chat frame ([`super::text::core_question`]; requests carry it as
/// `RequestFeatures::question`, training strips each example), so "hey, can you tell me ..."
/// scores as "..." does.
pub(crate) fn for_each_feature(text: &str, emit: &mut dyn FnMut(Feature<'_>, f32)) {
    let norm = normalize(text);
    let tokens: Vec<&str> = word_slices(&norm).collect();
    let feature = |kind: &'static str, a, b| Feature { kind, a, b };

    if !tokens.is_empty() {
        let scale = 1.0 / (tokens.len() as f32).sqrt();
        for t in &tokens {
            emit(feature("word", t, ""), scale);
        }
        for pair in tokens.windows(2) {
            emit(feature("bigram", pair[0], pair[1]), scale);
        }
        // Every pair of words in order, however far apart: "where … born" with "director of" is
        // what a bridge question ("Where was the director of Vertigo born?") looks like, and no
        // bigram sees both ends. Capped so that a long prompt costs a bounded number of features.
        let head = &tokens[..tokens.len().min(PAIR_WINDOW)];
        if head.len() >= 2 {
            let scale = 1.0 / ((head.len() * (head.len() - 1) / 2) as f32).sqrt();
            for (i, a) in head.iter().enumerate() {
                for b in &head[i + 1..] {
                    emit(feature("pair", a, b), scale);
                }
            }
        }
        emit(feature("first", tokens[0], ""), 1.0);
        emit(feature("first2", tokens[0], tokens.get(1).copied().unwrap_or("")), 1.0);
        emit(feature("last", tokens[tokens.len() - 1], ""), 1.0);
    }

    // The question's shape with its topic taken out: function words kept, every run of other words
    // one "N", numbers "#". "Where was the director of Vertigo born?" is "^ where was the N of N $"
    // and "Where was Marie Curie born?" is "^ where was N $", whatever the names: a shape seen
    // with other names in training carries over to names it never saw.
    let shaped = &tokens[..tokens.len().min(SHAPE_WINDOW)];
    let mut skeleton: Vec<&str> = Vec::with_capacity(shaped.len() + 2);
    skeleton.push("^");
    for t in shaped {
        let shape = if is_function_word(t) {
            t
        } else if is_number(t) {
            "#"
        } else {
            "N"
        };
        if !(shape == "N" && skeleton.last() == Some(&"N")) {
            skeleton.push(shape);
        }
    }
    skeleton.push("$");
    let grams: usize = SHAPE_N.map(|n| skeleton.len().saturating_sub(n - 1)).sum();
    let scale = 1.0 / (grams.max(1) as f32).sqrt();
    let mut gram = String::new();
    for n in SHAPE_N {
        for window in skeleton.windows(n) {
            gram.clear();
            for (i, part) in window.iter().enumerate() {
                if i > 0 {
                    gram.push(' ');
                }
                gram.push_str(part);
            }
            emit(
                Feature {
                    kind: "shape",
                    a: &gram,
                    b: "",
                },
                scale,
            );
        }
    }

    // Character trigrams over the words joined by single spaces, with boundary spaces.
    let joined: Vec<char> = std::iter::once(' ')
        .chain(tokens.join(" ").chars())
        .chain(std::iter::once(' '))
        .collect();
    if joined.len() >= 3 {
        let count = joined.len() - 2;
        let scale = 1.0 / (count as f32).sqrt();
        let mut buf = [0u8; 12];
        for w in joined.windows(3) {
            let mut len = 0;
            for c in w {
                len += c.encode_utf8(&mut buf[len..]).len();
            }
            if let Ok(tri) = std::str::from_utf8(&buf[..len]) {
                emit(
                    Feature {
                        kind: "char3",
                        a: tri,
                        b: "",
                    },
                    scale,
                );
            }
        }
    }

    let words = tokens.len();
    let length = match words {
        0..=3 => "words:1-3",
        4..=6 => "words:4-6",
        7..=10 => "words:7-10",
        11..=15 => "words:11-15",
        16..=25 => "words:16-25",
        26..=50 => "words:26-50",
        _ => "words:51+",
    };
    emit(feature(length, "", ""), 1.0);
    let trimmed = text.trim_end();
    let questions = text.matches('?').count();
    let flags: [(&'static str, bool); 9] = [
        ("several ?", questions > 1),
        ("has digits", text.bytes().any(|b| b.is_ascii_digit())),
        ("arithmetic", has_arithmetic(text)),
        (
            "code symbols",
            text.contains("```") || text.matches(['{', '}', ';', '=']).count() >= 2,
        ),
        ("line breaks", text.contains('\n')),
        ("several commas", text.matches(',').count() >= 2),
        ("or-choice", tokens.contains(&"or")),
        (
            "quotes",
            text.contains('"') || text.contains('\'') && text.matches('\'').count() >= 2,
        ),
        (
            "several sentences",
            trimmed.char_indices().any(|(i, c)| {
                matches!(c, '.' | '?' | '!') && i + 1 < trimmed.len() && trimmed[i + 1..].starts_with(' ')
            }),
        ),
    ];
    for (name, on) in flags {
        if on {
            emit(feature(name, "", ""), 1.0);
        }
    }
    // Cues that a request wants several facts listed, weighed or added up. Each groups many
    // wordings ("name five …", "give three …", "list 10 …") that are rare one by one.
    let cues: [(&'static str, bool); 3] = [
        ("cue:count-request", asks_for_several(&tokens)),
        ("cue:compare", compares(&tokens)),
        (
            "cue:aggregate",
            tokens.iter().any(|t| {
                matches!(
                    *t,
                    "total" | "combined" | "sum" | "average" | "altogether" | "respective" | "respectively" | "each"
                )
            }),
        ),
    ];
    for (name, on) in cues {
        if on {
            emit(feature(name, "", ""), 1.0);
        }
    }
}

/// Closed-class English words, sorted: question words, auxiliaries, determiners, prepositions,
/// conjunctions, pronouns, the possessive "s". They carry a question's structure, not its topic.
const FUNCTION_WORDS: &[&str] = &[
    "a", "about", "across", "after", "against", "all", "along", "also", "although", "am", "among", "an", "and",
    "another", "any", "are", "around", "as", "at", "be", "because", "been", "before", "behind", "being", "between",
    "both", "but", "by", "can", "could", "did", "do", "does", "during", "each", "either", "every", "for", "from",
    "had", "has", "have", "he", "her", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "many", "may",
    "me", "might", "more", "most", "much", "must", "my", "near", "neither", "no", "nor", "not", "of", "on", "only",
    "onto", "or", "other", "our", "over", "per", "s", "same", "shall", "she", "should", "since", "so", "some", "such",
    "than", "that", "the", "their", "them", "there", "these", "they", "this", "those", "though", "through", "to",
    "under", "until", "upon", "us", "was", "we", "were", "what", "when", "where", "whether", "which", "while", "who",
    "whom", "whose", "why", "will", "with", "within", "without", "would", "you", "your",
];

fn is_function_word(t: &str) -> bool {
    FUNCTION_WORDS.binary_search(&t).is_ok()
}

/// A token of digits only (after [`normalize`], all `0`s).
fn is_number(t: &str) -> bool {
    t.bytes().all(|b| b.is_ascii_digit())
}

/// "Name five countries …", "give me three examples", "list 10 …": a verb of listing near the start,
/// then a count.
fn asks_for_several(tokens: &[&str]) -> bool {
    let Some(verb) = tokens.iter().take(3).position(|t| {
        matches!(
            *t,
            "name"
                | "list"
                | "give"
                | "provide"
                | "suggest"
                | "recommend"
                | "enumerate"
                | "mention"
                | "identify"
                | "state"
        )
    }) else {
        return false;
    };
    tokens.iter().skip(verb + 1).take(3).any(|t| {
        is_number(t)
            || matches!(
                *t,
                "two"
                    | "three"
                    | "four"
                    | "five"
                    | "six"
                    | "seven"
                    | "eight"
                    | "nine"
                    | "ten"
                    | "some"
                    | "several"
                    | "few"
            )
    })
}

/// "the difference between", "similarities between", "compare", "pros and cons", "better than".
fn compares(tokens: &[&str]) -> bool {
    tokens
        .iter()
        .any(|t| matches!(*t, "compare" | "comparison" | "versus" | "vs"))
        || tokens.windows(2).any(|w| {
            matches!(
                (w[0], w[1]),
                (
                    "difference" | "differences" | "similarity" | "similarities" | "distinction",
                    "between"
                ) | ("better" | "worse", "than")
                    | ("pros", "and")
                    | ("advantages", "and")
            )
        })
}

fn has_arithmetic(text: &str) -> bool {
    // Spaces aside, a digit, an operator, and a digit or an opening bracket: "12 * 7", "3+4", "2^(x)".
    let compact: Vec<u8> = text.bytes().filter(|b| *b != b' ').collect();
    compact.windows(3).any(|w| {
        w[0].is_ascii_digit()
            && matches!(w[1], b'+' | b'-' | b'*' | b'/' | b'^' | b'=' | b'x')
            && (w[2].is_ascii_digit() || w[2] == b'(')
    })
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ModelError {
    #[error("not an ecoroute classifier model (bad magic)")]
    BadMagic,
    #[error(
        "model format {0} is not supported by this ecoroute (expects {FORMAT_VERSION}): retrain it with `ecoroute train`"
    )]
    Version(u32),
    #[error("model has 2^{0} weights, this ecoroute expects 2^{DIM_BITS}: retrain it with `ecoroute train`")]
    Dimension(u32),
    #[error("model file is truncated or has the wrong size")]
    Truncated,
    #[error("not a gzip model file: {0}")]
    Unreadable(String),
}

/// Logistic regression weights over hashed features.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinearModel {
    pub weights: Vec<f32>,
    pub bias: f32,
    /// Identifies the model in reports and `explain`.
    pub name: String,
}

impl LinearModel {
    pub(crate) fn zeros(name: &str) -> LinearModel {
        LinearModel {
            weights: vec![0.0; DIM],
            bias: 0.0,
            name: name.to_string(),
        }
    }

    /// The same sum as [`LinearModel::logit_visiting`], term by term in the same order, so the two
    /// agree to the bit. The buckets are hashed first and the weights read after: the table is
    /// larger than the caches, and loads that do not wait on each other's hashing overlap.
    pub(crate) fn logit(&self, text: &str) -> f32 {
        let mut terms: Vec<(usize, f32)> = Vec::with_capacity(256);
        for_each_feature(text, &mut |f, v| terms.push((f.bucket(), v)));
        terms
            .iter()
            .fold(self.bias, |z, &(bucket, v)| z + self.weights[bucket] * v)
    }

    /// The sum behind `explain`'s [`Scorer::score`]: `visit` sees each feature with its
    /// contribution to the logit.
    fn logit_visiting(&self, text: &str, mut visit: impl FnMut(Feature<'_>, f32)) -> f32 {
        let mut z = self.bias;
        for_each_feature(text, &mut |f, v| {
            let c = self.weights[f.bucket()] * v;
            z += c;
            visit(f, c);
        });
        z
    }

    pub(crate) fn p_lookup(&self, text: &str) -> f64 {
        sigmoid(f64::from(self.logit(text)))
    }

    /// Serialises as: magic, format version, dimension bits, bias, weights (all little-endian).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + DIM * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&DIM_BITS.to_le_bytes());
        out.extend_from_slice(&self.bias.to_le_bytes());
        for w in &self.weights {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    // Only the tests read a model from bytes in memory; the binary embeds its own.
    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: &[u8], name: &str) -> Result<LinearModel, ModelError> {
        LinearModel::read_from(bytes, name)
    }

    /// Reads a model as [`LinearModel::to_bytes`] wrote it, from a stream: the weights go straight
    /// into their vector, without a copy of the whole file beside them (16 MB the allocator would
    /// keep after it is freed).
    fn read_from(mut input: impl std::io::Read, name: &str) -> Result<LinearModel, ModelError> {
        let too_short = |e: std::io::Error, short: ModelError| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => short,
            _ => ModelError::Unreadable(e.to_string()),
        };
        let mut header = [0u8; 16];
        input
            .read_exact(&mut header)
            .map_err(|e| too_short(e, ModelError::BadMagic))?;
        if &header[..4] != MAGIC {
            return Err(ModelError::BadMagic);
        }
        let word = |i: usize| -> [u8; 4] { [header[i], header[i + 1], header[i + 2], header[i + 3]] };
        let version = u32::from_le_bytes(word(4));
        if version != FORMAT_VERSION {
            return Err(ModelError::Version(version));
        }
        let bits = u32::from_le_bytes(word(8));
        if bits != DIM_BITS {
            return Err(ModelError::Dimension(bits));
        }
        let bias = f32::from_le_bytes(word(12));
        let mut weights = Vec::with_capacity(DIM);
        let mut chunk = vec![0u8; 64 * 1024];
        while weights.len() < DIM {
            let want = ((DIM - weights.len()) * 4).min(chunk.len());
            input
                .read_exact(&mut chunk[..want])
                .map_err(|e| too_short(e, ModelError::Truncated))?;
            weights.extend(
                chunk[..want]
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
        }
        // Anything after the weights means the file is not what its header says.
        let mut after = [0u8; 1];
        match input.read(&mut after) {
            Ok(0) => {}
            Ok(_) => return Err(ModelError::Truncated),
            Err(e) => return Err(ModelError::Unreadable(e.to_string())),
        }
        Ok(LinearModel {
            weights,
            bias,
            name: name.to_string(),
        })
    }
}

/// The model shipped inside the binary, trained by `ecoroute train` on `training/` (see its README).
static BUILTIN: &[u8] = include_bytes!("../../models/classifier.bin.gz");

static BUILTIN_MODEL: std::sync::LazyLock<Result<std::sync::Arc<LinearModel>, String>> =
    std::sync::LazyLock::new(|| {
        decode_gz(BUILTIN, "builtin")
            .map(std::sync::Arc::new)
            .map_err(|e| format!("the builtin classifier model is unusable: {e}"))
    });

/// The builtin model, decoded once per process.
pub(crate) fn builtin() -> Result<std::sync::Arc<LinearModel>, String> {
    BUILTIN_MODEL.clone()
}

/// Decodes a gzip-compressed model file's bytes.
pub(crate) fn decode_gz(bytes: &[u8], name: &str) -> Result<LinearModel, String> {
    LinearModel::read_from(flate2::read::GzDecoder::new(bytes), name).map_err(|e| e.to_string())
}

/// Encodes a model as a gzip-compressed file's bytes.
pub(crate) fn encode_gz(model: &LinearModel) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(&model.to_bytes());
    gz.finish().unwrap_or_default()
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Scorer for LinearModel {
    fn name(&self) -> &str {
        &self.name
    }

    fn score(&self, text: &str) -> Score {
        let mut contributions: Vec<(String, f64)> = Vec::new();
        let z = self.logit_visiting(text, |f, c| {
            if c != 0.0 {
                contributions.push((f.name(), f64::from(c)));
            }
        });
        contributions.push(("bias".into(), f64::from(self.bias)));
        // Merge repeated features (a trigram seen twice) before ranking.
        contributions.sort_by(|a, b| a.0.cmp(&b.0));
        contributions.dedup_by(|later, first| {
            if later.0 == first.0 {
                first.1 += later.1;
                true
            } else {
                false
            }
        });
        contributions.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        Score {
            p_lookup: sigmoid(f64::from(z)),
            contributions,
        }
    }

    fn p_lookup(&self, text: &str) -> f64 {
        LinearModel::p_lookup(self, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_feature(text, &mut |f, _| out.push(f.name()));
        out
    }

    #[test]
    fn features_ignore_casing_and_fold_digits() {
        assert_eq!(
            names("What is the capital of PERU"),
            names("what is the capital of peru")
        );
        assert!(names("born in 1821?").contains(&"word \"0000\"".to_string()));
    }

    #[test]
    fn hand_features_fire() {
        let n = names("def f(x):\n  return x = 1; {}");
        assert!(n.contains(&"code symbols".to_string()) && n.contains(&"line breaks".to_string()));
        assert!(names("What is 12 * 7?").contains(&"arithmetic".to_string()));
        assert!(names("Is it tea or coffee?").contains(&"or-choice".to_string()));
        let cue = |text: &str, cue: &str| names(text).contains(&cue.to_string());
        assert!(cue("Name five countries where French is spoken", "cue:count-request"));
        assert!(cue("Can you list 10 rivers in Peru?", "cue:count-request"));
        assert!(!cue("Name the capital of Peru", "cue:count-request"));
        assert!(cue(
            "What is the difference between a crocodile and an alligator?",
            "cue:compare"
        ));
        assert!(cue("Is Lima better than Cusco for a holiday?", "cue:compare"));
        assert!(!cue("Who is the better half of Sonny and Cher", "cue:compare"));
        assert!(cue(
            "What is the combined population of Peru and Chile?",
            "cue:aggregate"
        ));
        assert!(!cue("What is the population of Peru?", "cue:aggregate"));
    }

    #[test]
    fn word_pairs_join_the_ends_of_a_bridge_question_and_are_capped() {
        let n = names("Where was the director of Vertigo born?");
        assert!(n.contains(&"pair \"where born\"".to_string()), "{n:?}");
        assert!(n.contains(&"pair \"director born\"".to_string()));
        // In order: "born where" is another feature.
        assert!(!n.contains(&"pair \"born where\"".to_string()));
        let long: String = (0..60).map(|i| format!("w{i} ")).collect();
        let pairs = names(&long).iter().filter(|f| f.starts_with("pair ")).count();
        assert_eq!(pairs, PAIR_WINDOW * (PAIR_WINDOW - 1) / 2);
    }

    #[test]
    fn function_words_are_sorted_for_binary_search() {
        assert!(FUNCTION_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_function_word("of") && is_function_word("whose") && !is_function_word("born"));
    }

    #[test]
    fn shapes_keep_the_structure_and_drop_the_names() {
        let shapes =
            |text: &str| -> Vec<String> { names(text).into_iter().filter(|f| f.starts_with("shape ")).collect() };
        let bridge = shapes("Where was the director of Vertigo born?");
        assert!(bridge.contains(&"shape \"the N of N\"".to_string()), "{bridge:?}");
        assert!(bridge.contains(&"shape \"N of N $\"".to_string()), "{bridge:?}");
        // Any names, any casing, one or three words long: the same shape.
        let one_hop = shapes("Where was Alfred Hitchcock born?");
        assert_eq!(one_hop, shapes("WHERE WAS MARIE SKLODOWSKA CURIE BORN"));
        assert!(one_hop.contains(&"shape \"^ where was N\"".to_string()), "{one_hop:?}");
        assert!(!one_hop.iter().any(|f| f.contains(" of ")), "{one_hop:?}");
        assert!(shapes("In 1912, which ship sank?").contains(&"shape \"^ in #\"".to_string()));
    }

    #[test]
    fn bytes_round_trip_and_bad_files_are_refused() {
        let mut m = LinearModel::zeros("t");
        m.bias = 0.25;
        m.weights[7] = -1.5;
        let back = LinearModel::from_bytes(&m.to_bytes(), "t").unwrap();
        assert_eq!(back, m);
        assert!(matches!(
            LinearModel::from_bytes(b"nope", "t"),
            Err(ModelError::BadMagic)
        ));
        // A model trained for other features (format 1: no word pairs, 2^18 weights; 2: no shape
        // n-grams) is refused.
        for version in [1u32, 2] {
            let mut older = m.to_bytes();
            older[4..8].copy_from_slice(&version.to_le_bytes());
            let refused = LinearModel::from_bytes(&older, "t").unwrap_err();
            assert!(matches!(refused, ModelError::Version(v) if v == version));
            assert!(refused.to_string().contains("retrain"), "{refused}");
        }
        // One trained with another number of weights hashes every feature elsewhere: refused, with
        // what it has and what is expected.
        let mut other_size = m.to_bytes();
        other_size[8..12].copy_from_slice(&20u32.to_le_bytes());
        let refused = LinearModel::from_bytes(&other_size, "t").unwrap_err();
        assert!(matches!(refused, ModelError::Dimension(20)));
        assert!(
            refused.to_string().contains("2^20") && refused.to_string().contains("retrain"),
            "{refused}"
        );
        let mut longer = m.to_bytes();
        longer.push(0);
        assert!(matches!(
            LinearModel::from_bytes(&longer, "t"),
            Err(ModelError::Truncated)
        ));
        let mut bytes = m.to_bytes();
        bytes.truncate(100);
        assert!(matches!(
            LinearModel::from_bytes(&bytes, "t"),
            Err(ModelError::Truncated)
        ));
    }

    #[test]
    fn builtin_model_loads_and_routes_the_obvious_cases() {
        let m = builtin().unwrap();
        assert!(m.p_lookup("What is the capital of Peru?") > 0.7);
        assert!(m.p_lookup("Write a limerick about Lima") < 0.3);
        assert!(m.p_lookup("def add(a, b):\n    return a - b\nWhy does this return the wrong sum?") < 0.3);
        // A bridge question must score well below the one-hop question it hides: the reason
        // HotpotQA is in training/ (before it, both scored above 0.9).
        let one_hop = m.p_lookup("Where was Alfred Hitchcock born?");
        let bridge = m.p_lookup("Where was the director of Vertigo born?");
        assert!(bridge < one_hop - 0.4, "bridge {bridge}, one hop {one_hop}");
    }

    #[test]
    fn a_chat_frame_does_not_change_the_score() {
        let m = builtin().unwrap();
        for (plain, framed) in [
            ("who wrote Hamlet?", "Hey, can you tell me who wrote Hamlet? Thanks!"),
            ("the capital of Peru", "Do you happen to know the capital of Peru"),
            (
                "In which year did Rome fall?",
                "Hi! In which year did Rome fall? Cheers",
            ),
        ] {
            let p = |text: &str| m.p_lookup(&crate::classify::RequestFeatures::from_query(text).question);
            assert_eq!(p(plain), p(framed), "{framed}");
        }
        assert!(m.p_lookup("Can you tell me a joke about Hamlet") < 0.5);
        assert!(m.p_lookup("Could you tell me the difference between a virus and a bacterium?") < 0.5);
    }

    /// The synthetic complex templates name a few people, places and things ("Write a dialogue
    /// between Marie Curie and …"). The model shipped before they came with lookups about the same
    /// names sent "When was Marie Curie born?" to the LLM (p = 0.68); a name must not decide.
    #[test]
    fn names_from_the_complex_templates_do_not_make_a_lookup_complex() {
        let m = builtin().unwrap();
        let threshold = crate::config::raw::RawClassifier::default().lookup_threshold;
        for question in [
            "When was Marie Curie born?",
            "Where was Albert Einstein born?",
            "When was Cleopatra born?",
            "What year did Frida Kahlo die?",
            "What language is spoken in Kenya?",
            "Where is the Golden Gate Bridge located?",
        ] {
            let p = m.p_lookup(question);
            assert!(p >= threshold, "{question}: p(lookup) {p} < {threshold}");
        }
    }

    #[test]
    fn gzip_round_trip() {
        let mut m = LinearModel::zeros("t");
        m.weights[3] = 2.0;
        m.weights[DIM - 1] = -0.5;
        assert_eq!(decode_gz(&encode_gz(&m), "t").unwrap(), m);
        let not_gzip = vec![b'x'; 64];
        let refused = decode_gz(&not_gzip, "t").unwrap_err();
        assert!(refused.contains("not a gzip model file"), "{refused}");
    }

    proptest! {
        #[test]
        fn any_text_scores_in_range(text in "\\PC{0,500}") {
            let mut m = LinearModel::zeros("t");
            m.weights.iter_mut().enumerate().for_each(|(i, w)| *w = ((i % 7) as f32 - 3.0) * 0.01);
            let p = m.score(&text).p_lookup;
            prop_assert!((0.0..=1.0).contains(&p));
            // The fast path every request takes must agree with `explain` to the bit.
            prop_assert_eq!(p, <LinearModel as Scorer>::p_lookup(&m, &text));
        }
    }
}
