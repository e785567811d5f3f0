//! A company's own knowledge base: JSON Lines exports, Markdown and plain text, so
//! `ecoroute index build --input docs/` indexes a knowledge base as it stands.
//!
//! - JSON Lines: one document per line with `title` and `text` (`id`, `url`, `source` optional;
//!   other fields are ignored, since exports carry metadata). Read line by line.
//! - Markdown: one document per section; the title is the heading path ("Billing › Refunds"), the
//!   text is the section with its markup removed, so answers read as sentences.
//! - Plain text: one document per paragraph, titled by the file's first line when it is short.

use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use super::CorpusDoc;
use super::{squeeze, Bounded, Sink};
use crate::Error;

#[derive(Debug, Deserialize)]
struct LooseDoc {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    by_title: bool,
}

pub(super) fn read_jsonl(mut reader: Bounded<impl BufRead>, relative: &str, sink: &mut Sink<'_>) -> Result<(), Error> {
    let mut line = String::new();
    for i in 0usize.. {
        line.clear();
        reader.next_entry();
        let read = reader
            .read_line(&mut line)
            .map_err(|e| Error::io(format!("reading {relative} line {}", i + 1), e))?;
        if read == 0 {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let doc: LooseDoc =
            serde_json::from_str(&line).map_err(|e| Error::index(format!("{relative} line {}: {e}", i + 1)))?;
        if doc.title.trim().is_empty() && doc.text.trim().is_empty() {
            return Err(Error::index(format!(
                "{relative} line {}: a document needs a `title` or a `text`",
                i + 1
            )));
        }
        sink(CorpusDoc {
            id: doc.id.unwrap_or_else(|| format!("{relative}:{}", i + 1)),
            title: doc.title,
            text: doc.text,
            source: if doc.source.is_empty() {
                relative.to_string()
            } else {
                doc.source
            },
            url: doc.url,
            by_title: doc.by_title,
        })?;
    }
    Ok(())
}

/// A heading's anchor as GitHub and most static-site generators write it.
fn slug(heading: &str) -> String {
    let mut out = String::new();
    for c in heading.trim().to_lowercase().chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if (c == ' ' || c == '-') && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Markdown markup that would read badly in an answer: links keep their text, emphasis and code
/// marks go, list bullets and quote marks go.
fn plain_markdown(line: &str) -> String {
    let trimmed = line.trim_start();
    let body = trimmed
        .strip_prefix("- ")
        .or_else(|| trimmed.strip_prefix("* "))
        .or_else(|| trimmed.strip_prefix("+ "))
        .or_else(|| trimmed.strip_prefix("> "))
        .unwrap_or(trimmed);
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .find("](")
            .and_then(|close| after[close + 2..].find(')').map(|end| (close, close + 2 + end)))
        {
            Some((close, end)) => {
                out.push_str(&after[..close]);
                rest = &after[end + 1..];
            }
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace("**", "").replace("__", "").replace('`', "")
}

/// "billing/refund-policy.md" → "refund policy": the title of a document with no heading.
fn title_from_file_name(relative: &str) -> String {
    Path::new(relative)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(relative)
        .replace(['-', '_'], " ")
}

pub(super) fn parse_markdown(text: &str, relative: &str) -> Vec<CorpusDoc> {
    let file_title = title_from_file_name(relative);
    let mut docs = Vec::new();
    // The heading path: `path[level - 1]` is the current heading of that level.
    let mut path: Vec<String> = Vec::new();
    let mut body: Vec<String> = Vec::new();
    let mut in_code = false;
    let flush = |path: &[String], body: &mut Vec<String>, docs: &mut Vec<CorpusDoc>| {
        let text = squeeze(&body.join(" "));
        body.clear();
        if text.is_empty() {
            return;
        }
        let headings: Vec<&str> = path.iter().map(String::as_str).filter(|h| !h.is_empty()).collect();
        let title = if headings.is_empty() {
            file_title.clone()
        } else {
            headings.join(" › ")
        };
        let anchor = headings.last().map(|h| format!("#{}", slug(h))).unwrap_or_default();
        docs.push(CorpusDoc {
            id: format!("{relative}{anchor}:{}", docs.len()),
            title,
            text,
            source: relative.to_string(),
            url: format!("{relative}{anchor}"),
            by_title: false,
        });
    };
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            // Code blocks are not answers to factual questions.
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let level = line.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&level) && line[level..].starts_with(' ') {
            flush(&path, &mut body, &mut docs);
            path.resize(level, String::new());
            path[level - 1] = plain_markdown(line[level..].trim());
            continue;
        }
        let plain = plain_markdown(line);
        if plain.trim().is_empty() {
            // A paragraph break: keep sentences apart so extraction can pick one.
            if body.last().is_some_and(|l| !l.ends_with(['.', '!', '?', ':'])) {
                if let Some(last) = body.last_mut() {
                    last.push('.');
                }
            }
            continue;
        }
        body.push(plain.trim().to_string());
    }
    flush(&path, &mut body, &mut docs);
    docs
}

pub(super) fn parse_text(text: &str, relative: &str) -> Vec<CorpusDoc> {
    let stem = title_from_file_name(relative);
    let mut paragraphs: Vec<String> = text.split("\n\n").map(squeeze).filter(|p| !p.is_empty()).collect();
    let title = match paragraphs.first() {
        Some(first) if first.len() <= 80 && !first.ends_with('.') => paragraphs.remove(0),
        _ => stem,
    };
    paragraphs
        .into_iter()
        .enumerate()
        .map(|(i, text)| CorpusDoc {
            id: format!("{relative}:{}", i + 1),
            title: title.clone(),
            text,
            source: relative.to_string(),
            url: relative.to_string(),
            by_title: false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::Limits;
    use super::*;
    use crate::search::ingest::read_documents;

    #[test]
    fn markdown_sections_become_documents_with_heading_paths() {
        let md = "# Billing\n\nIntro line.\n\n## Refunds\n\nRefunds take **5 days**.\nSee [the form](https://x/form).\n\n```\ncode here\n```\n\n## Invoices\n- Sent monthly\n";
        let docs = parse_markdown(md, "kb/billing.md");
        let titles: Vec<&str> = docs.iter().map(|d| d.title.as_str()).collect();
        assert_eq!(titles, ["Billing", "Billing › Refunds", "Billing › Invoices"]);
        assert_eq!(docs[1].text, "Refunds take 5 days. See the form.");
        assert_eq!(docs[1].url, "kb/billing.md#refunds");
        assert!(!docs.iter().any(|d| d.text.contains("code here")));
    }

    #[test]
    fn text_paragraphs_and_loose_json_lines() {
        let docs = parse_text("Office hours\n\nWe open at 9.\n\nWe close at 5.", "hours.txt");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].title, "Office hours");
        assert_eq!(docs[1].text, "We close at 5.");

        let jsonl = |text: &str| {
            let mut docs = Vec::new();
            read_jsonl(Limits::unbounded(text.as_bytes()), "kb.jsonl", &mut |doc| {
                docs.push(doc);
                Ok(())
            })
            .map(|()| docs)
        };
        let docs = jsonl("{\"title\":\"VPN\",\"text\":\"Use WireGuard.\",\"owner\":\"it\"}\n\n").unwrap();
        assert_eq!(docs[0].id, "kb.jsonl:1");
        assert_eq!(docs[0].source, "kb.jsonl");
        assert!(jsonl("{\"owner\":\"it\"}")
            .unwrap_err()
            .to_string()
            .contains("kb.jsonl line 1"));
    }

    #[test]
    fn folders_are_walked_in_order_and_other_files_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.md"), "# B\n\nBee text.").unwrap();
        std::fs::write(dir.path().join("a.txt"), "Alpha text.").unwrap();
        std::fs::write(dir.path().join("image.png"), [0u8, 1, 2]).unwrap();
        std::fs::write(dir.path().join(".hidden.md"), "# H\n\nhidden").unwrap();
        let docs = read_documents(dir.path()).unwrap();
        let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["a.txt:1", "sub/b.md#b:0"]);
        assert!(read_documents(&dir.path().join("image.png")).is_err());
    }
}
