//! Where documents go: the one [`Output`] seam (a cluster, or standard output for dry
//! runs), and the cluster sink behind it: bulk batching, the connection and its
//! credentials, delivery with retries and the dead letter, the mode, and the index
//! templates.

pub mod bulk;
pub mod client;
pub mod cluster_url;
pub mod connection;
pub mod counts;
pub mod credentials;
pub mod dead_letter;
pub mod error;
pub mod mappings;
pub mod mode;
pub mod output;
pub mod pipelines;
pub mod retention;
pub mod sigv4;
pub mod stdout;
pub mod templates;

pub use bulk::{BatchLimits, BulkBatch};
pub use client::{BatchOutcome, EsSink, default_backoff};
pub use cluster_url::decode_cloud_id;
pub use connection::{EsConnection, EsSettings};
pub use counts::Counts;
pub use credentials::{CredentialSource, SecretReader};
pub use dead_letter::DeadLetter;
pub use error::{BatchError, DeadLetterError, EsError};
pub use mappings::Engine;
pub use mode::{ModeDecision, NormalizeIn, ShipMode};
pub use output::Output;
pub use retention::{Retention, RetentionOutcome};
pub use sigv4::{SigV4Choice, SigV4Signer, SigningRegion};
pub use stdout::{DocumentWriter, StdoutSink, stdout_documents};
pub use templates::{SetupError, SetupReport, SetupResult};
