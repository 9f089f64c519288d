//! Metadata maps (`transport_metadata`, `helper_metadata`, `routing_metadata`) and the unknown
//! fields of a message, carried as JSON object text so that the hot path never parses them.

use abi_stable::{std_types::RString, StableAbi};
use serde_json::{Map, Value};
use std::fmt;

/// A JSON object kept as text. Parse it only when a value is actually needed. The empty object
/// is kept as empty text, so that it costs no allocation.
#[repr(transparent)]
#[derive(StableAbi, Clone, PartialEq, Eq)]
pub struct JsonObject {
    text: RString,
}

impl JsonObject {
    pub fn empty() -> Self {
        Self { text: RString::new() }
    }

    /// Wraps text that must hold a JSON object.
    pub fn parse(text: &str) -> Result<Self, String> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(Self::from_map(&map)),
            Ok(other) => Err(format!("expected a JSON object, found {}", kind_of(&other))),
            Err(e) => Err(format!("not valid JSON: {e}")),
        }
    }

    pub fn from_map(map: &Map<String, Value>) -> Self {
        if map.is_empty() {
            return Self::empty();
        }
        Self {
            text: RString::from(serde_json::to_string(map).unwrap_or_default()),
        }
    }

    /// The object as JSON text.
    pub fn as_str(&self) -> &str {
        if self.text.is_empty() {
            "{}"
        } else {
            self.text.as_str()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn to_map(&self) -> Map<String, Value> {
        if self.is_empty() {
            return Map::new();
        }
        match serde_json::from_str::<Value>(self.text.as_str()) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// The value under `key`: the text is walked once, and only that value is built.
    pub fn get(&self, key: &str) -> Option<Value> {
        if self.is_empty() {
            return None;
        }
        let mut de = serde_json::Deserializer::from_str(self.text.as_str());
        serde::de::DeserializeSeed::deserialize(pick::Pick(key), &mut de)
            .ok()
            .flatten()
    }

    pub fn insert(&mut self, key: &str, value: Value) {
        self.update(|map| {
            map.insert(key.to_owned(), value);
        });
    }

    /// Changes the object in one parse and one write.
    pub fn update<R>(&mut self, f: impl FnOnce(&mut Map<String, Value>) -> R) -> R {
        let mut map = self.to_map();
        let result = f(&mut map);
        *self = Self::from_map(&map);
        result
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        if self.is_empty() {
            return None;
        }
        let mut map = self.to_map();
        let old = map.remove(key);
        *self = Self::from_map(&map);
        old
    }
}

impl Default for JsonObject {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for JsonObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reading one member of a JSON object without building the others.
mod pick {
    use serde::de::{DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, Visitor};
    use serde_json::Value;
    use std::fmt;

    /// The value of the member named `.0` (the last one, should the name repeat), if any.
    pub struct Pick<'k>(pub &'k str);

    impl<'de> DeserializeSeed<'de> for Pick<'_> {
        type Value = Option<Value>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Pick<'_> {
        type Value = Option<Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(wanted) = map.next_key_seed(NameIs(self.0))? {
                if wanted {
                    found = Some(map.next_value::<Value>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }

    /// Whether a member's name is `.0`.
    struct NameIs<'k>(&'k str);

    impl<'de> DeserializeSeed<'de> for NameIs<'_> {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_str(self)
        }
    }

    impl<'de> Visitor<'de> for NameIs<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a member name")
        }
        fn visit_str<E: Error>(self, name: &str) -> Result<bool, E> {
            Ok(name == self.0)
        }
    }
}

pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn insert_get_remove() {
        let mut m = JsonObject::empty();
        assert!(m.is_empty());
        m.insert("endpoint_name", json!("default"));
        assert_eq!(m.get("endpoint_name"), Some(json!("default")));
        assert_eq!(m.remove("endpoint_name"), Some(json!("default")));
        assert!(m.is_empty());
    }

    #[test]
    fn get_reads_one_member_as_the_whole_map_would() {
        let text = r#"{"a": {"x": [1, "}"]}, "sm\u0070p": {"id": "7"}, "b": "\"q\"", "a": 2}"#;
        let m = JsonObject {
            text: RString::from(text),
        };
        let whole = serde_json::from_str::<Map<String, Value>>(text).unwrap();
        for key in ["a", "smpp", "b", "missing", ""] {
            assert_eq!(m.get(key), whole.get(key).cloned(), "{key}");
        }
        assert_eq!(m.get("smpp"), Some(json!({"id": "7"})));
        assert_eq!(
            m.get("a"),
            Some(json!(2)),
            "the last of a repeated name, as the map keeps it"
        );
    }

    #[test]
    fn parse_rejects_non_objects() {
        assert!(JsonObject::parse("[1]").unwrap_err().contains("a list"));
        assert!(JsonObject::parse("{").unwrap_err().contains("not valid JSON"));
        assert_eq!(JsonObject::parse(r#"{"a":1}"#).unwrap().get("a"), Some(json!(1)));
    }
}
