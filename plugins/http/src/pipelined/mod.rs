//! A small HTTP/1.1 client for the messaging API's callbacks to plain-`http` receivers, where
//! one receiver may get tens of thousands of small requests a second: a few keep-alive
//! connections per receiver, and on each, GET requests pipelined (up to `depth` sent before
//! their answers come, answered in order, as RFC 9112 §9.3.2 allows for safe methods). Any
//! other method goes alone on its connection. A connection lives until an error, a
//! `Connection: close`, or [`IDLE`] without a request.
//!
//! Nothing is lost to a connection's end: a request the receiver cannot have acted on (still
//! unsent, or pipelined behind an answer that closed the connection) is sent again at once on
//! another connection; one that may have reached it fails its attempt, and the caller's retry
//! policy decides.

mod response;

use bytes::BytesMut;
use response::ReadError;
pub use response::Response;
use ruvuma_plugin_api::tokio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// A connection with nothing to do for this long is closed.
pub const IDLE: Duration = Duration::from_secs(20);
/// How many times a request is sent again after a connection closed before its answer began
/// (with no answer on that connection since it was sent), before the attempt fails. A request
/// sent again because an earlier answer closed its connection is not counted: that receiver
/// answers, one connection at a time.
const RESENDS: usize = 4;
/// The most bytes of requests written to a connection at once.
const WRITE_BATCH: usize = 64 * 1024;

/// A request ready to go: its bytes, and whether it may share its connection with others.
pub struct Prepared {
    bytes: Vec<u8>,
    pipelined: bool,
}

/// `GET` or `POST` (with its content type and body) of `url` with `headers`; an error names a
/// header whose value could end the request early (CR, LF or NUL in it).
pub fn prepare(
    get: bool,
    url: &reqwest::Url,
    headers: &[(&'static str, String)],
    body: Option<(&str, &str)>,
) -> Result<Prepared, String> {
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let host = &url[url::Position::BeforeHost..url::Position::AfterPort];
    let mut bytes = Vec::with_capacity(128 + target.len() + body.map_or(0, |(_, b)| b.len()));
    bytes.extend_from_slice(if get { b"GET " } else { b"POST " });
    bytes.extend_from_slice(target.as_bytes());
    bytes.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    bytes.extend_from_slice(host.as_bytes());
    bytes.extend_from_slice(b"\r\n");
    let mut header = |name: &str, value: &str| {
        if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(format!("the {name} header's value holds a line break or NUL"));
        }
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        Ok(())
    };
    for (name, value) in headers {
        header(name, value)?;
    }
    if let Some((content_type, body)) = body {
        header("content-type", content_type)?;
        header("content-length", &body.len().to_string())?;
    } else if !get {
        header("content-length", "0")?;
    }
    bytes.extend_from_slice(b"\r\n");
    if let Some((_, body)) = body {
        bytes.extend_from_slice(body.as_bytes());
    }
    Ok(Prepared { bytes, pipelined: get })
}

/// What became of one request.
enum Outcome {
    Answered(response::Response),
    /// The receiver may have had it: (worth retrying, why not answered).
    Failed(String),
    /// The receiver cannot have acted on it: send it again. `counted` when the connection ended
    /// with no answer since this was sent.
    NotSent {
        counted: bool,
    },
}

/// A request on its way: what the reader needs to hand its answer back.
struct Pending {
    reply: oneshot::Sender<Outcome>,
    /// A GET: sent again, not failed, when the connection closes before its answer begins (a
    /// receiver closing a connection it found idle, as our request crossed it).
    safe: bool,
    deadline: Instant,
    _room: OwnedSemaphorePermit,
}

struct Job {
    bytes: Vec<u8>,
    pending: Pending,
}

/// One connection: its writer takes jobs, its reader answers them in order.
#[derive(Clone)]
struct Line {
    jobs: mpsc::UnboundedSender<Job>,
    room: Arc<Semaphore>,
    dead: Arc<AtomicBool>,
}

/// The connections to one receiver (`host:port`).
pub struct Pool {
    addr: String,
    depth: usize,
    max_body: u64,
    timeout: Duration,
    slots: Vec<Mutex<Option<Line>>>,
    next: AtomicUsize,
}

impl Pool {
    /// Up to `connections` connections to `addr`, each with up to `depth` requests under way;
    /// answers of at most `max_body` bytes, each within `timeout` of its request.
    pub fn new(addr: String, connections: usize, depth: usize, max_body: u64, timeout: Duration) -> Self {
        Self {
            addr,
            depth: depth.max(1),
            max_body,
            timeout,
            slots: (0..connections.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Whether no connection of this pool is open.
    pub fn is_idle(&self) -> bool {
        self.slots.iter().all(|slot| match slot.try_lock() {
            Ok(line) => line.as_ref().is_none_or(|l| l.dead.load(Ordering::Relaxed)),
            Err(_) => false,
        })
    }

    /// Sends `request` and reads its answer: `Err((worth retrying, why))` when there is none.
    pub async fn send(&self, request: &Prepared) -> Result<Response, (bool, String)> {
        let deadline = Instant::now() + self.timeout;
        let no_answer = || (true, format!("no answer within {} ms", self.timeout.as_millis()));
        let mut resends = 0;
        while resends < RESENDS {
            let line = tokio::time::timeout_at(deadline, self.line())
                .await
                .map_err(|_| no_answer())??;
            let room = if request.pipelined { 1 } else { self.depth as u32 };
            let permit = tokio::time::timeout_at(deadline, line.room.clone().acquire_many_owned(room))
                .await
                .map_err(|_| no_answer())?
                .map_err(|_| (true, "the connection closed".to_owned()))?;
            let (reply, answer) = oneshot::channel();
            let job = Job {
                bytes: request.bytes.clone(),
                pending: Pending {
                    reply,
                    safe: request.pipelined,
                    deadline,
                    _room: permit,
                },
            };
            if line.dead.load(Ordering::Relaxed) || line.jobs.send(job).is_err() {
                continue;
            }
            match answer.await {
                Ok(Outcome::Answered(r)) => return Ok(r),
                Ok(Outcome::Failed(why)) => return Err((true, why)),
                Ok(Outcome::NotSent { counted: false }) => {}
                Ok(Outcome::NotSent { counted: true }) | Err(_) => resends += 1,
            }
        }
        Err((true, "the receiver closed every connection before answering".to_owned()))
    }

    /// A live connection, the next in turn (opened if it is not).
    async fn line(&self) -> Result<Line, (bool, String)> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        let mut held = slot.lock().await;
        if let Some(line) = held.as_ref().filter(|l| !l.dead.load(Ordering::Relaxed)) {
            return Ok(line.clone());
        }
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| (true, format!("cannot connect to {}: {e}", self.addr)))?;
        let _ = stream.set_nodelay(true);
        let line = self.open(stream);
        *held = Some(line.clone());
        Ok(line)
    }

    fn open(&self, stream: TcpStream) -> Line {
        let (read, write) = stream.into_split();
        let (jobs, job_rx) = mpsc::unbounded_channel();
        let (pending_tx, pending_rx) = mpsc::unbounded_channel();
        let dead = Arc::new(AtomicBool::new(false));
        tokio::spawn(write_loop(write, job_rx, pending_tx, dead.clone()));
        tokio::spawn(read_loop(read, pending_rx, self.max_body, dead.clone()));
        Line {
            jobs,
            room: Arc::new(Semaphore::new(self.depth)),
            dead,
        }
    }
}

/// Takes the jobs in order: each is handed to the reader before its bytes go out, and those
/// waiting together are written together.
async fn write_loop(
    mut io: OwnedWriteHalf,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    to_reader: mpsc::UnboundedSender<Pending>,
    dead: Arc<AtomicBool>,
) {
    let mut out = Vec::with_capacity(WRITE_BATCH);
    loop {
        let job = tokio::select! {
            biased;
            job = jobs.recv() => job,
            _ = tokio::time::sleep(IDLE) => None,
        };
        let Some(job) = job else { break };
        let mut next = Some(job);
        while let Some(job) = next.take() {
            if dead.load(Ordering::Relaxed) {
                let _ = job.pending.reply.send(Outcome::NotSent { counted: true });
            } else if let Err(refused) = to_reader.send(job.pending) {
                let _ = refused.0.reply.send(Outcome::NotSent { counted: true });
            } else {
                out.extend_from_slice(&job.bytes);
            }
            if out.len() < WRITE_BATCH {
                next = jobs.try_recv().ok();
            }
        }
        if !out.is_empty() && io.write_all(&out).await.is_err() {
            dead.store(true, Ordering::Relaxed);
        }
        out.clear();
    }
    // Idle, or nobody holds the line any more: what is still queued was never written.
    dead.store(true, Ordering::Relaxed);
    jobs.close();
    while let Ok(job) = jobs.try_recv() {
        let _ = job.pending.reply.send(Outcome::NotSent { counted: false });
    }
    drop(to_reader);
    let _ = io.shutdown().await;
}

/// Reads the answers in the order their requests went out, and ends the connection on any
/// error, a `Connection: close`, or a request unanswered past its deadline. Each request is
/// handed over before its bytes are written, so an answer never comes before its request.
async fn read_loop(
    mut io: OwnedReadHalf,
    mut pending: mpsc::UnboundedReceiver<Pending>,
    max_body: u64,
    dead: Arc<AtomicBool>,
) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    // What those still waiting behind the end become.
    let after_end = loop {
        let next = tokio::select! {
            biased;
            next = pending.recv() => next,
            _ = io.readable() => match io.try_read_buf(&mut buf) {
                // A request handed over after `recv` found none may have been answered (or
                // refused by a close) already: what was read is kept for its answer.
                Ok(n) => match pending.try_recv() {
                    Ok(this) => Some(this),
                    Err(_) if n == 0 => break Outcome::NotSent { counted: true },
                    Err(_) => break failed("the receiver sent what no request asked for"),
                },
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => break Outcome::Failed(format!("the connection broke: {e}")),
            },
        };
        let Some(this) = next else {
            break Outcome::NotSent { counted: true };
        };
        let read = tokio::time::timeout_at(this.deadline, response::read(&mut io, &mut buf, max_body)).await;
        match read {
            Ok(Ok(answer)) => {
                let close = answer.close;
                let _ = this.reply.send(Outcome::Answered(answer));
                if close {
                    break Outcome::NotSent { counted: false };
                }
            }
            Ok(Err(ReadError::ClosedBeforeAnswer)) if this.safe => {
                let _ = this.reply.send(Outcome::NotSent { counted: true });
                break Outcome::NotSent { counted: true };
            }
            Ok(Err(ReadError::ClosedBeforeAnswer)) => {
                let _ = this
                    .reply
                    .send(Outcome::Failed("the connection closed before the answer".to_owned()));
                break failed("the connection closed before the answer to an earlier request");
            }
            Ok(Err(ReadError::TooLarge)) => {
                let _ = this.reply.send(Outcome::Failed(format!(
                    "the answer is larger than max_reply_body ({max_body} bytes)"
                )));
                break failed("the connection closed after a too large answer to an earlier request");
            }
            Ok(Err(ReadError::Broken(why))) => {
                let _ = this.reply.send(Outcome::Failed(why));
                break failed("the connection broke before the answer");
            }
            Err(_) => {
                let _ = this.reply.send(Outcome::Failed("no answer in time".to_owned()));
                break failed("the connection closed: an earlier request had no answer in time");
            }
        }
    };
    dead.store(true, Ordering::Relaxed);
    pending.close();
    while let Ok(this) = pending.try_recv() {
        let _ = this.reply.send(match &after_end {
            Outcome::Failed(why) => Outcome::Failed(why.clone()),
            Outcome::NotSent { counted } => Outcome::NotSent { counted: *counted },
            Outcome::Answered(_) => Outcome::NotSent { counted: true },
        });
    }
}

fn failed(why: &str) -> Outcome {
    Outcome::Failed(why.to_owned())
}

#[cfg(test)]
mod tests;
