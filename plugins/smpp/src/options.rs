//! What an application may ask of one message's submit_sm, in `transport_metadata.smpp`:
//! `data_coding` (gsm7, ascii, latin1, ucs2, or binary with `short_message_hex`), `udh_hex`,
//! `mclass` (0–3), `priority_flag` (0–3), `validity_minutes`, `deferred_minutes` or
//! `schedule_delivery_time` (an SMPP time), and `registered_delivery` (a receipt or none, over
//! the transport's own setting). A value out of range fails the message, naming the key.

use crate::text::Coding;
use ruvuma_plugin_api::prelude::*;
use serde_json::{Map, Value};

/// One part at most for a binary body or a text with its own UDH.
pub const MAX_OCTETS: usize = 140;
/// The longest relative time asked for: a year.
const MAX_MINUTES: u64 = 525_600;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Options {
    pub coding: Option<Coding>,
    pub binary: Option<Vec<u8>>,
    pub udh: Option<Vec<u8>>,
    pub mclass: Option<u8>,
    pub priority: Option<u8>,
    pub validity: Option<String>,
    pub schedule: Option<String>,
    pub registered: Option<bool>,
}

fn hex(map: &Map<String, Value>, key: &str) -> Result<Option<Vec<u8>>, String> {
    let Some(v) = map.get(key) else { return Ok(None) };
    let text = v
        .as_str()
        .ok_or_else(|| format!("transport_metadata.smpp.{key}: expected hex text"))?;
    if !text.len().is_multiple_of(2) || text.len() > 2 * MAX_OCTETS {
        return Err(format!(
            "transport_metadata.smpp.{key}: expected an even number of hex digits, at most {}",
            2 * MAX_OCTETS
        ));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map(Some)
        .map_err(|_| format!("transport_metadata.smpp.{key}: {text:?} is not hex"))
}

fn small(map: &Map<String, Value>, key: &str, max: u64) -> Result<Option<u64>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n <= max => Ok(Some(n)),
            _ => Err(format!(
                "transport_metadata.smpp.{key}: expected a number from 0 to {max}"
            )),
        },
    }
}

/// An SMPP relative time (`YYMMDDhhmmss000R`) `minutes` from now.
pub fn relative(minutes: u64) -> String {
    let (days, rest) = (minutes / 1440, minutes % 1440);
    let (years, days) = (days / 365, days % 365);
    let (months, days) = (days / 30, days % 30);
    format!("{years:02}{months:02}{days:02}{:02}{:02}00000R", rest / 60, rest % 60)
}

impl Options {
    pub fn of(msg: &Message) -> Result<Self, String> {
        let Some(value) = msg.transport_metadata.get("smpp") else {
            return Ok(Self::default());
        };
        let Value::Object(map) = value else {
            return Err("transport_metadata.smpp: expected an object".into());
        };
        let mut o = Self {
            binary: hex(&map, "short_message_hex")?,
            udh: hex(&map, "udh_hex")?,
            mclass: small(&map, "mclass", 3)?.map(|n| n as u8),
            priority: small(&map, "priority_flag", 3)?.map(|n| n as u8),
            validity: small(&map, "validity_minutes", MAX_MINUTES)?.map(relative),
            schedule: small(&map, "deferred_minutes", MAX_MINUTES)?.map(relative),
            registered: map.get("registered_delivery").and_then(Value::as_bool),
            ..Self::default()
        };
        match map.get("data_coding").and_then(Value::as_str) {
            None => {}
            Some("binary") if o.binary.is_some() => {}
            Some("binary") => return Err("transport_metadata.smpp: data_coding binary needs short_message_hex".into()),
            Some(name) => {
                o.coding =
                    Some(Coding::from_name(name).map_err(|e| format!("transport_metadata.smpp.data_coding: {e}"))?)
            }
        }
        if let Some(t) = map.get("schedule_delivery_time").and_then(Value::as_str) {
            let ok = t.len() == 16
                && t.as_bytes()[..15].iter().all(u8::is_ascii_digit)
                && matches!(t.as_bytes()[15], b'+' | b'-' | b'R');
            if !ok {
                return Err(format!(
                    "transport_metadata.smpp.schedule_delivery_time: {t:?} is not an SMPP time"
                ));
            }
            o.schedule = Some(t.to_owned());
        }
        if let Some(udh) = &o.udh {
            if udh.is_empty() || udh.len() != usize::from(udh[0]) + 1 {
                return Err("transport_metadata.smpp.udh_hex: its first octet must be the length of the rest".into());
            }
        }
        Ok(o)
    }

    /// The data_coding with the message class in it (GSM 03.38's general group, class bits on).
    pub fn classed(&self, data_coding: u8) -> Result<u8, String> {
        let Some(class) = self.mclass else {
            return Ok(data_coding);
        };
        match data_coding {
            0x00 | 0x01 => Ok(0x10 | class),
            0x04 => Ok(0x14 | class),
            0x08 => Ok(0x18 | class),
            other => Err(format!(
                "a message class cannot be sent with data_coding {other:#04x} (use gsm7, ucs2 or binary)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_count_years_months_days_hours_minutes() {
        assert_eq!(relative(90), "000000013000000R");
        assert_eq!(relative(1440 * 400 + 61), "010105010100000R");
    }

    #[test]
    fn options_are_read_and_bounded() {
        let mut msg = Message::new("a", "b", Some("hi"), "sms", "sms");
        msg.transport_metadata.insert(
            "smpp",
            serde_json::json!({"data_coding": "ucs2", "mclass": 1, "priority_flag": 2, "validity_minutes": 60,
                "udh_hex": "0605040b8423f0", "registered_delivery": false}),
        );
        let o = Options::of(&msg).expect("valid");
        assert_eq!(o.coding, Some(Coding::Ucs2));
        assert_eq!(o.udh.as_deref(), Some(&[6, 5, 4, 0x0b, 0x84, 0x23, 0xf0][..]));
        assert_eq!(o.validity.as_deref(), Some("000000010000000R"));
        assert_eq!(o.classed(0x08), Ok(0x19));
        assert_eq!(o.registered, Some(false));
        msg.transport_metadata.insert("smpp", serde_json::json!({"mclass": 4}));
        assert!(Options::of(&msg).unwrap_err().contains("mclass"));
        msg.transport_metadata
            .insert("smpp", serde_json::json!({"udh_hex": "0700"}));
        assert!(Options::of(&msg).is_err());
    }
}
