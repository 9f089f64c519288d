//! The HTTP sink the MO and delivery-report parts deliver to: a small HTTP/1.1 server on a
//! runtime of its own that answers 200 and counts the messages it gets, each by its id.

use super::SETTLE;
use bytes::{Buf, BytesMut};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SINK_THREADS: usize = 2;

#[derive(Default)]
pub struct Tally {
    pub requests: u64,
    pub ids: HashSet<String>,
    pub without_id: u64,
    /// When the POST that made the count reach the target came.
    reached: Option<Instant>,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

impl Tally {
    fn record(&mut self, message_id: Option<String>, target: u64) {
        let now = Instant::now();
        self.requests += 1;
        match message_id {
            Some(id) => {
                self.ids.insert(id);
            }
            None => self.without_id += 1,
        }
        if self.requests == target {
            self.reached = Some(now);
        }
        self.first.get_or_insert(now);
        self.last = Some(now);
    }
}

/// A small HTTP/1.1 server on a runtime of its own that answers every request 200 with an empty
/// body (so that `http_relay` and Kannel send no reply) and counts the messages delivered to it
/// and their ids ([`Request::message_id`]). Request bodies must come with a Content-Length.
pub struct Sink {
    pub url: String,
    pub tally: Arc<Mutex<Tally>>,
    rt: tokio::runtime::Runtime,
}

impl Sink {
    pub fn start(target: u64) -> Sink {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(SINK_THREADS)
            .thread_name("http-sink")
            .enable_all()
            .build()
            .expect("sink runtime");
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("sink listen");
        let url = format!("http://{}", listener.local_addr().expect("sink address"));
        let tally: Arc<Mutex<Tally>> = Arc::default();
        rt.spawn(sink_accept(listener, tally.clone(), target));
        Sink { url, tally, rt }
    }

    /// When the target count was reached, waiting at most `limit`.
    pub fn wait_for_target(&self, limit: Duration) -> Option<Instant> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(at) = self.tally.lock().expect("tally").reached {
                return Some(at);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits until no request has come for [`SETTLE`], so that late duplicates are counted.
    pub fn settle(&self) {
        loop {
            let last = self.tally.lock().expect("tally").last;
            match last {
                Some(at) if at.elapsed() < SETTLE => std::thread::sleep(Duration::from_millis(50)),
                _ => return,
            }
        }
    }

    pub fn stop(self) -> Tally {
        self.rt.shutdown_background();
        std::mem::take(&mut *self.tally.lock().expect("tally"))
    }
}

async fn sink_accept(listener: TcpListener, tally: Arc<Mutex<Tally>>, target: u64) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(sink_connection(stream, tally.clone(), target));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Answers the requests on one connection, in order, all those read at once in one write.
async fn sink_connection(mut stream: TcpStream, tally: Arc<Mutex<Tally>>, target: u64) {
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
    let mut inbox = BytesMut::with_capacity(16 * 1024);
    let mut answers = Vec::new();
    loop {
        while let Some(request) = take_request(&mut inbox) {
            if let Some(id) = request.message_id() {
                tally.lock().expect("tally").record(id, target);
            }
            answers.extend_from_slice(OK);
        }
        if !answers.is_empty() {
            if stream.write_all(&answers).await.is_err() {
                return;
            }
            answers.clear();
        }
        match stream.read_buf(&mut inbox).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// One request the sink read.
struct Request {
    method: String,
    target: String,
    body: BytesMut,
}

impl Request {
    /// For a delivered message (a POST of Vumi JSON as `http_relay` sends it, or a GET of `/mo`
    /// or `/dlr` with `id=` in the query as Kannel's get-url and dlr-url send it): `Some` with the message's id, if any.
    fn message_id(&self) -> Option<Option<String>> {
        match self.method.as_str() {
            "POST" => Some(
                serde_json::from_slice::<serde_json::Value>(&self.body)
                    .ok()
                    .and_then(|v| v.get("message_id")?.as_str().map(str::to_owned)),
            ),
            "GET" if self.target.starts_with("/mo?") || self.target.starts_with("/dlr?") => Some(
                self.target
                    .split_once('?')
                    .and_then(|(_, query)| query.split('&').find_map(|kv| kv.strip_prefix("id=")))
                    .map(str::to_owned),
            ),
            _ => None,
        }
    }
}

/// Takes one whole request (head and Content-Length body) off the front of `inbox`.
fn take_request(inbox: &mut BytesMut) -> Option<Request> {
    let head_end = inbox.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&inbox[..head_end]);
    let mut first = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (
        first.next().unwrap_or("").to_owned(),
        first.next().unwrap_or("").to_owned(),
    );
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if inbox.len() < head_end + length {
        return None;
    }
    inbox.advance(head_end);
    Some(Request {
        method,
        target,
        body: inbox.split_to(length),
    })
}
