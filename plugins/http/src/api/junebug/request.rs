//! A send request's body, checked as Junebug's schema checks it (every problem named, in
//! jsonschema's words), and the message it makes.

use super::failed;
use crate::api::pyjson::Py;
use axum::http::StatusCode;
use axum::response::Response;
use ruvuma_plugin_api::prelude::*;
use serde_json::{Map, Value};

pub struct Given {
    pub to: Option<String>,
    pub from: Option<String>,
    pub group: Option<String>,
    pub reply_to: Option<String>,
    pub content: Option<String>,
    pub event_url: Option<String>,
    pub event_auth_token: Option<String>,
    pub channel_data: Map<String, Value>,
}

/// What each key may hold: a string, or a string or null, or an object.
const KEYS: [(&str, &str); 9] = [
    ("to", "string"),
    ("from", "string|null"),
    ("group", "string|null"),
    ("reply_to", "string"),
    ("content", "string|null"),
    ("event_url", "string"),
    ("event_auth_token", "string"),
    ("priority", "string"),
    ("channel_data", "object"),
];

/// A value as Python 2 would show it in jsonschema's messages.
fn repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => format!("u'{s}'"),
        other => other.to_string(),
    }
}

fn fits(v: &Value, kind: &str) -> bool {
    match kind {
        "string" => v.is_string(),
        "string|null" => v.is_string() || v.is_null(),
        _ => v.is_object(),
    }
}

fn problem(message: String, path: &[&str]) -> (String, Py) {
    let item = Py::Obj(vec![
        ("message", Py::str(message.clone())),
        ("type", Py::str("invalid_body")),
        ("schema_path", Py::List(path.iter().map(|p| Py::str(*p)).collect())),
    ]);
    (message, item)
}

/// The body, or Junebug's 400 naming every problem with it.
pub fn parse(bytes: &[u8]) -> Result<Given, Response> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        failed(
            StatusCode::BAD_REQUEST,
            "json decode error",
            "JsonDecodeError",
            &e.to_string(),
        )
    })?;
    let Value::Object(map) = value else {
        return Err(failed(
            StatusCode::BAD_REQUEST,
            "json decode error",
            "JsonDecodeError",
            "the body is not a JSON object",
        ));
    };
    let mut problems: Vec<(String, Py)> = Vec::new();
    let extra: Vec<String> = map
        .keys()
        .filter(|k| !KEYS.iter().any(|(name, _)| name == k))
        .map(|k| format!("u'{k}'"))
        .collect();
    if !extra.is_empty() {
        let verb = if extra.len() == 1 { "was" } else { "were" };
        let message = format!(
            "Additional properties are not allowed ({} {verb} unexpected)",
            extra.join(", ")
        );
        problems.push(problem(message, &["additionalProperties"]));
    }
    if !map.contains_key("content") {
        problems.push(problem("'content' is a required property".into(), &["required"]));
    }
    for (name, kind) in KEYS {
        match map.get(name) {
            Some(v) if !fits(v, kind) => {
                let wanted = match kind {
                    "string|null" => "'string', 'null'",
                    "string" => "'string'",
                    _ => "'object'",
                };
                problems.push(problem(
                    format!("{} is not of type {wanted}", repr(v)),
                    &["properties", name, "type"],
                ));
            }
            _ => {}
        }
    }
    if let Some(Value::Object(data)) = map.get("channel_data") {
        match data.get("session_event") {
            None | Some(Value::Null) => {}
            Some(Value::String(e)) if matches!(e.as_str(), "new" | "resume" | "close") => {}
            Some(other) => {
                return Err(failed(
                    StatusCode::BAD_REQUEST,
                    "api usage error",
                    "InvalidMessageField",
                    &format!("Invalid session_event {}", repr(other)),
                ))
            }
        }
    }
    for key in ["event_url", "event_auth_token"] {
        let limit = crate::api::MAX_CALLBACK_FIELD;
        if map.get(key).and_then(Value::as_str).is_some_and(|v| v.len() > limit) {
            problems.push(problem(
                format!("'{key}' is longer than {limit} characters"),
                &["properties", key, "maxLength"],
            ));
        }
    }
    if !problems.is_empty() {
        problems.sort_by(|a, b| a.0.cmp(&b.0));
        let errors = Py::List(problems.into_iter().map(|(_, item)| item).collect());
        return Err(super::envelope(
            StatusCode::BAD_REQUEST,
            "api usage error",
            Py::Obj(vec![("errors", errors)]),
        ));
    }
    let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(Given {
        to: text("to"),
        from: text("from"),
        group: text("group"),
        reply_to: text("reply_to"),
        content: text("content"),
        event_url: text("event_url"),
        event_auth_token: text("event_auth_token"),
        channel_data: match map.get("channel_data") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        },
    })
}

impl Given {
    /// `channel_data` without the session keys, and the session event they ask for.
    fn session(&self) -> (Map<String, Value>, Option<SessionEvent>) {
        let mut data = self.channel_data.clone();
        let go_on = data.remove("continue_session").and_then(|v| v.as_bool());
        let named = data.remove("session_event").and_then(|v| v.as_str().map(str::to_owned));
        let event = match (named.as_deref(), go_on) {
            (Some(name), _) => SessionEvent::from_vumi(Some(name)).ok(),
            (None, Some(false)) => Some(SessionEvent::Close),
            _ => None,
        };
        (data, event)
    }

    /// A new message on `channel`.
    pub fn message(&self, channel: &str) -> Message {
        let mut msg = Message::new(
            self.from.as_deref().unwrap_or(""),
            self.to.as_deref().unwrap_or(""),
            self.content.as_deref(),
            channel,
            "sms",
        );
        if self.from.is_none() {
            msg.from_addr = ruvuma_plugin_api::std_types::ROption::RNone;
        }
        msg.group = self.group.as_deref().map(Into::into).into();
        let (data, event) = self.session();
        msg.helper_metadata = JsonObject::from_map(&data);
        if let Some(e) = event {
            msg.session_event = e;
        }
        msg
    }

    /// The reply to `inbound`: its addresses swapped, in its session (closed when asked).
    pub fn reply(&self, inbound: &Message) -> Message {
        let (data, event) = self.session();
        let close = event == Some(SessionEvent::Close);
        let mut msg = inbound.reply(self.content.as_deref(), !close);
        msg.helper_metadata = JsonObject::from_map(&data);
        if let Some(e) = event {
            msg.session_event = e;
        }
        msg
    }
}

use ruvuma_plugin_api::JsonObject;
