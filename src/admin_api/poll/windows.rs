//! Which window of time to page next (docs/cursor-admin-api.md): the paused one while it is
//! still servable, else a new one from the checkpoint, less the overlap, clamped inside the
//! API's 30 days, at most `CURSOR_MAX_WINDOW` long.
//!
//! - A window's `endTime` is fixed while it is paged; windows tile time without gaps.
//! - Page order is never trusted: progress is the window's end, never "the last event".
//! - A clamp that skips time is reported with the exact range lost.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::admin_api::client::wire::{RETENTION, Window};
use crate::admin_api::store::{PollCheckpoint, WindowProgress};

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
    /// The window and the page to start at.
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
pub(crate) fn whole_millis(time: DateTime<Utc>) -> DateTime<Utc> {
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_time::at;

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
