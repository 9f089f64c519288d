//! The admin server (host/src/admin/) through the real binary: credentials on every route, the
//! system alias on every answer, `/metrics` as Prometheus reads it, `/ready` following the state
//! store and required transports, the webhook observer, dead letters, the config editor, and the
//! bounds on what a client may send.

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

// ---------------------------------------------------------------------------------------------
// 1. Credentials on every route

fn assert_refused(reply: &Reply, scheme: &str, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.body);
    let challenge = reply
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("{what}: a 401 without WWW-Authenticate: {:?}", reply.headers));
    assert!(
        challenge.starts_with(scheme),
        "{what}: WWW-Authenticate {challenge:?} names the {scheme} scheme"
    );
}

/// Every route, and unknown paths, without, with wrong and with the right credentials.
fn every_route_asks(port: u16, scheme: &str, right: &str, wrongs: &[String]) {
    let mut asked = routes();
    asked.push(("GET", "/no/such/page".into()));
    asked.push(("POST", "/api/no-such-call".into()));
    for (method, path) in &asked {
        let body = (*method != "GET").then_some(BROKEN);
        let what = format!("{method} {path}");
        assert_refused(
            &call(port, method, path, None, body),
            scheme,
            &format!("{what} without credentials"),
        );
        for wrong in wrongs {
            assert_refused(
                &call(port, method, path, Some(wrong), body),
                scheme,
                &format!("{what} with {wrong:?}"),
            );
        }
        let allowed = call(port, method, path, Some(right), body);
        assert_ne!(
            allowed.status, 401,
            "{what} with the right credentials: {}",
            allowed.body
        );
        assert!(
            allowed.header("www-authenticate").is_none(),
            "{what} with the right credentials asks again"
        );
    }
    // The right credentials reach the real answers.
    let health = call(port, "GET", "/health", Some(right), None);
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json("/health")["status"], "ok");
    let unknown = call(port, "GET", "/no/such/page", Some(right), None);
    assert_eq!(unknown.status, 404, "{}", unknown.body);
}

#[test]
fn every_route_asks_for_basic_credentials_and_the_password_stays_out_of_the_log() {
    const USER: &str = "ops";
    const PASSWORD: &str = "pw-Zq8xK3vR2m-admin";
    let (admin, telnet) = (free_port(), free_port());
    let top = format!(
        "admin:\n  bind: \"127.0.0.1:{admin}\"\n  auth: {{username: \"${{ADMIN_USER}}\", password: \"${{ADMIN_PASSWORD}}\"}}\n"
    );
    let yaml = telnet_yaml("auth-basic", telnet, "echo", &top);
    let (host, _tmp) = start(
        "admin-basic",
        &yaml,
        &[
            ("ADMIN_USER", USER),
            ("ADMIN_PASSWORD", PASSWORD),
            ("RUST_LOG", "debug"),
        ],
    );
    let wrongs = [
        basic(USER, "pw-Zq8xK3vR2m-admiN"),
        basic("root", PASSWORD),
        basic(USER, ""),
        format!("Bearer {PASSWORD}"),
        format!("Basic {}", base64(PASSWORD.as_bytes())),
        "Basic !!not-base64!!".to_owned(),
    ];
    every_route_asks(admin, "Basic", &basic(USER, PASSWORD), &wrongs);
    let log = host.log();
    assert!(log.contains("admin: serving http://"), "the host logged at all:\n{log}");
    assert!(
        !log.contains(PASSWORD),
        "the admin password reaches the host's stderr:\n{log}"
    );
}

#[test]
fn every_route_asks_for_the_bearer_token() {
    const TOKEN: &str = "tok-7Hc2Wq9LmN4p";
    let (admin, telnet) = (free_port(), free_port());
    let top = format!("admin:\n  bind: \"127.0.0.1:{admin}\"\n  auth: {{token: \"${{ADMIN_TOKEN}}\"}}\n");
    let yaml = telnet_yaml("auth-token", telnet, "echo", &top);
    let (host, _tmp) = start("admin-token", &yaml, &[("ADMIN_TOKEN", TOKEN)]);
    let wrongs = [
        "Bearer tok-7Hc2Wq9LmN4".to_owned(),
        "Bearer tok-7Hc2Wq9LmN4pX".to_owned(),
        format!("Token {TOKEN}"),
        format!("bearer{TOKEN}"),
        basic("ops", TOKEN),
        "Bearer ".to_owned(),
    ];
    every_route_asks(admin, "Bearer", &format!("Bearer {TOKEN}"), &wrongs);
    assert!(!host.log().contains(TOKEN), "the token reaches the host's stderr");
}

#[test]
fn an_admin_server_on_a_public_address_without_auth_is_refused() {
    let tmp = TempDir::new("admin-public");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let top = format!("admin: {{bind: \"0.0.0.0:{}\"}}\n", free_port());
    let config = tmp.write("config.yaml", &telnet_yaml("public", free_port(), "echo", &top));
    let (code, out, err) = validate_with(&config, &plugins);
    assert_ne!(code, Some(0), "validate accepts it:\n{out}\n{err}");
    let said = format!("{out}\n{err}");
    assert!(said.contains("admin.auth"), "the refusal names admin.auth:\n{said}");
    assert!(said.contains("0.0.0.0"), "the refusal names the address:\n{said}");
    // On loopback the same config is fine.
    let top = format!("admin: {{bind: \"127.0.0.1:{}\"}}\n", free_port());
    let config = tmp.write("loopback.yaml", &telnet_yaml("local", free_port(), "echo", &top));
    let (code, out, err) = validate_with(&config, &plugins);
    assert_eq!(
        code,
        Some(0),
        "a loopback admin without auth is accepted:\n{out}\n{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. The alias everywhere

#[test]
fn every_answer_and_page_carries_the_system_alias() {
    const ALIAS: &str = "ops-e2e";
    let (admin, telnet) = (free_port(), free_port());
    let tmp_store = TempDir::new("alias-store");
    let db = tmp_store.path().join("store.db");
    let top = format!(
        "store: {{sqlite: {{path: \"{}\"}}}}\nadmin: {{bind: \"127.0.0.1:{admin}\"}}\n",
        db.display()
    );
    let (_host, _tmp) = start("admin-alias", &telnet_yaml(ALIAS, telnet, "echo", &top), &[]);
    let mut user = Telnet::connect(telnet);
    user.send("hello");
    assert_eq!(user.read_line().expect("echo"), "hello");

    let heading = format!("<h1 id=\"alias\">{ALIAS}</h1>");
    let mut asked = routes();
    asked.push(("GET", "/api/no-such-call".into()));
    let (mut json_answers, mut pages) = (0, 0);
    for (method, path) in &asked {
        let is_api = path.starts_with("/api/") || path == "/health" || path == "/ready";
        let reply = match *method {
            "GET" => get(admin, path),
            "POST" if !is_api && path != "/metrics" => post_form(admin, path, &[("text", BROKEN)]),
            _ => call(admin, method, path, None, Some(BROKEN)),
        };
        let what = format!("{method} {path} ({})", reply.status);
        let content_type = reply.header("content-type").unwrap_or("").to_owned();
        if is_api {
            assert!(
                content_type.starts_with("application/json"),
                "{what}: content-type {content_type:?}: {}",
                reply.body
            );
            assert_eq!(reply.json(&what)["system_alias"], ALIAS, "{what}: {}", reply.body);
            json_answers += 1;
        } else if path == "/metrics" {
            assert!(
                reply
                    .body
                    .contains(&format!("ruvuma_build_info{{version=\"{}\"", env!("CARGO_PKG_VERSION")))
                    && reply.body.contains(&format!("system_alias=\"{ALIAS}\"")),
                "{what}: the alias is a label of ruvuma_build_info:\n{}",
                reply.body
            );
        } else if *method == "GET" {
            assert!(
                content_type.starts_with("text/html"),
                "{what}: a page is HTML, not {content_type:?}: {}",
                reply.body
            );
            assert!(reply.body.contains(&heading), "{what}: no {heading}:\n{}", reply.body);
            pages += 1;
        } else if (300..400).contains(&reply.status) {
            let to = reply.header("location").unwrap_or("");
            assert!(to.starts_with('/'), "{what}: a form post leads back to a page: {to:?}");
        } else {
            assert!(
                content_type.starts_with("text/html"),
                "{what}: a form post answers a page, not {content_type:?}: {}",
                reply.body
            );
            assert!(reply.body.contains(&heading), "{what}: no {heading}:\n{}", reply.body);
            pages += 1;
        }
    }
    assert!(json_answers >= 17, "{json_answers} JSON answers checked");
    assert!(pages >= 9, "{pages} pages checked");
}

// ---------------------------------------------------------------------------------------------
// 3. /metrics as Prometheus reads it

/// The value of the sample `name{labels}` in a Prometheus exposition.
fn sample(exposition: &str, series: &str) -> f64 {
    let line = exposition
        .lines()
        .find(|l| l.strip_prefix(series).is_some_and(|rest| rest.starts_with(' ')))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{exposition}"));
    line[series.len()..]
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{line}: {e}"))
}

#[test]
fn metrics_pass_promtool_and_count_the_lines_sent() {
    let (admin, telnet) = (free_port(), free_port());
    let top = format!("admin: {{bind: \"127.0.0.1:{admin}\"}}\n");
    let (_host, _tmp) = start("admin-metrics", &telnet_yaml("metrics", telnet, "echo", &top), &[]);
    const LINES: usize = 7;
    let mut user = Telnet::connect(telnet);
    for i in 0..LINES {
        let line = format!("line {i}");
        user.send(&line);
        assert_eq!(user.read_line().expect("echo"), line);
    }
    let reply = get(admin, "/metrics");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        reply.headers
    );
    let exposition = reply.body;

    let mut promtool = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!(
            "promtool is needed to check /metrics ({e}); install Debian's `prometheus` package \
             (apt-get install -y --no-install-recommends prometheus)"
        ),
    };
    promtool
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(exposition.as_bytes())
        .expect("write to promtool");
    let checked = promtool.wait_with_output().expect("promtool");
    assert!(
        checked.status.success(),
        "promtool check metrics: {}\n{}{}\n--- /metrics:\n{exposition}",
        checked.status,
        text(&checked.stdout),
        text(&checked.stderr)
    );

    let telnet_in = sample(
        &exposition,
        "ruvuma_messages_in_total{component=\"telnet\",kind=\"transport\"}",
    );
    // Connecting opens a session: a message with `session_event: new` and no content comes first.
    assert_eq!(
        telnet_in,
        (LINES + 1) as f64,
        "messages into the telnet transport: the session's opening and the {LINES} lines sent\n{exposition}"
    );
    assert_eq!(
        sample(
            &exposition,
            "ruvuma_messages_in_total{component=\"app\",kind=\"application\"}"
        ),
        (LINES + 1) as f64,
        "messages into the application\n{exposition}"
    );
    let telnet_out = sample(
        &exposition,
        "ruvuma_messages_out_total{component=\"telnet\",kind=\"transport\"}",
    );
    assert_eq!(
        telnet_out, LINES as f64,
        "replies out of the telnet transport\n{exposition}"
    );
    assert_eq!(
        sample(
            &exposition,
            "ruvuma_failures_total{component=\"app\",kind=\"application\"}"
        ),
        0.0
    );
}

// ---------------------------------------------------------------------------------------------
// 4. /ready

/// A redis-server of this test's own on a free port, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server is needed for this test (apt-get install redis-server): {e}"));
        let redis = Self { child, port };
        eventually("the test's redis-server answers PING", WAIT, || redis.pong());
        redis
    }

    fn pong(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 16];
        s.write_all(b"PING\r\n").is_ok() && s.read(&mut buf).is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn problems(reply: &Reply) -> Vec<String> {
    reply.json("/ready")["problems"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn assert_healthy(admin: u16) {
    let health = get(admin, "/health");
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json("/health")["status"], "ok");
}

#[test]
fn ready_fails_when_the_redis_state_store_goes_away_and_health_does_not() {
    let mut redis = Redis::start();
    let (admin, telnet) = (free_port(), free_port());
    let top = format!(
        "state: {{redis: {{url: \"redis://127.0.0.1:{}\"}}}}\nadmin: {{bind: \"127.0.0.1:{admin}\"}}\n",
        redis.port
    );
    let (_host, _tmp) = start("admin-ready-redis", &telnet_yaml("ready", telnet, "echo", &top), &[]);
    let ready = get(admin, "/ready");
    assert_eq!(ready.status, 200, "ready with redis up: {}", ready.body);
    assert_eq!(ready.json("/ready")["status"], "ready");
    assert_healthy(admin);

    redis.kill();
    let down = poll(admin, "/ready", "redis killed", |r| r.status != 200);
    assert_eq!(down.status, 503, "{}", down.body);
    assert_eq!(down.json("/ready")["status"], "not ready");
    let said = problems(&down);
    assert!(
        said.iter().any(|p| p.starts_with("state store (redis)")),
        "the problem names the state store: {said:?}"
    );
    assert_eq!(said.len(), 1, "only the state store is down: {said:?}");
    assert_healthy(admin);
}

#[test]
fn ready_fails_while_rabbitmq_cannot_be_reached_and_recovers() {
    let proxy = ruvuma_tests::tcp_proxy::TcpProxy::start("127.0.0.1:5672");
    let (admin, telnet) = (free_port(), free_port());
    // Names of this test's own, so that its queues on the shared broker are its own.
    let tag = format!("rdy{}", std::process::id());
    let yaml = format!(
        "system_alias: ready\nbus: {{amqp: {{url: \"amqp://guest:guest@127.0.0.1:{}/%2f\"}}}}\n\
         admin: {{bind: \"127.0.0.1:{admin}\"}}\n\
         transports:\n  {tag}_t: {{plugin: telnet, config: {{bind: \"127.0.0.1:{telnet}\"}}}}\n\
         applications:\n  {tag}_a: {{plugin: echo}}\n\
         dispatchers:\n  {tag}_d:\n    router_class: simple\n    transport_names: [{tag}_t]\n    \
         exposed_names: [{tag}_a]\n    route_mappings: {{{tag}_t: {tag}_a}}\n",
        proxy.port
    );
    let (_host, _tmp) = start("admin-ready-amqp", &yaml, &[]);
    let ready = poll(admin, "/ready", "ready on RabbitMQ", |r| r.status == 200);
    assert_eq!(ready.json("/ready")["status"], "ready", "{}", ready.body);

    proxy.down();
    let down = poll(admin, "/ready", "RabbitMQ cut off", |r| r.status != 200);
    assert_eq!(down.status, 503, "{}", down.body);
    let said = problems(&down);
    assert!(
        said.iter().any(|p| p.starts_with("bus (amqp)")),
        "the problem names the bus: {said:?}"
    );
    assert_healthy(admin);

    proxy.up();
    poll(admin, "/ready", "RabbitMQ back", |r| r.status == 200);
}

/// An `smpp` transport `sms` on `port` with `required: true`, an echo application on it.
fn required_smpp_yaml(alias: &str, port: u16, admin: u16) -> String {
    format!(
        "system_alias: {alias}\nadmin: {{bind: \"127.0.0.1:{admin}\"}}\n\
         transports:\n  sms:\n    plugin: smpp\n    required: true\n    config: {{host: 127.0.0.1, port: {port}, \
         system_id: test, password: secret, reconnect_delay: 0.2, reconnect_max_delay: 1}}\n\
         applications:\n  app: {{plugin: echo, endpoint: sms}}\n"
    )
}

#[test]
fn ready_fails_while_a_required_transport_is_not_up() {
    // Never bound: its SMSC's port is closed.
    let admin = free_port();
    let (_never, _tmp) = start(
        "admin-ready-closed",
        &required_smpp_yaml("closed", free_port(), admin),
        &[],
    );
    let ready = get(admin, "/ready");
    assert_eq!(
        ready.status, 503,
        "a required transport that never bound: {}",
        ready.body
    );
    let said = problems(&ready);
    assert!(
        said.iter().any(|p| p.starts_with("transport \"sms\"")),
        "the problem names the transport: {said:?}"
    );
    assert_healthy(admin);

    // Bound, then its SMSC goes away.
    let smsc = Smsc::start(SmscConfig::default());
    let admin = free_port();
    let (_host, _tmp2) = start("admin-ready-smsc", &required_smpp_yaml("smsc", smsc.port(), admin), &[]);
    smsc.wait_for("the transport binds", WAIT, |s| s.bound_sessions() == 1);
    let up = poll(admin, "/ready", "the transport bound", |r| r.status == 200);
    assert_eq!(up.json("/ready")["status"], "ready");
    drop(smsc);
    let down = poll(admin, "/ready", "the SMSC stopped", |r| r.status != 200);
    assert_eq!(down.status, 503, "{}", down.body);
    let said = problems(&down);
    assert!(
        said.iter().any(|p| p.starts_with("transport \"sms\" is ")),
        "the problem names the transport and its status: {said:?}"
    );
    assert_healthy(admin);
}

// ---------------------------------------------------------------------------------------------
// 5. The webhook observer

#[test]
fn the_webhook_observer_posts_component_events_with_its_token_and_retries() {
    const TOKEN: &str = "hook-S3cr3t-9QwE";
    let (url, received) = receiver(|n, _, _| {
        if n == 0 {
            (500, Vec::new(), "not yet".into())
        } else {
            (200, Vec::new(), "ok".into())
        }
    });
    let (admin, telnet) = (free_port(), free_port());
    let top = format!(
        "admin: {{bind: \"127.0.0.1:{admin}\"}}\nobservers:\n  hook: {{plugin: webhook, config: {{url: \"{url}/events\", \
         token: \"${{HOOK_TOKEN}}\", backoff_ms: 100}}}}\n"
    );
    let (host, _tmp) = start(
        "admin-webhook",
        &telnet_yaml("hooked", telnet, "echo", &top),
        &[("HOOK_TOKEN", TOKEN)],
    );
    let expected: BTreeSet<&str> = ["telnet", "app", "main"].into();
    let started = |got: &[(String, String, String)]| -> BTreeSet<String> {
        got.iter()
            .filter_map(|(_, _, body)| serde_json::from_str::<Value>(body).ok())
            .filter(|v| v["event"] == "component_started")
            .filter_map(|v| v["component"].as_str().map(str::to_owned))
            .collect()
    };
    eventually("component_started for every component", WAIT, || {
        let got = received.lock().expect("received");
        expected.iter().all(|c| started(&got).contains(*c))
    });
    let got = received.lock().expect("received").clone();
    assert_eq!(
        started(&got),
        expected.iter().map(|c| c.to_string()).collect(),
        "component_started names each component once: {got:?}"
    );
    for (path, headers, body) in &got {
        assert_eq!(path, "/events");
        let authorization = headers
            .lines()
            .filter_map(|l| l.split_once(": "))
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v);
        assert_eq!(authorization, Some(format!("Bearer {TOKEN}").as_str()), "{headers}");
        let event: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(event["system_alias"], "hooked", "{body}");
        assert!(event["at"].as_str().is_some_and(|a| a.len() >= 19), "{body}");
        assert!(event["event"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
        assert!(event["component"].as_str().is_some_and(|c| !c.is_empty()), "{body}");
    }
    let first = &got[0].2;
    assert!(
        got[1..].iter().any(|(_, _, body)| body == first),
        "the event answered with 500 is posted again: {got:?}"
    );
    assert!(
        got.iter().filter(|(_, _, body)| body == first).count() == 2,
        "retried once, not more, after one 500: {got:?}"
    );
    let observers = get(admin, "/api/observers").json("/api/observers");
    assert_eq!(observers["observers"][0]["name"], "hook", "{observers}");
    assert!(
        !host.log().contains(TOKEN),
        "the hook's token reaches the host's stderr"
    );
}

#[test]
fn validate_refuses_a_bad_observer_and_names_it() {
    let tmp = TempDir::new("admin-bad-observer");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let top = "observers:\n  hook: {plugin: webhook, config: {url: \"http://127.0.0.1:9/events\", events: [component_started, no_such_event]}}\n  \
               other: {plugin: nope}\n";
    let config = tmp.write("config.yaml", &telnet_yaml("bad", free_port(), "echo", top));
    let (code, out, err) = validate_with(&config, &plugins);
    assert_ne!(code, Some(0), "validate accepts it:\n{out}\n{err}");
    let said = format!("{out}\n{err}");
    assert!(
        said.lines()
            .any(|l| l.contains("observer \"hook\"") && l.contains("no_such_event")),
        "the unknown event is named with its observer:\n{said}"
    );
    assert!(
        said.lines()
            .any(|l| l.contains("observer \"other\"") && l.contains("\"nope\"")),
        "the unknown plugin is named with its observer:\n{said}"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Dead letters

fn failures(admin: u16) -> Vec<Value> {
    let reply = get(admin, "/api/failures");
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json("/api/failures")["failures"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no failures list: {}", reply.body))
}

fn failures_until(admin: u16, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = failures(admin);
        if check(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "{what} within {WAIT:?}: {list:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where dead letters are kept in [`failures_listed_replayed_and_purged`].
#[derive(PartialEq)]
enum Kept {
    Store,
    Ring,
    /// RabbitMQ's `<endpoint>.failures` queues, with no store.
    Broker,
}

fn failures_listed_replayed_and_purged(tag: &str, kept: Kept) {
    let (admin, telnet) = (free_port(), free_port());
    let store_dir = TempDir::new(tag);
    let store = match kept {
        Kept::Store => format!(
            "store: {{sqlite: {{path: \"{}\"}}}}\n",
            store_dir.path().join("store.db").display()
        ),
        Kept::Ring => String::new(),
        Kept::Broker => "bus: {amqp: {url: \"amqp://guest:guest@127.0.0.1:5672/%2f\"}}\n".into(),
    };
    let top = format!("{store}admin: {{bind: \"127.0.0.1:{admin}\"}}\n");
    let mut yaml = telnet_yaml(tag, telnet, "panicky", &top);
    // On the shared broker, queues of this run's own.
    let (transport, ep) = match kept {
        Kept::Broker => {
            let id = std::process::id();
            let (t, e) = (format!("tel_f{id}"), format!("ep_f{id}"));
            yaml = yaml
                .replace("  telnet: {", &format!("  {t}: {{"))
                .replace("[telnet]", &format!("[{t}]"))
                .replace("{telnet: app_ep}", &format!("{{{t}: {e}}}"))
                .replace("app_ep", &e)
                .replace("  main:", &format!("  main_f{id}:"));
            (t, e)
        }
        _ => ("telnet".to_owned(), "app_ep".to_owned()),
    };
    let (mut host, _tmp) = start(tag, &yaml, &[]);
    assert!(failures(admin).is_empty(), "no failure before any message");
    let mut user = Telnet::connect(telnet);
    user.send("fine");
    assert_eq!(user.read_line().expect("echo"), "fine");
    user.send("panic");
    host.wait_for_log("panicked: asked to panic by message", WAIT);

    let list = failures_until(admin, "the failure is listed", |l| !l.is_empty());
    assert_eq!(list.len(), 1, "{list:?}");
    let first = &list[0];
    // Listed under the application's name; kept on RabbitMQ on `<endpoint>.failures`.
    assert_eq!(first["component"], "app", "{first}");
    assert_eq!(first["origin"], format!("{ep}.inbound"), "{first}");
    let reason = first["reason"].as_str().unwrap_or("");
    assert!(reason.contains("asked to panic"), "{first}");
    let message_id = first["message_id"].as_str().unwrap_or("").to_owned();
    assert!(
        message_id.len() == 32 && message_id.chars().all(|c| c.is_ascii_hexdigit()),
        "{first}"
    );
    assert!(reason.contains(&message_id), "the reason is the panic's: {first}");
    assert_eq!(first["message"]["content"], "panic", "{first}");
    let id = first["failure_id"].as_str().expect("failure_id").to_owned();
    let metrics = get(admin, "/metrics").body;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ruvuma_failures_total{component=\"app\"") && l.ends_with(" 1")),
        "the failure is counted under the application's name:\n{metrics}"
    );
    let mine = get(admin, "/api/failures?component=app").json("filtered");
    assert_eq!(mine["failures"][0]["failure_id"], id.as_str(), "{mine}");
    let others = get(admin, &format!("/api/failures?component={transport}")).json("filtered");
    assert_eq!(others["failures"], serde_json::json!([]), "{others}");
    let one = get(admin, &format!("/api/failures/{id}"));
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.json("failure")["message_id"], message_id.as_str());
    let page = get(admin, "/failures");
    assert!(page.body.contains(&id), "the failures page lists {id}:\n{}", page.body);

    let replayed = call(admin, "POST", &format!("/api/failures/{id}/replay"), None, None);
    assert_eq!(replayed.status, 200, "{}", replayed.body);
    let replayed = replayed.json("replay");
    assert_eq!(replayed["replayed"], id.as_str());
    assert_eq!(replayed["on"], format!("{ep}.inbound"));
    assert_eq!(replayed["message_id"], message_id.as_str());
    // The application gets it again, panics again, and a new failure of the same message appears.
    let list = failures_until(admin, "the replayed message fails again", |l| {
        l.iter()
            .any(|f| f["message_id"] == message_id.as_str() && f["failure_id"] != id.as_str())
    });
    assert!(
        list.iter().all(|f| f["failure_id"] != id.as_str()),
        "the replayed failure is gone: {list:?}"
    );
    assert_eq!(list.len(), 1, "{list:?}");
    let gone = get(admin, &format!("/api/failures/{id}"));
    assert_eq!(gone.status, 404, "{}", gone.body);
    let again = call(admin, "POST", &format!("/api/failures/{id}/replay"), None, None);
    assert_eq!(again.status, 404, "a failure replays once: {}", again.body);
    assert_eq!(
        host.log().matches("panicky got \"panic\"").count(),
        2,
        "the application handled the message twice"
    );

    user.send("panic");
    failures_until(admin, "a second failure", |l| l.len() == 2);
    let purged = call(admin, "POST", "/api/failures/purge", None, None);
    assert_eq!(purged.status, 200, "{}", purged.body);
    assert_eq!(purged.json("purge")["purged"], 2, "{}", purged.body);
    assert!(failures(admin).is_empty(), "purged");
    user.send("still fine");
    assert_eq!(user.read_line().expect("echo"), "still fine");
}

#[test]
fn failures_in_the_store_are_listed_replayed_and_purged() {
    failures_listed_replayed_and_purged("failures-store", Kept::Store);
}

#[test]
fn failures_in_the_memory_ring_are_listed_replayed_and_purged() {
    failures_listed_replayed_and_purged("failures-ring", Kept::Ring);
}

#[test]
fn failures_on_rabbitmq_without_a_store_are_listed_replayed_and_purged() {
    failures_listed_replayed_and_purged("failures-broker", Kept::Broker);
}

// ---------------------------------------------------------------------------------------------
// 7. The config editor

fn config_problems(reply: &Reply, what: &str) -> Vec<Value> {
    reply.json(what)["problems"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{what}: no problems list: {}", reply.body))
}

#[test]
fn the_config_is_checked_at_its_lines_and_saved_with_a_backup() {
    let (admin, telnet) = (free_port(), free_port());
    let top = format!("admin: {{bind: \"127.0.0.1:{admin}\"}}\n");
    let (_host, _tmp) = start("admin-config", &telnet_yaml("editing", telnet, "echo", &top), &[]);
    let current = get(admin, "/api/config");
    assert_eq!(current.status, 200, "{}", current.body);
    let current = current.json("/api/config");
    let path = std::path::PathBuf::from(current["path"].as_str().expect("path"));
    let original = std::fs::read_to_string(&path).expect("the config file");
    assert_eq!(current["text"], original.as_str());
    assert!(original.ends_with('\n'));

    // An unknown key on a known line.
    let line = original.lines().count() + 1;
    let bad = format!("{original}no_such_section: 1\n");
    let refused = call(admin, "PUT", "/api/config", None, Some(&bad));
    assert_eq!(refused.status, 422, "{}", refused.body);
    let found = config_problems(&refused, "PUT /api/config");
    assert!(
        found
            .iter()
            .any(|p| p["line"] == line && p["message"].as_str().is_some_and(|m| m.contains("no_such_section"))),
        "a problem at line {line} naming the key: {found:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original, "nothing saved");
    let checked = call(admin, "POST", "/api/config/validate", None, Some(&bad));
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert_eq!(checked.json("validate")["valid"], false);
    assert_eq!(config_problems(&checked, "validate"), found, "validate finds the same");

    // A valid text is saved, the old one kept.
    let new = format!(
        "# edited through the admin API\n{}",
        original.replace("editing", "edited")
    );
    let checked = call(admin, "POST", "/api/config/validate", None, Some(&new));
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert_eq!(checked.json("validate")["valid"], true, "{}", checked.body);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        original,
        "validate saves nothing"
    );
    let saved = call(admin, "PUT", "/api/config", None, Some(&new));
    assert_eq!(saved.status, 200, "{}", saved.body);
    let saved = saved.json("PUT /api/config")["saved"].clone();
    assert_eq!(saved["restart_needed"], true, "{saved}");
    assert_eq!(saved["path"], path.display().to_string().as_str(), "{saved}");
    let backup = std::path::PathBuf::from(saved["backup"].as_str().expect("backup"));
    assert_eq!(
        std::fs::read_to_string(&backup).expect("the backup exists"),
        original,
        "the backup holds the old text"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        new,
        "the file has the new text"
    );
    assert_eq!(get(admin, "/api/config").json("/api/config")["text"], new.as_str());
    assert_eq!(
        get(admin, "/health").json("/health")["system_alias"],
        "editing",
        "the running host keeps its config until restarted"
    );

    // Over 1 MiB: refused, nothing written.
    let mut big = new.clone();
    while big.len() <= 1024 * 1024 {
        big.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let refused = call(admin, "PUT", "/api/config", None, Some(&big));
    assert!(
        refused.status == 413 || refused.status == 422,
        "a config over 1 MiB: {} {}",
        refused.status,
        refused.body
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), new, "nothing saved");
    let checked = call(admin, "POST", "/api/config/validate", None, Some(&big));
    assert!(
        checked.status == 413 || checked.status == 422,
        "{} {}",
        checked.status,
        checked.body
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Bounds

#[test]
fn long_paths_big_bodies_and_idle_connections_do_not_stop_the_server() {
    const TOKEN: &str = "bounds-tok-5xY";
    let bearer = format!("Bearer {TOKEN}");
    let (admin, telnet) = (free_port(), free_port());
    let top = format!("admin:\n  bind: \"127.0.0.1:{admin}\"\n  auth: {{token: \"${{ADMIN_TOKEN}}\"}}\n");
    let (_host, _tmp) = start(
        "admin-bounds",
        &telnet_yaml("bounds", telnet, "echo", &top),
        &[("ADMIN_TOKEN", TOKEN)],
    );
    let healthy = || {
        let r = call(admin, "GET", "/health", Some(&bearer), None);
        assert_eq!(r.status, 200, "{}", r.body);
    };

    // A 200 KB path.
    let long = format!("/{}", "a".repeat(200 * 1024));
    let head = format!("GET {long} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {bearer}\r\nConnection: close");
    let (status, answer) = raw(admin, &head, Vec::new());
    let status = status.unwrap_or_else(|| panic!("no HTTP answer to a 200 KB path: {}", short(&answer)));
    assert_eq!(status, 414, "a 200 KB path: {}", short(&answer));
    assert!(
        answer.len() < 4096,
        "the answer does not echo the path: {} bytes",
        answer.len()
    );
    healthy();

    // A 2 MB body, announced and sent.
    let body = vec![b'#'; 2 * 1024 * 1024];
    for (method, path) in [("PUT", "/api/config"), ("POST", "/api/config/validate")] {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {bearer}\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\nConnection: close",
            body.len()
        );
        let (status, answer) = raw(admin, &head, body.clone());
        assert_eq!(status, Some(413), "{method} {path} with 2 MB: {}", short(&answer));
        healthy();
    }

    // 300 idle connections at once.
    let idle: Vec<TcpStream> = (0..300)
        .map(|i| TcpStream::connect(("127.0.0.1", admin)).unwrap_or_else(|e| panic!("idle connection {i}: {e}")))
        .collect();
    for s in &idle {
        s.set_nonblocking(true).expect("nonblocking");
    }
    let closed = |streams: &[TcpStream]| {
        streams
            .iter()
            .filter(|s| {
                let mut reader: &TcpStream = s;
                let mut b = [0u8; 1];
                match reader.read(&mut b) {
                    Ok(n) => n == 0,
                    Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                }
            })
            .count()
    };
    eventually("the server closes the connections over its cap", WAIT, || {
        closed(&idle) >= 300 - 256
    });
    drop(idle);
    let deadline = Instant::now() + WAIT;
    let answered = loop {
        match try_call(admin, "GET", "/health", Some(&bearer), None) {
            Ok(r) => break r,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "no answer after the idle connections closed: {e}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    assert_eq!(answered.status, 200, "{}", answered.body);
    let unauthorised = call(admin, "GET", "/health", None, None);
    assert_eq!(unauthorised.status, 401);
}
