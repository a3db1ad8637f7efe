//! The Admin API input path (docs/cursor-admin-api.md): a scheduled poll pages through
//! windows of time, paced below Cursor's rate limit, shipping each page and moving a
//! crash-safe checkpoint only after the sink acknowledged it, under a fenced lease.

mod answer;
pub mod client;
pub mod dynamo_store;
pub mod error;
pub mod file_store;
pub mod key;
mod lease;
pub mod pacer;
pub mod page_batches;
pub mod poller;
pub mod report;
pub mod store;
pub mod windows;
pub mod wire;

pub use client::{ApiStats, ClientBuildError, CursorApiClient, CursorApiSettings, api_backoff};
pub use dynamo_store::DynamoPollStore;
pub use error::CursorApiError;
pub use file_store::FilePollStore;
pub use key::{ApiKey, ApiKeySource, KeyError};
pub use poller::{PollOutput, Poller};
pub use report::{PollError, PollOutcome, PollReport, StopReason};
pub use store::{Lease, LeaseAttempt, PollCheckpoint, PollStore, WindowProgress};
pub use windows::{PollSettings, next_window};
pub use wire::{DEFAULT_API_URL, MAX_PAGE_SIZE, RETENTION, Window, rfc3339};
