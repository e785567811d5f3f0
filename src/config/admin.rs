//! `[admin]`: the bearer token that opens `/dashboard` and `/admin/*`.

use serde::Serialize;

use super::{problem, raw::RawAdmin, Problem, Purpose};
use crate::redact::Secret;

/// Admin endpoints (`/dashboard`, `/admin/*`): off unless a token is configured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AdminConfig {
    pub token: Option<Secret<String>>,
}

pub(super) fn validate_admin(
    raw: &RawAdmin,
    env: &dyn Fn(&str) -> Option<String>,
    purpose: Purpose,
    problems: &mut Vec<Problem>,
) -> AdminConfig {
    match &raw.token_env {
        None => AdminConfig::default(),
        Some(_) if purpose == Purpose::Offline => AdminConfig::default(),
        Some(name) => match env(name) {
            Some(token) => match weak_token(&token) {
                None => AdminConfig {
                    token: Some(Secret::new(token)),
                },
                Some(why) => {
                    problems.push(problem(
                        "admin.token_env",
                        format!("the token in `{name}` {why}"),
                        "use a long random token, e.g. `openssl rand -hex 32`",
                    ));
                    AdminConfig::default()
                }
            },
            None => {
                problems.push(problem(
                    "admin.token_env",
                    format!("environment variable `{name}` is not set"),
                    format!("export {name}=<token>, or remove admin.token_env to keep admin endpoints off"),
                ));
                AdminConfig::default()
            }
        },
    }
}

/// Why an admin token is too weak to guard the admin surface, if it is.
fn weak_token(token: &str) -> Option<&'static str> {
    let distinct: std::collections::BTreeSet<char> = token.chars().collect();
    if token.chars().count() < 16 {
        Some("is shorter than 16 characters")
    } else if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        // A bearer token is read up to the first space, and surrounding blanks are trimmed.
        Some("contains spaces or control characters")
    } else if distinct.len() < 8 {
        Some("repeats too few characters (fewer than 8 distinct ones)")
    } else {
        None
    }
}
