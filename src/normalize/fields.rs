//! Small helpers for reading and writing dotted paths in a JSON document.

use serde_json::{Map, Value};

/// The value at `path`, if every step exists and is an object.
pub(crate) fn get<'a>(doc: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut current = doc;
    for step in parents {
        current = current.get(*step)?.as_object()?;
    }
    current.get(*last)
}

/// True when `path` holds a value other than null ("is set" in the spec's sense).
pub(crate) fn is_set(doc: &Map<String, Value>, path: &[&str]) -> bool {
    get(doc, path).is_some_and(|v| !v.is_null())
}

/// Writes `value` at `path`, creating intermediate objects. An intermediate that is not
/// an object is replaced by one (the normalizer only builds objects, so this never loses data).
pub(crate) fn set(doc: &mut Map<String, Value>, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = doc;
    for step in parents {
        // Look up before inserting: `entry` would allocate the key even when it exists.
        if !current.get(*step).is_some_and(Value::is_object) {
            current.insert((*step).to_owned(), Value::Object(Map::new()));
        }
        let Some(Value::Object(map)) = current.get_mut(*step) else {
            return;
        };
        current = map;
    }
    match current.get_mut(*last) {
        Some(slot) => *slot = value,
        None => {
            current.insert((*last).to_owned(), value);
        }
    }
}

/// Mutable access to the value at `path`.
pub(crate) fn get_mut<'a>(doc: &'a mut Map<String, Value>, path: &[&str]) -> Option<&'a mut Value> {
    let (last, parents) = path.split_last()?;
    let mut current = doc;
    for step in parents {
        current = current.get_mut(*step)?.as_object_mut()?;
    }
    current.get_mut(*last)
}

/// The text Elasticsearch would index for a scalar in a keyword field, or the compact
/// JSON of anything else.
pub(crate) fn keyword_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// True when an object (or a list holding an object) would be rejected by a keyword mapping.
pub(crate) fn needs_keyword_stringify(value: &Value) -> bool {
    match value {
        Value::Object(_) => true,
        Value::Array(items) => items.iter().any(needs_keyword_stringify),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn set_creates_parents_and_get_reads_back() {
        let mut doc = Map::new();
        set(&mut doc, &["user", "target", "email"], json!("a@b"));
        assert_eq!(get(&doc, &["user", "target", "email"]), Some(&json!("a@b")));
        assert!(is_set(&doc, &["user", "target", "email"]));
        assert!(!is_set(&doc, &["user", "email"]));
    }

    #[test]
    fn null_is_not_set() {
        let doc = obj(json!({"a": {"b": null}}));
        assert!(get(&doc, &["a", "b"]).is_some());
        assert!(!is_set(&doc, &["a", "b"]));
    }

    #[test]
    fn stringify_detection() {
        assert!(needs_keyword_stringify(&json!({"a": 1})));
        assert!(needs_keyword_stringify(&json!(["x", {"a": 1}])));
        assert!(!needs_keyword_stringify(&json!(["x", "y"])));
        assert_eq!(keyword_text(&json!({"a": [1, 2]})), r#"{"a":[1,2]}"#);
        assert_eq!(keyword_text(&json!(23)), "23");
    }
}
