//! The Lambda front end: the runtime loop. Each invocation gets its deadline, is handled by
//! [`handlers`], and reports one summary line and one metrics record.

pub mod error;
pub mod handlers;
pub mod invocation;
pub mod poll;

use std::sync::Arc;

use clap::Parser;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use tokio::time::Instant;

pub use error::HandlerError;
pub use handlers::{Handlers, handle, handle_measured};
pub use invocation::{Invocation, classify};

use crate::config::{ConfigError, LambdaArgs};
use crate::shipping::deadline::Deadline;
use crate::telemetry::metrics::InvocationMetrics;

/// Runs the Lambda runtime loop. Configuration errors fail the init phase with a message
/// naming the variable.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::logging::init_logging();
    let args = LambdaArgs::try_parse_from(["cursor-audit-forwarder"])
        .map_err(|err| HandlerError::Config(ConfigError::Invalid(err.to_string())))?;
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
            let deadline = Deadline::for_invocation(event.context.deadline, per_batch);
            tracing::info!(request_id = %event.context.request_id, deadline_ms = event.context.deadline,
                remaining_ms = deadline.remaining().map(|left| u64::try_from(left.as_millis()).unwrap_or(u64::MAX)),
                "invocation");
            let mut metrics = InvocationMetrics::default();
            let result = handle_measured(&handlers, event.payload, deadline, &mut metrics).await;
            metrics.report(started.elapsed().as_secs_f64(), &namespace, &function_name);
            result
        }
    }))
    .await
}
