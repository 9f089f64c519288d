//! One telnet connection: a session task reading lines into messages, and a writer task that
//! owns the connection's queue of replies, writes each within the write timeout, and acks or
//! nacks it. Either side failing closes the connection; replies still queued are nacked with
//! the reason.

use crate::lines::LineReader;
use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::tokio::{
    self,
    io::{AsyncWriteExt, BufReader},
    net::tcp::{OwnedReadHalf, OwnedWriteHalf},
    sync::{mpsc, watch, OwnedSemaphorePermit},
    time::timeout,
};
use ruvuma_plugin_api::tracing::{debug, warn};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Outgoing {
    pub msg: Message,
    pub close: bool,
}

/// Closes a connection, once, with a reason: its writer stops and nacks what is queued, its
/// session ends.
#[derive(Clone)]
pub struct Closer(Arc<watch::Sender<Option<String>>>);

impl Closer {
    pub fn close(&self, why: &str) {
        self.0.send_if_modified(|reason| {
            let first = reason.is_none();
            if first {
                *reason = Some(why.to_owned());
            }
            first
        });
    }

    fn closing(&self) -> watch::Receiver<Option<String>> {
        self.0.subscribe()
    }
}

/// What the transport keeps of an open connection.
#[derive(Clone)]
pub struct Conn {
    pub replies: mpsc::Sender<Outgoing>,
    pub closer: Closer,
}

impl Conn {
    pub fn new(replies: mpsc::Sender<Outgoing>) -> Self {
        Self {
            replies,
            closer: Closer(Arc::new(watch::channel(None).0)),
        }
    }
}

/// Open connections by peer address (the users' `from_addr`).
pub type Connections = Arc<Mutex<HashMap<String, Conn>>>;

pub fn forget(connections: &Connections, peer: &str) -> bool {
    connections
        .lock()
        .map(|mut t| t.remove(peer).is_some())
        .unwrap_or(false)
}

/// Resolves with the reason once the connection is told to close.
async fn told_to_close(closing: &mut watch::Receiver<Option<String>>) -> String {
    match closing.wait_for(Option::is_some).await {
        Ok(reason) => reason.clone().unwrap_or_default(),
        Err(_) => "the connection closed".to_owned(),
    }
}

pub struct Writer {
    pub ctx: Context,
    pub peer: String,
    /// Not the connection's `Conn`: holding its sender would keep the queue open forever.
    pub closer: Closer,
    pub write_timeout: Duration,
}

impl Writer {
    /// Writes one reply: `Err` with why not.
    async fn write(&self, write: &mut OwnedWriteHalf, out: &Outgoing) -> Result<(), String> {
        let mut bytes = out.msg.content().unwrap_or_default().as_bytes().to_vec();
        bytes.push(b'\n');
        match timeout(self.write_timeout, write.write_all(&bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("writing to telnet connection {}: {e}", self.peer)),
            Err(_) => Err(format!(
                "telnet connection {} took over {} ms to take a reply (not reading); it is closed",
                self.peer,
                self.write_timeout.as_millis()
            )),
        }
    }

    async fn report(&self, event: Event) {
        if let Err(e) = self.ctx.publish_event(event).await {
            warn!("telnet {}: cannot publish an event: {e}", self.peer);
        }
    }

    pub async fn run(self, mut write: OwnedWriteHalf, mut queue: mpsc::Receiver<Outgoing>) {
        let mut closing = self.closer.closing();
        let reason = loop {
            let out = tokio::select! {
                out = queue.recv() => out,
                why = told_to_close(&mut closing) => break why,
            };
            let Some(out) = out else {
                break "the user has disconnected".to_owned();
            };
            let written = tokio::select! {
                r = self.write(&mut write, &out) => r,
                why = told_to_close(&mut closing) => Err(why),
            };
            match written {
                Ok(()) => {
                    self.report(Event::ack(&out.msg, &out.msg.message_id)).await;
                    if out.close {
                        break "the session was closed by a reply".to_owned();
                    }
                }
                Err(why) => {
                    self.report(Event::nack(&out.msg, &why)).await;
                    warn!("{why}");
                    self.closer.close(&why);
                    break why;
                }
            }
        };
        let _ = write.shutdown().await;
        drop(write);
        queue.close();
        while let Some(out) = queue.recv().await {
            let why = format!(
                "telnet connection {} closed before the reply was written: {reason}",
                self.peer
            );
            self.report(Event::nack(&out.msg, &why)).await;
        }
        debug!("telnet writer for {} ends", self.peer);
    }
}

pub struct Session {
    pub ctx: Context,
    pub connections: Connections,
    pub conn: Conn,
    pub from: String,
    pub to: String,
    pub draining: watch::Receiver<bool>,
    pub max_line: usize,
    pub permit: OwnedSemaphorePermit,
}

impl Session {
    fn message(&self, content: Option<&str>, event: SessionEvent) -> Message {
        Message::new(&self.from, &self.to, content, self.ctx.endpoint(), "telnet").with_session_event(event)
    }

    async fn publish(&self, content: Option<&str>, event: SessionEvent) -> bool {
        match self.ctx.publish_inbound(self.message(content, event)).await {
            Ok(()) => true,
            Err(e) => {
                warn!("telnet {}: cannot publish: {e}", self.from);
                false
            }
        }
    }

    pub async fn run(self, read: OwnedReadHalf) {
        if self.publish(None, SessionEvent::New).await {
            self.read_lines(read).await;
        }
        if *self.draining.borrow() {
            // Shutting down: no more input, but replies in flight still find the connection
            // (until the transport stops).
            return;
        }
        // Replies already queued are still written (a user may stop typing and keep reading);
        // the writer ends once they are.
        forget(&self.connections, &self.from);
        self.publish(None, SessionEvent::Close).await;
        drop(self.permit);
    }

    async fn read_lines(&self, read: OwnedReadHalf) {
        let mut lines = LineReader::new(BufReader::new(read), self.max_line);
        let mut draining = self.draining.clone();
        let mut closing = self.conn.closer.closing();
        loop {
            let line = tokio::select! {
                _ = draining.wait_for(|d| *d) => return,
                _ = told_to_close(&mut closing) => return,
                line = lines.next_line() => line,
            };
            match line {
                Ok(Some(text)) => {
                    if !self.publish(Some(&text), SessionEvent::Resume).await {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    debug!("telnet {}: read error: {e}", self.from);
                    return;
                }
            }
        }
    }
}
