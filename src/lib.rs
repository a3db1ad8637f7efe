//! cursor-audit-forwarder: ships Cursor Enterprise audit logs into Elasticsearch as the
//! ECS documents Elastic's Cursor integration produces.
//!
//! The binary is a thin wrapper; everything lives here so that tests can drive it.

pub mod aws;
pub mod checkpoint;
pub mod cli;
pub mod error;
pub mod forward;
pub mod lambda;
pub mod metrics;
pub mod normalize;
pub mod pipeline;
pub mod poll;
pub mod retry;
pub mod sink;
pub mod source;
pub mod synthetic;
