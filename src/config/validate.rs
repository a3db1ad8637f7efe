//! The rules settings must follow, checked as they are parsed so that a mistaken value stops
//! the command at start (exit 2, or a failed Lambda init) with a message naming the rule,
//! instead of misrouting requests or panicking later.

use std::net::IpAddr;

use chrono::TimeDelta;

use super::parse::parse_duration;

/// `logs-cursor.audit-` is 18 bytes; index names are at most 255.
const NAMESPACE_MAX_BYTES: usize = 255 - "logs-cursor.audit-".len();
/// Characters Elasticsearch forbids in index and data stream names.
const FORBIDDEN_IN_NAMES: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ',', '#', ':', ' '];

/// `DATA_STREAM_NAMESPACE`: Elasticsearch's data stream name rules (lowercase; none of
/// `\ / * ? " < > | , # :` or space; no leading `-`, `_` or `+`; the whole index name at most
/// 255 bytes; not empty).
pub fn parse_namespace(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("DATA_STREAM_NAMESPACE is empty".into());
    }
    if text.len() > NAMESPACE_MAX_BYTES {
        return Err(format!(
            "DATA_STREAM_NAMESPACE is {} bytes; at most {NAMESPACE_MAX_BYTES} fit an index name",
            text.len()
        ));
    }
    if text.chars().any(|c| c.is_uppercase()) {
        return Err("DATA_STREAM_NAMESPACE must be lowercase".into());
    }
    if let Some(c) = text
        .chars()
        .find(|c| FORBIDDEN_IN_NAMES.contains(c) || c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "DATA_STREAM_NAMESPACE must not contain {c:?} (nor any of \\ / * ? \" < > | , # : or white space)"
        ));
    }
    if text.starts_with(['-', '_', '+']) {
        return Err("DATA_STREAM_NAMESPACE must not start with '-', '_' or '+'".into());
    }
    Ok(text.to_owned())
}

/// `ES_PIPELINE`: an ingest pipeline id (sent URL-encoded); empty means none. At most 512
/// bytes, no white space or control characters.
pub fn parse_pipeline(text: &str) -> Result<String, String> {
    if text.len() > 512 {
        return Err("ES_PIPELINE is longer than 512 bytes".into());
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("ES_PIPELINE must not contain white space or control characters".into());
    }
    Ok(text.to_owned())
}

/// True for `localhost` and loopback addresses (tests and local emulators).
fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// `CURSOR_API_URL`: an `https` base URL without query or fragment (plain `http` only to a
/// loopback address, for tests: the admin key must never travel in clear text).
pub fn parse_cursor_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|err| format!("CURSOR_API_URL is not a URL: {err}"))?;
    let host = url.host().ok_or("CURSOR_API_URL has no host")?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => {
            return Err("plain http would send the admin key in clear text: use https".into());
        }
        other => return Err(format!("CURSOR_API_URL must be https, not {other}://")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("CURSOR_API_URL must not have a query or a fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "CURSOR_API_URL must not carry credentials (use CURSOR_API_KEY_SECRET_ARN)".into(),
        );
    }
    Ok(text.to_owned())
}

/// A duration between `min` and `max` (both inclusive).
fn bounded(text: &str, min: TimeDelta, max: TimeDelta, what: &str) -> Result<TimeDelta, String> {
    let value = parse_duration(text).map_err(|err| format!("{what}: {err}"))?;
    if value < min || value > max {
        return Err(format!(
            "{what} must be between {} and {} seconds",
            min.num_seconds(),
            max.num_seconds()
        ));
    }
    Ok(value)
}

/// `WEBHOOK_ARCHIVE_URI`: `s3://bucket/` or `s3://bucket/prefix/` (a missing final `/` is
/// added: the archive is a prefix, its objects `YYYY/MM/DD/<unique>.jsonl.gz` under it).
pub fn parse_archive_uri(text: &str) -> Result<crate::aws::S3Location, String> {
    let mut location = crate::aws::S3Location::parse(text.trim())
        .ok_or("WEBHOOK_ARCHIVE_URI must be s3://bucket/prefix/")?;
    if !location.is_prefix() {
        location.key.push('/');
    }
    if location.key.starts_with('/') || location.key.contains("//") {
        return Err("WEBHOOK_ARCHIVE_URI must not contain an empty path segment".into());
    }
    Ok(location)
}

/// A parser for a whole number (seconds, bytes, a count) from `min` to `max` (both
/// inclusive), named `name` in its messages: the one range check of every numeric setting.
pub fn between<T>(
    name: &'static str,
    min: T,
    max: T,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |text| match text.trim().parse::<T>() {
        Ok(value) if min <= value && value <= max => Ok(value),
        _ => Err(format!("{name} must be a whole number from {min} to {max}")),
    }
}

/// `CURSOR_INITIAL_LOOKBACK`: up to ten years (anything past 30 days means "all there is").
pub fn parse_lookback(text: &str) -> Result<TimeDelta, String> {
    bounded(
        text,
        TimeDelta::zero(),
        TimeDelta::days(3650),
        "CURSOR_INITIAL_LOOKBACK",
    )
}

/// `CURSOR_OVERLAP`: up to 7 days.
pub fn parse_overlap(text: &str) -> Result<TimeDelta, String> {
    bounded(
        text,
        TimeDelta::zero(),
        TimeDelta::days(7),
        "CURSOR_OVERLAP",
    )
}

/// `CURSOR_MAX_WINDOW`: 1 minute to 30 days.
pub fn parse_max_window(text: &str) -> Result<TimeDelta, String> {
    bounded(
        text,
        TimeDelta::minutes(1),
        TimeDelta::days(30),
        "CURSOR_MAX_WINDOW",
    )
}

/// `CURSOR_POLL_INTERVAL`: 1 second to 7 days.
pub fn parse_poll_interval(text: &str) -> Result<TimeDelta, String> {
    bounded(
        text,
        TimeDelta::seconds(1),
        TimeDelta::days(7),
        "CURSOR_POLL_INTERVAL",
    )
}

/// `GEOIP_REFRESH`: 1 second to 7 days.
pub fn parse_geoip_refresh(text: &str) -> Result<TimeDelta, String> {
    bounded(
        text,
        TimeDelta::seconds(1),
        TimeDelta::days(7),
        "GEOIP_REFRESH",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_uris_are_prefixes() {
        assert_eq!(parse_archive_uri("s3://b/hooks").unwrap().key, "hooks/");
        assert_eq!(parse_archive_uri("s3://b").unwrap().key, "");
        assert_eq!(parse_archive_uri("s3://b/a/b/").unwrap().key, "a/b/");
        assert!(parse_archive_uri("/tmp/x").is_err());
        assert!(parse_archive_uri("s3://b//x/").is_err());
    }

    #[test]
    fn namespaces_follow_the_data_stream_rules() {
        assert_eq!(parse_namespace("prod-eu_1").unwrap(), "prod-eu_1");
        for bad in [
            "",
            "Prod",
            "x/../../_security/role/evil",
            "a#b",
            "a b",
            "-x",
            "_x",
            "+x",
            "a:b",
            "a*",
            "a\nb",
        ] {
            assert!(parse_namespace(bad).is_err(), "{bad:?}");
        }
        assert!(parse_namespace(&"a".repeat(237)).is_ok());
        assert!(parse_namespace(&"a".repeat(238)).is_err());
    }

    #[test]
    fn pipelines_and_cursor_urls() {
        assert!(parse_pipeline("logs-cursor.audit-1.2.0").is_ok());
        assert!(parse_pipeline("p&refresh=wait_for").is_ok(), "sent encoded");
        assert_eq!(parse_pipeline("").unwrap(), "", "empty: no pipeline");
        assert!(parse_pipeline("a b").is_err());
        assert!(parse_cursor_url("https://api.cursor.com").is_ok());
        assert!(parse_cursor_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_cursor_url("http://localhost:8080/").is_ok());
        for bad in [
            "not a url",
            "ftp://api.cursor.com",
            "http://api.cursor.com",
            "http://h?a=",
            "https://h/#x",
            "https://user:pw@api.cursor.com",
        ] {
            assert!(parse_cursor_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations_are_bounded() {
        assert!(parse_overlap("5m").is_ok());
        assert!(parse_overlap("9999999999999999w").is_err());
        assert!(parse_overlap("8d").is_err());
        assert!(parse_lookback("100000000d").is_err());
        assert!(parse_lookback("90d").is_ok());
        assert!(parse_max_window("30s").is_err());
        assert!(parse_max_window("31d").is_err());
        assert!(parse_poll_interval("0").is_err());
        let lease = between("CURSOR_LEASE_SECONDS", 3u64, 3600);
        assert_eq!(lease("60"), Ok(60));
        let err = lease("18446744073709551615").unwrap_err();
        assert!(err.contains("CURSOR_LEASE_SECONDS"), "{err}");
        assert!(lease("99999999999999999999999").is_err());
        assert!(lease("2").is_err());
        let bytes = between("BULK_MAX_BYTES", 1usize, 10);
        assert_eq!(bytes("10"), Ok(10));
        assert!(bytes("0").unwrap_err().contains("BULK_MAX_BYTES"));
        assert!(bytes("11").is_err());
        let pages = between("CURSOR_PAGE_SIZE", 1u32, 500);
        assert_eq!(pages(" 500 "), Ok(500));
        assert!(pages("-1").is_err());
        assert_eq!(
            pages("501").unwrap_err(),
            "CURSOR_PAGE_SIZE must be a whole number from 1 to 500"
        );
    }
}
