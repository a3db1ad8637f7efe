//! S3 as every part of the program names it: `s3://bucket/key` locations (an object, or a
//! prefix ending in `/`), ETags without their quotes, and the client.

use aws_config::SdkConfig;

/// `s3://bucket/key`: a bucket and a key, which may be empty or a prefix ending in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key or prefix (possibly empty).
    pub key: String,
}

impl S3Location {
    /// `Some` for text that starts with `s3://` and names a bucket; `None` for anything
    /// else (a local path).
    pub fn parse(text: &str) -> Option<S3Location> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| S3Location {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }

    /// True when the key names a prefix (empty, or ending in `/`) rather than one object.
    pub fn is_prefix(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// An ETag as S3 sends it (`"abc"`, quoted in headers and listings; unquoted in some
/// notifications) → the bare value, so that the two compare equal.
pub fn normalize_etag(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

/// An S3 client; path-style addressing when a custom endpoint is set (emulators want it).
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config);
    if std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
    {
        builder = builder.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_a_bucket_and_a_key_or_prefix() {
        let object = S3Location::parse("s3://audit/2026/11/25/a b.jsonl.gz").unwrap();
        assert_eq!(object.bucket, "audit");
        assert_eq!(object.key, "2026/11/25/a b.jsonl.gz");
        assert!(!object.is_prefix());
        assert!(S3Location::parse("s3://audit/2026/").unwrap().is_prefix());
        let whole = S3Location::parse("s3://audit").unwrap();
        assert_eq!((whole.key.as_str(), whole.is_prefix()), ("", true));
        assert_eq!(whole.to_string(), "s3://audit/");
        assert_eq!(S3Location::parse("s3:///key"), None);
        assert_eq!(S3Location::parse("/tmp/s3://x"), None);
        assert_eq!(S3Location::parse("audit.jsonl"), None);
    }

    #[test]
    fn etags_lose_their_quotes() {
        assert_eq!(normalize_etag("\"abc\""), "abc");
        assert_eq!(normalize_etag("abc"), "abc");
    }
}
