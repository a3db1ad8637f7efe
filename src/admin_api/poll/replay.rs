//! Replays (docs/teams.md#replay): which windows may be re-read, and the name a replay's
//! progress is kept under, apart from the live checkpoint.

use chrono::{DateTime, TimeDelta, Utc};

use super::windows::{CLAMP_MARGIN, whole_millis};
use crate::admin_api::client::wire::{RETENTION, Window, rfc3339};

/// Why a replay window is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// `from` is not before `to`.
    #[error("the replay window is empty: --from {from} is not before --to {to}")]
    Empty {
        /// The start asked for.
        from: String,
        /// The end asked for.
        to: String,
    },
    /// `from` is older than the Admin API keeps.
    #[error(
        "--from {from} is older than the Admin API keeps (30 days): the earliest replayable start is now {earliest}"
    )]
    TooOld {
        /// The start asked for.
        from: String,
        /// The earliest start accepted now.
        earliest: String,
    },
    /// `to` is in the future.
    #[error("--to {to} is in the future (now is {now})")]
    InTheFuture {
        /// The end asked for.
        to: String,
        /// The time of the check.
        now: String,
    },
    /// `--team` names no team of the list.
    #[error("team {0:?} is not in CURSOR_TEAMS")]
    UnknownTeam(String),
}

/// The window `[from, to]` if it can be replayed at `now`: not empty, not in the future,
/// and starting at least an hour inside the Admin API's 30 days (a replay must not lose
/// its start while it runs).
pub fn replay_window(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Window, ReplayError> {
    let (from, to) = (whole_millis(from), whole_millis(to));
    if from >= to {
        return Err(ReplayError::Empty {
            from: rfc3339(from),
            to: rfc3339(to),
        });
    }
    if to > now + TimeDelta::minutes(1) {
        return Err(ReplayError::InTheFuture {
            to: rfc3339(to),
            now: rfc3339(now),
        });
    }
    let earliest = whole_millis(now - RETENTION + CLAMP_MARGIN);
    if from < earliest {
        return Err(ReplayError::TooOld {
            from: rfc3339(from),
            earliest: rfc3339(earliest),
        });
    }
    Ok(Window {
        start: from,
        end: to,
    })
}

/// The name a replay's progress is kept under: its window, in epoch milliseconds.
pub fn label(range: &Window) -> String {
    format!(
        "replay#{}-{}",
        range.start.timestamp_millis(),
        range.end.timestamp_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_time::at;

    #[test]
    fn replayable_windows() {
        let now = at("2026-11-30T12:00:00Z");
        let window =
            replay_window(at("2026-11-29T00:00:00Z"), at("2026-11-30T00:00:00Z"), now).unwrap();
        assert_eq!(window.start, at("2026-11-29T00:00:00Z"));
        assert_eq!(label(&window), "replay#1795910400000-1795996800000");
        // Up to 29 days 23 hours back is fine; an hour more is not, and the message says
        // what the limit is.
        assert!(replay_window(at("2026-10-31T13:00:00Z"), now, now).is_ok());
        let old = replay_window(at("2026-10-31T11:00:00Z"), now, now).unwrap_err();
        assert_eq!(
            old.to_string(),
            "--from 2026-10-31T11:00:00.000Z is older than the Admin API keeps (30 days): the earliest replayable start is now 2026-10-31T13:00:00.000Z"
        );
        assert!(matches!(
            replay_window(now, now, now),
            Err(ReplayError::Empty { .. })
        ));
        assert!(matches!(
            replay_window(at("2026-11-30T13:00:00Z"), at("2026-11-30T11:00:00Z"), now),
            Err(ReplayError::Empty { .. })
        ));
        assert!(matches!(
            replay_window(at("2026-11-30T11:00:00Z"), at("2026-11-30T13:00:00Z"), now),
            Err(ReplayError::InTheFuture { .. })
        ));
    }
}
