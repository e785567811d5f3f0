//! What a command-line run can fail with. A command's own failures (a bad flag, an unreadable
//! input file, a closed stdout) never reach an HTTP client, so they stay out of [`crate::Error`],
//! whose every variant has a status and an OpenAI error body; the proxy's errors are wrapped.

use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The flags or the input do not make sense.
    #[error("{0}")]
    Usage(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Proxy(#[from] crate::Error),
}

impl CliError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        CliError::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether stdout was closed by its reader (`ecoroute … | head`), which is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        let io = match self {
            CliError::Io { source, .. } | CliError::Proxy(crate::Error::Io { source, .. }) => source,
            _ => return false,
        };
        io.kind() == std::io::ErrorKind::BrokenPipe
    }
}
