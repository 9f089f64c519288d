//! The admin server (host/src/admin/) through the real binary: credentials on every route, the
//! system alias on every answer, `/metrics` as Prometheus reads it, `/ready` following the state
//! store and required transports, the webhook observer, dead letters, the config editor, and the
//! bounds on what a client may send.

mod alias;
mod auth;
mod bounds;
mod config;
mod failures;
mod metrics;
mod observers;
mod ready;
mod reload;

use ruvuma_tests::smsc::{Smsc, SmscConfig};
use ruvuma_tests::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);
/// How long `/ready` may take to follow what it watches (the Redis ping gives up after 2 s).
const READY_WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Talking to the admin server

/// One answer of the admin server.
struct Reply {
    status: u16,
    /// (lower-case name, value).
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self, what: &str) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{what}: answer {} is not JSON ({e}): {}", self.status, self.body))
    }
}

/// `method path` on the admin server at `port`, with `authorization` when given. Redirects are
/// not followed; a connection that fails is a test failure.
fn call(port: u16, method: &str, path: &str, authorization: Option<&str>, body: Option<&str>) -> Reply {
    try_call(port, method, path, authorization, body).unwrap_or_else(|e| panic!("{method} {}: {e}", short(path)))
}

fn try_call(
    port: u16,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<&str>,
) -> Result<Reply, String> {
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build();
    let mut request = agent.request(method, &format!("http://127.0.0.1:{port}{path}"));
    if let Some(a) = authorization {
        request = request.set("authorization", a);
    }
    let result = match body {
        Some(b) => request.send_string(b),
        None if method == "GET" => request.call(),
        None => request.send_string(""),
    };
    reply_of(result)
}

/// A form POST, as the pages send.
fn post_form(port: u16, path: &str, form: &[(&str, &str)]) -> Reply {
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build();
    let result = agent.post(&format!("http://127.0.0.1:{port}{path}")).send_form(form);
    reply_of(result).unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

fn reply_of(result: Result<ureq::Response, ureq::Error>) -> Result<Reply, String> {
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(e.to_string()),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = response.header(&n).unwrap_or("").to_owned();
            (n.to_ascii_lowercase(), v)
        })
        .collect();
    let body = response.into_string().map_err(|e| format!("reading the answer: {e}"))?;
    Ok(Reply { status, headers, body })
}

fn get(port: u16, path: &str) -> Reply {
    call(port, "GET", path, None, None)
}

/// A path as shown in a message: long ones cut.
fn short(path: &str) -> String {
    if path.len() > 80 {
        format!("{}…({} bytes)", &path[..80], path.len())
    } else {
        path.to_owned()
    }
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// A raw HTTP/1.1 exchange: `head` (without its blank line) then `body`, written from another
/// thread so that a server answering early is read; the status and the whole answer.
fn raw(port: u16, head: &str, body: Vec<u8>) -> (Option<u16>, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the admin server");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let head = format!("{head}\r\n\r\n");
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        for part in body.chunks(16 * 1024) {
            if writer.write_all(part).is_err() {
                break;
            }
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    drop(stream);
    let _ = sender.join();
    let answer = text(&answer);
    let status = answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok());
    (status, answer)
}

/// Every (method, path) routed in host/src/admin/mod.rs, `{id}` filled in.
fn routes() -> Vec<(&'static str, String)> {
    let file = built().root.join("host/src/admin/mod.rs");
    let source = std::fs::read_to_string(&file).expect("host/src/admin/mod.rs");
    let mut out = Vec::new();
    for line in source.lines().map(str::trim).filter(|l| l.starts_with(".route(\"")) {
        let rest = &line[".route(\"".len()..];
        let (path, handlers) = rest.split_once('"').expect("a quoted route path");
        let path = path.replace("{id}", "no-such-id");
        for (word, method) in [
            ("get", "GET"),
            ("post", "POST"),
            ("put", "PUT"),
            ("delete", "DELETE"),
            ("patch", "PATCH"),
        ] {
            let used = [" ", "."]
                .iter()
                .any(|before| handlers.contains(&format!("{before}{word}(")));
            if used {
                out.push((method, path.clone()));
            }
        }
    }
    assert!(
        out.len() >= 25,
        "host/src/admin/mod.rs lists at least 25 routes; read {}: {out:?}",
        out.len()
    );
    for must in [
        ("GET", "/"),
        ("GET", "/metrics"),
        ("GET", "/health"),
        ("GET", "/ready"),
        ("PUT", "/api/config"),
        ("POST", "/api/failures/purge"),
    ] {
        assert!(
            out.iter().any(|(m, p)| *m == must.0 && p == must.1),
            "{must:?} is read from host/src/admin/mod.rs: {out:?}"
        );
    }
    out
}

/// A body that is never a valid config, sent to every POST and PUT.
const BROKEN: &str = "transports: [";

// ---------------------------------------------------------------------------------------------
// Hosts

/// telnet → dispatcher `main` → application `app` (endpoint `app_ep`), with `top` (more
/// top-level YAML) before the components.
fn telnet_yaml(alias: &str, telnet: u16, app: &str, top: &str) -> String {
    format!(
        "system_alias: {alias}\n{top}transports:\n  telnet: {{plugin: telnet, config: {{bind: \"127.0.0.1:{telnet}\"}}}}\n\
         applications:\n  app: {{plugin: {app}, endpoint: app_ep}}\n\
         dispatchers:\n  main:\n    router_class: simple\n    transport_names: [telnet]\n    exposed_names: [app_ep]\n    \
         route_mappings: {{telnet: app_ep}}\n"
    )
}

/// A host on `yaml` with every plugin and `env`; waits until its admin server listens.
fn start(tag: &str, yaml: &str, env: &[(&str, &str)]) -> (Host, TempDir) {
    let tmp = TempDir::new(tag);
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let mut host = Host::start_with_env(yaml, &["--plugin-dir", plugins.to_str().expect("utf-8 path")], env);
    host.wait_for_log("admin: serving http://", WAIT);
    (host, tmp)
}

/// Polls `GET path` until `check` holds for the answer; the answer that held.
fn poll(port: u16, path: &str, what: &str, check: impl Fn(&Reply) -> bool) -> Reply {
    let deadline = Instant::now() + READY_WAIT;
    loop {
        let reply = get(port, path);
        if check(&reply) {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: GET {path} did not change within {READY_WAIT:?}; last answer {}: {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
