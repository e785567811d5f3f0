//! Token usage read from an LLM answer as it passes through, in bounded memory and without
//! holding the answer: the usage chunk of an SSE stream (or an estimate from the streamed text),
//! or the `usage` object of a JSON body. Pure: bytes in, counts out. When the response cache may
//! keep the answer, its text is read too ([`PlainAnswer`]): only a plain one-choice text answer
//! that finished with `stop`, and only up to [`PlainAnswer::MAX_BYTES`].

use serde::Deserialize;

use crate::ledger::UsageSource;

/// What an answer says it used, and whether the LLM said so or the proxy counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadUsage {
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub source: UsageSource,
}

#[derive(Deserialize)]
struct UsageEnvelope {
    usage: Option<UpstreamUsage>,
}

#[derive(Deserialize)]
struct UpstreamUsage {
    prompt_tokens: Option<u32>,
    completion_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct ChunkView {
    #[serde(default)]
    choices: Vec<ChoiceView>,
    usage: Option<UpstreamUsage>,
    #[serde(default)]
    model: Option<String>,
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
pub struct PlainAnswer {
    pub content: String,
    pub model: String,
    pub completion_tokens: Option<u32>,
}

impl PlainAnswer {
    /// Longer answers are not worth a cache slot (and are rarely repeated word for word).
    pub const MAX_BYTES: usize = 64 * 1024;

    /// The answer of a whole `chat.completion` JSON body, if it is plain.
    pub fn from_json(body: &[u8]) -> Option<PlainAnswer> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let choices = v.get("choices")?.as_array()?;
        let [choice] = choices.as_slice() else { return None };
        let message = choice.get("message")?;
        let plain = choice.get("finish_reason")?.as_str() == Some("stop")
            && ["tool_calls", "function_call", "audio"]
                .iter()
                .all(|k| message.get(*k).is_none_or(serde_json::Value::is_null));
        let content = message.get("content")?.as_str()?;
        (plain && content.len() <= Self::MAX_BYTES).then(|| PlainAnswer {
            content: content.to_string(),
            model: v.get("model").and_then(|m| m.as_str()).unwrap_or_default().to_string(),
            completion_tokens: v
                .get("usage")
                .and_then(|u| u.get("completion_tokens"))
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| u32::try_from(n).ok()),
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
/// that, an estimate from the streamed text.
#[derive(Default)]
pub struct SseScanner {
    partial: Vec<u8>,
    usage: Option<(Option<u32>, Option<u32>)>,
    streamed_chars: usize,
    /// Kept only when the answer may be cached.
    text: Option<StreamedText>,
}

impl SseScanner {
    /// A scanner that also keeps the answer's text, for the response cache.
    pub fn keeping_text() -> SseScanner {
        SseScanner {
            text: Some(StreamedText::default()),
            ..SseScanner::default()
        }
    }

    /// The streamed answer, if it was plain text, finished with `stop` and fit the cache's limit.
    pub fn answer(&self) -> Option<PlainAnswer> {
        let text = self.text.as_ref()?;
        (!text.spoiled && text.finish.as_deref() == Some("stop")).then(|| PlainAnswer {
            content: text.content.clone(),
            model: text.model.clone(),
            completion_tokens: self.usage.and_then(|(_, completion)| completion),
        })
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.partial.extend_from_slice(chunk);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let Some(data) = line.strip_prefix(b"data:") else {
                continue;
            };
            let Ok(view) = serde_json::from_slice::<ChunkView>(data.trim_ascii()) else {
                continue;
            };
            if let Some(u) = view.usage {
                self.usage = Some((u.prompt_tokens, u.completion_tokens));
            }
            if let (Some(text), Some(model)) = (self.text.as_mut(), &view.model) {
                if text.model.is_empty() {
                    text.model.clone_from(model);
                }
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
    }

    /// The usage chunk's counts, or, without one, output tokens estimated from the streamed text
    /// (about four characters a token).
    pub fn usage(&self) -> ReadUsage {
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
pub struct JsonUsage {
    kept: Vec<u8>,
    total: usize,
}

impl JsonUsage {
    const WHOLE: usize = 256 * 1024;
    const TAIL: usize = 16 * 1024;

    pub fn feed(&mut self, chunk: &[u8]) {
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
    pub fn usage(&self) -> Option<ReadUsage> {
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
    fn scanner_estimates_when_no_usage_is_sent() {
        let mut s = SseScanner::default();
        s.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"12345678\"}}]}\n\n");
        let read = s.usage();
        assert_eq!((read.completion_tokens, read.source.as_str()), (Some(2), "estimated"));
    }
}
