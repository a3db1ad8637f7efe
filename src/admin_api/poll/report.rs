//! How a poll ended and what it did: the outcome, the counts, the summary line and the
//! log record of the end.

use std::time::SystemTime;

use chrono::{DateTime, Utc};

use crate::admin_api::client::error::CursorApiError;
use crate::admin_api::client::wire::{Window, rfc3339};
use crate::aws::dynamo::CheckpointError;
use crate::error::Retryable;
use crate::sink::{BatchError, Counts};

/// Why a run failed; the checkpoint stays at the last acknowledged page.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The Admin API refused or could not be read.
    #[error("{0}")]
    Api(#[from] CursorApiError),
    /// The checkpoint or the lease could not be read or written.
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
    /// The sink did not acknowledge a page's documents.
    #[error("{0}")]
    Sink(#[from] BatchError),
    /// The sink did not acknowledge a page's documents, for no more precise reason.
    #[error("documents were not acknowledged")]
    NotAcknowledged,
    /// Another poller took the lease over while this one paged.
    #[error("the lease was taken over by another poller")]
    LeaseTakenOver,
    /// The team's run ended without a report (its task was cancelled or panicked).
    #[error("the poll stopped unexpectedly: {0}")]
    Task(String),
}

impl Retryable for PollError {
    fn is_retryable(&self) -> bool {
        match self {
            PollError::Api(err) => err.is_retryable(),
            PollError::Checkpoint(err) => err.is_retryable(),
            PollError::Sink(_)
            | PollError::NotAcknowledged
            | PollError::LeaseTakenOver
            | PollError::Task(_) => true,
        }
    }
}

/// Why a run stopped cleanly before catching up.
#[derive(Debug, thiserror::Error)]
pub enum StopReason {
    /// Too little invocation time is left to fetch another page.
    #[error("the invocation deadline is near; the next run resumes at {window} page {page}")]
    DeadlineNear {
        /// The window being paged.
        window: Window,
        /// The next page.
        page: u32,
    },
    /// The API kept failing, or pacing waited, until the invocation's end.
    #[error("{0}")]
    OutOfTime(CursorApiError),
}

/// How a run ended.
#[derive(Debug)]
pub enum PollOutcome {
    /// Everything up to the run's start is collected.
    CaughtUp,
    /// Stopped cleanly before the deadline; the next run continues from the checkpoint.
    Stopped(StopReason),
    /// Another poller holds the lease; nothing was done.
    LeaseHeld {
        /// Who holds it.
        owner: String,
        /// Until when, if known.
        expires_at: Option<SystemTime>,
    },
    /// Something failed; the checkpoint stays at the last acknowledged page.
    Failed(PollError),
}

impl PollOutcome {
    /// A short name for summaries and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            PollOutcome::CaughtUp => "caught_up",
            PollOutcome::Stopped(_) => "stopped_at_deadline",
            PollOutcome::LeaseHeld { .. } => "lease_held",
            PollOutcome::Failed(_) => "failed",
        }
    }
}

/// What one run did.
#[derive(Debug)]
pub struct PollReport {
    /// The team (docs/teams.md); `None` for the single-team settings.
    pub team: Option<String>,
    /// The window re-read, for a replay.
    pub replay: Option<Window>,
    /// What was read and delivered.
    pub counts: Counts,
    /// HTTP requests to the Admin API (retries included).
    pub requests: u64,
    /// 429 answers received.
    pub throttled: u64,
    /// Requests repeated (429, 5xx, transport errors, a refused key).
    pub api_retries: u64,
    /// Pages acknowledged.
    pub pages: u64,
    /// Windows completed.
    pub windows: u64,
    /// Everything before this is collected.
    pub collected_until: Option<DateTime<Utc>>,
    /// The newest event timestamp indexed so far.
    pub newest_event: Option<DateTime<Utc>>,
    /// How it ended.
    pub outcome: PollOutcome,
    /// How long it took.
    pub seconds: f64,
    /// Seconds of events that fell out of the Admin API's 30 days before they were read
    /// (a checkpoint clamped by the retention): lost for good.
    pub retention_lost_seconds: f64,
}

impl PollReport {
    /// The report of a run that has done nothing yet.
    pub fn new(team: Option<String>, replay: Option<Window>) -> PollReport {
        PollReport {
            team,
            replay,
            counts: Counts::default(),
            requests: 0,
            throttled: 0,
            api_retries: 0,
            pages: 0,
            windows: 0,
            collected_until: None,
            newest_event: None,
            outcome: PollOutcome::CaughtUp,
            seconds: 0.0,
            retention_lost_seconds: 0.0,
        }
    }

    /// True unless the run failed (a held lease or a clean stop are fine).
    pub fn succeeded(&self) -> bool {
        !matches!(self.outcome, PollOutcome::Failed(_))
    }

    /// Seconds from what the checkpoint has collected up to (the end of the last completed
    /// window) to `now`: how long ago the last poll caught up, when one ever did.
    pub fn checkpoint_age_seconds(&self, now: DateTime<Utc>) -> Option<f64> {
        crate::telemetry::metrics::lag_seconds(self.collected_until, now)
    }

    /// Seconds between now and the newest event indexed (the lag metric).
    pub fn lag_seconds(&self) -> Option<f64> {
        crate::telemetry::metrics::lag_seconds(self.newest_event, Utc::now())
    }

    /// The poll summary line: the ship summary plus the API's figures.
    pub fn summary_line(&self) -> String {
        let mut line = crate::telemetry::metrics::summary_line(&self.counts, self.seconds);
        if let Some(team) = &self.team {
            line.push_str(&format!(" team={team}"));
        }
        if let Some(range) = &self.replay {
            line.push_str(&format!(" replay={range}"));
        }
        line.push_str(&format!(
            " requests={} throttled={} pages={} windows={} outcome={}",
            self.requests,
            self.throttled,
            self.pages,
            self.windows,
            self.outcome.name()
        ));
        if let Some(lag) = self.lag_seconds() {
            line.push_str(&format!(" lag_seconds={lag:.0}"));
        }
        line
    }

    /// Logs how the run ended.
    pub fn log_outcome(&self) {
        let collected_until = self.collected_until.map(rfc3339).unwrap_or_default();
        let team = self.team.as_deref();
        let replay = self.replay.map(|range| range.to_string());
        match &self.outcome {
            PollOutcome::CaughtUp => {
                tracing::info!(team, replay, %collected_until, requests = self.requests,
                pages = self.pages, read = self.counts.read, "poll caught up")
            }
            PollOutcome::Stopped(reason) => tracing::warn!(team, replay, %collected_until, %reason,
                "poll stopped before catching up; the next run continues"),
            PollOutcome::LeaseHeld { owner, .. } => {
                tracing::info!(team, replay, holder = %owner, "another poller is running; this run did nothing")
            }
            PollOutcome::Failed(error) => tracing::error!(team, replay, %collected_until, %error,
                retryable = error.is_retryable(), "poll failed; the checkpoint stays at the last acknowledged page"),
        }
    }
}
