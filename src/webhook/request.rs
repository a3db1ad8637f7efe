//! A Lambda function URL request and response (payload format 2.0): only the fields the
//! receiver reads. `Debug` shows neither the headers' values nor the body (the
//! `Authorization` header carries the token).

use std::collections::BTreeMap;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// A function URL request (payload format 2.0).
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionUrlRequest {
    /// `2.0`.
    #[serde(default)]
    pub version: Option<String>,
    /// The path.
    #[serde(default)]
    pub raw_path: Option<String>,
    /// Headers, names in lowercase (values of repeated headers joined by commas).
    #[serde(default)]
    headers: HashMap<String, String>,
    /// The body: text, or base64 when `is_base64_encoded`.
    #[serde(default)]
    pub body: Option<String>,
    /// True when the body is base64 (a binary body, such as gzip).
    #[serde(default)]
    pub is_base64_encoded: bool,
    /// The request's context.
    pub request_context: RequestContext,
}

/// `requestContext`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// The request id (also the invocation's).
    #[serde(default)]
    pub request_id: Option<String>,
    /// The HTTP request.
    pub http: HttpContext,
}

/// `requestContext.http`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpContext {
    /// The method.
    pub method: String,
    /// The caller's address.
    #[serde(default)]
    pub source_ip: Option<String>,
}

impl FunctionUrlRequest {
    /// A header's value, the name matched without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The method, in capitals.
    pub fn method(&self) -> String {
        self.request_context.http.method.to_ascii_uppercase()
    }

    /// The request id, when the event has one.
    pub fn request_id(&self) -> Option<&str> {
        self.request_context.request_id.as_deref()
    }
}

impl std::fmt::Debug for FunctionUrlRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.headers.keys().collect();
        names.sort();
        f.debug_struct("FunctionUrlRequest")
            .field("method", &self.request_context.http.method)
            .field("raw_path", &self.raw_path)
            .field("request_id", &self.request_context.request_id)
            .field("header_names", &names)
            .field("body_len", &self.body.as_ref().map(String::len))
            .field("is_base64_encoded", &self.is_base64_encoded)
            .finish()
    }
}

/// A function URL response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionUrlResponse {
    /// The status.
    pub status_code: u16,
    /// Headers.
    pub headers: BTreeMap<String, String>,
    /// A JSON body.
    pub body: String,
    /// Always false: the body is text.
    pub is_base64_encoded: bool,
}

impl FunctionUrlResponse {
    /// A response with a JSON body.
    pub fn json(status_code: u16, body: &serde_json::Value) -> FunctionUrlResponse {
        FunctionUrlResponse {
            status_code,
            headers: BTreeMap::from([("content-type".into(), "application/json".into())]),
            body: body.to_string(),
            is_base64_encoded: false,
        }
    }

    /// An error response: `{"error": message}`.
    pub fn error(status_code: u16, message: &str) -> FunctionUrlResponse {
        FunctionUrlResponse::json(status_code, &serde_json::json!({ "error": message }))
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> FunctionUrlResponse {
        self.headers.insert(name.into(), value.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_neither_header_values_nor_the_body() {
        let request: FunctionUrlRequest = serde_json::from_value(serde_json::json!({
            "version": "2.0",
            "rawPath": "/",
            "headers": {"Authorization": "Bearer HiddenToken123", "content-type": "application/json"},
            "body": "{\"secret\":\"HiddenBody456\"}",
            "isBase64Encoded": false,
            "requestContext": {"requestId": "r-1", "http": {"method": "post", "sourceIp": "192.0.2.1"}}
        }))
        .unwrap();
        assert_eq!(
            request.header("authorization"),
            Some("Bearer HiddenToken123")
        );
        assert_eq!(request.method(), "POST");
        let shown = format!("{request:?}");
        assert!(
            !shown.contains("HiddenToken123") && !shown.contains("HiddenBody456"),
            "{shown}"
        );
        assert!(
            shown.contains("authorization") || shown.contains("Authorization"),
            "{shown}"
        );
    }
}
