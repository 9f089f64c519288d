//! Turning an HTTP request into a message: Vumi JSON, or form/query fields with configurable
//! names for simple aggregators. Every problem names the field.

use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::std_types::ROption;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The request body's format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestFormat {
    /// A JSON object with Vumi's message fields.
    #[default]
    Json,
    /// `application/x-www-form-urlencoded` body and/or query string, with `fields` naming them.
    Form,
}

fn f(name: &str) -> String {
    name.to_owned()
}

/// Field names in form mode (defaults: Vumi's names).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldNames {
    #[serde(default = "from_addr")]
    pub from_addr: String,
    #[serde(default = "to_addr")]
    pub to_addr: String,
    #[serde(default = "content")]
    pub content: String,
    /// The aggregator's session id (kept in transport_metadata.session_id).
    #[serde(default = "session_id")]
    pub session_id: String,
    /// The aggregator's session state, mapped by `session_events`; without it, a session id
    /// seen for the first time opens a session.
    #[serde(default)]
    pub session_event: Option<String>,
}

fn from_addr() -> String {
    f("from_addr")
}
fn to_addr() -> String {
    f("to_addr")
}
fn content() -> String {
    f("content")
}
fn session_id() -> String {
    f("session_id")
}

impl Default for FieldNames {
    fn default() -> Self {
        Self {
            from_addr: from_addr(),
            to_addr: to_addr(),
            content: content(),
            session_id: session_id(),
            session_event: None,
        }
    }
}

/// What an inbound request said.
pub struct Parsed {
    pub from_addr: String,
    pub to_addr: Option<String>,
    pub content: Option<String>,
    pub session_event: Option<SessionEvent>,
    pub session_id: Option<String>,
    pub transport_metadata: Map<String, Value>,
    pub helper_metadata: Map<String, Value>,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn string(map: &Map<String, Value>, key: &str, required: bool) -> Result<Option<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) if required => Err(format!("field {key:?} is missing")),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("field {key:?}: expected a string, found {}", kind(other))),
    }
}

fn object(map: &Map<String, Value>, key: &str) -> Result<Map<String, Value>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(o)) => Ok(o.clone()),
        Some(other) => Err(format!("field {key:?}: expected an object, found {}", kind(other))),
    }
}

/// A JSON request body.
pub fn parse_json(body: &[u8], to_addr_required: bool) -> Result<Parsed, String> {
    let map = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(other) => return Err(format!("expected a JSON object, found {}", kind(&other))),
        Err(e) => return Err(format!("not valid JSON: {e}")),
    };
    let session_event = match string(&map, "session_event", false)? {
        None => None,
        Some(s) => Some(SessionEvent::from_vumi(Some(&s)).map_err(|e| format!("field \"session_event\": {e}"))?),
    };
    Ok(Parsed {
        from_addr: string(&map, "from_addr", true)?.unwrap_or_default(),
        to_addr: string(&map, "to_addr", to_addr_required)?,
        content: string(&map, "content", false)?,
        session_event,
        session_id: string(&map, "session_id", false)?,
        transport_metadata: object(&map, "transport_metadata")?,
        helper_metadata: object(&map, "helper_metadata")?,
    })
}

/// Form fields (query string and urlencoded body, the body winning).
pub fn parse_form(
    query: Option<&str>,
    body: &[u8],
    names: &FieldNames,
    session_events: &HashMap<String, SessionEvent>,
    to_addr_required: bool,
) -> Result<Parsed, String> {
    let mut fields: HashMap<String, String> = HashMap::new();
    if let Some(q) = query {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(q).map_err(|e| format!("bad query string: {e}"))?;
        fields.extend(pairs);
    }
    if !body.is_empty() {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|e| format!("bad form body: {e}"))?;
        fields.extend(pairs);
    }
    let get = |name: &str| fields.get(name).cloned();
    let from = get(&names.from_addr)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("field {:?} is missing", names.from_addr))?;
    let to = get(&names.to_addr);
    if to_addr_required && to.is_none() {
        return Err(format!("field {:?} is missing", names.to_addr));
    }
    let session_event = match &names.session_event {
        None => None,
        Some(field) => match get(field) {
            None => None,
            Some(v) => Some(*session_events.get(&v).ok_or_else(|| {
                let known: Vec<&str> = session_events.keys().map(String::as_str).collect();
                format!("field {field:?}: {v:?} is not one of {known:?}")
            })?),
        },
    };
    let session_id = get(&names.session_id);
    let mut transport_metadata = Map::new();
    if let Some(id) = &session_id {
        transport_metadata.insert("session_id".into(), id.clone().into());
    }
    Ok(Parsed {
        from_addr: from,
        to_addr: to,
        content: get(&names.content),
        session_event,
        session_id,
        transport_metadata,
        helper_metadata: Map::new(),
    })
}

impl Parsed {
    pub fn into_message(self, default_to: &str, transport_name: &str, transport_type: &str) -> Message {
        let to = self.to_addr.clone().unwrap_or_else(|| default_to.to_owned());
        let mut msg = Message::new(
            &self.from_addr,
            &to,
            self.content.as_deref(),
            transport_name,
            transport_type,
        );
        if let Some(ev) = self.session_event {
            msg.session_event = ev;
        }
        msg.transport_metadata = ruvuma_plugin_api::JsonObject::from_map(&self.transport_metadata);
        msg.helper_metadata = ruvuma_plugin_api::JsonObject::from_map(&self.helper_metadata);
        if self.content.is_none() {
            msg.content = ROption::RNone;
        }
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_the_field() {
        assert!(parse_json(b"{", false).err().unwrap().contains("not valid JSON"));
        assert!(parse_json(b"[]", false).err().unwrap().contains("a list"));
        assert_eq!(
            parse_json(br#"{"to_addr":"1"}"#, false).err().unwrap(),
            "field \"from_addr\" is missing"
        );
        assert!(parse_json(br#"{"from_addr":5}"#, false)
            .err()
            .unwrap()
            .contains("\"from_addr\": expected a string"));
        assert!(parse_json(br#"{"from_addr":"a"}"#, true)
            .err()
            .unwrap()
            .contains("\"to_addr\" is missing"));
        let p = parse_json(br#"{"from_addr":"a","content":"hi","session_event":"new"}"#, false).unwrap();
        assert_eq!(p.session_event, Some(SessionEvent::New));
    }

    #[test]
    fn form_fields_are_renamed_and_mapped() {
        let names = FieldNames {
            from_addr: "msisdn".into(),
            to_addr: "code".into(),
            content: "text".into(),
            session_id: "sid".into(),
            session_event: Some("state".into()),
        };
        let events: HashMap<String, SessionEvent> = [
            ("begin".to_owned(), SessionEvent::New),
            ("end".to_owned(), SessionEvent::Close),
        ]
        .into();
        let p = parse_form(
            Some("msisdn=%2B27831234567&code=*120%23"),
            b"text=hi&sid=s1&state=begin",
            &names,
            &events,
            true,
        )
        .unwrap();
        assert_eq!(p.from_addr, "+27831234567");
        assert_eq!(p.to_addr.as_deref(), Some("*120#"));
        assert_eq!(p.session_event, Some(SessionEvent::New));
        assert_eq!(p.transport_metadata["session_id"], "s1");
        let e = parse_form(None, b"msisdn=1&code=2&state=odd", &names, &events, true)
            .err()
            .unwrap();
        assert!(e.contains("\"state\""), "{e}");
    }
}
