//! cursor-audit-forwarder: ships Cursor Enterprise audit logs into Elasticsearch as the
//! ECS documents Elastic's Cursor integration produces.
//!
//! The module map and the data flow of each path are in docs/ARCHITECTURE.md. In short:
//! the front ends ([`cli`], [`lambda`]) → [`config`] (settings, and building components
//! from them) → the input paths ([`s3`], [`admin_api`]) → shared pieces ([`shipping`],
//! [`normalize`], [`sink`], [`decompress`], [`lines`], [`deadline`], [`checkpoint`],
//! [`retry`], [`metrics`], [`output`], [`aws`]). Nothing imports a front end.

#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod admin_api;
pub mod aws;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod deadline;
pub mod decompress;
pub mod error;
pub mod geoip_source;
pub mod http_body;
pub mod lambda;
pub mod lines;
pub mod logging;
pub mod metrics;
pub mod normalize;
pub mod output;
pub mod retry;
pub mod s3;
pub mod shipping;
pub mod sink;
#[cfg(test)]
mod test_time;
