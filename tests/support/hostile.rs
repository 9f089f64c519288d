//! Hostile peers for the abuse tests: a server that answers with an endless body, clients that
//! open connections and never finish a request, a telnet user who never reads.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An HTTP server that answers every request 200 with a body of `total` bytes, streamed with
/// no Content-Length (read to the end of the connection), and counts the bytes it got out.
pub fn huge_answer(total: u64) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || stream_body(stream, total, &counter));
        }
    });
    (url, sent)
}

fn stream_body(mut stream: TcpStream, total: u64, sent: &AtomicU64) {
    // The request is small: one read takes its head (and whatever of the body came with it).
    let mut head = [0u8; 16 * 1024];
    let _ = stream.read(&mut head);
    let start = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
    if stream.write_all(start.as_bytes()).is_err() {
        return;
    }
    let chunk = vec![b' '; 64 * 1024];
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        if stream.write_all(&chunk[..n]).is_err() {
            return;
        }
        sent.fetch_add(n as u64, Ordering::Relaxed);
        left -= n as u64;
    }
}

/// Up to `n` connections to `port`, each having sent the start of a request head and nothing
/// more; five connects in a row not answered within a second (a full listen backlog) end the
/// flood. Connections the server closes at once are kept all the same (they cost nothing).
pub fn trickling_connections(port: u16, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    let mut misses = 0;
    while held.len() < n && misses < 5 {
        match TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)) {
            Ok(mut s) => {
                misses = 0;
                let _ = s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\n");
                held.push(s);
            }
            Err(e) => {
                misses += 1;
                eprintln!("connection {} to port {port}: {e}", held.len() + 1);
            }
        }
    }
    held
}

/// What a plain request got: (status, Retry-After header), or `None` when it got no answer
/// (refused, reset, or nothing within `limit`).
pub fn try_post(url: &str, body: &str, limit: Duration) -> Option<(u16, Option<String>)> {
    let request = ureq::post(url).set("content-type", "application/json").timeout(limit);
    match request.send_string(body) {
        Ok(r) => Some((r.status(), r.header("retry-after").map(str::to_owned))),
        Err(ureq::Error::Status(code, r)) => Some((code, r.header("retry-after").map(str::to_owned))),
        Err(_) => None,
    }
}

/// A request with `method`: (status, Allow header).
pub fn request_with(method: &str, url: &str, authorization: Option<&str>, body: &str) -> (u16, Option<String>) {
    let mut request = ureq::request(method, url)
        .set("content-type", "application/json")
        .timeout(Duration::from_secs(15));
    if let Some(a) = authorization {
        request = request.set("authorization", a);
    }
    match request.send_string(body) {
        Ok(r) => (r.status(), r.header("allow").map(str::to_owned)),
        Err(ureq::Error::Status(code, r)) => (code, r.header("allow").map(str::to_owned)),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

/// A TCP connection to `port` whose receive buffer is as small as the kernel allows, so that a
/// peer writing to it soon finds it full; writes give up after ten seconds.
pub fn small_window_connection(port: u16) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        socket
            .connect(([127, 0, 0, 1], port).into())
            .await
            .expect("connect")
            .into_std()
            .expect("std stream")
    });
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .expect("write timeout");
    stream
}
