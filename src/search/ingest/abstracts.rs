//! The Wikipedia abstracts dump (`enwiki-latest-abstract.xml.gz`): one `<doc>` per article with
//! its title ("Wikipedia: Anarchism"), URL and first paragraph. Streamed with quick-xml, so a dump
//! of millions of articles is read in constant memory.

use std::io::BufRead;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::CorpusDoc;
use super::{squeeze, Bounded, Sink};
use crate::Error;

/// Abstracts shorter than this are stubs or leftovers of templates, not an answer.
const MIN_ABSTRACT_CHARS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Title,
    Url,
    Abstract,
}

pub(super) fn read(reader: Bounded<impl BufRead>, relative: &str, sink: &mut Sink<'_>) -> Result<(), Error> {
    let mut xml = Reader::from_reader(reader);
    let mut buf = Vec::new();
    let (mut title, mut url, mut text) = (String::new(), String::new(), String::new());
    let mut field: Option<Field> = None;
    let mut docs = 0u64;
    loop {
        let position = xml.buffer_position();
        // quick-xml holds a whole text node or tag in `buf`: each is one entry of the limit.
        xml.get_mut().next_entry();
        let event = xml
            .read_event_into(&mut buf)
            .map_err(|e| Error::index_from(format!("{relative}: XML at byte {position}"), e))?;
        match event {
            Event::Start(tag) => {
                field = match tag.local_name().into_inner() {
                    "doc" => {
                        title.clear();
                        url.clear();
                        text.clear();
                        None
                    }
                    "title" => Some(Field::Title),
                    "url" => Some(Field::Url),
                    "abstract" => Some(Field::Abstract),
                    _ => None,
                };
            }
            // Since quick-xml 0.38 a text comes without its entities: `&amp;` or `&#8211;` is an
            // event of its own, resolved here as `unescape` did (the five XML ones and numbers).
            Event::Text(_) | Event::GeneralRef(_) if field.is_some() => {
                let content = match &event {
                    Event::Text(content) => content.xml10_content(),
                    Event::GeneralRef(reference) => {
                        let resolved = match reference.resolve_char_ref() {
                            Ok(Some(c)) => Some(String::from(c)),
                            Ok(None) => quick_xml::escape::resolve_predefined_entity(reference).map(String::from),
                            Err(_) => None,
                        };
                        let Some(resolved) = resolved else {
                            return Err(Error::index_from(
                                format!("{relative}: XML text at byte {position}"),
                                format!("unknown or invalid entity &{};", &**reference),
                            ));
                        };
                        resolved.into()
                    }
                    _ => continue,
                };
                let held = match field {
                    Some(Field::Title) => &mut title,
                    Some(Field::Url) => &mut url,
                    _ => &mut text,
                };
                held.push_str(&content);
                // A field can come in many text events (split by comments, CDATA or entities):
                // what one document holds is one entry too.
                if (held.len() as u64) > xml.get_ref().max_entry() {
                    return Err(Error::io(
                        format!("{relative}: XML text at byte {position}"),
                        xml.get_ref().entry_error(),
                    ));
                }
            }
            Event::End(tag) => {
                field = None;
                if tag.local_name().into_inner() == "doc" {
                    docs += 1;
                    let title = squeeze(title.trim().trim_start_matches("Wikipedia:"));
                    let text = squeeze(&text);
                    // Template leftovers ("| name = ...") and stubs are not prose.
                    let prose = text.len() >= MIN_ABSTRACT_CHARS && !text.starts_with(['|', '{', '}']);
                    if !title.is_empty() && prose {
                        sink(CorpusDoc {
                            id: format!("{relative}:{docs}"),
                            title,
                            text,
                            source: relative.to_string(),
                            url: url.trim().to_string(),
                            by_title: false,
                        })?;
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Limits;
    use super::*;

    /// Every document of an abstracts dump, read without limits.
    fn read_all(dump: &str) -> Vec<CorpusDoc> {
        let mut docs = Vec::new();
        read(Limits::unbounded(dump.as_bytes()), "abstract.xml", &mut |doc| {
            docs.push(doc);
            Ok(())
        })
        .unwrap();
        docs
    }

    #[test]
    fn reads_docs_and_skips_template_leftovers() {
        let dump = r#"<feed>
<doc>
<title>Wikipedia: Anarchism</title>
<url>https://en.wikipedia.org/wiki/Anarchism</url>
<abstract>Anarchism is a political philosophy &amp; movement that is sceptical of authority.</abstract>
<links>
<sublink linktype="nav"><anchor>Etymology</anchor><link>https://en.wikipedia.org/wiki/Anarchism#Etymology</link></sublink>
</links>
</doc>
<doc>
<title>Wikipedia: Stub</title>
<url>https://en.wikipedia.org/wiki/Stub</url>
<abstract>| name = Stub</abstract>
</doc>
</feed>"#;
        let docs = read_all(dump);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].title, "Anarchism");
        assert_eq!(docs[0].url, "https://en.wikipedia.org/wiki/Anarchism");
        assert_eq!(
            docs[0].text,
            "Anarchism is a political philosophy & movement that is sceptical of authority."
        );
        assert!(read(
            Limits::unbounded("<feed><doc><title>x</doc>".as_bytes()),
            "bad.xml",
            &mut |_| Ok(())
        )
        .is_err());
    }

    /// quick-xml 0.38 and later give entities as events of their own: they must still land in
    /// the text as `unescape` resolved them, and an unknown one must still be an error.
    #[test]
    fn entities_are_resolved_inside_the_text() {
        let dump = "<feed><doc><title>Wikipedia: AT&amp;T</title><url>https://x.org/a?b=1&amp;c=2</url>\
            <abstract>Dash &#8211; and hex &#x2014; and &lt;tag&gt; &quot;quoted&quot; &apos;s.</abstract></doc></feed>";
        let docs = read_all(dump);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].title, "AT&T");
        assert_eq!(docs[0].url, "https://x.org/a?b=1&c=2");
        assert_eq!(docs[0].text, "Dash \u{2013} and hex \u{2014} and <tag> \"quoted\" 's.");
        let unknown = "<feed><doc><title>A</title><abstract>An &nbsp; abstract long enough.</abstract></doc></feed>";
        let err = read(Limits::unbounded(unknown.as_bytes()), "abstract.xml", &mut |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("abstract.xml"), "{err}");
    }
}
