//! A person on XMPP, for the tests: a tokio-xmpp client logged in to a [`Prosody`] over plaintext
//! TCP as `user@localhost/<resource>`, run on a thread of its own and driven from blocking test
//! code. What it receives waits in queues until the test takes it.
//!
//! Like a person's client, each session fetches the roster before its initial presence, so the
//! server also sends it subscription approvals and roster pushes.
//!
//! The client reconnects by itself when the server goes away (after 0, 1, 2, 4… s, up to 30 s),
//! and sends its initial presence again on every new session; [`XmppUser::sessions`] counts them.

use crate::prosody::Prosody;
use futures::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio_xmpp::connect::{DnsConfig, TcpServerConnector};
use tokio_xmpp::minidom::{Element, IntoAttributeValue};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::jid::Jid;
use tokio_xmpp::parsers::message::{Id, Lang, Message, MessageType};
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::roster::Roster;
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use tokio_xmpp::stanzastream::{Event, StanzaStage, StanzaState, StanzaStream, StanzaToken, StreamEvent};
use tokio_xmpp::xmlstream::Timeouts;
use tokio_xmpp::Stanza;

/// How long the first login may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(20);
/// How long a clean logout may take before the connection is just dropped.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);
/// Stanzas the client library buffers each way (more wait in this client's own queue).
const QUEUE_DEPTH: usize = 256;
const STANZAS_NS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// A `<message/>` received: one with a body, or an error.
#[derive(Debug, Clone)]
pub struct Chat {
    /// The sender's JID as the server stamped it (a full JID for a user).
    pub from: String,
    /// The message's `type`: "chat", "normal", "error", ...
    pub kind: String,
    /// The body; empty for an error without one.
    pub body: String,
    pub id: Option<String>,
    pub thread: Option<String>,
    /// For `type="error"`: the condition, e.g. "service-unavailable".
    pub error: Option<String>,
}

/// A `<presence/>` received.
#[derive(Debug, Clone)]
pub struct PresenceSeen {
    pub from: String,
    /// "available", "unavailable", "subscribe", "subscribed", "unsubscribe", "unsubscribed",
    /// "probe" or "error".
    pub kind: String,
}

enum Command {
    Send(Box<Stanza>),
    /// Answers once everything queued before it has been written to the socket (false: failed).
    Flush(Sender<bool>),
    Close,
}

#[derive(Default)]
struct State {
    online: bool,
    bound: Option<String>,
    sessions: u64,
    received: u64,
}

/// What the client thread tells the test thread.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state.lock().expect("xmpp user state"));
        self.changed.notify_all();
    }

    /// Waits until `done` holds; false if it does not within `limit`.
    fn wait(&self, limit: Duration, done: impl Fn(&State) -> bool) -> bool {
        let guard = self.state.lock().expect("xmpp user state");
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, limit, |s| !done(s))
            .expect("xmpp user state");
        done(&guard)
    }
}

/// One logged-in XMPP user; logs out when dropped.
pub struct XmppUser {
    requested: String,
    commands: UnboundedSender<Command>,
    chats: Receiver<Chat>,
    presences: Receiver<PresenceSeen>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    thread: Option<JoinHandle<()>>,
}

impl XmppUser {
    /// Logs in as `user@<domain>/phone` and waits until the session is bound and the initial
    /// presence (priority 0, so offline messages come) is sent; panics if not within 20 s.
    pub fn connect(server: &Prosody, user: &str, password: &str) -> XmppUser {
        Self::connect_as(server, user, password, "phone")
    }

    /// [`XmppUser::connect`] with another resource.
    pub fn connect_as(server: &Prosody, user: &str, password: &str, resource: &str) -> XmppUser {
        let requested = format!("{user}@{}/{resource}", server.domain);
        let jid = parse_jid(&requested);
        let addr = format!("127.0.0.1:{}", server.port);
        let (commands, command_rx) = unbounded_channel();
        let (chat_tx, chats) = channel();
        let (presence_tx, presences) = channel();
        let shared = Arc::new(Shared::default());
        let sink = Sink {
            chats: chat_tx,
            presences: presence_tx,
            shared: shared.clone(),
        };
        let password = password.to_owned();
        let thread = std::thread::Builder::new()
            .name(format!("xmpp-{user}"))
            .spawn(move || run(jid, password, addr, command_rx, sink))
            .expect("spawn the xmpp user thread");
        let me = XmppUser {
            requested,
            commands,
            chats,
            presences,
            shared,
            next_id: AtomicU64::new(1),
            thread: Some(thread),
        };
        assert!(
            me.wait_online(CONNECT_LIMIT),
            "{} was not online within {CONNECT_LIMIT:?} (wrong password? server down?); prosody log:\n{}",
            me.requested,
            server.log()
        );
        me
    }

    /// The full JID the server bound (the requested one until the first session).
    pub fn jid(&self) -> String {
        let state = self.shared.state.lock().expect("xmpp user state");
        state.bound.clone().unwrap_or_else(|| self.requested.clone())
    }

    /// Waits until a session is up and its initial presence sent (`Duration::ZERO`: is it now?).
    pub fn wait_online(&self, limit: Duration) -> bool {
        self.shared.wait(limit, |s| s.online)
    }

    /// How many sessions the client has had (each login or reconnect adds one).
    pub fn sessions(&self) -> u64 {
        self.shared.state.lock().expect("xmpp user state").sessions
    }

    /// Waits until the `n`th session (counting from 1) is up: after a server restart, wait for
    /// `sessions() + 1` taken before it.
    pub fn wait_session(&self, n: u64, limit: Duration) -> bool {
        self.shared.wait(limit, |s| s.online && s.sessions >= n)
    }

    /// Queues any stanza (built with `tokio_xmpp::parsers`).
    pub fn send_stanza(&self, stanza: impl Into<Stanza>) {
        self.commands
            .send(Command::Send(Box::new(stanza.into())))
            .expect("the xmpp user thread is gone");
    }

    fn chat(&self, to: &str, body: String) -> (Message, String) {
        let to = parse_jid(to);
        let id = format!("m{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut message = Message::chat(Some(to)).with_body(Lang::new(), body);
        message.id = Some(Id(id.clone()));
        (message, id)
    }

    /// Queues a `type="chat"` message; returns its id.
    pub fn send_chat(&self, to: &str, body: &str) -> String {
        let (message, id) = self.chat(to, body.to_owned());
        self.send_stanza(message);
        id
    }

    /// Queues one chat per body without waiting for any to be written; none is dropped (see
    /// [`XmppUser::flush`]). Returns how many were queued.
    pub fn send_many(&self, to: &str, bodies: impl IntoIterator<Item = String>) -> usize {
        bodies.into_iter().map(|b| self.send_stanza(self.chat(to, b).0)).count()
    }

    /// Waits until everything queued so far has been written to the server; false if that does
    /// not happen within `limit` or a stanza failed.
    pub fn flush(&self, limit: Duration) -> bool {
        let (tx, rx) = channel();
        self.commands.send(Command::Flush(tx)).is_ok() && rx.recv_timeout(limit).unwrap_or(false)
    }

    /// The next message with a body (or error) received, if one comes within `limit`.
    pub fn next_chat(&self, limit: Duration) -> Option<Chat> {
        self.chats.recv_timeout(limit).ok()
    }

    /// How many messages [`XmppUser::next_chat`] has been given so far (taken or not).
    pub fn received_count(&self) -> u64 {
        self.shared.state.lock().expect("xmpp user state").received
    }

    /// Waits until at least `n` messages have been received in all.
    pub fn wait_received(&self, n: u64, limit: Duration) -> bool {
        self.shared.wait(limit, |s| s.received >= n)
    }

    /// Sends `<presence type="kind" to="to"/>` ("subscribe", "subscribed", "unsubscribe", ...;
    /// "available" sends one without a type).
    pub fn send_presence(&self, to: &str, kind: &str) {
        let to = parse_jid(to);
        let (_, kind) = PRESENCE_KINDS
            .iter()
            .find(|(name, _)| *name == kind)
            .unwrap_or_else(|| panic!("unknown presence type {kind:?}"));
        self.send_stanza(Presence::new(kind.clone()).with_to(to));
    }

    /// The next presence received, if one comes within `limit`.
    pub fn next_presence(&self, limit: Duration) -> Option<PresenceSeen> {
        self.presences.recv_timeout(limit).ok()
    }

    /// The next presence of the given kind, skipping others, if one comes within `limit`.
    pub fn wait_presence(&self, kind: &str, limit: Duration) -> Option<PresenceSeen> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let seen = self.next_presence(left)?;
            if seen.kind == kind {
                return Some(seen);
            }
        }
    }

    /// Logs out (after writing what is queued) and waits for the client thread to end.
    pub fn disconnect(self) {
        drop(self);
    }
}

impl Drop for XmppUser {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Close);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn parse_jid(jid: &str) -> Jid {
    Jid::new(jid).unwrap_or_else(|e| panic!("bad JID {jid}: {e}"))
}

/// Presence types by the names [`PresenceSeen::kind`] uses.
const PRESENCE_KINDS: [(&str, PresenceType); 8] = [
    ("available", PresenceType::None),
    ("unavailable", PresenceType::Unavailable),
    ("subscribe", PresenceType::Subscribe),
    ("subscribed", PresenceType::Subscribed),
    ("unsubscribe", PresenceType::Unsubscribe),
    ("unsubscribed", PresenceType::Unsubscribed),
    ("probe", PresenceType::Probe),
    ("error", PresenceType::Error),
];

fn presence_kind(kind: &PresenceType) -> &'static str {
    PRESENCE_KINDS
        .iter()
        .find(|(_, t)| t == kind)
        .map_or("unknown", |p| p.0)
}

/// The defined condition inside a stanza's `<error/>` child.
fn error_condition(payloads: &[Element]) -> Option<String> {
    let error = payloads.iter().find(|p| p.name() == "error")?;
    let condition = error.children().find(|c| c.ns() == STANZAS_NS && c.name() != "text")?;
    Some(condition.name().to_owned())
}

/// The client thread: a single-threaded tokio runtime driving the stream.
fn run(jid: Jid, password: String, addr: String, commands: UnboundedReceiver<Command>, sink: Sink) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime for the xmpp user");
    runtime.block_on(async move {
        let connector = TcpServerConnector::from(DnsConfig::addr(&addr));
        let stream = StanzaStream::new_c2s(connector, jid, password, Timeouts::tight(), QUEUE_DEPTH);
        drive(stream, commands, &sink).await;
        sink.shared.update(|s| s.online = false);
    });
}

/// Feeds the test's commands to the stream and the stream's events to the test until told to
/// close.
async fn drive(mut stream: StanzaStream, mut commands: UnboundedReceiver<Command>, sink: &Sink) {
    let mut last: Option<StanzaToken> = None;
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Send(stanza)) => last = Some(stream.send(stanza).await),
                Some(Command::Flush(reply)) => {
                    let token = last.clone();
                    tokio::spawn(async move {
                        let state = match token {
                            Some(mut t) => t.wait_for(StanzaStage::Sent).await,
                            None => Some(StanzaState::Sent {}),
                        };
                        let _ = reply.send(matches!(state, Some(StanzaState::Sent { .. } | StanzaState::Acked { .. })));
                    });
                }
                Some(Command::Close) | None => break,
            },
            event = stream.next() => match event {
                Some(event) => sink.handle(event, &stream).await,
                None => break,
            },
        }
    }
    let _ = tokio::time::timeout(CLOSE_LIMIT, stream.close()).await;
}

/// Where received things go.
struct Sink {
    chats: Sender<Chat>,
    presences: Sender<PresenceSeen>,
    shared: Arc<Shared>,
}

impl Sink {
    async fn handle(&self, event: Event, stream: &StanzaStream) {
        match event {
            Event::Stream(StreamEvent::Reset { bound_jid, .. }) => {
                let roster = Roster {
                    ver: None,
                    items: vec![],
                };
                stream.send(Box::new(Iq::from_get("roster", roster).into())).await;
                let mut token = stream.send(Box::new(Presence::available().into())).await;
                token.wait_for(StanzaStage::Sent).await;
                self.shared.update(|s| {
                    s.online = true;
                    s.bound = Some(bound_jid.to_string());
                    s.sessions += 1;
                });
            }
            Event::Stream(StreamEvent::Suspended) => self.shared.update(|s| s.online = false),
            Event::Stream(StreamEvent::Resumed) => self.shared.update(|s| s.online = true),
            Event::Stanza(Stanza::Message(message)) => self.message(message),
            Event::Stanza(Stanza::Presence(presence)) => {
                let _ = self.presences.send(PresenceSeen {
                    from: presence.from.map(|j| j.to_string()).unwrap_or_default(),
                    kind: presence_kind(&presence.type_).to_owned(),
                });
            }
            Event::Stanza(Stanza::Iq(iq)) => {
                if let Some(reply) = answer(iq) {
                    stream.send(Box::new(reply.into())).await;
                }
            }
        }
    }

    fn message(&self, message: Message) {
        let body = message.get_best_body_cloned(vec![]).map(|(_, b)| b);
        let error = (message.type_ == MessageType::Error).then(|| error_condition(&message.payloads));
        if body.is_none() && error.is_none() {
            return;
        }
        let chat = Chat {
            from: message.from.map(|j| j.to_string()).unwrap_or_default(),
            kind: message
                .type_
                .clone()
                .into_attribute_value()
                .unwrap_or_else(|| "normal".into()),
            body: body.unwrap_or_default(),
            id: message.id.map(|i| i.0),
            thread: message.thread.map(|t| t.id),
            error: error.map(|e| e.unwrap_or_else(|| "undefined-condition".into())),
        };
        let _ = self.chats.send(chat);
        self.shared.update(|s| s.received += 1);
    }
}

/// The answer to a request from the server: pings and roster pushes are acknowledged, anything
/// else is refused.
fn answer(iq: Iq) -> Option<Iq> {
    let (Iq::Get { from, id, payload, .. } | Iq::Set { from, id, payload, .. }) = iq else {
        return None;
    };
    let mut reply = if payload.is("ping", "urn:xmpp:ping") || payload.is("query", "jabber:iq:roster") {
        Iq::from_result(id, None::<Roster>)
    } else {
        let error = StanzaError::new(
            ErrorType::Cancel,
            DefinedCondition::ServiceUnavailable,
            "en",
            "not handled",
        );
        Iq::from_error(id, error)
    };
    *reply.to_mut() = from;
    Some(reply)
}
