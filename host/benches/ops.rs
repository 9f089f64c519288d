//! The operations side's cost, in process:
//!
//! * round trips (the `loadgen` transport → `simple` router → `echo`, as in `roundtrip`) with
//!   the admin server, a `/metrics` scrape every second and a webhook observer of every event
//!   (POSTing to a receiver run here), side by side with the same topology without them; runs
//!   alternate, each in a child process of its own. The per-component counters are always on,
//!   so both sides pay for them.
//! * `/metrics` of a topology of 50 components (a transport, 48 applications, a dispatcher):
//!   the time to answer, over 200 requests.
//!
//! `cargo bench -p ruvuma --bench ops` (env: BENCH_MESSAGES, BENCH_WINDOW, BENCH_RUNS; defaults
//! 200000, 1000, 9).

mod common;

use common::*;
use ruvuma::app::{Host, Prepared};
use ruvuma::{compile::compile, config, plugins::Catalogue};
use ruvuma_plugin_api::abi::LogLevel;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

fn topology(messages: u64, window: u64) -> String {
    format!(
        "{}applications:\n  echo:\n    plugin: echo\n    endpoint: echo_app\n\
         dispatchers:\n  main:\n    router_class: simple\n    transport_names: [bench]\n    exposed_names: [echo_app]\n    \
         route_mappings: {{bench: echo_app}}\n",
        loadgen(messages, window)
    )
}

/// Answers 200 to every request on every connection; counts them.
async fn receiver(count: Arc<AtomicU64>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("port").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                loop {
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    if read.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                    if write
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// One GET of `/metrics`: how long the whole answer took, and its length.
async fn scrape(addr: SocketAddr) -> (Duration, usize) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut body = Vec::new();
    s.read_to_end(&mut body).await.expect("read");
    (started.elapsed(), body.len())
}

fn prepared(yaml: &str) -> Prepared {
    let cfg = config::parse(Path::new("bench.yaml"), yaml).expect("bench config");
    let catalogue = Catalogue::load(vec![plugin_folder()]);
    match compile(cfg, &catalogue) {
        Ok(plan) => Prepared { plan, catalogue },
        Err(problems) => panic!("bench config: {problems:?}\n{yaml}"),
    }
}

/// One round-trip run with the operations side on or off: its time, and the events the
/// webhook receiver took.
fn run_roundtrip(on: bool) -> (Duration, u64) {
    runtime().block_on(async {
        let events = Arc::new(AtomicU64::new(0));
        let mut yaml = topology(messages(), window());
        if on {
            let hook = receiver(events.clone()).await;
            yaml.push_str(&format!(
                "admin: {{bind: \"127.0.0.1:0\"}}\nobservers:\n  hook: {{plugin: webhook, config: {{url: \
                 \"http://127.0.0.1:{hook}/events\"}}}}\n"
            ));
        }
        let host = Host::start(prepared(&yaml), LogLevel::Warn).await.expect("start");
        let scraper = host.admin_addr().map(|addr| {
            tokio::spawn(async move {
                loop {
                    scrape(addr).await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            })
        });
        let result = loop {
            if let Some(v) = host.state().get("bench:result").await.expect("state") {
                break v;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        if let Some(s) = scraper {
            s.abort();
        }
        host.stop().await;
        (
            Duration::from_micros(result.parse().expect("micros")),
            events.load(Ordering::Relaxed),
        )
    })
}

/// `/metrics` of 50 components: the median and the slowest of 200 answers, and the size.
fn metrics_of_fifty() -> (Duration, Duration, usize) {
    let apps: String = (0..48)
        .map(|i| format!("  app{i}:\n    plugin: echo\n    endpoint: e{i}\n"))
        .collect();
    let exposed: Vec<String> = (0..48).map(|i| format!("e{i}")).collect();
    let yaml = format!(
        "{}applications:\n{apps}dispatchers:\n  main:\n    router_class: simple\n    transport_names: [bench]\n    \
         exposed_names: [{}]\n    route_mappings: {{bench: e0}}\nadmin: {{bind: \"127.0.0.1:0\"}}\n",
        loadgen(1000, 10),
        exposed.join(", ")
    );
    runtime().block_on(async {
        let host = Host::start(prepared(&yaml), LogLevel::Warn).await.expect("start");
        let addr = host.admin_addr().expect("admin");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut took = Vec::new();
        let mut size = 0;
        for _ in 0..200 {
            let (t, n) = scrape(addr).await;
            took.push(t);
            size = n;
        }
        host.stop().await;
        took.sort();
        (took[took.len() / 2], took[took.len() - 1], size)
    })
}

fn main() {
    if let Ok(mode) = std::env::var("RUVUMA_BENCH_CHILD") {
        let (elapsed, events) = run_roundtrip(mode == "on");
        if mode == "on" {
            eprintln!("webhook events received: {events}");
        }
        return report(&mode, elapsed);
    }
    build_plugins();
    let runs = runs();
    println!(
        "round trips: {} messages per run, window {}, {runs} runs per side, alternating",
        messages(),
        window()
    );
    let modes = ["off", "on"];
    let mut rates: [Vec<f64>; 2] = Default::default();
    for _ in 0..runs {
        for (i, mode) in modes.iter().enumerate() {
            rates[i].push(run_child(mode).0);
        }
    }
    let ratios: Vec<f64> = rates[1].iter().zip(&rates[0]).map(|(on, off)| on / off).collect();
    for (i, mode) in modes.iter().enumerate() {
        println!(
            "ops {mode:<3} {:>10.0} round trips/s   (runs: {:?})",
            median(&rates[i]),
            rates[i].iter().map(|r| *r as u64).collect::<Vec<_>>()
        );
    }
    println!(
        "ratio on/off: median of per-pair ratios {:.2} (pairs: {:?}; target ≥ 0.9)",
        median(&ratios),
        rounded(&ratios)
    );
    let (median, slowest, size) = metrics_of_fifty();
    println!(
        "/metrics of 50 components ({size} bytes): median {:.2} ms, slowest of 200 {:.2} ms (target < 5 ms)",
        median.as_secs_f64() * 1000.0,
        slowest.as_secs_f64() * 1000.0
    );
}
