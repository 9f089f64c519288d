//! What the server sends, turned into messages for the applications, as Vumi's transport does:
//! a USSD message of type new opens a session (`session_event: new`, the USSD code as `to_addr`,
//! no content), a response resumes it (`resume`), an end or a timeout closes it (`close`); the
//! phone number, with `+`, is `from_addr`. An SMS MO is a message with `transport_type: sms`.
//! Whatever cannot be read is logged, with what is wrong, and skipped.

use crate::config::Settings;
use crate::frame::{Mo, Ussd, USSD_END, USSD_NEW, USSD_RESPONSE, USSD_TIMEOUT};
use crate::sessions::Sessions;
use crate::text::{normalize_msisdn, Shown};
use ruvuma_plugin_api::serde_json::{json, Map, Value};
use ruvuma_plugin_api::tally::Tally;
use ruvuma_plugin_api::{Context, Message, SessionEvent};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::warn;

/// The names of the colon-separated genfields of an extended USSD message (`111`), in order.
const GENFIELDS: [&str; 5] = ["IMSI", "Subscriber Type", "OperatorID", "SessionID", "ValiPort"];

/// Turns the server's MO traffic into published messages.
pub struct Inbound {
    ctx: Context,
    settings: Arc<Settings>,
    sessions: Sessions,
    /// Bounds the warnings the server's traffic can cause: one line per kind per 10 s.
    unknown_session: Mutex<Tally>,
    evicted: Mutex<Tally>,
    skipped: Mutex<Tally>,
}

fn note(tally: &Mutex<Tally>) -> Option<u64> {
    tally.lock().ok().and_then(|mut t| t.note())
}

impl Inbound {
    pub fn new(ctx: Context, settings: Arc<Settings>) -> Self {
        let every = Duration::from_secs(10);
        Self {
            sessions: Sessions::new(settings.session_lifetime, settings.raw.max_sessions),
            ctx,
            settings,
            unknown_session: Mutex::new(Tally::new(every)),
            evicted: Mutex::new(Tally::new(every)),
            skipped: Mutex::new(Tally::new(every)),
        }
    }

    async fn publish(&self, msg: Message) {
        if let Err(e) = self.ctx.publish_inbound(msg).await {
            warn!("ssmi: an inbound message was not published: {e}");
        }
    }

    /// Logs a message from the server that is skipped, at most once per 10 s, with a count.
    fn skip(&self, why: std::fmt::Arguments<'_>) {
        if let Some(n) = note(&self.skipped) {
            warn!("ssmi: {why} ({n} skipped since the last report)");
        }
    }

    fn msisdn(&self, raw: &[u8], what: &str) -> Option<String> {
        let found = std::str::from_utf8(raw).ok().and_then(normalize_msisdn);
        if found.is_none() {
            self.skip(format_args!("{what} skipped: {} is not a phone number", Shown(raw)));
        }
        found
    }

    /// A USSD message (`110` or `111`).
    pub async fn ussd(&self, u: Ussd<'_>) {
        let Some(from) = self.msisdn(u.msisdn, "USSD message") else {
            return;
        };
        let event = match u.kind {
            k if k == USSD_NEW.as_bytes() => SessionEvent::New,
            k if k == USSD_RESPONSE.as_bytes() => SessionEvent::Resume,
            k if k == USSD_END.as_bytes() || k == USSD_TIMEOUT.as_bytes() => SessionEvent::Close,
            other => {
                self.skip(format_args!(
                    "USSD message from {from} skipped: type {} is not one of 1 (new), 2 (response), 3 (end), 4 (timeout)",
                    Shown(other)
                ));
                return;
            }
        };
        let text = self.settings.encoding.decode(u.text);
        let (to_addr, content) = if event == SessionEvent::New {
            (self.open(&from, &text), None)
        } else {
            (self.code_of(&from, event == SessionEvent::Close), Some(text))
        };
        let mut msg =
            Message::new(&from, &to_addr, content.as_deref(), self.ctx.endpoint(), "ussd").with_session_event(event);
        msg.helper_metadata
            .insert("truteq", json!({ "genfields": genfields(u.genfields) }));
        msg.transport_metadata.insert(
            "truteq",
            json!({ "phase": String::from_utf8_lossy(u.phase), "ussd_type": String::from_utf8_lossy(u.kind) }),
        );
        self.publish(msg).await;
    }

    /// Opens a session; its first message is the USSD code, `#` added when missing (as Vumi).
    fn open(&self, from: &str, text: &str) -> String {
        let code = if text.ends_with('#') {
            text.to_owned()
        } else {
            format!("{text}#")
        };
        if let Some(gone) = self.sessions.open(from, &code).evicted {
            if let Some(n) = note(&self.evicted) {
                warn!(
                    "ssmi: {} USSD session(s) open, the most kept (max_sessions); {gone}'s, idle longest, forgotten ({n} since the last report)",
                    self.settings.raw.max_sessions
                );
            }
        }
        code
    }

    /// The USSD code of `from`'s session; empty (and logged) when the session is not known.
    fn code_of(&self, from: &str, close: bool) -> String {
        self.sessions.find(from, close).unwrap_or_else(|| {
            if let Some(n) = note(&self.unknown_session) {
                warn!(
                    "ssmi: USSD message from {from} in a session this transport does not know (past ussd_session_lifetime, forgotten, or opened before a restart): to_addr left empty ({n} since the last report)"
                );
            }
            String::new()
        })
    }

    /// An SMS from a phone (`103`; `107` names the number it was sent to).
    pub async fn sms(&self, mo: Mo<'_>) {
        let Some(from) = self.msisdn(mo.msisdn, "SMS MO") else {
            return;
        };
        let to_addr = match mo.destination {
            Some(d) if !d.is_empty() => self.settings.encoding.decode(d),
            _ => self.settings.sms_to_addr.clone(),
        };
        let text = self.settings.encoding.decode(mo.text);
        let mut msg = Message::new(&from, &to_addr, Some(&text), self.ctx.endpoint(), "sms");
        msg.transport_metadata.insert(
            "truteq",
            json!({ "sequence": String::from_utf8_lossy(mo.sequence), "premium": mo.destination.is_some() }),
        );
        self.publish(msg).await;
    }
}

/// Vumi's `helper_metadata.truteq.genfields`: every name, empty when not given.
fn genfields(raw: Option<&[u8]>) -> Value {
    let Some(raw) = raw else {
        return Value::Object(Map::new());
    };
    let text = String::from_utf8_lossy(raw);
    let mut values = text.split(':');
    let map: Map<String, Value> = GENFIELDS
        .iter()
        .map(|name| ((*name).to_owned(), Value::from(values.next().unwrap_or(""))))
        .collect();
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genfields_by_name() {
        assert_eq!(genfields(None), json!({}));
        assert_eq!(
            genfields(Some(b"::3")),
            json!({"IMSI": "", "Subscriber Type": "", "OperatorID": "3", "SessionID": "", "ValiPort": ""})
        );
    }
}
