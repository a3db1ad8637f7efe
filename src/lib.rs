//! cursor-audit-forwarder: ships Cursor Enterprise audit logs into Elasticsearch as the
//! ECS documents Elastic's Cursor integration produces.
//!
//! The binary is a thin wrapper; everything lives here so that tests can drive it.

pub mod cli;
pub mod normalize;
pub mod source;
pub mod synthetic;
