//! The Admin API poller: one run takes the lease, reads the checkpoint, and pages through
//! windows of time up to the run's start, shipping each page and moving the checkpoint only
//! after the sink acknowledged it. Shared by `poll --once` and the scheduled Lambda handler.
//!
//! Guarantees:
//! - A window's `endTime` is fixed while it is paged; windows tile time without gaps, each
//!   at most `CURSOR_MAX_WINDOW` (≤ 30 days) long.
//! - The checkpoint records the window, the next page and the events acknowledged in it, so
//!   a crash after page k resumes at page k + 1 (a late insertion can only shift events to
//!   later pages: at worst an event is read twice, and its `_id` drops the copy).
//! - Each run starts `CURSOR_OVERLAP` behind what was collected, for events Cursor records
//!   late. Page order is never trusted: progress is the window's end, never "the last event".
//! - Starts are clamped inside the API's 30 days; a clamp that skips time is logged with the
//!   exact range lost.
//! - A lease (with a fencing generation) keeps two pollers from running at once.
//! - A replay (replay.rs) pages a given window under the same lease, keeping its progress
//!   apart from the live checkpoint, which it never moves.

mod lease;
pub mod page_batches;
pub mod replay;
pub mod report;
pub mod teams;
pub mod windows;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

use self::lease::{LeaseKeeper, lease_owner};
use self::page_batches::PageBatches;
use self::report::{PollError, PollOutcome, PollReport, StopReason};
use self::windows::{PollSettings, next_window, whole_millis};
use crate::admin_api::client::CursorApiClient;
use crate::admin_api::client::error::CursorApiError;
use crate::admin_api::client::wire::{Window, rfc3339};
use crate::admin_api::store::{Lease, LeaseAttempt, PollCheckpoint, PollStore, WindowProgress};
use crate::shipping::Shipper;
use crate::shipping::deadline::Deadline;
use crate::sink::{BulkBatch, Output, ShipMode};

/// Everything a run needs, built once per process.
#[derive(Debug)]
pub struct Poller<S: PollStore> {
    /// The team's name (docs/teams.md); `None` for the single-team settings.
    pub team: Option<String>,
    /// The Admin API.
    pub api: Arc<CursorApiClient>,
    /// The checkpoint and the lease.
    pub store: Arc<S>,
    /// Events to batches.
    pub shipper: Shipper,
    /// Where documents go; a dry run takes no lease and never writes the checkpoint.
    pub output: Output,
    /// Windows, overlap, lease and retry budget.
    pub settings: PollSettings,
}

/// What one run pages with: its store, its lease, the lease keeper, the deadline, and what
/// the cluster gets.
struct Run<'a, S> {
    store: &'a S,
    lease: Option<&'a Lease>,
    keeper: Option<&'a LeaseKeeper>,
    deadline: Deadline,
    mode: ShipMode,
}

/// Why a run stopped before catching up.
enum Interrupted {
    Stopped(StopReason),
    Failed(PollError),
}

impl<E: Into<PollError>> From<E> for Interrupted {
    fn from(error: E) -> Interrupted {
        Interrupted::Failed(error.into())
    }
}

impl<S: PollStore> Poller<S> {
    /// One run: lease, windows, pages, checkpoint; never panics, always reports.
    pub async fn poll_once(&self, deadline: Deadline) -> PollReport {
        self.run(self.store.clone(), None, deadline).await
    }

    /// Re-reads `range` (validated by [`replay::replay_window`]) under the live lease,
    /// with its own progress: an interrupted replay resumes, a finished one starts over
    /// when asked again, and the live checkpoint never moves.
    pub async fn replay(&self, range: Window, deadline: Deadline) -> PollReport {
        let store = Arc::new(self.store.with_checkpoint(&replay::label(&range)));
        self.run(store, Some(range), deadline).await
    }

    async fn run(&self, store: Arc<S>, replay: Option<Window>, deadline: Deadline) -> PollReport {
        let started = Instant::now();
        let requests_before = self.api.stats.requests.load(Ordering::Relaxed);
        let throttled_before = self.api.stats.throttled.load(Ordering::Relaxed);
        let retries_before = self.api.stats.retries.load(Ordering::Relaxed);
        let mut report = PollReport::new(self.team.clone(), replay);
        let lease = match self.take_lease(&*store).await {
            Ok(lease) => lease,
            Err(outcome) => {
                report.outcome = outcome;
                report.seconds = started.elapsed().as_secs_f64();
                return report;
            }
        };
        if let Some(last) = lease.as_ref().and_then(|l| l.last_request_at) {
            self.api.pacer.carry_over(last);
        }
        let keeper = lease.as_ref().map(|lease| {
            LeaseKeeper::start(
                store.clone(),
                lease.clone(),
                self.settings.lease_duration,
                self.api.clone(),
            )
        });
        let result = {
            let run = Run {
                store: &*store,
                lease: lease.as_ref(),
                keeper: keeper.as_ref(),
                deadline,
                mode: self.output.mode(deadline.for_batch()).await,
            };
            self.run_windows(&run, replay, &mut report).await
        };
        if let Some(mut keeper) = keeper {
            keeper.stop().await;
        }
        if let Some(lease) = &lease
            && let Err(err) = store.release(lease, self.api.pacer.last_start()).await
        {
            tracing::warn!(error = %err, "could not release the lease; it expires by itself");
        }
        report.outcome = match result {
            Ok(()) => PollOutcome::CaughtUp,
            Err(Interrupted::Stopped(reason)) => PollOutcome::Stopped(reason),
            Err(Interrupted::Failed(error)) => PollOutcome::Failed(error),
        };
        report.requests = self.api.stats.requests.load(Ordering::Relaxed) - requests_before;
        report.throttled = self.api.stats.throttled.load(Ordering::Relaxed) - throttled_before;
        report.api_retries = self.api.stats.retries.load(Ordering::Relaxed) - retries_before;
        report.seconds = started.elapsed().as_secs_f64();
        report
    }

    /// The lease, or (a dry run) none; `Err` is the run's outcome when it cannot be had.
    async fn take_lease(&self, store: &S) -> Result<Option<Lease>, PollOutcome> {
        if self.output.is_dry_run() {
            return Ok(None);
        }
        match store
            .acquire(&lease_owner(), self.settings.lease_duration)
            .await
        {
            Ok(LeaseAttempt::Acquired(lease)) => Ok(Some(lease)),
            Ok(LeaseAttempt::Held { owner, expires_at }) => {
                tracing::info!(team = self.team.as_deref(), holder = %owner, expires_at = ?expires_at.map(DateTime::<Utc>::from),
                    state = %store.describe(), "another poller holds the lease; nothing to do");
                Err(PollOutcome::LeaseHeld { owner, expires_at })
            }
            Err(err) => Err(PollOutcome::Failed(err.into())),
        }
    }

    async fn run_windows(
        &self,
        run: &Run<'_, S>,
        replay: Option<Window>,
        report: &mut PollReport,
    ) -> Result<(), Interrupted> {
        let mut checkpoint = run.store.load().await?;
        // A replay ends at its window's end and starts at its start (or where an
        // interrupted run of it stopped); the live poll ends at the run's start.
        let run_end = match replay {
            Some(range) => {
                if checkpoint.collected_until.is_none() && checkpoint.window.is_none() {
                    checkpoint.collected_until = Some(range.start);
                } else {
                    tracing::info!(team = self.team.as_deref(), collected_until = ?checkpoint.collected_until.map(rfc3339),
                        "resuming a replay an earlier run did not finish");
                }
                range.end
            }
            None => whole_millis(Utc::now()),
        };
        report.collected_until = checkpoint.collected_until;
        report.newest_event = checkpoint.newest_event;
        if let Some(collected) = checkpoint.collected_until
            && collected > run_end + TimeDelta::minutes(1)
        {
            tracing::warn!(collected_until = %rfc3339(collected), "the checkpoint is in the future (clock skew?); only the overlap is re-read");
        }
        let mut apply_overlap = replay.is_none();
        loop {
            let Some(next) = next_window(
                &checkpoint,
                &self.settings,
                Utc::now(),
                run_end,
                apply_overlap,
            ) else {
                return self.finish(run, replay).await;
            };
            if let Some(lost) = next.lost {
                report.retention_lost_seconds +=
                    (lost.end - lost.start).num_milliseconds().max(0) as f64 / 1000.0;
                tracing::error!(lost_from = %rfc3339(lost.start), lost_until = %rfc3339(lost.end),
                    "the checkpoint is older than the Admin API's 30-day retention: events in this range can no longer be collected; polling resumes at its end");
            }
            if next.is_new {
                apply_overlap = false;
            } else {
                tracing::info!(window = %next.progress.window, page = next.progress.next_page,
                    "resuming a window an earlier run did not finish");
            }
            self.page_window(next.progress, &mut checkpoint, run, report)
                .await?;
        }
    }

    /// Pages one window to its end, saving the checkpoint after every acknowledged page.
    async fn page_window(
        &self,
        mut progress: WindowProgress,
        checkpoint: &mut PollCheckpoint,
        run: &Run<'_, S>,
        report: &mut PollReport,
    ) -> Result<(), Interrupted> {
        let Run {
            store,
            lease,
            keeper,
            deadline,
            ref mode,
        } = *run;
        loop {
            if deadline.should_stop() {
                return Err(Interrupted::Stopped(StopReason::DeadlineNear {
                    window: progress.window,
                    page: progress.next_page,
                }));
            }
            if keeper.is_some_and(LeaseKeeper::is_lost) {
                return Err(PollError::LeaseTakenOver.into());
            }
            let budget_end = crate::shipping::deadline::later_by(self.settings.api_retry_budget);
            let invocation_bound = deadline.hard.is_some_and(|hard| hard <= budget_end);
            let page = match self
                .api
                .fetch_page(
                    &progress.window,
                    progress.next_page,
                    deadline
                        .hard
                        .map_or(budget_end, |hard| hard.min(budget_end)),
                )
                .await
            {
                Ok(page) => page,
                // Out of invocation time (pacing or an API still failing): a clean stop, the
                // next scheduled run continues; the lag metric shows if this persists.
                Err(err @ CursorApiError::DeadlineReached { .. }) if invocation_bound => {
                    return Err(Interrupted::Stopped(StopReason::OutOfTime(err)));
                }
                Err(err) => return Err(err.into()),
            };
            let count = page.events.len() as u64;
            let mut batches = PageBatches::new(
                &self.shipper,
                mode,
                &page.events,
                progress.events_acknowledged + 1,
            );
            for batch in batches.by_ref() {
                self.deliver(&batch, deadline, report).await?;
            }
            let newest = batches.newest().clone();
            report.pages += 1;
            if let Some(newest) = newest.time() {
                let merged = checkpoint.newest_event.map_or(newest, |n| n.max(newest));
                checkpoint.newest_event = Some(merged);
                report.newest_event = Some(merged);
            }
            let more = page.pagination.has_next(progress.next_page);
            if more && count == 0 {
                tracing::warn!(window = %progress.window, page = progress.next_page,
                    "an empty page claims more pages follow; the window ends here");
            }
            let finished = !more || count == 0;
            tracing::info!(window = %progress.window, page = progress.next_page, events = count,
                total = page.pagination.total_count, more = !finished, "page acknowledged");
            if finished {
                checkpoint.window = None;
                checkpoint.collected_until = Some(progress.window.end);
                report.windows += 1;
            } else {
                progress.next_page += 1;
                progress.events_acknowledged += count;
                checkpoint.window = Some(progress);
            }
            if let Some(lease) = lease {
                store.save(lease, checkpoint).await?;
            }
            report.collected_until = checkpoint.collected_until;
            if finished {
                return Ok(());
            }
        }
    }

    /// The end of a run that caught up: a finished replay clears its progress, so asking
    /// for the same window again replays it again.
    async fn finish(&self, run: &Run<'_, S>, replay: Option<Window>) -> Result<(), Interrupted> {
        if let (Some(range), Some(lease)) = (replay, run.lease) {
            run.store.save(lease, &PollCheckpoint::default()).await?;
            tracing::info!(team = self.team.as_deref(), from = %rfc3339(range.start), to = %rfc3339(range.end),
                "replay finished");
        }
        Ok(())
    }

    async fn deliver(
        &self,
        batch: &BulkBatch,
        deadline: Deadline,
        report: &mut PollReport,
    ) -> Result<(), Interrupted> {
        report.counts.read += batch.len() as u64;
        let outcome = self
            .output
            .send(batch, "Cursor Admin API", deadline.for_batch())
            .await;
        report.counts.add_outcome(&outcome);
        if !outcome.acknowledged() {
            report.counts.failed += outcome.counts.failed;
            return Err(outcome
                .error
                .map_or(PollError::NotAcknowledged, PollError::Sink)
                .into());
        }
        Ok(())
    }
}
