//! Token usage read from an LLM answer as it passes through, in bounded memory and without
//! holding the answer: the usage chunk of an SSE stream (or an estimate from the streamed text),
//! or the `usage` object of a JSON body. Pure: bytes in, counts out. When the response cache may
//! keep the answer, its text is read too ([`PlainAnswer`]): only a plain one-choice text answer
//! that finished with `stop`, and only up to [`PlainAnswer::MAX_BYTES`].

use serde::Deserialize;

use crate::outcome::UsageSource;

/// What an answer says it used, and whether the LLM said so or the proxy counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadUsage {
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub source: UsageSource,
}

#[derive(Deserialize)]
struct UsageEnvelope {
    usage: Option<UpstreamUsage>,
}

/// OpenAI chat's `prompt_tokens`/`completion_tokens`, or the `input_tokens`/`output_tokens` of
/// Anthropic's Messages and OpenAI's Responses APIs.
#[derive(Deserialize)]
struct UpstreamUsage {
    #[serde(alias = "input_tokens")]
    prompt_tokens: Option<u32>,
    #[serde(alias = "output_tokens")]
    completion_tokens: Option<u32>,
}

/// The object an Anthropic `message_start` or a Responses `response.*` event wraps.
#[derive(Deserialize)]
struct EventObject {
    usage: Option<UpstreamUsage>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// One SSE event of any of the three APIs: a chat chunk (`choices`), an Anthropic event or a
/// Responses event (`type`, with the text in `delta` and usage in `message` or `response`).
#[derive(Deserialize)]
struct ChunkView {
    #[serde(default)]
    choices: Vec<ChoiceView>,
    usage: Option<UpstreamUsage>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: Option<EventObject>,
    #[serde(default)]
    response: Option<EventObject>,
    /// Anthropic: `{"type": "text_delta", "text"}` or `{"stop_reason"}`; Responses: the text.
    #[serde(default)]
    delta: Option<serde_json::Value>,
    /// Anthropic's `content_block_start` block, a Responses `output_item.added` item.
    #[serde(default)]
    content_block: Option<serde_json::Value>,
    #[serde(default)]
    item: Option<serde_json::Value>,
    /// A chat stream's error chunk (`{"error": {...}}`), which ends the stream.
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct ChoiceView {
    #[serde(default)]
    index: u32,
    delta: Option<DeltaView>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct DeltaView {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<serde_json::Value>,
    #[serde(default)]
    function_call: Option<serde_json::Value>,
}

/// An LLM answer the response cache may keep: one choice of plain text that finished with `stop`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlainAnswer {
    pub content: String,
    pub model: String,
    pub completion_tokens: Option<u32>,
}

impl PlainAnswer {
    /// Longer answers are not worth a cache slot (and are rarely repeated word for word).
    pub(crate) const MAX_BYTES: usize = 64 * 1024;

    /// The answer of a whole JSON body, if it is plain: a `chat.completion` with one choice that
    /// finished with `stop`, an Anthropic `message` of text blocks that ended its turn, or a
    /// completed Responses `response` whose only output is a message.
    pub(crate) fn from_json(body: &[u8]) -> Option<PlainAnswer> {
        use serde_json::Value;
        let v: Value = serde_json::from_slice(body).ok()?;
        let content = match v
            .get("object")
            .and_then(Value::as_str)
            .or(v.get("type").and_then(Value::as_str))
        {
            Some("message") => {
                let blocks = v.get("content")?.as_array()?;
                let text_only = blocks
                    .iter()
                    .all(|b| b.get("type").and_then(Value::as_str) == Some("text"));
                let ended = matches!(v.get("stop_reason")?.as_str(), Some("end_turn" | "stop_sequence"));
                (text_only && ended).then(|| crate::api::blocks_text(&v["content"]))?
            }
            Some("response") => {
                let output = v.get("output")?.as_array()?;
                let [item] = output.as_slice() else { return None };
                let done = v.get("status")?.as_str() == Some("completed")
                    && item.get("type").and_then(Value::as_str) == Some("message");
                done.then(|| crate::api::blocks_text(&item["content"]))?
            }
            _ => {
                let choices = v.get("choices")?.as_array()?;
                let [choice] = choices.as_slice() else { return None };
                let message = choice.get("message")?;
                let plain = choice.get("finish_reason")?.as_str() == Some("stop")
                    && ["tool_calls", "function_call", "audio"]
                        .iter()
                        .all(|k| message.get(*k).is_none_or(Value::is_null));
                plain.then(|| message.get("content")?.as_str().map(str::to_string))??
            }
        };
        let usage = v.get("usage");
        let completion_tokens = ["completion_tokens", "output_tokens"]
            .iter()
            .find_map(|k| usage.and_then(|u| u.get(*k)).and_then(Value::as_u64))
            .and_then(|n| u32::try_from(n).ok());
        (content.len() <= Self::MAX_BYTES).then(|| PlainAnswer {
            content,
            model: v.get("model").and_then(Value::as_str).unwrap_or_default().to_string(),
            completion_tokens,
        })
    }
}

/// The text of a streamed answer, while it stays plain.
#[derive(Default)]
struct StreamedText {
    content: String,
    model: String,
    finish: Option<String>,
    spoiled: bool,
}

/// Reads SSE lines as they pass, for the usage chunk (when the client asked for one) or, failing
/// that, an estimate from the streamed text; and whether the stream reached its final event.
///
/// Each byte is searched for a line end once (a line split over many chunks is not searched again
/// from its start), and a line longer than [`SseScanner::MAX_LINE`] stops the scan: the stream is
/// then cut ([`SseScanner::line_too_long`]) rather than held in memory whole.
#[derive(Default)]
pub(crate) struct SseScanner {
    /// The current line's bytes so far; it never holds a line end.
    partial: Vec<u8>,
    usage: Option<(Option<u32>, Option<u32>)>,
    streamed_chars: usize,
    /// Kept only when the answer may be cached.
    text: Option<StreamedText>,
    ended: bool,
    too_long: bool,
    /// Bytes searched for a line end so far, so a test can see that the scan is linear.
    searched: usize,
}

impl SseScanner {
    /// The longest line read. The longest legitimate ones are a Responses `response.completed`
    /// event, which repeats the whole answer, and base64 image parts: a few MiB.
    pub(crate) const MAX_LINE: usize = 16 * 1024 * 1024;

    /// A scanner that also keeps the answer's text, for the response cache.
    pub(crate) fn keeping_text() -> SseScanner {
        SseScanner {
            text: Some(StreamedText::default()),
            ..SseScanner::default()
        }
    }

    /// The streamed answer, if it was plain text, finished with `stop` and fit the cache's limit.
    pub(crate) fn answer(&self) -> Option<PlainAnswer> {
        let text = self.text.as_ref()?;
        (!text.spoiled && text.finish.as_deref() == Some("stop")).then(|| PlainAnswer {
            content: text.content.clone(),
            model: text.model.clone(),
            completion_tokens: self.usage.and_then(|(_, completion)| completion),
        })
    }

    /// True once the stream's final event has passed: `data: [DONE]` (chat completions),
    /// `message_stop` (Anthropic), `response.completed`, `.incomplete` or `.failed` (Responses),
    /// or an error event in any of them. A stream that stops before it was cut, even if the
    /// connection closed cleanly.
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    /// True once a line has passed [`SseScanner::MAX_LINE`] bytes; nothing more is read.
    pub(crate) fn line_too_long(&self) -> bool {
        self.too_long
    }

    /// True when the bytes so far stop inside a line (a line past the cap is one).
    pub(crate) fn mid_line(&self) -> bool {
        self.too_long || !self.partial.is_empty()
    }

    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        if self.too_long {
            return;
        }
        // `partial` holds no line end, so only the new bytes are searched.
        let mut buffer = std::mem::take(&mut self.partial);
        let mut from = buffer.len();
        buffer.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(at) = buffer[from..].iter().position(|&b| b == b'\n') {
            self.searched += at + 1;
            let end = from + at;
            self.line(&buffer[start..=end]);
            start = end + 1;
            from = start;
        }
        self.searched += buffer.len() - from;
        buffer.drain(..start);
        if buffer.len() > Self::MAX_LINE {
            self.too_long = true;
            buffer = Vec::new();
        }
        self.partial = buffer;
    }

    fn line(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            self.ended = true;
            return;
        }
        let Ok(mut view) = serde_json::from_slice::<ChunkView>(data) else {
            return;
        };
        self.ended |= view.error.is_some()
            || matches!(
                view.kind.as_deref(),
                Some("message_stop" | "response.completed" | "response.incomplete" | "response.failed" | "error")
            );
        let usage = view
            .usage
            .take()
            .or_else(|| view.message.as_mut().and_then(|m| m.usage.take()))
            .or_else(|| view.response.as_mut().and_then(|r| r.usage.take()));
        if let Some(u) = usage {
            // Anthropic sends input tokens at the start and output tokens at the end.
            let (prompt, completion) = self.usage.unwrap_or_default();
            self.usage = Some((u.prompt_tokens.or(prompt), u.completion_tokens.or(completion)));
        }
        let model = view
            .model
            .as_ref()
            .or_else(|| view.message.as_ref().and_then(|m| m.model.as_ref()))
            .or_else(|| view.response.as_ref().and_then(|r| r.model.as_ref()));
        if let (Some(text), Some(model)) = (self.text.as_mut(), model) {
            if text.model.is_empty() {
                text.model.clone_from(model);
            }
        }
        if let Some(kind) = view.kind.as_deref() {
            self.feed_event(kind, &view);
        }
        for choice in view.choices {
            if let Some(text) = self.text.as_mut() {
                let tools = choice
                    .delta
                    .as_ref()
                    .is_some_and(|d| d.tool_calls.is_some() || d.function_call.is_some());
                text.spoiled |= choice.index > 0 || tools;
                if let Some(reason) = &choice.finish_reason {
                    text.finish = Some(reason.clone());
                }
            }
            if let Some(content) = choice.delta.and_then(|d| d.content) {
                self.streamed_chars += content.chars().count();
                if let Some(text) = self.text.as_mut().filter(|t| !t.spoiled) {
                    text.content.push_str(&content);
                    text.spoiled |= text.content.len() > PlainAnswer::MAX_BYTES;
                }
            }
        }
    }

    /// An Anthropic or Responses event: its text, whether the answer stays plain, how it ended.
    fn feed_event(&mut self, kind: &str, view: &ChunkView) {
        let delta = view.delta.as_ref();
        let piece = match kind {
            "content_block_delta" => delta.and_then(|d| d.get("text")).and_then(serde_json::Value::as_str),
            "response.output_text.delta" => delta.and_then(serde_json::Value::as_str),
            _ => None,
        };
        if let Some(piece) = piece {
            self.streamed_chars += piece.chars().count();
        }
        let Some(text) = self.text.as_mut() else { return };
        fn block_type(b: Option<&serde_json::Value>) -> Option<&str> {
            b.and_then(|b| b.get("type")).and_then(serde_json::Value::as_str)
        }
        match kind {
            // A tool call, a thinking block, anything but text: not a plain answer.
            "content_block_start" => text.spoiled |= block_type(view.content_block.as_ref()) != Some("text"),
            "response.output_item.added" => text.spoiled |= block_type(view.item.as_ref()) != Some("message"),
            "message_delta" => {
                let stop = delta
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(serde_json::Value::as_str);
                if let Some(stop) = stop {
                    let plain = matches!(stop, "end_turn" | "stop_sequence");
                    text.finish = Some(if plain { "stop" } else { stop }.to_string());
                }
            }
            "response.completed" => {
                let done = view.response.as_ref().and_then(|r| r.status.as_deref()) == Some("completed");
                text.finish = Some(if done { "stop" } else { "incomplete" }.to_string());
            }
            "response.incomplete" | "response.failed" => text.finish = Some("incomplete".into()),
            _ => {}
        }
        if let Some(piece) = piece.filter(|_| !text.spoiled) {
            text.content.push_str(piece);
            text.spoiled |= text.content.len() > PlainAnswer::MAX_BYTES;
        }
    }

    /// The usage chunk's counts, or, without one, output tokens estimated from the streamed text
    /// (about four characters a token).
    pub(crate) fn usage(&self) -> ReadUsage {
        match self.usage {
            Some((prompt_tokens, completion_tokens)) => ReadUsage {
                prompt_tokens,
                completion_tokens,
                source: UsageSource::Upstream,
            },
            None => ReadUsage {
                prompt_tokens: None,
                completion_tokens: Some(u32::try_from(self.streamed_chars.div_ceil(4)).unwrap_or(u32::MAX)),
                source: UsageSource::Estimated,
            },
        }
    }
}

/// Reads `usage` from a JSON body that passes through in chunks, in bounded memory: a body up to
/// [`JsonUsage::WHOLE`] is kept and parsed whole; past that only its last [`JsonUsage::TAIL`]
/// bytes are, where OpenAI-compatible servers put `usage` (after `choices`).
#[derive(Default)]
pub(crate) struct JsonUsage {
    kept: Vec<u8>,
    total: usize,
}

impl JsonUsage {
    const WHOLE: usize = 256 * 1024;
    const TAIL: usize = 16 * 1024;

    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        self.total += chunk.len();
        self.kept.extend_from_slice(chunk);
        if self.total > Self::WHOLE && self.kept.len() > 2 * Self::TAIL {
            let cut = self.kept.len() - Self::TAIL;
            self.kept.drain(..cut);
        }
    }

    fn upstream_usage(&self) -> Option<UpstreamUsage> {
        if self.total <= Self::WHOLE {
            return serde_json::from_slice::<UsageEnvelope>(&self.kept).ok()?.usage;
        }
        let key = b"\"usage\"";
        let at = self.kept.windows(key.len()).rposition(|w| w == key)?;
        let rest = self.kept[at + key.len()..].trim_ascii_start().strip_prefix(b":")?;
        serde_json::Deserializer::from_slice(rest)
            .into_iter::<UpstreamUsage>()
            .next()?
            .ok()
    }

    /// The body's `usage`, if it has one.
    pub(crate) fn usage(&self) -> Option<ReadUsage> {
        self.upstream_usage().map(|u| ReadUsage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            source: UsageSource::Upstream,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_reads_usage_across_chunk_boundaries() {
        let mut s = SseScanner::default();
        s.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"Hello there\"}}]}\n\ndata: {\"choices\":[],\"us");
        s.feed(b"age\":{\"prompt_tokens\":9,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n");
        assert_eq!(s.usage, Some((Some(9), Some(3))));
        assert_eq!(s.streamed_chars, 11);
    }

    #[test]
    fn json_usage_is_read_whole_or_from_the_tail_of_a_large_body() {
        let mut small = JsonUsage::default();
        small.feed(b"{\"usage\": {\"prompt_tokens\": 5, \"com");
        small.feed(b"pletion_tokens\": 7}, \"choices\": []}");
        let u = small.upstream_usage().unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (Some(5), Some(7)));

        let mut large = JsonUsage::default();
        large.feed(b"{\"choices\":[{\"message\":{\"content\":\"");
        let filler = vec![b'x'; 64 * 1024];
        for _ in 0..20 {
            large.feed(&filler);
        }
        large.feed(b"\"}}],\"usage\" : {\"prompt_tokens\":11,\"completion_tokens\":1300000}}");
        assert!(
            large.kept.len() <= 2 * JsonUsage::TAIL + filler.len(),
            "memory stays bounded"
        );
        let u = large.upstream_usage().unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (Some(11), Some(1_300_000)));
        assert!(JsonUsage::default().usage().is_none());
    }

    #[test]
    fn plain_answers_are_read_for_the_cache_and_others_are_not() {
        let mut s = SseScanner::keeping_text();
        s.feed(b"data: {\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Lima is \"}}]}\n\n");
        s.feed(b"data: {\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"the capital.\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
        let answer = s.answer().unwrap();
        assert_eq!(
            (answer.content.as_str(), answer.model.as_str()),
            ("Lima is the capital.", "gpt-4o-2024-08-06")
        );
        // A tool call, a second choice, a cut stream: not plain.
        let mut tools = SseScanner::keeping_text();
        tools.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"c\"}]},\"finish_reason\":\"stop\"}]}\n\n");
        assert_eq!(tools.answer(), None);
        let mut cut = SseScanner::keeping_text();
        cut.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Lima\"}}]}\n\n");
        assert_eq!(cut.answer(), None, "no finish_reason: the stream did not end");
        assert_eq!(SseScanner::default().answer(), None, "not kept unless asked");
        let json = br#"{"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Lima."},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#;
        let answer = PlainAnswer::from_json(json).unwrap();
        assert_eq!((answer.content.as_str(), answer.completion_tokens), ("Lima.", Some(2)));
        let length = br#"{"model":"m","choices":[{"index":0,"message":{"content":"Li"},"finish_reason":"length"}]}"#;
        assert_eq!(PlainAnswer::from_json(length), None);
    }

    #[test]
    fn anthropic_and_responses_streams_give_usage_and_text() {
        let mut a = SseScanner::keeping_text();
        a.feed(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n");
        a.feed(b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
        a.feed(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Lima.\"}}\n\n");
        a.feed(b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n");
        assert_eq!(
            a.usage,
            Some((Some(25), Some(15))),
            "input from the start, output from the end"
        );
        let answer = a.answer().unwrap();
        assert_eq!((answer.content.as_str(), answer.model.as_str()), ("Lima.", "claude-x"));

        let mut tool = SseScanner::keeping_text();
        tool.feed(b"data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\"}}\n\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"}}\n\n");
        assert_eq!(tool.answer(), None);

        let mut r = SseScanner::keeping_text();
        r.feed(b"event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"item\":{\"type\":\"message\"}}\n\n");
        r.feed(b"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Lima is the capital.\"}\n\n");
        r.feed(b"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-4o\",\"status\":\"completed\",\"usage\":{\"input_tokens\":9,\"output_tokens\":5}}}\n\n");
        assert_eq!(r.usage().completion_tokens, Some(5));
        assert_eq!(r.answer().unwrap().content, "Lima is the capital.");
        let mut estimated = SseScanner::default();
        estimated.feed(b"data: {\"type\":\"response.output_text.delta\",\"delta\":\"12345678\"}\n\n");
        assert_eq!(estimated.usage().completion_tokens, Some(2));
    }

    #[test]
    fn whole_anthropic_and_responses_answers_are_read() {
        let message = br#"{"id":"msg_1","type":"message","model":"claude-x","content":[{"type":"text","text":"Lima."}],"stop_reason":"end_turn","usage":{"input_tokens":4,"output_tokens":3}}"#;
        let answer = PlainAnswer::from_json(message).unwrap();
        assert_eq!((answer.content.as_str(), answer.completion_tokens), ("Lima.", Some(3)));
        let mut usage = JsonUsage::default();
        usage.feed(message);
        assert_eq!(usage.usage().unwrap().prompt_tokens, Some(4));
        let cut = br#"{"type":"message","content":[{"type":"text","text":"Li"}],"stop_reason":"max_tokens"}"#;
        assert_eq!(PlainAnswer::from_json(cut), None);
        let response = br#"{"object":"response","status":"completed","model":"gpt-4o","output":[{"type":"message","content":[{"type":"output_text","text":"Lima."}]}],"usage":{"input_tokens":4,"output_tokens":2}}"#;
        assert_eq!(PlainAnswer::from_json(response).unwrap().completion_tokens, Some(2));
        let call = br#"{"object":"response","status":"completed","output":[{"type":"function_call","name":"f"}]}"#;
        assert_eq!(PlainAnswer::from_json(call), None);
    }

    #[test]
    fn each_api_has_a_final_event_and_a_stream_without_it_has_not_ended() {
        let finals: [&[u8]; 5] = [
            b"data: [DONE]\n\n",
            b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
            b"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"status\":\"completed\"}}\n\n",
            b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n",
            b"data: {\"error\":{\"message\":\"boom\"}}\n\n",
        ];
        for last in finals {
            let mut s = SseScanner::default();
            s.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"Li\"}}]}\n\n");
            assert!(!s.ended());
            // Split mid-line, as a network would.
            let (a, b) = last.split_at(last.len() / 2);
            s.feed(a);
            assert!(!s.ended());
            s.feed(b);
            assert!(s.ended(), "{}", String::from_utf8_lossy(last));
        }
    }

    #[test]
    fn a_long_line_is_read_in_linear_time_and_one_past_the_cap_stops_the_scan() {
        // 1 MiB in 1 KiB chunks: searching the whole pending line again on every chunk (the old
        // scan) looks at about 512 MiB; each byte once is 1 MiB.
        let mut s = SseScanner::default();
        let mut fed = 0;
        for piece in std::iter::once(&b"data: {\"choices\":[{\"delta\":{\"content\":\""[..])
            .chain(std::iter::repeat_n(&[b'x'; 1024][..], 1024))
            .chain(std::iter::once(&b"\"}}]}\n\ndata: [DONE]\n\n"[..]))
        {
            s.feed(piece);
            fed += piece.len();
        }
        assert_eq!(s.streamed_chars, 1024 * 1024);
        assert!(s.searched <= fed, "{} bytes searched for {fed} fed", s.searched);
        assert!(s.ended() && !s.line_too_long() && !s.mid_line());

        let mut long = SseScanner::default();
        let big = vec![b'x'; 1024 * 1024];
        for _ in 0..=SseScanner::MAX_LINE / big.len() {
            long.feed(&big);
        }
        assert!(long.line_too_long());
        assert!(long.partial.capacity() == 0, "the long line is not held");
    }

    #[test]
    fn scanner_estimates_when_no_usage_is_sent() {
        let mut s = SseScanner::default();
        s.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"12345678\"}}]}\n\n");
        let read = s.usage();
        assert_eq!((read.completion_tokens, read.source.as_str()), (Some(2), "estimated"));
    }
}
