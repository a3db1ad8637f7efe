//! The one output seam: where every input path sends its batches and asks what to send.
//! An [`Output`] is a cluster ([`EsSink`]) or standard output (dry runs,
//! [`StdoutSink`]). Adding an engine or another kind of output touches `sink/` and
//! `config/build.rs` only.

use tokio::time::Instant;

use super::bulk::BulkBatch;
use super::client::{BatchOutcome, EsSink};
use super::mode::ShipMode;
use super::stdout::StdoutSink;

/// Where documents go.
#[derive(Debug, Clone)]
pub enum Output {
    /// A cluster: documents are indexed, durable progress is recorded.
    Cluster(Box<EsSink>),
    /// Standard output (a dry run): documents are printed, no lease is taken and no
    /// progress is recorded.
    Stdout(StdoutSink),
}

impl Output {
    /// True for a dry run: nothing is stored, so nothing may be recorded as done.
    pub fn is_dry_run(&self) -> bool {
        matches!(self, Output::Stdout(_))
    }

    /// True when documents need their `_id` (a printed document shows none).
    pub fn wants_ids(&self) -> bool {
        matches!(self, Output::Cluster(_))
    }

    /// What to send: finished documents, or raw events for the integration's pipeline. A
    /// cluster is asked (once per process, sink/mode.rs); a dry run follows the setting.
    pub async fn mode(&self, deadline: Instant) -> ShipMode {
        match self {
            Output::Cluster(sink) => sink.mode_or_forwarder(deadline).await,
            Output::Stdout(stdout) => stdout.mode(),
        }
    }

    /// Delivers one batch; `source` names the input for dead-letter records. The batch is
    /// acknowledged when the outcome says so, and only then may the caller record progress.
    pub async fn send(&self, batch: &BulkBatch, source: &str, deadline: Instant) -> BatchOutcome {
        match self {
            Output::Cluster(sink) => sink.send(batch, source, deadline).await,
            Output::Stdout(stdout) => stdout.send(batch),
        }
    }
}
