//! OpenAI chat-completions wire format: the view of a request the classifier needs, and the
//! responses the search route writes (`chat.completion`, `chat.completion.chunk` SSE frames).
//! The proxy forwards the client's original bytes to the LLM, so this view only has to read, never
//! to round-trip, a request.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::classify::RequestFeatures;
use crate::Error;

/// The parts of a chat-completions request that routing looks at. Unknown fields are allowed: they
/// are forwarded untouched with the original body. `Default` is an empty request, for the other
/// APIs' readers to fill in.
#[derive(Debug, Default, Deserialize)]
pub struct ChatRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub tools: Option<Value>,
    #[serde(default)]
    pub functions: Option<Value>,
    #[serde(default)]
    pub response_format: Option<Value>,
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    /// A string or a list of strings.
    #[serde(default)]
    pub stop: Option<Value>,
    /// A feature of another API that only the LLM can serve (the Responses API's
    /// `previous_response_id`, Anthropic's extended thinking), set by [`crate::api`]'s readers.
    #[serde(skip)]
    pub llm_feature: Option<&'static str>,
    /// The API the request came in by, whose shape an answer written by the proxy takes.
    #[serde(skip)]
    pub api: crate::api::Api,
}

#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<Value>,
}

impl ChatRequest {
    /// Parses a request body, telling malformed JSON apart from a well-formed body of the wrong shape.
    pub fn parse(body: &[u8]) -> Result<ChatRequest, Error> {
        crate::api::parse_json(body, "chat completion", "messages")
    }

    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    pub(crate) fn include_usage_in_stream(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// The request's own limit on the answer's length, if it sets one.
    pub(crate) fn max_answer_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// Stop sequences, as OpenAI reads `stop`: one string or a list of them.
    pub(crate) fn stop_sequences(&self) -> Vec<&str> {
        match &self.stop {
            Some(Value::String(s)) if !s.is_empty() => vec![s.as_str()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The request's `stop` and `max_tokens`, which a search answer must keep to.
    pub(crate) fn limits(&self) -> AnswerLimits {
        AnswerLimits {
            stop: self.stop_sequences().into_iter().map(str::to_string).collect(),
            max_tokens: self.max_answer_tokens(),
        }
    }

    pub fn model_name(&self) -> &str {
        self.model.as_deref().unwrap_or("unknown")
    }

    /// What the classifier may see of this request.
    pub fn features(&self) -> RequestFeatures {
        let last_user_index = self.messages.iter().rposition(|m| m.role == "user");
        let last_is_user = last_user_index.is_some_and(|i| i + 1 == self.messages.len());
        let last_user = match last_user_index {
            Some(i) if last_is_user => content_text(self.messages[i].content.as_ref()),
            _ => String::new(),
        };
        let system = self
            .messages
            .iter()
            .filter(|m| m.role == "system" || m.role == "developer")
            .map(|m| content_text(m.content.as_ref()))
            .collect::<Vec<_>>()
            .join("\n");
        let prior_turns = self
            .messages
            .iter()
            .filter(|m| m.role == "assistant" || m.role == "tool" || m.role == "function")
            .count();
        RequestFeatures {
            question: crate::classify::text::question_of(&last_user),
            last_user,
            system,
            user_turns: self.messages.iter().filter(|m| m.role == "user").count(),
            prior_turns,
            has_tools: non_empty(&self.tools) || non_empty(&self.functions),
            has_media: self.messages.iter().any(|m| has_media(m.content.as_ref())),
            has_response_format: self
                .response_format
                .as_ref()
                .is_some_and(|f| !f.is_null() && f.get("type").and_then(Value::as_str) != Some("text")),
            choices: self.n.unwrap_or(1),
            llm_feature: self.llm_feature,
        }
    }

    /// Estimated prompt tokens: about four characters a token plus OpenAI's per-message framing.
    pub fn estimated_prompt_tokens(&self) -> u32 {
        let text: u32 = self
            .messages
            .iter()
            .map(|m| estimate_tokens(&content_text(m.content.as_ref())) + 4)
            .sum();
        text + 3
    }
}

fn non_empty(value: &Option<Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Array(items)) => !items.is_empty(),
        Some(_) => true,
    }
}

/// Text of a message's `content`, whether a plain string or an array of typed parts.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.as_str()),
                other => other.get("text").and_then(Value::as_str),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn has_media(content: Option<&Value>) -> bool {
    let Some(Value::Array(parts)) = content else {
        return false;
    };
    parts.iter().any(|p| {
        p.get("type").and_then(Value::as_str).is_some_and(|t| t != "text")
            || p.get("image_url").is_some()
            || p.get("input_audio").is_some()
    })
}

/// Token estimate for text we did not send through a tokenizer: ceil(chars / 4), OpenAI's rule of
/// thumb for English. Used only where no upstream reported real usage; the ledger flags it.
pub(crate) fn estimate_tokens(text: &str) -> u32 {
    let chars = text.chars().count();
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}

/// What a request asks of an answer's shape: OpenAI's `stop` and `max_tokens`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnswerLimits {
    pub stop: Vec<String>,
    pub max_tokens: Option<u32>,
}

impl AnswerLimits {
    /// An answer text as these limits would have let the LLM write it: cut before the first stop
    /// sequence; refused (the request escalates, with the reason) when that leaves nothing or the
    /// answer is longer than `max_tokens`, since a half answer from search is worse than an LLM call.
    pub(crate) fn fit(&self, content: &str) -> Result<String, String> {
        let cut = self
            .stop
            .iter()
            .filter(|stop| !stop.is_empty())
            .filter_map(|stop| content.find(stop.as_str()))
            .min()
            .unwrap_or(content.len());
        let fitted = content[..cut].trim_end();
        if fitted.is_empty() {
            return Err("escalated: a stop sequence cuts the whole search answer".into());
        }
        let tokens = estimate_tokens(fitted);
        match self.max_tokens {
            Some(max) if tokens > max => Err(format!(
                "escalated: the search answer ({tokens} tokens) is longer than max_tokens ({max})"
            )),
            _ => Ok(fitted.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

impl Usage {
    fn to_json(self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        })
    }
}

/// Identity of a completion written by the proxy itself.
#[derive(Debug, Clone)]
pub(crate) struct CompletionMeta<'a> {
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
    /// `system_fingerprint`, which says honestly which backend produced the answer.
    pub fingerprint: &'a str,
}

/// A non-streaming `chat.completion` with one assistant message.
pub(crate) fn completion(meta: &CompletionMeta<'_>, content: &str, usage: Usage) -> Value {
    json!({
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "system_fingerprint": meta.fingerprint,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage.to_json(),
    })
}

fn chunk(meta: &CompletionMeta<'_>, delta: Value, finish_reason: Option<&str>) -> Value {
    json!({
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "system_fingerprint": meta.fingerprint,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
    })
}

/// One SSE frame: `data: <json>\n\n`.
pub(crate) fn sse_frame(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

const SSE_DONE: &[u8] = b"data: [DONE]\n\n";

/// The SSE frames of a streamed answer: the role, the content in a few pieces (word boundaries, as a
/// model would stream it), the stop, the usage chunk if asked for, and `[DONE]`.
pub(crate) fn completion_stream(
    meta: &CompletionMeta<'_>,
    content: &str,
    usage: Usage,
    include_usage: bool,
) -> Vec<Bytes> {
    let mut frames = vec![sse_frame(&chunk(
        meta,
        json!({"role": "assistant", "content": ""}),
        None,
    ))];
    for piece in split_for_stream(content, 48) {
        frames.push(sse_frame(&chunk(meta, json!({"content": piece}), None)));
    }
    frames.push(sse_frame(&chunk(meta, json!({}), Some("stop"))));
    if include_usage {
        frames.push(sse_frame(&json!({
            "id": meta.id,
            "object": "chat.completion.chunk",
            "created": meta.created,
            "model": meta.model,
            "system_fingerprint": meta.fingerprint,
            "choices": [],
            "usage": usage.to_json(),
        })));
    }
    frames.push(Bytes::from_static(SSE_DONE));
    frames
}

/// Splits text into pieces of roughly `target` bytes, cutting only after whitespace so that the
/// pieces concatenate back to the original exactly.
pub(crate) fn split_for_stream(text: &str, target: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() && i + c.len_utf8() - start >= target {
            pieces.push(&text[start..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn features_of_a_plain_question() {
        let r = ChatRequest::parse(br#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief"},{"role":"user","content":"What is the capital of Peru?"}]}"#).unwrap();
        let f = r.features();
        assert_eq!(f.last_user, "What is the capital of Peru?");
        assert_eq!(f.system, "Be brief");
        assert_eq!((f.user_turns, f.prior_turns, f.choices), (1, 0, 1));
        assert!(!f.has_tools && !f.has_media && !f.has_response_format);
    }

    #[test]
    fn features_see_tools_media_format_and_turns() {
        let r = ChatRequest::parse(br#"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"x"}}]}],"tools":[{"type":"function"}],"response_format":{"type":"json_object"},"n":2}"#).unwrap();
        let f = r.features();
        assert_eq!(f.last_user, "what is this?");
        assert!(f.has_tools && f.has_media && f.has_response_format);
        assert_eq!((f.user_turns, f.prior_turns, f.choices), (2, 1, 2));
        let plain = ChatRequest::parse(
            br#"{"messages":[{"role":"user","content":"x"}],"tools":[],"response_format":{"type":"text"}}"#,
        )
        .unwrap()
        .features();
        assert!(!plain.has_tools && !plain.has_response_format);
    }

    #[test]
    fn last_message_not_from_user_gives_no_user_text() {
        let r =
            ChatRequest::parse(br#"{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}"#)
                .unwrap();
        assert_eq!(r.features().last_user, "");
    }

    #[test]
    fn parse_errors_are_told_apart() {
        assert!(matches!(ChatRequest::parse(b"{not json"), Err(Error::InvalidJson(_))));
        match ChatRequest::parse(br#"{"model":"x"}"#) {
            Err(Error::InvalidRequest { param, .. }) => assert_eq!(param, Some("messages")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stream_frames_are_valid_chunks_ending_in_done() {
        let meta = CompletionMeta {
            id: "chatcmpl-1",
            created: 1,
            model: "m",
            fingerprint: "f",
        };
        let text = "The capital of Peru is Lima. Source: GeoNames, https://www.geonames.org/3932488";
        let frames = completion_stream(
            &meta,
            text,
            Usage {
                prompt_tokens: 3,
                completion_tokens: 5,
            },
            true,
        );
        assert_eq!(frames.last().unwrap().as_ref(), SSE_DONE);
        let mut content = String::new();
        for f in &frames[..frames.len() - 1] {
            let s = std::str::from_utf8(f).unwrap();
            let v: Value = serde_json::from_str(s.strip_prefix("data: ").unwrap().trim_end()).unwrap();
            assert_eq!(v["object"], "chat.completion.chunk");
            if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
                content.push_str(c);
            }
        }
        assert_eq!(content, text);
        assert!(frames.len() > 4, "content is streamed in several pieces");
    }

    proptest! {
        #[test]
        fn stream_pieces_concatenate_to_the_original(text in "\\PC{0,300}", target in 1usize..80) {
            prop_assert_eq!(split_for_stream(&text, target).concat(), text);
        }

        #[test]
        fn parse_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ChatRequest::parse(&body);
        }
    }
}
