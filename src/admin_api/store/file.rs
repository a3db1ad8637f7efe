//! The poll state in a local file (command-line use without `CHECKPOINT_TABLE`): the
//! checkpoint as JSON, replaced atomically; the lease as an OS lock on a sibling file.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{Lease, LeaseAttempt, PollCheckpoint, PollStore, epoch_ms, from_epoch_ms};
use crate::aws::dynamo::CheckpointError;

/// The poll state in a local file (command-line use without `CHECKPOINT_TABLE`).
#[derive(Debug)]
pub struct FilePollStore {
    path: PathBuf,
    /// The lease file: `<path>.lease` of the live checkpoint's path.
    lease: PathBuf,
    /// The locked lease file while the lease is held.
    lock: Mutex<Option<std::fs::File>>,
}

impl FilePollStore {
    /// State in `path`; the lease is a lock on `<path>.lease`.
    pub fn new(path: PathBuf) -> FilePollStore {
        FilePollStore {
            lease: suffixed(&path, ".lease"),
            path,
            lock: Mutex::new(None),
        }
    }

    fn lease_path(&self) -> PathBuf {
        self.lease.clone()
    }

    fn error(&self, path: &Path, message: impl std::fmt::Display) -> CheckpointError {
        CheckpointError::File {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }
}

/// `path` with `suffix` appended to its name.
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
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

    fn with_checkpoint(&self, label: &str) -> FilePollStore {
        FilePollStore {
            path: suffixed(&self.path, &format!(".{label}")),
            lease: self.lease.clone(),
            lock: Mutex::new(None),
        }
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
    use crate::admin_api::client::wire::Window;
    use crate::admin_api::store::WindowProgress;

    use std::time::UNIX_EPOCH;

    use crate::test_time::at;

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
