//! The Elasticsearch sink: bulk batching, the HTTP client with retries, the dead letter and
//! the index templates.

pub mod bulk;
pub mod client;
pub mod cluster_url;
pub mod connection;
pub mod counts;
pub mod dead_letter;
pub mod error;
pub mod mode;
pub mod sigv4;
pub mod templates;

pub use bulk::{BatchLimits, BulkBatch};
pub use client::{BatchOutcome, EsSink, default_backoff};
pub use cluster_url::decode_cloud_id;
pub use connection::{EsConnection, EsSettings};
pub use counts::Counts;
pub use dead_letter::DeadLetter;
pub use error::{BatchError, DeadLetterError, EsError};
pub use mode::{ModeDecision, NormalizeIn, ShipMode};
pub use sigv4::{SigV4Choice, SigV4Signer, SigningRegion};
