//! A webhook body → event lines: base64 (a function URL's binary bodies) and gzip undone
//! with size caps, then a JSON object, a JSON array of objects, or NDJSON (one object per
//! line; concatenated objects too). Errors say what is wrong and where, never the content.

use std::io::Read;

use base64::Engine as _;
use serde_json::value::RawValue;

use super::request::FunctionUrlRequest;

/// How large a body may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// After base64 decoding, before inflation.
    pub max_body_bytes: usize,
    /// After gzip inflation.
    pub max_inflated_bytes: usize,
}

/// Why a body is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Larger than `max_body_bytes`.
    #[error("the body is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Inflates past `max_inflated_bytes`.
    #[error("the body inflates to more than {limit} bytes")]
    InflatesTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A `Content-Encoding` other than gzip or identity.
    #[error("Content-Encoding must be gzip or identity")]
    UnsupportedEncoding,
    /// `isBase64Encoded`, but not base64.
    #[error("the body is marked base64 but does not decode")]
    BadBase64,
    /// Not a complete gzip stream.
    #[error("the gzip body is corrupt or truncated")]
    BadGzip,
    /// Not UTF-8.
    #[error("line {line}: not UTF-8")]
    NotUtf8 {
        /// Where.
        line: usize,
    },
    /// Nothing but white space.
    #[error("the body holds no JSON")]
    Empty,
    /// Not JSON.
    #[error("line {line} column {column}: {kind}")]
    NotJson {
        /// What kind of error.
        kind: &'static str,
        /// Where.
        line: usize,
        /// Where.
        column: usize,
    },
    /// A JSON value that is not an object where an event belongs.
    #[error("line {line}: {what} is not a JSON object")]
    NotAnObject {
        /// Which value (`the value`, `element 3 of the array`).
        what: String,
        /// Where it starts.
        line: usize,
    },
    /// An array beside other values.
    #[error("line {line}: a JSON array must be the whole body")]
    ArrayNotAlone {
        /// Where the array or the value after it starts.
        line: usize,
    },
}

impl BodyError {
    /// The HTTP status that answers it.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge { .. } | BodyError::InflatesTooLarge { .. } => 413,
            BodyError::UnsupportedEncoding => 415,
            _ => 400,
        }
    }
}

/// The body's bytes: base64 decoded, and inflated when it is gzip (`Content-Encoding:
/// gzip`, or gzip's magic bytes), each step within its limit.
pub fn body_bytes(request: &FunctionUrlRequest, limits: Limits) -> Result<Vec<u8>, BodyError> {
    let gzip_header = match request.header("content-encoding").map(str::trim) {
        None | Some("") => false,
        Some(value) if value.eq_ignore_ascii_case("identity") => false,
        Some(value)
            if value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip") =>
        {
            true
        }
        Some(_) => return Err(BodyError::UnsupportedEncoding),
    };
    let text = request.body.as_deref().unwrap_or("");
    let too_large = BodyError::TooLarge {
        limit: limits.max_body_bytes,
    };
    let raw = if request.is_base64_encoded {
        if text.len() / 4 * 3 > limits.max_body_bytes + 3 {
            return Err(too_large);
        }
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| BodyError::BadBase64)?
    } else {
        text.as_bytes().to_vec()
    };
    if raw.len() > limits.max_body_bytes {
        return Err(too_large);
    }
    if !(gzip_header || raw.starts_with(&[0x1f, 0x8b])) {
        return Ok(raw);
    }
    let cap = limits.max_inflated_bytes;
    let mut inflated = Vec::with_capacity(raw.len().saturating_mul(4).min(cap));
    flate2::read::MultiGzDecoder::new(&raw[..])
        .take(cap as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|_| BodyError::BadGzip)?;
    if inflated.len() > cap {
        return Err(BodyError::InflatesTooLarge { limit: cap });
    }
    Ok(inflated)
}

/// The events of a body, one line each: a value on one line is kept byte for byte; one
/// spanning lines (pretty-printed) loses its white space outside strings.
pub fn event_lines(body: &[u8]) -> Result<Vec<String>, BodyError> {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    let text = std::str::from_utf8(body).map_err(|err| BodyError::NotUtf8 {
        line: line_at(body, err.valid_up_to()),
    })?;
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    let mut lines = Vec::new();
    let mut index = 0usize;
    while let Some(value) = values.next() {
        let value = value.map_err(|err| BodyError::NotJson {
            kind: error_kind(&err),
            line: err.line(),
            column: err.column(),
        })?;
        let start = offset_in(text, value.get());
        if value.get().starts_with('[') {
            let line = line_at(body, start);
            if index > 0 {
                return Err(BodyError::ArrayNotAlone { line });
            }
            if let Some(next) = values.next() {
                let line = match next {
                    Ok(next) => line_at(body, offset_in(text, next.get())),
                    Err(err) => err.line(),
                };
                return Err(BodyError::ArrayNotAlone { line });
            }
            return array_lines(body, text, value);
        }
        index += 1;
        if !value.get().starts_with('{') {
            return Err(BodyError::NotAnObject {
                what: "the value".into(),
                line: line_at(body, start),
            });
        }
        lines.push(one_line(value.get()));
    }
    if index == 0 {
        return Err(BodyError::Empty);
    }
    Ok(lines)
}

/// The elements of a JSON array, each an event.
fn array_lines(body: &[u8], text: &str, array: &RawValue) -> Result<Vec<String>, BodyError> {
    let elements: Vec<&RawValue> =
        serde_json::from_str(array.get()).map_err(|err| BodyError::NotJson {
            kind: error_kind(&err),
            line: line_at(body, offset_in(text, array.get())) + err.line() - 1,
            column: err.column(),
        })?;
    elements
        .iter()
        .enumerate()
        .map(|(i, element)| {
            if element.get().starts_with('{') {
                Ok(one_line(element.get()))
            } else {
                Err(BodyError::NotAnObject {
                    what: format!("element {} of the array", i + 1),
                    line: line_at(body, offset_in(text, element.get())),
                })
            }
        })
        .collect()
}

/// `raw` on one line: unchanged when it is, else without white space outside strings
/// (inside a JSON string a line break is always escaped).
fn one_line(raw: &str) -> String {
    if !raw.contains(['\n', '\r']) {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in raw.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

/// Where `part` (a slice of `text`) starts in `text`.
fn offset_in(text: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(text.as_ptr() as usize)
}

/// The line (from 1) of byte `offset`.
fn line_at(body: &[u8], offset: usize) -> usize {
    1 + memchr::memchr_iter(b'\n', &body[..offset.min(body.len())]).count()
}

/// What kind of JSON error, without the text serde quotes.
fn error_kind(err: &serde_json::Error) -> &'static str {
    match err.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "not an event",
        serde_json::error::Category::Eof => "truncated JSON",
    }
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
