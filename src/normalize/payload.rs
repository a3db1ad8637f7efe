//! The `event_data` rules of docs/normalization.md §4–6, applied in the integration's order.

use serde_json::{Map, Value};

use super::audit_rules::{CURSOR_AUDIT_RULES, LONG_FIELDS, RULES_BY_SOURCE, When};
use super::fields;
use super::url_parts::UrlParts;

/// Actions whose payload names a target user.
const TARGET_USER_ACTIONS: &[&str] = &[
    "add_user",
    "remove_user",
    "update_user_role",
    "add_user_to_directory_group",
    "remove_user_from_directory_group",
];
const DIRECTORY_GROUP_MEMBER_ACTIONS: &[&str] = &[
    "add_user_to_directory_group",
    "remove_user_from_directory_group",
];

/// Moves `data[key]` to `target` in `doc` when the target is unset and `accept` holds.
/// Returns whether it moved.
fn move_if(
    data: &mut Map<String, Value>,
    key: &str,
    doc: &mut Map<String, Value>,
    target: &[&str],
    accept: impl Fn(&Value) -> bool,
) -> bool {
    let ready = data.get(key).is_some_and(&accept) && !fields::is_set(doc, target);
    if !ready {
        return false;
    }
    match data.remove_entry(key) {
        // A move to the same name one level down reuses the key's allocation.
        Some((name, value)) if target.len() == 1 && target[0] == name => {
            doc.insert(name, value);
            true
        }
        Some((_, value)) => {
            fields::set(doc, target, value);
            true
        }
        None => false,
    }
}

fn any(_: &Value) -> bool {
    true
}

fn non_null(value: &Value) -> bool {
    !value.is_null()
}

fn known(value: &Value) -> bool {
    !value.is_null() && value.as_str() != Some("unknown")
}

/// Applies §4 rules 1–14 (with §5 outcomes and §6 URL parts) for `action`. ECS fields go
/// to `doc`, `cursor.audit.*` fields to `audit` (the `cursor.audit` object, kept apart so
/// that each move is one map operation). Errors are appended to `errors`.
pub(super) fn apply(
    action: Option<&str>,
    mut data: Map<String, Value>,
    doc: &mut Map<String, Value>,
    audit: &mut Map<String, Value>,
    outcome: &mut Option<&'static str>,
    errors: &mut Vec<String>,
) {
    let action = action.unwrap_or_default();
    let is = |actions: &[&str]| actions.contains(&action);
    let target_email = &["user", "target", "email"][..];

    // 1–8: ECS target user and group.
    if is(TARGET_USER_ACTIONS) {
        move_if(&mut data, "user_email", doc, target_email, known);
        move_if(&mut data, "email", doc, target_email, non_null);
    }
    if action == "user_spend_limit" {
        move_if(&mut data, "target_user_email", doc, target_email, known);
        move_if(&mut data, "userEmail", doc, target_email, non_null);
    }
    if action == "invite_email_sent" {
        move_if(&mut data, "recipient_email", doc, target_email, known);
    }
    if is(DIRECTORY_GROUP_MEMBER_ACTIONS) {
        let group_id = &["user", "target", "group", "id"][..];
        move_if(&mut data, "directory_group_id", doc, group_id, any);
        move_if(&mut data, "group_id", doc, group_id, any);
        move_if(&mut data, "user_id", doc, &["user", "target", "id"], any);
    }

    // 9: outcomes read from the payload before it moves.
    let payload_outcome = match action {
        "login" => match data.get("success") {
            None | Some(Value::Null) | Some(Value::Bool(true)) => Some("success"),
            Some(Value::Bool(false)) => Some("failure"),
            Some(_) => None,
        },
        "protected_git_scope_access_check" => match data.get("result").and_then(Value::as_str) {
            Some("allowed") => Some("success"),
            Some("blocked") => Some("failure"),
            _ => None,
        },
        _ => None,
    };
    if payload_outcome.is_some() {
        *outcome = payload_outcome;
    }

    // 10: the team hook's URL.
    if action == "team_hook"
        && move_if(
            &mut data,
            "url",
            doc,
            &["url", "original"],
            Value::is_string,
        )
    {
        apply_url_parts(doc, errors);
    }

    // 11: known payload fields to cursor.audit.*, visiting only the rules whose source key
    // is present (a payload has a handful of keys; the table has ninety rules).
    let mut applicable: Vec<usize> = data
        .keys()
        .filter_map(|key| RULES_BY_SOURCE.get(key.as_str()))
        .flatten()
        .copied()
        .collect();
    applicable.sort_unstable();
    for rule in applicable.into_iter().map(|i| &CURSOR_AUDIT_RULES[i]) {
        let target = [rule.to];
        match rule.when {
            When::Always => {
                move_if(&mut data, rule.from, audit, &target, any);
            }
            When::Actions(actions) => {
                if actions.contains(&action) {
                    move_if(&mut data, rule.from, audit, &target, any);
                }
            }
            When::NotSentinel(sentinel) => {
                move_if(&mut data, rule.from, audit, &target, |v| {
                    !v.is_null() && v.as_str() != Some(sentinel)
                });
                data.remove(rule.from);
            }
        }
        if rule.to == "role" && action == "add_user" {
            match audit.get_mut("role") {
                Some(Value::String(role)) => *role = role.to_lowercase(),
                // The integration's `lowercase` takes a list of strings too.
                Some(Value::Array(roles)) if roles.iter().all(Value::is_string) => {
                    for role in roles.iter_mut() {
                        if let Value::String(text) = role {
                            *text = text.to_lowercase();
                        }
                    }
                }
                None | Some(Value::Null) => {}
                // Anything else makes the integration's `lowercase` fail.
                Some(other) => errors.push(format!(
                    "field [cursor.audit.role] of value [{}] cannot be lowercased",
                    super::fields::keyword_text(other)
                )),
            }
        }
    }

    // 12: envelope leaks.
    for leak in ["team_id", "ip_address", "user_agent"] {
        data.remove(leak);
    }

    // 13: integer fields.
    for name in LONG_FIELDS {
        coerce_long(audit, name, errors);
    }

    // 14: whatever is left.
    if !data.is_empty() {
        audit.insert("event_data".into(), Value::Object(data));
    }
}

fn apply_url_parts(doc: &mut Map<String, Value>, errors: &mut Vec<String>) {
    let Some(Value::String(original)) = fields::get(doc, &["url", "original"]) else {
        return;
    };
    let original = original.clone();
    match UrlParts::parse(&original) {
        Some(parts) => {
            if let Some(Value::Object(url)) = doc.get_mut("url") {
                parts.write_into(url);
            }
        }
        None => errors.push(format!("unable to parse URI [{original}]")),
    }
}

/// Parses an optionally signed decimal integer string.
fn parse_integer_text(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.strip_prefix('+').unwrap_or(text).parse().ok()
}

/// A JSON integer that fits in i64, or an integer string, as a long.
fn long_of(value: &Value) -> Option<Value> {
    match value {
        Value::Number(n) => n.as_i64().map(Value::from),
        Value::String(text) => parse_integer_text(text).map(Value::from),
        _ => None,
    }
}

fn coerce_long(audit: &mut Map<String, Value>, name: &str, errors: &mut Vec<String>) {
    let Some(value) = audit.get_mut(name) else {
        return;
    };
    let converted = match &*value {
        Value::Null => return,
        Value::Number(n) if n.is_i64() => return,
        // The integration's `convert` converts each element of a list.
        Value::Array(items) => items
            .iter()
            .map(long_of)
            .collect::<Option<Vec<Value>>>()
            .map(Value::Array),
        other => long_of(other),
    };
    match converted {
        Some(number) => *value = number,
        None => {
            errors.push(format!(
                "unable to convert [{}] to long (cursor.audit.{name})",
                fields::keyword_text(value)
            ));
            audit.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(action: &str, data: Value) -> (Value, Vec<String>) {
        let Value::Object(data) = data else {
            panic!("data must be an object")
        };
        let mut doc = Map::new();
        let mut audit = Map::new();
        let mut errors = Vec::new();
        let mut outcome = None;
        apply(
            Some(action),
            data,
            &mut doc,
            &mut audit,
            &mut outcome,
            &mut errors,
        );
        if let Some(outcome) = outcome {
            fields::set(&mut doc, &["event", "outcome"], Value::from(outcome));
        }
        if !audit.is_empty() {
            fields::set(&mut doc, &["cursor", "audit"], Value::Object(audit));
        }
        (Value::Object(doc), errors)
    }

    #[test]
    fn integer_text() {
        assert_eq!(parse_integer_text("604800"), Some(604800));
        assert_eq!(parse_integer_text("-5"), Some(-5));
        assert_eq!(parse_integer_text("+7"), Some(7));
        for bad in ["", "+", "1.5", " 1", "1e3", "0x10", "99999999999999999999"] {
            assert_eq!(parse_integer_text(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn plain_move_onto_occupied_target_leaves_source() {
        let mut doc = Map::new();
        fields::set(&mut doc, &["cursor", "audit", "scope"], json!("team"));
        let Value::Object(mut data) = json!({"scope": "user"}) else {
            unreachable!()
        };
        assert!(!move_if(
            &mut data,
            "scope",
            &mut doc,
            &["cursor", "audit", "scope"],
            any
        ));
        assert_eq!(data.get("scope"), Some(&json!("user")));
        assert_eq!(
            fields::get(&doc, &["cursor", "audit", "scope"]),
            Some(&json!("team"))
        );
    }

    #[test]
    fn sentinels_are_dropped() {
        let (doc, _) = run(
            "add_user",
            json!({"invite_id": "", "invited_by_email": "", "invited_by_user_id": "0", "git_enterprise_uuid": ""}),
        );
        assert_eq!(doc, json!({}));
        let (doc, _) = run(
            "add_user",
            json!({"invite_id": "i1", "invited_by_email": "a@x", "invited_by_user_id": "0.0", "git_enterprise_uuid": "g"}),
        );
        assert_eq!(
            doc,
            json!({"cursor": {"audit": {"invite_id": "i1", "invited_by_email": "a@x", "invited_by_user_id": "0.0", "git_enterprise_uuid": "g"}}})
        );
    }

    #[test]
    fn unknown_target_email_stays_in_event_data() {
        let (doc, _) = run("add_user", json!({"user_email": "unknown", "email": "e@x"}));
        assert_eq!(
            doc,
            json!({"user": {"target": {"email": "e@x"}}, "cursor": {"audit": {"event_data": {"user_email": "unknown"}}}})
        );
    }

    #[test]
    fn bad_integer_is_removed_with_error() {
        let (doc, errors) = run(
            "user_spend_limit",
            json!({"old_limit_cents": "12ab", "new_limit_cents": "500"}),
        );
        assert_eq!(doc, json!({"cursor": {"audit": {"new_limit_cents": 500}}}));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("12ab"), "{errors:?}");
    }
}
