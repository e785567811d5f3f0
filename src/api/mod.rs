//! The chat APIs ecoroute serves, and what differs between them: how a request is read into the
//! one view routing needs ([`ChatRequest`]), where it goes upstream, and how an answer the proxy
//! writes itself (search or cache) and an error are shaped. Everything else (classification,
//! guards, search, the cache, tiers, the ledger) is the same code for all of them. Pure: bytes in,
//! values and frames out.
//!
//! - [`Api::ChatCompletions`]: OpenAI `POST /v1/chat/completions` ([`crate::openai`]).
//! - [`Api::Messages`]: Anthropic `POST /v1/messages` ([`anthropic`]).
//! - [`Api::Responses`]: OpenAI `POST /v1/responses` ([`responses`]).

pub(crate) mod anthropic;
pub mod responses;

use bytes::Bytes;
use serde_json::Value;

use crate::openai::{self, ChatRequest, CompletionMeta, Usage};
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Api {
    #[default]
    ChatCompletions,
    Messages,
    Responses,
}

/// Which configured upstream serves an API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpstreamKind {
    OpenAi,
    Anthropic,
}

impl Api {
    pub(crate) const ALL: [Api; 3] = [Api::ChatCompletions, Api::Messages, Api::Responses];

    /// The client-facing path, as the ledger records it.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Api::ChatCompletions => "/v1/chat/completions",
            Api::Messages => "/v1/messages",
            Api::Responses => "/v1/responses",
        }
    }

    /// The path under the upstream's base URL (which includes `/v1`).
    pub(crate) fn upstream_path(self) -> &'static str {
        match self {
            Api::ChatCompletions => "/chat/completions",
            Api::Messages => "/messages",
            Api::Responses => "/responses",
        }
    }

    pub(crate) fn upstream(self) -> UpstreamKind {
        match self {
            Api::Messages => UpstreamKind::Anthropic,
            Api::ChatCompletions | Api::Responses => UpstreamKind::OpenAi,
        }
    }

    /// The API a request path belongs to, for errors written before the handler runs.
    pub(crate) fn of_path(path: &str) -> Option<Api> {
        [Api::ChatCompletions, Api::Messages, Api::Responses]
            .into_iter()
            .find(|api| {
                path.strip_prefix(api.path())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
    }

    /// Reads a request body into the view routing needs; a malformed one is a 400 that says why.
    pub(crate) fn parse(self, body: &[u8]) -> Result<ChatRequest, Error> {
        match self {
            Api::ChatCompletions => ChatRequest::parse(body),
            Api::Messages => anthropic::parse(body),
            Api::Responses => responses::parse(body),
        }
    }

    /// The API's name in metrics and the cache's keys.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Api::ChatCompletions => "chat_completions",
            Api::Messages => "messages",
            Api::Responses => "responses",
        }
    }

    /// The field that holds the conversation's turns: a near-duplicate cache key leaves it out and
    /// keeps the rest (model, system prompt, parameters).
    pub(crate) fn turns_field(self) -> &'static str {
        match self {
            Api::ChatCompletions | Api::Messages => "messages",
            Api::Responses => "input",
        }
    }

    /// The id of an answer the proxy writes itself, in the API's own style.
    pub(crate) fn answer_id(self, request_id: &str) -> String {
        match self {
            Api::ChatCompletions => format!("chatcmpl-{request_id}"),
            Api::Messages => format!("msg_{request_id}"),
            Api::Responses => format!("resp_{request_id}"),
        }
    }

    /// A whole answer written by the proxy, as a JSON body.
    pub(crate) fn answer_json(
        self,
        chat: &ChatRequest,
        meta: &CompletionMeta<'_>,
        content: &str,
        usage: Usage,
    ) -> Value {
        match self {
            Api::ChatCompletions => openai::completion(meta, content, usage),
            Api::Messages => anthropic::message(meta, content, usage),
            Api::Responses => responses::response(chat, meta, content, usage),
        }
    }

    /// The same answer as the SSE frames of a stream.
    pub(crate) fn answer_stream(
        self,
        chat: &ChatRequest,
        meta: &CompletionMeta<'_>,
        content: &str,
        usage: Usage,
    ) -> Vec<Bytes> {
        match self {
            Api::ChatCompletions => openai::completion_stream(meta, content, usage, chat.include_usage_in_stream()),
            Api::Messages => anthropic::message_stream(meta, content, usage),
            Api::Responses => responses::response_stream(chat, meta, content, usage),
        }
    }

    /// The error body of a JSON response.
    pub(crate) fn error_body(self, error: &Error) -> Value {
        match self {
            Api::ChatCompletions | Api::Responses => error.body(),
            Api::Messages => anthropic::error_body(error),
        }
    }

    /// An error the proxy wrote in OpenAI's shape (see [`crate::error::ProxyError`]), in this
    /// API's shape.
    pub(crate) fn error_body_of(self, error: &crate::error::ProxyError) -> Value {
        match self {
            Api::ChatCompletions | Api::Responses => error.body.clone(),
            Api::Messages => anthropic::from_openai_error(error.status, &error.body),
        }
    }

    /// The event that ends a stream which cannot go on, so the client sees why instead of a hang.
    pub(crate) fn stream_error(self, error: &Error) -> Bytes {
        match self {
            Api::ChatCompletions => openai::sse_frame(&error.body()),
            Api::Messages => event_frame("error", &anthropic::error_body(error)),
            Api::Responses => responses::stream_error(error),
        }
    }
}

/// One SSE frame with an event name: `event: <name>\ndata: <json>\n\n`, as Anthropic's and the
/// Responses API's streams are written.
pub(crate) fn event_frame(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// Text of a list of content blocks, or of a plain string: the `text` of each block whose type is
/// text (`text`, `input_text`, `output_text`), joined with newlines.
pub(crate) fn blocks_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str).is_none_or(is_text_type))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn is_text_type(kind: &str) -> bool {
    matches!(kind, "text" | "input_text" | "output_text")
}

/// Content for the routing view: text blocks as OpenAI `text` parts, and any other block (an
/// image, a document, a tool call or result) kept with its own type, so the media guard sees it.
pub(crate) fn as_chat_content(content: &Value) -> Value {
    match content {
        Value::Array(blocks) => Value::Array(
            blocks
                .iter()
                .map(|b| match b.get("type").and_then(Value::as_str) {
                    Some(kind) if is_text_type(kind) => serde_json::json!({
                        "type": "text",
                        "text": b.get("text").and_then(Value::as_str).unwrap_or_default(),
                    }),
                    Some(kind) => serde_json::json!({"type": kind}),
                    None => b.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Reads a request body: malformed JSON is told apart from a well-formed body of the wrong shape,
/// which names `turns` (the field of the conversation's turns) when the error is about it.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
    turns: &'static str,
) -> Result<T, Error> {
    serde_json::from_slice::<T>(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            let param = e.to_string().contains(turns).then_some(turns);
            Error::InvalidRequest {
                message: format!("invalid {what} request: {e}"),
                param,
            }
        }
        _ => Error::InvalidJson(e.to_string()),
    })
}

/// What the stream tests of each API share: a sample answer and a reader of named SSE frames.
#[cfg(test)]
pub(crate) mod sample {
    use crate::openai::{CompletionMeta, Usage};

    pub(crate) const TEXT: &str = "The capital of Peru is Lima. Source: GeoNames, https://www.geonames.org/3936456";

    pub(crate) fn meta(id: &str) -> CompletionMeta<'_> {
        CompletionMeta {
            id,
            created: 1,
            model: "m",
            fingerprint: "f",
        }
    }

    pub(crate) const USAGE: Usage = Usage {
        prompt_tokens: 7,
        completion_tokens: 20,
    };

    /// `event: <name>\ndata: <json>\n\n` read back into its name and data.
    pub(crate) fn event(frame: &[u8]) -> (String, serde_json::Value) {
        let s = std::str::from_utf8(frame).unwrap_or_default();
        let (event, data) = s.trim_end().split_once('\n').unwrap_or_default();
        let data = serde_json::from_str(data.strip_prefix("data: ").unwrap_or_default()).unwrap_or_default();
        (event.strip_prefix("event: ").unwrap_or_default().to_string(), data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_api_and_nothing_else() {
        assert_eq!(Api::of_path("/v1/messages"), Some(Api::Messages));
        assert_eq!(Api::of_path("/v1/messages/count_tokens"), Some(Api::Messages));
        assert_eq!(Api::of_path("/v1/responses"), Some(Api::Responses));
        assert_eq!(Api::of_path("/v1/chat/completions"), Some(Api::ChatCompletions));
        assert_eq!(Api::of_path("/v1/messagesx"), None);
        assert_eq!(Api::of_path("/v1/models"), None);
    }

    #[test]
    fn text_blocks_are_read_and_other_blocks_kept_as_media() {
        let blocks = serde_json::json!([
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": "https://x"},
        ]);
        assert_eq!(blocks_text(&blocks), "What is this?");
        let chat = as_chat_content(&blocks);
        assert_eq!(chat[0], serde_json::json!({"type": "text", "text": "What is this?"}));
        assert_eq!(chat[1]["type"], "input_image");
    }
}
