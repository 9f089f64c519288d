//! Messages and events in Junebug's shapes (`api_from_message`, `api_from_event`), and the
//! callbacks that carry them: inbound messages to `mo_url`, events to `event_url`.

use crate::api::callbacks::{Callback, Method};
use crate::api::pyjson::Py;
use crate::api::track::Tracked;
use ruvuma_plugin_api::prelude::*;
use serde_json::{json, Value};

/// A message as Junebug shows it.
pub fn api_from_message(msg: &Message) -> Py {
    let mut data = msg.helper_metadata.to_map();
    if let Some(event) = msg.session_event.as_vumi() {
        data.insert("session_event".into(), json!(event));
    }
    Py::Obj(vec![
        ("channel_data", Value::Object(data).into()),
        (
            "from",
            Py::opt(msg.from_addr.as_ref().map(|s| s.as_str()).into_option()),
        ),
        ("channel_id", Py::str(msg.transport_name.as_str())),
        ("timestamp", Py::str(msg.timestamp.to_string())),
        ("content", Py::opt(msg.content())),
        ("to", Py::opt(msg.to_addr.as_ref().map(|s| s.as_str()).into_option())),
        (
            "reply_to",
            Py::opt(msg.in_reply_to.as_ref().map(|s| s.as_str()).into_option()),
        ),
        ("group", Py::opt(msg.group.as_ref().map(|s| s.as_str()).into_option())),
        ("message_id", Py::str(msg.message_id.as_str())),
    ])
}

/// Junebug's name for an event, and its details.
pub fn event_type(event: &Event) -> (Option<&'static str>, Value) {
    match &event.kind {
        EventKind::Ack { .. } => (Some("submitted"), json!({})),
        EventKind::Nack { nack_reason } => (Some("rejected"), json!({"reason": nack_reason.as_str()})),
        EventKind::DeliveryReport { delivery_status } => (
            Some(match delivery_status {
                DeliveryStatus::Pending => "delivery_pending",
                DeliveryStatus::Failed => "delivery_failed",
                DeliveryStatus::Delivered => "delivery_succeeded",
            }),
            json!({}),
        ),
    }
}

/// An event as Junebug shows it.
pub fn api_from_event(channel: &str, event: &Event) -> Py {
    let (kind, details) = event_type(event);
    Py::Obj(vec![
        ("channel_id", Py::str(channel)),
        ("event_type", Py::opt(kind)),
        ("timestamp", Py::str(event.timestamp.to_string())),
        ("event_details", details.into()),
        ("message_id", Py::str(event.user_message_id.as_str())),
    ])
}

fn token_header(token: Option<&str>) -> Vec<(&'static str, String)> {
    token
        .map(|t| vec![("authorization", format!("Token {t}"))])
        .unwrap_or_default()
}

/// An inbound message to its channel's `mo_url`.
pub fn mo_callback(msg: &Message, url: &str, token: Option<&str>) -> Callback {
    Callback {
        method: Method::Post,
        url: url.to_owned(),
        body: Some(("application/json", api_from_message(msg).dumps())),
        headers: token_header(token),
        expect: None,
        about: Payload::from(msg.clone()),
        what: "mo_url",
        lane: msg.message_id.to_string(),
    }
}

/// An event to the `event_url` its message was sent with.
pub fn event_callbacks(tracked: &Tracked, event: &Event) -> Vec<Callback> {
    vec![Callback {
        method: Method::Post,
        url: tracked.url.clone(),
        body: Some(("application/json", api_from_event(&tracked.ch, event).dumps())),
        headers: token_header(tracked.token.as_deref()),
        expect: None,
        about: Payload::from(event.clone()),
        what: "event_url",
        lane: event.user_message_id.to_string(),
    }]
}
