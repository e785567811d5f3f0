//! How settings are shown: secrets never, durations in milliseconds. The validated config derives
//! `Serialize` for `GET /admin/config` and `Debug` for logs, so a setting added to a settings type
//! shows up without a hand-kept copy to update, and a secret typed [`Secret`] cannot leak through
//! either.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

/// What a secret shows as, in `Debug` output and JSON.
const REDACTED: &str = "<redacted>";

/// A value that must not be printed: an API key, a token, a connection string with a password.
/// Read it with [`Secret::expose`], at the one place that sends it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    pub(crate) fn expose(&self) -> &T {
        &self.0
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Read from the config file as the plain value.
impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

impl<T> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// `serialize_with` helpers for types that are not `Serialize` themselves or that read better
/// in another unit.
pub(crate) mod ser {
    use super::*;

    pub(crate) fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(crate) fn opt_days<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        d.map(|d| d.as_secs() / 86_400).serialize(s)
    }

    /// Anything whose `Display` is its config spelling: addresses, header names, methods.
    pub(crate) fn display<T: fmt::Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub(crate) fn opt_regex<S: Serializer>(re: &Option<regex::Regex>, s: S) -> Result<S::Ok, S::Error> {
        re.as_ref().map(regex::Regex::as_str).serialize(s)
    }

    /// Header names only: values may be credentials.
    pub(crate) fn header_names<S: Serializer>(headers: &http::HeaderMap, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(headers.keys().map(http::HeaderName::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shows_as_redacted_in_debug_and_json() {
        let s = Secret::from("sk-very-secret");
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{REDACTED}\""));
        assert_eq!(s.expose(), "sk-very-secret");
    }
}
