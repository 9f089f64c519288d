//! `/metrics` as Prometheus reads it (`promtool check metrics`) and what it counts.

use super::*;

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

    promtool_check(&exposition);

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
