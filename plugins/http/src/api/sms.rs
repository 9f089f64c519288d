//! One SMS as the dialects describe it, made into a message for the channel's transport. What
//! only SMPP can carry (coding, binary bodies, a UDH, message class, priority, validity,
//! deferred delivery, whether to ask for a receipt) goes in `transport_metadata.smpp`, which
//! the `smpp` transport reads.

use ruvuma_plugin_api::prelude::*;
use serde_json::{json, Map, Value};

/// The alphabets text can be sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    Gsm7,
    Ascii,
    Latin1,
    Ucs2,
}

impl Alphabet {
    fn name(self) -> &'static str {
        match self {
            Self::Gsm7 => "gsm7",
            Self::Ascii => "ascii",
            Self::Latin1 => "latin1",
            Self::Ucs2 => "ucs2",
        }
    }

    /// The first character of `text` this alphabet cannot carry.
    pub fn cannot_carry(self, text: &str) -> Option<char> {
        match self {
            Self::Gsm7 => ruvuma_plugin_api::gsm::first_unencodable(text),
            Self::Ascii => text.chars().find(|c| !c.is_ascii()),
            Self::Latin1 => text.chars().find(|&c| u32::from(c) > 0xFF),
            Self::Ucs2 => None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    /// Text, in the alphabet asked for (`None`: the transport picks).
    Text(String, Option<Alphabet>),
    /// Octets sent as they are (8-bit data coding).
    Binary(Vec<u8>),
}

pub struct Sms {
    pub channel: String,
    pub from: Option<String>,
    pub to: String,
    pub body: Body,
    pub udh: Option<Vec<u8>>,
    pub mclass: Option<u8>,
    pub priority: Option<u8>,
    pub validity_minutes: Option<u32>,
    pub deferred_minutes: Option<u32>,
    /// An SMPP time (`000000000100000R`, or absolute) to deliver at.
    pub schedule: Option<String>,
    /// Ask the network for a delivery receipt (`None`: as the transport is configured).
    pub receipt: Option<bool>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sms {
    pub fn message(&self) -> Message {
        let content = match &self.body {
            Body::Text(text, _) => Some(text.as_str()),
            Body::Binary(_) => None,
        };
        let mut msg = Message::new(
            self.from.as_deref().unwrap_or(""),
            &self.to,
            content,
            &self.channel,
            "sms",
        );
        if self.from.is_none() {
            msg.from_addr = ruvuma_plugin_api::std_types::ROption::RNone;
        }
        let mut smpp = Map::new();
        match &self.body {
            Body::Text(_, Some(a)) => {
                smpp.insert("data_coding".into(), json!(a.name()));
            }
            Body::Text(_, None) => {}
            Body::Binary(bytes) => {
                smpp.insert("data_coding".into(), json!("binary"));
                smpp.insert("short_message_hex".into(), json!(hex(bytes)));
            }
        }
        let fields: [(&str, Option<Value>); 7] = [
            ("schedule_delivery_time", self.schedule.as_ref().map(|v| json!(v))),
            ("udh_hex", self.udh.as_deref().map(|u| json!(hex(u)))),
            ("mclass", self.mclass.map(|v| json!(v))),
            ("priority_flag", self.priority.map(|v| json!(v))),
            ("validity_minutes", self.validity_minutes.map(|v| json!(v))),
            ("deferred_minutes", self.deferred_minutes.map(|v| json!(v))),
            ("registered_delivery", self.receipt.map(|v| json!(v))),
        ];
        for (key, value) in fields {
            if let Some(v) = value {
                smpp.insert(key.into(), v);
            }
        }
        if !smpp.is_empty() {
            msg.transport_metadata.insert("smpp", Value::Object(smpp));
        }
        msg
    }
}

/// UTF-16BE octets as text; `None` for an odd length or a lone surrogate.
pub fn utf16be(bytes: &[u8]) -> Option<String> {
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = bytes.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
    String::from_utf16(&units).ok()
}

/// Hex digits as octets; `None` when they are not.
pub fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
        .collect()
}

/// A 32-hex message id as a UUID's text (with its dashes), as Jasmin and Kannel show ids.
pub fn dashed(id: &str) -> String {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return id.to_owned();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &id[..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..]
    )
}
