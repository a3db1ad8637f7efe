//! One input line parsed just enough: an object in document order with the first key that
//! can name an S3 event type (docs/normalization.md §1), or the kind of JSON it was instead.

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::s3_shape::S3_RESERVED_KEYS;
use serde_json::{Map, Value};

/// One input line as parsed: an object, with the first key (in document order) that can
/// name an S3 event type, or the kind of JSON value it was instead.
pub(super) enum ParsedLine {
    Object {
        event: Map<String, Value>,
        first_dynamic_key: Option<String>,
    },
    NotObject(&'static str),
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
        let mut event = Map::new();
        let mut first_dynamic_key = None;
        while let Some(key) = access.next_key::<String>()? {
            let value: Value = access.next_value()?;
            if first_dynamic_key.is_none() && !S3_RESERVED_KEYS.contains(&key.as_str()) {
                first_dynamic_key = Some(key.clone());
            }
            event.insert(key, value);
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
