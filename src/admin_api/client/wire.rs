//! The Admin API's wire format (docs/cursor-admin-api.md): the page of events, its
//! pagination, the time window of a request, timestamps, and Cursor's error bodies.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Default `CURSOR_API_URL`.
pub const DEFAULT_API_URL: &str = "https://api.cursor.com";
/// The largest page the API serves.
pub const MAX_PAGE_SIZE: u32 = 500;
/// The longest range one request may ask for, and how far back the API serves events.
pub const RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(30);
/// A page's body is never read past this (500 events of 100 KiB each).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// One page of audit events. Events stay raw: the normalizer parses them (and turns a
/// malformed one into an error document instead of failing the page).
#[derive(Debug, Deserialize)]
pub struct AuditLogPage {
    /// The events, raw.
    pub events: Vec<Box<RawValue>>,
    #[serde(default)]
    /// Where this page stands.
    pub pagination: Pagination,
}

/// The `pagination` object.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// This page's number (1-based).
    pub page: Option<u32>,
    /// Events per page.
    pub page_size: Option<u32>,
    /// Events in the whole window.
    pub total_count: Option<u64>,
    /// Pages in the whole window.
    pub total_pages: Option<u32>,
    /// Whether another page follows.
    pub has_next_page: Option<bool>,
}

impl Pagination {
    /// Whether a page follows `page` (`hasNextPage`, else `totalPages`).
    pub fn has_next(&self, page: u32) -> bool {
        self.has_next_page
            .unwrap_or_else(|| self.total_pages.is_some_and(|total| page < total))
    }
}

/// A time range, both ends fixed while it is paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Window {
    /// The first instant (inclusive).
    pub start: DateTime<Utc>,
    /// The end (exclusive).
    pub end: DateTime<Utc>,
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", rfc3339(self.start), rfc3339(self.end))
    }
}

/// RFC 3339 UTC with milliseconds, as the API documents (`2026-05-04T15:30:00.000Z`).
pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Cursor's explanation in an error body: `message`, else `error`, else the text.
pub fn cursor_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        message: Option<String>,
        error: Option<String>,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            message: Some(message),
            ..
        }) => message,
        Ok(ErrorBody {
            error: Some(error), ..
        }) => error,
        _ => excerpt(body),
    }
}

pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(500)]);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".into()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_has_next_page_else_total_pages() {
        let explicit = Pagination {
            has_next_page: Some(false),
            total_pages: Some(9),
            ..Pagination::default()
        };
        assert!(!explicit.has_next(1));
        let by_total = Pagination {
            total_pages: Some(3),
            ..Pagination::default()
        };
        assert!(by_total.has_next(2));
        assert!(!by_total.has_next(3));
        assert!(!Pagination::default().has_next(1));
    }

    #[test]
    fn error_messages_come_from_the_body() {
        assert_eq!(
            cursor_message(br#"{"error":"Forbidden","message":"Enterprise access required"}"#),
            "Enterprise access required"
        );
        assert_eq!(cursor_message(br#"{"error":"Bad Request"}"#), "Bad Request");
        assert_eq!(cursor_message(b"<html>oops</html>"), "<html>oops</html>");
        assert_eq!(cursor_message(b""), "(empty body)");
    }
}
