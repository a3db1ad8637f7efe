//! The durable store of accepted payloads: one gzip JSON-lines object per request under
//! `WEBHOOK_ARCHIVE_URI`, `YYYY/MM/DD/<unique>.jsonl.gz`. The bucket's notification then
//! hands it to the S3 path, which ships it like any object Cursor writes.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::aws::S3Location;

/// Why a payload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// `PutObject` failed.
    #[error("cannot store s3://{bucket}/{key}: {message}")]
    Put {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// What S3 said.
        message: String,
    },
    /// Compression failed (out of memory, in practice).
    #[error("cannot compress the payload: {0}")]
    Compress(#[source] std::io::Error),
}

/// Where payloads go.
#[derive(Debug, Clone)]
pub struct Archive {
    /// S3.
    pub client: aws_sdk_s3::Client,
    /// The bucket and prefix (empty, or ending in `/`).
    pub location: S3Location,
}

impl Archive {
    /// The key of a payload received at `now` by request `request_id` (characters other
    /// than letters, digits and `-` dropped; a process-unique name when none is left).
    pub fn key_for(&self, now: DateTime<Utc>, request_id: Option<&str>) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let id: String = request_id
            .unwrap_or("")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(64)
            .collect();
        let id = if id.is_empty() {
            format!(
                "{}-{}-{}",
                std::process::id(),
                now.timestamp_subsec_nanos(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            )
        } else {
            id
        };
        format!(
            "{}{}/{}-{id}.jsonl.gz",
            self.location.key,
            now.format("%Y/%m/%d"),
            now.format("%Y%m%dT%H%M%SZ")
        )
    }

    /// Stores `lines` (one event each) as one gzip object at `key`; returns its location.
    pub async fn store(&self, key: String, lines: &[String]) -> Result<S3Location, ArchiveError> {
        let body = gzip_lines(lines).map_err(ArchiveError::Compress)?;
        self.client
            .put_object()
            .bucket(&self.location.bucket)
            .key(&key)
            .content_type("application/gzip")
            .body(body.into())
            .send()
            .await
            .map_err(|err| ArchiveError::Put {
                bucket: self.location.bucket.clone(),
                key: key.clone(),
                message: crate::aws::aws_error_message(&err),
            })?;
        Ok(S3Location {
            bucket: self.location.bucket.clone(),
            key,
        })
    }
}

/// `lines`, each followed by `\n`, gzip-compressed.
pub fn gzip_lines(lines: &[String]) -> std::io::Result<Vec<u8>> {
    let size: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(size / 4 + 64),
        flate2::Compression::fast(),
    );
    for line in lines {
        encoder.write_all(line.as_bytes())?;
        encoder.write_all(b"\n")?;
    }
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_dated_and_unique() {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let archive = Archive {
            client: aws_sdk_s3::Client::new(&config),
            location: S3Location::parse("s3://dlq/webhook/").unwrap(),
        };
        let now = DateTime::parse_from_rfc3339("2026-12-04T13:05:09Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            archive.key_for(now, Some("c0ffee-12/../x")),
            "webhook/2026/12/04/20261204T130509Z-c0ffee-12x.jsonl.gz"
        );
        let a = archive.key_for(now, None);
        let b = archive.key_for(now, Some(""));
        assert!(
            a.starts_with("webhook/2026/12/04/") && a.ends_with(".jsonl.gz"),
            "{a}"
        );
        assert_ne!(a, b);
    }

    #[test]
    fn lines_are_gzip_json_lines() {
        let body = gzip_lines(&["{\"a\":1}".into(), "{\"b\":2}".into()]).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
            .unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"b\":2}\n");
    }
}
