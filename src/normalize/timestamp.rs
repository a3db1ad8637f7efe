//! ISO 8601 parsing and the `@timestamp` output format (UTC, exactly three fraction digits).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Parses the ISO 8601 forms Elasticsearch's `ISO8601` date format accepts in practice:
/// RFC 3339 (any number of fraction digits, `Z` or an offset), offsets without a colon,
/// and local date-times or plain dates, which are taken as UTC.
pub fn parse_iso8601(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(dt) = DateTime::parse_from_str(text, format) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    let local = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix('z'))
        .unwrap_or(text);
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(local, format) {
            return Some(naive.and_utc());
        }
    }
    NaiveDate::parse_from_str(local, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc())
}

/// Formats as `YYYY-MM-DDTHH:MM:SS.mmmZ` (fraction truncated to milliseconds).
pub fn format_millis(dt: &DateTime<Utc>) -> String {
    dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> Option<String> {
        parse_iso8601(text).map(|dt| format_millis(&dt))
    }

    #[test]
    fn keeps_millis_in_utc() {
        assert_eq!(
            norm("2026-05-04T11:14:58.922Z").as_deref(),
            Some("2026-05-04T11:14:58.922Z")
        );
    }

    #[test]
    fn pads_and_truncates_fraction() {
        assert_eq!(
            norm("2026-05-04T11:14:58Z").as_deref(),
            Some("2026-05-04T11:14:58.000Z")
        );
        assert_eq!(
            norm("2026-05-04T11:14:58.9229999Z").as_deref(),
            Some("2026-05-04T11:14:58.922Z")
        );
    }

    #[test]
    fn converts_offsets_to_utc() {
        assert_eq!(
            norm("2026-05-04T13:14:58.5+02:00").as_deref(),
            Some("2026-05-04T11:14:58.500Z")
        );
        assert_eq!(
            norm("2026-05-04T06:14:58-0500").as_deref(),
            Some("2026-05-04T11:14:58.000Z")
        );
        assert_eq!(
            norm("2026-01-01T00:30:00+01:00").as_deref(),
            Some("2025-12-31T23:30:00.000Z")
        );
    }

    #[test]
    fn local_times_and_dates_are_utc() {
        assert_eq!(
            norm("2026-05-04T11:14:58.100").as_deref(),
            Some("2026-05-04T11:14:58.100Z")
        );
        assert_eq!(
            norm("2026-05-04").as_deref(),
            Some("2026-05-04T00:00:00.000Z")
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "1777900000000",
            "2026-05-04T25:00:00Z",
        ] {
            assert_eq!(norm(bad), None, "{bad}");
        }
    }
}
