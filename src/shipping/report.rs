//! What shipping one source achieved ([`SourceReport`]) and why it stopped short
//! ([`ShipError`]).

use super::newest::NewestTimestamp;
use crate::error::{Retryable, SourceError};
use crate::sink::{BatchError, Counts};

/// Why a source was not completely shipped.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    /// Reading or inflating the source failed (what was read before is shipped).
    #[error("{0}")]
    Source(#[from] SourceError),
    /// The sink did not acknowledge a batch.
    #[error("{0}")]
    Sink(#[from] BatchError),
    /// The invocation's deadline came before the source's end.
    #[error("stopped before line {line}: the invocation deadline is near")]
    DeadlineNear {
        /// The first line not shipped.
        line: u64,
    },
    /// The reading thread ended abnormally.
    #[error("reading {source_name} stopped: {message}")]
    ReaderStopped {
        /// The source.
        source_name: String,
        /// What the thread's end said.
        message: String,
    },
}

impl Retryable for ShipError {
    fn is_retryable(&self) -> bool {
        match self {
            ShipError::Source(err) => err.is_retryable(),
            ShipError::Sink(_) | ShipError::DeadlineNear { .. } => true,
            ShipError::ReaderStopped { .. } => false,
        }
    }
}

/// What shipping one source achieved.
#[derive(Debug, Default)]
pub struct SourceReport {
    /// What was read and delivered.
    pub counts: Counts,
    /// Every line up to and including this one is acknowledged.
    pub acknowledged_through_line: u64,
    /// True when the source was read to its end and everything is acknowledged.
    pub complete: bool,
    /// Why not complete.
    pub error: Option<ShipError>,
    /// The newest `@timestamp` acknowledged.
    pub newest: NewestTimestamp,
}
