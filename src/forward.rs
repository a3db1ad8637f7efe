//! The S3 path: one notified object → normalized documents in Elasticsearch, resuming after
//! the lines an earlier invocation acknowledged. Shared by the Lambda handler and `ship s3://`.

use crate::checkpoint::{ObjectProgress, ObjectProgressStore};
use crate::pipeline::{Deadline, NewestTimestamp, Provenance, Shipper};
use crate::sink::{Counts, EsSink};
use crate::source::s3_object::{ObjectRef, has_accepted_suffix, open_object};

/// Default `S3_KEY_SUFFIXES`.
pub const DEFAULT_SUFFIXES: &str = ".jsonl.gz,.jsonl,.ndjson.gz,.ndjson,.gz";

/// Everything the S3 path needs, built once per process.
#[derive(Debug, Clone)]
pub struct S3Forwarder {
    pub shipper: Shipper,
    pub sink: EsSink,
    pub s3: aws_sdk_s3::Client,
    pub progress: ObjectProgressStore,
    pub suffixes: Vec<String>,
    /// Region for provenance fields when the notification does not say.
    pub region: String,
}

/// What happened to one object.
#[derive(Debug, Clone, Default)]
pub struct ObjectResult {
    /// Every line acknowledged (or nothing to do): the notification can be deleted.
    pub complete: bool,
    pub counts: Counts,
    /// Skipped by the suffix filter.
    pub skipped: bool,
    /// Already complete in an earlier invocation.
    pub already_complete: bool,
    pub lines_acknowledged: u64,
    pub error: Option<String>,
    /// The newest `@timestamp` shipped (for the lag metric).
    pub newest: NewestTimestamp,
}

impl S3Forwarder {
    /// Ships one object, resuming from its recorded progress and recording the new progress.
    pub async fn forward(&self, object: &ObjectRef, deadline: Deadline) -> ObjectResult {
        let name = format!("s3://{}/{}", object.bucket, object.key);
        if !has_accepted_suffix(&object.key, &self.suffixes) {
            tracing::info!(object = %name, suffixes = ?self.suffixes, "skipped: the key has none of the S3_KEY_SUFFIXES");
            return ObjectResult {
                complete: true,
                skipped: true,
                ..ObjectResult::default()
            };
        }
        let failed = |error: String| {
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
                Err(err) => return failed(err.to_string()),
            }
        }
        let opened = match open_object(&self.s3, &object.bucket, &object.key).await {
            Ok(opened) => opened,
            Err(err) => return failed(err.to_string()),
        };
        let etag = opened.etag.clone().or_else(|| object.etag.clone());
        let progress = match self
            .progress
            .load(&object.bucket, &object.key, etag.as_deref())
            .await
        {
            Ok(progress) => progress,
            Err(err) => return failed(err.to_string()),
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
                &self.sink,
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
            error: report.error.clone(),
            newest: report.newest.clone(),
            ..ObjectResult::default()
        };
        if new_progress != progress
            && let Err(err) = self
                .progress
                .save(&object.bucket, &object.key, etag.as_deref(), new_progress)
                .await
        {
            result.complete = false;
            result.error = Some(err.to_string());
        }
        if result.complete {
            tracing::info!(object = %name, read = result.counts.read, indexed = result.counts.indexed,
                duplicates = result.counts.duplicates, dead_lettered = result.counts.dead_lettered,
                resumed_after_line = progress.lines_acknowledged, "object forwarded");
        } else {
            tracing::warn!(object = %name, lines_acknowledged = result.lines_acknowledged,
                error = result.error.as_deref().unwrap_or(""), "object not complete; a redelivery resumes after the acknowledged lines");
        }
        result
    }
}

fn already_complete(name: &str, progress: ObjectProgress) -> ObjectResult {
    tracing::info!(object = %name, lines = progress.lines_acknowledged, "already forwarded by an earlier delivery");
    ObjectResult {
        complete: true,
        already_complete: true,
        lines_acknowledged: progress.lines_acknowledged,
        ..ObjectResult::default()
    }
}
