//! OpenAI Responses wire format (`POST /v1/responses`): the request read into the routing view,
//! and the `response` object and stream events the proxy writes itself. What only the upstream
//! can serve (`previous_response_id` and `conversation`, whose turns it holds; `background`;
//! stored `prompt` templates) is marked, so the request goes to the LLM.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{as_chat_content, blocks_text, event_frame, parse_json};
use crate::openai::{split_for_stream, ChatRequest, CompletionMeta, Message, Usage};
use crate::Error;

#[derive(Debug, Deserialize)]
struct ResponsesRequest {
    #[serde(default)]
    model: Option<String>,
    /// A string (one user message) or a list of input items.
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    tools: Option<Value>,
    #[serde(default)]
    max_output_tokens: Option<u32>,
    /// `{"format": {"type": "text" | "json_object" | "json_schema"}}`.
    #[serde(default)]
    text: Option<Value>,
    #[serde(default)]
    previous_response_id: Option<String>,
    #[serde(default)]
    conversation: Option<Value>,
    #[serde(default)]
    background: Option<bool>,
    #[serde(default)]
    prompt: Option<Value>,
}

/// Reads a Responses request into the routing view: `instructions` becomes a system message,
/// a string `input` one user message, and input items their messages; any other item (a function
/// call, its output, reasoning) counts as a turn that is not the user's.
pub(crate) fn parse(body: &[u8]) -> Result<ChatRequest, Error> {
    let request: ResponsesRequest = parse_json(body, "responses", "input")?;
    let mut messages = Vec::new();
    if let Some(instructions) = request.instructions.filter(|i| !i.trim().is_empty()) {
        messages.push(Message {
            role: "system".into(),
            content: Some(Value::String(instructions)),
        });
    }
    match &request.input {
        Some(Value::String(text)) => messages.push(Message {
            role: "user".into(),
            content: Some(Value::String(text.clone())),
        }),
        Some(Value::Array(items)) => {
            for item in items {
                let role = item.get("role").and_then(Value::as_str);
                let kind = item.get("type").and_then(Value::as_str).unwrap_or("message");
                messages.push(match role {
                    Some(role) if kind == "message" => Message {
                        role: role.to_string(),
                        content: item.get("content").map(as_chat_content),
                    },
                    _ => Message {
                        role: "tool".into(),
                        content: None,
                    },
                });
            }
        }
        Some(Value::Null) | None => {}
        Some(_) => {
            return Err(Error::InvalidRequest {
                message: "`input` must be a string or a list of input items".into(),
                param: Some("input"),
            })
        }
    }
    let format = request
        .text
        .as_ref()
        .and_then(|t| t.get("format"))
        .and_then(|f| f.get("type"))
        .and_then(Value::as_str)
        .filter(|kind| *kind != "text")
        .map(|kind| json!({ "type": kind }));
    let llm_feature = if request.previous_response_id.is_some() {
        Some("previous_response_id")
    } else if request.conversation.as_ref().is_some_and(|c| !c.is_null()) {
        Some("conversation")
    } else if request.background == Some(true) {
        Some("background")
    } else if request.prompt.as_ref().is_some_and(|p| !p.is_null()) {
        Some("stored prompt")
    } else {
        None
    };
    Ok(ChatRequest {
        model: request.model,
        messages,
        stream: request.stream,
        tools: request.tools,
        response_format: format,
        max_tokens: request.max_output_tokens,
        api: super::Api::Responses,
        llm_feature,
        ..ChatRequest::default()
    })
}

fn usage_json(usage: Usage) -> Value {
    json!({
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    })
}

fn message_id(meta: &CompletionMeta<'_>) -> String {
    format!("msg_{}", meta.id.trim_start_matches("resp_"))
}

fn output_message(meta: &CompletionMeta<'_>, content: &str, status: &str) -> Value {
    let parts = if status == "completed" {
        json!([{"type": "output_text", "text": content, "annotations": []}])
    } else {
        json!([])
    };
    json!({"type": "message", "id": message_id(meta), "status": status, "role": "assistant", "content": parts})
}

/// The `response` object, in progress (no output yet) or completed.
fn response_object(chat: &ChatRequest, meta: &CompletionMeta<'_>, output: Value, usage: Option<Usage>) -> Value {
    let status = if usage.is_some() { "completed" } else { "in_progress" };
    json!({
        "id": meta.id,
        "object": "response",
        "created_at": meta.created,
        "status": status,
        "error": null,
        "incomplete_details": null,
        "instructions": null,
        "max_output_tokens": chat.max_answer_tokens(),
        "model": meta.model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "store": false,
        "temperature": null,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": null,
        "truncation": "disabled",
        "usage": usage.map(usage_json),
        "metadata": {},
    })
}

/// A completed `response` with one output message.
pub(crate) fn response(chat: &ChatRequest, meta: &CompletionMeta<'_>, content: &str, usage: Usage) -> Value {
    response_object(
        chat,
        meta,
        json!([output_message(meta, content, "completed")]),
        Some(usage),
    )
}

/// The events of a streamed response, in the API's order, each with its `sequence_number`.
pub(crate) fn response_stream(
    chat: &ChatRequest,
    meta: &CompletionMeta<'_>,
    content: &str,
    usage: Usage,
) -> Vec<Bytes> {
    let item_id = message_id(meta);
    let mut events: Vec<(&str, Value)> = vec![
        (
            "response.created",
            json!({"response": response_object(chat, meta, json!([]), None)}),
        ),
        (
            "response.in_progress",
            json!({"response": response_object(chat, meta, json!([]), None)}),
        ),
        (
            "response.output_item.added",
            json!({"output_index": 0, "item": output_message(meta, content, "in_progress")}),
        ),
        (
            "response.content_part.added",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0,
                   "part": {"type": "output_text", "text": "", "annotations": []}}),
        ),
    ];
    for piece in split_for_stream(content, 48) {
        events.push((
            "response.output_text.delta",
            json!({"item_id": item_id, "output_index": 0, "content_index": 0, "delta": piece, "logprobs": []}),
        ));
    }
    events.push((
        "response.output_text.done",
        json!({"item_id": item_id, "output_index": 0, "content_index": 0, "text": content, "logprobs": []}),
    ));
    events.push((
        "response.content_part.done",
        json!({"item_id": item_id, "output_index": 0, "content_index": 0,
               "part": {"type": "output_text", "text": content, "annotations": []}}),
    ));
    events.push((
        "response.output_item.done",
        json!({"output_index": 0, "item": output_message(meta, content, "completed")}),
    ));
    events.push((
        "response.completed",
        json!({"response": response(chat, meta, content, usage)}),
    ));
    events
        .into_iter()
        .enumerate()
        .map(|(sequence, (event, mut data))| {
            if let Some(map) = data.as_object_mut() {
                map.insert("type".into(), Value::String(event.into()));
                map.insert("sequence_number".into(), json!(sequence));
            }
            event_frame(event, &data)
        })
        .collect()
}

/// The `error` event that ends a stream which cannot go on. It carries the error's fields at the
/// top, as the API's own `error` event does, and under `error`, where the SDKs look for them.
pub(crate) fn stream_error(error: &Error) -> Bytes {
    let body = error.body();
    let e = &body["error"];
    event_frame(
        "error",
        &json!({"type": "error", "code": e["code"], "message": e["message"], "param": e["param"],
                "sequence_number": 0, "error": e}),
    )
}

/// The text of a `response` object's output messages, for tests and readers of a whole answer.
pub fn output_text(response: &Value) -> String {
    response
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| item.get("type").and_then(Value::as_str) == Some("message"))
        .filter_map(|item| item.get("content"))
        .map(blocks_text)
        .collect::<Vec<_>>()
        .join("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_input_with_instructions_is_one_question_and_a_system_prompt() {
        let r = parse(br#"{"model":"gpt-4o-mini","instructions":"Be brief.","input":"What is the capital of Peru?","max_output_tokens":100}"#).unwrap();
        let f = r.features();
        assert_eq!(
            (f.last_user.as_str(), f.system.as_str()),
            ("What is the capital of Peru?", "Be brief.")
        );
        assert_eq!((f.user_turns, f.prior_turns), (1, 0));
        assert!(f.llm_feature.is_none() && !f.has_media && !f.has_response_format);
        assert_eq!(r.max_answer_tokens(), Some(100));
    }

    #[test]
    fn input_items_keep_their_turns_and_media() {
        let r = parse(br#"{"model":"m","input":[
            {"role":"user","content":"Who wrote Hamlet?"},
            {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Shakespeare."}]},
            {"type":"message","role":"user","content":[{"type":"input_text","text":"And when?"},{"type":"input_image","image_url":"x"}]}]}"#).unwrap();
        let f = r.features();
        assert_eq!(f.last_user, "And when?");
        assert_eq!((f.user_turns, f.prior_turns), (2, 1));
        assert!(f.has_media);
        let call = parse(br#"{"model":"m","tools":[{"type":"function","name":"f"}],"input":[{"role":"user","content":"hi"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"1"}]}"#).unwrap();
        let f = call.features();
        assert!(f.has_tools);
        assert_eq!(f.last_user, "", "a function's output is not a user's question");
    }

    #[test]
    fn stateful_and_formatted_requests_are_marked() {
        for (body, feature) in [
            (
                r#"{"model":"m","input":"and its population?","previous_response_id":"resp_1"}"#,
                "previous_response_id",
            ),
            (r#"{"model":"m","input":"hi","conversation":"conv_1"}"#, "conversation"),
            (r#"{"model":"m","input":"hi","background":true}"#, "background"),
            (
                r#"{"model":"m","input":"hi","prompt":{"id":"pmpt_1"}}"#,
                "stored prompt",
            ),
        ] {
            assert_eq!(
                parse(body.as_bytes()).unwrap().features().llm_feature,
                Some(feature),
                "{body}"
            );
        }
        let json =
            parse(br#"{"model":"m","input":"capital of Peru","text":{"format":{"type":"json_schema","schema":{}}}}"#)
                .unwrap();
        assert!(json.features().has_response_format);
        let text = parse(br#"{"model":"m","input":"capital of Peru","text":{"format":{"type":"text"}}}"#).unwrap();
        assert!(!text.features().has_response_format);
        assert!(matches!(
            parse(br#"{"model":"m","input":7}"#),
            Err(Error::InvalidRequest {
                param: Some("input"),
                ..
            })
        ));
    }

    #[test]
    fn the_stream_ends_with_the_completed_response_in_sequence() {
        use crate::api::sample;
        let r = parse(br#"{"model":"m","input":"q"}"#).unwrap();
        let meta = sample::meta("resp_1");
        let frames = response_stream(&r, &meta, sample::TEXT, sample::USAGE);
        let mut streamed = String::new();
        let mut last = Value::Null;
        for (i, frame) in frames.iter().enumerate() {
            let (event, data) = sample::event(frame);
            assert_eq!(data["type"], event.as_str());
            assert_eq!(data["sequence_number"], i);
            if event == "response.output_text.delta" {
                streamed.push_str(data["delta"].as_str().unwrap());
            }
            last = data;
        }
        assert_eq!(streamed, sample::TEXT);
        assert_eq!(last["type"], "response.completed");
        assert_eq!(output_text(&last["response"]), sample::TEXT);
        assert_eq!(last["response"]["usage"]["output_tokens"], 20);
    }
}
