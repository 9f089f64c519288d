//! Middleware through the real binary: order, dropping, and the built-in ones.

use ruvuma_tests::*;
use std::time::Duration;

const DISPATCHER: &str = "dispatchers:\n  main:\n    router_class: simple\n    transport_names: [telnet]\n    \
    exposed_names: [app_ep]\n    route_mappings: {telnet: app_ep}\n";

/// Consumed in list order, published in reverse: a transport publishes inbound (b, then a) and
/// consumes outbound (a, then b); an application consumes inbound (x, y) and publishes (y, x).
#[test]
fn consume_in_order_publish_in_reverse() {
    let yaml = format!(
        "transports:\n  telnet:\n    plugin: telnet\n    config: {{bind: \"127.0.0.1:{{port}}\"}}\n    middleware:\n      \
         - a: tagger\n      - b: tagger\n    a: {{tag: a}}\n    b: {{tag: b}}\n\
         applications:\n  app:\n    plugin: echo\n    endpoint: app_ep\n    middleware:\n      \
         - x: {{class: tagger, config: {{tag: x}}}}\n      - y: {{class: tagger, config: {{tag: y}}}}\n{DISPATCHER}"
    );
    let (_host, port, _tmp) = start_on_port("order", &yaml);
    let mut user = Telnet::connect(port);
    user.send("hi");
    assert_eq!(user.read_line().unwrap(), "hi+b+a+x+y+y+x+a+b");
}

#[test]
fn priorities_reorder_a_stack() {
    let yaml = format!(
        "transports:\n  telnet: {{plugin: telnet, config: {{bind: \"127.0.0.1:{{port}}\"}}}}\n\
         applications:\n  app:\n    plugin: echo\n    endpoint: app_ep\n    middleware:\n      \
         - x: {{class: tagger, consume_priority: 2, publish_priority: 0, config: {{tag: x}}}}\n      \
         - y: {{class: tagger, consume_priority: 1, publish_priority: 1, config: {{tag: y}}}}\n{DISPATCHER}"
    );
    let (_host, port, _tmp) = start_on_port("priority", &yaml);
    let mut user = Telnet::connect(port);
    user.send("p");
    // consume: y (1) before x (2); publish: from the reversed list [y, x], x (0) before y (1).
    assert_eq!(user.read_line().unwrap(), "p+y+x+x+y");
}

#[test]
fn a_dropped_outbound_message_is_nacked_with_the_reason() {
    let yaml = format!(
        "transports:\n  telnet: {{plugin: telnet, config: {{bind: \"127.0.0.1:{{port}}\"}}}}\n\
         applications:\n  app:\n    plugin: slow_echo\n    endpoint: app_ep\n    config: {{delay_ms: 0}}\n    middleware:\n      \
         - guard: {{class: tagger, config: {{tag: t, drop_content: \"boom+t\"}}}}\n{DISPATCHER}"
    );
    let (mut host, port, _tmp) = start_on_port("drop", &yaml);
    let mut user = Telnet::connect(port);
    user.send("fine");
    assert_eq!(user.read_line().unwrap(), "fine+t+t");
    user.send("boom");
    host.wait_for_log("slow_echo got nack for", Duration::from_secs(10));
    let log = host.log();
    let nack = log
        .lines()
        .find(|l| l.contains("slow_echo got nack for"))
        .unwrap_or_default();
    assert!(
        nack.contains("dropped by middleware \"guard\""),
        "the nack names the middleware: {nack}"
    );
    user.expect_silence(Duration::from_millis(200));
}

#[test]
fn dispatcher_middleware_sees_both_ways() {
    let yaml = "transports:\n  telnet: {plugin: telnet, config: {bind: \"127.0.0.1:{port}\"}}\n\
        applications:\n  app: {plugin: echo, endpoint: app_ep}\n\
        dispatchers:\n  main:\n    router_class: simple\n    transport_names: [telnet]\n    exposed_names: [app_ep]\n    \
        route_mappings: {telnet: app_ep}\n    middleware:\n      - d: tagger\n    d: {tag: d}\n";
    let (_host, port, _tmp) = start_on_port("dmw", yaml);
    let mut user = Telnet::connect(port);
    user.send("via");
    // consumed from telnet (+d), published to the app (+d), consumed back (+d), published out (+d)
    assert_eq!(user.read_line().unwrap(), "via+d+d+d+d");
}

#[test]
fn built_in_logging_and_session_length() {
    let yaml = format!(
        "transports:\n  telnet: {{plugin: telnet, config: {{bind: \"127.0.0.1:{{port}}\"}}}}\n\
         applications:\n  app:\n    plugin: echo\n    endpoint: app_ep\n    middleware:\n      \
         - sessions: vumi.middleware.session_length.SessionLengthMiddleware\n      \
         - log: vumi.middleware.logging.LoggingMiddleware\n      \
         - translate: {{class: address_translation, config: {{outbound_map: {{nobody: somebody}}}}}}\n    \
         sessions: {{timeout: 60}}\n{DISPATCHER}"
    );
    let (mut host, port, _tmp) = start_on_port("builtin", &yaml);
    {
        let mut user = Telnet::connect(port);
        user.send("logged");
        assert_eq!(user.read_line().unwrap(), "logged");
    }
    host.wait_for_log("Processed inbound message for app_ep: {", Duration::from_secs(10));
    host.wait_for_log("\"session_end\":", Duration::from_secs(10));
    let log = host.log();
    let opened = log
        .lines()
        .find(|l| l.contains("Processed inbound message") && l.contains("\"session_event\":\"new\""))
        .unwrap_or_else(|| panic!("the session's first message is logged:\n{log}"));
    assert!(
        opened.contains("\"session_start\":"),
        "session_length ran before logging: {opened}"
    );
    let closed = log
        .lines()
        .find(|l| l.contains("Processed inbound message") && l.contains("\"session_event\":\"close\""))
        .unwrap_or_else(|| panic!("the session's end is logged:\n{log}"));
    assert!(
        closed.contains("\"session_start\":") && closed.contains("\"session_end\":"),
        "{closed}"
    );
    assert!(
        log.contains("Processed outbound message for app_ep"),
        "outbound passes the logger too"
    );
}

#[test]
fn middleware_config_errors_name_component_and_key() {
    let tmp = TempDir::new("mwbad");
    let yaml = "transports:\n  telnet:\n    plugin: telnet\n    middleware:\n      - log: logging\n      - ghost: no_such_mw\n    \
        log: {log_level: loud}\napplications:\n  app: {plugin: echo, endpoint: telnet}\n";
    let (code, _, stderr) = validate_with(&tmp.write("mw.yaml", yaml), &plugin_dir(&tmp, ALL_PLUGINS));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("transport \"telnet\": middleware \"log\": key \"log_level\": \"loud\" is not one of"),
        "{stderr}"
    );
    assert!(
        stderr.contains("transport \"telnet\": middleware \"ghost\": unknown middleware plugin \"no_such_mw\""),
        "{stderr}"
    );
}
