//! The S3 path: one notified object → normalized documents in Elasticsearch, resuming after
//! the lines an earlier invocation acknowledged. Shared by the Lambda handler and `ship s3://`.

use super::dead_letters::DeadLetterPlace;
use super::notification::{ObjectRef, has_accepted_suffix};
use super::object::{GetObjectError, open_object};
use super::progress::{ObjectProgress, ObjectProgressStore};
use crate::aws::dynamo::CheckpointError;
use crate::error::Retryable;
use crate::shipping::deadline::Deadline;
use crate::shipping::{NewestTimestamp, Provenance, ShipError, Shipper};
use crate::sink::{Counts, Output};

/// Default `S3_KEY_SUFFIXES`.
pub const DEFAULT_SUFFIXES: &str = ".jsonl.gz,.jsonl,.ndjson.gz,.ndjson,.gz";

/// Everything the S3 path needs, built once per process.
#[derive(Debug, Clone)]
pub struct S3Forwarder {
    /// Lines to batches.
    pub shipper: Shipper,
    /// Where batches go.
    pub output: Output,
    /// Reads the objects.
    pub s3: aws_sdk_s3::Client,
    /// Where per-object progress is kept.
    pub progress: ObjectProgressStore,
    /// Keys with other endings are skipped (`S3_KEY_SUFFIXES`).
    pub suffixes: Vec<String>,
    /// Our own dead letters, never read back as audit events.
    pub dead_letters: DeadLetterPlace,
    /// Region for provenance fields when the notification does not say.
    pub region: String,
}

/// Why an object was not completely forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Its progress could not be read or recorded.
    #[error("{0}")]
    Progress(#[from] CheckpointError),
    /// It could not be fetched.
    #[error("{0}")]
    Get(#[from] GetObjectError),
    /// Shipping its lines stopped.
    #[error("{0}")]
    Ship(#[from] ShipError),
    /// Not every document was acknowledged, for no more precise reason.
    #[error("not all documents were acknowledged")]
    Incomplete,
}

impl Retryable for ObjectError {
    fn is_retryable(&self) -> bool {
        match self {
            ObjectError::Progress(err) => err.is_retryable(),
            ObjectError::Get(err) => !err.not_found,
            ObjectError::Ship(err) => err.is_retryable(),
            ObjectError::Incomplete => true,
        }
    }
}

/// What happened to one object.
#[derive(Debug, Default)]
pub struct ObjectResult {
    /// Every line acknowledged (or nothing to do): the notification can be deleted.
    pub complete: bool,
    /// What was read and delivered.
    pub counts: Counts,
    /// Every line up to and including this one is acknowledged.
    pub lines_acknowledged: u64,
    /// Why not complete.
    pub error: Option<ObjectError>,
    /// The newest `@timestamp` shipped (for the lag metric).
    pub newest: NewestTimestamp,
}

impl S3Forwarder {
    /// Ships one object, resuming from its recorded progress and recording the new progress.
    pub async fn forward(&self, object: &ObjectRef, deadline: Deadline) -> ObjectResult {
        let name = format!("s3://{}/{}", object.bucket, object.key);
        if self.dead_letters.holds(&object.bucket, &object.key) {
            tracing::info!(object = %name, prefix = %self.dead_letters.prefix, "skipped: a dead letter of this forwarder (DEAD_LETTER_PREFIX), not an audit object");
            return ObjectResult {
                complete: true,
                ..ObjectResult::default()
            };
        }
        if !has_accepted_suffix(&object.key, &self.suffixes) {
            tracing::info!(object = %name, suffixes = ?self.suffixes, "skipped: the key has none of the S3_KEY_SUFFIXES");
            return ObjectResult {
                complete: true,
                ..ObjectResult::default()
            };
        }
        let failed = |error: ObjectError| {
            tracing::error!(object = %name, error = %error, "object not forwarded");
            ObjectResult {
                error: Some(error),
                ..ObjectResult::default()
            }
        };
        // The notification's ETag lets a finished object be recognized without fetching it.
        if let Some(etag) = object.etag.as_deref() {
            match self
                .progress
                .load(&object.bucket, &object.key, Some(etag))
                .await
            {
                Ok(progress) if progress.complete => return already_complete(&name, progress),
                Ok(_) => {}
                Err(err) => return failed(err.into()),
            }
        }
        let opened = match open_object(&self.s3, &object.bucket, &object.key).await {
            Ok(opened) => opened,
            Err(err) => return failed(err.into()),
        };
        let etag = opened.etag.clone().or_else(|| object.etag.clone());
        let progress = match self
            .progress
            .load(&object.bucket, &object.key, etag.as_deref())
            .await
        {
            Ok(progress) => progress,
            Err(err) => return failed(err.into()),
        };
        if progress.complete {
            return already_complete(&name, progress);
        }
        let provenance = Provenance::S3 {
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            region: object.region.clone().unwrap_or_else(|| self.region.clone()),
            etag: etag.clone(),
        };
        let report = self
            .shipper
            .ship(
                opened.reader,
                provenance,
                progress.lines_acknowledged,
                &self.output,
                deadline,
            )
            .await;
        let new_progress = ObjectProgress {
            lines_acknowledged: report.acknowledged_through_line,
            complete: report.complete,
        };
        let mut result = ObjectResult {
            complete: report.complete,
            counts: report.counts,
            lines_acknowledged: report.acknowledged_through_line,
            error: report.error.map(ObjectError::Ship),
            newest: report.newest,
        };
        if new_progress != progress
            && let Err(err) = self
                .progress
                .save(&object.bucket, &object.key, etag.as_deref(), new_progress)
                .await
        {
            result.complete = false;
            result.error = Some(ObjectError::Progress(err));
        }
        if result.complete {
            tracing::info!(object = %name, read = result.counts.read, indexed = result.counts.indexed,
                duplicates = result.counts.duplicates, dead_lettered = result.counts.dead_lettered,
                resumed_after_line = progress.lines_acknowledged, "object forwarded");
        } else {
            tracing::warn!(object = %name, lines_acknowledged = result.lines_acknowledged,
                error = %result.error.as_ref().map(ToString::to_string).unwrap_or_default(), "object not complete; a redelivery resumes after the acknowledged lines");
        }
        result
    }
}

fn already_complete(name: &str, progress: ObjectProgress) -> ObjectResult {
    tracing::info!(object = %name, lines = progress.lines_acknowledged, "already forwarded by an earlier delivery");
    ObjectResult {
        complete: true,
        lines_acknowledged: progress.lines_acknowledged,
        ..ObjectResult::default()
    }
}
