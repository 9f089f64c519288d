//! The message and event model: Vumi's `user_message` and `event`, in a form that crosses the
//! plugin boundary without re-encoding.

use crate::{metadata::JsonObject, timestamp::Timestamp};
use abi_stable::{
    std_types::{RArc, ROption, RString},
    StableAbi,
};
use std::fmt;

/// Vumi's message format version, written into every message and event.
pub const MESSAGE_VERSION: &str = "20110921";

/// A fresh Vumi message id: a uuid4 as 32 lower-case hex digits.
pub fn new_message_id() -> RString {
    RString::from(uuid::Uuid::new_v4().simple().to_string())
}

/// Where a message stands in a session (USSD, telnet, chat).
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SessionEvent {
    /// No session information (`null` in JSON).
    #[default]
    None,
    New,
    Resume,
    Close,
}

impl SessionEvent {
    pub fn as_vumi(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::New => Some("new"),
            Self::Resume => Some("resume"),
            Self::Close => Some("close"),
        }
    }

    pub fn from_vumi(text: Option<&str>) -> Result<Self, String> {
        match text {
            None => Ok(Self::None),
            Some("new") => Ok(Self::New),
            Some("resume") => Ok(Self::Resume),
            Some("close") => Ok(Self::Close),
            Some(other) => Err(format!(
                "{other:?} is not a session event (expected null, \"new\", \"resume\" or \"close\")"
            )),
        }
    }
}

/// A pointer-sized, reference-counted handle on a message's or event's fields. Moving one between
/// queues and plugins copies a pointer; cloning one shares the fields; changing a field of a
/// shared one copies them first (copy on write), so each holder still sees its own value.
macro_rules! shared_handle {
    ($(#[$doc:meta])* $name:ident => $data:ident) => {
        $(#[$doc])*
        #[repr(transparent)]
        #[derive(StableAbi, Clone, PartialEq)]
        pub struct $name {
            data: RArc<$data>,
        }

        impl std::ops::Deref for $name {
            type Target = $data;
            fn deref(&self) -> &$data {
                &self.data
            }
        }

        impl std::ops::DerefMut for $name {
            fn deref_mut(&mut self) -> &mut $data {
                RArc::make_mut(&mut self.data)
            }
        }

        impl From<$data> for $name {
            fn from(data: $data) -> Self {
                Self { data: RArc::new(data) }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.data.fmt(f)
            }
        }
    };
}

shared_handle! {
    /// A user message (Vumi's `TransportUserMessage`); its fields are in [`MessageData`].
    Message => MessageData
}

/// The fields of a [`Message`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct MessageData {
    pub message_id: RString,
    pub to_addr: ROption<RString>,
    pub from_addr: ROption<RString>,
    pub content: ROption<RString>,
    pub in_reply_to: ROption<RString>,
    pub session_event: SessionEvent,
    pub transport_name: RString,
    pub transport_type: RString,
    pub group: ROption<RString>,
    pub provider: ROption<RString>,
    pub to_addr_type: ROption<RString>,
    pub from_addr_type: ROption<RString>,
    pub timestamp: Timestamp,
    pub transport_metadata: JsonObject,
    pub helper_metadata: JsonObject,
    pub routing_metadata: JsonObject,
    /// Fields this model does not know, kept so that a message round-trips unchanged.
    pub extra: JsonObject,
}

fn ropt(value: Option<&str>) -> ROption<RString> {
    value.map(RString::from).into()
}

impl Message {
    /// A new message with a fresh id and the current time.
    pub fn new(
        from_addr: &str,
        to_addr: &str,
        content: Option<&str>,
        transport_name: &str,
        transport_type: &str,
    ) -> Self {
        MessageData {
            message_id: new_message_id(),
            to_addr: ropt(Some(to_addr)),
            from_addr: ropt(Some(from_addr)),
            content: ropt(content),
            in_reply_to: ROption::RNone,
            session_event: SessionEvent::None,
            transport_name: transport_name.into(),
            transport_type: transport_type.into(),
            group: ROption::RNone,
            provider: ROption::RNone,
            to_addr_type: ROption::RNone,
            from_addr_type: ROption::RNone,
            timestamp: Timestamp::now(),
            transport_metadata: JsonObject::empty(),
            helper_metadata: JsonObject::empty(),
            routing_metadata: JsonObject::empty(),
            extra: JsonObject::empty(),
        }
        .into()
    }

    pub fn with_session_event(mut self, event: SessionEvent) -> Self {
        self.session_event = event;
        self
    }

    pub fn to_addr(&self) -> &str {
        self.to_addr.as_ref().map_or("", |s| s.as_str())
    }

    pub fn from_addr(&self) -> &str {
        self.from_addr.as_ref().map_or("", |s| s.as_str())
    }

    pub fn content(&self) -> Option<&str> {
        self.content.as_ref().map(|s| s.as_str()).into()
    }

    /// The reply to this message, as Vumi's `TransportUserMessage.reply()` builds it: addresses
    /// swapped, `in_reply_to` set, group, provider, transport fields and metadata copied.
    /// `continue_session == false` closes the session.
    pub fn reply(&self, content: Option<&str>, continue_session: bool) -> Message {
        MessageData {
            message_id: new_message_id(),
            to_addr: self.from_addr.clone(),
            from_addr: self.to_addr.clone(),
            content: ropt(content),
            in_reply_to: ROption::RSome(self.message_id.clone()),
            session_event: if continue_session {
                SessionEvent::None
            } else {
                SessionEvent::Close
            },
            transport_name: self.transport_name.clone(),
            transport_type: self.transport_type.clone(),
            group: self.group.clone(),
            provider: self.provider.clone(),
            to_addr_type: self.from_addr_type.clone(),
            from_addr_type: self.to_addr_type.clone(),
            timestamp: Timestamp::now(),
            transport_metadata: self.transport_metadata.clone(),
            helper_metadata: self.helper_metadata.clone(),
            routing_metadata: JsonObject::empty(),
            extra: JsonObject::empty(),
        }
        .into()
    }
}

/// The state a delivery report gives a message.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Pending,
    Failed,
    Delivered,
}

impl DeliveryStatus {
    pub fn as_vumi(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Failed => "failed",
            Self::Delivered => "delivered",
        }
    }

    pub fn from_vumi(text: &str) -> Result<Self, String> {
        match text {
            "pending" => Ok(Self::Pending),
            "failed" => Ok(Self::Failed),
            "delivered" => Ok(Self::Delivered),
            other => Err(format!(
                "{other:?} is not a delivery status (expected \"pending\", \"failed\" or \"delivered\")"
            )),
        }
    }
}

/// The form a far end's message id (an SMSC's `sent_message_id`) is filed and looked up under:
/// trimmed (NUL padding too), lower case, without leading zeros; `"0000"` is `"0"`.
pub fn normalize_id(id: &str) -> String {
    let lower = id.trim().trim_end_matches('\0').to_ascii_lowercase();
    let stripped = lower.trim_start_matches('0');
    if stripped.is_empty() && !lower.is_empty() {
        "0".to_owned()
    } else {
        stripped.to_owned()
    }
}

/// What happened to a message, with the field each kind of event requires.
#[repr(C, u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum EventKind {
    Ack { sent_message_id: RString },
    Nack { nack_reason: RString },
    DeliveryReport { delivery_status: DeliveryStatus },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ack { .. } => "ack",
            Self::Nack { .. } => "nack",
            Self::DeliveryReport { .. } => "delivery_report",
        }
    }
}

shared_handle! {
    /// An event about a message an application sent (Vumi's `TransportEvent`); its fields are in
    /// [`EventData`].
    Event => EventData
}

/// The fields of an [`Event`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct EventData {
    /// Vumi calls an event's own id `event_id`.
    pub event_id: RString,
    pub user_message_id: RString,
    pub kind: EventKind,
    pub transport_name: RString,
    pub timestamp: Timestamp,
    pub transport_metadata: JsonObject,
    pub helper_metadata: JsonObject,
    pub routing_metadata: JsonObject,
    pub extra: JsonObject,
}

impl Event {
    pub fn new(user_message_id: &str, kind: EventKind, transport_name: &str) -> Self {
        EventData {
            event_id: new_message_id(),
            user_message_id: user_message_id.into(),
            kind,
            transport_name: transport_name.into(),
            timestamp: Timestamp::now(),
            transport_metadata: JsonObject::empty(),
            helper_metadata: JsonObject::empty(),
            routing_metadata: JsonObject::empty(),
            extra: JsonObject::empty(),
        }
        .into()
    }

    /// An ack for `msg`: the transport handed it on, the far end calls it `sent_message_id`.
    pub fn ack(msg: &Message, sent_message_id: &str) -> Self {
        Self::for_message(
            msg,
            EventKind::Ack {
                sent_message_id: sent_message_id.into(),
            },
        )
    }

    /// A nack for `msg`, with the reason it could not be sent.
    pub fn nack(msg: &Message, reason: &str) -> Self {
        Self::for_message(
            msg,
            EventKind::Nack {
                nack_reason: reason.into(),
            },
        )
    }

    pub fn delivery_report(msg: &Message, status: DeliveryStatus) -> Self {
        Self::for_message(
            msg,
            EventKind::DeliveryReport {
                delivery_status: status,
            },
        )
    }

    fn for_message(msg: &Message, kind: EventKind) -> Self {
        let mut event = Self::new(&msg.message_id, kind, &msg.transport_name);
        event.helper_metadata = msg.helper_metadata.clone();
        event
    }
}

/// Either kind of thing that moves on the bus. Boxed, so that moving it from queue to plugin and
/// back copies a pointer, not the whole message.
#[repr(C, u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum Payload {
    Message(Message),
    Event(Event),
}

impl Payload {
    pub fn message_id(&self) -> &str {
        match self {
            Self::Message(m) => &m.message_id,
            Self::Event(e) => &e.event_id,
        }
    }
}

impl From<Message> for Payload {
    fn from(m: Message) -> Self {
        Self::Message(m)
    }
}

impl From<Event> for Payload {
    fn from(e: Event) -> Self {
        Self::Event(e)
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "message {} {} -> {} via {}",
            self.message_id,
            self.from_addr(),
            self.to_addr(),
            self.transport_name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound() -> Message {
        let mut m = Message::new("+27831234567", "*120#", Some("hi"), "ussd", "ussd");
        m.group = ROption::RSome("grp".into());
        m.provider = ROption::RSome("mno".into());
        m.to_addr_type = ROption::RSome("ussd_code".into());
        m.from_addr_type = ROption::RSome("msisdn".into());
        m.transport_metadata.insert("session_id", serde_json::json!("abc"));
        m.helper_metadata.insert("tag", serde_json::json!(["pool", "t1"]));
        m.routing_metadata.insert("endpoint_name", serde_json::json!("default"));
        m.session_event = SessionEvent::Resume;
        m
    }

    #[test]
    fn new_message_defaults() {
        let m = Message::new("a", "b", None, "telnet", "telnet");
        assert_eq!(m.message_id.len(), 32);
        assert!(m
            .message_id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(m.session_event, SessionEvent::None);
        assert!(m.in_reply_to.is_none());
        assert!(m.transport_metadata.is_empty() && m.helper_metadata.is_empty());
        assert_ne!(new_message_id(), new_message_id());
    }

    #[test]
    fn clones_share_until_one_changes() {
        let a = Message::new("a", "b", Some("x"), "t", "telnet");
        let mut b = a.clone();
        assert_eq!(a, b);
        b.content = ROption::RSome("changed".into());
        b.routing_metadata.insert("k", serde_json::json!(1));
        assert_eq!(a.content(), Some("x"), "the original keeps its value");
        assert!(a.routing_metadata.is_empty());
        assert_eq!(b.content(), Some("changed"));
        assert!(
            std::mem::size_of::<Message>() <= 2 * std::mem::size_of::<usize>(),
            "a message is a handle"
        );
    }

    #[test]
    fn reply_swaps_addresses_and_copies_fields() {
        let m = inbound();
        let r = m.reply(Some("bye"), true);
        assert_eq!(r.to_addr(), "+27831234567");
        assert_eq!(r.from_addr(), "*120#");
        assert_eq!(r.to_addr_type.as_deref().into_option(), Some("msisdn"));
        assert_eq!(r.from_addr_type.as_deref().into_option(), Some("ussd_code"));
        assert_eq!(r.in_reply_to.as_deref().into_option(), Some(m.message_id.as_str()));
        assert_ne!(r.message_id, m.message_id);
        assert_eq!(r.group, m.group);
        assert_eq!(r.provider, m.provider);
        assert_eq!(r.transport_name, "ussd");
        assert_eq!(r.transport_type, "ussd");
        assert_eq!(r.transport_metadata, m.transport_metadata);
        assert_eq!(r.helper_metadata, m.helper_metadata);
        assert_eq!(r.content(), Some("bye"));
        assert_eq!(r.session_event, SessionEvent::None);
        assert_eq!(m.reply(None, false).session_event, SessionEvent::Close);
    }

    #[test]
    fn events_name_their_message() {
        let m = inbound();
        let ack = Event::ack(&m, "smsc-1");
        assert_eq!(ack.user_message_id, m.message_id);
        assert_eq!(
            ack.kind,
            EventKind::Ack {
                sent_message_id: "smsc-1".into()
            }
        );
        assert_eq!(ack.kind.name(), "ack");
        assert_eq!(Event::nack(&m, "no route").kind.name(), "nack");
        let dr = Event::delivery_report(&m, DeliveryStatus::Delivered);
        assert_eq!(
            dr.kind,
            EventKind::DeliveryReport {
                delivery_status: DeliveryStatus::Delivered
            }
        );
    }

    #[test]
    fn session_and_status_names() {
        for ev in [
            SessionEvent::None,
            SessionEvent::New,
            SessionEvent::Resume,
            SessionEvent::Close,
        ] {
            assert_eq!(SessionEvent::from_vumi(ev.as_vumi()).unwrap(), ev);
        }
        assert!(SessionEvent::from_vumi(Some("open")).unwrap_err().contains("\"open\""));
        for st in [
            DeliveryStatus::Pending,
            DeliveryStatus::Failed,
            DeliveryStatus::Delivered,
        ] {
            assert_eq!(DeliveryStatus::from_vumi(st.as_vumi()).unwrap(), st);
        }
        assert!(DeliveryStatus::from_vumi("ok").is_err());
    }
}
