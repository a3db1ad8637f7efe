//! Client-side pacing below the team's 20 requests per minute (docs/cursor-admin-api.md).

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Spaces request starts so that no rolling minute holds more than the configured number;
/// the last start can be carried over from an earlier process (the lease item keeps it).
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    last_start: Mutex<Option<SystemTime>>,
}

/// A small guard on top of 60 s / rate, so that network jitter at the server cannot make
/// N + 1 arrivals fall within one minute.
const PACE_GUARD: Duration = Duration::from_millis(500);

impl Pacer {
    /// At most `per_minute` request starts in any 60 s.
    pub fn new(per_minute: u32) -> Pacer {
        let per_minute = per_minute.max(1);
        Pacer {
            interval: (Duration::from_secs(60) + PACE_GUARD) / per_minute,
            last_start: Mutex::new(None),
        }
    }

    /// The time between two request starts.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Records a request start made elsewhere (an earlier run).
    /// A time in the future (clock skew, a damaged checkpoint) is clamped to now, so that
    /// the pacer never waits for it.
    pub fn carry_over(&self, last_start: SystemTime) {
        let now = SystemTime::now();
        let last_start = if last_start > now {
            tracing::warn!(
                ahead_ms = last_start
                    .duration_since(now)
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                    .unwrap_or_default(),
                "the last request time carried over is in the future (clock skew?); clamped to now"
            );
            now
        } else {
            last_start
        };
        if let Ok(mut last) = self.last_start.lock() {
            *last = Some(last.map_or(last_start, |l| l.max(last_start)));
        }
    }

    /// When the latest request started.
    pub fn last_start(&self) -> Option<SystemTime> {
        self.last_start.lock().ok().and_then(|last| *last)
    }

    /// How long the next request must wait, from `now`.
    fn wait_from(&self, now: SystemTime) -> Duration {
        self.last_start()
            .and_then(|last| last.checked_add(self.interval))
            .and_then(|next| next.duration_since(now).ok())
            .unwrap_or(Duration::ZERO)
    }

    /// Waits for the next request's turn and claims it. `Err(wait)` when the turn comes
    /// after `deadline` (nothing is claimed then).
    pub async fn take_turn(&self, deadline: Instant) -> Result<(), Duration> {
        loop {
            let wait = self.wait_from(SystemTime::now());
            if wait.is_zero() {
                if let Ok(mut last) = self.last_start.lock() {
                    let now = SystemTime::now();
                    // Another task may have claimed the turn meanwhile.
                    if last
                        .is_none_or(|l| l.checked_add(self.interval).is_none_or(|next| next <= now))
                    {
                        *last = Some(now);
                        return Ok(());
                    }
                }
                continue;
            }
            if crate::shipping::deadline::later_by(wait) > deadline {
                return Err(wait);
            }
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pacer_spaces_starts_and_honours_an_earlier_runs_last_request() {
        let pacer = Pacer::new(600); // 100.8 ms apart
        assert!(pacer.interval() > Duration::from_millis(100));
        let far = Instant::now() + Duration::from_secs(10);
        let started = Instant::now();
        for _ in 0..4 {
            pacer.take_turn(far).await.unwrap();
        }
        assert!(
            started.elapsed() >= pacer.interval() * 3,
            "{:?}",
            started.elapsed()
        );
        // A request an earlier process made just now delays the first one here.
        let carried = Pacer::new(1);
        carried.carry_over(SystemTime::now());
        let wait = carried
            .take_turn(Instant::now() + Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(wait > Duration::from_secs(59), "{wait:?}");
        assert!(carried.last_start().is_some());
        // A time in the future is clamped to now: the wait is one interval, not forever.
        let skewed = Pacer::new(60);
        skewed.carry_over(SystemTime::now() + Duration::from_secs(365 * 24 * 3600));
        let wait = skewed
            .take_turn(Instant::now() + Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(wait <= Duration::from_millis(1010), "{wait:?}");
    }
}
