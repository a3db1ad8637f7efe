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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

use crate::checkpoint::CheckpointError;
use crate::checkpoint::poll::{Lease, LeaseAttempt, PollCheckpoint, PollStore, WindowProgress};
use crate::error::Retryable;
use crate::pipeline::{Deadline, Shipper};
use crate::sink::{BulkBatch, Counts, EsSink};
use crate::source::cursor_api::{CursorApiClient, CursorApiError, RETENTION, Window, rfc3339};

/// New windows start at least this far inside the API's 30 days.
pub const CLAMP_MARGIN: TimeDelta = TimeDelta::hours(1);
/// A paused window is resumed only while its start is at least this far inside the 30
/// days; after that it is re-planned from a clamped start.
pub const RESUME_MARGIN: TimeDelta = TimeDelta::minutes(5);

/// How windows are chosen.
#[derive(Debug, Clone, Copy)]
pub struct PollSettings {
    /// The first run reads back this far.
    pub initial_lookback: TimeDelta,
    /// Each run re-reads this far behind the checkpoint (late events).
    pub overlap: TimeDelta,
    /// The longest window (capped below 30 days).
    pub max_window: TimeDelta,
    /// How long a lease lasts without renewal.
    pub lease_duration: Duration,
    /// How long one page may be retried (the hard deadline, if any, still applies).
    pub api_retry_budget: Duration,
}

/// The next window to page, and anything worth telling the operator about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextWindow {
    pub progress: WindowProgress,
    /// True when this is a new window (not a paused one resumed).
    pub is_new: bool,
    /// Time that could not be collected because it left the API's retention.
    pub lost: Option<Window>,
}

/// The API's retention floor for new windows and for resuming, at `now`.
fn floors(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let edge = now - RETENTION;
    (edge + CLAMP_MARGIN, edge + RESUME_MARGIN)
}

/// Milliseconds are what the API and the checkpoint carry.
fn whole_millis(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or(time)
}

/// Chooses the next window: the paused one if it is still servable, else a new one from
/// the checkpoint (minus the overlap when `apply_overlap`), clamped inside the 30 days and
/// ending at `run_end` at the latest. `None` when everything up to `run_end` is collected.
pub fn next_window(
    checkpoint: &PollCheckpoint,
    settings: &PollSettings,
    now: DateTime<Utc>,
    run_end: DateTime<Utc>,
    apply_overlap: bool,
) -> Option<NextWindow> {
    let (new_floor, resume_floor) = floors(now);
    let max_window = settings.max_window.min(RETENTION - CLAMP_MARGIN);
    let mut lost = None;
    let start = match (&checkpoint.window, checkpoint.collected_until) {
        (Some(paused), _) if paused.window.start >= resume_floor => {
            return Some(NextWindow {
                progress: *paused,
                is_new: false,
                lost: None,
            });
        }
        (Some(paused), _) => paused.window.start,
        (None, Some(collected)) if apply_overlap => collected - settings.overlap,
        (None, Some(collected)) => collected,
        (None, None) => run_end - settings.initial_lookback,
    };
    let start = if start < new_floor {
        // The first run's lookback past 30 days is only a request for "as much as there is".
        if checkpoint.collected_until.is_some() || checkpoint.window.is_some() {
            lost = Some(Window {
                start,
                end: new_floor,
            });
        }
        new_floor
    } else {
        start
    };
    let start = whole_millis(start);
    if start >= run_end {
        return None;
    }
    Some(NextWindow {
        progress: WindowProgress {
            window: Window {
                start,
                end: whole_millis(run_end.min(start + max_window)),
            },
            next_page: 1,
            events_acknowledged: 0,
        },
        is_new: true,
        lost,
    })
}

/// Where documents go.
#[derive(Debug, Clone)]
pub enum PollOutput {
    /// Index them.
    Index(Box<EsSink>),
    /// Print them on stdout (dry run): no lease, the checkpoint is read but never written.
    Print,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    /// Everything up to the run's start is collected.
    CaughtUp,
    /// Stopped cleanly before the deadline; the next run continues from the checkpoint.
    Stopped(String),
    /// Another poller holds the lease; nothing was done.
    LeaseHeld {
        owner: String,
        expires_at: Option<SystemTime>,
    },
    /// Something failed; the checkpoint stays at the last acknowledged page.
    Failed { error: String, retryable: bool },
}

impl PollOutcome {
    /// A short name for summaries and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            PollOutcome::CaughtUp => "caught_up",
            PollOutcome::Stopped(_) => "stopped_at_deadline",
            PollOutcome::LeaseHeld { .. } => "lease_held",
            PollOutcome::Failed { .. } => "failed",
        }
    }
}

/// What one run did.
#[derive(Debug, Clone)]
pub struct PollReport {
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
    pub outcome: PollOutcome,
    pub seconds: f64,
}

impl PollReport {
    /// True unless the run failed (a held lease or a clean stop are fine).
    pub fn succeeded(&self) -> bool {
        !matches!(self.outcome, PollOutcome::Failed { .. })
    }

    /// Seconds between now and the newest event indexed (the lag metric).
    pub fn lag_seconds(&self) -> Option<f64> {
        crate::metrics::lag_seconds(self.newest_event, Utc::now())
    }
}

/// Keeps the lease alive in the background while a run pages.
struct LeaseKeeper {
    lost: Arc<AtomicBool>,
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaseKeeper {
    fn start<S: PollStore>(
        store: Arc<S>,
        lease: Lease,
        duration: Duration,
        api: Arc<CursorApiClient>,
    ) -> LeaseKeeper {
        let lost = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(tokio::sync::Notify::new());
        let (flag, stopped) = (lost.clone(), stop.clone());
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(duration / 3) => {}
                    () = stopped.notified() => return,
                }
                match store.renew(&lease, duration, api.pacer.last_start()).await {
                    Ok(()) => {}
                    Err(err @ CheckpointError::LeaseLost { .. }) => {
                        tracing::error!(error = %err, "lease lost; this run stops at the next page");
                        flag.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "could not renew the lease; trying again");
                    }
                }
            }
        });
        LeaseKeeper { lost, stop, task }
    }

    fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stops renewing and waits for a renewal in flight, so that none lands after the
    /// release (it would extend a freed lease).
    async fn stop(&mut self) {
        self.stop.notify_one();
        let _ = (&mut self.task).await;
    }
}

impl Drop for LeaseKeeper {
    /// A run abandoned midway (its future dropped) must not renew forever.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A name for this run's lease holder: the Lambda log stream or host, the process, a time.
fn lease_owner() -> String {
    let host = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .or_else(|_| std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()))
        .unwrap_or_else(|_| "local".into());
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{host}/pid-{}/{nanos:x}", std::process::id())
}

/// Everything a run needs, built once per process.
#[derive(Debug)]
pub struct Poller<S: PollStore> {
    pub api: Arc<CursorApiClient>,
    pub store: Arc<S>,
    pub shipper: Shipper,
    pub output: PollOutput,
    pub settings: PollSettings,
}

/// Why a run stopped before catching up.
enum Interrupted {
    Stopped(String),
    Failed { error: String, retryable: bool },
}

fn failed(error: impl std::fmt::Display, retryable: bool) -> Interrupted {
    Interrupted::Failed {
        error: error.to_string(),
        retryable,
    }
}

impl<S: PollStore> Poller<S> {
    /// One run: lease, windows, pages, checkpoint; never panics, always reports.
    pub async fn poll_once(&self, deadline: Deadline) -> PollReport {
        let started = Instant::now();
        let requests_before = self.api.stats.requests.load(Ordering::Relaxed);
        let throttled_before = self.api.stats.throttled.load(Ordering::Relaxed);
        let retries_before = self.api.stats.retries.load(Ordering::Relaxed);
        let mut report = PollReport {
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
        };
        let lease = match self.output {
            PollOutput::Print => None,
            PollOutput::Index(_) => {
                let owner = lease_owner();
                match self
                    .store
                    .acquire(&owner, self.settings.lease_duration)
                    .await
                {
                    Ok(LeaseAttempt::Acquired(lease)) => Some(lease),
                    Ok(LeaseAttempt::Held { owner, expires_at }) => {
                        tracing::info!(holder = %owner, expires_at = ?expires_at.map(DateTime::<Utc>::from),
                            state = %self.store.describe(), "another poller holds the lease; nothing to do");
                        report.outcome = PollOutcome::LeaseHeld { owner, expires_at };
                        report.seconds = started.elapsed().as_secs_f64();
                        return report;
                    }
                    Err(err) => {
                        report.outcome = PollOutcome::Failed {
                            retryable: err.is_retryable(),
                            error: err.to_string(),
                        };
                        report.seconds = started.elapsed().as_secs_f64();
                        return report;
                    }
                }
            }
        };
        if let Some(last) = lease.as_ref().and_then(|l| l.last_request_at) {
            self.api.pacer.carry_over(last);
        }
        let keeper = lease.as_ref().map(|lease| {
            LeaseKeeper::start(
                self.store.clone(),
                lease.clone(),
                self.settings.lease_duration,
                self.api.clone(),
            )
        });
        let result = self
            .run_windows(lease.as_ref(), keeper.as_ref(), deadline, &mut report)
            .await;
        if let Some(mut keeper) = keeper {
            keeper.stop().await;
        }
        if let Some(lease) = &lease
            && let Err(err) = self.store.release(lease, self.api.pacer.last_start()).await
        {
            tracing::warn!(error = %err, "could not release the lease; it expires by itself");
        }
        report.outcome = match result {
            Ok(()) => PollOutcome::CaughtUp,
            Err(Interrupted::Stopped(reason)) => PollOutcome::Stopped(reason),
            Err(Interrupted::Failed { error, retryable }) => {
                PollOutcome::Failed { error, retryable }
            }
        };
        report.requests = self.api.stats.requests.load(Ordering::Relaxed) - requests_before;
        report.throttled = self.api.stats.throttled.load(Ordering::Relaxed) - throttled_before;
        report.api_retries = self.api.stats.retries.load(Ordering::Relaxed) - retries_before;
        report.seconds = started.elapsed().as_secs_f64();
        report
    }

    async fn run_windows(
        &self,
        lease: Option<&Lease>,
        keeper: Option<&LeaseKeeper>,
        deadline: Deadline,
        report: &mut PollReport,
    ) -> Result<(), Interrupted> {
        let run_end = whole_millis(Utc::now());
        let mut checkpoint = self
            .store
            .load()
            .await
            .map_err(|err| failed(&err, err.is_retryable()))?;
        report.collected_until = checkpoint.collected_until;
        report.newest_event = checkpoint.newest_event;
        if let Some(collected) = checkpoint.collected_until
            && collected > run_end + TimeDelta::minutes(1)
        {
            tracing::warn!(collected_until = %rfc3339(collected), "the checkpoint is in the future (clock skew?); only the overlap is re-read");
        }
        let mut apply_overlap = true;
        loop {
            let Some(next) = next_window(
                &checkpoint,
                &self.settings,
                Utc::now(),
                run_end,
                apply_overlap,
            ) else {
                return Ok(());
            };
            if let Some(lost) = next.lost {
                tracing::error!(lost_from = %rfc3339(lost.start), lost_until = %rfc3339(lost.end),
                    "the checkpoint is older than the Admin API's 30-day retention: events in this range can no longer be collected; polling resumes at its end");
            }
            if next.is_new {
                apply_overlap = false;
            } else {
                tracing::info!(window = %next.progress.window, page = next.progress.next_page,
                    "resuming a window an earlier run did not finish");
            }
            self.page_window(
                next.progress,
                &mut checkpoint,
                lease,
                keeper,
                deadline,
                report,
            )
            .await?;
        }
    }

    /// Pages one window to its end, saving the checkpoint after every acknowledged page.
    async fn page_window(
        &self,
        mut progress: WindowProgress,
        checkpoint: &mut PollCheckpoint,
        lease: Option<&Lease>,
        keeper: Option<&LeaseKeeper>,
        deadline: Deadline,
        report: &mut PollReport,
    ) -> Result<(), Interrupted> {
        loop {
            if deadline.should_stop() {
                return Err(Interrupted::Stopped(format!(
                    "the invocation deadline is near; the next run resumes at {} page {}",
                    progress.window, progress.next_page
                )));
            }
            if keeper.is_some_and(LeaseKeeper::is_lost) {
                return Err(failed("the lease was taken over by another poller", true));
            }
            let budget_end = Instant::now() + self.settings.api_retry_budget;
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
                    return Err(Interrupted::Stopped(err.to_string()));
                }
                Err(err) => return Err(failed(&err, err.is_retryable())),
            };
            let count = page.events.len() as u64;
            let (batches, newest) = self
                .shipper
                .batches_of_events(&page.events, progress.events_acknowledged + 1);
            for batch in &batches {
                self.deliver(batch, deadline, report).await?;
            }
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
                self.store
                    .save(lease, checkpoint)
                    .await
                    .map_err(|err| failed(&err, err.is_retryable()))?;
            }
            report.collected_until = checkpoint.collected_until;
            if finished {
                return Ok(());
            }
        }
    }

    async fn deliver(
        &self,
        batch: &BulkBatch,
        deadline: Deadline,
        report: &mut PollReport,
    ) -> Result<(), Interrupted> {
        report.counts.read += batch.len() as u64;
        match &self.output {
            PollOutput::Index(sink) => {
                let outcome = sink
                    .send(batch, "Cursor Admin API", deadline.for_batch())
                    .await;
                report.counts.add_outcome(&outcome);
                if !outcome.acknowledged() {
                    report.counts.failed += outcome.failed;
                    return Err(failed(
                        outcome
                            .error
                            .unwrap_or_else(|| "documents were not acknowledged".into()),
                        true,
                    ));
                }
                Ok(())
            }
            PollOutput::Print => {
                use std::io::Write as _;
                let mut out = std::io::stdout().lock();
                for index in 0..batch.len() {
                    let written = out
                        .write_all(batch.source(index))
                        .and_then(|()| out.write_all(b"\n"));
                    if let Err(err) = written {
                        return Err(failed(format!("cannot write to stdout: {err}"), false));
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn settings() -> PollSettings {
        PollSettings {
            initial_lookback: TimeDelta::hours(24),
            overlap: TimeDelta::minutes(5),
            max_window: TimeDelta::days(1),
            lease_duration: Duration::from_secs(60),
            api_retry_budget: Duration::from_secs(300),
        }
    }

    const NOW: &str = "2026-11-25T12:00:00Z";

    #[test]
    fn the_first_run_looks_back_and_windows_are_capped() {
        let now = at(NOW);
        let next = next_window(&PollCheckpoint::default(), &settings(), now, now, true).unwrap();
        assert!(next.is_new && next.lost.is_none());
        assert_eq!(next.progress.window.start, at("2026-11-24T12:00:00Z"));
        assert_eq!(next.progress.window.end, now);
        assert_eq!(next.progress.next_page, 1);
        // A 90-day lookback is clamped inside the 30 days, silently, and split by max_window.
        let long = PollSettings {
            initial_lookback: TimeDelta::days(90),
            ..settings()
        };
        let next = next_window(&PollCheckpoint::default(), &long, now, now, true).unwrap();
        assert_eq!(next.progress.window.start, now - RETENTION + CLAMP_MARGIN);
        assert_eq!(
            next.progress.window.end - next.progress.window.start,
            TimeDelta::days(1)
        );
        assert!(next.lost.is_none());
    }

    #[test]
    fn later_windows_start_at_the_checkpoint_with_the_overlap_only_once() {
        let now = at(NOW);
        let checkpoint = PollCheckpoint {
            collected_until: Some(at("2026-11-25T11:55:00Z")),
            ..PollCheckpoint::default()
        };
        let first = next_window(&checkpoint, &settings(), now, now, true).unwrap();
        assert_eq!(first.progress.window.start, at("2026-11-25T11:50:00Z"));
        let second = next_window(&checkpoint, &settings(), now, now, false).unwrap();
        assert_eq!(second.progress.window.start, at("2026-11-25T11:55:00Z"));
        let done = PollCheckpoint {
            collected_until: Some(now),
            ..PollCheckpoint::default()
        };
        assert_eq!(next_window(&done, &settings(), now, now, false), None);
    }

    #[test]
    fn a_paused_window_resumes_at_its_page_unless_it_left_retention() {
        let now = at(NOW);
        let paused = WindowProgress {
            window: Window {
                start: at("2026-11-20T00:00:00Z"),
                end: at("2026-11-21T00:00:00Z"),
            },
            next_page: 3,
            events_acknowledged: 1000,
        };
        let checkpoint = PollCheckpoint {
            collected_until: Some(at("2026-11-20T00:00:00Z")),
            window: Some(paused),
            newest_event: None,
        };
        let next = next_window(&checkpoint, &settings(), now, now, true).unwrap();
        assert_eq!(next.progress, paused);
        assert!(!next.is_new);
        // The same window seen 30 days later: re-planned from a clamped start, page 1.
        let later = at("2026-12-20T00:03:00Z");
        let next = next_window(&checkpoint, &settings(), later, later, true).unwrap();
        assert!(next.is_new);
        assert_eq!(next.progress.next_page, 1);
        assert_eq!(next.progress.window.start, later - RETENTION + CLAMP_MARGIN);
        assert_eq!(
            next.lost,
            Some(Window {
                start: at("2026-11-20T00:00:00Z"),
                end: later - RETENTION + CLAMP_MARGIN
            })
        );
    }

    #[test]
    fn an_old_checkpoint_is_clamped_and_the_lost_range_named() {
        let now = at(NOW);
        let checkpoint = PollCheckpoint {
            collected_until: Some(at("2026-10-01T00:00:00Z")),
            ..PollCheckpoint::default()
        };
        let next = next_window(&checkpoint, &settings(), now, now, true).unwrap();
        let floor = now - RETENTION + CLAMP_MARGIN;
        assert_eq!(next.progress.window.start, floor);
        assert!(next.progress.window.end - next.progress.window.start <= RETENTION);
        assert_eq!(
            next.lost,
            Some(Window {
                start: at("2026-09-30T23:55:00Z"),
                end: floor
            })
        );
    }

    #[test]
    fn windows_carry_whole_milliseconds() {
        let now = at("2026-11-25T12:00:00.123456789Z");
        let next = next_window(&PollCheckpoint::default(), &settings(), now, now, true).unwrap();
        assert_eq!(next.progress.window.end, at("2026-11-25T12:00:00.123Z"));
        assert_eq!(next.progress.window.start, at("2026-11-24T12:00:00.123Z"));
    }
}
