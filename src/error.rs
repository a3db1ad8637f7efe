//! Errors that carry their context and say whether trying again can help.

/// An error and its sources, joined by `: ` (the causes are where the useful detail is).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    message
}

/// Whether an operation that failed is worth repeating.
pub trait Retryable {
    /// True for throttling, server errors, timeouts and dropped connections.
    fn is_retryable(&self) -> bool;
}

/// Failures reading an input source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Reading (or inflating) failed after `line`.
    #[error("cannot read {source_name} at line {line}: {error}")]
    Read {
        /// The file or `s3://` object.
        source_name: String,
        /// The line being read.
        line: u64,
        /// What the reader said.
        #[source]
        error: std::io::Error,
    },
    /// The source could not be opened.
    #[error("cannot open {source_name}: {error}")]
    Open {
        /// The file or `s3://` object.
        source_name: String,
        /// What the reader said.
        #[source]
        error: std::io::Error,
    },
}

impl Retryable for SourceError {
    fn is_retryable(&self) -> bool {
        use std::io::ErrorKind::*;
        let kind = match self {
            SourceError::Read { error, .. } | SourceError::Open { error, .. } => error.kind(),
        };
        matches!(
            kind,
            TimedOut | ConnectionReset | ConnectionAborted | Interrupted | UnexpectedEof
        )
    }
}
