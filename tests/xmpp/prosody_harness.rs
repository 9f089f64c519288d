//! The XMPP test harness itself: a real Prosody on loopback and [`XmppUser`] clients talking
//! through it (chats, offline storage, a server restart, presence subscriptions, bursts).

use ruvuma_tests::prosody::Prosody;
use ruvuma_tests::xmpp_user::XmppUser;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// A server with the accounts `users`, each with the password `pw-<user>`.
fn server_with(users: &[&str]) -> Prosody {
    let server = Prosody::start();
    for user in users {
        server.register(user, &format!("pw-{user}"));
    }
    server
}

fn login(server: &Prosody, user: &str) -> XmppUser {
    XmppUser::connect(server, user, &format!("pw-{user}"))
}

/// Sends `body` from `from` to `to`'s bare JID and checks that `to` receives it, from `from`'s
/// full JID, with its id.
fn chat_through(from: &XmppUser, to: &XmppUser, body: &str) {
    let to_jid = to.jid();
    let bare = to_jid.split('/').next().expect("a JID");
    let id = from.send_chat(bare, body);
    let got = to
        .next_chat(WAIT)
        .unwrap_or_else(|| panic!("{to_jid} got no chat {body:?}"));
    assert_eq!((got.body.as_str(), got.from.as_str()), (body, from.jid().as_str()));
    assert_eq!(got.id.as_deref(), Some(id.as_str()));
}

#[test]
fn two_users_chat_and_a_message_to_an_offline_user_waits_for_their_login() {
    let server = server_with(&["alice", "bob"]);
    let alice = login(&server, "alice");
    let bob = login(&server, "bob");
    assert_eq!(alice.jid(), "alice@localhost/phone");
    assert_eq!(bob.jid(), "bob@localhost/phone");

    chat_through(&alice, &bob, "hello bob");
    bob.send_chat(&alice.jid(), "hi alice");
    let reply = alice.next_chat(WAIT).expect("alice gets bob's reply");
    assert_eq!(
        (reply.body.as_str(), reply.from.as_str(), reply.kind.as_str()),
        ("hi alice", "bob@localhost/phone", "chat")
    );

    bob.disconnect();
    alice.send_chat("bob@localhost", "while you were out");
    assert!(alice.flush(WAIT), "alice's chat was not written");
    let bob = login(&server, "bob");
    let stored = bob.next_chat(WAIT).expect("bob gets the offline message on login");
    assert_eq!(
        (stored.body.as_str(), stored.from.as_str()),
        ("while you were out", "alice@localhost/phone")
    );
}

#[test]
fn a_chat_to_an_unknown_user_comes_back_as_an_error() {
    let server = server_with(&["alice"]);
    let alice = login(&server, "alice");
    alice.send_chat("nobody@localhost", "anyone there?");
    let bounce = alice.next_chat(WAIT).expect("an error comes back");
    assert_eq!(bounce.kind, "error");
    assert_eq!(bounce.from, "nobody@localhost");
    assert_eq!(bounce.error.as_deref(), Some("service-unavailable"));
}

#[test]
fn users_come_back_online_by_themselves_after_a_server_restart_and_accounts_persist() {
    let mut server = server_with(&["alice", "bob"]);
    let alice = login(&server, "alice");
    let bob = login(&server, "bob");
    chat_through(&alice, &bob, "before the restart");
    let (alice_sessions, bob_sessions) = (alice.sessions(), bob.sessions());

    let down = Instant::now();
    server.stop();
    server.register("carol", "pw-carol");
    server.restart();
    let limit = Duration::from_secs(60);
    assert!(
        alice.wait_session(alice_sessions + 1, limit),
        "alice did not reconnect:\n{}",
        server.log()
    );
    assert!(
        bob.wait_session(bob_sessions + 1, limit),
        "bob did not reconnect:\n{}",
        server.log()
    );
    eprintln!("both users were back {:?} after the restart began", down.elapsed());

    chat_through(&alice, &bob, "after the restart");
    let carol = login(&server, "carol");
    chat_through(&carol, &alice, "registered while the server was down");
}

#[test]
fn a_subscription_request_reaches_the_contact() {
    let server = server_with(&["alice", "bob"]);
    let alice = login(&server, "alice");
    let bob = login(&server, "bob");
    alice.send_presence("bob@localhost", "subscribe");
    let seen = bob.wait_presence("subscribe", WAIT).expect("bob sees the request");
    assert_eq!(seen.from, "alice@localhost");
    bob.send_presence("alice@localhost", "subscribed");
    let seen = alice
        .wait_presence("subscribed", WAIT)
        .expect("alice sees the approval");
    assert_eq!(seen.from, "bob@localhost");
    let seen = alice
        .wait_presence("available", WAIT)
        .expect("alice then sees bob online");
    assert_eq!(seen.from, "bob@localhost/phone");
}

#[test]
fn a_burst_of_chats_arrives_whole_and_in_order() {
    let server = server_with(&["alice", "bob"]);
    let alice = login(&server, "alice");
    let bob = login(&server, "bob");
    let n = 5000;
    let start = Instant::now();
    let queued = alice.send_many("bob@localhost", (0..n).map(|i| format!("burst {i}")));
    assert_eq!(queued, n);
    // About half a megabyte of XML: at mod_limits' default c2s rate (10 kB/s) that takes ~50 s.
    assert!(
        bob.wait_received(n as u64, Duration::from_secs(30)),
        "bob got {} of {n} in 30 s: throttled?",
        bob.received_count()
    );
    eprintln!("{n} chats through prosody in {:?}", start.elapsed());
    for i in 0..n {
        let chat = bob.next_chat(WAIT).expect("queued chat");
        assert_eq!(chat.body, format!("burst {i}"));
    }
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", server.pid())).expect("prosody's /proc entry");
    assert!(
        String::from_utf8_lossy(&cmdline).contains("prosody"),
        "pid() is prosody's"
    );
}

#[test]
fn the_ca_file_verifies_the_servers_starttls_certificate() {
    let server = Prosody::start();
    let out = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-starttls",
            "xmpp",
            "-xmpphost",
            "localhost",
            "-verify_return_error",
        ])
        .args([
            "-verify_hostname",
            "localhost",
            "-connect",
            &format!("127.0.0.1:{}", server.port),
        ])
        .arg("-CAfile")
        .arg(server.ca_file())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Verify return code: 0 (ok)"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
