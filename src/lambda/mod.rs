//! The Lambda side: the runtime loop and event dispatch. Handlers stay thin and call the same
//! functions as the CLI.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use clap::Parser;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use tokio::time::Instant;

use crate::checkpoint::poll::DynamoPollStore;
use crate::cli::{CheckpointArgs, CursorArgs, NormalizerArgs, S3Args, SinkArgs};
use crate::forward::{ObjectResult, S3Forwarder};
use crate::metrics::InvocationMetrics;
use crate::pipeline::Deadline;
use crate::poll::{PollOutcome, PollOutput, Poller};
use crate::source::s3_object::{
    Notification, ObjectRef, S3Notification, object_of_eventbridge, objects_of_s3_event,
    parse_notification,
};

/// Time kept back from the invocation's deadline to record progress and answer: 5 s, or a
/// fifth of a short invocation.
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(5);
/// No batch or object starts in the last 2 s (or tenth) before the reserve.
pub const STOP_MARGIN: Duration = Duration::from_secs(2);

/// The configuration of the functions: the environment variables of architecture.md.
#[derive(Debug, Parser)]
#[command(name = "cursor-audit-forwarder (Lambda)")]
pub struct LambdaArgs {
    #[command(flatten)]
    pub normalizer: NormalizerArgs,
    #[command(flatten)]
    pub sink: SinkArgs,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
    #[command(flatten)]
    pub cursor: CursorArgs,
    /// CloudWatch namespace of the Embedded Metric Format records.
    #[arg(long, env = "METRICS_NAMESPACE", default_value = crate::metrics::DEFAULT_NAMESPACE)]
    pub metrics_namespace: String,
}

/// Errors a handler reports to the Lambda service (which then retries the invocation).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("unsupported event: {0}")]
    UnknownEvent(String),
    #[error("{failed} of {total} objects not fully forwarded: {first_error}")]
    ObjectsFailed {
        failed: usize,
        total: usize,
        first_error: String,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("poll failed (the checkpoint stays at the last acknowledged page): {0}")]
    PollFailed(String),
}

/// The handlers, built once per process: the S3 forwarder at start-up, the poller on the
/// first scheduled event (its key and table are needed only there).
#[derive(Debug)]
pub struct Handlers {
    pub forwarder: S3Forwarder,
    args: LambdaArgs,
    aws: aws_config::SdkConfig,
    poller: tokio::sync::OnceCell<Poller<DynamoPollStore>>,
}

impl Handlers {
    /// Builds the S3 forwarder from the configuration (once per process).
    pub async fn build(args: LambdaArgs) -> Result<Handlers, String> {
        let aws = crate::aws::load_config().await;
        let forwarder = build_forwarder(&args, &aws).await?;
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
                let table = self.args.checkpoint.table().ok_or_else(|| {
                    HandlerError::Config(
                        "the scheduled poller needs CHECKPOINT_TABLE (its checkpoint and lease live there)"
                            .into(),
                    )
                })?;
                let api = self
                    .args
                    .cursor
                    .api_client(&self.aws)
                    .map_err(HandlerError::Config)?;
                Ok(Poller {
                    api: Arc::new(api),
                    store: Arc::new(DynamoPollStore {
                        client: aws_sdk_dynamodb::Client::new(&self.aws),
                        table: table.to_owned(),
                        name: self.args.cursor.poller_name(&self.args.sink.namespace),
                    }),
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
        crate::cli::log_outcome(&report);
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
            "collected_until": report.collected_until.map(crate::source::cursor_api::rfc3339),
        });
        match report.outcome {
            PollOutcome::Failed { error, .. } => Err(HandlerError::PollFailed(error)),
            PollOutcome::Stopped(reason) => {
                response["reason"] = Value::String(reason);
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

/// What kind of event arrived.
#[derive(Debug)]
pub enum Invocation {
    Sqs(SqsEvent),
    S3(S3Notification),
    EventBridgeObject(ObjectRef),
    Schedule,
}

/// Recognizes the event's shape, or says what was received.
pub fn classify(event: Value) -> Result<Invocation, HandlerError> {
    let first_source = event
        .get("Records")
        .and_then(|r| r.get(0))
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    match first_source.as_deref() {
        Some("aws:sqs") => {
            return serde_json::from_value(event)
                .map(Invocation::Sqs)
                .map_err(|err| HandlerError::UnknownEvent(format!("malformed SQS event: {err}")));
        }
        Some("aws:s3") => {
            return serde_json::from_value(event)
                .map(Invocation::S3)
                .map_err(|err| HandlerError::UnknownEvent(format!("malformed S3 event: {err}")));
        }
        _ => {}
    }
    match event.get("detail-type").and_then(Value::as_str) {
        Some("Object Created") => {
            return object_of_eventbridge(&event)
                .map(Invocation::EventBridgeObject)
                .ok_or_else(|| {
                    HandlerError::UnknownEvent("malformed EventBridge Object Created event".into())
                });
        }
        Some("Scheduled Event") => return Ok(Invocation::Schedule),
        _ => {}
    }
    let shape = match &event {
        Value::Object(map) => format!("an object with keys {:?}", map.keys().collect::<Vec<_>>()),
        other => format!("{other}").chars().take(200).collect(),
    };
    Err(HandlerError::UnknownEvent(format!(
        "expected an SQS batch of S3 notifications, an S3 notification or an EventBridge Object Created event; got {shape}"
    )))
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
    let mut first_error = String::new();
    for object in objects {
        let result = forwarder.forward(object, deadline).await;
        record_object(metrics, &result);
        if !result.complete {
            failed += 1;
            if first_error.is_empty() {
                first_error = result.error.unwrap_or_else(|| "incomplete".into());
            }
        }
    }
    if failed > 0 {
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

/// Builds the S3 forwarder from the configuration.
async fn build_forwarder(
    args: &LambdaArgs,
    aws: &aws_config::SdkConfig,
) -> Result<S3Forwarder, String> {
    let shipper = args
        .sink
        .shipper(&args.normalizer)
        .map_err(|err| err.to_string())?;
    let sink = args
        .sink
        .sink(Some(aws))
        .await
        .map_err(|err| err.to_string())?;
    Ok(S3Forwarder {
        shipper,
        sink,
        s3: crate::aws::s3_client(aws),
        progress: args.checkpoint.progress_store(aws),
        suffixes: args.s3.suffixes(),
        region: crate::aws::region_name(aws),
    })
}

/// Below this a "deadline" cannot be epoch milliseconds (it would be before 2001): local
/// emulators such as cargo-lambda send the time left instead.
const EPOCH_MS_FLOOR: u64 = 1_000_000_000_000;

/// The invocation deadline as an `Instant`, minus the reserve. A runtime that sends no
/// deadline (0) gets only the per-batch retry budget.
fn invocation_deadline(deadline_ms: u64, per_batch: Duration) -> Deadline {
    if deadline_ms == 0 {
        return Deadline {
            hard: None,
            per_batch,
            stop_margin: Duration::ZERO,
        };
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let left = if deadline_ms < EPOCH_MS_FLOOR {
        Duration::from_millis(deadline_ms)
    } else {
        Duration::from_millis(deadline_ms.saturating_sub(now_ms))
    };
    let remaining = left.saturating_sub(DEADLINE_RESERVE.min(left / 5));
    Deadline {
        hard: Some(Instant::now() + remaining),
        per_batch,
        stop_margin: STOP_MARGIN.min(left / 10),
    }
}

/// The invocation's one summary line (a log record) and its EMF record (stdout, where the
/// Lambda service hands it to CloudWatch Logs, which extracts the metrics).
pub fn report_invocation(
    metrics: &InvocationMetrics,
    seconds: f64,
    namespace: &str,
    function_name: &str,
) {
    let now = chrono::Utc::now();
    tracing::info!(
        handler = metrics.handler,
        "{}",
        metrics.summary_line(seconds, now)
    );
    let record = metrics.emf(namespace, function_name, now);
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{record}").and_then(|()| out.flush());
}

/// Runs the Lambda runtime loop. Configuration errors fail the init phase with a message
/// naming the variable.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    crate::cli::init_logging();
    let args = LambdaArgs::try_parse_from(["cursor-audit-forwarder"])
        .map_err(|err| format!("invalid configuration: {err}"))?;
    let per_batch = args.sink.deadline().per_batch;
    let namespace = args.metrics_namespace.clone();
    let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .unwrap_or_else(|_| "cursor-audit-forwarder".into());
    let handlers = Arc::new(Handlers::build(args).await?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handlers = handlers.clone();
        let (namespace, function_name) = (namespace.clone(), function_name.clone());
        async move {
            let started = Instant::now();
            let deadline = invocation_deadline(event.context.deadline, per_batch);
            tracing::info!(request_id = %event.context.request_id, deadline_ms = event.context.deadline,
                remaining_ms = deadline.hard.map(|h| h.saturating_duration_since(Instant::now()).as_millis() as u64),
                "invocation");
            let mut metrics = InvocationMetrics::default();
            let result = handle_measured(&handlers, event.payload, deadline, &mut metrics).await;
            report_invocation(&metrics, started.elapsed().as_secs_f64(), &namespace, &function_name);
            result.map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_keep_a_reserve_even_for_short_invocations() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let long = invocation_deadline(now_ms + 300_000, Duration::from_secs(30));
        let left = long.hard.unwrap().saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(290) && left <= Duration::from_secs(295),
            "{left:?}"
        );
        assert_eq!(long.stop_margin, STOP_MARGIN);
        let short = invocation_deadline(now_ms + 3_000, Duration::from_secs(30));
        let left = short
            .hard
            .unwrap()
            .saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_millis(2000) && left <= Duration::from_millis(2400),
            "{left:?}"
        );
        assert!(!short.should_stop());
        assert!(
            invocation_deadline(0, Duration::from_secs(30))
                .hard
                .is_none()
        );
        let relative = invocation_deadline(600_000, Duration::from_secs(30));
        let left = relative
            .hard
            .unwrap()
            .saturating_duration_since(Instant::now());
        assert!(left > Duration::from_secs(590), "{left:?}");
        assert!(invocation_deadline(now_ms - 1_000, Duration::from_secs(30)).should_stop());
    }

    #[test]
    fn the_configuration_is_consistent_and_has_defaults() {
        use clap::CommandFactory;
        LambdaArgs::command().debug_assert();
        let args = LambdaArgs::try_parse_from(["lambda"]).unwrap();
        assert_eq!(args.cursor.requests_per_minute, 18);
        assert_eq!(args.cursor.overlap, chrono::TimeDelta::minutes(5));
        assert_eq!(args.cursor.initial_lookback, chrono::TimeDelta::hours(24));
    }

    #[test]
    fn classifies_shapes_and_names_unknown_ones() {
        let sqs = serde_json::json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": "{}"}]});
        assert!(matches!(classify(sqs).unwrap(), Invocation::Sqs(_)));
        let schedule = serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        assert!(matches!(classify(schedule).unwrap(), Invocation::Schedule));
        let err = classify(serde_json::json!({"foo": 1}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("foo"), "{err}");
        let err = classify(serde_json::json!([1, 2])).unwrap_err().to_string();
        assert!(err.contains("[1,2]"), "{err}");
    }
}
