//! The handlers, built once per process: the S3 forwarder at start-up, the poller on the
//! first scheduled event. Each invocation is dispatched on its shape and calls the same
//! library code as the command line.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde_json::Value;

use super::error::HandlerError;
use super::invocation::{Invocation, classify};
use crate::admin_api::{DynamoPollStore, PollOutcome, PollOutput, Poller, rfc3339};
use crate::config::{ConfigError, LambdaArgs, build};
use crate::deadline::Deadline;
use crate::metrics::InvocationMetrics;
use crate::s3::{
    Notification, ObjectError, ObjectRef, ObjectResult, S3Forwarder, objects_of_s3_event,
    parse_notification,
};

/// The handlers, built once per process.
#[derive(Debug)]
pub struct Handlers {
    /// The S3 path.
    pub forwarder: S3Forwarder,
    args: LambdaArgs,
    aws: aws_config::SdkConfig,
    poller: tokio::sync::OnceCell<Poller<DynamoPollStore>>,
}

impl Handlers {
    /// Builds the S3 forwarder from the configuration (once per process).
    pub async fn build(args: LambdaArgs) -> Result<Handlers, ConfigError> {
        let aws = crate::aws::load_config().await;
        let shipper = build::shipper(&args.sink, &args.normalizer, Some(&aws)).await?;
        let sink = build::es_sink(&args.sink, Some(&aws)).await?;
        let forwarder = build::s3_forwarder(shipper, sink, &args.s3, &args.checkpoint, &aws);
        Ok(Handlers {
            forwarder,
            args,
            aws,
            poller: tokio::sync::OnceCell::new(),
        })
    }

    /// The poller, built on first use; it shares the forwarder's sink and normalizer.
    async fn poller(&self) -> Result<&Poller<DynamoPollStore>, HandlerError> {
        self.poller
            .get_or_try_init(|| async {
                let table = self
                    .args
                    .checkpoint
                    .table()
                    .ok_or(ConfigError::PollerNeedsTable)?;
                let api = build::api_client(&self.args.cursor, &self.aws)?;
                Ok(Poller {
                    api: Arc::new(api),
                    store: Arc::new(build::dynamo_poll_store(
                        table,
                        &self.args.cursor,
                        &self.args.sink.namespace,
                        &self.aws,
                    )),
                    shipper: self.forwarder.shipper.clone(),
                    output: PollOutput::Index(Box::new(self.forwarder.sink.clone())),
                    settings: self.args.cursor.poll_settings(),
                })
            })
            .await
    }

    /// One scheduled poll.
    async fn poll(
        &self,
        deadline: Deadline,
        metrics: &mut InvocationMetrics,
    ) -> Result<Value, HandlerError> {
        metrics.handler = "poller";
        let poller = self.poller().await?;
        let report = poller.poll_once(deadline).await;
        report.log_outcome();
        metrics.counts.add(&report.counts);
        metrics.api_requests += report.requests;
        metrics.api_retries += report.api_retries;
        metrics.offer_newest(report.newest_event);
        let mut response = serde_json::json!({
            "outcome": report.outcome.name(),
            "read": report.counts.read,
            "indexed": report.counts.indexed,
            "duplicates": report.counts.duplicates,
            "dead_lettered": report.counts.dead_lettered,
            "requests": report.requests,
            "pages": report.pages,
            "windows": report.windows,
            "collected_until": report.collected_until.map(rfc3339),
        });
        match report.outcome {
            PollOutcome::Failed(error) => Err(HandlerError::PollFailed(error)),
            PollOutcome::Stopped(reason) => {
                response["reason"] = Value::String(reason.to_string());
                Ok(response)
            }
            PollOutcome::LeaseHeld { owner, .. } => {
                response["lease_holder"] = Value::String(owner);
                Ok(response)
            }
            PollOutcome::CaughtUp => Ok(response),
        }
    }
}

/// Handles one invocation.
pub async fn handle(
    handlers: &Handlers,
    event: Value,
    deadline: Deadline,
) -> Result<Value, HandlerError> {
    handle_measured(handlers, event, deadline, &mut InvocationMetrics::default()).await
}

/// Handles one invocation, adding what it did to `metrics`.
pub async fn handle_measured(
    handlers: &Handlers,
    event: Value,
    deadline: Deadline,
    metrics: &mut InvocationMetrics,
) -> Result<Value, HandlerError> {
    let forwarder = &handlers.forwarder;
    match classify(event)? {
        Invocation::Sqs(batch) => {
            metrics.handler = "s3";
            let response = handle_sqs(forwarder, batch, deadline, metrics).await;
            Ok(serde_json::to_value(response).unwrap_or(Value::Null))
        }
        Invocation::S3(event) => {
            metrics.handler = "s3";
            forward_all(forwarder, &objects_of_s3_event(event), deadline, metrics).await
        }
        Invocation::EventBridgeObject(object) => {
            metrics.handler = "s3";
            forward_all(forwarder, &[object], deadline, metrics).await
        }
        Invocation::Schedule => handlers.poll(deadline, metrics).await,
    }
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

async fn forward_all(
    forwarder: &S3Forwarder,
    objects: &[ObjectRef],
    deadline: Deadline,
    metrics: &mut InvocationMetrics,
) -> Result<Value, HandlerError> {
    let mut failed = 0;
    let mut first_error = None;
    for object in objects {
        let result = forwarder.forward(object, deadline).await;
        record_object(metrics, &result);
        if !result.complete {
            failed += 1;
            if first_error.is_none() {
                first_error = Some(result.error.unwrap_or(ObjectError::Incomplete));
            }
        }
    }
    if let Some(first_error) = first_error {
        return Err(HandlerError::ObjectsFailed {
            failed,
            total: objects.len(),
            first_error,
        });
    }
    Ok(serde_json::json!({"objects": objects.len()}))
}

/// An SQS batch: each message is deleted only when all its objects are fully acknowledged.
pub async fn handle_sqs(
    forwarder: &S3Forwarder,
    batch: SqsEvent,
    deadline: Deadline,
    metrics: &mut InvocationMetrics,
) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for message in batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        let ok = match message.body.as_deref().map(parse_notification) {
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
                        all = false;
                        break;
                    }
                    let result = forwarder.forward(object, deadline).await;
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
        };
        if !ok {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failures.push(failure);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}
