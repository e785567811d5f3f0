//! Kiwix ZIM archives (offline Wikipedia, Wiktionary, Stack Exchange...): one document per
//! article, its lead section as text. The lead is what a factual question is answered from (who,
//! when, where, what it is), and it keeps a full English Wikipedia index to a few gigabytes.
//!
//! Articles are read cluster by cluster: a ZIM compresses a few hundred entries together, so
//! reading them in URL order would decompress each cluster many times over. What is held at once
//! is one decompressed cluster, and three `u32`s and a hash per article.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use zim::{MimeType, Namespace, Target, Zim};

use super::{file_size, squeeze, Progress, Sink};
use crate::search::embedded::CorpusDoc;
use crate::Error;

/// Longer than any lead worth answering from; the rest of a long lead adds noise, not answers.
const MAX_LEAD_CHARS: usize = 2_000;

pub(super) fn read(file: &Path, relative: &str, progress: &Progress, sink: &mut Sink<'_>) -> Result<(), Error> {
    let zim_error = |doing: &str| {
        let doing = format!("{doing} {}", file.display());
        move |e: zim::Error| Error::index_from(doing.clone(), e)
    };
    let archive = Zim::new(file).map_err(zim_error("opening the ZIM archive"))?;
    let entries = archive.header.article_count;
    // (cluster, blob, entry): sorted, so each cluster is decompressed once.
    let mut articles: Vec<(u32, u32, u32)> = Vec::new();
    for index in 0..entries {
        let entry = archive
            .get_by_url_index(index)
            .map_err(zim_error("reading an entry of"))?;
        let is_article = matches!(entry.namespace, Namespace::Articles | Namespace::UserContent)
            && matches!(&entry.mime_type, MimeType::Type(mime) if mime.starts_with("text/html"));
        if let (true, Some(Target::Cluster(cluster, blob))) = (is_article, entry.target) {
            articles.push((cluster, blob, index));
        }
    }
    articles.sort_unstable();
    // libzim stores identical pages once and points several entries at the blob: index it once.
    articles.dedup_by_key(|&mut (cluster, blob, _)| (cluster, blob));

    let size = file_size(file);
    let per_article = size / u64::from(entries.max(1));
    let mut reported = 0;
    let mut open_cluster: Option<(u32, zim::Cluster<'_>)> = None;
    // Leads already indexed, by hash: copies of one page under two names would answer twice.
    let mut seen: HashSet<u64> = HashSet::new();
    for (done, &(cluster_index, blob, index)) in articles.iter().enumerate() {
        if open_cluster.as_ref().is_none_or(|(open, _)| *open != cluster_index) {
            open_cluster = Some((
                cluster_index,
                archive
                    .get_cluster(cluster_index)
                    .map_err(zim_error("reading a cluster of"))?,
            ));
        }
        let Some((_, cluster)) = &open_cluster else { continue };
        let html = {
            let guard = cluster.read().map_err(zim_error("decompressing a cluster of"))?;
            let bytes = guard.blob(blob).map_err(zim_error("reading an article of"))?;
            String::from_utf8_lossy(bytes).into_owned()
        };
        // Progress in bytes is the share of articles read, as the file is read out of order.
        let now = per_article * (done as u64 + 1);
        progress.add_read(now - reported);
        reported = now;

        let Some(text) = lead_text(&html) else { continue };
        let mut hasher = DefaultHasher::new();
        text.hash(&mut hasher);
        if !seen.insert(hasher.finish()) {
            continue;
        }
        let entry = archive
            .get_by_url_index(index)
            .map_err(zim_error("reading an entry of"))?;
        let title = if entry.title.is_empty() {
            entry.url.replace('_', " ")
        } else {
            entry.title
        };
        sink(CorpusDoc {
            id: format!("{relative}:{}", entry.url),
            title,
            text,
            source: relative.to_string(),
            url: canonical_url(&html).unwrap_or(entry.url),
        })?;
    }
    progress.add_read(size.saturating_sub(reported));
    Ok(())
}

/// The largest character boundary of `text` at or below `at`: a byte limit that falls inside "é"
/// or "–" must not cut it (slicing there panics, and a panic hung `index build`).
fn char_floor(text: &str, at: usize) -> usize {
    let mut end = at.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// The page's `<link rel="canonical" href="...">`, which Kiwix keeps: a citation the user can open.
fn canonical_url(html: &str) -> Option<String> {
    let head = &html[..html.find("</head>").unwrap_or_else(|| char_floor(html, 4096))];
    let at = head.find("rel=\"canonical\"")?;
    let tag_start = head[..at].rfind('<')?;
    let tag = &head[tag_start..head[at..].find('>').map_or(head.len(), |end| at + end)];
    let href = tag.split("href=\"").nth(1)?.split('"').next()?;
    href.starts_with("http").then(|| href.to_string())
}

/// Elements whose text is not prose: reference marks ("[1]"), infoboxes, styles, formulas.
const SKIPPED: [&str; 7] = ["sup", "table", "style", "script", "figure", "math", "audio"];

/// The text of an article's lead: its paragraphs before the first section heading, without
/// reference marks, tables or styles. None when there is no prose (a redirect page, a list, a
/// disambiguation page).
pub(super) fn lead_text(html: &str) -> Option<String> {
    let body = html.find("<body").map_or(html, |at| &html[at..]);
    let mut lead = String::new();
    let mut paragraph = String::new();
    let mut in_paragraph = false;
    let mut skipping: Vec<&str> = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        if in_paragraph && skipping.is_empty() {
            paragraph.push_str(&rest[..open]);
        }
        let Some(close) = rest[open..].find('>') else { break };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(skipped) = SKIPPED.iter().find(|s| **s == name) {
            if closing {
                if let Some(at) = skipping.iter().rposition(|s| s == skipped) {
                    skipping.truncate(at);
                }
            } else if !tag.ends_with('/') {
                skipping.push(skipped);
            }
            continue;
        }
        match (name.as_str(), closing) {
            ("p", false) => {
                in_paragraph = true;
                paragraph.clear();
            }
            ("p", true) if in_paragraph => {
                in_paragraph = false;
                let text = squeeze(&html_escape::decode_html_entities(&paragraph));
                if !text.is_empty() {
                    if !lead.is_empty() {
                        lead.push(' ');
                    }
                    lead.push_str(&text);
                }
                if lead.len() >= MAX_LEAD_CHARS {
                    break;
                }
            }
            // The lead ends where the first section starts.
            ("h2", false) if !lead.is_empty() => break,
            _ => {}
        }
    }
    if lead.len() > MAX_LEAD_CHARS {
        let limit = char_floor(&lead, MAX_LEAD_CHARS);
        let cut = lead[..limit].rfind(". ").map_or(limit, |at| at + 1);
        let mut end = cut;
        while !lead.is_char_boundary(end) {
            end -= 1;
        }
        lead.truncate(end);
    }
    // A disambiguation page lists meanings; none of them is the answer.
    let listing = lead.trim_end().ends_with("refer to:") || lead.trim_end().ends_with("refers to:");
    (!lead.is_empty() && !listing).then_some(lead)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_limits_inside_a_character_do_not_panic() {
        // "é" across byte 2,000 of the lead, and across byte 4,096 of a page without </head>.
        let lead = format!(
            "<html><body><p>{}é and more text here.</p></body></html>",
            "a".repeat(1_999)
        );
        let text = lead_text(&lead).unwrap();
        assert!(
            text.len() <= MAX_LEAD_CHARS && text.starts_with("aaa"),
            "{}",
            text.len()
        );
        let page = format!(
            "<html><head>{}é<link rel=\"canonical\" href=\"https://x.org/a\">",
            "b".repeat(4_083)
        );
        assert_eq!(canonical_url(&page), None);
        assert_eq!(char_floor("aé", 2), 1);
        assert_eq!(char_floor("aé", 3), 3);
        assert_eq!(char_floor("aé", 99), 3);
    }

    #[test]
    fn the_lead_is_its_paragraphs_without_references_or_infobox() {
        let html = r#"<html><head><link rel="canonical" href="https://en.wikipedia.org/wiki/Ray_Charles"></head><body>
            <h1>Ray Charles</h1><p><b>Ray Charles Robinson</b> (September 23, 1930&nbsp;&#8211; June 10, 2004) was an
            American singer.<sup class="reference">[1]</sup></p>
            <table class="infobox"><tr><td><p>Born Albany</p></td></tr></table>
            <p>He pioneered <i>soul</i> music &amp; more.</p>
            <h2>Early life</h2><p>Charles was born in Albany.</p></body></html>"#;
        assert_eq!(
            lead_text(html).unwrap(),
            "Ray Charles Robinson (September 23, 1930 – June 10, 2004) was an American singer. He pioneered soul music & more."
        );
        assert_eq!(
            canonical_url(html).as_deref(),
            Some("https://en.wikipedia.org/wiki/Ray_Charles")
        );
        assert_eq!(
            lead_text("<body><p>Mercury may refer to:</p><ul><li>a planet</li></ul></body>"),
            None
        );
        assert_eq!(lead_text("<body><div>no prose</div></body>"), None);
    }

    #[test]
    fn reads_the_articles_of_a_real_kiwix_archive() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ingest/wikipedia_en_ray_charles.zim");
        let progress = Progress::default();
        let mut docs = Vec::new();
        read(&sample, "ray.zim", &progress, &mut |doc| {
            docs.push(doc);
            Ok(())
        })
        .unwrap();
        let ray = docs.iter().find(|d| d.title == "Ray Charles").unwrap();
        assert!(
            ray.text.starts_with("Ray Charles Robinson (September 23, 1930"),
            "{}",
            ray.text
        );
        assert!(!ray.text.contains("Background information"), "the infobox is left out");
        assert_eq!(ray.url, "https://en.wikipedia.org/wiki/Ray_Charles");
        // Scripts, styles, images and redirects are not articles.
        assert!(docs.iter().all(|d| !d.id.ends_with(".js") && !d.id.ends_with(".css")));
        assert!(!docs.iter().any(|d| d.title == "Ray Charles Robinson"));
        assert!(docs.len() > 20, "{} articles", docs.len());
        let leads: std::collections::HashSet<&str> = docs.iter().map(|d| d.text.as_str()).collect();
        assert_eq!(leads.len(), docs.len(), "a page stored once is indexed once");
        assert_eq!(progress.read_bytes(), std::fs::metadata(&sample).unwrap().len());
    }
}
