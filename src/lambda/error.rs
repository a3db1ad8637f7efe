//! What a handler reports to the Lambda service (which then retries the invocation), with
//! an `errorType` that names the failing component.

use lambda_runtime::Diagnostic;

use crate::admin_api::PollError;
use crate::config::ConfigError;
use crate::s3::{ObjectError, ObjectsFailed};
use crate::shipping::ShipError;

/// Errors a handler reports to the Lambda service.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event is none of the shapes the functions handle.
    #[error("unsupported event: {0}")]
    UnknownEvent(String),
    /// Some objects of an S3 or EventBridge event were not fully forwarded.
    #[error("{0}")]
    ObjectsFailed(#[from] ObjectsFailed),
    /// The settings cannot build what the event needs.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The scheduled poll failed.
    #[error("poll failed (the checkpoint stays at the last acknowledged page): {0}")]
    PollFailed(PollError),
    /// Some teams' polls failed (the others completed); each is named with why.
    #[error(
        "poll failed for {failed} of {total} teams (their checkpoints stay at the last acknowledged page): {details}"
    )]
    TeamsFailed {
        /// How many failed.
        failed: usize,
        /// How many were polled.
        total: usize,
        /// `team NAME: why`, for each.
        details: String,
        /// The first failure's component (`errorType`).
        first: &'static str,
    },
    /// A replay cannot be run as asked.
    #[error("replay: {0}")]
    Replay(String),
}

/// The component a poll failure names.
pub(super) fn poll_error_type(error: &PollError) -> &'static str {
    match error {
        PollError::Api(_) => "CursorApi",
        PollError::Checkpoint(_) | PollError::LeaseTakenOver => "Checkpoint",
        PollError::Sink(_) | PollError::NotAcknowledged => "Elasticsearch",
        PollError::Task(_) => "Poll",
    }
}

impl HandlerError {
    /// The `errorType` the Lambda service records: which component failed.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::UnknownEvent(_) => "UnsupportedEvent",
            HandlerError::Config(_) => "Configuration",
            HandlerError::ObjectsFailed(failed) => match &failed.first_error {
                ObjectError::Progress(_) => "Checkpoint",
                ObjectError::Get(_) => "S3",
                ObjectError::Ship(ShipError::Source(_) | ShipError::ReaderStopped { .. }) => "S3",
                ObjectError::Ship(ShipError::DeadlineNear { .. }) => "Timeout",
                ObjectError::Ship(ShipError::Sink(_)) | ObjectError::Incomplete => "Elasticsearch",
            },
            HandlerError::PollFailed(error) => poll_error_type(error),
            HandlerError::TeamsFailed { first, .. } => first,
            HandlerError::Replay(_) => "Replay",
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Diagnostic {
        Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin_api::{CursorApiError, Window};
    use crate::sink::{BatchError, EsError};

    #[test]
    fn each_failure_names_its_component() {
        let unknown = Diagnostic::from(HandlerError::UnknownEvent("got 1".into()));
        assert_eq!(unknown.error_type, "UnsupportedEvent");
        assert_eq!(unknown.error_message, "unsupported event: got 1");
        let config = Diagnostic::from(HandlerError::Config(ConfigError::PollerNeedsTable));
        assert_eq!(config.error_type, "Configuration");
        assert!(config.error_message.starts_with("invalid configuration: "));
        let sink = HandlerError::ObjectsFailed(ObjectsFailed {
            failed: 1,
            total: 2,
            first_error: ObjectError::Ship(ShipError::Sink(BatchError::Request(EsError::Config(
                "x".into(),
            )))),
        });
        assert_eq!(Diagnostic::from(sink).error_type, "Elasticsearch");
        let window = Window {
            start: chrono::DateTime::UNIX_EPOCH,
            end: chrono::DateTime::UNIX_EPOCH,
        };
        let api = HandlerError::PollFailed(PollError::Api(CursorApiError::Rejected {
            window,
            page: 1,
            status: 400,
            message: "bad".into(),
        }));
        let diagnostic = Diagnostic::from(api);
        assert_eq!(diagnostic.error_type, "CursorApi");
        assert!(diagnostic.error_message.contains("(400): bad"));
    }
}
