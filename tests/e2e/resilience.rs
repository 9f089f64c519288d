use ruvuma_tests::*;
use std::time::Duration;

#[test]
fn a_panicking_plugin_fails_one_message_and_the_host_survives() {
    let tmp = TempDir::new("panic");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let mut host = Host::start(
        &telnet_config(port, "    plugin: panicky"),
        &["--plugin-dir", plugins.to_str().unwrap()],
    );
    let mut user = Telnet::connect(port);
    user.send("before");
    assert_eq!(user.read_line().unwrap(), "before");
    user.send("panic");
    host.wait_for_log("panicked: asked to panic by message", Duration::from_secs(10));
    user.send("after");
    assert_eq!(user.read_line().unwrap(), "after", "the next message works");
    let log = host.log();
    let failure = log
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("application \"app\" failed on app_ep.inbound"))
        .unwrap_or_else(|| panic!("the failed message is logged as a failure:\n{log}"));
    let id = failure
        .split("message_id=")
        .nth(1)
        .map(|s| s.split_whitespace().next().unwrap_or(""))
        .unwrap_or("");
    assert_eq!(
        id.trim_matches('"').len(),
        32,
        "the failure names the message id: {failure}"
    );
    assert!(failure.contains("app_ep.failures"), "{failure}");
    assert!(
        log.contains("component=\"app\""),
        "the panic is tagged with its component:\n{log}"
    );
    // A second connection still works too.
    let mut other = Telnet::connect(port);
    other.send("still here");
    assert_eq!(other.read_line().unwrap(), "still here");
}

#[test]
fn sigterm_finishes_messages_in_flight_then_exits_cleanly() {
    let tmp = TempDir::new("shutdown");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let app = "    plugin: slow_echo\n    config: {delay_ms: 400}";
    let mut host = Host::start(&telnet_config(port, app), &["--plugin-dir", plugins.to_str().unwrap()]);
    let mut user = Telnet::connect(port);
    for i in 0..3 {
        user.send(&format!("in flight {i}"));
    }
    std::thread::sleep(Duration::from_millis(150));
    host.signal("TERM");
    host.wait_for_log("SIGTERM: shutting down", Duration::from_secs(5));
    for i in 0..3 {
        assert_eq!(
            user.read_line().unwrap(),
            format!("in flight {i}"),
            "replies in flight are delivered"
        );
    }
    let status = host.wait(Duration::from_secs(20));
    assert!(status.success(), "exit status {status}:\n{}", host.log());
    let log = host.log();
    let order: Vec<usize> = [
        "transport \"telnet\" stopped",
        "router \"main\" stopped",
        "application \"app\" stopped",
    ]
    .iter()
    .map(|needle| log.find(needle).unwrap_or_else(|| panic!("{needle} missing:\n{log}")))
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "plugins stop in reverse start order:\n{log}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no new input after shutdown"
    );
}

#[test]
fn sigint_stops_an_idle_host_with_exit_zero() {
    let tmp = TempDir::new("sigint");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let mut host = Host::start(
        &telnet_config(port, "    plugin: echo"),
        &["--plugin-dir", plugins.to_str().unwrap()],
    );
    host.signal("INT");
    let status = host.wait(Duration::from_secs(20));
    assert!(status.success(), "exit status {status}:\n{}", host.log());
    assert!(host.log().contains("SIGINT: shutting down"));
}

/// A user who hangs up before the answer comes: the reply is nacked with the reason, not lost
/// silently, and the host carries on.
#[test]
fn a_reply_to_a_user_who_left_is_nacked() {
    let tmp = TempDir::new("left");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let app = "    plugin: slow_echo\n    config: {delay_ms: 300}";
    let mut host = Host::start(&telnet_config(port, app), &["--plugin-dir", plugins.to_str().unwrap()]);
    {
        let mut user = Telnet::connect(port);
        user.send("are you there?");
    }
    host.wait_for_log(
        "could not send: no telnet connection for to_addr",
        Duration::from_secs(10),
    );
    let log = host.log();
    let line = log.lines().find(|l| l.contains("could not send")).unwrap_or_default();
    assert!(line.contains("message_id="), "the nacked message is named: {line}");
    let id = line
        .split("message_id=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("");
    let id = id.trim_matches('"');
    host.wait_for_log(
        &format!("slow_echo got nack for {id}: no telnet connection"),
        Duration::from_secs(10),
    );
    let mut other = Telnet::connect(port);
    other.send("still serving");
    assert_eq!(other.read_line().unwrap(), "still serving");
    // A reply that was written is acked, and the ack finds the application that sent it.
    host.wait_for_log("slow_echo got ack for", Duration::from_secs(10));
}

/// A transport that cannot start (its port is taken) stops the host with a clear error, exit 1.
#[test]
fn a_transport_that_cannot_start_is_a_clear_error() {
    let tmp = TempDir::new("busy");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let cfg = tmp.write("busy.yaml", &telnet_config(port, "    plugin: echo"));
    let out = ruvuma(&[
        "run",
        "-c",
        cfg.to_str().unwrap(),
        "--plugin-dir",
        plugins.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "transport \"telnet\": failed to start: cannot listen on 127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("application \"app\" stopped"),
        "what had started is stopped again:\n{stderr}"
    );
}
