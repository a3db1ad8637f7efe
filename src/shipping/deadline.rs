//! When to give up retrying and when to stop starting new work: a per-batch retry budget,
//! and in Lambda the invocation's own end, less a reserve for recording progress.

use std::time::Duration;

use tokio::time::Instant;

/// Time kept back from the invocation's deadline to record progress and answer: 5 s, or a
/// fifth of a short invocation.
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(5);
/// No batch or object starts in the last 2 s (or tenth) before the reserve.
pub const STOP_MARGIN: Duration = Duration::from_secs(2);

/// Below this a "deadline" cannot be epoch milliseconds (it would be before 2001): local
/// emulators such as cargo-lambda send the time left instead.
const EPOCH_MS_FLOOR: u64 = 1_000_000_000_000;

/// The far future that stands in for a wait too long to represent.
const FAR_FUTURE: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// `now + wait`, never overflowing: an unrepresentable wait becomes ten years.
pub fn later_by(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

/// When to give up retrying and when to stop starting new batches.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// A hard end (the Lambda invocation's), if any.
    pub hard: Option<Instant>,
    /// How long one batch may be retried.
    pub per_batch: Duration,
    /// No new batch (or object) starts when less than this is left before `hard`.
    pub stop_margin: Duration,
}

impl Deadline {
    /// Only a per-batch retry budget (the command line: no hard end).
    pub fn unbounded(per_batch: Duration) -> Deadline {
        Deadline {
            hard: None,
            per_batch,
            stop_margin: Duration::ZERO,
        }
    }

    /// The invocation deadline the Lambda runtime sends (epoch milliseconds, or the time
    /// left from local emulators) as an `Instant`, minus the reserve. A runtime that sends
    /// no deadline (0) gets only the per-batch retry budget.
    pub fn for_invocation(deadline_ms: u64, per_batch: Duration) -> Deadline {
        if deadline_ms == 0 {
            return Deadline::unbounded(per_batch);
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or_default();
        let left = if deadline_ms < EPOCH_MS_FLOOR {
            Duration::from_millis(deadline_ms)
        } else {
            Duration::from_millis(deadline_ms.saturating_sub(now_ms))
        };
        let remaining = left.saturating_sub(DEADLINE_RESERVE.min(left / 5));
        Deadline {
            hard: Some(later_by(remaining)),
            per_batch,
            stop_margin: STOP_MARGIN.min(left / 10),
        }
    }

    /// The retry deadline for a batch starting now.
    pub fn for_batch(&self) -> Instant {
        let budget = later_by(self.per_batch);
        self.hard.map_or(budget, |hard| hard.min(budget))
    }

    /// Time left before the hard end, if there is one.
    pub fn remaining(&self) -> Option<Duration> {
        self.hard
            .map(|hard| hard.saturating_duration_since(Instant::now()))
    }

    /// True when the hard deadline is too close to start another batch.
    pub fn should_stop(&self) -> bool {
        self.remaining()
            .is_some_and(|left| left <= self.stop_margin)
    }
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
        let per_batch = Duration::from_secs(30);
        let long = Deadline::for_invocation(now_ms + 300_000, per_batch);
        let left = long.remaining().unwrap();
        assert!(
            left > Duration::from_secs(290) && left <= Duration::from_secs(295),
            "{left:?}"
        );
        assert_eq!(long.stop_margin, STOP_MARGIN);
        let short = Deadline::for_invocation(now_ms + 3_000, per_batch);
        let left = short.remaining().unwrap();
        assert!(
            left > Duration::from_millis(2000) && left <= Duration::from_millis(2400),
            "{left:?}"
        );
        assert!(!short.should_stop());
        assert!(Deadline::for_invocation(0, per_batch).hard.is_none());
        let relative = Deadline::for_invocation(600_000, per_batch);
        assert!(relative.remaining().unwrap() > Duration::from_secs(590));
        assert!(Deadline::for_invocation(now_ms - 1_000, per_batch).should_stop());
    }

    #[test]
    fn a_batch_budget_never_overflows_or_outlives_the_hard_end() {
        let forever = Deadline::unbounded(Duration::MAX);
        assert!(forever.for_batch() > Instant::now());
        let bounded = Deadline {
            hard: Some(Instant::now() + Duration::from_secs(1)),
            per_batch: Duration::from_secs(300),
            stop_margin: Duration::ZERO,
        };
        assert!(bounded.for_batch() <= Instant::now() + Duration::from_secs(1));
    }
}
