//! The Admin API input path (docs/cursor-admin-api.md): a scheduled poll pages through
//! windows of time, paced below Cursor's rate limit, shipping each page and moving a
//! crash-safe checkpoint only after the sink acknowledged it, under a fenced lease.
//!
//! Three rooms: [`client`] speaks to the API (its JSON, the key, pacing, one page with
//! retries); [`store`] keeps the checkpoint and the lease (DynamoDB or a local file);
//! [`poll`] is the run itself (which window next, a page into batches, the lease keeper,
//! the report).

pub mod client;
pub mod poll;
pub mod store;

pub use client::error::CursorApiError;
pub use client::key::{ApiKey, ApiKeySource, KeyError};
pub use client::wire::{DEFAULT_API_URL, MAX_PAGE_SIZE, RETENTION, Window, rfc3339};
pub use client::{ApiStats, ClientBuildError, CursorApiClient, CursorApiSettings, api_backoff};
pub use poll::Poller;
pub use poll::replay::{ReplayError, replay_window};
pub use poll::report::{PollError, PollOutcome, PollReport, StopReason};
pub use poll::teams::{TeamPollers, TeamsReport};
pub use poll::windows::{PollSettings, next_window};
pub use store::any::AnyPollStore;
pub use store::dynamo::DynamoPollStore;
pub use store::file::FilePollStore;
pub use store::{Lease, LeaseAttempt, PollCheckpoint, PollStore, WindowProgress};
