//! The API poller's durable state: the checkpoint (what has been collected, and the window
//! being paged) and the lease that keeps two pollers from running at once.
//!
//! Two stores implement [`PollStore`]: DynamoDB (two items, `poll#<name>#checkpoint` and
//! `poll#<name>#lease`, written with conditional expressions) and a local file (the
//! checkpoint as JSON, replaced atomically; the lease as an OS file lock on a sibling file).
//! A replay keeps its progress beside the checkpoint (`poll#<name>#replay#<from>-<to>`, or
//! `<file>.replay#<from>-<to>`) under the same lease.
//!
//! The lease carries a generation number that grows with every acquisition; checkpoint
//! writes are conditional on it (a fencing token), so a poller that lost its lease (a long
//! pause, an expired lease taken over) can never overwrite its successor's checkpoint.

pub mod any;
pub mod dynamo;
pub mod file;

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::admin_api::client::wire::Window;
use crate::aws::dynamo::CheckpointError;

/// The poller's progress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollCheckpoint {
    /// Every event with a timestamp before this instant has been collected: the end of the
    /// last completed window. `None` before the first window completes.
    pub collected_until: Option<DateTime<Utc>>,
    /// A window whose pages are partly acknowledged.
    pub window: Option<WindowProgress>,
    /// The newest event timestamp indexed so far (for the lag metric).
    pub newest_event: Option<DateTime<Utc>>,
}

/// How far into a window the poller got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowProgress {
    /// The window being paged.
    pub window: Window,
    /// The first page not yet acknowledged (1-based).
    pub next_page: u32,
    /// Events of this window acknowledged so far (the position in the window).
    pub events_acknowledged: u64,
}

/// A held lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Who holds it.
    pub owner: String,
    /// Grows with every acquisition; checkpoint writes carry it.
    pub generation: u64,
    /// When it expires unless renewed.
    pub expires_at: SystemTime,
    /// When the previous holder last sent an API request (pacing carries over).
    pub last_request_at: Option<SystemTime>,
}

/// The answer to a lease request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseAttempt {
    /// This run holds the lease.
    Acquired(Lease),
    /// Another poller holds it.
    Held {
        /// Who holds it.
        owner: String,
        /// Until when, if known.
        expires_at: Option<SystemTime>,
    },
}

/// Durable poll state: checkpoint plus lease.
pub trait PollStore: Send + Sync + 'static {
    /// Where the state lives, for logs.
    fn describe(&self) -> String;

    /// The same lease with another checkpoint, kept under `label` (a replay's progress).
    fn with_checkpoint(&self, label: &str) -> Self
    where
        Self: Sized;

    /// Takes the lease for `duration` unless another poller holds an unexpired one.
    fn acquire(
        &self,
        owner: &str,
        duration: Duration,
    ) -> impl Future<Output = Result<LeaseAttempt, CheckpointError>> + Send;

    /// Extends the lease; [`CheckpointError::LeaseLost`] when another poller has it now.
    fn renew(
        &self,
        lease: &Lease,
        duration: Duration,
        last_request_at: Option<SystemTime>,
    ) -> impl Future<Output = Result<(), CheckpointError>> + Send;

    /// Gives the lease up, recording when the last API request was sent.
    fn release(
        &self,
        lease: &Lease,
        last_request_at: Option<SystemTime>,
    ) -> impl Future<Output = Result<(), CheckpointError>> + Send;

    /// The stored checkpoint (the default when there is none).
    fn load(&self) -> impl Future<Output = Result<PollCheckpoint, CheckpointError>> + Send;

    /// Stores the checkpoint, fenced by the lease's generation.
    fn save(
        &self,
        lease: &Lease,
        checkpoint: &PollCheckpoint,
    ) -> impl Future<Output = Result<(), CheckpointError>> + Send;
}

pub(crate) fn epoch_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

pub(crate) fn from_epoch_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}
