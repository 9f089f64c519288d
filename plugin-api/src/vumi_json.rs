//! Vumi's JSON wire format for messages and events: what goes over AMQP and HTTP.
//!
//! Decoding tolerates missing optional fields and keeps unknown fields; every error names the
//! field that is wrong. Strings that look like dates stay strings (only `timestamp` is a date).

use crate::message::{
    new_message_id, DeliveryStatus, Event, EventData, EventKind, Message, MessageData, Payload, SessionEvent,
    MESSAGE_VERSION,
};
use crate::metadata::{kind_of, JsonObject};
use crate::timestamp::Timestamp;
use abi_stable::std_types::{ROption, RString};
use serde_json::{Map, Value};

/// Why a JSON document is not a Vumi message or event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

fn err<T>(text: String) -> Result<T, DecodeError> {
    Err(DecodeError(text))
}

fn parse_object(text: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    match serde_json::from_slice::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => err(format!("expected a JSON object, found {}", kind_of(&other))),
        Err(e) => err(format!("not valid JSON: {e}")),
    }
}

struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    fn opt_string(&mut self, key: &str) -> Result<ROption<RString>, DecodeError> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(ROption::RNone),
            Some(Value::String(s)) => Ok(ROption::RSome(s.into())),
            Some(other) => err(format!(
                "field {key:?}: expected a string or null, found {}",
                kind_of(&other)
            )),
        }
    }

    /// A key that must be present, though its value may be null (Vumi's addresses).
    fn present_string(&mut self, key: &str) -> Result<ROption<RString>, DecodeError> {
        if !self.map.contains_key(key) {
            return err(format!("field {key:?} is missing"));
        }
        self.opt_string(key)
    }

    fn required_string(&mut self, key: &str) -> Result<RString, DecodeError> {
        match self.opt_string(key)? {
            ROption::RSome(s) => Ok(s),
            ROption::RNone => err(format!("field {key:?} is missing (it must be a string)")),
        }
    }

    fn string_or(&mut self, key: &str, default: impl FnOnce() -> RString) -> Result<RString, DecodeError> {
        Ok(self.opt_string(key)?.unwrap_or_else(default))
    }

    fn object(&mut self, key: &str) -> Result<JsonObject, DecodeError> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(JsonObject::empty()),
            Some(Value::Object(map)) => Ok(JsonObject::from_map(&map)),
            Some(other) => err(format!("field {key:?}: expected an object, found {}", kind_of(&other))),
        }
    }

    fn timestamp(&mut self) -> Result<Timestamp, DecodeError> {
        match self.opt_string("timestamp")? {
            ROption::RNone => Ok(Timestamp::now()),
            ROption::RSome(s) => Timestamp::parse(&s).map_err(|e| DecodeError(format!("field \"timestamp\": {e}"))),
        }
    }

    fn check_version(&mut self) -> Result<(), DecodeError> {
        match self.map.remove("message_version") {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(v)) if v == MESSAGE_VERSION => Ok(()),
            Some(other) => err(format!(
                "field \"message_version\": expected \"{MESSAGE_VERSION}\", found {other}"
            )),
        }
    }

    fn rest(self) -> JsonObject {
        JsonObject::from_map(&self.map)
    }
}

/// Decodes a Vumi `user_message`.
pub fn decode_message(text: &[u8]) -> Result<Message, DecodeError> {
    message_from_map(parse_object(text)?)
}

/// Decodes a Vumi `event`.
pub fn decode_event(text: &[u8]) -> Result<Event, DecodeError> {
    event_from_map(parse_object(text)?)
}

/// Decodes either, telling them apart by `message_type` (or by `event_type` when that is absent).
pub fn decode_payload(text: &[u8]) -> Result<Payload, DecodeError> {
    let map = parse_object(text)?;
    let is_event = match map.get("message_type") {
        Some(Value::String(t)) if t == "event" => true,
        Some(Value::String(t)) if t == "user_message" => false,
        None | Some(Value::Null) => map.contains_key("event_type"),
        Some(other) => {
            return err(format!(
                "field \"message_type\": expected \"user_message\" or \"event\", found {other}"
            ))
        }
    };
    if is_event {
        event_from_map(map).map(Payload::from)
    } else {
        message_from_map(map).map(Payload::from)
    }
}

fn message_from_map(map: Map<String, Value>) -> Result<Message, DecodeError> {
    let mut f = Fields { map };
    f.check_version()?;
    match f.map.remove("message_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "user_message" => {}
        Some(other) => {
            return err(format!(
                "field \"message_type\": expected \"user_message\", found {other}"
            ))
        }
    }
    let session_event = {
        let raw = f.opt_string("session_event")?;
        SessionEvent::from_vumi(raw.as_deref().into())
            .map_err(|e| DecodeError(format!("field \"session_event\": {e}")))?
    };
    Ok(MessageData {
        message_id: f.string_or("message_id", new_message_id)?,
        to_addr: f.present_string("to_addr")?,
        from_addr: f.present_string("from_addr")?,
        content: f.opt_string("content")?,
        in_reply_to: f.opt_string("in_reply_to")?,
        session_event,
        transport_name: f.required_string("transport_name")?,
        transport_type: f.string_or("transport_type", RString::new)?,
        group: f.opt_string("group")?,
        provider: f.opt_string("provider")?,
        to_addr_type: f.opt_string("to_addr_type")?,
        from_addr_type: f.opt_string("from_addr_type")?,
        timestamp: f.timestamp()?,
        transport_metadata: f.object("transport_metadata")?,
        helper_metadata: f.object("helper_metadata")?,
        routing_metadata: f.object("routing_metadata")?,
        extra: f.rest(),
    }
    .into())
}

fn event_from_map(map: Map<String, Value>) -> Result<Event, DecodeError> {
    let mut f = Fields { map };
    f.check_version()?;
    match f.map.remove("message_type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "event" => {}
        Some(other) => return err(format!("field \"message_type\": expected \"event\", found {other}")),
    }
    let event_type = f.required_string("event_type")?;
    let kind = match event_type.as_str() {
        "ack" => EventKind::Ack {
            sent_message_id: f
                .required_string("sent_message_id")
                .map_err(|e| DecodeError(format!("ack: {e}")))?,
        },
        "nack" => EventKind::Nack {
            nack_reason: f
                .required_string("nack_reason")
                .map_err(|e| DecodeError(format!("nack: {e}")))?,
        },
        "delivery_report" => {
            let status = f
                .required_string("delivery_status")
                .map_err(|e| DecodeError(format!("delivery_report: {e}")))?;
            EventKind::DeliveryReport {
                delivery_status: DeliveryStatus::from_vumi(&status)
                    .map_err(|e| DecodeError(format!("field \"delivery_status\": {e}")))?,
            }
        }
        other => {
            return err(format!(
            "field \"event_type\": {other:?} is not an event type (expected \"ack\", \"nack\" or \"delivery_report\")"
        ))
        }
    };
    Ok(EventData {
        event_id: f.string_or("event_id", new_message_id)?,
        user_message_id: f.required_string("user_message_id")?,
        kind,
        transport_name: f.string_or("transport_name", RString::new)?,
        timestamp: f.timestamp()?,
        transport_metadata: f.object("transport_metadata")?,
        helper_metadata: f.object("helper_metadata")?,
        routing_metadata: f.object("routing_metadata")?,
        extra: f.rest(),
    }
    .into())
}

fn opt(v: &ROption<RString>) -> Value {
    match v {
        ROption::RSome(s) => Value::String(s.to_string()),
        ROption::RNone => Value::Null,
    }
}

fn raw(obj: &JsonObject) -> Value {
    Value::Object(obj.to_map())
}

fn finish(mut map: Map<String, Value>, extra: &JsonObject) -> Value {
    for (k, v) in extra.to_map() {
        map.entry(k).or_insert(v);
    }
    Value::Object(map)
}

/// The Vumi JSON value of a message.
pub fn message_to_value(m: &Message) -> Value {
    let mut map = Map::new();
    map.insert("message_version".into(), MESSAGE_VERSION.into());
    map.insert("message_type".into(), "user_message".into());
    map.insert("timestamp".into(), m.timestamp.to_string().into());
    map.insert("message_id".into(), m.message_id.as_str().into());
    map.insert("to_addr".into(), opt(&m.to_addr));
    map.insert("from_addr".into(), opt(&m.from_addr));
    map.insert("content".into(), opt(&m.content));
    map.insert("in_reply_to".into(), opt(&m.in_reply_to));
    map.insert(
        "session_event".into(),
        m.session_event.as_vumi().map_or(Value::Null, Value::from),
    );
    map.insert("transport_name".into(), m.transport_name.as_str().into());
    map.insert("transport_type".into(), m.transport_type.as_str().into());
    map.insert("group".into(), opt(&m.group));
    map.insert("provider".into(), opt(&m.provider));
    map.insert("to_addr_type".into(), opt(&m.to_addr_type));
    map.insert("from_addr_type".into(), opt(&m.from_addr_type));
    map.insert("transport_metadata".into(), raw(&m.transport_metadata));
    map.insert("helper_metadata".into(), raw(&m.helper_metadata));
    map.insert("routing_metadata".into(), raw(&m.routing_metadata));
    finish(map, &m.extra)
}

/// The Vumi JSON value of an event.
pub fn event_to_value(e: &Event) -> Value {
    let mut map = Map::new();
    map.insert("message_version".into(), MESSAGE_VERSION.into());
    map.insert("message_type".into(), "event".into());
    map.insert("timestamp".into(), e.timestamp.to_string().into());
    map.insert("event_id".into(), e.event_id.as_str().into());
    map.insert("event_type".into(), e.kind.name().into());
    map.insert("user_message_id".into(), e.user_message_id.as_str().into());
    match &e.kind {
        EventKind::Ack { sent_message_id } => {
            map.insert("sent_message_id".into(), sent_message_id.as_str().into());
        }
        EventKind::Nack { nack_reason } => {
            map.insert("nack_reason".into(), nack_reason.as_str().into());
        }
        EventKind::DeliveryReport { delivery_status } => {
            map.insert("delivery_status".into(), delivery_status.as_vumi().into());
        }
    }
    map.insert("transport_name".into(), e.transport_name.as_str().into());
    map.insert("transport_metadata".into(), raw(&e.transport_metadata));
    map.insert("helper_metadata".into(), raw(&e.helper_metadata));
    map.insert("routing_metadata".into(), raw(&e.routing_metadata));
    finish(map, &e.extra)
}

pub fn payload_to_value(p: &Payload) -> Value {
    match p {
        Payload::Message(m) => message_to_value(m),
        Payload::Event(e) => event_to_value(e),
    }
}

/// Vumi JSON text of a message or event: the text of [`payload_to_value`], written straight
/// out (keys in the same order) rather than built as a value first.
pub fn encode(p: &Payload) -> String {
    match p {
        Payload::Message(m) if m.extra.is_empty() => encode_message(m),
        Payload::Event(e) if e.extra.is_empty() => encode_event(e),
        // Unknown fields merge into the known ones' order: the general way.
        _ => payload_to_value(p).to_string(),
    }
}

/// A JSON object written key by key; keys must come in order.
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn new() -> Self {
        let mut out = Vec::with_capacity(512);
        out.push(b'{');
        Self { out }
    }

    fn key(&mut self, key: &str) {
        if self.out.len() > 1 {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        // Writing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.out, value);
    }

    fn opt(&mut self, key: &str, value: &ROption<RString>) {
        match value {
            ROption::RSome(v) => self.str(key, v),
            ROption::RNone => self.raw(key, "null"),
        }
    }

    fn raw(&mut self, key: &str, json: &str) {
        self.key(key);
        self.out.extend_from_slice(json.as_bytes());
    }

    fn finish(mut self) -> String {
        self.out.push(b'}');
        // Built from &str pieces and serde_json's output only.
        String::from_utf8(self.out).unwrap_or_default()
    }
}

fn encode_message(m: &Message) -> String {
    let mut w = Writer::new();
    w.opt("content", &m.content);
    w.opt("from_addr", &m.from_addr);
    w.opt("from_addr_type", &m.from_addr_type);
    w.opt("group", &m.group);
    w.raw("helper_metadata", m.helper_metadata.as_str());
    w.opt("in_reply_to", &m.in_reply_to);
    w.str("message_id", &m.message_id);
    w.str("message_type", "user_message");
    w.str("message_version", MESSAGE_VERSION);
    w.opt("provider", &m.provider);
    w.raw("routing_metadata", m.routing_metadata.as_str());
    match m.session_event.as_vumi() {
        Some(e) => w.str("session_event", e),
        None => w.raw("session_event", "null"),
    }
    w.str("timestamp", &m.timestamp.to_string());
    w.opt("to_addr", &m.to_addr);
    w.opt("to_addr_type", &m.to_addr_type);
    w.raw("transport_metadata", m.transport_metadata.as_str());
    w.str("transport_name", &m.transport_name);
    w.str("transport_type", &m.transport_type);
    w.finish()
}

fn encode_event(e: &Event) -> String {
    let mut w = Writer::new();
    if let EventKind::DeliveryReport { delivery_status } = &e.kind {
        w.str("delivery_status", delivery_status.as_vumi());
    }
    w.str("event_id", &e.event_id);
    w.str("event_type", e.kind.name());
    w.raw("helper_metadata", e.helper_metadata.as_str());
    w.str("message_type", "event");
    w.str("message_version", MESSAGE_VERSION);
    if let EventKind::Nack { nack_reason } = &e.kind {
        w.str("nack_reason", nack_reason);
    }
    w.raw("routing_metadata", e.routing_metadata.as_str());
    if let EventKind::Ack { sent_message_id } = &e.kind {
        w.str("sent_message_id", sent_message_id);
    }
    w.str("timestamp", &e.timestamp.to_string());
    w.raw("transport_metadata", e.transport_metadata.as_str());
    w.str("transport_name", &e.transport_name);
    w.str("user_message_id", &e.user_message_id);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vumi_inbound() -> Value {
        json!({
            "message_version": "20110921",
            "message_type": "user_message",
            "timestamp": "2011-09-21 10:00:00.000123",
            "message_id": "b2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7",
            "to_addr": "*120*1#",
            "from_addr": "+27831234567",
            "content": "2012-01-01",
            "in_reply_to": null,
            "session_event": "resume",
            "transport_name": "ussd_transport",
            "transport_type": "ussd",
            "group": null,
            "provider": "mno",
            "to_addr_type": null,
            "from_addr_type": "msisdn",
            "transport_metadata": {"session_id": "s1", "nested": {"a": [1, 2]}},
            "helper_metadata": {},
            "routing_metadata": {"endpoint_name": "default"},
            "custom_field": "kept"
        })
    }

    #[test]
    fn the_text_written_straight_out_is_the_values_text() {
        let mut m = decode_message(vumi_inbound().to_string().as_bytes()).unwrap();
        m.helper_metadata.insert("tag", json!(["pool", "tag\"1\u{1}é"]));
        m.transport_metadata.insert("n", json!(1.5));
        m.content = ROption::RSome("line\nbreak \\ \"quoted\" \u{7f}".into());
        let mut bare = Message::new("a", "b", None, "t", "smpp");
        bare.session_event = SessionEvent::None;
        let events = [
            Event::ack(&m, "abc"),
            Event::nack(&m, "no \"route\""),
            Event::delivery_report(&m, DeliveryStatus::Failed),
        ];
        let mut payloads: Vec<Payload> = vec![m.clone().into(), bare.into()];
        payloads.extend(events.into_iter().map(Payload::from));
        for p in &payloads {
            assert_eq!(encode(p), payload_to_value(p).to_string());
            assert_eq!(decode_payload(encode(p).as_bytes()).unwrap(), *p);
        }
        // With unknown fields, which merge into the known ones' order.
        let mut with_extra = vumi_inbound();
        with_extra["zz_extra"] = json!(1);
        with_extra["aa_extra"] = json!({"x": [1, 2]});
        let p: Payload = decode_message(with_extra.to_string().as_bytes()).unwrap().into();
        assert_eq!(encode(&p), payload_to_value(&p).to_string());
    }

    #[test]
    fn message_round_trips_unchanged() {
        let original = vumi_inbound();
        let m = decode_message(original.to_string().as_bytes()).unwrap();
        assert_eq!(m.session_event, SessionEvent::Resume);
        assert_eq!(m.content(), Some("2012-01-01"), "date-looking content stays a string");
        assert_eq!(m.transport_metadata.get("nested"), Some(json!({"a": [1, 2]})));
        assert_eq!(message_to_value(&m), original);
    }

    /// Numbers in metadata keep their value through any number of round trips, even integers
    /// too large for any integer type (read as the nearest float, correctly rounded).
    #[test]
    fn large_numbers_in_metadata_keep_their_value() {
        let text = br#"{"to_addr": "1", "from_addr": "2", "transport_name": "t",
            "transport_metadata": {"a": [13393333333333333333333333333333333333, 2.5, -3e10]}}"#;
        let once = decode_payload(text).unwrap();
        let twice = decode_payload(encode(&once).as_bytes()).unwrap();
        assert_eq!(once, twice);
        assert_eq!(encode(&once), encode(&twice));
    }

    #[test]
    fn tolerates_missing_optional_fields() {
        let m = decode_message(br#"{"to_addr": "1", "from_addr": null, "transport_name": "t"}"#).unwrap();
        assert_eq!(m.message_id.len(), 32);
        assert!(m.from_addr.is_none());
        assert!(m.content.is_none());
        assert_eq!(m.session_event, SessionEvent::None);
        assert!(m.transport_metadata.is_empty());
    }

    #[test]
    fn errors_name_the_field() {
        let e = decode_message(br#"{"from_addr": "a", "transport_name": "t"}"#).unwrap_err();
        assert!(e.0.contains("\"to_addr\" is missing"), "{e}");
        let e = decode_message(br#"{"to_addr": 5, "from_addr": "a", "transport_name": "t"}"#).unwrap_err();
        assert!(e.0.contains("\"to_addr\"") && e.0.contains("a number"), "{e}");
        let e = decode_message(br#"{"to_addr":"a","from_addr":"b","transport_name":"t","session_event":"open"}"#)
            .unwrap_err();
        assert!(e.0.contains("session_event"), "{e}");
        let e =
            decode_message(br#"{"to_addr":"a","from_addr":"b","transport_name":"t","timestamp":"soon"}"#).unwrap_err();
        assert!(e.0.contains("timestamp"), "{e}");
        assert!(decode_message(b"[]").unwrap_err().0.contains("a list"));
        assert!(decode_message(b"{nope").unwrap_err().0.contains("not valid JSON"));
    }

    #[test]
    fn event_validation() {
        let ok = decode_event(br#"{"event_type":"ack","user_message_id":"m1","sent_message_id":"s1"}"#).unwrap();
        assert_eq!(
            ok.kind,
            EventKind::Ack {
                sent_message_id: "s1".into()
            }
        );
        let e = decode_event(br#"{"event_type":"ack","user_message_id":"m1"}"#).unwrap_err();
        assert!(e.0.contains("sent_message_id"), "{e}");
        let e = decode_event(br#"{"event_type":"nack","user_message_id":"m1"}"#).unwrap_err();
        assert!(e.0.contains("nack_reason"), "{e}");
        let e = decode_event(br#"{"event_type":"delivery_report","user_message_id":"m1","delivery_status":"gone"}"#)
            .unwrap_err();
        assert!(e.0.contains("delivery_status"), "{e}");
        let e = decode_event(br#"{"event_type":"bounce","user_message_id":"m1"}"#).unwrap_err();
        assert!(e.0.contains("\"bounce\""), "{e}");
        let e = decode_event(br#"{"event_type":"ack","sent_message_id":"s"}"#).unwrap_err();
        assert!(e.0.contains("user_message_id"), "{e}");
    }

    #[test]
    fn event_round_trips() {
        let original = json!({
            "message_version": "20110921", "message_type": "event",
            "timestamp": "2020-02-02 02:02:02.000002", "event_id": "e1", "event_type": "delivery_report",
            "user_message_id": "m1", "delivery_status": "delivered", "transport_name": "smpp",
            "transport_metadata": {}, "helper_metadata": {}, "routing_metadata": {}
        });
        let p = decode_payload(original.to_string().as_bytes()).unwrap();
        assert!(matches!(p, Payload::Event(_)));
        assert_eq!(payload_to_value(&p), original);
    }

    #[test]
    fn payload_kind_is_told_apart() {
        let m = Message::new("a", "b", Some("x"), "t", "telnet");
        let text = encode(&Payload::from(m.clone()));
        assert_eq!(decode_payload(text.as_bytes()).unwrap(), Payload::from(m));
        let ev = decode_payload(br#"{"event_type":"nack","user_message_id":"m","nack_reason":"r"}"#).unwrap();
        assert!(matches!(ev, Payload::Event(_)));
    }
}
