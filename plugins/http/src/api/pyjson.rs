//! JSON written as Junebug writes it (Python's `json.dumps` with its defaults): `", "` and
//! `": "` between items, every character outside printable ASCII escaped as `\uXXXX`, and
//! object keys in the order Junebug's answers have them.

use serde_json::Value;

/// A JSON value whose objects keep the order they are built in.
pub enum Py {
    Obj(Vec<(&'static str, Py)>),
    List(Vec<Py>),
    Val(Value),
}

impl From<Value> for Py {
    fn from(v: Value) -> Self {
        Py::Val(v)
    }
}

impl Py {
    pub fn str(s: impl Into<String>) -> Self {
        Py::Val(Value::String(s.into()))
    }

    pub fn opt(s: Option<&str>) -> Self {
        s.map_or(Py::Val(Value::Null), Py::str)
    }

    pub fn dumps(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Py::Obj(items) => {
                out.push('{');
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    string(k, out);
                    out.push_str(": ");
                    v.write(out);
                }
                out.push('}');
            }
            Py::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Py::Val(v) => value(v, out),
        }
    }
}

fn value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                string(k, out);
                out.push_str(": ");
                value(item, out);
            }
            out.push('}');
        }
    }
}

fn string(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(ch),
            _ => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn written_as_python_writes_it() {
        let v = Py::Obj(vec![
            ("status", json!(201).into()),
            ("code", Py::str("Created")),
            (
                "result",
                Py::Obj(vec![
                    ("content", Py::str("caf\u{e9} \u{1F600} \"q\"\n")),
                    ("to", Py::opt(None)),
                ]),
            ),
            ("list", Py::List(vec![json!({"b": 1, "a": [true, null]}).into()])),
        ]);
        assert_eq!(
            v.dumps(),
            r#"{"status": 201, "code": "Created", "result": {"content": "caf\u00e9 \ud83d\ude00 \"q\"\n", "to": null}, "list": [{"a": [true, null], "b": 1}]}"#
        );
    }
}
