//! One telnet connection: a session task reading lines into messages, and a writer task that
//! owns the connection's queue of replies: it writes what is queued in one go (up to 64 KiB)
//! within the write timeout, then acks each reply in order, or nacks them all. Either side
//! failing closes the connection; replies still queued are nacked with the reason.

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

/// The most bytes of replies one write gathers from a connection's queue.
const BATCH_BYTES: usize = 64 * 1024;
/// The buffer an idle connection keeps between writes; a bigger one is given back.
const KEEP_BYTES: usize = 4 * 1024;

/// Replies taken from the queue to go out in one write, and their bytes.
#[derive(Default)]
struct Batch {
    replies: Vec<Outgoing>,
    bytes: Vec<u8>,
}

impl Batch {
    fn push(&mut self, out: Outgoing) {
        self.bytes
            .extend_from_slice(out.msg.content().unwrap_or_default().as_bytes());
        self.bytes.push(b'\n');
        self.replies.push(out);
    }

    /// Whether a reply in it ends the session (it is the last one: gathering stops there).
    fn closes(&self) -> bool {
        self.replies.last().is_some_and(|out| out.close)
    }

    /// `first`, then whatever else is queued already, up to [`BATCH_BYTES`] or a reply that
    /// closes the session.
    fn gather(&mut self, first: Outgoing, queue: &mut mpsc::Receiver<Outgoing>) {
        self.replies.clear();
        self.bytes.clear();
        self.push(first);
        while !self.closes() && self.bytes.len() < BATCH_BYTES {
            match queue.try_recv() {
                Ok(out) => self.push(out),
                Err(_) => break,
            }
        }
    }
}

pub struct Writer {
    pub ctx: Context,
    pub peer: String,
    /// Not the connection's `Conn`: holding its sender would keep the queue open forever.
    pub closer: Closer,
    /// The time one write (of one reply, or of the replies gathered with it) may take.
    pub write_timeout: Duration,
}

impl Writer {
    /// Writes `bytes` in one go: `Err` with why not.
    async fn write(&self, write: &mut OwnedWriteHalf, bytes: &[u8]) -> Result<(), String> {
        match timeout(self.write_timeout, write.write_all(bytes)).await {
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

    /// Acks every reply of the batch (`Ok`), in order, or nacks them all with the reason; then
    /// empties it.
    async fn settle(&self, batch: &mut Batch, written: &Result<(), String>) {
        batch.bytes.clear();
        batch.bytes.shrink_to(KEEP_BYTES);
        for out in batch.replies.drain(..) {
            match written {
                Ok(()) => self.report(Event::ack(&out.msg, &out.msg.message_id)).await,
                Err(why) => self.report(Event::nack(&out.msg, why)).await,
            }
        }
    }

    /// Writes replies as they are queued, each write taking all that waits (see [`Batch`]),
    /// until the connection closes; then nacks what is still queued.
    pub async fn run(self, mut write: OwnedWriteHalf, mut queue: mpsc::Receiver<Outgoing>) {
        let mut closing = self.closer.closing();
        let mut batch = Batch::default();
        let reason = loop {
            let out = tokio::select! {
                out = queue.recv() => out,
                why = told_to_close(&mut closing) => break why,
            };
            let Some(out) = out else {
                break "the user has disconnected".to_owned();
            };
            batch.gather(out, &mut queue);
            let closes = batch.closes();
            let written = tokio::select! {
                r = self.write(&mut write, &batch.bytes) => r,
                why = told_to_close(&mut closing) => Err(why),
            };
            self.settle(&mut batch, &written).await;
            if let Err(why) = written {
                warn!("{why}");
                self.closer.close(&why);
                break why;
            }
            if closes {
                break "the session was closed by a reply".to_owned();
            }
        };
        let _ = write.shutdown().await;
        drop(write);
        self.nack_queued(queue, &reason).await;
        debug!("telnet writer for {} ends", self.peer);
    }

    /// Closes the queue and nacks every reply still in it.
    async fn nack_queued(&self, mut queue: mpsc::Receiver<Outgoing>, reason: &str) {
        queue.close();
        while let Some(out) = queue.recv().await {
            let why = format!(
                "telnet connection {} closed before the reply was written: {reason}",
                self.peer
            );
            self.report(Event::nack(&out.msg, &why)).await;
        }
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
