//! The two timeouts both clients have (the cluster's `ES_*`, the Admin API's `CURSOR_*`),
//! each with one rule: how long one batch or page is retried, and how long one request may
//! take.

use std::time::Duration;

use super::validate::between;

/// The longest retry budget of one batch or page: a day.
pub const MAX_RETRY_SECONDS: u64 = 86_400;
/// The longest timeout of one request: an hour.
pub const MAX_REQUEST_SECONDS: u64 = 3_600;

/// The parser of a retry budget setting (1 s to a day), named `name` in its messages.
pub fn retry_seconds(
    name: &'static str,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    between(name, 1, MAX_RETRY_SECONDS)
}

/// The parser of a request timeout setting (1 s to an hour), named `name` in its messages.
pub fn request_seconds(
    name: &'static str,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    between(name, 1, MAX_REQUEST_SECONDS)
}

/// One client's two timeouts as settings: the same two rules, under the client's own names.
macro_rules! timeout_settings {
    ($(#[$doc:meta])* $name:ident {
        retry: $retry_flag:literal, $retry_value:literal, $retry_env:literal = $retry_default:literal, $retry_help:literal;
        request: $request_flag:literal, $request_value:literal, $request_env:literal = $request_default:literal, $request_help:literal;
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, clap::Args)]
        pub struct $name {
            #[doc = $retry_help]
            #[arg(id = $retry_flag, long = $retry_flag, env = $retry_env, value_name = $retry_value, default_value_t = $retry_default,
                  value_parser = retry_seconds($retry_env))]
            pub retry_seconds: u64,
            #[doc = $request_help]
            #[arg(id = $request_flag, long = $request_flag, env = $request_env, value_name = $request_value, default_value_t = $request_default,
                  value_parser = request_seconds($request_env))]
            pub request_seconds: u64,
        }

        impl $name {
            /// How long one batch or page is retried.
            pub fn retry(&self) -> Duration {
                Duration::from_secs(self.retry_seconds)
            }

            /// How long one request may take.
            pub fn request(&self) -> Duration {
                Duration::from_secs(self.request_seconds.max(1))
            }
        }
    };
}

timeout_settings! {
    /// The cluster's timeouts.
    SinkTimeouts {
        retry: "retry-timeout-seconds", "RETRY_TIMEOUT_SECONDS", "ES_RETRY_TIMEOUT_SECONDS" = 300,
            "How long one batch may be retried (throttling, outages) before it counts as failed.";
        request: "request-timeout-seconds", "REQUEST_TIMEOUT_SECONDS", "ES_REQUEST_TIMEOUT_SECONDS" = 60,
            "Timeout of one HTTP request.";
    }
}

timeout_settings! {
    /// The Admin API's timeouts.
    CursorTimeouts {
        retry: "cursor-retry-timeout-seconds", "CURSOR_RETRY_TIMEOUT_SECONDS", "CURSOR_RETRY_TIMEOUT_SECONDS" = 300,
            "How long one page may be retried (429, 5xx, timeouts) on the command line; in Lambda the invocation's deadline also bounds it.";
        request: "cursor-request-timeout-seconds", "CURSOR_REQUEST_TIMEOUT_SECONDS", "CURSOR_REQUEST_TIMEOUT_SECONDS" = 30,
            "Timeout of one Admin API request.";
    }
}
