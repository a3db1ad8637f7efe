//! The lease while a run pages: renewed in the background, and a name for its holder.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use crate::admin_api::client::CursorApiClient;
use crate::admin_api::store::{Lease, PollStore};
use crate::aws::dynamo::CheckpointError;

/// Keeps the lease alive in the background while a run pages.
pub(crate) struct LeaseKeeper {
    lost: Arc<AtomicBool>,
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaseKeeper {
    pub(crate) fn start<S: PollStore>(
        store: Arc<S>,
        lease: Lease,
        duration: Duration,
        api: Arc<CursorApiClient>,
    ) -> LeaseKeeper {
        let lost = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(tokio::sync::Notify::new());
        let (flag, stopped) = (lost.clone(), stop.clone());
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(duration / 3) => {}
                    () = stopped.notified() => return,
                }
                match store.renew(&lease, duration, api.pacer.last_start()).await {
                    Ok(()) => {}
                    Err(err @ CheckpointError::LeaseLost { .. }) => {
                        tracing::error!(error = %err, "lease lost; this run stops at the next page");
                        flag.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "could not renew the lease; trying again");
                    }
                }
            }
        });
        LeaseKeeper { lost, stop, task }
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stops renewing and waits for a renewal in flight, so that none lands after the
    /// release (it would extend a freed lease).
    pub(crate) async fn stop(&mut self) {
        self.stop.notify_one();
        let _ = (&mut self.task).await;
    }
}

impl Drop for LeaseKeeper {
    /// A run abandoned midway (its future dropped) must not renew forever.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A name for this run's lease holder: the Lambda log stream or host, the process, a time.
pub(crate) fn lease_owner() -> String {
    let host = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .or_else(|_| std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()))
        .unwrap_or_else(|_| "local".into());
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{host}/pid-{}/{nanos:x}", std::process::id())
}
