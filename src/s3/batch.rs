//! One invocation's worth of objects: an SQS batch of notifications, where each message is
//! deleted only when all its objects are fully acknowledged, or objects named directly (an
//! S3 or EventBridge event), where any incomplete object fails the invocation.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

use super::forwarder::{ObjectError, ObjectResult, S3Forwarder};
use super::notification::{Notification, ObjectRef, parse_notification};
use crate::shipping::deadline::Deadline;
use crate::telemetry::metrics::InvocationMetrics;

/// Objects named directly did not all complete.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} objects not fully forwarded: {first_error}")]
pub struct ObjectsFailed {
    /// Incomplete objects.
    pub failed: usize,
    /// Objects named.
    pub total: usize,
    /// Why the first one failed.
    pub first_error: ObjectError,
}

/// Adds one object's result to the invocation's figures.
fn record_object(metrics: &mut InvocationMetrics, result: &ObjectResult) {
    metrics.objects += 1;
    if !result.complete {
        metrics.objects_failed += 1;
    }
    metrics.counts.add(&result.counts);
    metrics.offer_newest(result.newest.time());
}

impl S3Forwarder {
    /// Forwards objects named directly; fails naming the first incomplete one.
    pub async fn forward_all(
        &self,
        objects: &[ObjectRef],
        deadline: Deadline,
        metrics: &mut InvocationMetrics,
    ) -> Result<usize, ObjectsFailed> {
        let mut failed = 0;
        let mut first_error = None;
        for object in objects {
            let result = self.forward(object, deadline).await;
            record_object(metrics, &result);
            if !result.complete {
                failed += 1;
                if first_error.is_none() {
                    first_error = Some(result.error.unwrap_or(ObjectError::Incomplete));
                }
            }
        }
        match first_error {
            Some(first_error) => Err(ObjectsFailed {
                failed,
                total: objects.len(),
                first_error,
            }),
            None => Ok(objects.len()),
        }
    }

    /// An SQS batch: the response names exactly the messages whose objects are not all
    /// complete (SQS redelivers those, and only those).
    pub async fn forward_sqs(
        &self,
        batch: SqsEvent,
        deadline: Deadline,
        metrics: &mut InvocationMetrics,
    ) -> SqsBatchResponse {
        let mut failures = Vec::new();
        for message in batch.records {
            let id = message.message_id.clone().unwrap_or_default();
            if !self
                .forward_message(&id, message.body.as_deref(), deadline, metrics)
                .await
            {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failures.push(failure);
            }
        }
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures;
        response
    }

    /// One message: true when it may be deleted.
    async fn forward_message(
        &self,
        id: &str,
        body: Option<&str>,
        deadline: Deadline,
        metrics: &mut InvocationMetrics,
    ) -> bool {
        match body.map(parse_notification) {
            Some(Ok(Notification::Test)) => {
                tracing::info!(message_id = %id, "s3:TestEvent acknowledged and ignored");
                true
            }
            Some(Ok(Notification::Objects(objects))) => {
                let mut all = true;
                for object in &objects {
                    if deadline.should_stop() {
                        tracing::warn!(message_id = %id, object = %object.key,
                            "not started: the invocation deadline is too near; SQS will redeliver");
                        return false;
                    }
                    let result = self.forward(object, deadline).await;
                    record_object(metrics, &result);
                    all &= result.complete;
                }
                all
            }
            Some(Err(err)) => {
                tracing::error!(message_id = %id, error = %err, "message is not an S3 notification; left for the dead-letter queue");
                false
            }
            None => {
                tracing::error!(message_id = %id, "message has no body; left for the dead-letter queue");
                false
            }
        }
    }
}
