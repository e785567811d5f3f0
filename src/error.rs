//! The error a request can meet, and its single, exhaustive mapping to an HTTP status and an
//! OpenAI-shaped error body (`{"error":{"message","type","param","code"}}`), so that every client
//! library's error handling works unchanged against the proxy. The command line's own failures
//! (bad flags, unreadable input files, a closed stdout) are [`crate::cli::CliError`], which wraps
//! this one; they never reach a client.
//!
//! Its axum response (status, body, `Retry-After` and the like) is written in `server/respond.rs`,
//! so this bottom module needs neither axum nor anything of the crate.
//!
//! Failures of a library below (tantivy, SQLite, PostgreSQL, a join) keep it as their `source()`,
//! and say it in their message, so a log line or `error:` line names the cause.

use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not parse the JSON body: {0}")]
    InvalidJson(String),
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<&'static str>,
    },
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    #[error("the request {what} did not arrive within {ms} ms")]
    ClientTimeout { what: &'static str, ms: u64 },
    #[error("admin token required")]
    Unauthorized,
    /// A request without a valid inbound key, when `[[keys]]` are configured.
    #[error("{0}")]
    InvalidApiKey(&'static str),
    /// Over a key's or a tenant's rate limit or budget (`code`: `rate_limit_exceeded` or
    /// `budget_exceeded`).
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_s: u64,
        code: &'static str,
    },
    #[error("too many failed admin logins from this address; retry in {retry_after_s} s")]
    TooManyAttempts { retry_after_s: u64 },
    #[error("the proxy is shutting down; retry on another instance")]
    ShuttingDown,
    #[error("the proxy is at its concurrency limit; retry shortly")]
    Overloaded,
    #[error("the upstream LLM could not be reached: {0}")]
    UpstreamUnavailable(String),
    #[error("the upstream LLM did not answer within {0} ms")]
    UpstreamTimeout(u64),
    #[error("not found: {0}")]
    NotFound(String),
    /// A request the proxy will not make for the client (a pass-through outside `llm.passthrough`).
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("internal error: {context}{}", cause(source))]
    Internal {
        context: String,
        #[source]
        source: Option<BoxError>,
    },
    /// A config refused, at start or on reload (`From<config::ConfigError>`, in the config module,
    /// so this bottom module imports nothing of the crate).
    #[error(transparent)]
    Config(ConfigFailure),
    #[error("search index error: {context}{}", cause(source))]
    Index {
        context: String,
        #[source]
        source: Option<BoxError>,
    },
    #[error("ledger error: {context}{}", cause(source))]
    Ledger {
        context: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The ledger file is not a healthy SQLite database (the writer moves it aside).
    #[error("ledger file is corrupt: {context}{}", cause(source))]
    LedgerCorrupt {
        context: String,
        #[source]
        source: Option<BoxError>,
    },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

/// A library's error, kept as the source of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn cause(source: &Option<BoxError>) -> String {
    source.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
}

impl Error {
    /// A failure with no library error below it.
    pub(crate) fn internal(context: impl Into<String>) -> Self {
        Error::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// `context` failed because of `source`.
    pub(crate) fn internal_from(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    pub(crate) fn index(context: impl Into<String>) -> Self {
        Error::Index {
            context: context.into(),
            source: None,
        }
    }

    pub(crate) fn index_from(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Index {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    pub(crate) fn ledger(context: impl Into<String>) -> Self {
        Error::Ledger {
            context: context.into(),
            source: None,
        }
    }

    pub(crate) fn ledger_from(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Ledger {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The HTTP status for this error; exhaustive so a new variant cannot be forgotten.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Error::InvalidJson(_) | Error::InvalidRequest { .. } | Error::BodyRead(_) => StatusCode::BAD_REQUEST,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::ClientTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Error::Unauthorized | Error::InvalidApiKey(_) => StatusCode::UNAUTHORIZED,
            Error::TooManyAttempts { .. } | Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Overloaded | Error::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            // The one way a config error reaches a client: `POST /admin/reload` with a bad file.
            Error::Config(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::UpstreamUnavailable(_) => StatusCode::BAD_GATEWAY,
            Error::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Internal { .. }
            | Error::Index { .. }
            | Error::Ledger { .. }
            | Error::LedgerCorrupt { .. }
            | Error::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// OpenAI's `error.type` vocabulary, which SDKs use to pick an exception class.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Error::InvalidJson(_)
            | Error::InvalidRequest { .. }
            | Error::BodyRead(_)
            | Error::ClientTimeout { .. }
            | Error::Unauthorized
            | Error::InvalidApiKey(_)
            | Error::PayloadTooLarge { .. } => "invalid_request_error",
            Error::TooManyAttempts { .. } | Error::RateLimited { .. } => "rate_limit_error",
            Error::Config(_) => "invalid_config",
            Error::ShuttingDown => "server_error",
            Error::NotFound(_) => "not_found_error",
            Error::Forbidden(_) => "permission_error",
            Error::Overloaded => "overloaded_error",
            Error::UpstreamUnavailable(_) | Error::UpstreamTimeout(_) => "upstream_error",
            Error::Internal { .. }
            | Error::Index { .. }
            | Error::Ledger { .. }
            | Error::LedgerCorrupt { .. }
            | Error::Io { .. } => "server_error",
        }
    }

    fn code(&self) -> Option<&'static str> {
        match self {
            Error::PayloadTooLarge { .. } => Some("request_too_large"),
            Error::UpstreamTimeout(_) => Some("upstream_timeout"),
            Error::UpstreamUnavailable(_) => Some("upstream_unavailable"),
            Error::Overloaded => Some("overloaded"),
            Error::ClientTimeout { .. } => Some("request_timeout"),
            Error::Unauthorized => Some("unauthorized"),
            // OpenAI's own code for a wrong key, which its SDKs map to AuthenticationError.
            Error::InvalidApiKey(_) => Some("invalid_api_key"),
            Error::RateLimited { code, .. } => Some(code),
            Error::TooManyAttempts { .. } => Some("too_many_attempts"),
            Error::ShuttingDown => Some("shutting_down"),
            Error::Config(_) => Some("config_invalid"),
            Error::Forbidden(_) => Some("passthrough_not_allowed"),
            _ => None,
        }
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            Error::InvalidRequest { param, .. } => *param,
            _ => None,
        }
    }

    /// The OpenAI error body. Internal details are not echoed for 5xx server errors.
    pub(crate) fn body(&self) -> serde_json::Value {
        let message = match self {
            Error::ShuttingDown => self.to_string(),
            Error::Config(_) => "config refused; the running config stays".to_string(),
            Error::Index { .. }
            | Error::Ledger { .. }
            | Error::LedgerCorrupt { .. }
            | Error::Io { .. }
            | Error::Internal { .. } => "internal server error".to_string(),
            other => other.to_string(),
        };
        let mut body = serde_json::json!({
            "error": {
                "message": message,
                "type": self.kind(),
                "param": self.param(),
                "code": self.code(),
            }
        });
        // A refused config lists every problem, each with its key and fix.
        if let Error::Config(e) = self {
            body["error"]["problems"] = serde_json::json!(e.problems);
        }
        body
    }
}

/// A refused config: its error, and each problem in words (with its key and fix) for the 422 body.
#[derive(Debug)]
pub struct ConfigFailure {
    pub problems: Vec<String>,
    pub error: BoxError,
}

impl std::fmt::Display for ConfigFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for ConfigFailure {
    // As `#[error(transparent)]` over the config's own error did: its cause, not itself.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Marks a response as an error the proxy wrote itself, with its OpenAI-shaped body, so the
/// stack can give it the shape of the API the request was sent to ([`crate::api::Api::error_body_of`]).
#[derive(Debug, Clone)]
pub(crate) struct ProxyError {
    pub status: u16,
    pub body: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;
    use http::header;

    use super::*;

    #[test]
    fn client_errors_keep_their_message_server_errors_do_not() {
        let e = Error::InvalidRequest {
            message: "`messages` is required".into(),
            param: Some("messages"),
        };
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.body()["error"]["message"], "`messages` is required");
        assert_eq!(e.body()["error"]["param"], "messages");
        let disk = std::io::Error::other("disk full at /secret/path");
        let e = Error::ledger_from("writing a batch", disk);
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.body()["error"]["message"], "internal server error");
        // The cause is kept, for logs and for callers that look below.
        assert!(e.to_string().contains("disk full"), "{e}");
        assert!(std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("disk full")));
    }

    #[test]
    fn upstream_failures_map_to_gateway_statuses() {
        assert_eq!(
            Error::UpstreamUnavailable("refused".into()).status(),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(Error::UpstreamTimeout(10).status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(
            Error::PayloadTooLarge { limit: 1 }.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn a_refused_config_is_a_422_listing_every_problem() {
        let e = Error::from(crate::config::ConfigError::Invalid {
            file: "c.toml".into(),
            problems: vec![crate::config::Problem {
                key: "classifier.lookup_threshold".into(),
                problem: "1.5 is outside 0.0..=1.0".into(),
                fix: "use a probability".into(),
            }],
        });
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = e.body();
        assert_eq!(body["error"]["code"], "config_invalid");
        assert!(body["error"]["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("classifier.lookup_threshold")));
    }

    #[test]
    fn overload_sets_retry_after() {
        let response = Error::Overloaded.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
