//! The handlers, built once per process: the S3 path at start-up, the poller on the first
//! scheduled event. Each invocation is dispatched on its shape and calls the same library
//! code as the command line.

use serde_json::Value;

use super::error::HandlerError;
use super::invocation::{Invocation, classify};
use crate::admin_api::{AnyPollStore, PollOutcome, Poller, rfc3339};
use crate::config::build::{self, PollerOutput};
use crate::config::{ConfigError, LambdaArgs};
use crate::s3::{S3Forwarder, objects_of_s3_event};
use crate::shipping::deadline::Deadline;
use crate::telemetry::metrics::{InvocationMetrics, PollHealth};

/// The handlers, built once per process.
#[derive(Debug)]
pub struct Handlers {
    /// The S3 path.
    pub forwarder: S3Forwarder,
    args: LambdaArgs,
    aws: aws_config::SdkConfig,
    poller: tokio::sync::OnceCell<Poller<AnyPollStore>>,
}

impl Handlers {
    /// Builds the S3 path from the configuration (once per process).
    pub async fn build(args: LambdaArgs) -> Result<Handlers, ConfigError> {
        let aws = crate::aws::load_config().await;
        let forwarder = build::s3_source(
            &args.normalizer,
            &args.sink,
            &args.s3,
            &args.checkpoint,
            &aws,
        )
        .await?;
        Ok(Handlers {
            forwarder,
            args,
            aws,
            poller: tokio::sync::OnceCell::new(),
        })
    }

    /// The poller, built on first use; it shares the S3 path's shipper and output.
    async fn poller(&self) -> Result<&Poller<AnyPollStore>, ConfigError> {
        let shared = || {
            PollerOutput::Shared(
                self.forwarder.shipper.clone(),
                self.forwarder.output.clone(),
            )
        };
        let store = (&self.args.checkpoint, None);
        self.poller
            .get_or_try_init(|| {
                build::poller(
                    &self.args.cursor,
                    &self.args.sink,
                    store,
                    shared(),
                    Some(&self.aws),
                )
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
        let report = self.poller().await?.poll_once(deadline).await;
        report.log_outcome();
        metrics.counts.add(&report.counts);
        metrics.api_requests += report.requests;
        metrics.api_retries += report.api_retries;
        metrics.offer_newest(report.newest_event);
        metrics.poll = Some(PollHealth {
            succeeded: report.succeeded(),
            checkpoint_age_seconds: report.checkpoint_age_seconds(chrono::Utc::now()),
            retention_lost_seconds: report.retention_lost_seconds,
        });
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
    let objects = match classify(event)? {
        Invocation::Sqs(batch) => {
            metrics.handler = "s3";
            let response = forwarder.forward_sqs(batch, deadline, metrics).await;
            return Ok(serde_json::to_value(response).unwrap_or(Value::Null));
        }
        Invocation::S3(event) => objects_of_s3_event(event),
        Invocation::EventBridgeObject(object) => vec![object],
        Invocation::Schedule => return handlers.poll(deadline, metrics).await,
    };
    metrics.handler = "s3";
    let count = forwarder.forward_all(&objects, deadline, metrics).await?;
    Ok(serde_json::json!({"objects": count}))
}
