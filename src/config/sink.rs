//! The Elasticsearch settings: where the cluster is, how to authenticate, which data stream,
//! batching, retries and the dead letter.

use std::path::PathBuf;

use clap::Args;

use super::parse::CommaList;
use super::teams::TeamsArgs;
use super::timeouts::SinkTimeouts;
use super::validate::{between, parse_namespace, parse_pipeline};
use crate::s3::DeadLetterPlace;
use crate::shipping::ShipFields;
use crate::shipping::deadline::Deadline;
use crate::sink::{BatchLimits, EsSettings, NormalizeIn, Retention};

/// The largest bulk body (`http.max_content_length` defaults to 100 MB).
pub const MAX_BULK_BYTES: usize = 100 * 1024 * 1024;
/// The most documents in one bulk request.
pub const MAX_BULK_ACTIONS: usize = 100_000;

/// Elasticsearch target, batching and dead letter (docs/ARCHITECTURE.md, "Settings").
#[derive(Debug, Clone, Args)]
pub struct SinkArgs {
    /// Where the cluster is and how to authenticate.
    #[command(flatten)]
    pub connection: EsSettings,
    /// Writes to logs-cursor.audit-<namespace>.
    #[arg(long, env = "DATA_STREAM_NAMESPACE", default_value = "default", value_parser = parse_namespace)]
    pub namespace: String,
    /// Ingest pipeline for `_bulk`.
    #[arg(long, env = "ES_PIPELINE", value_parser = parse_pipeline)]
    pub es_pipeline: Option<String>,
    /// A bulk request's largest body (uncompressed bytes).
    #[arg(long, env = "BULK_MAX_BYTES", default_value_t = 5 * 1024 * 1024,
          value_parser = between("BULK_MAX_BYTES", 1, MAX_BULK_BYTES))]
    pub bulk_max_bytes: usize,
    /// A bulk request's most documents.
    #[arg(long, env = "BULK_MAX_ACTIONS", default_value_t = 2000,
          value_parser = between("BULK_MAX_ACTIONS", 1, MAX_BULK_ACTIONS))]
    pub bulk_max_actions: usize,
    /// Tags added to every document (comma-separated).
    #[arg(long, env = "TAGS", default_value = "forwarded,cursor-audit")]
    pub tags: CommaList,
    /// The teams of a Cursor Organization: their namespaces and tags (and, for the
    /// poller, their keys).
    #[command(flatten)]
    pub teams: TeamsArgs,
    /// S3 bucket for permanently rejected documents.
    #[arg(long, env = "DEAD_LETTER_BUCKET")]
    pub dead_letter_bucket: Option<String>,
    /// Key prefix of dead-letter objects.
    #[arg(long, env = "DEAD_LETTER_PREFIX", default_value = "dead-letter/")]
    pub dead_letter_prefix: String,
    /// Local directory for rejected documents when no bucket is set (command-line use).
    #[arg(long, env = "DEAD_LETTER_DIR")]
    pub dead_letter_dir: Option<PathBuf>,
    /// Where events are normalized: `auto` (the cluster when the data stream's default
    /// pipeline is Elastic's Cursor integration's), `forwarder` or `cluster`.
    #[arg(long, env = "NORMALIZE_IN", default_value = "auto")]
    pub normalize_in: NormalizeIn,
    /// How long `setup` has the cluster keep documents: days (`365d`), or `none` (a data
    /// stream lifecycle on Elasticsearch 8.11+, an ISM policy on OpenSearch).
    #[arg(long, env = "DATA_RETENTION", default_value = "365d")]
    pub data_retention: Retention,
    /// How long one batch is retried, and one request may take.
    #[command(flatten)]
    pub timeouts: SinkTimeouts,
}

impl SinkArgs {
    /// The connection settings as configured (secrets not yet resolved).
    pub fn settings(&self) -> EsSettings {
        EsSettings {
            request_timeout: self.timeouts.request(),
            ..self.connection.clone().without_empty()
        }
    }

    /// True when a cluster is configured (directly or through a secret).
    pub fn is_configured(&self) -> bool {
        self.settings().is_configured()
    }

    /// The shipping fields of docs/normalization.md §10.
    pub fn ship_fields(&self) -> ShipFields {
        ShipFields {
            namespace: self.namespace.clone(),
            tags: self.tags.0.clone(),
        }
    }

    /// Batch limits.
    pub fn limits(&self) -> BatchLimits {
        BatchLimits {
            max_bytes: self.bulk_max_bytes,
            max_actions: self.bulk_max_actions,
        }
    }

    /// The ingest pipeline, if one is set.
    pub fn pipeline(&self) -> Option<String> {
        self.es_pipeline.clone().filter(|p| !p.is_empty())
    }

    /// Where our dead letters are, for the S3 path to skip them.
    pub fn dead_letter_place(&self) -> DeadLetterPlace {
        DeadLetterPlace {
            bucket: self.dead_letter_bucket.clone().filter(|b| !b.is_empty()),
            prefix: self.dead_letter_prefix.clone(),
        }
    }

    /// Retry budget per batch (no hard deadline on the command line).
    pub fn deadline(&self) -> Deadline {
        Deadline::unbounded(self.timeouts.retry())
    }
}
