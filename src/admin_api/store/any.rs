//! The store a deployment configured: DynamoDB (`CHECKPOINT_TABLE`) or a local file, behind
//! one type so that one poller type serves the command line and the Lambda.

use std::time::{Duration, SystemTime};

use super::dynamo::DynamoPollStore;
use super::file::FilePollStore;
use super::{Lease, LeaseAttempt, PollCheckpoint, PollStore};
use crate::aws::dynamo::CheckpointError;

/// DynamoDB or a local file.
#[derive(Debug)]
pub enum AnyPollStore {
    /// The checkpoint table.
    Dynamo(DynamoPollStore),
    /// A local file (command-line use).
    File(FilePollStore),
}

impl PollStore for AnyPollStore {
    fn describe(&self) -> String {
        match self {
            AnyPollStore::Dynamo(store) => store.describe(),
            AnyPollStore::File(store) => store.describe(),
        }
    }

    fn with_checkpoint(&self, label: &str) -> AnyPollStore {
        match self {
            AnyPollStore::Dynamo(store) => AnyPollStore::Dynamo(store.with_checkpoint(label)),
            AnyPollStore::File(store) => AnyPollStore::File(store.with_checkpoint(label)),
        }
    }

    async fn acquire(
        &self,
        owner: &str,
        duration: Duration,
    ) -> Result<LeaseAttempt, CheckpointError> {
        match self {
            AnyPollStore::Dynamo(store) => store.acquire(owner, duration).await,
            AnyPollStore::File(store) => store.acquire(owner, duration).await,
        }
    }

    async fn renew(
        &self,
        lease: &Lease,
        duration: Duration,
        last_request_at: Option<SystemTime>,
    ) -> Result<(), CheckpointError> {
        match self {
            AnyPollStore::Dynamo(store) => store.renew(lease, duration, last_request_at).await,
            AnyPollStore::File(store) => store.renew(lease, duration, last_request_at).await,
        }
    }

    async fn release(
        &self,
        lease: &Lease,
        last_request_at: Option<SystemTime>,
    ) -> Result<(), CheckpointError> {
        match self {
            AnyPollStore::Dynamo(store) => store.release(lease, last_request_at).await,
            AnyPollStore::File(store) => store.release(lease, last_request_at).await,
        }
    }

    async fn load(&self) -> Result<PollCheckpoint, CheckpointError> {
        match self {
            AnyPollStore::Dynamo(store) => store.load().await,
            AnyPollStore::File(store) => store.load().await,
        }
    }

    async fn save(
        &self,
        lease: &Lease,
        checkpoint: &PollCheckpoint,
    ) -> Result<(), CheckpointError> {
        match self {
            AnyPollStore::Dynamo(store) => store.save(lease, checkpoint).await,
            AnyPollStore::File(store) => store.save(lease, checkpoint).await,
        }
    }
}
