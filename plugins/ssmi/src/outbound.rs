//! What an application sends, as the SSMI command that carries it. A reply to a USSD message
//! goes back as USSD: type 3 (end) when it closes the session (`session_event: close`, Vumi's
//! `continue_session=False`), type 2 (response, the session goes on) otherwise. Everything else
//! (a reply to an SMS, `transport_type: sms`, a message that answers nothing) goes as an SMS MT.

use crate::config::Settings;
use crate::frame::{self, USSD_END, USSD_RESPONSE};
use ruvuma_plugin_api::{Message, SessionEvent};

/// How a message goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Ussd { end: bool },
    Sms,
}

impl Carrier {
    pub fn of(msg: &Message) -> Self {
        let reply = msg.in_reply_to.is_some();
        let sms = msg.transport_type.as_str() == "sms";
        if reply && !sms {
            Self::Ussd {
                end: msg.session_event == SessionEvent::Close,
            }
        } else {
            Self::Sms
        }
    }
}

/// The line that sends `msg`, or why it cannot be sent (the reason its nack gives).
pub fn line(settings: &Settings, msg: &Message) -> Result<Vec<u8>, String> {
    let raw_to = msg.to_addr();
    let msisdn = raw_to.trim().trim_start_matches('+');
    if msisdn.is_empty() || !msisdn.bytes().all(|b| b.is_ascii_digit()) || msisdn.len() > 32 {
        return Err(format!(
            "to_addr {raw_to:?} is not a phone number (digits, optionally after +)"
        ));
    }
    let text = settings.encoding.encode(msg.content().unwrap_or(""));
    let line = match Carrier::of(msg) {
        Carrier::Ussd { end } => frame::send_ussd(msisdn, if end { USSD_END } else { USSD_RESPONSE }, &text),
        Carrier::Sms => frame::send_sms(u32::from(settings.raw.validity), msisdn, &text),
    };
    if line.len() > settings.raw.max_line {
        return Err(format!(
            "the message is {} bytes on the line, more than max_line ({})",
            line.len(),
            settings.raw.max_line
        ));
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn settings() -> Settings {
        let c: Config = serde_json::from_str(r#"{"host": "h", "username": "u", "password": "p"}"#).unwrap();
        c.settings().unwrap()
    }

    #[test]
    fn replies_to_ussd_continue_or_end_and_the_rest_is_sms() {
        let s = settings();
        let mo = Message::new("+2782", "*120#", Some("1"), "ssmi", "ussd");
        let go_on = mo.reply(Some("Menu,\r\n1. a"), true);
        assert_eq!(line(&s, &go_on).unwrap(), b"SSMI,110,2782,2,Menu,\n1. a\r");
        let bye = mo.reply(Some("Bye"), false);
        assert_eq!(line(&s, &bye).unwrap(), b"SSMI,110,2782,3,Bye\r");
        let sms_mo = Message::new("+2782", "31337", Some("hi"), "ssmi", "sms");
        assert_eq!(
            line(&s, &sms_mo.reply(Some("hi"), true)).unwrap(),
            b"SSMI,2,0,2782,hi\r"
        );
        let push = Message::new("31337", "+2782", Some("news"), "ssmi", "ussd");
        assert_eq!(line(&s, &push).unwrap(), b"SSMI,2,0,2782,news\r");
        let none = mo.reply(None, false);
        assert_eq!(line(&s, &none).unwrap(), b"SSMI,110,2782,3,\r");
    }

    #[test]
    fn refuses_what_would_break_the_line() {
        let s = settings();
        let bad = Message::new("x", "27,82\r", Some("hi"), "ssmi", "sms");
        assert!(line(&s, &bad).unwrap_err().contains("is not a phone number"));
        let long = Message::new("x", "2782", Some(&"x".repeat(70_000)), "ssmi", "sms");
        assert!(line(&s, &long).unwrap_err().contains("more than max_line (65536)"));
    }
}
