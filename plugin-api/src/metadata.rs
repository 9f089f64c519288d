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

    pub fn get(&self, key: &str) -> Option<Value> {
        if self.is_empty() {
            return None;
        }
        self.to_map().remove(key)
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
    fn parse_rejects_non_objects() {
        assert!(JsonObject::parse("[1]").unwrap_err().contains("a list"));
        assert!(JsonObject::parse("{").unwrap_err().contains("not valid JSON"));
        assert_eq!(JsonObject::parse(r#"{"a":1}"#).unwrap().get("a"), Some(json!(1)));
    }
}
