//! The `xmpp` transport against a real XMPP server not written here: Prosody, from Debian's
//! package, started by each test on loopback with its own accounts and its own CA. The people
//! chatting with the transport are tokio-xmpp clients (`XmppUser`); the transport speaks
//! STARTTLS with the test CA as its `ca_file`.

use ruvuma_tests::prosody::Prosody;
use ruvuma_tests::smsc::{Smsc, SmscConfig};
use ruvuma_tests::tcp_proxy::TcpProxy;
use ruvuma_tests::xmpp_user::XmppUser;
use ruvuma_tests::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const BOT_PASSWORD: &str = "b0t-s3cret-pw";
const ALICE_PASSWORD: &str = "alice-pw";

fn server() -> Prosody {
    let p = Prosody::start();
    p.register("bot", BOT_PASSWORD);
    p.register("alice", ALICE_PASSWORD);
    p.register("carol", ALICE_PASSWORD);
    p
}

/// A host whose `xmpp` transport (endpoint `xmpp`) logs in to port `port` as bot@localhost,
/// with `app` (YAML of one application on that endpoint) and `extra` transport config; the
/// password from the environment.
fn start_host(port: u16, ca: &std::path::Path, password: &str, app: &str, extra: &str) -> (Host, TempDir) {
    let tmp = TempDir::new("xmpp");
    let plugins = plugin_dir(&tmp, &["ruvuma_xmpp", "ruvuma_echo", "ruvuma_fixture_testkit"]);
    let yaml = format!(
        "transports:\n  xmpp:\n    plugin: xmpp\n    config: {{host: 127.0.0.1, port: {port}, username: bot@localhost, \
         password: \"${{XMPP_TEST_PASSWORD}}\", ca_file: \"{}\", reconnect_delay: 0.1, reconnect_max_delay: 0.5{extra}}}\n\
         applications:\n  app: {{endpoint: xmpp, {app}}}\n",
        ca.display()
    );
    let host = Host::start_with_env(
        &yaml,
        &["--plugin-dir", plugins.to_str().expect("utf-8 path")],
        &[("XMPP_TEST_PASSWORD", password)],
    );
    (host, tmp)
}

fn assert_no_password(host: &Host) {
    let log = host.log();
    assert!(!log.contains(BOT_PASSWORD), "the password reached the log:\n{log}");
}

fn chat_from(user: &XmppUser, limit: Duration) -> (String, String) {
    let chat = user.next_chat(limit).expect("a chat");
    (chat.from, chat.body)
}

#[test]
fn xmpp_chat_in_reply_out_to_the_resource_that_asked_and_acked() {
    let prosody = server();
    let (mut host, _tmp) = start_host(
        prosody.port,
        &prosody.ca_file(),
        BOT_PASSWORD,
        "plugin: slow_echo, config: {delay_ms: 0}",
        "",
    );
    host.wait_for_log("\"type\":\"logged_in\"", WAIT);
    assert!(host.log().contains("logged in to 127.0.0.1"), "{}", host.log());
    let phone = XmppUser::connect_as(&prosody, "alice", ALICE_PASSWORD, "phone");
    let desk = XmppUser::connect_as(&prosody, "alice", ALICE_PASSWORD, "desk");
    phone.send_chat("bot@localhost", "hello bot");
    let (from, body) = chat_from(&phone, WAIT);
    assert_eq!((from.as_str(), body.as_str()), ("bot@localhost/ruvuma", "hello bot"));
    host.wait_for_log("slow_echo got ack for", WAIT);
    // The reply went to alice/phone, the resource that asked, not to alice's bare JID.
    assert!(
        desk.next_chat(Duration::from_millis(700)).is_none(),
        "alice/desk got the reply too"
    );
    desk.send_chat("bot@localhost", "from the desk");
    assert_eq!(chat_from(&desk, WAIT).1, "from the desk");
    // A host that stops shows the account unavailable first (to its subscribers: alice subscribes,
    // which the default `subscriptions: accept` grants), then ends the stream.
    phone.send_presence("bot@localhost", "subscribe");
    phone
        .wait_presence("subscribed", WAIT)
        .expect("alice's subscription accepted");
    host.signal("TERM");
    let away = phone.wait_presence("unavailable", WAIT).expect("the bot going away");
    assert!(away.from.starts_with("bot@localhost"), "{}", away.from);
    assert!(host.wait(WAIT).success());
    assert!(host.log().contains("\"type\":\"stopped\""), "{}", host.log());
    assert_no_password(&host);
}

#[test]
fn xmpp_inbound_fields_as_vumi_maps_them_and_a_push_waits_in_offline_storage() {
    let prosody = server();
    let app =
        "plugin: mt_source, config: {messages: [\"news for alice\"], to: \"alice@localhost\", from: \"bot@localhost\"}";
    let (mut host, _tmp) = start_host(
        prosody.port,
        &prosody.ca_file(),
        BOT_PASSWORD,
        app,
        ", status: away, status_message: \"at lunch\"",
    );
    // alice is offline: the server keeps the push and hands it over when she comes.
    host.wait_for_log("mt_source ack \"news for alice\"", WAIT);
    let alice = XmppUser::connect_as(&prosody, "alice", ALICE_PASSWORD, "phone");
    assert_eq!(chat_from(&alice, WAIT).1, "news for alice");
    alice.send_chat("bot@localhost", "  thanks  ");
    host.wait_for_log(
        "mt_source got \"thanks\" from alice@localhost to bot@localhost meta {",
        WAIT,
    );
    let log = host.log();
    assert!(log.contains("\"xmpp_resource\":\"phone\""), "{log}");
    assert!(log.contains("\"xmpp_id\":"), "{log}");
}

#[test]
fn xmpp_a_server_restart_loses_nothing() {
    let mut prosody = server();
    let app = "plugin: slow_echo, config: {delay_ms: 1500}";
    let (mut host, _tmp) = start_host(prosody.port, &prosody.ca_file(), BOT_PASSWORD, app, "");
    host.wait_for_log("\"type\":\"logged_in\"", WAIT);
    let alice = XmppUser::connect_as(&prosody, "alice", ALICE_PASSWORD, "phone");
    alice.send_chat("bot@localhost", "asked before the restart");
    host.wait_for_log("slow_echo holds", WAIT);
    // The server goes while the application thinks: the reply waits for the next stream.
    let sessions = alice.sessions();
    prosody.restart();
    host.wait_for_log("\"type\":\"connection_lost\"", WAIT);
    eventually("a second login", WAIT, || {
        host.log().matches("\"type\":\"logged_in\"").count() >= 2
    });
    assert!(alice.wait_session(sessions + 1, WAIT), "alice did not come back online");
    assert_eq!(chat_from(&alice, WAIT).1, "asked before the restart");
    host.wait_for_log("slow_echo got ack for", WAIT);
    alice.send_chat("bot@localhost", "asked after the restart");
    assert_eq!(chat_from(&alice, WAIT).1, "asked after the restart");
    assert!(!host.log().contains("slow_echo got nack"), "{}", host.log());
    assert_no_password(&host);
}

#[test]
fn xmpp_keepalive_pings_and_a_link_gone_silent_is_made_again() {
    let prosody = server();
    let proxy = TcpProxy::start(&format!("127.0.0.1:{}", prosody.port));
    let extra = ", ping_interval: 0.3, ping_timeout: 0.6";
    let (mut host, _tmp) = start_host(proxy.port, &prosody.ca_file(), BOT_PASSWORD, "plugin: echo", extra);
    host.wait_for_log("\"type\":\"logged_in\"", WAIT);
    // Pings every 0.3 s, each answered: the stream stays.
    std::thread::sleep(Duration::from_secs(2));
    assert!(!host.log().contains("connection_lost"), "{}", host.log());
    assert_eq!(host.log().matches("\"type\":\"logged_in\"").count(), 1);
    // The link dies without a word: the unanswered ping finds it, and a new stream is made.
    proxy.freeze();
    host.wait_for_log("the server did not answer a ping within ping_timeout", WAIT);
    proxy.thaw();
    eventually("a second login", WAIT, || {
        host.log().matches("\"type\":\"logged_in\"").count() >= 2
    });
    let alice = XmppUser::connect_as(&prosody, "alice", ALICE_PASSWORD, "phone");
    alice.send_chat("bot@localhost", "still there?");
    assert_eq!(chat_from(&alice, WAIT).1, "still there?");
}

#[test]
fn xmpp_subscriptions_follow_the_allow_list() {
    let prosody = server();
    let extra = ", subscriptions: allow_list, allow_list: [carol@localhost]";
    let (mut host, _tmp) = start_host(prosody.port, &prosody.ca_file(), BOT_PASSWORD, "plugin: echo", extra);
    host.wait_for_log("\"type\":\"logged_in\"", WAIT);
    let alice = XmppUser::connect_as(&prosody, "alice", ALICE_PASSWORD, "phone");
    alice.send_presence("bot@localhost", "subscribe");
    let refused = alice
        .wait_presence("unsubscribed", WAIT)
        .expect("an answer to alice's request");
    assert!(refused.from.starts_with("bot@localhost"), "{}", refused.from);
    host.wait_for_log("subscription from alice@localhost refused", WAIT);
    let carol = XmppUser::connect_as(&prosody, "carol", ALICE_PASSWORD, "phone");
    carol.send_presence("bot@localhost", "subscribe");
    carol.wait_presence("subscribed", WAIT).expect("carol accepted");
    carol
        .wait_presence("subscribe", WAIT)
        .expect("the bot subscribes back, as Vumi's did");
}

#[test]
fn xmpp_bad_credentials_and_an_untrusted_certificate_are_named() {
    let prosody = server();
    let (mut host, _tmp) = start_host(prosody.port, &prosody.ca_file(), "not-the-password", "plugin: echo", "");
    host.wait_for_log(
        "the server refused the credentials: not-authorized (the username or the password is wrong)",
        WAIT,
    );
    eventually("a login retried", WAIT, || {
        host.log().matches("\"type\":\"login_failed\"").count() >= 2
    });
    assert!(!host.log().contains("not-the-password"), "{}", host.log());
    drop(host);
    let empty = std::path::Path::new("");
    let (mut host, _tmp) = start_host(prosody.port, empty, BOT_PASSWORD, "plugin: echo", "");
    host.wait_for_log("set ca_file to the CA that did", WAIT);
    assert!(host.log().contains("\"type\":\"tls_failed\""), "{}", host.log());
    assert!(!host.log().contains("\"type\":\"logged_in\""), "{}", host.log());
    assert_no_password(&host);
}

#[test]
fn xmpp_a_stream_down_past_outbound_wait_nacks_with_the_reason() {
    let port = free_port();
    let app = "plugin: mt_source, config: {messages: [\"lost\"], to: \"alice@localhost\", from: \"bot@localhost\"}";
    let empty = std::path::Path::new("");
    let (mut host, _tmp) = start_host(port, empty, BOT_PASSWORD, app, ", outbound_wait: 0.5");
    host.wait_for_log("mt_source nack \"lost\": the XMPP stream to 127.0.0.1", WAIT);
    let log = host.log();
    assert!(
        log.contains("was down for longer than outbound_wait (500ms): cannot connect"),
        "{log}"
    );
    assert!(log.contains("\"type\":\"connect_failed\""), "{log}");
}

/// A server that opens the stream, then sends one element that never ends.
#[test]
fn xmpp_a_server_that_never_completes_a_stanza_costs_only_its_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut header = [0u8; 4096];
        let _ = conn.read(&mut header);
        let open = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                    xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='s1' version='1.0'>\
                    <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>";
        let _ = conn.write_all(open.as_bytes());
        let chunk = vec![b'A'; 64 * 1024];
        let mut sent = 0usize;
        // 64 MiB: far more than the budget plus every socket buffer on the way.
        while sent < 64 * 1024 * 1024 && conn.write_all(&chunk).is_ok() {
            sent += chunk.len();
        }
        let _ = done_tx.send(sent);
    });
    let (mut host, _tmp) = start_host(
        port,
        std::path::Path::new(""),
        BOT_PASSWORD,
        "plugin: echo",
        ", starttls: optional, max_stanza_size: 65536",
    );
    host.wait_for_log(
        "more than 65536 bytes without completing a stanza (max_stanza_size)",
        WAIT,
    );
    let sent = done_rx.recv_timeout(WAIT).expect("the hostile server's writes end");
    assert!(
        sent < 64 * 1024 * 1024,
        "the transport read all {sent} bytes of one endless element"
    );
    assert!(host.log().contains("\"type\":\"login_failed\""), "{}", host.log());
}

/// config/smpp-xmpp.yaml as it is (the seed's picture): the SMPP simulator and Prosody, their
/// ports and the account's password from the environment; the echo application answers an SMS
/// with an SMS and a chat with a chat.
#[test]
fn the_seed_smpp_and_xmpp_config_answers_on_both() {
    let prosody = server();
    let smsc = Smsc::start(SmscConfig::default());
    let text = std::fs::read_to_string(built().root.join("config/smpp-xmpp.yaml")).expect("config");
    let tmp = TempDir::new("smpp-xmpp");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let env = [
        ("SMSC_PORT", smsc.port().to_string()),
        ("XMPP_PORT", prosody.port.to_string()),
        ("XMPP_PASSWORD", BOT_PASSWORD.to_owned()),
        ("XMPP_CA_FILE", prosody.ca_file().display().to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut host = Host::start_with_env(&text, &["--plugin-dir", plugins.to_str().expect("utf-8")], &env);
    host.wait_for_log("\"type\":\"logged_in\"", WAIT);
    smsc.wait_for("a bind", WAIT, |s| s.bound_sessions() >= 1);
    let alice = XmppUser::connect(&prosody, "alice", ALICE_PASSWORD);
    alice.send_chat("bot@localhost", "hello by chat");
    let (from, body) = chat_from(&alice, WAIT);
    assert_eq!(
        (from.as_str(), body.as_str()),
        ("bot@localhost/ruvuma", "hello by chat")
    );
    smsc.send_deliver_sm("27820001111", "1234", 0, 0, b"hello by sms", &[])
        .expect("deliver_sm");
    smsc.wait_for("the SMS echo", WAIT, |s| {
        s.submits()
            .iter()
            .any(|m| m.short_message == b"hello by sms" && m.destination_addr == "27820001111")
    });
    assert_no_password(&host);
}
