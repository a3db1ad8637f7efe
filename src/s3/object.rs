//! Reading S3 objects: a streamed GetObject body that is never held in memory, and the
//! keys under a prefix.

use std::io::Read;

use crate::aws::{aws_error_message, normalize_etag};

/// Failures fetching an object.
#[derive(Debug, thiserror::Error)]
#[error("cannot get s3://{bucket}/{key}: {message}")]
pub struct GetObjectError {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// What S3 said.
    pub message: String,
    /// There is no such key.
    pub not_found: bool,
}

/// Failures listing a prefix.
#[derive(Debug, thiserror::Error)]
#[error("cannot list s3://{bucket}/{prefix}: {message}")]
pub struct ListError {
    /// The bucket.
    pub bucket: String,
    /// The prefix.
    pub prefix: String,
    /// What S3 said.
    pub message: String,
}

/// An object's body as a blocking reader (for the reading thread) and its ETag.
pub struct OpenedObject {
    /// The body, read from a blocking thread.
    pub reader: Box<dyn Read + Send>,
    /// The object's ETag, without quotes.
    pub etag: Option<String>,
}

/// Starts a streamed GetObject. Call from async context; read the body from a blocking thread.
pub async fn open_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<OpenedObject, GetObjectError> {
    let output = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|err| GetObjectError {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            not_found: err.as_service_error().is_some_and(|e| e.is_no_such_key()),
            message: aws_error_message(&err),
        })?;
    let etag = output.e_tag().map(normalize_etag);
    let body = tokio_util::io::SyncIoBridge::new(output.body.into_async_read());
    Ok(OpenedObject {
        reader: Box::new(body),
        etag,
    })
}

/// Every object key under `prefix`, in key order (for `YYYY/MM/DD/` keys: oldest first).
pub async fn list_keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, ListError> {
    let mut keys = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| ListError {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            message: aws_error_message(&err),
        })?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    keys.sort();
    Ok(keys)
}
