//! The S3 shape (docs/normalization.md §1): the event type is the first non-reserved
//! top-level key, and the rest of the line is flattened into the Admin API shape.

use serde_json::{Map, Value};

use super::envelope::Envelope;

/// Top-level keys of an S3 line that are never the dynamic event-type key.
pub(super) const S3_RESERVED_KEYS: &[&str] = &["metadata", "team_id", "ip_address", "user_email"];

/// §1: flattens an S3-shaped event into the API shape, in place. Further non-reserved
/// top-level keys go to `unmapped`.
pub(super) fn flatten_s3(
    event: &mut Envelope,
    event_type: Option<String>,
    unmapped: &mut Map<String, Value>,
    errors: &mut Vec<String>,
) {
    let extras: Vec<String> = event
        .keys()
        .filter(|k| !S3_RESERVED_KEYS.contains(k) && Some(*k) != event_type.as_deref())
        .map(str::to_owned)
        .collect();
    for extra in extras {
        if let Some(value) = event.remove(&extra) {
            unmapped.insert(extra, value);
        }
    }
    let metadata = event.remove("metadata");
    if let Some(event_type) = event_type {
        let payload = event.remove(&event_type).unwrap_or(Value::Null);
        let data = match payload {
            Value::Object(data) => data,
            Value::Null => Map::new(),
            other => Map::from_iter([("value".to_owned(), other)]),
        };
        event.insert("event_type", Value::String(event_type));
        event.insert("event_data", Value::Object(data));
    }
    if let Some(Value::Object(mut metadata)) = metadata {
        if let Some(id) = metadata.remove("id") {
            event.insert("event_id", id);
        }
        if let Some(timestamp) = metadata.remove("timestamp") {
            event.insert("timestamp", timestamp);
        }
        if let Some(Value::Object(context)) = metadata.remove("context") {
            for (key, value) in context {
                if !event.contains_key(&key) {
                    event.insert_owned(key, value);
                }
            }
        }
    }
    if let Some(Value::String(privacy_mode)) = event.get_mut("privacy_mode")
        // Empty text is nothing to parse for the integration's `json` processor (no error).
        && !privacy_mode
            .bytes()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        match serde_json::from_str::<Value>(privacy_mode) {
            Ok(Value::Object(mut parsed)) => {
                if let Some(mode) = parsed.remove("privacyMode").filter(|m| !m.is_null()) {
                    event.insert("privacy_mode", mode);
                }
            }
            Ok(Value::Null) => {}
            // The integration reads `privacyMode` of it, which fails on anything but an object.
            Ok(other) => errors.push(format!(
                "privacy_mode [{privacy_mode}] is JSON but not an object: {}",
                json_kind(&other)
            )),
            Err(err) => errors.push(format!(
                "unable to parse privacy_mode [{privacy_mode}] as JSON: {err}"
            )),
        }
    }
}

/// The kind of a JSON value, for error messages.
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
