//! Values derived from the fields once they are in place: §7 `related.user`, and the rule
//! that a keyword field never holds an object (docs/normalization.md, "Beyond").

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::audit_rules::{BOOLEAN_FIELDS, LONG_FIELDS};
use super::document::EventFields;
use super::fields;

/// ECS keyword fields outside `cursor.audit` that the normalizer copies from the input.
const ECS_KEYWORD_FIELDS: &[&[&str]] = &[
    &["user", "email"],
    &["user", "target", "email"],
    &["user", "target", "id"],
    &["user", "target", "group", "id"],
];

/// Beyond (type safety): objects in keyword fields become their compact JSON text.
pub(super) fn stringify_keyword_objects(
    ecs: &mut Map<String, Value>,
    audit: &mut Map<String, Value>,
    event: &mut EventFields,
) {
    let stringify = |value: &mut Value| {
        if fields::needs_keyword_stringify(value) {
            *value = Value::String(value.to_string());
        }
    };
    for (key, value) in audit.iter_mut() {
        let open_ended = matches!(key.as_str(), "event_data" | "unmapped");
        let typed = BOOLEAN_FIELDS.contains(&key.as_str()) || LONG_FIELDS.contains(&key.as_str());
        if !open_ended && !typed {
            stringify(value);
        }
    }
    for path in ECS_KEYWORD_FIELDS {
        if let Some(value) = fields::get_mut(ecs, path) {
            stringify(value);
        }
    }
    if let Some(id) = event.id.as_mut() {
        stringify(id);
    }
}

/// §7 `related.user`: actor, target, creator, sender; no duplicates and no `""`; the e-mail
/// fields skip `"unknown"` too, `sender_user_id` does not (as in the integration).
pub(super) fn related_users(ecs: &Map<String, Value>, audit: &Map<String, Value>) -> Vec<String> {
    let sources = [
        (fields::get(ecs, &["user", "email"]), "unknown"),
        (fields::get(ecs, &["user", "target", "email"]), "unknown"),
        (audit.get("creator_email"), "unknown"),
        (audit.get("sender_email"), "unknown"),
        (audit.get("sender_user_id"), ""),
    ];
    let mut users: Vec<String> = Vec::new();
    for (source, skipped) in sources {
        let text = match source {
            Some(Value::String(s)) => Cow::Borrowed(s.as_str()),
            Some(scalar @ (Value::Number(_) | Value::Bool(_))) => Cow::Owned(scalar.to_string()),
            _ => continue,
        };
        if !text.is_empty() && text != skipped && !users.iter().any(|u| *u == text) {
            users.push(text.into_owned());
        }
    }
    users
}
