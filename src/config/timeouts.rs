//! The two timeouts both clients have (the cluster's `ES_*`, the Admin API's `CURSOR_*`),
//! each with one rule: how long one batch or page is retried, and how long one request may
//! take.

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
