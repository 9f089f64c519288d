//! The stream to the XMPP server, kept up for as long as the transport runs: connect, log in,
//! serve the session (`conn`), and when it goes, connect again after a delay that doubles from
//! `reconnect_delay` to `reconnect_max_delay` (back to the first after a good login). Every
//! change is a status report (`logged_in`, `connect_failed`, `tls_failed`, `login_failed`,
//! `connection_lost`, `stopped`).
//!
//! Outbound messages wait in one queue that outlives a connection: what was queued and not yet
//! written when a stream went is sent on the next one, and a message that finds the stream down
//! waits for it up to `outbound_wait`, then is nacked with the reason.

use crate::config::Settings;
use crate::inbound::Inbound;
use crate::login::{self, LoginError};
use crate::wire::Tls;
use ruvuma_plugin_api::{Context, Event, Message, Status, StatusLevel};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_xmpp::parsers::message::Message as Chat;
use tracing::warn;

/// How often messages held while the stream is down are checked against `outbound_wait`.
const EXPIRY_CHECK: Duration = Duration::from_millis(200);

/// A message on its way to the server, with the stanza that carries it.
pub struct Out {
    pub chat: Chat,
    pub msg: Message,
    pub queued: Instant,
}

/// Messages taken from the queue and not yet written, oldest first.
pub type Held = VecDeque<Out>;

/// What the transport and the connection share.
pub struct Link {
    pub ctx: Context,
    pub settings: Arc<Settings>,
    pub tls: Option<Tls>,
    pub inbound: Inbound,
    tx: mpsc::Sender<Out>,
    rx: Mutex<Option<mpsc::Receiver<Out>>>,
    /// `Ok` while a session is bound; `Err` holds why the stream is down.
    pub up: watch::Sender<Result<(), String>>,
    pub stop: watch::Sender<bool>,
    pub draining: watch::Sender<bool>,
}

/// Waits until `rx` holds `true` (or its sender is gone).
pub async fn until_true(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

impl Link {
    pub fn new(ctx: Context, settings: Arc<Settings>, tls: Option<Tls>) -> Self {
        let (tx, rx) = mpsc::channel(settings.raw.queue);
        Self {
            inbound: Inbound::new(ctx.clone(), settings.clone()),
            ctx,
            settings,
            tls,
            tx,
            rx: Mutex::new(Some(rx)),
            up: watch::channel(Err("not logged in yet".to_owned())).0,
            stop: watch::channel(false).0,
            draining: watch::channel(false).0,
        }
    }

    /// Marks the stream up (`Ok`) or down with why (`Err`).
    pub fn set_up(&self, state: Result<(), String>) {
        let _previous = self.up.send_replace(state);
    }

    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Queues `out` for the writer once the stream is up (within `outbound_wait`), or says why
    /// it cannot go (its nack reason).
    pub async fn send(&self, out: Out) -> Result<(), String> {
        let wait = self.settings.outbound_wait;
        let mut up = self.up.subscribe();
        let ready = tokio::time::timeout(wait, up.wait_for(|s| s.is_ok())).await;
        if !matches!(ready, Ok(Ok(_))) {
            let why = self.up.borrow().clone().err().unwrap_or_default();
            return Err(format!(
                "the XMPP stream to {} was down for longer than outbound_wait ({wait:?}): {why}; the message was not sent",
                self.settings.address()
            ));
        }
        self.tx.try_send(out).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => format!(
                "{} messages already wait to be written to the XMPP server {} (it is not reading); the message was not sent",
                self.settings.raw.queue,
                self.settings.address()
            ),
            mpsc::error::TrySendError::Closed(_) => "the xmpp transport has stopped; the message was not sent".to_owned(),
        })
    }

    pub async fn nack(&self, msg: &Message, reason: &str) {
        if let Err(e) = self.ctx.publish_event(Event::nack(msg, reason)).await {
            warn!(message_id = %msg.message_id, "xmpp: nack not published: {e}");
        }
    }

    /// Nacks the held messages that have waited longer than `outbound_wait`.
    async fn expire(&self, held: &mut Held) {
        let wait = self.settings.outbound_wait;
        while held.front().is_some_and(|o| o.queued.elapsed() > wait) {
            if let Some(out) = held.pop_front() {
                let why = self.up.borrow().clone().err().unwrap_or_default();
                let reason = format!(
                    "the XMPP stream went down before the message was written and stayed down for longer than outbound_wait ({wait:?}): {why}"
                );
                self.nack(&out.msg, &reason).await;
            }
        }
    }

    /// Runs `fut` while checking the held messages, and those the queue held when the stream
    /// went, against `outbound_wait`.
    async fn while_down<T>(
        &self,
        held: &mut Held,
        rx: &mut mpsc::Receiver<Out>,
        fut: impl std::future::Future<Output = T>,
    ) -> T {
        tokio::pin!(fut);
        let mut ticks = tokio::time::interval(EXPIRY_CHECK);
        loop {
            tokio::select! {
                out = &mut fut => return out,
                _ = ticks.tick() => {
                    while let Ok(out) = rx.try_recv() {
                        held.push_back(out);
                    }
                    self.expire(held).await
                }
            }
        }
    }

    pub async fn status(&self, level: StatusLevel, kind: &str, message: String) {
        match level {
            StatusLevel::Ok => tracing::info!("{message}"),
            _ => tracing::warn!("{message}"),
        }
        let raw = &self.settings.raw;
        let status = Status::new("xmpp", level, kind, message)
            .detail("host", raw.host.as_str())
            .detail("port", raw.port)
            .detail("jid", self.settings.jid.to_string());
        if let Err(e) = self.ctx.publish_status(&status).await {
            warn!("status report not published: {e}");
        }
    }

    /// One attempt at a bound session, within `login_timeout`.
    async fn open(&self) -> Result<login::Session, LoginError> {
        let limit = self.settings.login_timeout;
        tokio::time::timeout(limit, login::open(&self.settings, self.tls.as_ref()))
            .await
            .unwrap_or(Err(LoginError::Timeout))
    }

    /// Runs until the transport stops: log in, serve, and log in again with backoff.
    pub async fn run(self: Arc<Self>) {
        let Some(mut rx) = self.rx.lock().ok().and_then(|mut r| r.take()) else {
            return;
        };
        let mut held = Held::new();
        let mut delay = self.settings.reconnect_delay;
        let mut stop = self.stop.subscribe();
        let address = self.settings.address();
        while !self.stopping() {
            let opened = tokio::select! {
                r = self.while_down(&mut held, &mut rx, self.open()) => r,
                _ = until_true(&mut stop) => break,
            };
            match opened {
                Ok(session) => {
                    delay = self.settings.reconnect_delay;
                    let who = format!("logged in to {address} as {}", session.jid);
                    self.status(StatusLevel::Ok, "logged_in", who).await;
                    let reason = self.serve(session, &mut rx, &mut held).await;
                    if self.stopping() {
                        let closed = format!("xmpp stream closed: {reason}");
                        self.status(StatusLevel::Down, "stopped", closed).await;
                        break;
                    }
                    let lost = format!("xmpp stream to {address} lost: {reason}");
                    self.status(StatusLevel::Down, "connection_lost", lost).await;
                }
                Err(e) => {
                    self.set_up(Err(e.to_string()));
                    let jid = &self.settings.jid;
                    let why = format!("xmpp login to {address} as {jid} failed: {e}");
                    self.status(StatusLevel::Down, e.kind(), why).await;
                }
            }
            tracing::info!("xmpp: connecting to {address} again in {delay:?}");
            tokio::select! {
                _ = self.while_down(&mut held, &mut rx, tokio::time::sleep(delay)) => {}
                _ = until_true(&mut stop) => break,
            }
            delay = (delay * 2).min(self.settings.reconnect_max_delay);
        }
        self.set_up(Err("the transport stopped".to_owned()));
        rx.close();
        while let Ok(out) = rx.try_recv() {
            held.push_back(out);
        }
        for out in held {
            self.nack(&out.msg, "the xmpp transport stopped before the message was written")
                .await;
        }
    }
}
