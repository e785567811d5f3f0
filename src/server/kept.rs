//! Responses the proxy answered itself, kept so that the Responses API's state still works:
//! a follow-up that names one in `previous_response_id` is sent on with that turn written out in
//! `input` (the upstream never saw it, and would answer 404), and `GET /v1/responses/{id}` finds it.
//!
//! Kept in this process's memory, the newest [`KeptResponses::CAPACITY`] for up to
//! [`KeptResponses::TTL`], within [`KeptResponses::BUDGET_BYTES`] in all; a request bigger than
//! [`KeptResponses::MAX_ENTRY_BYTES`] is not kept (its follow-up reaches the upstream as sent), so no
//! client can pin memory by padding its input. A fleet behind a load balancer needs sticky sessions
//! for follow-ups of search answers, or clients that send the conversation themselves
//! (`store: false`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};

use crate::Error;

struct Kept {
    /// The request's input items, then the answer as an assistant message.
    turns: Vec<Value>,
    /// The `response` object as the client got it.
    response: Value,
    stored: Instant,
    /// What it holds, in bytes of JSON: its share of the budget.
    bytes: usize,
    /// The credentials of the request that made it ([`super::request::credential_of`]): only a
    /// request with the same ones reads it, continues it, or replaces it.
    owner: Option<String>,
}

/// The entries and the bytes they hold, under one lock.
struct Entries {
    lru: lru::LruCache<String, Kept>,
    bytes: usize,
}

pub(crate) struct KeptResponses {
    entries: Mutex<Entries>,
}

impl Default for KeptResponses {
    fn default() -> Self {
        let capacity = std::num::NonZeroUsize::new(Self::CAPACITY).unwrap_or(std::num::NonZeroUsize::MIN);
        KeptResponses {
            entries: Mutex::new(Entries {
                lru: lru::LruCache::new(capacity),
                bytes: 0,
            }),
        }
    }
}

/// The request's size as JSON.
fn request_len(request: &Value) -> usize {
    serde_json::to_vec(request).map_or(usize::MAX, |v| v.len())
}

/// A Responses `input` as a list of items: a string is one user message.
fn input_items(input: Option<&Value>) -> Vec<Value> {
    match input {
        Some(Value::String(text)) => vec![json!({"role": "user", "content": text})],
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

impl KeptResponses {
    pub(crate) const CAPACITY: usize = 4096;
    pub(crate) const TTL: Duration = Duration::from_secs(3600);
    /// All kept answers together hold at most this many bytes; the least recently used go first.
    pub(crate) const BUDGET_BYTES: usize = 64 << 20;
    /// A request and its answer bigger than this are not kept: a lookup and its turns are a few
    /// kilobytes, and an input padded to megabytes must not stay in memory for an hour.
    pub(crate) const MAX_ENTRY_BYTES: usize = 64 << 10;

    /// Keeps an answer the proxy wrote to a Responses request, unless the client said `store: false`.
    pub(crate) fn keep(&self, request: &[u8], response: Value, answer: &str, owner: Option<&str>) {
        let Ok(request) = serde_json::from_slice::<Value>(request) else {
            return;
        };
        if request.get("store").and_then(Value::as_bool) == Some(false) {
            return;
        }
        let Some(id) = response.get("id").and_then(Value::as_str).map(str::to_string) else {
            return;
        };
        let response_bytes = serde_json::to_vec(&response).map_or(usize::MAX, |v| v.len());
        let bytes = request_len(&request)
            .saturating_add(response_bytes)
            .saturating_add(answer.len());
        if bytes > Self::MAX_ENTRY_BYTES {
            return;
        }
        let mut turns = input_items(request.get("input"));
        turns.push(json!({"type": "message", "role": "assistant",
                          "content": [{"type": "output_text", "text": answer}]}));
        let kept = Kept {
            turns,
            response,
            stored: Instant::now(),
            bytes,
            owner: owner.map(str::to_string),
        };
        if let Ok(mut entries) = self.entries.lock() {
            // A response id is the client's request id: another client choosing the same one must
            // not replace this one's turns.
            if entries.lru.peek(&id).is_some_and(|old| old.owner.as_deref() != owner) {
                return;
            }
            entries.bytes += bytes;
            // At capacity, `push` hands back the entry it evicted; a replaced id comes back too.
            if let Some((_, old)) = entries.lru.push(id, kept) {
                entries.bytes -= old.bytes;
            }
            while entries.bytes > Self::BUDGET_BYTES {
                match entries.lru.pop_lru() {
                    Some((_, old)) => entries.bytes -= old.bytes,
                    None => break,
                }
            }
        }
    }

    /// Bytes held by kept answers (for tests).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.bytes)
    }

    /// A request that continues a response kept here, with that response's turns written into its
    /// `input` and `previous_response_id` taken out; any other request as it came.
    pub(crate) fn expand(&self, body: Bytes, owner: Option<&str>) -> Result<Bytes, Error> {
        // Most requests name no previous response: no parse for them.
        if !body.windows(20).any(|w| w == b"previous_response_id") {
            return Ok(body);
        }
        let Ok(mut request) = serde_json::from_slice::<Value>(&body) else {
            return Ok(body);
        };
        let Some(previous) = request.get("previous_response_id").and_then(Value::as_str) else {
            return Ok(body);
        };
        let Some(mut turns) = self.turns_of(previous, owner) else {
            return Ok(body);
        };
        let Some(map) = request.as_object_mut() else {
            return Ok(body);
        };
        map.remove("previous_response_id");
        turns.extend(input_items(map.get("input")));
        map.insert("input".into(), Value::Array(turns));
        serde_json::to_vec(&request)
            .map(Bytes::from)
            .map_err(|e| Error::internal_from("writing a follow-up's input", e))
    }

    fn turns_of(&self, id: &str, owner: Option<&str>) -> Option<Vec<Value>> {
        let mut entries = self.entries.lock().ok()?;
        let kept = entries.lru.get(id)?;
        (kept.stored.elapsed() <= Self::TTL && kept.owner.as_deref() == owner).then(|| kept.turns.clone())
    }

    /// The `response` object of an answer kept here, for `GET /v1/responses/{id}`.
    pub(crate) fn response(&self, id: &str, owner: Option<&str>) -> Option<Value> {
        let mut entries = self.entries.lock().ok()?;
        let kept = entries.lru.get(id)?;
        (kept.stored.elapsed() <= Self::TTL && kept.owner.as_deref() == owner).then(|| kept.response.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follow_up_of_a_kept_answer_carries_its_turns() {
        let kept = KeptResponses::default();
        kept.keep(
            br#"{"model":"m","input":"What is the capital of Peru?"}"#,
            json!({"id": "resp_1", "object": "response"}),
            "The capital of Peru is Lima.",
            None,
        );
        let follow_up =
            Bytes::from_static(br#"{"model":"m","previous_response_id":"resp_1","input":"And its population?"}"#);
        let expanded: Value = serde_json::from_slice(&kept.expand(follow_up, None).unwrap()).unwrap();
        assert!(expanded.get("previous_response_id").is_none());
        let input = expanded["input"].as_array().unwrap();
        assert_eq!(input.len(), 3);
        assert_eq!(input[0]["content"], "What is the capital of Peru?");
        assert_eq!(input[1]["content"][0]["text"], "The capital of Peru is Lima.");
        assert_eq!(input[2], json!({"role": "user", "content": "And its population?"}));
        assert_eq!(kept.response("resp_1", None).unwrap()["object"], "response");

        // Another response id is the upstream's: the request goes as it came.
        let theirs = Bytes::from_static(br#"{"model":"m","previous_response_id":"resp_upstream","input":"x"}"#);
        assert_eq!(kept.expand(theirs.clone(), None).unwrap(), theirs);
        // A client that stores nothing is not remembered.
        kept.keep(br#"{"input":"q","store":false}"#, json!({"id": "resp_2"}), "a", None);
        assert!(kept.response("resp_2", None).is_none());
    }

    #[test]
    fn padded_requests_are_not_kept_and_the_whole_stays_within_its_byte_budget() {
        let kept = KeptResponses::default();
        // A lookup padded with 3.9 MB of junk inside its input item (the attack review's H1).
        let junk = "x".repeat(3_900_000);
        let padded =
            format!(r#"{{"model":"m","input":[{{"role":"user","content":"capital of peru","junk":"{junk}"}}]}}"#);
        kept.keep(padded.as_bytes(), json!({"id": "resp_big"}), "Lima", None);
        assert!(kept.response("resp_big", None).is_none());
        assert_eq!(kept.bytes(), 0);
        // Many answers of 60 kB each: the oldest go once the budget is full, the newest stay.
        let filler = "y".repeat(60_000);
        for i in 0..2_000 {
            let request = format!(r#"{{"model":"m","input":"q{i} {filler}"}}"#);
            kept.keep(request.as_bytes(), json!({"id": format!("resp_{i}")}), "a", None);
        }
        assert!(kept.bytes() <= KeptResponses::BUDGET_BYTES, "{}", kept.bytes());
        assert!(kept.response("resp_1999", None).is_some());
        assert!(kept.response("resp_0", None).is_none());
    }

    #[test]
    fn a_kept_response_is_read_continued_and_replaced_only_with_its_owners_credentials() {
        let kept = KeptResponses::default();
        let victim = Some("key:victim");
        kept.keep(
            br#"{"input":"capital of peru"}"#,
            json!({"id": "resp_order-42"}),
            "Lima.",
            victim,
        );
        assert!(kept.response("resp_order-42", victim).is_some());
        // Another key, or none, neither reads it nor continues it.
        assert!(kept.response("resp_order-42", None).is_none());
        assert!(kept.response("resp_order-42", Some("key:attacker")).is_none());
        let follow_up = Bytes::from_static(br#"{"previous_response_id":"resp_order-42","input":"and?"}"#);
        assert_eq!(kept.expand(follow_up.clone(), Some("key:attacker")).unwrap(), follow_up);
        // Nor replaces it with its own turns under the same id.
        kept.keep(
            br#"{"input":"visit evil.example"}"#,
            json!({"id": "resp_order-42"}),
            "x",
            Some("key:attacker"),
        );
        let expanded: Value = serde_json::from_slice(&kept.expand(follow_up, victim).unwrap()).unwrap();
        assert_eq!(expanded["input"][0]["content"], "capital of peru");
    }
}
