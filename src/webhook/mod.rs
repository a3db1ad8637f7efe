//! The webhook input path: Cursor's streaming webhook POSTs audit events to a Lambda
//! function URL. A request is checked (method, bearer token, size, framing), its events
//! stored durably as one gzip JSON-lines object under `WEBHOOK_ARCHIVE_URI`, and only then
//! answered 200; the S3 path ships the object (docs/webhook.md).

pub mod archive;
pub mod framing;
pub mod request;
pub mod token;

pub use archive::{Archive, ArchiveError};
pub use framing::{BodyError, Limits, body_bytes, event_lines};
pub use request::{FunctionUrlRequest, FunctionUrlResponse};
pub use token::{TokenError, TokenSettings, TokenSource, Tokens};

/// The webhook receiver, built once per process.
#[derive(Debug)]
pub struct WebhookReceiver {
    /// The valid bearer tokens.
    pub tokens: Tokens,
    /// Where accepted payloads are stored.
    pub archive: Archive,
    /// Body size limits.
    pub limits: Limits,
}

/// What one request came to.
#[derive(Debug)]
pub struct Received {
    /// The answer.
    pub response: FunctionUrlResponse,
    /// Events stored.
    pub accepted: u64,
}

impl Received {
    fn refused(response: FunctionUrlResponse) -> Received {
        Received {
            response,
            accepted: 0,
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(request: &FunctionUrlRequest) -> Option<&str> {
    let (scheme, token) = request.header("authorization")?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl WebhookReceiver {
    /// Answers one request: 200 once its events are stored; 405, 401, 413, 415 or 400 for a
    /// request refused (nothing stored); 500 or 503 when the tokens or the archive cannot be
    /// reached (the sender retries).
    pub async fn receive(&self, request: &FunctionUrlRequest) -> Received {
        let request_id = request.request_id().unwrap_or("-");
        let source_ip = request
            .request_context
            .http
            .source_ip
            .as_deref()
            .unwrap_or("-");
        if request.method() != "POST" {
            tracing::warn!(request_id, source_ip, method = %request.method(), "webhook: method not allowed");
            let response = FunctionUrlResponse::error(405, "only POST is accepted");
            return Received::refused(response.with_header("allow", "POST"));
        }
        let authorized = match bearer(request) {
            None => Ok(false),
            Some(token) => self.tokens.accepts(token).await,
        };
        match authorized {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    request_id,
                    source_ip,
                    "webhook: missing or invalid bearer token"
                );
                let response = FunctionUrlResponse::error(401, "a valid bearer token is required");
                return Received::refused(response.with_header("www-authenticate", "Bearer"));
            }
            Err(err) => {
                tracing::error!(request_id, error = %err, "webhook: cannot read the tokens");
                return Received::refused(FunctionUrlResponse::error(
                    500,
                    "the receiver cannot check tokens now; retry later",
                ));
            }
        }
        let lines = match body_bytes(request, self.limits).and_then(|body| event_lines(&body)) {
            Ok(lines) => lines,
            Err(err) => {
                tracing::warn!(request_id, source_ip, status = err.status(), problem = %err, "webhook: body refused");
                return Received::refused(FunctionUrlResponse::error(
                    err.status(),
                    &err.to_string(),
                ));
            }
        };
        let accepted = lines.len() as u64;
        if lines.is_empty() {
            tracing::info!(request_id, "webhook: no events; nothing stored");
            let body = serde_json::json!({ "accepted": 0 });
            return Received::refused(FunctionUrlResponse::json(200, &body));
        }
        let key = self
            .archive
            .key_for(chrono::Utc::now(), request.request_id());
        match self.archive.store(key, &lines).await {
            Ok(location) => {
                tracing::info!(request_id, events = accepted, archived = %location, "webhook: events stored");
                Received {
                    response: FunctionUrlResponse::json(
                        200,
                        &serde_json::json!({ "accepted": accepted }),
                    ),
                    accepted,
                }
            }
            Err(err) => {
                tracing::error!(request_id, events = accepted, error = %err, "webhook: cannot store the events");
                Received::refused(FunctionUrlResponse::error(
                    503,
                    "the events could not be stored; retry later",
                ))
            }
        }
    }
}
