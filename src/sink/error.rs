//! What can go wrong delivering to Elasticsearch: a request ([`EsError`]), a whole batch
//! ([`BatchError`]), or the dead letter ([`DeadLetterError`]).

use std::time::Duration;

use crate::error::Retryable;

/// Failures of one request to Elasticsearch.
#[derive(Debug, thiserror::Error)]
pub enum EsError {
    /// No answer: connection refused, reset, timed out.
    #[error("cannot reach Elasticsearch at {url}: {source}")]
    Transport {
        /// The request's URL.
        url: String,
        /// What the HTTP client said.
        #[source]
        source: reqwest::Error,
    },
    /// An answer with a status that is not success.
    #[error("Elasticsearch {url} answered {status}: {body}")]
    Status {
        /// The request's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The beginning of the answer.
        body: String,
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// A success status with an answer that cannot be read.
    #[error("cannot read Elasticsearch's answer from {url}: {message}")]
    BadResponse {
        /// The request's URL.
        url: String,
        /// Why it cannot be read.
        message: String,
    },
    /// A success status with a body that is not a `_bulk` answer (empty, not JSON, or JSON
    /// without its fields): a load balancer's or proxy's page during maintenance, worth
    /// retrying; nothing is acknowledged until a real answer accounts for every item.
    #[error(
        "Elasticsearch {url} answered {status} with something that is not a _bulk answer: {excerpt}"
    )]
    NotBulkAnswer {
        /// The request's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The beginning of the body.
        excerpt: String,
    },
    /// The connection settings cannot work (no URL, a bad Cloud ID, an unreadable CA).
    #[error("Elasticsearch configuration: {0}")]
    Config(String),
    /// AWS credentials for SigV4 could not be had (the provider failed; worth retrying:
    /// instance metadata and the container endpoint have hiccups).
    #[error("cannot get AWS credentials to sign requests: {0}")]
    Credentials(String),
    /// A request could not be signed.
    #[error("cannot sign the request with SigV4: {0}")]
    Signing(String),
}

impl EsError {
    /// The server's `Retry-After`, when it answered with one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            EsError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl Retryable for EsError {
    fn is_retryable(&self) -> bool {
        match self {
            EsError::Transport { .. } | EsError::NotBulkAnswer { .. } | EsError::Credentials(_) => {
                true
            }
            EsError::Status { status, .. } => *status == 429 || *status >= 500,
            EsError::BadResponse { .. } | EsError::Config(_) | EsError::Signing(_) => false,
        }
    }
}

/// Why a batch was not (entirely) acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The body could not be gzip-compressed.
    #[error("cannot compress the bulk body: {0}")]
    Compress(#[source] std::io::Error),
    /// The answer does not account for every document sent.
    #[error("_bulk answered {answered} items for {sent} documents")]
    ItemCount {
        /// Items in the answer.
        answered: usize,
        /// Documents sent.
        sent: usize,
    },
    /// Items the cluster refused for now (429 or 5xx per item).
    #[error("{0}")]
    ItemsRefused(String),
    /// The request failed.
    #[error("{0}")]
    Request(#[from] EsError),
    /// Retried until the deadline.
    #[error(
        "gave up on {url} after {attempts} attempts: the deadline was reached; last error: {last}"
    )]
    DeadlineReached {
        /// The cluster.
        url: String,
        /// Requests sent.
        attempts: u32,
        /// The last failure.
        last: Box<BatchError>,
    },
    /// Writing the documents to standard output (a dry run) failed.
    #[error("cannot write the documents: {0}")]
    Output(#[source] std::io::Error),
    /// Rejected documents could not be stored in the dead letter.
    #[error("{count} rejected: {reason}; {source}")]
    DeadLetter {
        /// Documents rejected.
        count: usize,
        /// The first rejection's reason.
        reason: String,
        /// Why the dead letter failed.
        #[source]
        source: DeadLetterError,
    },
}

/// Failures of the dead letter (a rejected document could not be stored).
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The S3 `PutObject` failed.
    #[error("cannot write dead letter s3://{bucket}/{key}: {message}")]
    S3 {
        /// The dead-letter bucket.
        bucket: String,
        /// The object key written.
        key: String,
        /// What S3 said.
        message: String,
    },
    /// The local file could not be written.
    #[error("cannot write dead letter {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// Nowhere to put rejected documents.
    #[error("no dead letter is configured (DEAD_LETTER_BUCKET or DEAD_LETTER_DIR)")]
    NotConfigured,
}

impl Retryable for DeadLetterError {
    fn is_retryable(&self) -> bool {
        !matches!(self, DeadLetterError::NotConfigured)
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
        assert!(
            EsError::NotBulkAnswer {
                url: "http://es".into(),
                status: 200,
                excerpt: "<html>maintenance</html>".into(),
            }
            .is_retryable()
        );
    }
}
