//! The client against small receivers written here, each misbehaving in its own way.

use super::*;
use std::sync::Mutex as StdMutex;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// What a receiver saw: connections, requests acted on (by their target), and the most
/// requests that arrived in one read.
#[derive(Default)]
struct Seen {
    connections: usize,
    acted_on: Vec<String>,
    most_in_one_read: usize,
}

/// How a test receiver answers the n-th request (from 0) of a connection: `None` closes the
/// connection without answering it.
type Answerer = fn(usize, &str) -> Option<String>;

fn ok(target: &str, extra: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n{extra}\r\n{target}",
        target.len()
    )
}

/// A receiver on a port of its own; its answers are written all at once per read.
async fn receiver(answer: Answerer) -> (String, Arc<StdMutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let seen: Arc<StdMutex<Seen>> = Arc::default();
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            shared.lock().unwrap().connections += 1;
            let seen = shared.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut n = 0;
                loop {
                    let mut chunk = [0u8; 64 * 1024];
                    let read = match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => read,
                    };
                    buf.extend_from_slice(&chunk[..read]);
                    let mut out = String::new();
                    let mut in_this_read = 0;
                    while let Some((target, used)) = take_request(&buf) {
                        buf.drain(..used);
                        in_this_read += 1;
                        let Some(answer) = answer(n, &target) else {
                            let _ = stream.write_all(out.as_bytes()).await;
                            return;
                        };
                        seen.lock().unwrap().acted_on.push(target);
                        out.push_str(&answer);
                        n += 1;
                    }
                    {
                        let mut s = seen.lock().unwrap();
                        s.most_in_one_read = s.most_in_one_read.max(in_this_read);
                    }
                    if stream.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                    if out.contains("connection: close") {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// (target, or the body of a POST; bytes used) of the first whole request in `buf`.
fn take_request(buf: &[u8]) -> Option<(String, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).expect("utf-8 head");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |n| n.trim().parse().expect("length"));
    if buf.len() < end + length {
        return None;
    }
    let target = head.split(' ').nth(1).expect("target").to_owned();
    let body = std::str::from_utf8(&buf[end..end + length]).expect("utf-8 body");
    Some((
        if head.starts_with("POST") {
            body.to_owned()
        } else {
            target
        },
        end + length,
    ))
}

fn url(addr: &str, path: &str) -> reqwest::Url {
    reqwest::Url::parse(&format!("http://{addr}{path}")).expect("url")
}

fn pool(addr: &str, connections: usize, depth: usize, timeout_ms: u64) -> Arc<Pool> {
    Arc::new(Pool::new(
        addr.to_owned(),
        connections,
        depth,
        1024,
        Duration::from_millis(timeout_ms),
    ))
}

/// Sends GETs of `/n` (or POSTs of `n`) for n in 0..count, all at once; each answer's body.
async fn send_all(pool: &Arc<Pool>, addr: &str, count: usize, get: bool) -> Vec<Result<String, String>> {
    let calls = (0..count).map(|n| {
        let pool = pool.clone();
        let text = n.to_string();
        let request = if get {
            prepare(true, &url(addr, &format!("/{n}")), &[], None)
        } else {
            prepare(false, &url(addr, "/in"), &[], Some(("text/plain", &text)))
        }
        .expect("prepare");
        tokio::spawn(async move {
            let answer = pool.send(&request).await.map_err(|(_, why)| why)?;
            Ok(String::from_utf8(answer.body).expect("utf-8"))
        })
    });
    let mut out = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        out.push(
            tokio::time::timeout(Duration::from_secs(10), call)
                .await
                .expect("in time")
                .expect("task"),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gets_share_few_connections_pipelined_and_each_gets_its_own_answer() {
    let (addr, seen) = receiver(|_, target| Some(ok(target, ""))).await;
    let pool = pool(&addr, 2, 16, 5000);
    let answers = send_all(&pool, &addr, 300, true).await;
    for (n, answer) in answers.into_iter().enumerate() {
        assert_eq!(answer, Ok(format!("/{n}")));
    }
    let seen = seen.lock().unwrap();
    assert!(seen.connections <= 2, "{} connections", seen.connections);
    assert_eq!(seen.acted_on.len(), 300);
    assert!(seen.most_in_one_read > 1, "requests were never pipelined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_in_the_middle_of_a_pipeline_sends_the_rest_again_and_nothing_twice() {
    // Every connection answers one request, with `Connection: close`, and drops the rest.
    let (addr, seen) = receiver(|n, target| (n == 0).then(|| ok(target, "connection: close\r\n"))).await;
    let pool = pool(&addr, 1, 16, 5000);
    let answers = send_all(&pool, &addr, 40, true).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    let mut acted_on = seen.lock().unwrap().acted_on.clone();
    acted_on.sort();
    acted_on.dedup();
    assert_eq!(acted_on.len(), 40, "each request acted on once");
    assert_eq!(seen.lock().unwrap().acted_on.len(), 40, "and none twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_go_one_at_a_time_on_their_connection() {
    let (addr, seen) = receiver(|_, body| Some(ok(body, ""))).await;
    let pool = pool(&addr, 1, 16, 5000);
    let answers = send_all(&pool, &addr, 50, false).await;
    for (n, answer) in answers.into_iter().enumerate() {
        assert_eq!(answer, Ok(n.to_string()));
    }
    assert_eq!(seen.lock().unwrap().most_in_one_read, 1, "a POST was pipelined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_closes_idle_connections_still_gets_every_get_once() {
    // Each connection answers one request (no `Connection: close`), then closes.
    let (addr, seen) = receiver(|n, target| (n == 0).then(|| ok(target, ""))).await;
    let pool = pool(&addr, 1, 16, 5000);
    for n in 0..10 {
        let request = prepare(true, &url(&addr, &format!("/{n}")), &[], None).expect("prepare");
        let answer = pool.send(&request).await.expect("answered");
        assert_eq!(answer.body, format!("/{n}").into_bytes());
    }
    assert_eq!(seen.lock().unwrap().acted_on.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_fails_the_attempt_at_its_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let pool = pool(&addr, 1, 16, 300);
    let request = prepare(true, &url(&addr, "/x"), &[], None).expect("prepare");
    let failed = tokio::time::timeout(Duration::from_secs(10), pool.send(&request))
        .await
        .expect("the attempt ends")
        .expect_err("no answer");
    assert!(failed.0, "worth retrying");
    assert!(failed.1.contains("no answer"), "{}", failed.1);
}

#[tokio::test]
async fn answers_over_the_limit_and_headers_that_would_split_the_request_are_refused() {
    let (addr, _) = receiver(|_, _| {
        Some(format!(
            "HTTP/1.1 200 OK\r\ncontent-length: 2000\r\n\r\n{}",
            "a".repeat(2000)
        ))
    })
    .await;
    let pool = pool(&addr, 1, 16, 5000);
    let request = prepare(true, &url(&addr, "/big"), &[], None).expect("prepare");
    let failed = pool.send(&request).await.expect_err("too large");
    assert!(failed.1.contains("max_reply_body (1024 bytes)"), "{}", failed.1);
    let split = prepare(
        true,
        &url(&addr, "/"),
        &[("authorization", "a\r\nx-evil: 1".to_owned())],
        None,
    );
    assert_eq!(
        split.err().as_deref(),
        Some("the authorization header's value holds a line break or NUL")
    );
}

#[test]
fn a_request_names_its_host_and_target_and_carries_its_body() {
    let u = reqwest::Url::parse("http://Example.net:8080/dlr?id=a%20b&t=1#frag").expect("url");
    let get = prepare(true, &u, &[("x-token", "t".to_owned())], None).expect("get");
    assert_eq!(
        String::from_utf8(get.bytes).unwrap(),
        "GET /dlr?id=a%20b&t=1 HTTP/1.1\r\nhost: example.net:8080\r\nx-token: t\r\n\r\n"
    );
    let post = prepare(false, &u, &[], Some(("application/json", "{}"))).expect("post");
    assert!(!post.pipelined);
    assert!(String::from_utf8(post.bytes)
        .unwrap()
        .ends_with("content-type: application/json\r\ncontent-length: 2\r\n\r\n{}"));
}
