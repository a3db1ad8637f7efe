//! The API poller's durable state: the checkpoint (what has been collected, and the window
//! being paged) and the lease that keeps two pollers from running at once.
//!
//! Two stores implement [`PollStore`]: DynamoDB (two items, `poll#<name>#checkpoint` and
//! `poll#<name>#lease`, written with conditional expressions) and a local file (the
//! checkpoint as JSON, replaced atomically; the lease as an OS file lock on a sibling file).
//!
//! The lease carries a generation number that grows with every acquisition; checkpoint
//! writes are conditional on it (a fencing token), so a poller that lost its lease (a long
//! pause, an expired lease taken over) can never overwrite its successor's checkpoint.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{CheckpointError, number, read_item};
use crate::aws::aws_error_message;
use crate::source::cursor_api::Window;

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
    pub window: Window,
    /// The first page not yet acknowledged (1-based).
    pub next_page: u32,
    /// Events of this window acknowledged so far (the position in the window).
    pub events_acknowledged: u64,
}

/// A held lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    /// Grows with every acquisition; checkpoint writes carry it.
    pub generation: u64,
    pub expires_at: SystemTime,
    /// When the previous holder last sent an API request (pacing carries over).
    pub last_request_at: Option<SystemTime>,
}

/// The answer to a lease request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseAttempt {
    Acquired(Lease),
    /// Another poller holds it.
    Held {
        owner: String,
        expires_at: Option<SystemTime>,
    },
}

/// Durable poll state: checkpoint plus lease.
pub trait PollStore: Send + Sync + 'static {
    /// Where the state lives, for logs.
    fn describe(&self) -> String;

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

fn epoch_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn from_epoch_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The poll state in the DynamoDB table `CHECKPOINT_TABLE`.
#[derive(Debug, Clone)]
pub struct DynamoPollStore {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
    /// Tells pollers apart when several share a table (namespace and event filter).
    pub name: String,
}

fn string<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn time(item: &HashMap<String, AttributeValue>, name: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(string(item, name)?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn time_value(time: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(crate::source::cursor_api::rfc3339(time))
}

fn is_condition_failure<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

impl DynamoPollStore {
    fn lease_pk(&self) -> String {
        format!("poll#{}#lease", self.name)
    }

    fn checkpoint_pk(&self) -> String {
        format!("poll#{}#checkpoint", self.name)
    }

    fn error(&self, pk: String, message: String) -> CheckpointError {
        CheckpointError::DynamoDb {
            table: self.table.clone(),
            pk,
            message,
        }
    }

    /// Sets the lease's expiry (and the last request time) if it is still ours.
    async fn update_lease(
        &self,
        lease: &Lease,
        expires_at_ms: u64,
        last_request_at: Option<SystemTime>,
    ) -> Result<(), CheckpointError> {
        let pk = self.lease_pk();
        let mut update = "SET expires_at = :expires".to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .condition_expression("#owner = :me AND generation = :generation")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", AttributeValue::S(lease.owner.clone()))
            .expression_attribute_values(
                ":generation",
                AttributeValue::N(lease.generation.to_string()),
            )
            .expression_attribute_values(":expires", AttributeValue::N(expires_at_ms.to_string()));
        if let Some(last) = last_request_at {
            update.push_str(", last_request_at = :last");
            request = request.expression_attribute_values(
                ":last",
                AttributeValue::N(epoch_ms(last).to_string()),
            );
        }
        match request.update_expression(update).send().await {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(CheckpointError::LeaseLost {
                what: format!("{pk} in {}", self.table),
            }),
            Err(err) => Err(self.error(pk, aws_error_message(&err))),
        }
    }
}

impl PollStore for DynamoPollStore {
    fn describe(&self) -> String {
        format!("DynamoDB table {} ({})", self.table, self.checkpoint_pk())
    }

    async fn acquire(
        &self,
        owner: &str,
        duration: Duration,
    ) -> Result<LeaseAttempt, CheckpointError> {
        let pk = self.lease_pk();
        let now = SystemTime::now();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .update_expression(
                "SET #owner = :me, expires_at = :expires, acquired_at = :now ADD generation :one",
            )
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now OR #owner = :me")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N(epoch_ms(now + duration).to_string()),
            )
            .expression_attribute_values(":now", AttributeValue::N(epoch_ms(now).to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                Ok(LeaseAttempt::Acquired(Lease {
                    owner: owner.to_owned(),
                    generation: number(&item, "generation").unwrap_or(1),
                    expires_at: now + duration,
                    last_request_at: number(&item, "last_request_at").map(from_epoch_ms),
                }))
            }
            Err(err) if is_condition_failure(&err) => {
                let item = read_item(&self.client, &self.table, &self.lease_pk())
                    .await?
                    .unwrap_or_default();
                Ok(LeaseAttempt::Held {
                    owner: string(&item, "owner").unwrap_or("unknown").to_owned(),
                    expires_at: number(&item, "expires_at").map(from_epoch_ms),
                })
            }
            Err(err) => Err(self.error(pk, aws_error_message(&err))),
        }
    }

    async fn renew(
        &self,
        lease: &Lease,
        duration: Duration,
        last_request_at: Option<SystemTime>,
    ) -> Result<(), CheckpointError> {
        self.update_lease(
            lease,
            epoch_ms(SystemTime::now() + duration),
            last_request_at,
        )
        .await
    }

    async fn release(
        &self,
        lease: &Lease,
        last_request_at: Option<SystemTime>,
    ) -> Result<(), CheckpointError> {
        // An expiry of zero frees the lease; holder and generation stay for the record.
        match self.update_lease(lease, 0, last_request_at).await {
            // Taken over already: nothing of ours to free.
            Err(CheckpointError::LeaseLost { .. }) => Ok(()),
            other => other,
        }
    }

    async fn load(&self) -> Result<PollCheckpoint, CheckpointError> {
        let Some(item) = read_item(&self.client, &self.table, &self.checkpoint_pk()).await? else {
            return Ok(PollCheckpoint::default());
        };
        let window = match (time(&item, "window_start"), time(&item, "window_end")) {
            (Some(start), Some(end)) => Some(WindowProgress {
                window: Window { start, end },
                next_page: number(&item, "next_page").unwrap_or(1).max(1) as u32,
                events_acknowledged: number(&item, "events_acknowledged").unwrap_or(0),
            }),
            _ => None,
        };
        Ok(PollCheckpoint {
            collected_until: time(&item, "collected_until"),
            window,
            newest_event: time(&item, "newest_event"),
        })
    }

    async fn save(
        &self,
        lease: &Lease,
        checkpoint: &PollCheckpoint,
    ) -> Result<(), CheckpointError> {
        let pk = self.checkpoint_pk();
        let mut item = HashMap::new();
        item.insert("pk".to_owned(), AttributeValue::S(pk.clone()));
        item.insert(
            "generation".to_owned(),
            AttributeValue::N(lease.generation.to_string()),
        );
        item.insert(
            "updated_at".to_owned(),
            AttributeValue::N(epoch_ms(SystemTime::now()).to_string()),
        );
        item.insert("owner".to_owned(), AttributeValue::S(lease.owner.clone()));
        if let Some(until) = checkpoint.collected_until {
            item.insert("collected_until".to_owned(), time_value(until));
        }
        if let Some(newest) = checkpoint.newest_event {
            item.insert("newest_event".to_owned(), time_value(newest));
        }
        if let Some(progress) = &checkpoint.window {
            item.insert("window_start".to_owned(), time_value(progress.window.start));
            item.insert("window_end".to_owned(), time_value(progress.window.end));
            item.insert(
                "next_page".to_owned(),
                AttributeValue::N(progress.next_page.to_string()),
            );
            item.insert(
                "events_acknowledged".to_owned(),
                AttributeValue::N(progress.events_acknowledged.to_string()),
            );
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR generation <= :generation")
            .expression_attribute_values(
                ":generation",
                AttributeValue::N(lease.generation.to_string()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(CheckpointError::LeaseLost {
                what: format!("{} in {}", self.lease_pk(), self.table),
            }),
            Err(err) => Err(self.error(pk, aws_error_message(&err))),
        }
    }
}

/// The poll state in a local file (command-line use without `CHECKPOINT_TABLE`).
#[derive(Debug)]
pub struct FilePollStore {
    path: PathBuf,
    /// The locked lease file while the lease is held.
    lock: Mutex<Option<std::fs::File>>,
}

impl FilePollStore {
    /// State in `path`; the lease is a lock on `<path>.lease`.
    pub fn new(path: PathBuf) -> FilePollStore {
        FilePollStore {
            path,
            lock: Mutex::new(None),
        }
    }

    fn lease_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lease");
        PathBuf::from(name)
    }

    fn error(&self, path: &Path, message: impl std::fmt::Display) -> CheckpointError {
        CheckpointError::File {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }
}

/// The file's content.
#[derive(Debug, Serialize, Deserialize)]
struct CheckpointFile {
    #[serde(flatten)]
    checkpoint: PollCheckpoint,
    /// When the last API request was sent (epoch ms), for pacing across runs.
    #[serde(default)]
    last_request_at: Option<u64>,
}

impl FilePollStore {
    fn read(&self) -> Result<Option<CheckpointFile>, CheckpointError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|err| self.error(&self.path, format!("not a poll checkpoint: {err}"))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(self.error(&self.path, err)),
        }
    }

    fn write(&self, content: &CheckpointFile) -> Result<(), CheckpointError> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| self.error(parent, err))?;
        }
        let mut temporary = self.path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let bytes =
            serde_json::to_vec_pretty(content).map_err(|err| self.error(&self.path, err))?;
        let written = std::fs::File::create(&temporary).and_then(|mut file| {
            file.write_all(&bytes)?;
            file.write_all(b"\n")?;
            file.sync_all()
        });
        written.map_err(|err| self.error(&temporary, err))?;
        std::fs::rename(&temporary, &self.path).map_err(|err| self.error(&self.path, err))
    }
}

impl PollStore for FilePollStore {
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }

    async fn acquire(
        &self,
        owner: &str,
        duration: Duration,
    ) -> Result<LeaseAttempt, CheckpointError> {
        let lease_path = self.lease_path();
        if let Some(parent) = lease_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| self.error(parent, err))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lease_path)
            .map_err(|err| self.error(&lease_path, err))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&lease_path).unwrap_or_default();
                return Ok(LeaseAttempt::Held {
                    owner: holder.trim().to_owned(),
                    expires_at: None,
                });
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(self.error(&lease_path, err)),
        }
        // The lock lasts as long as this process holds the file; the owner is informative.
        let _ = file.set_len(0).and_then(|()| writeln!(file, "{owner}"));
        let last_request_at = self
            .read()?
            .and_then(|f| f.last_request_at)
            .map(from_epoch_ms);
        if let Ok(mut lock) = self.lock.lock() {
            *lock = Some(file);
        }
        Ok(LeaseAttempt::Acquired(Lease {
            owner: owner.to_owned(),
            generation: 0,
            expires_at: SystemTime::now() + duration,
            last_request_at,
        }))
    }

    async fn renew(
        &self,
        _lease: &Lease,
        _duration: Duration,
        _last_request_at: Option<SystemTime>,
    ) -> Result<(), CheckpointError> {
        // An OS lock does not expire while the process lives.
        Ok(())
    }

    async fn release(
        &self,
        _lease: &Lease,
        last_request_at: Option<SystemTime>,
    ) -> Result<(), CheckpointError> {
        if let Some(last) = last_request_at {
            let mut content = self.read()?.unwrap_or(CheckpointFile {
                checkpoint: PollCheckpoint::default(),
                last_request_at: None,
            });
            content.last_request_at = Some(epoch_ms(last));
            self.write(&content)?;
        }
        if let Ok(mut lock) = self.lock.lock() {
            // Closing the file drops the lock.
            lock.take();
        }
        Ok(())
    }

    async fn load(&self) -> Result<PollCheckpoint, CheckpointError> {
        Ok(self.read()?.map(|f| f.checkpoint).unwrap_or_default())
    }

    async fn save(
        &self,
        _lease: &Lease,
        checkpoint: &PollCheckpoint,
    ) -> Result<(), CheckpointError> {
        let last_request_at = self.read()?.and_then(|f| f.last_request_at);
        self.write(&CheckpointFile {
            checkpoint: checkpoint.clone(),
            last_request_at,
        })
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

    #[tokio::test]
    async fn the_file_store_round_trips_and_locks() {
        let dir = std::env::temp_dir().join(format!("poll-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = FilePollStore::new(dir.join("state/checkpoint.json"));
        assert_eq!(store.load().await.unwrap(), PollCheckpoint::default());
        let LeaseAttempt::Acquired(lease) =
            store.acquire("me", Duration::from_secs(60)).await.unwrap()
        else {
            panic!("the first acquisition must succeed");
        };
        // A second store on the same file (another process) finds it held.
        let other = FilePollStore::new(dir.join("state/checkpoint.json"));
        match other
            .acquire("them", Duration::from_secs(60))
            .await
            .unwrap()
        {
            LeaseAttempt::Held { owner, .. } => assert_eq!(owner, "me"),
            LeaseAttempt::Acquired(_) => panic!("two holders"),
        }
        let checkpoint = PollCheckpoint {
            collected_until: Some(at("2026-11-25T12:00:00Z")),
            window: Some(WindowProgress {
                window: Window {
                    start: at("2026-11-25T12:00:00Z"),
                    end: at("2026-11-25T13:00:00.250Z"),
                },
                next_page: 3,
                events_acknowledged: 1000,
            }),
            newest_event: Some(at("2026-11-25T12:59:00Z")),
        };
        store.save(&lease, &checkpoint).await.unwrap();
        let last = UNIX_EPOCH + Duration::from_millis(1_790_000_000_123);
        store.release(&lease, Some(last)).await.unwrap();
        assert_eq!(store.load().await.unwrap(), checkpoint);
        let LeaseAttempt::Acquired(again) = other
            .acquire("them", Duration::from_secs(60))
            .await
            .unwrap()
        else {
            panic!("a released lease can be taken");
        };
        assert_eq!(again.last_request_at, Some(last));
        std::fs::write(dir.join("state/checkpoint.json"), "{oops").unwrap();
        assert!(
            other
                .load()
                .await
                .unwrap_err()
                .to_string()
                .contains("not a poll checkpoint")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
