//! The HTTP transport and the HTTP relay against hostile peers and hostile config: each test
//! asserts a bound (memory, open files, answers, status codes), never a time.

use ruvuma_tests::hostile::{huge_answer, request_with, trickling_connections, try_post};
use ruvuma_tests::procfs::{mb, open_fds, peak_rss, rss};
use ruvuma_tests::*;
use std::time::Duration;

const JSON: &str = "application/json";
const MSG: &str = r#"{"from_addr": "a", "to_addr": "b", "content": "hi"}"#;
/// Half a gigabyte: far more than the host may hold for one answer.
const HUGE: u64 = 500 * 1024 * 1024;

fn lines_starting_with(log: &str, prefix: &str) -> usize {
    log.lines().filter(|l| l.starts_with(prefix)).count()
}

#[test]
fn a_relay_answer_larger_than_max_reply_body_fails_the_message_not_the_host() {
    let (url, _sent) = huge_answer(HUGE);
    let yaml = format!(
        "transports:\n  telnet: {{plugin: telnet, config: {{bind: \"127.0.0.1:{{port}}\"}}}}\n\
         applications:\n  relay:\n    plugin: http_relay\n    endpoint: telnet\n    \
         config: {{url: \"{url}/m\", delivery: {{retries: 0}}}}\n"
    );
    let (mut host, port, _tmp) = start_on_port("hugerelay", &yaml);
    let mut user = Telnet::connect(port);
    // What the running host holds before the answer: the bound is on what the answer adds (the
    // debug host's own size moves by several MB from run to run with its threads' heaps).
    let before = rss(host.pid());
    user.send("tell me everything");
    host.wait_for_log("larger than max_reply_body (1048576 bytes)", Duration::from_secs(30));
    let peak = peak_rss(host.pid()).max(before);
    let added = peak - before;
    println!(
        "relay, 500 MB answer: peak RSS {} MB, {} MB over the {} MB before it",
        mb(peak),
        mb(added),
        mb(before)
    );
    assert!(added < 50 * 1024 * 1024, "the answer added {} MB", mb(added));
    assert!(peak < 150 * 1024 * 1024, "peak RSS {} MB", mb(peak));
}

#[test]
fn an_outbound_answer_larger_than_max_reply_body_nacks_the_message() {
    let (url, _sent) = huge_answer(HUGE);
    let yaml = format!(
        "transports:\n  web:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{{port}}\", outbound_url: \"{url}/out\", \
         outbound: {{retries: 0, max_reply_body: 4096}}}}\n\
         applications:\n  app:\n    endpoint: web\n    plugin: slow_echo\n    config: {{delay_ms: 0}}\n"
    );
    let (mut host, port, _tmp) = start_on_port("hugeout", &yaml);
    assert_eq!(http_post(&format!("http://127.0.0.1:{port}/"), JSON, MSG, None).0, 202);
    host.wait_for_log("slow_echo got nack for", Duration::from_secs(30));
    let log = host.log();
    let nack = log
        .lines()
        .find(|l| l.contains("slow_echo got nack for"))
        .unwrap_or_default();
    assert!(nack.contains("larger than max_reply_body (4096 bytes)"), "{nack}");
    let peak = peak_rss(host.pid());
    println!("transport outbound, 500 MB answer: peak RSS {} MB", mb(peak));
    assert!(peak < 100 * 1024 * 1024, "peak RSS {} MB", mb(peak));
}

#[test]
fn redirects_are_not_followed_unless_configured() {
    let (url, got) = receiver(|_, _, _| (302, vec![("location", "/elsewhere")], String::new()));
    let yaml = format!(
        "transports:\n  web:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{{port}}\", outbound_url: \"{url}/out\"}}\n\
         applications:\n  app:\n    endpoint: web\n    plugin: slow_echo\n    config: {{delay_ms: 0}}\n"
    );
    let (mut host, port, _tmp) = start_on_port("redirect", &yaml);
    assert_eq!(http_post(&format!("http://127.0.0.1:{port}/"), JSON, MSG, None).0, 202);
    host.wait_for_log("slow_echo got nack for", Duration::from_secs(30));
    assert!(host.log().contains("follow_redirects is off"), "{}", host.log());
    let paths: Vec<String> = got.lock().unwrap().iter().map(|(p, _, _)| p.clone()).collect();
    assert_eq!(paths, ["/out"], "the redirect was not followed");
}

#[test]
fn a_peer_cannot_forge_log_lines() {
    let (url, _got) = receiver(|_, _, _| (500, vec![], "x\nERROR forged line".into()));
    let yaml = format!(
        "transports:\n  telnet: {{plugin: telnet, config: {{bind: \"127.0.0.1:{{port}}\"}}}}\n\
         applications:\n  relay:\n    plugin: http_relay\n    endpoint: telnet\n    \
         config: {{url: \"{url}/m\", delivery: {{retries: 0}}}}\n"
    );
    let (mut host, port, _tmp) = start_on_port("forge", &yaml);
    let mut user = Telnet::connect(port);
    user.send("hello");
    host.wait_for_log("HTTP 500", Duration::from_secs(30));
    let log = host.log();
    assert_eq!(lines_starting_with(&log, "ERROR forged line"), 0, "{log}");
    assert!(
        log.contains(r"x\nERROR forged line"),
        "the body is logged, escaped:\n{log}"
    );
}

#[test]
fn idle_connections_do_not_starve_the_server_or_its_file_descriptors() {
    let tmp = TempDir::new("idleconns");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let (outbound, _got) = receiver(|_, _, _| (200, vec![], String::new()));
    // The defaults: max_connections 512, header_timeout_ms 10000.
    let yaml = format!(
        "transports:\n  web:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{port}\", outbound_url: \"{outbound}/\"}}\n\
         applications:\n  app: {{plugin: echo, endpoint: web}}\n"
    );
    let host = Host::start_with_fd_limit(&yaml, &["--plugin-dir", plugins.to_str().unwrap()], 1024);
    let held = trickling_connections(port, 2000);
    let fds = open_fds(host.pid());
    println!(
        "{} trickling connections held; the host has {fds} files open",
        held.len()
    );
    assert!(held.len() > 1100, "only {} connections opened", held.len());
    assert!(fds < 512 + 100, "{fds} files open with max_connections 512");
    let url = format!("http://127.0.0.1:{port}/");
    eventually("a normal request answered 202", Duration::from_secs(30), || {
        try_post(&url, MSG, Duration::from_secs(5)).is_some_and(|(status, _)| status == 202)
    });
    drop(held);
    let log = host.log();
    let warnings = log
        .lines()
        .filter(|l| l.contains("max_connections (512) reached"))
        .count();
    println!("peak RSS {} MB, {warnings} warning(s)", mb(peak_rss(host.pid())));
    assert!(
        (1..10).contains(&warnings),
        "{warnings} warnings about the limit:\n{log}"
    );
}

#[test]
fn a_full_bus_answers_503_with_retry_after_instead_of_holding_requests() {
    let (outbound, _got) = receiver(|_, _, _| (200, vec![], String::new()));
    let yaml = format!(
        "bus: {{memory: {{capacity: 1}}}}\n\
         transports:\n  web:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{{port}}\", outbound_url: \"{outbound}/\"}}\n\
         applications:\n  app:\n    endpoint: web\n    plugin: slow_echo\n    config: {{delay_ms: 2000}}\n"
    );
    let (host, port, _tmp) = start_on_port("fullbus", &yaml);
    let url = format!("http://127.0.0.1:{port}/");
    let clients: Vec<_> = (0..40)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                (0..5)
                    .map(|_| try_post(&url, MSG, Duration::from_secs(20)))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let answers: Vec<_> = clients.into_iter().flat_map(|c| c.join().expect("client")).collect();
    let unanswered = answers.iter().filter(|a| a.is_none()).count();
    let accepted = answers.iter().filter(|a| matches!(a, Some((202, _)))).count();
    let refused = answers
        .iter()
        .filter(|a| matches!(a, Some((503, Some(after))) if after == "1"))
        .count();
    println!(
        "200 requests: {accepted} accepted, {refused} refused, {unanswered} unanswered; peak RSS {} MB",
        mb(peak_rss(host.pid()))
    );
    assert_eq!(unanswered, 0, "requests left without an answer");
    assert_eq!(accepted + refused, 200, "{answers:?}");
    assert!(refused > 0 && accepted > 0, "{accepted} accepted, {refused} refused");
}

#[test]
fn a_draining_transport_answers_503_and_finishes_what_it_accepted() {
    let (outbound, got) = receiver(|_, _, _| (200, vec![], String::new()));
    let yaml = format!(
        "transports:\n  web:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{{port}}\", outbound_url: \"{outbound}/\"}}\n\
         applications:\n  app:\n    endpoint: web\n    plugin: slow_echo\n    config: {{delay_ms: 3000}}\n"
    );
    let (mut host, port, _tmp) = start_on_port("drain", &yaml);
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(try_post(&url, MSG, Duration::from_secs(20)).map(|a| a.0), Some(202));
    host.signal("TERM");
    host.wait_for_log("shutting down", Duration::from_secs(10));
    // Until the transport drains, requests are still taken (and must be finished).
    let mut accepted = 1;
    let late = loop {
        match try_post(&url, MSG, Duration::from_secs(20)) {
            Some((202, _)) if accepted < 1000 => accepted += 1,
            other => break other,
        }
    };
    assert_eq!(late, Some((503, Some("1".to_owned()))), "a request after drain");
    assert!(host.wait(Duration::from_secs(60)).success(), "{}", host.log());
    assert_eq!(
        got.lock().unwrap().len(),
        accepted,
        "every accepted message's reply went out"
    );
}

#[test]
fn auth_schemes_ignore_case_and_other_methods_get_405() {
    let yaml = "transports:\n  web:\n    plugin: http\n    config: {bind: \"127.0.0.1:{port}\", mode: sync, auth: {username: ops, password: s3cret}}\n\
        applications:\n  app: {plugin: echo, endpoint: web}\n";
    let (_host, port, _tmp) = start_on_port("authcase", yaml);
    let url = format!("http://127.0.0.1:{port}/");
    for scheme in ["Basic", "basic", "BASIC"] {
        let given = format!("{scheme} b3BzOnMzY3JldA==");
        assert_eq!(request_with("POST", &url, Some(&given), MSG).0, 200, "{given}");
    }
    assert_eq!(request_with("POST", &url, Some("basic b3BzOndyb25n"), MSG).0, 401);
    let (status, allow) = request_with("PUT", &url, Some("Basic b3BzOnMzY3JldA=="), MSG);
    assert_eq!(status, 405);
    assert!(allow.is_some_and(|a| a.contains("POST")), "Allow names POST");
    assert_eq!(request_with("DELETE", &url, None, "").0, 405);
}

/// `ruvuma validate` on `yaml` with every plugin: (exit code, stderr).
fn validate_yaml(yaml: &str) -> (Option<i32>, String) {
    let tmp = TempDir::new("hvalidate");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let config = tmp.write("config.yaml", yaml);
    let (code, _, stderr) = validate_with(&config, &plugins);
    (code, stderr)
}

#[test]
fn empty_secrets_are_config_errors_naming_the_key() {
    let yaml = "transports:\n  tel: {plugin: telnet, config: {bind: \"127.0.0.1:1\"}}\n  web:\n    plugin: http\n    config:\n      \
        auth: {username: \"${RUVUMA_UNSET_USER:-}\", password: \"${RUVUMA_UNSET_PW:-}\"}\n      \
        outbound_url: \"http://127.0.0.1:1/\"\n      outbound_auth: {token: \"\"}\n\
        applications:\n  app: {plugin: echo, endpoint: web}\n  \
        relay:\n    plugin: http_relay\n    endpoint: tel\n    config: {url: \"http://127.0.0.1:1/\", auth: {username: u, password: \" \"}}\n";
    let (code, stderr) = validate_yaml(yaml);
    assert_eq!(code, Some(1), "{stderr}");
    for key in ["auth.username", "auth.password", "outbound_auth.token"] {
        assert!(stderr.contains(&format!("\"{key}\"")), "{key} named:\n{stderr}");
    }
    assert!(
        stderr.contains("application \"relay\": key \"auth.password\""),
        "{stderr}"
    );
    assert_eq!(stderr.matches("is empty").count(), 4, "{stderr}");
}

#[test]
fn a_bad_auth_block_names_the_accepted_shapes() {
    let yaml = "transports:\n  web:\n    plugin: http\n    config: {auth: {username: ops}}\n\
        applications:\n  app: {plugin: echo, endpoint: web}\n";
    let (code, stderr) = validate_yaml(yaml);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("{username, password} (basic) or {token} (bearer)"),
        "{stderr}"
    );
    assert!(!stderr.contains("untagged"), "{stderr}");
}

#[test]
fn every_number_in_the_http_config_has_a_range() {
    let yaml = "transports:\n  tel: {plugin: telnet, config: {bind: \"127.0.0.1:1\"}}\n  web:\n    plugin: http\n    config:\n      \
        reply_timeout_ms: 18446744073709551615\n      max_body: 0\n      session_timeout: 99999999999\n      \
        header_timeout_ms: 1\n      body_timeout_ms: 0\n      max_connections: 0\n      publish_timeout_ms: 0\n      \
        outbound: {timeout_ms: 0, retries: 4000000000, backoff_ms: 0, max_reply_body: 0}\n\
        applications:\n  app: {plugin: echo, endpoint: web}\n  \
        relay:\n    plugin: http_relay\n    endpoint: tel\n    config: {url: \"http://127.0.0.1:1/\", delivery: {max_reply_body: 18446744073709551615}}\n";
    let (code, stderr) = validate_yaml(yaml);
    assert_eq!(code, Some(1), "{stderr}");
    for key in [
        "reply_timeout_ms",
        "max_body",
        "session_timeout",
        "header_timeout_ms",
        "body_timeout_ms",
        "max_connections",
        "publish_timeout_ms",
        "outbound.timeout_ms",
        "outbound.retries",
        "outbound.backoff_ms",
        "outbound.max_reply_body",
        "delivery.max_reply_body",
    ] {
        let line = stderr
            .lines()
            .find(|l| l.contains(&format!("\"{key}\"")))
            .unwrap_or_default();
        assert!(line.contains("is outside"), "{key}:\n{stderr}");
    }
}

#[test]
fn a_trickled_head_is_closed_and_a_trickled_body_gets_408() {
    use std::io::{Read, Write};
    let yaml = "transports:\n  web:\n    plugin: http\n    config: {bind: \"127.0.0.1:{port}\", header_timeout_ms: 500, body_timeout_ms: 500}\n\
        applications:\n  app: {plugin: echo, endpoint: web}\n";
    let (_host, port, _tmp) = start_on_port("trickle", yaml);
    let connect = || {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        s
    };
    // Half a head, then nothing: the server closes the connection (read ends, no answer).
    let mut head = connect();
    head.write_all(b"POST / HTTP/1.1\r\nhost: x\r\n").expect("write");
    let mut got = Vec::new();
    let read = head.read_to_end(&mut got);
    assert!(read.is_ok(), "the connection was closed, not left open: {read:?}");
    // A whole head promising 100 bytes of body, and 10 of them: 408.
    let mut body = connect();
    body.write_all(
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"from_ad",
    )
    .expect("write");
    let mut answer = [0u8; 64];
    let n = body.read(&mut answer).expect("an answer, not a wait");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// A password in a relay URL stays out of the log, whatever fails on the way to it.
#[test]
fn a_password_in_a_relay_url_stays_out_of_the_log() {
    let dead = free_port();
    let yaml = format!(
        "transports:\n  telnet: {{plugin: telnet, config: {{bind: \"127.0.0.1:{{port}}\"}}}}\n\
         applications:\n  relay:\n    plugin: http_relay\n    endpoint: telnet\n    \
         config: {{url: \"http://ops:s3cretpw@127.0.0.1:{dead}/m\", delivery: {{retries: 0}}}}\n"
    );
    let (mut host, port, _tmp) = start_on_port("relay-secret", &yaml);
    let mut user = Telnet::connect(port);
    user.send("hello");
    host.wait_for_log("cannot reach", Duration::from_secs(30));
    let log = host.log();
    assert!(log.contains(&format!("http://ops:***@127.0.0.1:{dead}/m")), "{log}");
    assert!(!log.contains("s3cretpw"), "the password leaked:\n{log}");
}
