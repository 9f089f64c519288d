//! One bound session: the presence first, then one loop that reads the server's stanzas (handed
//! to `inbound`), writes the queued messages (several per write when they pile up), pings the
//! server every `ping_interval` and sends the presence again every `presence_interval`. A
//! message is acked once the write that carries it is flushed to the stream; one being written
//! when the stream goes is nacked with the reason (it may have reached the server), and the
//! queued ones wait for the next stream. The stream is dropped when the server ends it, when a
//! write takes longer than `write_timeout`, and when a ping goes unanswered for `ping_timeout`.

use crate::link::{until_true, Held, Link, Out};
use crate::login::{Session, Stream};
use futures_util::{SinkExt, StreamExt};
use ruvuma_plugin_api::tally::Tally;
use ruvuma_plugin_api::{Event, Message};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval};
use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::ping::Ping;
use tokio_xmpp::parsers::presence::{Presence, Show, Type as PresenceType};
use tokio_xmpp::parsers::roster::Roster;
use tokio_xmpp::xmlstream::{FallibleStreamElement, ReadError, XmppStreamElement};
use tokio_xmpp::Stanza;
use tracing::{debug, warn};

/// Most messages put into one write.
const BATCH: usize = 256;

/// The keepalive in flight: the id of the ping and when it was sent.
struct Pending {
    id: String,
    sent: Instant,
}

fn ticker(period: Duration) -> Interval {
    let mut t = tokio::time::interval_at(Instant::now() + period, period);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}

/// The presence the config asks for: `show`, `status_message` and `priority`.
fn presence(link: &Link) -> Presence {
    let raw = &link.settings.raw;
    let mut p = Presence::available();
    p.show = match raw.status.as_str() {
        "chat" => Some(Show::Chat),
        "away" => Some(Show::Away),
        "xa" => Some(Show::Xa),
        "dnd" => Some(Show::Dnd),
        _ => None,
    };
    if !raw.status_message.is_empty() {
        p.set_status("", raw.status_message.as_str());
    }
    p.priority = tokio_xmpp::parsers::presence::Priority(raw.priority);
    p
}

/// Logs an element from the server that could not be read, at most once per 10 s.
fn skip(skipped: &mut Tally, e: &dyn std::fmt::Display) {
    if let Some(n) = skipped.note() {
        warn!("xmpp: an element from the server skipped: {e} ({n} since the last report)");
    }
}

impl Link {
    /// Writes `items` and flushes them, within `write_timeout`.
    async fn write(&self, stream: &mut Stream, items: &[XmppStreamElement]) -> Result<(), String> {
        let limit = self.settings.write_timeout;
        let all = async {
            for item in items {
                if self.settings.raw.debug {
                    debug!("xmpp out: {item:?}");
                }
                stream.feed(item).await?;
            }
            SinkExt::<&XmppStreamElement>::flush(stream).await
        };
        match tokio::time::timeout(limit, all).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("writing to the server failed: {e}")),
            Err(_) => Err(format!(
                "a write to the server took longer than {limit:?} (it is not reading)"
            )),
        }
    }

    async fn send_stanzas(&self, stream: &mut Stream, stanzas: Vec<Stanza>) -> Result<(), String> {
        let items: Vec<XmppStreamElement> = stanzas.into_iter().map(XmppStreamElement::Stanza).collect();
        self.write(stream, &items).await
    }

    /// Acks written messages on a task of their own, so that no ack is lost when the session's
    /// futures are dropped.
    fn ack_all(&self, msgs: Vec<Message>) {
        let ctx = self.ctx.clone();
        self.ctx.spawn(async move {
            for msg in msgs {
                if let Err(e) = ctx.publish_event(Event::ack(&msg, &msg.message_id)).await {
                    warn!(message_id = %msg.message_id, "xmpp: ack not published: {e}");
                }
            }
        });
    }

    /// Writes `batch` (the held messages first, then the queue's), acks it, or nacks it with
    /// the reason the stream went.
    async fn write_batch(&self, stream: &mut Stream, batch: Vec<Out>) -> Result<(), String> {
        let items: Vec<XmppStreamElement> = batch
            .iter()
            .map(|o| XmppStreamElement::Stanza(Stanza::Message(o.chat.clone())))
            .collect();
        match self.write(stream, &items).await {
            Ok(()) => {
                self.ack_all(batch.into_iter().map(|o| o.msg).collect());
                Ok(())
            }
            Err(e) => {
                let reason = format!("the XMPP stream went down while the message was being written (it may have reached the server): {e}");
                for out in batch {
                    self.nack(&out.msg, &reason).await;
                }
                Err(e)
            }
        }
    }

    /// Serves a bound session until it ends; returns why it ended.
    pub(crate) async fn serve(&self, session: Session, rx: &mut mpsc::Receiver<Out>, held: &mut Held) -> String {
        let Session { mut stream, jid } = session;
        // The roster first: a server hands subscription requests only to sessions that asked
        // for it (as Vumi's transport did at once). Its answer is skipped like any iq result.
        let roster = Iq::from_get(
            "ruvuma-roster",
            Roster {
                ver: None,
                items: Vec::new(),
            },
        );
        let first = vec![Stanza::Iq(roster), Stanza::Presence(presence(self))];
        if let Err(e) = self.send_stanzas(&mut stream, first).await {
            return e;
        }
        self.set_up(Ok(()));
        let reason = self.session_loop(&mut stream, rx, held, jid.domain().to_string()).await;
        self.set_up(Err(reason.clone()));
        if self.stopping() {
            self.close(&mut stream, rx, held).await;
        }
        reason
    }

    /// At stop: what is queued goes out, then the stream's end.
    async fn close(&self, stream: &mut Stream, rx: &mut mpsc::Receiver<Out>, held: &mut Held) {
        while let Ok(out) = rx.try_recv() {
            held.push_back(out);
        }
        while !held.is_empty() {
            let batch: Vec<Out> = held.drain(..held.len().min(BATCH)).collect();
            if self.write_batch(stream, batch).await.is_err() {
                return;
            }
        }
        let limit = self.settings.write_timeout;
        let _ = tokio::time::timeout(limit, stream.shutdown()).await;
    }

    /// The held messages, then the first of the queue and what else waits there, up to `BATCH`.
    fn next_batch(held: &mut Held, first: Option<Out>, rx: &mut mpsc::Receiver<Out>) -> Vec<Out> {
        let mut batch: Vec<Out> = held.drain(..held.len().min(BATCH)).collect();
        batch.extend(first);
        while batch.len() < BATCH {
            let Ok(next) = rx.try_recv() else { break };
            batch.push(next);
        }
        batch
    }

    async fn session_loop(
        &self,
        stream: &mut Stream,
        rx: &mut mpsc::Receiver<Out>,
        held: &mut Held,
        domain: String,
    ) -> String {
        let s = &self.settings;
        let mut pings = ticker(s.ping_interval);
        let mut presences = ticker(s.presence_interval.unwrap_or(Duration::from_secs(86_400 * 365)));
        let mut pending: Option<Pending> = None;
        let mut sequence = 0u64;
        let mut stop = self.stop.subscribe();
        let mut draining = self.draining.subscribe();
        let mut skipped = Tally::new(Duration::from_secs(10));
        loop {
            if !held.is_empty() {
                let batch = Self::next_batch(held, None, rx);
                if let Err(e) = self.write_batch(stream, batch).await {
                    return e;
                }
            }
            let deadline = pending.as_ref().map(|p| p.sent + s.ping_timeout);
            let result = tokio::select! {
                got = stream.next() => {
                    stream.get_stream().get_ref().reset();
                    self.read(stream, got, &mut pending, &mut skipped).await
                }
                first = rx.recv() => match first {
                    Some(first) => {
                        let batch = Self::next_batch(held, Some(first), rx);
                        self.write_batch(stream, batch).await
                    }
                    None => Err("the outbound queue closed".to_owned()),
                },
                _ = pings.tick(), if pending.is_none() => {
                    sequence += 1;
                    let id = format!("ruvuma-ping-{sequence}");
                    let to = Jid::new(&domain).ok();
                    let mut ping = Iq::from_get(id.clone(), Ping);
                    *ping.to_mut() = to;
                    pending = Some(Pending { id, sent: Instant::now() });
                    self.send_stanzas(stream, vec![Stanza::Iq(ping)]).await
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    Err(format!("the server did not answer a ping within ping_timeout ({:?})", s.ping_timeout))
                }
                _ = presences.tick() => self.send_stanzas(stream, vec![Stanza::Presence(presence(self))]).await,
                _ = until_true(&mut draining), if !*draining.borrow() => {
                    // Draining: the server keeps new chats for the next session (offline storage).
                    let away = Presence::new(PresenceType::Unavailable);
                    self.send_stanzas(stream, vec![Stanza::Presence(away)]).await
                }
                _ = until_true(&mut stop) => Err("the transport stopped".to_owned()),
            };
            if let Err(reason) = result {
                return reason;
            }
        }
    }

    /// Acts on what the server sent; `Err(reason)` ends the session.
    async fn read(
        &self,
        stream: &mut Stream,
        got: Option<Result<FallibleStreamElement, ReadError>>,
        pending: &mut Option<Pending>,
        skipped: &mut Tally,
    ) -> Result<(), String> {
        let element = match got {
            None => return Err("the server closed the connection".to_owned()),
            Some(Err(ReadError::SoftTimeout)) => return Ok(()),
            Some(Err(ReadError::StreamFooterReceived)) => return Err("the server closed the stream".to_owned()),
            Some(Err(ReadError::HardError(e))) => return Err(format!("reading from the server failed: {e}")),
            Some(Err(ReadError::ParseError(e))) => {
                skip(skipped, &e);
                return Ok(());
            }
            Some(Ok(FallibleStreamElement::Err(e))) => {
                skip(skipped, &e);
                return Ok(());
            }
            Some(Ok(FallibleStreamElement::Ok(element))) => element,
        };
        if self.settings.raw.debug {
            debug!("xmpp in: {element:?}");
        }
        let stanza = match element {
            XmppStreamElement::Stanza(stanza) => stanza,
            XmppStreamElement::StreamError(e) => return Err(format!("the server ended the stream: {e}")),
            other => {
                debug!("xmpp: {other:?} skipped");
                return Ok(());
            }
        };
        if let Stanza::Iq(Iq::Result { id, .. } | Iq::Error { id, .. }) = &stanza {
            if pending.as_ref().is_some_and(|p| &p.id == id) {
                // Answered, with a result or an error (a server without XEP-0199): alive.
                *pending = None;
                return Ok(());
            }
        }
        let mut answers = Vec::new();
        self.inbound.stanza(stanza, &mut answers).await;
        if answers.is_empty() {
            return Ok(());
        }
        self.send_stanzas(stream, answers).await
    }
}
