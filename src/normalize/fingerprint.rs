//! The `_id` of an event (§9): what the integration's `fingerprint` processor (SHA-1, one
//! field, no salt) makes of `event_id`, whatever its JSON type.

use base64::Engine as _;
use serde_json::Value;
use sha1::{Digest, Sha1};

/// Base64 of SHA-1 over a depth-first walk of `value`: each string as 0x00 + its UTF-8
/// bytes, a boolean as 0x00 + 0x01 (true) or 0x02 (false), null as 0x00, a list element by
/// element, an object's entries sorted by key as 0x00 + key followed by the value's walk;
/// numbers as 0x00 + their little-endian bytes (4 for an `int`, 8 for a `long` or a
/// `double`, as Elasticsearch holds parsed JSON numbers). For a string this is
/// [`super::document_id`].
pub(super) fn fingerprint_id(value: &Value) -> String {
    let mut hasher = Sha1::new();
    walk(value, &mut hasher);
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

fn walk(value: &Value, hasher: &mut Sha1) {
    match value {
        Value::String(text) => {
            hasher.update([0u8]);
            hasher.update(text.as_bytes());
        }
        Value::Bool(flag) => hasher.update([0u8, if *flag { 1 } else { 2 }]),
        Value::Null => hasher.update([0u8]),
        Value::Array(items) => items.iter().for_each(|item| walk(item, hasher)),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            for key in keys {
                hasher.update([0u8]);
                hasher.update(key.as_bytes());
                if let Some(item) = map.get(key) {
                    walk(item, hasher);
                }
            }
        }
        Value::Number(number) => {
            hasher.update([0u8]);
            if let Some(int) = number.as_i64().and_then(|n| i32::try_from(n).ok()) {
                hasher.update(int.to_le_bytes());
            } else if let Some(long) = number.as_i64() {
                hasher.update(long.to_le_bytes());
            } else {
                hasher.update(number.as_f64().unwrap_or_default().to_le_bytes());
            }
        }
    }
}
