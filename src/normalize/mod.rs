//! The ECS normalizer: one raw Cursor audit event (either shape) → the document Elastic's
//! Cursor integration would index, and its `_id`. Pure functions; the only inputs besides
//! the line are the options and the GeoIP readers it is handed. Spec: docs/normalization.md.

mod audit_rules;
mod categorize;
mod derived;
mod document;
mod envelope;
mod fields;
mod fingerprint;
mod geoip;
mod parse_line;
mod payload;
mod s3_shape;
mod timestamp;
mod url_parts;

use std::net::IpAddr;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

pub use audit_rules::{BOOLEAN_FIELDS, LONG_FIELDS};
pub use categorize::{Category, categorize};
pub use document::{
    CloudFields, CursorFields, DataStreamFields, EcsDocument, EcsFields, ErrorFields, EventFields,
    LogFields, LogFile, RelatedFields, SourceFields,
};
pub use geoip::{GeoIp, GeoIpOpenError};
pub use timestamp::{format_millis, normalize_timestamp, parse_iso8601};
pub use url_parts::UrlParts;

use derived::{related_users, stringify_keyword_objects};
use envelope::Envelope;
use parse_line::ParsedLine;
use s3_shape::flatten_s3;

/// `ecs.version` of every document.
pub const ECS_VERSION: &str = "9.3.0";
/// A JSON object.
type JsonObject = Map<String, Value>;

/// `event.provider` of every document.
pub const PROVIDER: &str = "cursor";
/// The tag that marks documents carrying `event.original`.
pub const PRESERVE_ORIGINAL_TAG: &str = "preserve_original_event";

/// How the normalizer is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct NormalizeOptions {
    /// Keep `event.original` (and the tag) on every document, not only on errors.
    pub preserve_original: bool,
}

/// Whether the `_id` (§9) is computed with the document: printing documents needs none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    /// [`Normalized::id`] is set when the event has an `event_id`.
    Computed,
    /// [`Normalized::id`] is always `None` (no hashing).
    Skipped,
}

/// The normalizer's output for one input line.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// The document `_id` (§9); `None` when the event has no `event_id` (or [`Ids::Skipped`]).
    pub id: Option<String>,
    /// The ECS document.
    pub document: EcsDocument,
    /// True when `error.message` is set.
    pub has_error: bool,
}

impl Normalized {
    /// The document as a JSON value.
    pub fn to_value(&self) -> Value {
        self.document.to_value()
    }
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
    /// Replaced whole when a database is refreshed (documents see one or the other).
    geoip: std::sync::RwLock<std::sync::Arc<GeoIp>>,
}

impl Normalizer {
    /// A normalizer with these options and GeoIP readers.
    pub fn new(options: NormalizeOptions, geoip: GeoIp) -> Normalizer {
        Normalizer {
            options,
            geoip: std::sync::RwLock::new(std::sync::Arc::new(geoip)),
        }
    }

    /// Uses `geoip` from now on (a refreshed database); documents being normalized finish
    /// with the readers they started with.
    pub fn replace_geoip(&self, geoip: GeoIp) {
        let mut current = self.geoip.write().unwrap_or_else(|e| e.into_inner());
        *current = std::sync::Arc::new(geoip);
    }

    /// The GeoIP readers in use.
    pub fn current_geoip(&self) -> std::sync::Arc<GeoIp> {
        self.geoip.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// True when documents keep `event.original` (`PRESERVE_ORIGINAL_EVENT`).
    pub fn preserves_original(&self) -> bool {
        self.options.preserve_original
    }

    /// Normalizes one input line (without its `\n`); `None` for a blank line.
    pub fn normalize_line(&self, line: &[u8]) -> Option<Normalized> {
        self.normalize_line_at(line, Utc::now())
    }

    /// As [`Normalizer::normalize_line`], computing the `_id` only when `ids` asks for it.
    pub fn normalize_line_ids(&self, line: &[u8], ids: Ids) -> Option<Normalized> {
        self.normalize(line, Utc::now(), ids)
    }

    /// As [`Normalizer::normalize_line`], with `now` as the processing time.
    pub fn normalize_line_at(&self, line: &[u8], now: DateTime<Utc>) -> Option<Normalized> {
        self.normalize(line, now, Ids::Computed)
    }

    fn normalize(&self, line: &[u8], now: DateTime<Utc>, ids: Ids) -> Option<Normalized> {
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
        Some(match serde_json::from_str::<ParsedLine>(text) {
            Ok(ParsedLine::Object {
                event,
                first_dynamic_key,
            }) => self.normalize_event_at(event, first_dynamic_key, text, now, ids),
            // The integration's `json` processor reads `null` as nothing to parse, and the
            // pipeline goes on as for `{}`.
            Ok(ParsedLine::NotObject("null")) => {
                self.normalize_event_at(Envelope::default(), None, text, now, ids)
            }
            Ok(ParsedLine::NotObject(kind)) => {
                self.error_document_at(text, format!("event is not a JSON object but {kind}"), now)
            }
            Err(err) => self.error_document_at(text, format!("malformed JSON: {err}"), now),
        })
    }

    /// The document for input that could not be read as an event at all (§8): it keeps
    /// `original` and says why in `error.message`.
    pub fn error_document(&self, original: &str, message: String) -> Normalized {
        self.error_document_at(original, message, Utc::now())
    }

    fn error_document_at(&self, original: &str, message: String, now: DateTime<Utc>) -> Normalized {
        let document = EcsDocument {
            timestamp: format_millis(&now),
            event: EventFields {
                kind: Some("pipeline_error"),
                original: Some(original.to_owned()),
                provider: PROVIDER,
                ..EventFields::default()
            },
            error: Some(ErrorFields {
                message: vec![message],
            }),
            tags: vec![PRESERVE_ORIGINAL_TAG.to_owned()],
            ..EcsDocument::default()
        };
        Normalized {
            id: None,
            document,
            has_error: true,
        }
    }

    fn normalize_event_at(
        &self,
        mut event: Envelope,
        first_dynamic_key: Option<String>,
        original: &str,
        now: DateTime<Utc>,
        ids: Ids,
    ) -> Normalized {
        let mut errors = Vec::new();
        let mut unmapped = Map::new();
        if event.get("metadata").is_some_and(|m| !m.is_null()) {
            flatten_s3(&mut event, first_dynamic_key, &mut unmapped, &mut errors);
        }

        let mut ecs_event = EventFields {
            provider: PROVIDER,
            ..EventFields::default()
        };
        // A null event_id is kept as `event.id: null` (as the integration's rename does), with
        // no `_id`.
        let event_id = event.remove("event_id");
        let id = event_id
            .as_ref()
            .filter(|v| ids == Ids::Computed && !v.is_null())
            .map(fingerprint::fingerprint_id);
        let action = take_non_null(&mut event, "event_type").map(|v| match v {
            Value::String(text) => text,
            other => {
                // The integration's categorization calls string methods on it and fails.
                errors.push(format!(
                    "event_type [{}] is not a string",
                    fields::keyword_text(&other)
                ));
                fields::keyword_text(&other)
            }
        });
        if let Some(action) = &action {
            let row = categorize(action);
            ecs_event.action = Some(action.clone());
            ecs_event.kind = Some("event");
            ecs_event.category = Some(row.category);
            ecs_event.kind_of = Some(row.kind);
            ecs_event.outcome = row.outcome;
        }

        let timestamp = match take_non_null(&mut event, "timestamp") {
            None => None,
            Some(value) => {
                let parsed = value.as_str().and_then(normalize_timestamp);
                if parsed.is_none() {
                    errors.push(format!(
                        "unable to parse date [{}]",
                        fields::keyword_text(&value)
                    ));
                }
                parsed
            }
        };
        ecs_event.id = event_id;

        let source_ip = match take_non_null(&mut event, "ip_address") {
            Some(Value::String(ip)) if ip == "unknown" => None,
            Some(Value::String(ip)) => match ip.parse::<IpAddr>() {
                Ok(addr) => Some((addr, ip)),
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
        // `user` and `url` are filled by path (the payload rules move values into them).
        let mut ecs = Map::new();
        if let Some(email) = take_non_null(&mut event, "user_email")
            && email.as_str() != Some("unknown")
        {
            fields::set(&mut ecs, &["user", "email"], email);
        }
        let mut audit = Map::new();
        // A null value is kept as null (the integration renames it), except for auth_id,
        // which is skipped when null or "".
        for key in [
            "team_id",
            "auth_id",
            "ghost_mode",
            "request_id",
            "privacy_mode",
        ] {
            let value = if key == "auth_id" {
                take_non_null(&mut event, key).filter(|v| v.as_str() != Some(""))
            } else {
                event.remove(key)
            };
            if let Some(value) = value {
                audit.insert(key.to_owned(), value);
            }
        }

        let data = match event.remove("event_data") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(data)) => data,
            Some(other) => {
                // The integration's payload rules read keys of it and fail.
                errors.push(format!(
                    "event_data [{}] is not an object",
                    fields::keyword_text(&other)
                ));
                Map::from_iter([("value".to_owned(), other)])
            }
        };
        payload::apply(
            action.as_deref(),
            data,
            &mut ecs,
            &mut audit,
            &mut ecs_event.outcome,
            &mut errors,
        );

        // Beyond: nothing of the envelope is dropped silently.
        unmapped.extend(event.into_entries());
        if !unmapped.is_empty() {
            audit.insert("unmapped".into(), Value::Object(unmapped));
        }
        stringify_keyword_objects(&mut ecs, &mut audit, &mut ecs_event);
        let users = related_users(&ecs, &audit);

        let mut related = RelatedFields {
            ip: Vec::new(),
            user: users,
        };
        let source = source_ip.map(|(addr, ip)| {
            related.ip.push(ip.clone());
            let (geo, as_fields) = self.enrich_geo(addr, &mut errors);
            SourceFields { as_fields, geo, ip }
        });

        let has_error = !errors.is_empty();
        let mut tags = Vec::new();
        if has_error || self.options.preserve_original {
            ecs_event.original = Some(original.to_owned());
            tags.push(PRESERVE_ORIGINAL_TAG.to_owned());
        }
        let document = EcsDocument {
            timestamp: timestamp.unwrap_or_else(|| format_millis(&now)),
            cursor: (!audit.is_empty()).then_some(CursorFields { audit }),
            error: has_error.then_some(ErrorFields { message: errors }),
            event: ecs_event,
            related: (!related.ip.is_empty() || !related.user.is_empty()).then_some(related),
            source,
            tags,
            url: take_object(&mut ecs, "url"),
            user: take_object(&mut ecs, "user"),
            ..EcsDocument::default()
        };
        Normalized {
            id,
            document,
            has_error,
        }
    }

    fn enrich_geo(
        &self,
        addr: IpAddr,
        errors: &mut Vec<String>,
    ) -> (Option<JsonObject>, Option<JsonObject>) {
        let geoip = self.current_geoip();
        let geo = geoip.geo(addr).unwrap_or_else(|err| {
            errors.push(format!("GeoIP lookup of {addr} failed: {err}"));
            None
        });
        let as_fields = geoip.asn(addr).unwrap_or_else(|err| {
            errors.push(format!("ASN lookup of {addr} failed: {err}"));
            None
        });
        (geo, as_fields)
    }
}

/// Removes `key` and returns its value unless it is absent or null.
fn take_non_null(event: &mut Envelope, key: &str) -> Option<Value> {
    event.remove(key).filter(|v| !v.is_null())
}

/// Removes `key` from `map` when it holds an object.
fn take_object(map: &mut Map<String, Value>, key: &str) -> Option<Map<String, Value>> {
    match map.remove(key) {
        Some(Value::Object(object)) => Some(object),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
