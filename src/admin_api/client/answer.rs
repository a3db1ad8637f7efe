//! What one answer of the Admin API means (docs/cursor-admin-api.md): a page, something to
//! retry after a wait, a refused key, or a failure; redirects are never followed and bodies
//! are read with a limit.

use std::time::Duration;

use super::error::CursorApiError;
use super::wire::{AuditLogPage, MAX_RESPONSE_BYTES, Window, cursor_message, excerpt};
use crate::error::error_chain;
use crate::http::body::{BodyError, read_limited};

/// What one attempt produced.
pub(crate) enum Attempt {
    Page(AuditLogPage),
    /// Worth trying again after the wait (`None`: the backoff decides).
    Retry {
        problem: String,
        wait: Option<Duration>,
        throttled: bool,
    },
    Unauthorized(String),
    Fail(CursorApiError),
}

/// Reads `response` to page `page` of `window` (at most `page_size` events).
pub(crate) async fn read_answer(
    mut response: reqwest::Response,
    window: &Window,
    page: u32,
    page_size: u32,
) -> Attempt {
    let status = response.status().as_u16();
    let retry_after = crate::http::retry::retry_after(response.headers());
    if (300..400).contains(&status) {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or("nowhere")
            .to_owned();
        return Attempt::Fail(CursorApiError::Rejected {
            window: *window,
            page,
            status,
            message: format!(
                "a redirect to {location}, not followed (the key would go with it): check CURSOR_API_URL"
            ),
        });
    }
    let body = match read_limited(&mut response, MAX_RESPONSE_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge { .. }) if status == 429 || status >= 500 => {
            return Attempt::Retry {
                problem: format!("{status} with a body over {MAX_RESPONSE_BYTES} bytes"),
                wait: retry_after,
                throttled: status == 429,
            };
        }
        Err(BodyError::TooLarge { .. }) => {
            return Attempt::Fail(CursorApiError::BadResponse {
                window: *window,
                page,
                message: format!(
                    "the body is larger than {MAX_RESPONSE_BYTES} bytes; lower CURSOR_PAGE_SIZE"
                ),
            });
        }
        Err(BodyError::Transport(err)) => {
            return Attempt::Retry {
                problem: format!(
                    "reading the answer ({status}) failed: {}",
                    error_chain(&err)
                ),
                wait: None,
                throttled: false,
            };
        }
    };
    match status {
        200..=299 => match serde_json::from_slice::<AuditLogPage>(&body) {
            Ok(answer) if answer.events.len() > page_size as usize => {
                Attempt::Fail(CursorApiError::BadResponse {
                    window: *window,
                    page,
                    message: format!(
                        "{} events in a page of at most {} (pageSize)",
                        answer.events.len(),
                        page_size
                    ),
                })
            }
            Ok(page) => Attempt::Page(page),
            Err(err) => Attempt::Fail(CursorApiError::BadResponse {
                window: *window,
                page,
                message: format!("not an audit-log page ({err}): {}", excerpt(&body)),
            }),
        },
        401 => Attempt::Unauthorized(cursor_message(&body)),
        429 => Attempt::Retry {
            problem: format!("429 {}", cursor_message(&body)),
            wait: retry_after,
            throttled: true,
        },
        500..=599 => Attempt::Retry {
            problem: format!("{status} {}", cursor_message(&body)),
            wait: retry_after,
            throttled: false,
        },
        _ => Attempt::Fail(CursorApiError::Rejected {
            window: *window,
            page,
            status,
            message: cursor_message(&body),
        }),
    }
}
