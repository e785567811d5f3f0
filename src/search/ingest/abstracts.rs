//! The Wikipedia abstracts dump (`enwiki-latest-abstract.xml.gz`): one `<doc>` per article with
//! its title ("Wikipedia: Anarchism"), URL and first paragraph. Streamed with quick-xml, so a dump
//! of millions of articles is read in constant memory.

use std::io::BufRead;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::{squeeze, Bounded, Sink};
use crate::search::embedded::CorpusDoc;
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
                field = match tag.local_name().as_ref() {
                    b"doc" => {
                        title.clear();
                        url.clear();
                        text.clear();
                        None
                    }
                    b"title" => Some(Field::Title),
                    b"url" => Some(Field::Url),
                    b"abstract" => Some(Field::Abstract),
                    _ => None,
                };
            }
            Event::Text(content) => {
                if let Some(field) = field {
                    let content = content
                        .unescape()
                        .map_err(|e| Error::index_from(format!("{relative}: XML text at byte {position}"), e))?;
                    let held = match field {
                        Field::Title => &mut title,
                        Field::Url => &mut url,
                        Field::Abstract => &mut text,
                    };
                    held.push_str(&content);
                    // A field can come in many text events (split by comments or CDATA): what
                    // one document holds is one entry too.
                    if (held.len() as u64) > xml.get_ref().max_entry() {
                        return Err(Error::io(
                            format!("{relative}: XML text at byte {position}"),
                            xml.get_ref().entry_error(),
                        ));
                    }
                }
            }
            Event::End(tag) => {
                field = None;
                if tag.local_name().as_ref() == b"doc" {
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
        let mut docs = Vec::new();
        read(Limits::unbounded(dump.as_bytes()), "abstract.xml", &mut |doc| {
            docs.push(doc);
            Ok(())
        })
        .unwrap();
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
}
