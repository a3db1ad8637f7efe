//! The ECS normalizer: one raw Cursor audit event (either shape) → the document Elastic's
//! Cursor integration would index, and its `_id`. Pure functions; the only inputs besides
//! the line are the options and the GeoIP readers it is handed. Spec: normalization.md.

mod categorize;
mod fields;
mod geoip;
mod payload;
mod timestamp;
mod url_parts;

use std::borrow::Cow;
use std::net::IpAddr;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

pub use categorize::{Category, categorize};
pub use geoip::{GeoIp, GeoIpOpenError};
pub use payload::{BOOLEAN_FIELDS, LONG_FIELDS};
pub use timestamp::{format_millis, parse_iso8601};
pub use url_parts::UrlParts;

/// `ecs.version` of every document.
pub const ECS_VERSION: &str = "9.3.0";
/// The tag that marks documents carrying `event.original`.
pub const PRESERVE_ORIGINAL_TAG: &str = "preserve_original_event";

/// Top-level keys of an S3 line that are never the dynamic event-type key.
const S3_RESERVED_KEYS: &[&str] = &["metadata", "team_id", "ip_address", "user_email"];

/// ECS keyword fields outside `cursor.audit` that the normalizer copies from the input.
const ECS_KEYWORD_FIELDS: &[&[&str]] = &[
    &["event", "id"],
    &["user", "email"],
    &["user", "target", "email"],
    &["user", "target", "id"],
    &["user", "target", "group", "id"],
];

/// How the normalizer is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct NormalizeOptions {
    /// Keep `event.original` (and the tag) on every document, not only on errors.
    pub preserve_original: bool,
}

/// The normalizer's output for one input line.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The document `_id` (§9); `None` when the event has no `event_id`.
    pub id: Option<String>,
    /// The ECS document.
    pub document: Map<String, Value>,
    /// True when `error.message` is set.
    pub has_error: bool,
}

/// The `_id` of an event: base64 of SHA-1 over 0x00 followed by the UTF-8 `event_id`.
pub fn document_id(event_id: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update([0u8]);
    hasher.update(event_id.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

/// Turns raw audit events into ECS documents.
#[derive(Debug, Default)]
pub struct Normalizer {
    options: NormalizeOptions,
    geoip: GeoIp,
}

impl Normalizer {
    /// A normalizer with these options and GeoIP readers.
    pub fn new(options: NormalizeOptions, geoip: GeoIp) -> Normalizer {
        Normalizer { options, geoip }
    }

    /// Normalizes one input line (without its `\n`); `None` for a blank line.
    pub fn normalize_line(&self, line: &[u8]) -> Option<Normalized> {
        self.normalize_line_at(line, Utc::now())
    }

    /// As [`Normalizer::normalize_line`], with `now` as the processing time.
    pub fn normalize_line_at(&self, line: &[u8], now: DateTime<Utc>) -> Option<Normalized> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let text = match std::str::from_utf8(line) {
            Ok(text) => text,
            Err(err) => {
                let original = String::from_utf8_lossy(line);
                let message = format!(
                    "line is not valid UTF-8 (invalid byte at offset {})",
                    err.valid_up_to()
                );
                return Some(self.error_document_at(&original, message, now));
            }
        };
        Some(match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(event)) => self.normalize_event_at(event, text, now),
            Ok(other) => self.error_document_at(
                text,
                format!("event is not a JSON object but {}", json_kind(&other)),
                now,
            ),
            Err(err) => self.error_document_at(text, format!("malformed JSON: {err}"), now),
        })
    }

    /// Normalizes an already parsed event (either shape); `original` is its raw text.
    pub fn normalize_event(&self, event: Map<String, Value>, original: &str) -> Normalized {
        self.normalize_event_at(event, original, Utc::now())
    }

    /// The document for input that could not be read as an event at all (§8): it keeps
    /// `original` and says why in `error.message`.
    pub fn error_document(&self, original: &str, message: String) -> Normalized {
        self.error_document_at(original, message, Utc::now())
    }

    fn error_document_at(&self, original: &str, message: String, now: DateTime<Utc>) -> Normalized {
        let mut doc = Map::new();
        doc.insert("@timestamp".into(), Value::String(format_millis(&now)));
        fields::set(&mut doc, &["ecs", "version"], Value::from(ECS_VERSION));
        fields::set(&mut doc, &["event", "kind"], Value::from("pipeline_error"));
        fields::set(&mut doc, &["event", "provider"], Value::from("cursor"));
        finish_errors(&mut doc, vec![message], original);
        Normalized {
            id: None,
            document: doc,
            has_error: true,
        }
    }

    fn normalize_event_at(
        &self,
        mut event: Map<String, Value>,
        original: &str,
        now: DateTime<Utc>,
    ) -> Normalized {
        let mut errors = Vec::new();
        let mut unmapped = Map::new();
        if event.get("metadata").is_some_and(|m| !m.is_null()) {
            flatten_s3(&mut event, &mut unmapped, &mut errors);
        }

        let mut doc = Map::new();
        doc.insert("@timestamp".into(), Value::Null);
        fields::set(&mut doc, &["ecs", "version"], Value::from(ECS_VERSION));

        let event_id = take_non_null(&mut event, "event_id");
        let id = event_id
            .as_ref()
            .map(|v| document_id(&fields::keyword_text(v)));
        let action = take_non_null(&mut event, "event_type").map(|v| fields::keyword_text(&v));
        if let Some(action) = &action {
            let row = categorize(action);
            fields::set(&mut doc, &["event", "action"], Value::from(action.as_str()));
            fields::set(&mut doc, &["event", "kind"], Value::from("event"));
            fields::set(&mut doc, &["event", "category"], string_list(row.category));
            fields::set(&mut doc, &["event", "type"], string_list(row.kind));
            if let Some(outcome) = row.outcome {
                fields::set(&mut doc, &["event", "outcome"], Value::from(outcome));
            }
        }

        let timestamp = match take_non_null(&mut event, "timestamp") {
            None => None,
            Some(value) => {
                let parsed = value.as_str().and_then(parse_iso8601);
                if parsed.is_none() {
                    errors.push(format!(
                        "unable to parse date [{}]",
                        fields::keyword_text(&value)
                    ));
                }
                parsed
            }
        };
        doc.insert(
            "@timestamp".into(),
            Value::String(format_millis(&timestamp.unwrap_or(now))),
        );
        if let Some(event_id) = event_id {
            fields::set(&mut doc, &["event", "id"], event_id);
        }

        let source_ip = match take_non_null(&mut event, "ip_address") {
            Some(Value::String(ip)) if ip == "unknown" => None,
            Some(Value::String(ip)) => match ip.parse::<IpAddr>() {
                Ok(addr) => {
                    fields::set(&mut doc, &["source", "ip"], Value::String(ip.clone()));
                    Some((addr, ip))
                }
                Err(_) => {
                    errors.push(format!("'{ip}' is not an IP string literal (ip_address)"));
                    None
                }
            },
            Some(other) => {
                errors.push(format!(
                    "'{}' is not an IP string literal (ip_address)",
                    fields::keyword_text(&other)
                ));
                None
            }
            None => None,
        };
        if let Some(email) = take_non_null(&mut event, "user_email") {
            if email.as_str() != Some("unknown") {
                fields::set(&mut doc, &["user", "email"], email);
            }
        }
        for (key, skip_blank) in [
            ("team_id", false),
            ("auth_id", true),
            ("ghost_mode", false),
            ("request_id", false),
            ("privacy_mode", false),
        ] {
            if let Some(value) = take_non_null(&mut event, key) {
                if !(skip_blank && value.as_str() == Some("")) {
                    fields::set(&mut doc, &["cursor", "audit", key], value);
                }
            }
        }

        let data = match event.shift_remove("event_data") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(data)) => data,
            Some(other) => Map::from_iter([("value".to_owned(), other)]),
        };
        payload::apply(action.as_deref(), data, &mut doc, &mut errors);

        // Beyond: nothing of the envelope is dropped silently.
        unmapped.extend(event);
        if !unmapped.is_empty() {
            fields::set(
                &mut doc,
                &["cursor", "audit", "unmapped"],
                Value::Object(unmapped),
            );
        }
        stringify_keyword_objects(&mut doc);

        if let Some((addr, ip)) = source_ip {
            self.enrich_geo(&mut doc, addr, &mut errors);
            fields::set(
                &mut doc,
                &["related", "ip"],
                Value::Array(vec![Value::String(ip)]),
            );
        }
        let related_users = related_users(&doc);
        if !related_users.is_empty() {
            fields::set(&mut doc, &["related", "user"], Value::from(related_users));
        }
        fields::set(&mut doc, &["event", "provider"], Value::from("cursor"));

        let has_error = !errors.is_empty();
        if has_error || self.options.preserve_original {
            finish_errors(&mut doc, errors, original);
        }
        Normalized {
            id,
            document: doc,
            has_error,
        }
    }

    fn enrich_geo(&self, doc: &mut Map<String, Value>, addr: IpAddr, errors: &mut Vec<String>) {
        match self.geoip.geo(addr) {
            Ok(Some(geo)) => fields::set(doc, &["source", "geo"], Value::Object(geo)),
            Ok(None) => {}
            Err(err) => errors.push(format!("GeoIP lookup of {addr} failed: {err}")),
        }
        match self.geoip.asn(addr) {
            Ok(Some(as_fields)) => fields::set(doc, &["source", "as"], Value::Object(as_fields)),
            Ok(None) => {}
            Err(err) => errors.push(format!("ASN lookup of {addr} failed: {err}")),
        }
    }
}

/// Removes `key` and returns its value unless it is absent or null.
fn take_non_null(event: &mut Map<String, Value>, key: &str) -> Option<Value> {
    event.shift_remove(key).filter(|v| !v.is_null())
}

fn string_list(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(*s)).collect())
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// §1: flattens an S3-shaped event into the API shape, in place. Further non-reserved
/// top-level keys go to `unmapped`.
fn flatten_s3(
    event: &mut Map<String, Value>,
    unmapped: &mut Map<String, Value>,
    errors: &mut Vec<String>,
) {
    let dynamic_keys: Vec<String> = event
        .keys()
        .filter(|k| !S3_RESERVED_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut dynamic_keys = dynamic_keys.into_iter();
    let event_type = dynamic_keys.next();
    for extra in dynamic_keys {
        if let Some(value) = event.shift_remove(&extra) {
            unmapped.insert(extra, value);
        }
    }
    let metadata = event.shift_remove("metadata");
    if let Some(event_type) = event_type {
        let payload = event.shift_remove(&event_type).unwrap_or(Value::Null);
        let data = match payload {
            Value::Object(data) => data,
            Value::Null => Map::new(),
            other => Map::from_iter([("value".to_owned(), other)]),
        };
        event.insert("event_type".into(), Value::String(event_type));
        event.insert("event_data".into(), Value::Object(data));
    }
    if let Some(Value::Object(mut metadata)) = metadata {
        if let Some(id) = metadata.shift_remove("id") {
            event.insert("event_id".into(), id);
        }
        if let Some(timestamp) = metadata.shift_remove("timestamp") {
            event.insert("timestamp".into(), timestamp);
        }
        if let Some(Value::Object(context)) = metadata.shift_remove("context") {
            for (key, value) in context {
                if !event.contains_key(&key) {
                    event.insert(key, value);
                }
            }
        }
    }
    if let Some(Value::String(privacy_mode)) = event.get_mut("privacy_mode") {
        match serde_json::from_str::<Value>(privacy_mode) {
            Ok(Value::Object(mut parsed)) => {
                if let Some(mode) = parsed.shift_remove("privacyMode").filter(|m| !m.is_null()) {
                    event.insert("privacy_mode".into(), mode);
                }
            }
            Ok(_) => {}
            Err(err) => errors.push(format!(
                "unable to parse privacy_mode [{privacy_mode}] as JSON: {err}"
            )),
        }
    }
}

/// Beyond (type safety): objects in keyword fields become their compact JSON text.
fn stringify_keyword_objects(doc: &mut Map<String, Value>) {
    if let Some(Value::Object(audit)) = fields::get_mut(doc, &["cursor", "audit"]) {
        for (key, value) in audit.iter_mut() {
            let open_ended = matches!(key.as_str(), "event_data" | "unmapped");
            let typed =
                BOOLEAN_FIELDS.contains(&key.as_str()) || LONG_FIELDS.contains(&key.as_str());
            if !open_ended && !typed && fields::needs_keyword_stringify(value) {
                *value = Value::String(value.to_string());
            }
        }
    }
    for path in ECS_KEYWORD_FIELDS {
        if let Some(value) = fields::get_mut(doc, path) {
            if fields::needs_keyword_stringify(value) {
                *value = Value::String(value.to_string());
            }
        }
    }
}

/// §7 `related.user`: actor, target, creator, sender; no duplicates, `""` or `"unknown"`.
fn related_users(doc: &Map<String, Value>) -> Vec<String> {
    const SOURCES: &[&[&str]] = &[
        &["user", "email"],
        &["user", "target", "email"],
        &["cursor", "audit", "creator_email"],
        &["cursor", "audit", "sender_email"],
        &["cursor", "audit", "sender_user_id"],
    ];
    let mut users: Vec<String> = Vec::new();
    for path in SOURCES {
        let text = match fields::get(doc, path) {
            Some(Value::String(s)) => Cow::Borrowed(s.as_str()),
            Some(scalar @ (Value::Number(_) | Value::Bool(_))) => Cow::Owned(scalar.to_string()),
            _ => continue,
        };
        if !text.is_empty() && text != "unknown" && !users.iter().any(|u| *u == text) {
            users.push(text.into_owned());
        }
    }
    users
}

/// §8: `error.message`, `event.original` and the tag.
fn finish_errors(doc: &mut Map<String, Value>, errors: Vec<String>, original: &str) {
    if !errors.is_empty() {
        fields::set(
            doc,
            &["error", "message"],
            Value::Array(errors.into_iter().map(Value::String).collect()),
        );
    }
    fields::set(doc, &["event", "original"], Value::from(original));
    doc.insert("tags".into(), string_list(&[PRESERVE_ORIGINAL_TAG]));
}

#[cfg(test)]
mod tests;
