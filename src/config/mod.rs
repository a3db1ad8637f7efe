//! Configuration: typed settings for every component, parsed once from flags and the
//! environment (one clap definition per setting, validated as it is parsed), and the one
//! place that builds components from them. The front ends choose a command and call it.

pub mod build;
pub mod cursor;
pub mod error;
pub mod lambda;
pub mod normalizer;
pub mod parse;
pub mod s3;
pub mod secret;
pub mod sink;
pub mod teams;
pub mod timeouts;
pub mod validate;
pub mod webhook;

pub use cursor::CursorArgs;
pub use error::ConfigError;
pub use lambda::LambdaArgs;
pub use normalizer::{DEFAULT_MAX_LINE_BYTES, NormalizerArgs};
pub use parse::{CommaList, parse_duration, parse_positive};
pub use s3::{CheckpointArgs, S3Args};
pub use secret::Secret;
pub use sink::SinkArgs;
pub use teams::{Team, TeamsArgs};
pub use webhook::WebhookArgs;
