//! Logs: JSON lines on stderr, filtered by `RUST_LOG` (default `info`).
//!
//! Some dependencies print requests, responses, identities or frames at `trace` (the AWS
//! SDK's orchestrator, hyper, h2, reqwest, rustls; the Lambda runtime prints every event,
//! a function URL request's `Authorization` header included: tests/webhook.rs). None of the
//! others printed a credential in our tests (tests/hardening.rs), but their `trace` records
//! are dropped whatever `RUST_LOG` says, as a second line of defence: a new dependency
//! version must not start leaking one.

use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Crates whose `trace` output can hold secrets.
const NO_TRACE: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_smithy_types",
    "aws_config",
    "aws_sigv4",
    "aws_runtime",
    "hyper",
    "hyper_util",
    "lambda_runtime",
    "lambda_runtime_api_client",
    "h2",
    "reqwest",
    "rustls",
];

/// True for a `trace` record of one of [`NO_TRACE`]'s crates.
fn may_hold_secrets(level: &Level, target: &str) -> bool {
    *level == Level::TRACE
        && NO_TRACE.iter().any(|krate| {
            target == *krate
                || target
                    .strip_prefix(krate)
                    .is_some_and(|rest| rest.starts_with("::"))
        })
}

/// JSON logs on stderr, filtered by `RUST_LOG` (default `info`), never a dependency's
/// `trace` record that may hold secrets.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .and(filter_fn(|meta| {
            !may_hold_secrets(meta.level(), meta.target())
        }));
    let layer = fmt::layer()
        .json()
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_traces_that_may_hold_secrets_are_dropped() {
        assert!(may_hold_secrets(
            &Level::TRACE,
            "aws_smithy_runtime::client::orchestrator"
        ));
        assert!(may_hold_secrets(&Level::TRACE, "h2"));
        assert!(may_hold_secrets(
            &Level::TRACE,
            "lambda_runtime::layers::api_response"
        ));
        assert!(!may_hold_secrets(
            &Level::DEBUG,
            "aws_smithy_runtime::client::orchestrator"
        ));
        assert!(!may_hold_secrets(&Level::TRACE, "cursor_audit_forwarder"));
        assert!(!may_hold_secrets(&Level::TRACE, "hyperloop"));
    }
}
