//! One input line parsed just enough: an object in document order with the first key that
//! can name an S3 event type (docs/normalization.md §1), or the kind of JSON it was instead.

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::envelope::Envelope;
use super::s3_shape::S3_RESERVED_KEYS;
use serde_json::Value;

/// One input line as parsed: an object, with the first key (in document order) that can
/// name an S3 event type, or the kind of JSON value it was instead. The envelope's slots make
/// `Object` large; a line's parse result is moved once, and boxing it would cost an
/// allocation per line.
#[allow(clippy::large_enum_variant)]
pub(super) enum ParsedLine {
    Object {
        event: Envelope,
        first_dynamic_key: Option<String>,
    },
    NotObject(&'static str),
}

/// An object key, borrowed from the line unless it holds escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(key)))
    }

    fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(key.to_owned())))
    }

    fn visit_string<E>(self, key: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(key)))
    }
}

impl<'de> Deserialize<'de> for ParsedLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParsedLineVisitor)
    }
}

struct ParsedLineVisitor;

impl<'de> Visitor<'de> for ParsedLineVisitor {
    type Value = ParsedLine;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<ParsedLine, A::Error> {
        let mut event = Envelope::default();
        let mut first_dynamic_key = None;
        while let Some(Key(key)) = access.next_key::<Key<'de>>()? {
            // A key given twice makes the line malformed, as for the integration's `json`
            // processor (strict duplicate detection).
            if event.contains_key(&key) {
                return Err(A::Error::custom(format!("duplicate field `{key}`")));
            }
            let StrictValue(value) = access.next_value()?;
            if first_dynamic_key.is_none() && !S3_RESERVED_KEYS.contains(&key.as_ref()) {
                first_dynamic_key = Some(key.clone().into_owned());
            }
            match key {
                Cow::Borrowed(key) => event.insert(key, value),
                Cow::Owned(key) => event.insert_owned(key, value),
            }
        }
        Ok(ParsedLine::Object {
            event,
            first_dynamic_key,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ParsedLine, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ParsedLine::NotObject("an array"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<ParsedLine, E> {
        Ok(ParsedLine::NotObject("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<ParsedLine, E> {
        Ok(ParsedLine::NotObject("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<ParsedLine, E> {
        Ok(ParsedLine::NotObject("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<ParsedLine, E> {
        Ok(ParsedLine::NotObject("a number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<ParsedLine, E> {
        Ok(ParsedLine::NotObject("a string"))
    }

    fn visit_unit<E>(self) -> Result<ParsedLine, E> {
        Ok(ParsedLine::NotObject("null"))
    }
}

/// A JSON value in which no object holds the same key twice (a repeated key is an error, as
/// in the integration's `json` processor, instead of the last value winning).
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictValueVisitor)
    }
}

struct StrictValueVisitor;

impl<'de> Visitor<'de> for StrictValueVisitor {
    type Value = StrictValue;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<StrictValue, E> {
        Ok(StrictValue(
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E>(self, v: &str) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }

    fn visit_none<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<StrictValue, D::Error> {
        StrictValue::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(StrictValue(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictValue, A::Error> {
        let mut map = serde_json::Map::new();
        while let Some(Key(key)) = access.next_key::<Key<'de>>()? {
            let StrictValue(value) = access.next_value()?;
            match map.entry(key.into_owned()) {
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                serde_json::map::Entry::Occupied(slot) => {
                    return Err(A::Error::custom(format!(
                        "duplicate field `{}`",
                        slot.key()
                    )));
                }
            }
        }
        Ok(StrictValue(Value::Object(map)))
    }
}
