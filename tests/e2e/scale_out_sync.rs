//! Sync HTTP over RabbitMQ with more than one transport process: each request is held by the
//! process it reached, and its reply finds that process (the instance's reply queue), whichever
//! application process made it.

use super::scale_out::{host_on_amqp, unique};
use ruvuma_tests::*;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// POSTs `content` to the sync HTTP transport on `port`: the reply's content, or why not.
fn ask(port: u16, content: &str) -> Result<String, String> {
    let body = format!(r#"{{"from_addr": "u-{content}", "to_addr": "svc", "content": "{content}"}}"#);
    let answer = ureq::post(&format!("http://127.0.0.1:{port}/"))
        .set("content-type", "application/json")
        .timeout(Duration::from_secs(30))
        .send_string(&body);
    match answer {
        Ok(r) => {
            let text = r.into_string().map_err(|e| e.to_string())?;
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
            Ok(v["content"].as_str().unwrap_or_default().to_owned())
        }
        Err(ureq::Error::Status(code, r)) => Err(format!("{code} {}", r.into_string().unwrap_or_default())),
        Err(e) => Err(e.to_string()),
    }
}

struct Gateway {
    /// The two sync-HTTP transport processes and their ports.
    fronts: Vec<(Host, u16)>,
    _rest: Vec<(Host, TempDir)>,
    _front_dirs: Vec<TempDir>,
}

/// Two transport processes, a dispatcher and two echo application processes on RabbitMQ.
fn gateway(tag: &str) -> Gateway {
    let id = unique(tag);
    let app = format!("applications:\n  echo: {{plugin: echo, endpoint: app_{id}}}\n");
    let mut rest: Vec<(Host, TempDir)> = (0..2).map(|i| host_on_amqp(&format!("sync-app-{i}"), &app)).collect();
    rest.push(host_on_amqp(
        "sync-disp",
        &format!(
            "dispatchers:\n  main:\n    router_class: simple\n    transport_names: [web_{id}]\n    exposed_names: [app_{id}]\n    \
             route_mappings: {{web_{id}: app_{id}}}\n"
        ),
    ));
    let (mut fronts, mut dirs) = (Vec::new(), Vec::new());
    for i in 0..2 {
        let port = free_port();
        let (host, dir) = host_on_amqp(
            &format!("sync-web-{i}"),
            &format!(
                "transports:\n  web_{id}:\n    plugin: http\n    \
                 config: {{bind: \"127.0.0.1:{port}\", mode: sync, reply_timeout_ms: 20000, publish_timeout_ms: 10000}}\n"
            ),
        );
        fronts.push((host, port));
        dirs.push(dir);
    }
    Gateway {
        fronts,
        _rest: rest,
        _front_dirs: dirs,
    }
}

/// Thousands of sync requests spread over both transport processes: every one is answered
/// with its own reply, none times out.
#[test]
fn two_sync_http_transport_processes_answer_every_request() {
    let gw = gateway("sync2");
    let ports: Vec<u16> = gw.fronts.iter().map(|(_, p)| *p).collect();
    let (threads, each) = (8, 250);
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let ports = &ports;
                s.spawn(move || {
                    let mut wrong = Vec::new();
                    for i in 0..each {
                        let content = format!("q{t}x{i}");
                        match ask(ports[(t + i) % 2], &content) {
                            Ok(reply) if reply == content => {}
                            other => wrong.push(format!("{content}: {other:?}")),
                        }
                        // A few are enough to show it; the rest would each wait for the timeout.
                        if wrong.len() >= 3 {
                            break;
                        }
                    }
                    wrong
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("client")).collect()
    });
    assert!(
        failures.is_empty(),
        "requests not answered with their own reply (each client stops at its third): {:?}",
        failures
    );
    for (host, port) in &gw.fronts {
        assert!(
            !host.log().contains("has gone"),
            "transport on {port} nacked a reply it does not hold:\n{}",
            host.log()
        );
    }
}

/// One transport process killed under load: its requests fail, the other's carry on, each
/// answered with its own reply.
#[test]
fn a_killed_transport_process_fails_only_its_own_requests() {
    let mut gw = gateway("sync-kill");
    let (kept, killed) = (gw.fronts[0].1, gw.fronts[1].1);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let (stop, answered) = (stop.clone(), answered.clone());
            std::thread::spawn(move || {
                let mut wrong = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Acquire) {
                    let content = format!("k{t}x{i}");
                    match ask(kept, &content) {
                        Ok(reply) if reply == content => {
                            answered.fetch_add(1, Ordering::AcqRel);
                        }
                        other => wrong.push(format!("{content}: {other:?}")),
                    }
                    i += 1;
                }
                wrong
            })
        })
        .collect();
    eventually("the first 200 answers", Duration::from_secs(60), || {
        answered.load(Ordering::Acquire) >= 200
    });
    gw.fronts[1].0.kill();
    assert!(ask(killed, "after").is_err(), "the killed process still answers");
    let at_kill = answered.load(Ordering::Acquire);
    eventually("300 more answers after the kill", Duration::from_secs(60), || {
        answered.load(Ordering::Acquire) >= at_kill + 300
    });
    stop.store(true, Ordering::Release);
    let wrong: Vec<String> = clients.into_iter().flat_map(|c| c.join().expect("client")).collect();
    assert!(
        wrong.is_empty(),
        "requests to the surviving process failed: {:?}",
        &wrong[..wrong.len().min(5)]
    );
}
