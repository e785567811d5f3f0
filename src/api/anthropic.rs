//! Anthropic Messages wire format (`POST /v1/messages`): the request read into the routing view,
//! and the `message` object, its stream events and the error shape the proxy writes itself.
//! The client's own bytes still go upstream, so only what routing needs is read.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{as_chat_content, blocks_text, event_frame, parse_json};
use crate::openai::{split_for_stream, ChatRequest, CompletionMeta, Message, Usage};
use crate::Error;

#[derive(Debug, Deserialize)]
struct MessagesRequest {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<AnthropicMessage>,
    /// A string or a list of text blocks; top-level, not a message.
    #[serde(default)]
    system: Option<Value>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    tools: Option<Value>,
    /// Extended thinking: the client asked for the model's reasoning.
    #[serde(default)]
    thinking: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct AnthropicMessage {
    role: String,
    content: Value,
}

/// Reads a Messages request into the routing view: `system` becomes a system message, content
/// blocks become text parts, and any other block (image, document, tool use or result) stays a
/// typed part, so the guards send it to the LLM.
pub(crate) fn parse(body: &[u8]) -> Result<ChatRequest, Error> {
    let request: MessagesRequest = parse_json(body, "messages", "messages")?;
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = request.system.as_ref().filter(|s| !s.is_null()) {
        messages.push(Message {
            role: "system".into(),
            content: Some(Value::String(blocks_text(system))),
        });
    }
    for m in request.messages {
        messages.push(Message {
            role: m.role,
            content: Some(as_chat_content(&m.content)),
        });
    }
    let thinking = request
        .thinking
        .as_ref()
        .is_some_and(|t| t.get("type").and_then(Value::as_str) == Some("enabled"));
    Ok(ChatRequest {
        model: request.model,
        messages,
        stream: request.stream,
        tools: request.tools,
        max_tokens: request.max_tokens,
        stop: request
            .stop_sequences
            .map(|s| Value::Array(s.into_iter().map(Value::String).collect())),
        api: super::Api::Messages,
        llm_feature: thinking.then_some("extended thinking"),
        ..ChatRequest::default()
    })
}

fn usage_json(usage: Usage) -> Value {
    json!({"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens})
}

/// A whole `message` with one text block.
pub(crate) fn message(meta: &CompletionMeta<'_>, content: &str, usage: Usage) -> Value {
    json!({
        "id": meta.id,
        "type": "message",
        "role": "assistant",
        "model": meta.model,
        "content": [{"type": "text", "text": content}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": usage_json(usage),
    })
}

/// The events of a streamed `message`, in Anthropic's order: `message_start`, one text block
/// (`content_block_start`, its deltas, `content_block_stop`), `message_delta` with the stop
/// reason and output tokens, `message_stop`.
pub(crate) fn message_stream(meta: &CompletionMeta<'_>, content: &str, usage: Usage) -> Vec<Bytes> {
    let start = json!({
        "type": "message_start",
        "message": {
            "id": meta.id,
            "type": "message",
            "role": "assistant",
            "model": meta.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": 0},
        },
    });
    let mut frames = vec![
        event_frame("message_start", &start),
        event_frame(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    for piece in split_for_stream(content, 48) {
        frames.push(event_frame(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    frames.push(event_frame(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    frames.push(event_frame(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": usage.completion_tokens},
        }),
    ));
    frames.push(event_frame("message_stop", &json!({"type": "message_stop"})));
    frames
}

/// Anthropic's error type for a status, as its SDKs expect.
fn error_type(status: u16) -> &'static str {
    match status {
        400 | 408 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        _ => "api_error",
    }
}

/// `{"type": "error", "error": {"type", "message"}}`, with the same message as the OpenAI shape.
pub(crate) fn error_body(error: &Error) -> Value {
    from_openai_error(error.status().as_u16(), &error.body())
}

/// Anthropic's shape of an error the proxy wrote in OpenAI's.
pub(crate) fn from_openai_error(status: u16, openai: &Value) -> Value {
    json!({
        "type": "error",
        "error": {"type": error_type(status), "message": openai["error"]["message"]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_messages_request_reads_as_the_same_conversation() {
        let r = parse(
            br#"{"model":"claude-sonnet-4-5","max_tokens":256,"system":[{"type":"text","text":"Be brief."}],
            "messages":[{"role":"user","content":[{"type":"text","text":"What is the capital of Peru?"}]}],
            "stop_sequences":["\n\n"]}"#,
        )
        .unwrap();
        let f = r.features();
        assert_eq!(f.last_user, "What is the capital of Peru?");
        assert_eq!(f.system, "Be brief.");
        assert_eq!((f.user_turns, f.prior_turns), (1, 0));
        assert!(!f.has_media && !f.has_tools && f.llm_feature.is_none());
        assert_eq!(r.max_answer_tokens(), Some(256));
        assert_eq!(r.stop_sequences(), vec!["\n\n"]);
    }

    #[test]
    fn images_tool_results_and_thinking_are_seen() {
        let image = parse(br#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"image","source":{}},{"type":"text","text":"What is this?"}]}]}"#).unwrap();
        assert!(image.features().has_media);
        let tool = parse(br#"{"model":"m","max_tokens":9,"tools":[{"name":"t","input_schema":{}}],"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"1","name":"t","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"1","content":"42"}]}]}"#).unwrap();
        let f = tool.features();
        assert!(f.has_tools && f.has_media);
        assert_eq!(f.last_user, "", "a tool result is not a user's question");
        let thinking = parse(br#"{"model":"m","max_tokens":9,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"Capital of Peru?"}]}"#).unwrap();
        assert_eq!(thinking.features().llm_feature, Some("extended thinking"));
    }

    #[test]
    fn a_bad_request_names_the_messages_field() {
        match parse(br#"{"model":"m","max_tokens":9}"#) {
            Err(Error::InvalidRequest { param, .. }) => assert_eq!(param, Some("messages")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(b"{"), Err(Error::InvalidJson(_))));
    }

    #[test]
    fn stream_events_carry_the_whole_answer_in_order() {
        use crate::api::sample;
        let meta = sample::meta("msg_1");
        let frames = message_stream(&meta, sample::TEXT, sample::USAGE);
        let mut events = Vec::new();
        let mut streamed = String::new();
        for frame in &frames {
            let (event, data) = sample::event(frame);
            assert_eq!(data["type"], event.as_str(), "the event name is the data's type");
            if event == "content_block_delta" {
                streamed.push_str(data["delta"]["text"].as_str().unwrap());
            }
            if event == "message_delta" {
                assert_eq!(data["usage"]["output_tokens"], 20);
            }
            events.push(event);
        }
        assert_eq!(streamed, sample::TEXT);
        assert_eq!(events.first().map(String::as_str), Some("message_start"));
        assert_eq!(events.last().map(String::as_str), Some("message_stop"));
        let whole = message(&meta, sample::TEXT, sample::USAGE);
        assert_eq!(whole["content"][0]["text"], sample::TEXT);
        assert_eq!(whole["usage"]["input_tokens"], 7);
    }

    #[test]
    fn errors_take_anthropics_shape() {
        let body = error_body(&Error::Overloaded);
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "overloaded_error");
        let bad = error_body(&Error::InvalidJson("x".into()));
        assert_eq!(bad["error"]["type"], "invalid_request_error");
        assert!(bad["error"]["message"].as_str().unwrap().contains('x'));
    }
}
