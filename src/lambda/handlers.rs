//! The handlers, built once per process: the S3 path at start-up (on first use in a
//! webhook-only function, which has no cluster), the webhook receiver at start-up when
//! `WEBHOOK_ARCHIVE_URI` is set, the pollers on the first scheduled event or replay. Each invocation
//! is dispatched on its shape and calls the same library code as the command line.

use serde_json::Value;
use tokio::sync::OnceCell;

use super::error::HandlerError;
use super::invocation::{Invocation, classify};
use crate::admin_api::{AnyPollStore, TeamPollers};
use crate::config::build;
use crate::config::{ConfigError, LambdaArgs};
use crate::s3::{S3Forwarder, objects_of_s3_event};
use crate::shipping::deadline::Deadline;
use crate::telemetry::metrics::InvocationMetrics;
use crate::webhook::WebhookReceiver;

/// The handlers, built once per process.
#[derive(Debug)]
pub struct Handlers {
    forwarder: OnceCell<S3Forwarder>,
    webhook: Option<WebhookReceiver>,
    pub(super) args: LambdaArgs,
    pub(super) aws: aws_config::SdkConfig,
    pub(super) pollers: OnceCell<TeamPollers<AnyPollStore>>,
}

impl Handlers {
    /// Builds the handlers from the configuration (once per process): the S3 path now,
    /// unless this is a webhook receiver without a cluster.
    pub async fn build(args: LambdaArgs) -> Result<Handlers, ConfigError> {
        let aws = crate::aws::load_config().await;
        let webhook = build::webhook(&args.webhook, &aws).await?;
        let handlers = Handlers {
            forwarder: OnceCell::new(),
            webhook,
            args,
            aws,
            pollers: OnceCell::new(),
        };
        if handlers.webhook.is_none() || handlers.args.sink.is_configured() {
            handlers.forwarder().await?;
        }
        Ok(handlers)
    }

    /// The S3 path, built on first use.
    pub async fn forwarder(&self) -> Result<&S3Forwarder, ConfigError> {
        let args = &self.args;
        self.forwarder
            .get_or_try_init(|| {
                build::s3_source(
                    &args.normalizer,
                    &args.sink,
                    &args.s3,
                    &args.checkpoint,
                    &self.aws,
                )
            })
            .await
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
    let objects = match classify(event)? {
        Invocation::Sqs(batch) => {
            metrics.handler = "s3";
            let forwarder = handlers.forwarder().await?;
            let response = forwarder.forward_sqs(batch, deadline, metrics).await;
            return Ok(serde_json::to_value(response).unwrap_or(Value::Null));
        }
        Invocation::S3(event) => objects_of_s3_event(event),
        Invocation::EventBridgeObject(object) => vec![object],
        Invocation::Schedule => return handlers.poll(deadline, metrics).await,
        Invocation::Replay(request) => return handlers.replay(request, deadline, metrics).await,
        Invocation::FunctionUrl(request) => {
            metrics.handler = "webhook";
            let webhook = handlers
                .webhook
                .as_ref()
                .ok_or(ConfigError::NoWebhookArchive)?;
            let received = webhook.receive(&request).await;
            metrics.counts.read += received.accepted;
            return Ok(serde_json::to_value(received.response).unwrap_or(Value::Null));
        }
    };
    metrics.handler = "s3";
    let count = handlers
        .forwarder()
        .await?
        .forward_all(&objects, deadline, metrics)
        .await?;
    Ok(serde_json::json!({"objects": count}))
}
