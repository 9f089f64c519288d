//! Kannel's delivery reports: for each kind `dlr-mask` asks for (1 delivered, 2 undelivered,
//! 4 buffered, 8 accepted by the SMSC, 16 refused by it; a refusal is also reported when only
//! 2 is asked for, as Kannel does), a GET of `dlr-url` with its escapes expanded.

use crate::api::callbacks::{Callback, Method};
use crate::api::sms::dashed;
use crate::api::track::Tracked;
use ruvuma_plugin_api::prelude::*;
use serde_json::Value;

/// What one report says, for the escapes.
struct Report<'a> {
    kind: u8,
    answer: String,
    smsc_id: String,
    err: String,
    tracked: &'a Tracked,
    event: &'a Event,
}

/// A field of what the `smpp` transport said of the receipt (its metadata read once).
fn smpp_field(smpp: &Option<Value>, key: &str) -> Option<String> {
    match smpp {
        Some(Value::Object(m)) => m.get(key).and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

pub fn dlr_callbacks(tracked: &Tracked, event: &Event) -> Vec<Callback> {
    let mask = tracked.mask;
    let smpp = event.transport_metadata.get("smpp");
    let (kind, answer, smsc_id) = match &event.kind {
        EventKind::Ack { sent_message_id } => (8, "ACK/".to_owned(), sent_message_id.to_string()),
        EventKind::Nack { nack_reason } if mask & (16 | 2) != 0 => (16, format!("NACK/{nack_reason}"), String::new()),
        EventKind::Nack { .. } => return Vec::new(),
        EventKind::DeliveryReport { delivery_status } => {
            let kind = match delivery_status {
                DeliveryStatus::Delivered => 1,
                DeliveryStatus::Failed => 2,
                DeliveryStatus::Pending => 4,
            };
            let id = smpp_field(&smpp, "smsc_message_id").unwrap_or_default();
            let text = smpp_field(&smpp, "text").unwrap_or_else(|| {
                let stat = smpp_field(&smpp, "stat").unwrap_or_default();
                let err = smpp_field(&smpp, "err").unwrap_or_else(|| "000".into());
                format!("id:{id} stat:{stat} err:{err}")
            });
            (kind, text, id)
        }
    };
    if kind != 16 && mask & kind == 0 {
        return Vec::new();
    }
    let report = Report {
        kind,
        answer,
        smsc_id,
        err: smpp_field(&smpp, "err").unwrap_or_default(),
        tracked,
        event,
    };
    vec![Callback {
        method: Method::Get,
        url: expand(&tracked.url, &report),
        body: None,
        headers: vec![("user-agent", format!("ruvuma/{}", env!("CARGO_PKG_VERSION")))],
        expect: None,
        about: Payload::from(event.clone()),
        what: "dlr-url",
        lane: event.user_message_id.to_string(),
    }]
}

/// Kannel's URL encoding: `A-Za-z0-9-_.!~*'()` kept, a space as `+`, the rest `%XX`.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `%p` → `%q` style: a leading `00` as `+`.
fn plus(number: &str) -> String {
    match number.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => number.to_owned(),
    }
}

/// The URL with Kannel's escapes filled in; an escape it does not know is kept as written.
fn expand(url: &str, r: &Report<'_>) -> String {
    let at = r.event.timestamp.to_datetime();
    let t = r.tracked;
    let mut out = String::with_capacity(url.len() + 64);
    let mut chars = url.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(code) = chars.next() else {
            out.push('%');
            break;
        };
        match code {
            'd' => out.push_str(&r.kind.to_string()),
            'p' => out.push_str(&encode(&t.to)),
            'P' => out.push_str(&encode(&t.from)),
            'q' => out.push_str(&encode(&plus(&t.to))),
            'Q' => out.push_str(&encode(&plus(&t.from))),
            'A' | 'b' => out.push_str(&encode(&r.answer)),
            'F' => out.push_str(&encode(&r.smsc_id)),
            'I' => out.push_str(&dashed(&r.event.event_id)),
            'i' => out.push_str(&encode(&t.ch)),
            'n' => out.push_str(&encode(&t.user)),
            't' => out.push_str(&at.format("%Y-%m-%d+%H:%M:%S").to_string()),
            'T' => out.push_str(&at.timestamp().to_string()),
            'B' => out.push_str(&encode(&r.err)),
            'D' => out.push_str(&encode(&format!("?orig_msg?dlr_mask={}&", t.mask))),
            'R' => out.push_str(&encode(&t.url)),
            'o' | 'k' | 's' | 'S' | 'r' | 'a' | 'u' => {}
            '%' => out.push('%'),
            other => {
                out.push('%');
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::track::Dialect;

    fn tracked(mask: u8, url: &str) -> Tracked {
        Tracked {
            d: Dialect::Kannel,
            url: url.into(),
            token: None,
            mask,
            level: 0,
            post: false,
            user: "tester".into(),
            ch: "sms".into(),
            to: "0027831234567".into(),
            from: "ruvuma co".into(),
            acked: false,
        }
    }

    fn message() -> Message {
        Message::new("ruvuma co", "0027831234567", Some("hi"), "sms", "sms")
    }

    #[test]
    fn escapes_are_expanded_as_kannel_does() {
        let msg = message();
        let mut dr = Event::delivery_report(&msg, DeliveryStatus::Delivered);
        dr.transport_metadata.insert(
            "smpp",
            serde_json::json!({"smsc_message_id": "a1b2", "stat": "DELIVRD", "err": "000"}),
        );
        dr.timestamp = ruvuma_plugin_api::Timestamp::parse("2024-01-31 12:34:56.000000").expect("a time");
        let t = tracked(
            31,
            "http://h/dlr?s=%d&to=%p&q=%q&from=%P&id=%F&a=%A&n=%n&i=%i&t=%t&T=%T&B=%B&x=%x&%%",
        );
        let calls = dlr_callbacks(&t, &dr);
        assert_eq!(calls.len(), 1);
        assert_eq!(
            calls[0].url,
            "http://h/dlr?s=1&to=0027831234567&q=%2B27831234567&from=ruvuma+co&id=a1b2\
             &a=id%3Aa1b2+stat%3ADELIVRD+err%3A000&n=tester&i=sms&t=2024-01-31+12:34:56&T=1706704496&B=000&x=%x&%"
        );
    }

    #[test]
    fn only_the_kinds_the_mask_asks_for_are_reported() {
        let msg = message();
        let ack = Event::ack(&msg, "77");
        let delivered = Event::delivery_report(&msg, DeliveryStatus::Delivered);
        let nack = Event::nack(&msg, "ESME_RINVDSTADR");
        let url = "http://h/?d=%d&a=%A";
        assert!(dlr_callbacks(&tracked(1, url), &ack).is_empty());
        assert_eq!(dlr_callbacks(&tracked(8, url), &ack)[0].url, "http://h/?d=8&a=ACK%2F");
        assert!(dlr_callbacks(&tracked(8, url), &delivered).is_empty());
        assert!(dlr_callbacks(&tracked(1, url), &nack).is_empty());
        assert_eq!(
            dlr_callbacks(&tracked(2, url), &nack)[0].url,
            "http://h/?d=16&a=NACK%2FESME_RINVDSTADR"
        );
    }
}
