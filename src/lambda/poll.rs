//! The scheduled poll and replays: the teams' pollers, built on first use around the S3
//! path's shipper and output, and their reports as the invocation's answer.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{HandlerError, poll_error_type};
use super::handlers::Handlers;
use crate::admin_api::{
    AnyPollStore, PollOutcome, PollReport, TeamPollers, TeamsReport, replay_window, rfc3339,
};
use crate::config::ConfigError;
use crate::config::build::{self, PollerOutput};
use crate::shipping::deadline::Deadline;
use crate::telemetry::metrics::{InvocationMetrics, PollHealth, TeamMetrics};

/// The replay payload: `{"replay": {"from": …, "to": …, "team": …}}` (docs/teams.md#replay).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The window's start (RFC 3339).
    pub from: DateTime<Utc>,
    /// The window's end (RFC 3339).
    pub to: DateTime<Utc>,
    /// One team of CURSOR_TEAMS (all when absent).
    #[serde(default)]
    pub team: Option<String>,
}

impl Handlers {
    /// The pollers, built on first use; they share the S3 path's shipper and output.
    async fn pollers(&self) -> Result<&TeamPollers<AnyPollStore>, ConfigError> {
        let forwarder = self.forwarder().await?;
        let shared = PollerOutput::Shared(forwarder.shipper.clone(), forwarder.output.clone());
        let store = (&self.args.checkpoint, None);
        self.pollers
            .get_or_try_init(|| {
                build::pollers(
                    &self.args.cursor,
                    &self.args.sink,
                    store,
                    shared,
                    Some(&self.aws),
                )
            })
            .await
    }

    /// One scheduled poll of every team.
    pub(super) async fn poll(
        &self,
        deadline: Deadline,
        metrics: &mut InvocationMetrics,
    ) -> Result<Value, HandlerError> {
        metrics.handler = "poller";
        let done = self.pollers().await?.poll_once(deadline).await;
        record(&done, metrics, true);
        answer(done)
    }

    /// A replay of one window, for one team or all.
    pub(super) async fn replay(
        &self,
        request: ReplayRequest,
        deadline: Deadline,
        metrics: &mut InvocationMetrics,
    ) -> Result<Value, HandlerError> {
        metrics.handler = "replay";
        let range = replay_window(request.from, request.to, Utc::now())
            .map_err(|err| HandlerError::Replay(err.to_string()))?;
        let pollers = self
            .pollers()
            .await?
            .only(request.team.as_deref())
            .map_err(|err| HandlerError::Replay(err.to_string()))?;
        let done = pollers.replay(range, deadline).await;
        record(&done, metrics, false);
        answer(done)
    }
}

/// Adds what the teams did to the invocation's metrics; `health`: the live poll's
/// success, checkpoint age and retention loss (a replay says nothing of those).
fn record(done: &TeamsReport, metrics: &mut InvocationMetrics, health: bool) {
    done.log_outcomes();
    metrics.counts.add(&done.counts());
    let (requests, retries) = done.requests();
    metrics.api_requests += requests;
    metrics.api_retries += retries;
    metrics.offer_newest(done.newest_event());
    let now = Utc::now();
    let health_of = |report: &PollReport| PollHealth {
        succeeded: report.succeeded(),
        checkpoint_age_seconds: report.checkpoint_age_seconds(now),
        retention_lost_seconds: report.retention_lost_seconds,
    };
    if health {
        metrics.poll = Some(PollHealth {
            succeeded: done.succeeded(),
            checkpoint_age_seconds: done
                .reports
                .iter()
                .filter_map(|r| r.checkpoint_age_seconds(now))
                .reduce(f64::max),
            retention_lost_seconds: done.reports.iter().map(|r| r.retention_lost_seconds).sum(),
        });
    }
    for report in &done.reports {
        if let Some(team) = &report.team {
            metrics.teams.push(TeamMetrics {
                team: team.clone(),
                counts: report.counts,
                api_requests: report.requests,
                newest_event: report.newest_event,
                poll: health.then(|| health_of(report)),
            });
        }
    }
}

/// One team's answer.
fn team_answer(report: &PollReport) -> Value {
    let mut answer = json!({
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
    if let Some(range) = &report.replay {
        answer["replay"] = json!({"from": rfc3339(range.start), "to": rfc3339(range.end)});
    }
    match &report.outcome {
        PollOutcome::Failed(error) => answer["error"] = Value::String(error.to_string()),
        PollOutcome::Stopped(reason) => answer["reason"] = Value::String(reason.to_string()),
        PollOutcome::LeaseHeld { owner, .. } => {
            answer["lease_holder"] = Value::String(owner.clone());
        }
        PollOutcome::CaughtUp => {}
    }
    answer
}

/// The invocation's answer: the single team's as before, or `{"teams": {name: …}}`; an
/// error naming each failed team when any failed (the others' work stands).
fn answer(mut done: TeamsReport) -> Result<Value, HandlerError> {
    if done.reports.len() == 1 && done.reports[0].team.is_none() {
        let only = done.reports.remove(0);
        return match only.outcome {
            PollOutcome::Failed(error) => Err(HandlerError::PollFailed(error)),
            _ => Ok(team_answer(&only)),
        };
    }
    let failures = done.failures();
    if let Some((_, first)) = failures.first() {
        return Err(HandlerError::TeamsFailed {
            failed: failures.len(),
            total: done.reports.len(),
            details: failures
                .iter()
                .map(|(team, error)| format!("team {team}: {error}"))
                .collect::<Vec<_>>()
                .join("; "),
            first: poll_error_type(first),
        });
    }
    let teams: serde_json::Map<String, Value> = done
        .reports
        .iter()
        .map(|r| (r.team.clone().unwrap_or_default(), team_answer(r)))
        .collect();
    let counts = done.counts();
    let caught_up = done
        .reports
        .iter()
        .all(|r| matches!(r.outcome, PollOutcome::CaughtUp));
    Ok(json!({
        "outcome": if caught_up { "caught_up" } else { "partial" },
        "read": counts.read,
        "indexed": counts.indexed,
        "teams": teams,
    }))
}
