//! Reading an event's fields: its message, the component it is about, and the rest.

use serde_json::{Map, Value};
use std::fmt::{self, Write};
use tracing::field::{Field, Visit};

/// The `component` of a line that is about no component: the host itself.
pub const HOST_COMPONENT: &str = "host";

/// The field that names the component a line is about (host services set it on plugin lines).
const COMPONENT: &str = "component";

/// The field that holds an event's formatted message.
const MESSAGE: &str = "message";

/// Names a JSON line gives its own values; an event field of one of these names is written as
/// `field.<name>` so that it cannot stand in for them.
const RESERVED: [&str; 3] = ["timestamp", "level", "target"];

/// An event's fields as JSON values: the message, the component, and every other field.
#[derive(Default)]
pub struct JsonFields {
    pub message: String,
    pub component: Option<String>,
    pub rest: Map<String, Value>,
}

impl JsonFields {
    /// The component the line is about: its `component` field, else [`HOST_COMPONENT`].
    pub fn component(&self) -> &str {
        self.component.as_deref().unwrap_or(HOST_COMPONENT)
    }

    fn put(&mut self, name: &str, value: Value) {
        match name {
            MESSAGE => self.message = text_of(value),
            COMPONENT => self.component = Some(text_of(value)),
            _ if RESERVED.contains(&name) => {
                self.rest.insert(format!("field.{name}"), value);
            }
            _ => {
                self.rest.insert(name.to_owned(), value);
            }
        }
    }
}

/// A string value as it is, anything else as its JSON text.
fn text_of(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

impl Visit for JsonFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field.name(), Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field.name(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field.name(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field.name(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value).map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.put(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field.name(), Value::String(format!("{value:?}")));
    }
}

/// Text that keeps at most `limit` bytes, cut on a char boundary; once cut, later writes are
/// dropped so that nothing after the cut can appear.
pub struct Bounded {
    text: String,
    limit: usize,
    cut: bool,
}

impl Bounded {
    pub fn new(limit: usize) -> Self {
        Self {
            text: String::new(),
            limit,
            cut: false,
        }
    }

    /// Adds what `other` kept; if `other` was cut, so is this.
    fn append(&mut self, other: Bounded) {
        let _ = self.write_str(&other.text);
        self.cut |= other.cut;
    }

    /// The text kept, ending in `marker` if something was cut; never longer than `limit` bytes
    /// (unless `marker` alone is).
    pub fn finish(mut self, marker: &str) -> String {
        if self.cut {
            let end = floor_char_boundary(&self.text, self.limit.saturating_sub(marker.len()));
            self.text.truncate(end);
            self.text.push_str(marker);
        }
        self.text
    }
}

impl Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut {
            return Ok(());
        }
        let room = self.limit - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
        } else {
            self.text.push_str(&s[..floor_char_boundary(s, room)]);
            self.cut = true;
        }
        Ok(())
    }
}

/// The largest char boundary of `s` at or below `at`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut end = at.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// An event's fields as one line of text, as the text log writes them: the message, then
/// ` name=value` for each other field; the component is kept apart. At most `limit` bytes.
pub struct LineFields {
    pub component: Option<String>,
    message: Bounded,
    rest: Bounded,
}

impl LineFields {
    pub fn new(limit: usize) -> Self {
        Self {
            component: None,
            message: Bounded::new(limit),
            rest: Bounded::new(limit),
        }
    }

    /// The message and the other fields, cut to the limit with `marker` at the end if needed.
    pub fn finish(self, marker: &str) -> String {
        let mut line = Bounded::new(self.message.limit);
        line.append(self.message);
        line.append(self.rest);
        line.finish(marker)
    }
}

impl Visit for LineFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            MESSAGE => {
                let _ = self.message.write_str(value);
            }
            COMPONENT => self.component = Some(value.to_owned()),
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            MESSAGE => {
                let _ = write!(self.message, "{value:?}");
            }
            COMPONENT => self.component = Some(format!("{value:?}")),
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }
}
