//! The JSON Lines inputs the offline commands share: one reader, and the labelled queries and
//! questions with gold answers it reads.

use super::error::CliError;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Reads a JSON Lines file (blank lines skipped) into rows with their 1-based line numbers; a bad
/// line is an error naming the file and the line.
pub(crate) fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::io(format!("reading {}", path.display()), e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map(|row| (i + 1, row))
                .map_err(|e| CliError::Usage(format!("{} line {}: not JSON: {e}", path.display(), i + 1)))
        })
        .collect()
}

/// A row's gold class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Label {
    Lookup,
    Complex,
}

/// One labelled query.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Labelled {
    pub query: String,
    pub label: Label,
    #[serde(default)]
    pub source: Option<String>,
}

impl Labelled {
    pub(crate) fn is_lookup(&self) -> bool {
        self.label == Label::Lookup
    }
}

/// Reads labelled JSON Lines; a label other than lookup or complex is an error naming the line.
pub(crate) fn read_labelled(path: &Path) -> Result<Vec<Labelled>, CliError> {
    Ok(read_jsonl(path)?.into_iter().map(|(_, row)| row).collect())
}

/// A question with its gold answers.
#[derive(Deserialize)]
pub(crate) struct WithAnswers {
    pub query: String,
    /// A list of acceptable answers, or one answer.
    #[serde(deserialize_with = "one_or_many")]
    pub answers: Vec<String>,
    #[serde(default)]
    pub source: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Reads questions with gold answers; a row without any is an error naming the line.
pub(crate) fn read_with_answers(path: &Path) -> Result<Vec<WithAnswers>, CliError> {
    read_jsonl::<WithAnswers>(path)?
        .into_iter()
        .map(|(line, row)| {
            if row.answers.is_empty() {
                Err(CliError::Usage(format!(
                    "{} line {line}: `answers` is empty",
                    path.display()
                )))
            } else {
                Ok(row)
            }
        })
        .collect()
}
