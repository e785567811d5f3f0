//! The response cache, a tool of its own: an earlier answer, when it is safe to give again, costs
//! a hash and a copy instead of a search or an LLM call.
//!
//! What may be reused:
//! - search answers, always (they come from the index, which answers the same question the same
//!   way until the index changes, and a reload starts a fresh cache);
//! - LLM answers only as the tenant allows ([`LlmCaching`]): by default when the request is
//!   deterministic (`temperature` 0, one choice), never for requests with tools, `n` > 1,
//!   `logprobs` or `store: true`, and only plain text answers that finished with `stop`.
//!
//! Keys are SHA-256 over the tenant and the request in a normal form: JSON keys sorted, each
//! message's text trimmed, and the fields that do not change the answer left out (`stream`,
//! `stream_options`, `user`). Whitespace inside a message is kept: in code it is meaning. A second,
//! near-duplicate key serves single-turn lookups: the question folded (case, accents,
//! punctuation, chat frames such as "could you tell me"), with the model, the system prompt and
//! the other parameters, so "capital of peru?" and "What is the capital of Peru?" share an entry.
//!
//! Entries expire after their tenant's TTL; memory is bounded by a byte budget, least recently used
//! first out. Nothing is shared between proxies: each keeps its own (a fleet-wide cache would need
//! a shared store such as Redis, see docs/configuration.md).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// When an LLM answer may be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmCaching {
    Never,
    /// `temperature` 0 and one choice.
    Deterministic,
    /// Any request the other rules allow: the tenant accepts a repeated answer.
    Always,
}

impl LlmCaching {
    pub(crate) fn parse(text: &str) -> Option<LlmCaching> {
        match text {
            "never" => Some(LlmCaching::Never),
            "deterministic" => Some(LlmCaching::Deterministic),
            "always" => Some(LlmCaching::Always),
            _ => None,
        }
    }
}

/// One tenant's cache policy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CachePolicy {
    #[serde(rename = "ttl_ms", serialize_with = "crate::redact::ser::millis")]
    pub ttl: Duration,
    pub llm: LlmCaching,
}

/// Where a cached answer came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A search answer, with its source.
    Search { source: String },
    /// An LLM answer: the model that wrote it and its length, so a reuse books the call it avoided
    /// at the length it really had.
    Llm { model: String, completion_tokens: u32 },
}

impl Origin {
    /// What the ledger records of it.
    pub(crate) fn kind(&self) -> crate::outcome::CacheOrigin {
        match self {
            Origin::Search { .. } => crate::outcome::CacheOrigin::Search,
            Origin::Llm { .. } => crate::outcome::CacheOrigin::Llm,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CachedAnswer {
    pub content: String,
    pub origin: Origin,
    pub stored: Instant,
}

impl CachedAnswer {
    fn bytes(&self) -> usize {
        // The text, the source or model name, and the bookkeeping of an entry and its keys.
        let name = match &self.origin {
            Origin::Search { source } => source.len(),
            Origin::Llm { model, .. } => model.len(),
        };
        self.content.len() + name + 160
    }
}

/// A cache key: SHA-256 of a normal form of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

/// The keys a request can be found under: exactly, and (single-turn lookups) as a near duplicate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestKeys {
    pub exact: CacheKey,
    pub near: Option<CacheKey>,
    /// Whether an LLM answer to this request may be stored and reused.
    pub llm_reusable: bool,
}

/// Fields that do not change the answer.
const IGNORED_FIELDS: [&str; 3] = ["stream", "stream_options", "user"];

/// Feeds a JSON value to the hash in its normal form: object keys sorted, recursively, each
/// message's text trimmed, every item tagged and length-prefixed so no two values hash alike.
/// Walking the value (rather than building and printing a sorted copy) keeps a key to a few
/// microseconds on every request.
fn hash_normal_form(hash: &mut Sha256, value: &Value, skip: &dyn Fn(&str, &Value) -> bool) {
    let bytes = |hash: &mut Sha256, tag: u8, data: &[u8]| {
        hash.update([tag]);
        hash.update((data.len() as u64).to_le_bytes());
        hash.update(data);
    };
    match value {
        Value::Null => hash.update([b'n']),
        Value::Bool(b) => hash.update([b'b', u8::from(*b)]),
        Value::Number(n) => {
            // 0, 0.0 and -0.0 ask for the same thing; large integers (seeds) stay exact.
            let whole = n
                .as_f64()
                .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                .map(|x| x as i64);
            match (n.as_i64().or(whole), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => bytes(hash, b'i', &i.to_le_bytes()),
                (None, Some(u), _) => bytes(hash, b'u', &u.to_le_bytes()),
                (None, None, Some(x)) => bytes(hash, b'f', &x.to_bits().to_le_bytes()),
                (None, None, None) => bytes(hash, b'#', n.to_string().as_bytes()),
            }
        }
        Value::String(s) => bytes(hash, b's', s.as_bytes()),
        Value::Array(items) => {
            hash.update([b'['].as_slice());
            hash.update((items.len() as u64).to_le_bytes());
            for item in items {
                hash_normal_form(hash, item, &|_, _| false);
            }
        }
        Value::Object(map) => {
            let mut keys: Vec<(&String, &Value)> = map.iter().filter(|(k, v)| !skip(k, v)).collect();
            keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
            hash.update([b'{'].as_slice());
            hash.update((keys.len() as u64).to_le_bytes());
            for (key, v) in keys {
                bytes(hash, b'k', key.as_bytes());
                match (key.as_str(), v) {
                    ("content" | "text", Value::String(s)) => bytes(hash, b's', s.trim().as_bytes()),
                    _ => hash_normal_form(hash, v, &|_, _| false),
                }
            }
        }
    }
}

fn start(kind: &[u8], api: crate::api::Api, tenant: Option<&str>) -> Sha256 {
    let mut hash = Sha256::new();
    // The same words in two APIs are two requests: their answers take different shapes and
    // their parameters mean different things.
    for part in [kind, api.name().as_bytes(), tenant.unwrap_or("").as_bytes()] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    hash
}

/// A question as people type it, folded: lower case, accents, sentence punctuation and spacing
/// gone, so "What is the capital of Péru?" and "what is the capital of peru" meet.
///
/// Only what cannot change the question is folded (the attack review's M1 served the "C#" answer
/// for "C" and "C++", "10²" for "102" and "-40 °F" for "40 °F"):
/// - letters and digits stay, each as itself: accents come off letters by canonical decomposition
///   only, not compatibility, which would make "²" a "2" and "½" a "1⁄2";
/// - symbols stay (`#`, `+`, `%`, `=`, `$`, `√`, `²`, an emoji, ...), a Unicode minus read as `-`;
/// - sentence punctuation goes, except where it is part of a number: `.`, `,`, `:` and `'`
///   before a digit ("1.5", ".5", "10:30"), dashes before a digit ("-40", "1990-2000") and `!`
///   after one ("5!");
/// - `°` and `&` go: "40 °F" and "40 F", "AT&T" and "AT T" ask the same.
///
/// `core_question` has already taken the chat frame off.
fn fold_question(question: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut chars: Vec<char> = Vec::with_capacity(question.len());
    for c in question.to_lowercase().nfd() {
        // An accent comes off a letter; a mark on anything else is meaning ("≠" is "=" and one).
        let accent =
            unicode_normalization::char::is_combining_mark(c) && chars.last().is_some_and(|b| b.is_alphabetic());
        if !accent {
            chars.push(if c == '\u{2212}' { '-' } else { c });
        }
    }
    let mut folded = String::with_capacity(question.len());
    let mut gap = false;
    for (i, &c) in chars.iter().enumerate() {
        let keep = c.is_alphanumeric() || kept_punctuation(&chars, i) || !(c.is_whitespace() || folded_away(c));
        if !keep {
            gap = true;
            continue;
        }
        if gap && !folded.is_empty() {
            folded.push(' ');
        }
        gap = false;
        folded.push(c);
    }
    folded
}

/// Punctuation that ends or joins sentences, and the two symbols folded on purpose.
fn folded_away(c: char) -> bool {
    c.is_ascii_punctuation() && !"#$%*+/<=>@\\^_`|~".contains(c)
        || "°¿¡«»‘’‚‛“”„‟‹›–—‐‑‒…·、。，．？！：；（）「」『』【】".contains(c)
}

/// Sentence punctuation that is part of a number here: the sign of "-40", the point of "1.5" and
/// ".5", the separators of "10:30" and "1,000", the range of "1990-2000", the factorial of "5!".
fn kept_punctuation(chars: &[char], i: usize) -> bool {
    let numeric = |c: char| matches!(c, '.' | ',' | ':' | '\'' | '’' | '-' | '–' | '—' | '‐' | '‑' | '‒');
    if chars[i] == '!' {
        return i > 0 && chars[i - 1].is_numeric();
    }
    // A run of them before a digit is kept whole: "--40" is not "-40", nor "..5" ".5".
    numeric(chars[i])
        && chars[i..]
            .iter()
            .find(|&&c| !numeric(c))
            .is_some_and(|c| c.is_numeric())
}

/// The characters of a folded message that are neither letters nor spaces, in order. The near key
/// holds those of the whole message as well as the folded question: [`core_question`] cuts its
/// frame on words, so a sign or symbol beside the frame ("Hi! -40 °F in C?", "What is C#?
/// Thanks") would otherwise be lost.
///
/// [`core_question`]: crate::classify::text::core_question
fn marks(folded: &str) -> String {
    folded.chars().filter(|c| !c.is_alphabetic() && *c != ' ').collect()
}

/// Whether a request may use the cache at all, and whether an LLM answer to it may be reused.
/// `None`: bypass the cache (tools, several choices, log-probabilities, stored completions).
fn reusability(body: &serde_json::Map<String, Value>, llm: LlmCaching) -> Option<bool> {
    let present = |field: &str| body.get(field).is_some_and(|v| !v.is_null());
    let has_tools = ["tools", "functions"].iter().any(|f| {
        body.get(*f)
            .is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty()) && !v.is_null())
    });
    let several = body.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1);
    let logprobs = body.get("logprobs").and_then(Value::as_bool).unwrap_or(false) || present("top_logprobs");
    let stored = body.get("store").and_then(Value::as_bool).unwrap_or(false);
    // The answer depends on what the upstream holds (a conversation, an earlier response of its
    // own, a stored prompt, a background job): the same bytes may ask something else next time.
    let upstream_state = ["conversation", "previous_response_id", "prompt", "background"]
        .iter()
        .any(|f| present(f));
    if has_tools || several || logprobs || stored || upstream_state {
        return None;
    }
    let deterministic = body.get("temperature").and_then(Value::as_f64) == Some(0.0);
    Some(match llm {
        LlmCaching::Never => false,
        LlmCaching::Deterministic => deterministic,
        LlmCaching::Always => true,
    })
}

/// The keys of a request, or `None` when it must bypass the cache. `lookup_message` is the text of
/// the request's user message when it is a single-turn lookup (for the near-duplicate key).
pub fn request_keys(
    api: crate::api::Api,
    tenant: Option<&str>,
    body: &Value,
    llm: LlmCaching,
    lookup_message: Option<&str>,
) -> Option<RequestKeys> {
    let mut keys = exact_keys(api, tenant, body, llm)?;
    keys.near = lookup_message.map(|message| {
        let question = crate::classify::text::core_question(message);
        near_key(api, tenant, body, question, message)
    });
    Some(keys)
}

/// [`request_keys`] without the near-duplicate key, which only a lookup needs: the proxy takes
/// this before routing and [`near_key`] once the request is known to be a lookup.
pub(crate) fn exact_keys(
    api: crate::api::Api,
    tenant: Option<&str>,
    body: &Value,
    llm: LlmCaching,
) -> Option<RequestKeys> {
    let map = body.as_object()?;
    let llm_reusable = reusability(map, llm)?;
    let mut exact = start(b"exact", api, tenant);
    hash_normal_form(&mut exact, body, &ignored);
    Some(RequestKeys {
        exact: CacheKey(exact.finalize().into()),
        near: None,
        llm_reusable,
    })
}

fn ignored(key: &str, _: &Value) -> bool {
    IGNORED_FIELDS.contains(&key)
}

/// The near-duplicate key of a single-turn lookup: everything but the user's words (model, system
/// prompt, parameters), the question folded, and the [`marks`] of the whole user message.
pub(crate) fn near_key(
    api: crate::api::Api,
    tenant: Option<&str>,
    body: &Value,
    question: &str,
    message: &str,
) -> CacheKey {
    let mut near = start(b"near", api, tenant);
    let turns = api.turns_field();
    hash_normal_form(&mut near, body, &|key, v| ignored(key, v) || key == turns);
    // Anthropic's `system` and the Responses API's `instructions` are fields of their own,
    // already in the normal form; chat's system prompt is among the messages.
    let system = body
        .get(turns)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| matches!(m.get("role").and_then(Value::as_str), Some("system" | "developer")));
    for message in system {
        hash_normal_form(&mut near, message, &|_, _| false);
    }
    let folded = fold_question(question);
    // Most questions have no frame: the message folds to the question.
    let whole = if message == question {
        marks(&folded)
    } else {
        marks(&fold_question(message))
    };
    for part in [folded, whole] {
        near.update((part.len() as u64).to_le_bytes());
        near.update(part.as_bytes());
    }
    CacheKey(near.finalize().into())
}

struct Entry {
    answer: std::sync::Arc<CachedAnswer>,
    expires: Instant,
    bytes: usize,
}

struct State {
    entries: lru::LruCache<CacheKey, Entry>,
    bytes: usize,
}

/// What a look-up found, and under which key.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub answer: std::sync::Arc<CachedAnswer>,
    pub near_duplicate: bool,
}

/// Counts for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CacheSize {
    pub entries: usize,
    pub bytes: usize,
}

/// The cache: least recently used out first once `max_bytes` is reached, entries gone at expiry.
pub struct ResponseCache {
    state: Mutex<State>,
    max_bytes: usize,
}

impl ResponseCache {
    pub fn new(max_bytes: usize) -> ResponseCache {
        ResponseCache {
            state: Mutex::new(State {
                entries: lru::LruCache::unbounded(),
                bytes: 0,
            }),
            max_bytes,
        }
    }

    pub(crate) fn size(&self) -> CacheSize {
        self.state.lock().map_or(CacheSize::default(), |s| CacheSize {
            entries: s.entries.len(),
            bytes: s.bytes,
        })
    }

    /// The answer stored under the request's exact key, else its near-duplicate key.
    pub fn get(&self, keys: &RequestKeys, now: Instant) -> Option<Hit> {
        let mut state = self.state.lock().ok()?;
        for (key, near_duplicate) in [(Some(keys.exact), false), (keys.near, true)] {
            let Some(key) = key else { continue };
            match state.entries.get(&key) {
                Some(entry) if entry.expires > now => {
                    return Some(Hit {
                        answer: std::sync::Arc::clone(&entry.answer),
                        near_duplicate,
                    })
                }
                Some(_) => {
                    if let Some(gone) = state.entries.pop(&key) {
                        state.bytes -= gone.bytes;
                    }
                }
                None => {}
            }
        }
        None
    }

    /// Stores an answer under the request's keys for `ttl`, then evicts the least recently used
    /// entries until the budget holds. An answer larger than a tenth of the budget is not kept.
    pub fn put(&self, keys: &RequestKeys, answer: CachedAnswer, ttl: Duration) {
        let bytes = answer.bytes();
        if ttl.is_zero() || bytes > self.max_bytes / 10 {
            return;
        }
        let Ok(mut state) = self.state.lock() else { return };
        let answer = std::sync::Arc::new(answer);
        let expires = answer.stored + ttl;
        for key in std::iter::once(keys.exact).chain(keys.near) {
            let entry = Entry {
                answer: std::sync::Arc::clone(&answer),
                expires,
                bytes,
            };
            if let Some(old) = state.entries.put(key, entry) {
                state.bytes -= old.bytes;
            }
            state.bytes += bytes;
        }
        while state.bytes > self.max_bytes {
            match state.entries.pop_lru() {
                Some((_, gone)) => state.bytes -= gone.bytes,
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(body: Value) -> Option<RequestKeys> {
        request_keys(
            crate::api::Api::ChatCompletions,
            Some("t"),
            &body,
            LlmCaching::Deterministic,
            None,
        )
    }

    fn answer(text: &str) -> CachedAnswer {
        CachedAnswer {
            content: text.into(),
            origin: Origin::Search { source: "s".into() },
            stored: Instant::now(),
        }
    }

    #[test]
    fn keys_ignore_key_order_streaming_and_surrounding_whitespace() {
        let a = keys(json!({"model": "m", "temperature": 0, "messages": [{"role": "user", "content": "Hi there"}]}))
            .unwrap();
        let b = keys(json!({"messages": [{"content": "  Hi there\n", "role": "user"}], "stream": true, "temperature": 0, "model": "m", "user": "u-42"})).unwrap();
        assert_eq!(a.exact, b.exact);
        assert!(a.llm_reusable, "temperature 0 is deterministic");
        // Inner whitespace is meaning (code), and so is every parameter.
        let c = keys(json!({"model": "m", "temperature": 0, "messages": [{"role": "user", "content": "Hi  there"}]}))
            .unwrap();
        assert_ne!(a.exact, c.exact);
        let d = keys(json!({"model": "m", "temperature": 0, "max_tokens": 5, "messages": [{"role": "user", "content": "Hi there"}]})).unwrap();
        assert_ne!(a.exact, d.exact);
        let float =
            keys(json!({"model": "m", "temperature": 0.0, "messages": [{"role": "user", "content": "Hi there"}]}))
                .unwrap();
        assert_eq!(a.exact, float.exact, "0 and 0.0 are the same temperature");
        let seed = |s: u64| {
            keys(json!({"model": "m", "temperature": 0, "seed": s, "messages": []}))
                .unwrap()
                .exact
        };
        assert_ne!(
            seed(18_014_398_509_481_984),
            seed(18_014_398_509_481_985),
            "large seeds stay exact"
        );
        // A string is not the number it spells, nor a key its value.
        let text = keys(json!({"model": "m", "temperature": 0, "max_tokens": "5", "messages": [{"role": "user", "content": "Hi there"}]})).unwrap();
        assert_ne!(d.exact, text.exact);
        let other_tenant = request_keys(
            crate::api::Api::ChatCompletions,
            Some("u"),
            &json!({"model": "m", "temperature": 0, "messages": [{"role": "user", "content": "Hi there"}]}),
            LlmCaching::Deterministic,
            None,
        )
        .unwrap();
        assert_ne!(a.exact, other_tenant.exact, "tenants share nothing");
    }

    #[test]
    fn only_deterministic_requests_may_reuse_an_llm_answer() {
        let hot = keys(json!({"model": "m", "temperature": 0.7, "messages": []})).unwrap();
        assert!(!hot.llm_reusable);
        let default_temperature = keys(json!({"model": "m", "messages": []})).unwrap();
        assert!(!default_temperature.llm_reusable);
        let always = request_keys(
            crate::api::Api::ChatCompletions,
            None,
            &json!({"model": "m", "messages": []}),
            LlmCaching::Always,
            None,
        )
        .unwrap();
        assert!(always.llm_reusable);
        let never = request_keys(
            crate::api::Api::ChatCompletions,
            None,
            &json!({"model": "m", "temperature": 0, "messages": []}),
            LlmCaching::Never,
            None,
        )
        .unwrap();
        assert!(!never.llm_reusable);
        for bypass in [
            json!({"model": "m", "temperature": 0, "tools": [{"type": "function"}], "messages": []}),
            json!({"model": "m", "temperature": 0, "n": 3, "messages": []}),
            json!({"model": "m", "temperature": 0, "logprobs": true, "messages": []}),
            json!({"model": "m", "temperature": 0, "store": true, "messages": []}),
            // The attack review's M2: requests whose answer depends on the upstream's state.
            json!({"model": "m", "temperature": 0, "conversation": "conv_1", "input": "and?"}),
            json!({"model": "m", "temperature": 0, "previous_response_id": "resp_upstream", "input": "and?"}),
            json!({"model": "m", "temperature": 0, "prompt": {"id": "pmpt_1"}, "input": "x"}),
        ] {
            assert_eq!(keys(bypass.clone()), None, "{bypass}");
        }
    }

    #[test]
    fn near_duplicate_lookups_share_a_key() {
        let body = |q: &str| json!({"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": q}]});
        let near = |q: &str, core: &str| {
            request_keys(
                crate::api::Api::ChatCompletions,
                None,
                &body(q),
                LlmCaching::Never,
                Some(core),
            )
            .unwrap()
        };
        let a = near("capital of peru?", "capital of peru?");
        let b = near("What is the capital of Peru?", "What is the capital of Péru");
        assert_ne!(a.exact, b.exact);
        assert_eq!(
            fold_question("What is the capital of Péru?"),
            "what is the capital of peru"
        );
        assert_ne!(a.near, b.near, "different words are different questions");
        let c = near("Capital of Peru!!", "Capital of PERU");
        assert_eq!(a.near, c.near, "case and punctuation do not matter");
        let other_system = request_keys(crate::api::Api::ChatCompletions, None,
            &json!({"model": "m", "messages": [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "capital of peru?"}]}),
            LlmCaching::Never,
            Some("capital of peru?"),
        )
        .unwrap();
        assert_ne!(a.near, other_system.near, "the system prompt is part of the key");
    }

    fn near(message: &str) -> CacheKey {
        let body = json!({"model": "m", "temperature": 0, "messages": [{"role": "user", "content": message}]});
        request_keys(
            crate::api::Api::ChatCompletions,
            None,
            &body,
            LlmCaching::Deterministic,
            Some(message),
        )
        .and_then(|k| k.near)
        .unwrap()
    }

    #[test]
    fn near_duplicate_keys_keep_what_changes_the_question() {
        // The attack review's M1, and the chat frame cut beside a sign or symbol.
        for (a, b) in [
            ("What is C#?", "What is C?"),
            ("What is C#?", "What is C++?"),
            ("What is 10²?", "What is 102?"),
            ("What is -40 in Fahrenheit?", "What is 40 in Fahrenheit?"),
            ("What is 1.5 in percent?", "What is 15 in percent?"),
            ("What is .5 in percent?", "What is 5 in percent?"),
            ("What is 5!?", "What is 5?"),
            ("What is 2^10?", "What is 210?"),
            ("Hi! -40 °F in Celsius?", "Hi! 40 °F in Celsius?"),
            ("What is C#? Thanks!", "What is C? Thanks!"),
        ] {
            assert_ne!(near(a), near(b), "{a} / {b}");
        }
        // What the review found harmless still meets.
        for (a, b) in [
            ("Who founded AT&T?", "who founded at t"),
            (
                "What is the boiling point of water in °F?",
                "What is the boiling point of water in F?",
            ),
            ("Who is Björk?", "who is bjork"),
            ("What is −40 in Fahrenheit?", "what is -40 in fahrenheit"),
            ("What was the 2nd moon landing?", "what was the 2nd moon landing!"),
            ("Hi! What is the capital of Peru?", "what is the capital of peru"),
        ] {
            assert_eq!(near(a), near(b), "{a} / {b}");
        }
    }

    /// Characters whose presence changes a question wherever they stand.
    const MEANING: &[char] = &[
        '0', '1', '7', '9', '²', '³', '₂', '½', '#', '+', '%', '*', '/', '^', '=', '<', '>', '$', '€', '£', '±', '×',
        '÷', '√', '∞', '≤', '≠', 'π', '~', '|', '@', '_',
    ];

    fn insert(text: &str, at: usize, c: char) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        chars.insert(at % (chars.len() + 1), c);
        chars.into_iter().collect()
    }

    proptest::proptest! {
        /// Two questions that differ by a digit, sign or symbol never share a near-duplicate key,
        /// whether it is added or stands for another.
        #[test]
        fn prompts_differing_in_a_meaning_character_never_share_a_near_key(
            text in "[a-zA-Z0-9 ?.,!'&°-]{0,24}",
            at in 0usize..32,
            which in 0usize..MEANING.len(),
            other in 0usize..MEANING.len(),
        ) {
            let c = MEANING[which];
            let added = insert(&text, at, c);
            proptest::prop_assert_ne!(fold_question(&text), fold_question(&added));
            proptest::prop_assert_ne!(near(&text), near(&added));
            let replaced = insert(&text, at, MEANING[other]);
            if other != which {
                proptest::prop_assert_ne!(near(&added), near(&replaced));
            }
        }

        /// A sign, a decimal point or a separator before a digit is part of the number.
        #[test]
        fn a_sign_or_point_before_a_digit_is_kept(
            text in "[a-z0-9 ?.,!-]{0,24}",
            at in 0usize..32,
            mark in proptest::sample::select(vec!['-', '−', '.', ',', ':']),
        ) {
            let chars: Vec<char> = text.chars().collect();
            let Some(digit) = (0..chars.len()).map(|i| (at + i) % chars.len()).find(|&i| chars[i].is_ascii_digit()) else {
                return Ok(());
            };
            let signed = insert(&text, digit, mark);
            proptest::prop_assert_ne!(fold_question(&text), fold_question(&signed));
            proptest::prop_assert_ne!(near(&text), near(&signed));
        }
    }

    #[test]
    fn entries_expire_and_the_byte_budget_evicts_the_least_recently_used() {
        let cache = ResponseCache::new(10 * 1024);
        let k = |i: u8| RequestKeys {
            exact: CacheKey([i; 32]),
            near: None,
            llm_reusable: false,
        };
        cache.put(&k(1), answer("one"), Duration::from_secs(60));
        let now = Instant::now();
        assert!(cache.get(&k(1), now).is_some());
        assert!(cache.get(&k(1), now + Duration::from_secs(61)).is_none(), "expired");
        assert_eq!(cache.size().entries, 0, "an expired entry is dropped when found");
        // Fill past the budget: the oldest unused entries go first.
        let big = "x".repeat(800);
        for i in 10..30 {
            cache.put(&k(i), answer(&big), Duration::from_secs(60));
            // Keep entry 10 in use.
            assert!(cache.get(&k(10), Instant::now()).is_some(), "entry 10 at step {i}");
        }
        let size = cache.size();
        assert!(size.bytes <= 10 * 1024, "{size:?}");
        assert!(
            cache.get(&k(11), Instant::now()).is_none(),
            "least recently used went first"
        );
        assert!(cache.get(&k(29), Instant::now()).is_some(), "the newest stays");
        // Too large for the budget: not kept at all.
        cache.put(&k(99), answer(&"y".repeat(2000)), Duration::from_secs(60));
        assert!(cache.get(&k(99), Instant::now()).is_none());
    }
}
