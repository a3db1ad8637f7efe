//! Where permanently rejected documents go: NDJSON records (document, original line,
//! status, reason) in S3, or in a local directory for command-line use.

use std::path::PathBuf;

use chrono::Utc;
use serde::Serialize;
use serde_json::Value;

use super::error::DeadLetterError;

/// One rejected document.
#[derive(Debug, Serialize)]
pub struct DeadLetterRecord {
    /// When the document was dead-lettered.
    #[serde(rename = "@timestamp")]
    pub timestamp: String,
    /// The data stream the document was meant for.
    pub index: String,
    /// The document `_id`, if it had one.
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The HTTP status of the item in the `_bulk` response.
    pub status: u16,
    /// Why it was rejected, as text.
    pub reason: String,
    /// The item's error from the `_bulk` response, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<super::bulk::BulkItemError>,
    /// Where the line came from (`s3://bucket/key` or a file path) and its number.
    pub source: String,
    /// The 1-based line number in `source`.
    pub line: u64,
    /// The normalized document that was rejected.
    pub document: Value,
    /// The raw input line.
    pub original: String,
}

/// The configured destination.
#[derive(Debug, Clone)]
pub enum DeadLetter {
    /// NDJSON objects in an S3 bucket.
    S3 {
        /// The S3 client.
        client: aws_sdk_s3::Client,
        /// The bucket.
        bucket: String,
        /// The key prefix of the objects.
        prefix: String,
    },
    /// NDJSON files in a local directory.
    Directory(PathBuf),
    /// None configured: rejected documents count as failed, never as delivered.
    Disabled,
}

impl DeadLetter {
    /// Where records go, for the summary and logs.
    pub fn describe(&self) -> String {
        match self {
            DeadLetter::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
            DeadLetter::Directory(dir) => dir.display().to_string(),
            DeadLetter::Disabled => "none".into(),
        }
    }

    fn object_name() -> String {
        let now = Utc::now();
        let nanos = now.timestamp_subsec_nanos();
        format!(
            "{}/{}-{:09}-{}.ndjson",
            now.format("%Y/%m/%d"),
            now.format("%Y%m%dT%H%M%S"),
            nanos,
            std::process::id()
        )
    }

    /// Writes the records as one NDJSON object/file; returns where it went.
    pub async fn write(&self, records: &[DeadLetterRecord]) -> Result<String, DeadLetterError> {
        let mut body = Vec::new();
        for record in records {
            // Records are plain data: serializing into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut body, record);
            body.push(b'\n');
        }
        match self {
            DeadLetter::S3 {
                client,
                bucket,
                prefix,
            } => {
                let key = format!("{prefix}{}", Self::object_name());
                client
                    .put_object()
                    .bucket(bucket)
                    .key(&key)
                    .content_type("application/x-ndjson")
                    .body(body.into())
                    .send()
                    .await
                    .map_err(|err| DeadLetterError::S3 {
                        bucket: bucket.clone(),
                        key: key.clone(),
                        message: crate::aws::aws_error_message(&err),
                    })?;
                Ok(format!("s3://{bucket}/{key}"))
            }
            DeadLetter::Directory(dir) => {
                let path = dir.join(Self::object_name().replace('/', "-"));
                let io_err = |source| DeadLetterError::File {
                    path: path.display().to_string(),
                    source,
                };
                tokio::fs::create_dir_all(dir).await.map_err(io_err)?;
                tokio::fs::write(&path, body).await.map_err(io_err)?;
                Ok(path.display().to_string())
            }
            DeadLetter::Disabled => Err(DeadLetterError::NotConfigured),
        }
    }
}
