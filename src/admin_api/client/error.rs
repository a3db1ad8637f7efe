//! Failures of the Admin API client, with the window and page they concern.

use super::key::KeyError;
use super::wire::Window;
use crate::error::Retryable;

/// Failures of the Admin API.
#[derive(Debug, thiserror::Error)]
pub enum CursorApiError {
    /// A 4xx other than 401 and 429: fixing the request or the key's rights is needed.
    #[error("Cursor Admin API rejected {window} page {page} ({status}): {message}")]
    Rejected {
        /// The window asked for.
        window: Window,
        /// The page asked for.
        page: u32,
        /// The HTTP status.
        status: u16,
        /// Cursor's explanation.
        message: String,
    },
    /// 401, also after re-reading the key.
    #[error("Cursor Admin API: the API key was refused (401: {message}); {hint}")]
    Unauthorized {
        /// Cursor's explanation.
        message: String,
        /// Where to look.
        hint: String,
    },
    /// Retried (or paced) until the deadline.
    #[error(
        "Cursor Admin API {window} page {page}: gave up after {attempts} attempts because the deadline was reached; last problem: {last}"
    )]
    DeadlineReached {
        /// The window asked for.
        window: Window,
        /// The page asked for.
        page: u32,
        /// Requests sent.
        attempts: u32,
        /// The last problem, and the wait that would have passed the deadline.
        last: String,
    },
    /// A success status with a body that is not a page.
    #[error("Cursor Admin API {window} page {page}: unreadable answer: {message}")]
    BadResponse {
        /// The window asked for.
        window: Window,
        /// The page asked for.
        page: u32,
        /// What is wrong with it.
        message: String,
    },
    /// The key could not be had.
    #[error("Cursor API key: {0}")]
    Key(#[from] KeyError),
}

impl Retryable for CursorApiError {
    /// True when the next run may succeed without anyone changing anything.
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            CursorApiError::DeadlineReached { .. } | CursorApiError::Key(_)
        )
    }
}
