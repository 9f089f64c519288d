//! Jasmin's delivery receipts: level 1 (the SMSC took the submit or refused it: `id`,
//! `message_status` as an SMPP status name, `level`, `connector`), level 2 (the handset's
//! receipt, with `id_smsc`, `sub`, `dlvrd`, `subdate`, `donedate`, `err`, `text`), both for
//! level 3. Sent form-encoded by the method asked for; only `ACK/Jasmin` counts as received.

use crate::api::callbacks::{Callback, Method};
use crate::api::sms::dashed;
use crate::api::track::Tracked;
use ruvuma_plugin_api::prelude::*;
use serde_json::Value;

/// Receipt states Jasmin passes on at level 2 (it throws nothing for the others).
const LEVEL2_STATES: [&str; 7] = [
    "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD",
];

fn smpp(event: &Event) -> serde_json::Map<String, Value> {
    match event.transport_metadata.get("smpp") {
        Some(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// A receipt text's field (`sub:001` → `001`), or Jasmin's `ND`.
fn receipt_field(text: &str, name: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let key = format!("{name}:");
    lower
        .find(&key)
        .map(|at| {
            let value = &text[at + key.len()..];
            let end = if name == "text" {
                value.len()
            } else {
                value.find(' ').unwrap_or(value.len())
            };
            value[..end].to_owned()
        })
        .unwrap_or_else(|| if name == "text" { String::new() } else { "ND".into() })
}

pub fn dlr_callbacks(tracked: &Tracked, event: &Event) -> Vec<Callback> {
    let id = dashed(&event.user_message_id);
    let args: Vec<(&str, String)> = match &event.kind {
        EventKind::Ack { .. } | EventKind::Nack { .. } if tracked.level == 2 => return Vec::new(),
        EventKind::Ack { .. } => level1(&id, "ESME_ROK", &tracked.ch),
        EventKind::Nack { nack_reason } => {
            let word = nack_reason.split_whitespace().next().unwrap_or("");
            let status = if word.starts_with("ESME_") {
                word
            } else {
                "ESME_RSYSERR"
            };
            level1(&id, status, &tracked.ch)
        }
        EventKind::DeliveryReport { .. } if tracked.level == 1 => return Vec::new(),
        EventKind::DeliveryReport { delivery_status } => {
            let m = smpp(event);
            let field = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let stat = match field("stat").to_ascii_uppercase() {
                s if !s.is_empty() => s,
                _ => match delivery_status {
                    DeliveryStatus::Delivered => "DELIVRD".into(),
                    DeliveryStatus::Failed => "UNDELIV".into(),
                    DeliveryStatus::Pending => "ENROUTE".into(),
                },
            };
            if !LEVEL2_STATES.contains(&stat.as_str()) {
                return Vec::new();
            }
            let smsc_id = field("smsc_message_id");
            let text = field("text");
            let mut args = level1(&id, &stat, &smsc_id);
            args.extend([
                (
                    "id_smsc",
                    smsc_id.to_ascii_uppercase().trim_start_matches('0').to_owned(),
                ),
                ("sub", receipt_field(&text, "sub")),
                ("dlvrd", receipt_field(&text, "dlvrd")),
                ("subdate", receipt_field(&text, "submit date")),
                ("donedate", receipt_field(&text, "done date")),
                ("err", m.get("err").and_then(Value::as_str).unwrap_or("").to_owned()),
                ("text", receipt_field(&text, "text")),
            ]);
            args
        }
    };
    let encoded = serde_urlencoded::to_string(&args).unwrap_or_default();
    let (method, url, body) = if tracked.post {
        (
            Method::Post,
            tracked.url.clone(),
            Some(("application/x-www-form-urlencoded", encoded)),
        )
    } else {
        (Method::Get, format!("{}?{encoded}", tracked.url), None)
    };
    vec![Callback {
        method,
        url,
        body,
        headers: vec![("accept", "text/plain".into())],
        expect: Some("ACK/Jasmin"),
        about: Payload::from(event.clone()),
        what: "dlr-url",
        lane: event.user_message_id.to_string(),
    }]
}

fn level1(id: &str, status: &str, connector: &str) -> Vec<(&'static str, String)> {
    vec![
        ("id", id.to_owned()),
        ("message_status", status.to_owned()),
        ("level", if status.starts_with("ESME_") { "1" } else { "2" }.to_owned()),
        ("connector", connector.to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::track::Dialect;

    fn tracked(level: u8, post: bool) -> Tracked {
        Tracked {
            d: Dialect::Jasmin,
            url: "http://h/dlr".into(),
            token: None,
            mask: 0,
            level,
            post,
            user: "foo".into(),
            ch: "sms".into(),
            to: "+336222172".into(),
            from: "".into(),
            acked: false,
        }
    }

    #[test]
    fn level_three_gets_the_submit_and_the_receipt() {
        let msg = Message::new("", "+336222172", Some("Hello"), "sms", "sms");
        let ack = Event::ack(&msg, "1a");
        let mut dr = Event::delivery_report(&msg, DeliveryStatus::Delivered);
        dr.transport_metadata.insert(
            "smpp",
            serde_json::json!({"smsc_message_id": "01a", "stat": "DELIVRD", "err": "000",
                "text": "id:01a sub:001 dlvrd:001 submit date:2401311234 done date:2401311235 stat:DELIVRD err:000 text:Hello there"}),
        );
        let id = dashed(&msg.message_id);
        let first = &dlr_callbacks(&tracked(3, false), &ack)[0];
        assert_eq!(
            first.url,
            format!("http://h/dlr?id={id}&message_status=ESME_ROK&level=1&connector=sms")
        );
        let second = &dlr_callbacks(&tracked(3, true), &dr)[0];
        assert_eq!(second.method, Method::Post);
        assert_eq!(
            second.body.as_ref().map(|b| b.1.as_str()),
            Some(
                format!(
                    "id={id}&message_status=DELIVRD&level=2&connector=01a&id_smsc=1A&sub=001&dlvrd=001\
                     &subdate=2401311234&donedate=2401311235&err=000&text=Hello+there"
                )
                .as_str()
            )
        );
        assert!(dlr_callbacks(&tracked(1, true), &dr).is_empty());
        assert!(dlr_callbacks(&tracked(2, true), &ack).is_empty());
    }
}
