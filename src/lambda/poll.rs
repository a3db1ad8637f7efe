//! The scheduled poll: the poller, built on the first scheduled event around the S3 path's
//! shipper and output, and its report as the invocation's answer.

use serde_json::Value;

use super::error::HandlerError;
use super::handlers::Handlers;
use crate::admin_api::{AnyPollStore, PollOutcome, Poller, rfc3339};
use crate::config::ConfigError;
use crate::config::build::{self, PollerOutput};
use crate::shipping::deadline::Deadline;
use crate::telemetry::metrics::{InvocationMetrics, PollHealth};

impl Handlers {
    /// The poller, built on first use; it shares the S3 path's shipper and output.
    async fn poller(&self) -> Result<&Poller<AnyPollStore>, ConfigError> {
        let forwarder = self.forwarder().await?;
        let shared = PollerOutput::Shared(forwarder.shipper.clone(), forwarder.output.clone());
        let store = (&self.args.checkpoint, None);
        self.poller
            .get_or_try_init(|| {
                build::poller(
                    &self.args.cursor,
                    &self.args.sink,
                    store,
                    shared,
                    Some(&self.aws),
                )
            })
            .await
    }

    /// One scheduled poll.
    pub(super) async fn poll(
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
