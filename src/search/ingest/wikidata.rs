//! The Wikidata JSON dump (`latest-all.json.gz`: a JSON array, one entity per line) or an API
//! answer (`wbgetentities`: `{"entities": {...}}`). Each item with an article in the chosen
//! language's Wikipedia becomes one document: its label, description and aliases, and the facts a
//! chatbot user asks about (capital, currency, author, birth and death, population...) written as
//! sentences, which is what the answer step extracts from.
//!
//! Facts name other items (Paris is the capital of Q142), so the file is read twice: the first
//! pass keeps the label of every item with an article (about 7 million for English, a few hundred
//! megabytes), the second writes the documents. Statements marked deprecated are left out, and a
//! property with preferred statements keeps only those, as Wikidata's own "truthy" dump does.
//! Only the parts of an entity used are parsed; the rest is skipped as raw JSON.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{BufRead, Read};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::CorpusDoc;
use super::{Bounded, IngestOptions, Sink};
use crate::Error;

/// Labels of the items with an article, by numeric id (Q90 → 90).
pub(super) type Labels = HashMap<u64, Box<str>>;

#[derive(Deserialize)]
struct Entity<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    labels: HashMap<Cow<'a, str>, &'a RawValue>,
    #[serde(default, borrow)]
    descriptions: HashMap<Cow<'a, str>, &'a RawValue>,
    #[serde(default, borrow)]
    aliases: HashMap<Cow<'a, str>, &'a RawValue>,
    #[serde(default, borrow)]
    sitelinks: HashMap<Cow<'a, str>, &'a RawValue>,
    #[serde(default, borrow)]
    claims: HashMap<Cow<'a, str>, &'a RawValue>,
}

#[derive(Deserialize)]
struct Term {
    value: String,
}

#[derive(Deserialize)]
struct Statement<'a> {
    #[serde(borrow)]
    mainsnak: Snak<'a>,
    #[serde(default)]
    rank: Cow<'a, str>,
    #[serde(default, borrow)]
    qualifiers: HashMap<Cow<'a, str>, Vec<Snak<'a>>>,
}

#[derive(Deserialize)]
struct Snak<'a> {
    #[serde(default, borrow)]
    datavalue: Option<DataValue<'a>>,
}

#[derive(Deserialize)]
struct DataValue<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    value: &'a RawValue,
}

#[derive(Deserialize)]
struct EntityId {
    #[serde(rename = "numeric-id")]
    numeric_id: u64,
}

#[derive(Deserialize)]
struct Time {
    time: String,
    precision: u8,
}

#[derive(Deserialize)]
struct Quantity {
    amount: String,
    #[serde(default)]
    unit: String,
}

/// A fact's value, ready to be written.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Item(u64),
    Date { text: String, sort: String },
    Amount(String),
    Text(String),
}

/// Runs `each` on every entity of the file: a dump line by line, or an API answer as a whole.
fn for_each_entity(
    mut reader: Bounded<impl BufRead>,
    relative: &str,
    mut each: impl FnMut(&Entity<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut line = String::new();
    let mut number = 0usize;
    loop {
        line.clear();
        reader.next_entry();
        let read = reader
            .read_line(&mut line)
            .map_err(|e| Error::io(format!("reading {relative} line {}", number + 1), e))?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        let trimmed = line.trim().trim_end_matches(',');
        if trimmed.is_empty() || trimmed == "[" || trimmed == "]" {
            continue;
        }
        if trimmed.starts_with("{\"entities\"") {
            // An API answer, written on one line or spread over many: held whole, so it is one
            // entry of the limit.
            let mut whole = line.clone();
            reader
                .read_to_string(&mut whole)
                .map_err(|e| Error::io(format!("reading {relative}"), e))?;
            #[derive(Deserialize)]
            struct Answer<'a> {
                #[serde(borrow)]
                entities: HashMap<Cow<'a, str>, &'a RawValue>,
            }
            let answer: Answer<'_> =
                serde_json::from_str(&whole).map_err(|e| Error::index(format!("{relative}: {e}")))?;
            let mut ids: Vec<_> = answer.entities.into_iter().collect();
            ids.sort_by(|a, b| a.0.cmp(&b.0));
            for (_, raw) in ids {
                // Ids the API did not find come back as {"id": "Q6", "missing": ""}.
                if let Ok(entity) = serde_json::from_str::<Entity<'_>>(raw.get()) {
                    each(&entity)?;
                }
            }
            return Ok(());
        }
        let entity: Entity<'_> =
            serde_json::from_str(trimmed).map_err(|e| Error::index(format!("{relative} line {number}: {e}")))?;
        each(&entity)?;
    }
}

fn term(map: &HashMap<Cow<'_, str>, &RawValue>, language: &str) -> Option<String> {
    let raw = map.get(language)?;
    serde_json::from_str::<Term>(raw.get())
        .ok()
        .map(|t| t.value.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn numeric_id(id: &str) -> Option<u64> {
    id.strip_prefix('Q')?.parse().ok()
}

/// An item worth a document: one with an article in the language's Wikipedia and a label in it.
fn notable(entity: &Entity<'_>, options: &IngestOptions) -> Option<(u64, String)> {
    let id = numeric_id(&entity.id)?;
    let site = format!("{}wiki", options.language.replace('-', "_"));
    if !entity.sitelinks.contains_key(site.as_str()) {
        return None;
    }
    Some((id, term(&entity.labels, &options.language)?))
}

/// The first pass: the label of every notable item, for the facts that name it.
pub(super) fn collect_labels(
    reader: Bounded<impl BufRead>,
    options: &IngestOptions,
    relative: &str,
) -> Result<Labels, Error> {
    let mut labels = Labels::new();
    for_each_entity(reader, relative, |entity| {
        if let Some((id, label)) = notable(entity, options) {
            labels.insert(id, label.into_boxed_str());
        }
        Ok(())
    })?;
    Ok(labels)
}

/// The second pass: one document per notable item.
pub(super) fn read(
    reader: Bounded<impl BufRead>,
    options: &IngestOptions,
    labels: &Labels,
    relative: &str,
    sink: &mut Sink<'_>,
) -> Result<(), Error> {
    for_each_entity(reader, relative, |entity| {
        let Some((_, label)) = notable(entity, options) else {
            return Ok(());
        };
        let text = describe(entity, &label, options, labels);
        if text.is_empty() {
            return Ok(());
        }
        sink(CorpusDoc {
            id: format!("wikidata:{}", entity.id),
            title: label,
            text,
            source: relative.to_string(),
            url: format!("https://www.wikidata.org/wiki/{}", entity.id),
            by_title: false,
        })
    })
}

/// The values of a property, best rank first as Wikidata's "truthy" statements: preferred if any,
/// else normal; never deprecated.
fn values(entity: &Entity<'_>, property: &str) -> Vec<(Value, Option<Value>)> {
    let Some(raw) = entity.claims.get(property) else {
        return Vec::new();
    };
    let Ok(statements) = serde_json::from_str::<Vec<Statement<'_>>>(raw.get()) else {
        return Vec::new();
    };
    let preferred = statements.iter().any(|s| s.rank == "preferred");
    statements
        .iter()
        .filter(|s| s.rank != "deprecated" && (!preferred || s.rank == "preferred"))
        .filter_map(|s| {
            let value = value_of(s.mainsnak.datavalue.as_ref()?)?;
            // "point in time" says when a population was counted.
            let when = s
                .qualifiers
                .get("P585")
                .and_then(|snaks| snaks.first())
                .and_then(|snak| value_of(snak.datavalue.as_ref()?));
            Some((value, when))
        })
        .collect()
}

fn value_of(data: &DataValue<'_>) -> Option<Value> {
    match data.kind.as_ref() {
        "wikibase-entityid" => serde_json::from_str::<EntityId>(data.value.get())
            .ok()
            .map(|e| Value::Item(e.numeric_id)),
        "time" => {
            let time: Time = serde_json::from_str(data.value.get()).ok()?;
            Some(Value::Date {
                text: date(&time.time, time.precision)?,
                sort: time.time,
            })
        }
        "quantity" => {
            let quantity: Quantity = serde_json::from_str(data.value.get()).ok()?;
            amount(&quantity.amount, &quantity.unit).map(Value::Amount)
        }
        "string" | "monolingualtext" => {
            #[derive(Deserialize)]
            struct Monolingual {
                text: String,
            }
            serde_json::from_str::<String>(data.value.get())
                .ok()
                .or_else(|| {
                    serde_json::from_str::<Monolingual>(data.value.get())
                        .ok()
                        .map(|m| m.text)
                })
                .map(Value::Text)
        }
        _ => None,
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// "+1952-03-11T00:00:00Z" at day precision → "11 March 1952"; coarser precisions say less
/// ("March 1952", "1952", "1950s"); "-0753-..." → "753 BC". None when vaguer than a decade.
fn date(time: &str, precision: u8) -> Option<String> {
    let bc = time.starts_with('-');
    let body = time.trim_start_matches(['+', '-']);
    let mut parts = body.split(['-', 'T']);
    let year: u64 = parts.next()?.parse().ok()?;
    let month: usize = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let era = if bc { " BC" } else { "" };
    match precision {
        11.. if (1..=12).contains(&month) && day > 0 => Some(format!("{day} {} {year}{era}", MONTHS[month - 1])),
        10.. if (1..=12).contains(&month) => Some(format!("{} {year}{era}", MONTHS[month - 1])),
        9.. => Some(format!("{year}{era}")),
        8 => Some(format!("{}0s{era}", year / 10)),
        _ => None,
    }
}

/// The units facts are stated in, by Wikidata item.
const UNITS: [(&str, &str); 9] = [
    ("Q712226", "square kilometres"),
    ("Q25343", "square metres"),
    ("Q11573", "metres"),
    ("Q828224", "kilometres"),
    ("Q3710", "feet"),
    ("Q11570", "kilograms"),
    ("Q41803", "grams"),
    ("Q11579", "kelvin"),
    ("Q25267", "degrees Celsius"),
];

/// "+67081000" with no unit → "67,081,000"; with a known unit, the unit follows. None for a unit
/// not known, rather than a number that reads wrong.
fn amount(raw: &str, unit: &str) -> Option<String> {
    let number = raw.trim_start_matches('+');
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let (sign, digits) = whole.strip_prefix('-').map_or(("", whole), |d| ("-", d));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let fraction = fraction.trim_end_matches('0');
    let number = if fraction.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{fraction}")
    };
    if unit.is_empty() || unit == "1" {
        return Some(number);
    }
    let item = unit.rsplit('/').next()?;
    let name = UNITS.iter().find(|(id, _)| *id == item)?.1;
    Some(format!("{number} {name}"))
}

/// Names listed as people write them: "A", "A and B", "A, B and C".
fn listed(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// At most this many values of one fact: a country with forty official languages is better
/// answered by the LLM than by a sentence listing them.
const MAX_VALUES: usize = 4;

/// The facts people ask about and the sentence each is written as; `{}` is the item's label and
/// `{v}` the values. Heads of state and government, and CEOs, are left out on purpose: they change,
/// and a stale answer is a wrong one.
const ITEM_FACTS: [(&str, &str); 16] = [
    ("P36", "The capital of {} is {v}."),
    ("P1376", "{} is the capital of {v}."),
    ("P38", "The currency of {} is the {v}."),
    ("P37", "The official language of {} is {v}."),
    ("P50", "{} was written by {v}."),
    ("P57", "{} was directed by {v}."),
    ("P86", "{} was composed by {v}."),
    ("P170", "{} was created by {v}."),
    ("P175", "{} was performed by {v}."),
    ("P84", "{} was designed by {v}."),
    ("P61", "{} was discovered or invented by {v}."),
    ("P112", "{} was founded by {v}."),
    ("P138", "{} is named after {v}."),
    ("P131", "{} is located in {v}."),
    ("P30", "{} is on the continent of {v}."),
    ("P17", "{} is in {v}."),
];

const LITERAL_FACTS: [(&str, &str); 6] = [
    ("P577", "{} was published in {v}."),
    ("P2046", "{} has an area of {v}."),
    ("P2044", "{} is {v} above sea level."),
    ("P2048", "{} is {v} tall."),
    ("P246", "The chemical symbol of {} is {v}."),
    ("P1086", "The atomic number of {} is {v}."),
];

/// The item as sentences: what it is, what else it is called, and its facts.
fn describe(entity: &Entity<'_>, label: &str, options: &IngestOptions, labels: &Labels) -> String {
    let mut sentences = Vec::new();
    if let Some(description) = term(&entity.descriptions, &options.language) {
        sentences.push(format!("{label}: {description}."));
    }
    let aliases: Vec<String> = entity
        .aliases
        .get(options.language.as_str())
        .and_then(|raw| serde_json::from_str::<Vec<Term>>(raw.get()).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.value)
        .filter(|a| a != label)
        .take(8)
        .collect();
    if !aliases.is_empty() {
        sentences.push(format!("{label} is also called {}.", listed(&aliases)));
    }
    let texts = |property: &str| -> Vec<String> {
        values(entity, property)
            .into_iter()
            .filter_map(|(value, _)| match value {
                Value::Item(id) => labels.get(&id).map(|l| l.to_string()),
                Value::Date { text, .. } | Value::Amount(text) | Value::Text(text) => Some(text),
            })
            .collect()
    };
    let first_date = |property: &str| {
        values(entity, property).into_iter().find_map(|(value, _)| match value {
            Value::Date { text, .. } => Some(text),
            _ => None,
        })
    };
    for (verb, date_property, place_property) in [("was born", "P569", "P19"), ("died", "P570", "P20")] {
        let when = first_date(date_property);
        let place = texts(place_property).into_iter().next();
        match (when, place) {
            (Some(when), Some(place)) => sentences.push(format!("{label} {verb} on {when} in {place}.")),
            (Some(when), None) => sentences.push(format!("{label} {verb} on {when}.")),
            (None, Some(place)) => sentences.push(format!("{label} {verb} in {place}.")),
            (None, None) => {}
        }
    }
    let mut is_a_work = false;
    for (property, template) in ITEM_FACTS {
        let names = texts(property);
        if names.is_empty() || names.len() > MAX_VALUES {
            continue;
        }
        is_a_work |= ["P50", "P57", "P86", "P170", "P175"].contains(&property);
        sentences.push(template.replace("{v}", &listed(&names)).replace("{}", label));
    }
    if let Some(when) = first_date("P571") {
        let verb = if is_a_work { "created" } else { "founded" };
        sentences.push(format!("{label} was {verb} in {when}."));
    }
    for (property, template) in LITERAL_FACTS {
        if let Some(value) = texts(property).into_iter().next() {
            sentences.push(template.replace("{v}", &value).replace("{}", label));
        }
    }
    // The latest count, with its year: a population is only true as of a date.
    let latest_population = values(entity, "P1082")
        .into_iter()
        .filter_map(|(value, when)| match (value, when) {
            (Value::Amount(count), Some(Value::Date { text, sort })) => Some((sort, count, text)),
            _ => None,
        })
        .max_by(|a, b| a.0.cmp(&b.0));
    if let Some((_, count, year)) = latest_population {
        sentences.push(format!("The population of {label} was {count} in {year}."));
    }
    sentences.join(" ")
}

#[cfg(test)]
mod tests {
    use super::super::Limits;
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/ingest")
            .join(name)
    }

    fn documents(text: &str, options: &IngestOptions) -> Vec<CorpusDoc> {
        let labels = collect_labels(Limits::unbounded(text.as_bytes()), options, "dump.json").unwrap();
        let mut docs = Vec::new();
        read(
            Limits::unbounded(text.as_bytes()),
            options,
            &labels,
            "dump.json",
            &mut |doc| {
                docs.push(doc);
                Ok(())
            },
        )
        .unwrap();
        docs
    }

    #[test]
    fn dates_amounts_and_lists_read_as_people_write_them() {
        assert_eq!(
            date("+00000001952-03-11T00:00:00Z", 11).as_deref(),
            Some("11 March 1952")
        );
        assert_eq!(date("+1952-03-00T00:00:00Z", 10).as_deref(), Some("March 1952"));
        assert_eq!(date("+1952-00-00T00:00:00Z", 9).as_deref(), Some("1952"));
        assert_eq!(date("-0753-04-21T00:00:00Z", 9).as_deref(), Some("753 BC"));
        assert_eq!(date("+1950-00-00T00:00:00Z", 8).as_deref(), Some("1950s"));
        assert_eq!(date("+1900-00-00T00:00:00Z", 7), None);
        assert_eq!(amount("+67081000", "1").as_deref(), Some("67,081,000"));
        assert_eq!(
            amount("+643801.50", "http://www.wikidata.org/entity/Q712226").as_deref(),
            Some("643,801.5 square kilometres")
        );
        assert_eq!(amount("+12", "http://www.wikidata.org/entity/Q999999"), None);
        assert_eq!(listed(&["A".into(), "B".into(), "C".into()]), "A, B and C");
    }

    #[test]
    fn a_dump_becomes_sentences_with_the_labels_of_the_items_named() {
        let dump = r#"[
{"type":"item","id":"Q142","labels":{"en":{"language":"en","value":"France"}},"descriptions":{"en":{"language":"en","value":"country in Western Europe"}},"aliases":{"en":[{"language":"en","value":"French Republic"}]},"sitelinks":{"enwiki":{"site":"enwiki","title":"France"}},"claims":{"P36":[{"rank":"normal","mainsnak":{"snaktype":"value","property":"P36","datavalue":{"type":"wikibase-entityid","value":{"entity-type":"item","numeric-id":90}}}}],"P38":[{"rank":"deprecated","mainsnak":{"snaktype":"value","datavalue":{"type":"wikibase-entityid","value":{"entity-type":"item","numeric-id":4916}}}},{"rank":"normal","mainsnak":{"snaktype":"value","datavalue":{"type":"wikibase-entityid","value":{"entity-type":"item","numeric-id":4917}}}}],"P1082":[{"rank":"normal","mainsnak":{"datavalue":{"type":"quantity","value":{"amount":"+66000000","unit":"1"}}},"qualifiers":{"P585":[{"datavalue":{"type":"time","value":{"time":"+2020-00-00T00:00:00Z","precision":9}}}]}},{"rank":"normal","mainsnak":{"datavalue":{"type":"quantity","value":{"amount":"+68000000","unit":"1"}}},"qualifiers":{"P585":[{"datavalue":{"type":"time","value":{"time":"+2024-00-00T00:00:00Z","precision":9}}}]}}]}},
{"type":"item","id":"Q90","labels":{"en":{"language":"en","value":"Paris"}},"sitelinks":{"enwiki":{"site":"enwiki","title":"Paris"}},"claims":{}},
{"type":"item","id":"Q4917","labels":{"en":{"language":"en","value":"euro"}},"sitelinks":{"enwiki":{"site":"enwiki","title":"Euro"}},"claims":{}},
{"type":"item","id":"Q4916","labels":{"en":{"language":"en","value":"French franc"}},"sitelinks":{"enwiki":{"site":"enwiki","title":"French franc"}},"claims":{}},
{"type":"item","id":"Q1","labels":{"en":{"language":"en","value":"No article"}},"sitelinks":{"frwiki":{"site":"frwiki","title":"X"}},"claims":{}},
{"type":"property","id":"P36","labels":{"en":{"language":"en","value":"capital"}},"claims":{}}
]"#;
        let docs = documents(dump, &IngestOptions::default());
        let france = &docs[0];
        assert_eq!(france.title, "France");
        assert_eq!(france.url, "https://www.wikidata.org/wiki/Q142");
        assert_eq!(
            france.text,
            "France: country in Western Europe. France is also called French Republic. \
             The capital of France is Paris. The currency of France is the euro. \
             The population of France was 68,000,000 in 2024."
        );
        // Items without an article, and properties, make no document; items without facts still
        // say their name.
        let titles: Vec<&str> = docs.iter().map(|d| d.title.as_str()).collect();
        assert_eq!(titles, ["France"], "items with a label only have nothing to say");
    }

    #[test]
    fn reads_a_real_api_answer_and_the_real_dump_layout() {
        let answer = std::fs::read_to_string(fixture("wikidata-Q42.json")).unwrap();
        let docs = documents(&answer, &IngestOptions::default());
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].title, "Douglas Adams");
        assert!(
            docs[0].text.starts_with(
                "Douglas Adams: English writer and humorist. Douglas Adams is also called Douglas Noël Adams and Douglas Noel Adams. \
                 Douglas Adams was born on 11 March 1952."
            ),
            "{}",
            docs[0].text
        );
        assert!(docs[0].text.contains("Douglas Adams died on 11 May 2001."));

        // The Wikidata Toolkit's mock dump: the real layout (an array, one entity per line, items
        // and properties), labels in German only, so no English document comes of it.
        let dump = std::fs::read_to_string(fixture("wikidata-mock-dump.json")).unwrap();
        let mut entities = 0;
        for_each_entity(Limits::unbounded(dump.as_bytes()), "dump.json", |_| {
            entities += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(entities, 101);
        assert!(documents(&dump, &IngestOptions::default()).is_empty());
        assert!(for_each_entity(
            Limits::unbounded("[\n{\"id\": 1}\n]".as_bytes()),
            "bad.json",
            |_| Ok(())
        )
        .is_err());
    }
}
