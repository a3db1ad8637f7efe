//! The top level of one event, as parsed: the envelope keys the normalizer reads (§1–§3)
//! sit in fixed slots, found by name without a map lookup and never allocating their key;
//! any other key goes to an ordinary JSON map. Behaves as one map of all the keys.

use serde_json::{Map, Value};

/// The envelope keys with a slot of their own (the API shape's, plus `metadata`).
const SLOT_NAMES: [&str; 12] = [
    "event_id",
    "event_type",
    "event_data",
    "timestamp",
    "ip_address",
    "user_email",
    "team_id",
    "auth_id",
    "ghost_mode",
    "request_id",
    "privacy_mode",
    "metadata",
];

/// The slot of `key`, if it has one.
fn slot_of(key: &str) -> Option<usize> {
    SLOT_NAMES.iter().position(|name| *name == key)
}

/// The top-level keys of an event and their values; a later duplicate key replaces the
/// earlier one, as in a JSON map.
#[derive(Debug, Default)]
pub(super) struct Envelope {
    slots: [Option<Value>; SLOT_NAMES.len()],
    others: Map<String, Value>,
}

impl Envelope {
    /// Sets `key` (borrowed: a slot's key is never allocated).
    pub(super) fn insert(&mut self, key: &str, value: Value) {
        match slot_of(key) {
            Some(slot) => self.slots[slot] = Some(value),
            None => {
                self.others.insert(key.to_owned(), value);
            }
        }
    }

    /// Sets `key`, reusing its allocation when it has no slot.
    pub(super) fn insert_owned(&mut self, key: String, value: Value) {
        match slot_of(&key) {
            Some(slot) => self.slots[slot] = Some(value),
            None => {
                self.others.insert(key, value);
            }
        }
    }

    /// The value of `key`.
    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        match slot_of(key) {
            Some(slot) => self.slots[slot].as_ref(),
            None => self.others.get(key),
        }
    }

    /// Mutable access to the value of `key`.
    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        match slot_of(key) {
            Some(slot) => self.slots[slot].as_mut(),
            None => self.others.get_mut(key),
        }
    }

    /// True when `key` is present (null included).
    pub(super) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Removes `key` and returns its value.
    pub(super) fn remove(&mut self, key: &str) -> Option<Value> {
        match slot_of(key) {
            Some(slot) => self.slots[slot].take(),
            None => self.others.remove(key),
        }
    }

    /// The keys present.
    pub(super) fn keys(&self) -> impl Iterator<Item = &str> {
        SLOT_NAMES
            .iter()
            .zip(&self.slots)
            .filter(|(_, value)| value.is_some())
            .map(|(name, _)| *name)
            .chain(self.others.keys().map(String::as_str))
    }

    /// Every key still present with its value.
    pub(super) fn into_entries(self) -> impl Iterator<Item = (String, Value)> {
        SLOT_NAMES
            .iter()
            .zip(self.slots)
            .filter_map(|(name, value)| value.map(|value| ((*name).to_owned(), value)))
            .chain(self.others)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn behaves_as_one_map() {
        let mut envelope = Envelope::default();
        envelope.insert("event_id", json!("a"));
        envelope.insert("extra", json!(1));
        envelope.insert_owned("metadata".to_owned(), Value::Null);
        envelope.insert("event_id", json!("b"));
        assert_eq!(envelope.get("event_id"), Some(&json!("b")));
        assert!(envelope.contains_key("metadata"));
        assert!(!envelope.contains_key("timestamp"));
        let keys: Vec<&str> = envelope.keys().collect();
        assert_eq!(keys, ["event_id", "metadata", "extra"]);
        if let Some(extra) = envelope.get_mut("extra") {
            *extra = json!(2);
        }
        assert_eq!(envelope.remove("event_id"), Some(json!("b")));
        assert_eq!(envelope.remove("event_id"), None);
        let rest: Map<String, Value> = envelope.into_entries().collect();
        assert_eq!(Value::Object(rest), json!({"metadata": null, "extra": 2}));
    }
}
