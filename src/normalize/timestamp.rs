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
    use chrono::{Datelike, Timelike};
    let year = dt.year();
    if !(0..=9999).contains(&year) {
        return dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    }
    let millis = dt.nanosecond() % 1_000_000_000 / 1_000_000;
    let mut out = String::with_capacity(24);
    for (value, width, separator) in [
        (year as u32, 4, '-'),
        (dt.month(), 2, '-'),
        (dt.day(), 2, 'T'),
        (dt.hour(), 2, ':'),
        (dt.minute(), 2, ':'),
        // chrono carries a leap second as nanoseconds past 1e9.
        (
            dt.second() + u32::from(dt.nanosecond() >= 1_000_000_000),
            2,
            '.',
        ),
        (millis, 3, 'Z'),
    ] {
        push_padded(&mut out, value, width);
        out.push(separator);
    }
    out
}

fn push_padded(out: &mut String, value: u32, width: u32) {
    let mut divisor = 10u32.pow(width - 1);
    while divisor > 0 {
        out.push(char::from(b'0' + (value / divisor % 10) as u8));
        divisor /= 10;
    }
}

/// Normalizes an ISO 8601 timestamp to the `@timestamp` format; `None` when unparseable.
/// The common case, text already in that exact format, is validated and reused as is.
pub fn normalize_timestamp(text: &str) -> Option<String> {
    if is_canonical(text) {
        return Some(text.to_owned());
    }
    parse_iso8601(text).map(|dt| format_millis(&dt))
}

/// True for a valid `YYYY-MM-DDTHH:MM:SS.mmmZ` timestamp.
fn is_canonical(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 24 {
        return false;
    }
    let shape_ok = b.iter().enumerate().all(|(i, &c)| match i {
        4 | 7 => c == b'-',
        10 => c == b'T',
        13 | 16 => c == b':',
        19 => c == b'.',
        23 => c == b'Z',
        _ => c.is_ascii_digit(),
    });
    if !shape_ok {
        return false;
    }
    let number = |range: std::ops::Range<usize>| {
        b[range]
            .iter()
            .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
    };
    NaiveDate::from_ymd_opt(number(0..4) as i32, number(5..7), number(8..10)).is_some()
        && number(11..13) < 24
        && number(14..16) < 60
        && number(17..19) < 60
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
    fn canonical_fast_path_agrees_with_the_parser() {
        for text in [
            "2026-05-04T11:14:58.922Z",
            "2024-02-29T00:00:00.000Z",
            "0001-01-01T23:59:59.999Z",
        ] {
            assert!(is_canonical(text), "{text}");
            assert_eq!(normalize_timestamp(text), norm(text));
        }
        for text in [
            "2026-02-30T11:14:58.922Z",
            "2026-05-04T24:00:00.000Z",
            "2026-05-04T11:60:00.000Z",
            "2026-05-04 11:14:58.922Z",
        ] {
            assert!(!is_canonical(text), "{text}");
        }
        assert_eq!(normalize_timestamp("2026-02-30T11:14:58.922Z"), None);
    }

    #[test]
    fn formats_like_strftime() {
        let dt = parse_iso8601("0987-06-05T04:03:02.001Z").unwrap();
        assert_eq!(
            format_millis(&dt),
            dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
        );
        let leap = parse_iso8601("2016-12-31T23:59:60.5Z");
        if let Some(leap) = leap {
            assert_eq!(
                format_millis(&leap),
                leap.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
            );
        }
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
