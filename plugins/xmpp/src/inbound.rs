//! What the server sends once the session is bound. A `<message>` of type chat or normal with a
//! body becomes a message (`transport_type: xmpp`, `from_addr` the sender's bare JID, its
//! resource, the stanza's id and thread in transport_metadata, as Vumi's `xmpp_id`); a
//! subscription request is accepted, refused or checked against the allow list; an `<iq>` asking
//! something is answered (a ping or a roster push with a result, anything else with
//! service-unavailable, as RFC 6120 wants). Everything else is logged at debug level and skipped.

use crate::config::{Settings, Subscriptions};
use crate::outbound::{ID, RESOURCE, THREAD};
use ruvuma_plugin_api::serde_json::json;
use ruvuma_plugin_api::tally::Tally;
use ruvuma_plugin_api::{Context, Message};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::{Message as Chat, MessageType};
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use tokio_xmpp::Stanza;
use tracing::{debug, info, warn};

/// Turns the server's stanzas into messages and answers.
pub struct Inbound {
    ctx: Context,
    settings: Arc<Settings>,
    /// Bound the warnings a peer's stanzas can cause: one a kind per 10 s, with a count.
    bounced: Mutex<Tally>,
    refused: Mutex<Tally>,
}

fn note(tally: &Mutex<Tally>) -> Option<u64> {
    tally.lock().ok().and_then(|mut t| t.note())
}

impl Inbound {
    pub fn new(ctx: Context, settings: Arc<Settings>) -> Self {
        let every = Duration::from_secs(10);
        Self {
            ctx,
            settings,
            bounced: Mutex::new(Tally::new(every)),
            refused: Mutex::new(Tally::new(every)),
        }
    }

    /// Acts on one stanza; what it answers is pushed onto `answers`.
    pub async fn stanza(&self, stanza: Stanza, answers: &mut Vec<Stanza>) {
        match stanza {
            Stanza::Message(m) => self.message(m).await,
            Stanza::Presence(p) => answers.extend(self.presence(p)),
            Stanza::Iq(iq) => answers.extend(answer_iq(iq)),
        }
    }

    async fn message(&self, m: Chat) {
        match m.type_ {
            MessageType::Chat | MessageType::Normal => {}
            MessageType::Error => {
                if let Some(n) = note(&self.bounced) {
                    let from = m.from.map(|f| f.to_string()).unwrap_or_default();
                    warn!("xmpp: the server bounced a message to {from} (an error stanza; {n} since the last report)");
                }
                return;
            }
            other => return debug!("xmpp: a {other:?} message skipped"),
        }
        let (Some(from), Some((_, body))) = (m.from.as_ref(), m.get_best_body(vec![])) else {
            return debug!("xmpp: a message without a sender or a body (a chat state?) skipped");
        };
        let bare = from.to_bare().to_string();
        let me = self.settings.jid.to_string();
        let mut msg = Message::new(&bare, &me, Some(body.trim()), self.ctx.endpoint(), "xmpp");
        let meta = &mut msg.transport_metadata;
        meta.insert(ID, m.id.as_ref().map(|i| json!(i.0)).unwrap_or(json!(null)));
        if let Some(resource) = from.resource() {
            meta.insert(RESOURCE, json!(resource.as_str()));
        }
        if let Some(thread) = &m.thread {
            meta.insert(THREAD, json!(thread.id));
        }
        if let Err(e) = self.ctx.publish_inbound(msg).await {
            warn!("xmpp: an inbound message from {bare} was not published: {e}");
        }
    }

    /// Whether a subscription request from `from` is accepted.
    fn accepts(&self, from: &Jid) -> bool {
        match self.settings.raw.subscriptions {
            Subscriptions::Accept => true,
            Subscriptions::Refuse => false,
            Subscriptions::AllowList => self.settings.allow_list.contains(&from.to_bare()),
        }
    }

    /// Answers subscription requests: accepted ones are subscribed back, as Vumi did.
    fn presence(&self, p: Presence) -> Vec<Stanza> {
        let Some(from) = p.from else { return Vec::new() };
        let to = |kind| Stanza::Presence(Presence::new(kind).with_to(from.to_bare()));
        match p.type_ {
            PresenceType::Subscribe if self.accepts(&from) => {
                info!("xmpp: subscription from {} accepted", from.to_bare());
                vec![to(PresenceType::Subscribed), to(PresenceType::Subscribe)]
            }
            PresenceType::Subscribe => {
                if let Some(n) = note(&self.refused) {
                    info!(
                        "xmpp: subscription from {} refused (subscriptions: {:?}; {n} since the last report)",
                        from.to_bare(),
                        self.settings.raw.subscriptions
                    );
                }
                vec![to(PresenceType::Unsubscribed)]
            }
            PresenceType::Unsubscribe => vec![to(PresenceType::Unsubscribed)],
            _ => Vec::new(),
        }
    }
}

/// The answer to an `<iq>` of type get or set: a result to a ping or a roster push, an error to
/// the rest.
fn answer_iq(iq: Iq) -> Option<Stanza> {
    let (from, id, payload) = match iq {
        Iq::Get { from, id, payload, .. } | Iq::Set { from, id, payload, .. } => (from, id, payload),
        Iq::Result { .. } | Iq::Error { .. } => return None,
    };
    // A ping, and a roster push (RFC 6121 wants it acknowledged), get a result.
    let answer = if payload.is("ping", ns::PING) || payload.is("query", ns::ROSTER) {
        Iq::Result {
            from: None,
            to: from,
            id,
            payload: None,
        }
    } else {
        debug!(
            "xmpp: an iq <{} xmlns={:?}> answered service-unavailable",
            payload.name(),
            payload.ns()
        );
        let error = StanzaError::new(ErrorType::Cancel, DefinedCondition::ServiceUnavailable, "en", "");
        Iq::Error {
            from: None,
            to: from,
            id,
            error,
            payload: None,
        }
    };
    Some(Stanza::Iq(answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_xmpp::minidom::Element;

    #[test]
    fn a_ping_gets_a_result_and_other_questions_an_error() {
        let ping = Iq::from_get("p1", tokio_xmpp::parsers::ping::Ping).with_from(Jid::new("example.org").unwrap());
        match answer_iq(ping) {
            Some(Stanza::Iq(Iq::Result { id, to, .. })) => {
                assert_eq!((id.as_str(), to.unwrap().to_string().as_str()), ("p1", "example.org"))
            }
            other => panic!("{other:?}"),
        }
        let version = Element::builder("query", "jabber:iq:version").build();
        let ask = Iq::Get {
            from: None,
            to: None,
            id: "v1".into(),
            payload: version,
        };
        match answer_iq(ask) {
            Some(Stanza::Iq(Iq::Error { id, error, .. })) => {
                assert_eq!(
                    (id.as_str(), error.defined_condition),
                    ("v1", DefinedCondition::ServiceUnavailable)
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(answer_iq(Iq::empty_result(Jid::new("example.org").unwrap(), "r")).is_none());
    }
}
