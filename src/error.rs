//! Errors that carry their context and say whether trying again can help.

use std::time::Duration;

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

/// Failures talking to Elasticsearch.
#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("cannot reach Elasticsearch at {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Elasticsearch {url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
        retry_after: Option<Duration>,
    },
    #[error("cannot read Elasticsearch's answer from {url}: {message}")]
    BadResponse { url: String, message: String },
    #[error("Elasticsearch configuration: {0}")]
    Config(String),
    #[error("gave up on {url} after {attempts} attempts: the deadline was reached")]
    DeadlineReached { url: String, attempts: u32 },
}

impl Retryable for EsError {
    fn is_retryable(&self) -> bool {
        match self {
            EsError::Transport { .. } => true,
            EsError::Status { status, .. } => *status == 429 || *status >= 500,
            EsError::BadResponse { .. } | EsError::Config(_) | EsError::DeadlineReached { .. } => {
                false
            }
        }
    }
}

/// Failures of the dead letter (a rejected document could not be stored).
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("cannot write dead letter s3://{bucket}/{key}: {message}")]
    S3 {
        bucket: String,
        key: String,
        message: String,
    },
    #[error("cannot write dead letter {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no dead letter is configured (DEAD_LETTER_BUCKET or DEAD_LETTER_DIR)")]
    NotConfigured,
}

impl Retryable for DeadLetterError {
    fn is_retryable(&self) -> bool {
        !matches!(self, DeadLetterError::NotConfigured)
    }
}

/// Failures reading an input source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {source_name} at line {line}: {error}")]
    Read {
        source_name: String,
        line: u64,
        #[source]
        error: std::io::Error,
    },
    #[error("cannot open {source_name}: {error}")]
    Open {
        source_name: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> EsError {
        EsError::Status {
            url: "http://es".into(),
            status,
            body: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn classification() {
        assert!(status(429).is_retryable());
        assert!(status(503).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!status(401).is_retryable());
        assert!(!EsError::Config("x".into()).is_retryable());
        assert!(!DeadLetterError::NotConfigured.is_retryable());
    }
}
