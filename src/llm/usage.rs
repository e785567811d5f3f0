//! Token usage read from an LLM answer as it passes through, in bounded memory and without
//! holding the answer: the usage chunk of an SSE stream (or an estimate from the streamed text),
//! or the `usage` object of a JSON body. Pure: bytes in, counts out.

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
}

#[derive(Deserialize)]
struct ChoiceView {
    delta: Option<DeltaView>,
}

#[derive(Deserialize)]
struct DeltaView {
    content: Option<String>,
}

/// Reads SSE lines as they pass, for the usage chunk (when the client asked for one) or, failing
/// that, an estimate from the streamed text.
#[derive(Default)]
pub struct SseScanner {
    partial: Vec<u8>,
    usage: Option<(Option<u32>, Option<u32>)>,
    streamed_chars: usize,
}

impl SseScanner {
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
            for choice in view.choices {
                if let Some(content) = choice.delta.and_then(|d| d.content) {
                    self.streamed_chars += content.chars().count();
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
    fn scanner_estimates_when_no_usage_is_sent() {
        let mut s = SseScanner::default();
        s.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"12345678\"}}]}\n\n");
        let read = s.usage();
        assert_eq!((read.completion_tokens, read.source.as_str()), (Some(2), "estimated"));
    }
}
