//! cursor-audit-forwarder: ships Cursor Enterprise audit logs into Elasticsearch as the
//! ECS documents Elastic's Cursor integration produces.
//!
//! The module map and the data flow of each path are in docs/ARCHITECTURE.md. In short:
//! the front ends ([`cli`], [`lambda`]) → [`config`] (settings, and building components
//! from them) → the input paths ([`s3`], [`admin_api`], [`sources`], [`webhook`]) → shared pieces
//! ([`shipping`], [`normalize`], [`geoip`], [`sink`], [`http`], [`aws`], [`telemetry`],
//! [`error`]). Nothing imports a front end.

#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod admin_api;
pub mod aws;
pub mod cli;
pub mod config;
pub mod error;
pub mod fidelity;
pub mod geoip;
pub mod http;
pub mod lambda;
pub mod normalize;
pub mod s3;
pub mod shipping;
pub mod sink;
pub mod sources;
pub mod telemetry;
#[cfg(test)]
mod test_time;
pub mod webhook;
