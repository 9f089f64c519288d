//! The HTTP transport, the HTTP relay and the USSD menu, over real HTTP.

use ruvuma_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

fn direct(transport: &str, app: &str) -> String {
    // An application whose endpoint is the transport's name talks to it with no dispatcher.
    format!("transports:\n  web:\n{transport}applications:\n  app:\n    endpoint: web\n{app}")
}

const JSON: &str = "application/json";

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not JSON: {e}"))
}

#[test]
fn async_mode_accepts_then_delivers_the_reply_and_acks_it() {
    let (outbound, received) = receiver(|_, _, _| (200, vec![], r#"{"message_id": "remote-7"}"#.into()));
    let yaml = direct(
        &format!("    plugin: http\n    config: {{bind: \"127.0.0.1:{{port}}\", path: /in, outbound_url: \"{outbound}/out\"}}\n"),
        "    plugin: slow_echo\n    config: {delay_ms: 0}\n",
    );
    let (mut host, port, _tmp) = start_on_port("async", &yaml);
    let (status, body) = http_post(
        &format!("http://127.0.0.1:{port}/in"),
        JSON,
        r#"{"from_addr": "+27831234567", "to_addr": "*120#", "content": "hi"}"#,
        None,
    );
    assert_eq!(status, 202, "{body}");
    let id = json_of(&body)["message_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(id.len(), 32, "{body}");
    eventually("the reply reaching outbound_url", Duration::from_secs(10), || {
        !received.lock().unwrap().is_empty()
    });
    let (path, headers, sent) = received.lock().unwrap()[0].clone();
    assert_eq!(path, "/out");
    assert!(
        headers.to_lowercase().contains("content-type: application/json"),
        "{headers}"
    );
    let sent = json_of(&sent);
    assert_eq!(sent["message_type"], "user_message");
    assert_eq!(sent["content"], "hi");
    assert_eq!(sent["in_reply_to"], id.as_str());
    assert_eq!(sent["to_addr"], "+27831234567");
    host.wait_for_log("slow_echo got ack for", Duration::from_secs(10));
}

#[test]
fn sync_mode_answers_with_the_reply() {
    let yaml = direct(
        "    plugin: http\n    config: {bind: \"127.0.0.1:{port}\", mode: sync}\n",
        "    plugin: echo\n",
    );
    let (_host, port, _tmp) = start_on_port("sync", &yaml);
    let (status, body) = http_post(
        &format!("http://127.0.0.1:{port}/"),
        JSON,
        r#"{"from_addr": "u1", "to_addr": "s", "content": "ping"}"#,
        None,
    );
    assert_eq!(status, 200, "{body}");
    let reply = json_of(&body);
    assert_eq!(reply["content"], "ping");
    assert_eq!(reply["continue_session"], true);
    assert_eq!(reply["in_reply_to"].as_str().map(str::len), Some(32));
}

#[test]
fn sync_mode_times_out_with_504() {
    let yaml = direct(
        "    plugin: http\n    config: {bind: \"127.0.0.1:{port}\", mode: sync, reply_timeout_ms: 300}\n",
        "    plugin: slow_echo\n    config: {delay_ms: 2000}\n",
    );
    let (mut host, port, _tmp) = start_on_port("timeout", &yaml);
    let (status, body) = http_post(
        &format!("http://127.0.0.1:{port}/"),
        JSON,
        r#"{"from_addr": "u", "to_addr": "s", "content": "slow"}"#,
        None,
    );
    assert_eq!(status, 504, "{body}");
    assert!(
        json_of(&body)["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no reply within 300 ms"),
        "{body}"
    );
    // The late reply finds no request to answer: it is nacked back to the application.
    host.wait_for_log("slow_echo got nack for", Duration::from_secs(10));
}

/// Richmond's FooBar over JSON, exactly as config/ussd-http.yaml runs it.
#[test]
fn the_foobar_conversation_through_config_ussd_http() {
    let text = std::fs::read_to_string(built().root.join("config/ussd-http.yaml")).expect("config");
    assert!(text.contains("127.0.0.1:9020"));
    let (_host, port, _tmp) = start_on_port("foobar", &text.replace("127.0.0.1:9020", "127.0.0.1:{port}"));
    let url = format!("http://127.0.0.1:{port}/ussd");
    let say = |body: Value| {
        let (status, text) = http_post(&url, JSON, &body.to_string(), None);
        assert_eq!(status, 200, "{text}");
        let v = json_of(&text);
        (
            v["content"].as_str().unwrap_or_default().to_owned(),
            v["continue_session"].as_bool().unwrap_or(false),
        )
    };
    let user = json!({"from_addr": "+27831234567", "to_addr": "*120#"});
    let with = |extra: Value| {
        let mut v = user.clone();
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    assert_eq!(say(with(json!({"session_event": "new"}))), ("foo?".to_owned(), true));
    assert_eq!(
        say(with(json!({"session_event": "resume", "content": "baz"}))),
        ("Say bar ...".to_owned(), true)
    );
    assert_eq!(
        say(with(json!({"session_event": "resume", "content": "bar"}))),
        ("Clever. Bye!".to_owned(), false)
    );
    // A new dial starts over; "0" ends it too (for phones that cannot type letters).
    assert_eq!(say(with(json!({"session_event": "new"}))).0, "foo?");
    assert_eq!(say(with(json!({"content": "0"}))), ("Clever. Bye!".to_owned(), false));
}

/// An aggregator that speaks form fields and CON/END text, with its own field names; a session
/// id seen for the first time opens a session.
#[test]
fn form_mode_with_aggregator_field_names_and_text_answers() {
    let yaml = "transports:\n  ussd:\n    plugin: http\n    config:\n      bind: \"127.0.0.1:{port}\"\n      mode: sync\n      \
        request_format: form\n      response_format: text\n      \
        fields: {from_addr: phoneNumber, to_addr: serviceCode, content: text, session_id: sessionId}\n\
        applications:\n  menu: {plugin: ussd_menu, endpoint: ussd}\n";
    let (_host, port, _tmp) = start_on_port("form", yaml);
    let url = format!("http://127.0.0.1:{port}/");
    let form = "application/x-www-form-urlencoded";
    let first = http_post(
        &url,
        form,
        "sessionId=s1&phoneNumber=%2B254711000000&serviceCode=*384%23&text=",
        None,
    );
    assert_eq!(first, (200, "CON foo?".to_owned()));
    let second = http_post(
        &url,
        form,
        "sessionId=s1&phoneNumber=%2B254711000000&serviceCode=*384%23&text=nope",
        None,
    );
    assert_eq!(second, (200, "CON Say bar ...".to_owned()));
    let last = http_post(
        &url,
        form,
        "sessionId=s1&phoneNumber=%2B254711000000&serviceCode=*384%23&text=bar",
        None,
    );
    assert_eq!(last, (200, "END Clever. Bye!".to_owned()));
    let missing = http_post(&url, form, "sessionId=s2&serviceCode=*384%23", None);
    assert_eq!(missing.0, 400);
    assert!(
        missing.1.contains("field \\\"phoneNumber\\\" is missing"),
        "{}",
        missing.1
    );
}

#[test]
fn an_idle_ussd_session_times_out_and_is_logged() {
    let yaml = direct(
        "    plugin: http\n    config: {bind: \"127.0.0.1:{port}\", mode: sync}\n",
        "    plugin: ussd_menu\n    config: {timeout: 1}\n",
    );
    let (mut host, port, _tmp) = start_on_port("idle", &yaml);
    let (status, _) = http_post(
        &format!("http://127.0.0.1:{port}/"),
        JSON,
        r#"{"from_addr": "+27820000001", "to_addr": "*1#", "session_event": "new"}"#,
        None,
    );
    assert_eq!(status, 200);
    host.wait_for_log("+27820000001 timed out", Duration::from_secs(10));
    // Coming back after the timeout starts a new session.
    let (_, body) = http_post(
        &format!("http://127.0.0.1:{port}/"),
        JSON,
        r#"{"from_addr": "+27820000001", "to_addr": "*1#", "content": "bar"}"#,
        None,
    );
    assert_eq!(json_of(&body)["content"], "foo?");
}

#[test]
fn failing_receiver_is_retried_then_the_message_is_nacked() {
    let (outbound, received) = receiver(|_, _, _| (503, vec![], "busy".into()));
    let yaml = direct(
        &format!(
            "    plugin: http\n    config:\n      bind: \"127.0.0.1:{{port}}\"\n      outbound_url: \"{outbound}/out\"\n      \
             outbound: {{retries: 2, backoff_ms: 20, timeout_ms: 2000}}\n"
        ),
        "    plugin: slow_echo\n    config: {delay_ms: 0}\n",
    );
    let (mut host, port, _tmp) = start_on_port("retry", &yaml);
    let (status, _) = http_post(
        &format!("http://127.0.0.1:{port}/"),
        JSON,
        r#"{"from_addr": "a", "to_addr": "b", "content": "x"}"#,
        None,
    );
    assert_eq!(status, 202);
    host.wait_for_log("slow_echo got nack for", Duration::from_secs(10));
    let log = host.log();
    let nack = log
        .lines()
        .find(|l| l.contains("slow_echo got nack for"))
        .unwrap_or_default();
    assert!(nack.contains("HTTP 503") && nack.contains("after 3 attempts"), "{nack}");
    assert_eq!(received.lock().unwrap().len(), 3, "one try and two retries");
}

#[test]
fn a_client_error_is_nacked_without_retrying() {
    let (outbound, received) = receiver(|_, _, _| (404, vec![], "no such endpoint".into()));
    let yaml = direct(
        &format!("    plugin: http\n    config: {{bind: \"127.0.0.1:{{port}}\", outbound_url: \"{outbound}/x\", outbound: {{retries: 3, backoff_ms: 20}}}}\n"),
        "    plugin: slow_echo\n    config: {delay_ms: 0}\n",
    );
    let (mut host, port, _tmp) = start_on_port("404", &yaml);
    http_post(
        &format!("http://127.0.0.1:{port}/"),
        JSON,
        r#"{"from_addr": "a", "to_addr": "b", "content": "x"}"#,
        None,
    );
    host.wait_for_log("slow_echo got nack for", Duration::from_secs(10));
    assert!(host.log().contains("HTTP 404"), "{}", host.log());
    assert_eq!(received.lock().unwrap().len(), 1);
}

#[test]
fn bad_requests_are_refused_and_nothing_is_published() {
    let (outbound, received) = receiver(|_, _, _| (200, vec![], String::new()));
    let yaml = direct(
        &format!("    plugin: http\n    config: {{bind: \"127.0.0.1:{{port}}\", max_body: 200, outbound_url: \"{outbound}/\"}}\n"),
        "    plugin: echo\n",
    );
    let (_host, port, _tmp) = start_on_port("bad", &yaml);
    let url = format!("http://127.0.0.1:{port}/");
    let (status, body) = http_post(&url, JSON, "{not json", None);
    assert_eq!(status, 400);
    assert!(
        json_of(&body)["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("not valid JSON"),
        "{body}"
    );
    let (status, body) = http_post(&url, JSON, r#"{"to_addr": "x", "content": "hi"}"#, None);
    assert_eq!(
        (status, json_of(&body)["error"].as_str().unwrap_or_default()),
        (400, "field \"from_addr\" is missing")
    );
    let (status, body) = http_post(&url, JSON, r#"{"from_addr": 27, "to_addr": "x"}"#, None);
    assert_eq!(status, 400);
    assert!(body.contains("from_addr") && body.contains("a number"), "{body}");
    let (status, body) = http_post(
        &url,
        JSON,
        r#"{"from_addr": "a", "to_addr": "b", "session_event": "open"}"#,
        None,
    );
    assert_eq!(status, 400, "{body}");
    let big = format!(
        r#"{{"from_addr": "a", "to_addr": "b", "content": "{}"}}"#,
        "x".repeat(300)
    );
    let (status, body) = http_post(&url, JSON, &big, None);
    assert_eq!(status, 413);
    assert!(
        json_of(&body)["error"]
            .as_str()
            .unwrap_or_default()
            .contains("larger than max_body (200 bytes)"),
        "{body}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(received.lock().unwrap().is_empty(), "no bad request became a message");
    let (status, _) = http_post(
        &url,
        JSON,
        r#"{"from_addr": "a", "to_addr": "b", "content": "good"}"#,
        None,
    );
    assert_eq!(status, 202);
    eventually("the good message's reply", Duration::from_secs(10), || {
        received.lock().unwrap().len() == 1
    });
}

#[test]
fn inbound_requires_the_configured_credentials() {
    let yaml = "transports:\n  basic:\n    plugin: http\n    config: {bind: \"127.0.0.1:{port}\", mode: sync, auth: {username: ops, password: s3cret}}\n\
        applications:\n  app: {plugin: echo, endpoint: basic}\n";
    let (_host, port, _tmp) = start_on_port("auth", yaml);
    let url = format!("http://127.0.0.1:{port}/");
    let body = r#"{"from_addr": "a", "to_addr": "b", "content": "hi"}"#;
    let (status, text) = http_post(&url, JSON, body, None);
    assert_eq!(status, 401, "{text}");
    assert_eq!(
        http_post(&url, JSON, body, Some("Basic b3BzOndyb25n")).0,
        401,
        "ops:wrong"
    );
    assert_eq!(
        http_post(&url, JSON, body, Some("Basic b3BzOnMzY3JldA==")).0,
        200,
        "ops:s3cret"
    );
}

#[test]
fn bearer_token_from_the_environment() {
    let tmp = TempDir::new("bearer");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let yaml = format!(
        "transports:\n  web:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{port}\", mode: sync, auth: {{token: \"${{RUVUMA_TEST_TOKEN}}\"}}}}\n\
         applications:\n  app: {{plugin: echo, endpoint: web}}\n"
    );
    let _host = Host::start_with_env(
        &yaml,
        &["--plugin-dir", plugins.to_str().unwrap()],
        &[("RUVUMA_TEST_TOKEN", "t0ken")],
    );
    let url = format!("http://127.0.0.1:{port}/");
    let body = r#"{"from_addr": "a", "to_addr": "b", "content": "hi"}"#;
    assert_eq!(http_post(&url, JSON, body, Some("Bearer wrong")).0, 401);
    assert_eq!(http_post(&url, JSON, body, Some("Bearer t0ken")).0, 200);
}

#[test]
fn relay_sends_back_json_and_plain_text_replies_and_posts_events() {
    let (url, got) = receiver(|_, path, body| match (path, body.contains("\"content\":\"one\"")) {
        ("/messages", true) => (
            200,
            vec![("content-type", "application/json")],
            r#"{"content": "relayed"}"#.into(),
        ),
        ("/messages", false) => (200, vec![("X-Vumi-HTTPRelay-Reply", "true")], "plain reply".into()),
        _ => (200, vec![], String::new()),
    });
    let yaml = format!(
        "transports:\n  telnet: {{plugin: telnet, config: {{bind: \"127.0.0.1:{{port}}\"}}}}\n\
         applications:\n  relay:\n    plugin: http_relay\n    endpoint: telnet\n    concurrency: 4\n    \
         config: {{url: \"{url}/messages\", event_url: \"{url}/events\"}}\n"
    );
    let (_host, port, _tmp) = start_on_port("relay", &yaml);
    let mut user = Telnet::connect(port);
    user.send("one");
    user.send("two");
    // The session's opening, "one" and "two" are relayed at once (concurrency 4), so their
    // replies come in any order.
    let mut replies: Vec<String> = (0..3).map(|_| user.read_line().unwrap()).collect();
    replies.sort();
    assert_eq!(replies, ["plain reply", "plain reply", "relayed"]);
    eventually("events POSTed to event_url", Duration::from_secs(10), || {
        got.lock()
            .unwrap()
            .iter()
            .filter(|(p, _, b)| p == "/events" && b.contains("\"event_type\":\"ack\""))
            .count()
            >= 2
    });
    let posted = got.lock().unwrap().clone();
    assert!(
        posted
            .iter()
            .any(|(p, _, b)| p == "/messages" && b.contains("\"content\":\"one\"")),
        "{posted:?}"
    );
}

/// config/http-relay.yaml as it is, its URLs from the environment.
#[test]
fn the_http_relay_config_runs_as_it_is() {
    let (url, got) = receiver(|n, _, _| {
        if n == 0 {
            (500, vec![], "down".into())
        } else {
            (200, vec![], r#"{"content": "from the web"}"#.into())
        }
    });
    let text = std::fs::read_to_string(built().root.join("config/http-relay.yaml")).expect("config");
    assert!(text.contains("127.0.0.1:9010"));
    let tmp = TempDir::new("relaycfg");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let env = [
        ("RELAY_URL", format!("{url}/m")),
        ("RELAY_EVENT_URL", format!("{url}/e")),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut host = Host::start_with_env(
        &text.replace("127.0.0.1:9010", &format!("127.0.0.1:{port}")),
        &["--plugin-dir", plugins.to_str().unwrap()],
        &env,
    );
    let mut user = Telnet::connect(port);
    user.send("hello web");
    // The first answer is a 500: retried (the config allows two retries), then answered.
    assert_eq!(user.read_line().unwrap(), "from the web");
    host.wait_for_log("HTTP 500", Duration::from_secs(5));
    assert!(got.lock().unwrap().iter().filter(|(p, _, _)| p == "/m").count() >= 2);
}

#[test]
fn a_relay_that_keeps_failing_is_logged_with_the_message() {
    let (url, _got) = receiver(|_, _, _| (502, vec![], "bad gateway".into()));
    let yaml = format!(
        "transports:\n  telnet: {{plugin: telnet, config: {{bind: \"127.0.0.1:{{port}}\"}}}}\n\
         applications:\n  relay:\n    plugin: http_relay\n    endpoint: telnet\n    \
         config: {{url: \"{url}/\", delivery: {{retries: 1, backoff_ms: 10}}}}\n"
    );
    let (mut host, port, _tmp) = start_on_port("relayfail", &yaml);
    let mut user = Telnet::connect(port);
    user.send("anyone?");
    // The retry is logged first (a warning), the failure once the retries are spent.
    host.wait_for_log("after 2 attempts", Duration::from_secs(10));
    let log = host.log();
    let line = log
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("HTTP 502"))
        .unwrap_or_default();
    assert!(
        line.contains("after 2 attempts") && line.contains("message_id="),
        "{line}"
    );
    user.send("still relaying");
    eventually("the next message tried too", Duration::from_secs(10), || {
        host.log().matches("after 2 attempts").count() >= 2
    });
}
