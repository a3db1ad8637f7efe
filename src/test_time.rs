//! Test helper: times written as RFC 3339 text.

use chrono::{DateTime, Utc};

/// The instant `text` (RFC 3339) names; panics on bad text, as a test should.
#[allow(clippy::unwrap_used)]
pub(crate) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}
