//! HTTP → SMPP with the operations side on and off: the same topology and wrk load as the
//! HTTP → SMPP part, once plain and once with the admin server, a scrape of `/metrics` every
//! second while wrk runs, and a webhook observer that wants every event (a `message_finished`
//! for each ack) POSTing to a receiver run here. The counters behind `/metrics` are always on,
//! so both runs pay for them.

use super::{http_to_smpp_config, simulator, wait_for_bind, wrk_to_smsc, Cpu, HttpRun, RUVUMA, WRK_SCRIPT};
use ruvuma_tests::{free_port, plugin_dir, Host, TempDir, ALL_PLUGINS};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the webhook receiver took, and the scrapes of `/metrics`.
pub struct OpsRun {
    pub http: HttpRun,
    pub events: u64,
    /// Milliseconds each `/metrics` answer took while wrk ran.
    pub scrapes: Vec<f64>,
}

/// Answers every request on every connection with 200 and counts them.
fn receiver(count: Arc<AtomicU64>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
    let port = listener.local_addr().expect("port").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || serve(stream, &count));
        }
    });
    port
}

fn serve(stream: TcpStream, count: &AtomicU64) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut writer = stream;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
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
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        count.fetch_add(1, Ordering::Relaxed);
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// GETs `/metrics` once a second until `stop`; how long each answer took, in ms.
fn scrape(port: u16, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<f64>> {
    std::thread::spawn(move || {
        let mut took = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let answer = ureq::get(&format!("http://127.0.0.1:{port}/metrics")).call();
            if let Ok(a) = answer {
                let _ = a.into_string();
                took.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        took
    })
}

pub fn run(on: bool) -> OpsRun {
    let label = if on {
        "HTTP → SMPP, ops on"
    } else {
        "HTTP → SMPP, ops off"
    };
    let smsc = simulator();
    let port = free_port();
    let events = Arc::new(AtomicU64::new(0));
    let admin = free_port();
    let extra = if on {
        let hook = receiver(events.clone());
        format!(
            "admin: {{bind: \"127.0.0.1:{admin}\"}}\nobservers:\n  hook: {{plugin: webhook, config: {{url: \
             \"http://127.0.0.1:{hook}/events\"}}}}\n"
        )
    } else {
        String::new()
    };
    let yaml = format!("{}{extra}", http_to_smpp_config(&smsc, port));
    let tmp = TempDir::new("smpp-ops");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let host = Host::start(&yaml, &["--plugin-dir", plugins.to_str().expect("utf-8 path")]);
    wait_for_bind(&smsc);
    let stop = Arc::new(AtomicBool::new(false));
    let scraper = on.then(|| scrape(admin, stop.clone()));
    let script = tmp.write("post.lua", WRK_SCRIPT);
    let url = format!("http://127.0.0.1:{port}/");
    let http = wrk_to_smsc(label, &smsc, &url, Some(&script), Cpu::now(RUVUMA), &|| host.log());
    stop.store(true, Ordering::Relaxed);
    let scrapes = scraper.map(|s| s.join().unwrap_or_default()).unwrap_or_default();
    let events = events.load(Ordering::Relaxed);
    if on {
        println!(
            "{label}: the webhook receiver took {events} events; {} scrapes of /metrics",
            scrapes.len()
        );
    }
    drop(host);
    OpsRun { http, events, scrapes }
}
