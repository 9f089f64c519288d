//! Each router's behaviour, after Vumi's dispatcher tests, through the real binary.

use ruvuma_tests::*;
use std::collections::BTreeSet;
use std::time::Duration;

const TELNET: &str = "  telnet: {plugin: telnet, config: {bind: \"127.0.0.1:{port}\"}}\n";

fn two_apps(a: &str, b: &str) -> String {
    format!("applications:\n  a: {{plugin: {a}, endpoint: a_ep}}\n  b: {{plugin: {b}, endpoint: b_ep}}\n")
}

#[test]
fn simple_router_fans_out_and_events_go_back_to_their_sender_only() {
    let yaml = format!(
        "transports:\n{TELNET}{}dispatchers:\n  main:\n    router_class: vumi.dispatchers.SimpleDispatchRouter\n    \
         transport_names: [telnet]\n    exposed_names: [a_ep, b_ep]\n    route_mappings: {{telnet: [a_ep, b_ep]}}\n",
        "applications:\n  a:\n    plugin: slow_echo\n    endpoint: a_ep\n    config: {delay_ms: 0, tag_instance: true}\n  \
         b:\n    plugin: slow_echo\n    endpoint: b_ep\n    config: {delay_ms: 0, tag_instance: true}\n"
    );
    let (mut host, port, _, _tmp) = start_with_ports("fanout", &yaml);
    let mut user = Telnet::connect(port);
    user.send("hi");
    let replies: BTreeSet<String> = (0..2).map(|_| user.read_line().unwrap()).collect();
    assert_eq!(replies.len(), 2, "both applications answered: {replies:?}");
    assert!(replies.iter().all(|r| r.starts_with("hi [instance ")), "{replies:?}");
    host.wait_for_log("component=\"a\"", Duration::from_secs(5));
    let count_acks = |log: &str, app: &str| {
        log.lines()
            .filter(|l| l.contains("slow_echo got ack for") && l.contains(&format!("component=\"{app}\"")))
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count_acks(&host.log(), "a") + count_acks(&host.log(), "b") < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let log = host.log();
    assert_eq!(
        count_acks(&log, "a"),
        1,
        "a gets the ack for its own reply only:\n{log}"
    );
    assert_eq!(
        count_acks(&log, "b"),
        1,
        "b gets the ack for its own reply only:\n{log}"
    );
}

#[test]
fn outbound_follows_transport_mappings() {
    let yaml = format!(
        "transports:\n{TELNET}  recorder: {{plugin: recorder}}\napplications:\n  a: {{plugin: echo, endpoint: a_ep}}\n\
         dispatchers:\n  main:\n    router_class: simple\n    transport_names: [telnet, recorder]\n    exposed_names: [a_ep]\n    \
         route_mappings: {{telnet: a_ep, recorder: a_ep}}\n    transport_mappings: {{telnet: recorder}}\n"
    );
    let (mut host, port, _, _tmp) = start_with_ports("tmap", &yaml);
    let mut user = Telnet::connect(port);
    user.send("via the recorder");
    host.wait_for_log(
        "recorder recorder sent \"via the recorder\" to 127.0.0.1:",
        Duration::from_secs(10),
    );
    user.expect_silence(Duration::from_millis(200));
}

#[test]
fn an_unroutable_outbound_message_is_a_failure_and_a_nack() {
    let yaml = format!(
        "transports:\n{TELNET}applications:\n  a:\n    plugin: slow_echo\n    endpoint: a_ep\n    config: {{delay_ms: 0}}\n\
         dispatchers:\n  main:\n    router_class: vumi.dispatchers.FromAddrMultiplexRouter\n    transport_names: [telnet]\n    \
         exposed_names: [a_ep]\n    fromaddr_mappings: {{\"somewhere-else\": telnet}}\n"
    );
    let (mut host, port, _, _tmp) = start_with_ports("unroutable", &yaml);
    let mut user = Telnet::connect(port);
    user.send("hello?");
    host.wait_for_log(
        "fromaddr_mappings has no transport for from_addr",
        Duration::from_secs(10),
    );
    host.wait_for_log("slow_echo got nack for", Duration::from_secs(10));
    let log = host.log();
    let failure = log
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("not routed"))
        .unwrap_or_default();
    assert!(
        failure.contains("failures=\"main.failures\""),
        "logged as a failure of the dispatcher:\n{log}"
    );
    assert!(failure.contains("message_id="), "{failure}");
    user.expect_silence(Duration::from_millis(200));
}

#[test]
fn user_grouping_is_round_robin_and_sticky() {
    let yaml = format!(
        "transports:\n{TELNET}{}dispatchers:\n  main:\n    router_class: vumi.dispatchers.UserGroupingRouter\n    \
         transport_names: [telnet]\n    exposed_names: [a_ep, b_ep]\n    dispatcher_name: main\n    \
         group_mappings: {{group2: b_ep, group1: a_ep}}\n",
        two_apps("echo", "shout")
    );
    let (_host, port, _, _tmp) = start_with_ports("grouping", &yaml);
    // One user after another, so that they are new to the router in a known order.
    let mut users = Vec::new();
    let mut first = Vec::new();
    for _ in 0..4 {
        let mut u = Telnet::connect(port);
        u.send("hey");
        first.push(u.read_line().unwrap());
        users.push(u);
    }
    assert_eq!(
        first,
        ["hey", "HEY", "hey", "HEY"],
        "group1, group2, group1, group2 in sorted group order"
    );
    for (u, expected) in users.iter_mut().zip(["again", "AGAIN", "again", "AGAIN"]).rev() {
        u.send("again");
        assert_eq!(u.read_line().unwrap(), expected, "a user keeps their group");
    }
}

#[test]
fn content_keyword_rules_and_fallback() {
    let yaml = format!(
        "transports:\n{TELNET}{}dispatchers:\n  main:\n    router_class: vumi.dispatchers.ContentKeywordRouter\n    \
         transport_names: [telnet]\n    exposed_names: [a_ep, b_ep]\n    dispatcher_name: main\n    \
         rules:\n      - {{app: b_ep, keyword: LOUD}}\n      - {{app: b_ep, keyword: yell, to_addr: \"*999#\"}}\n    \
         keyword_mappings: {{b_ep: shout}}\n    fallback_application: a_ep\n    expire_routing_memory: '3'\n",
        two_apps("echo", "shout")
    );
    let (_host, port, _, _tmp) = start_with_ports("keyword", &yaml);
    let mut user = Telnet::connect(port);
    for (said, answer) in [
        ("loud noises", "LOUD NOISES"),
        ("Shout it", "SHOUT IT"),
        ("quiet please", "quiet please"),
        ("yell here", "yell here"),
        ("", ""),
    ] {
        user.send(said);
        assert_eq!(user.read_line().unwrap(), answer, "for {said:?}");
    }
}

#[test]
fn redirect_router_serves_a_split_bind() {
    let yaml = format!(
        "transports:\n{TELNET}  tx: {{plugin: recorder}}\napplications:\n  a:\n    plugin: slow_echo\n    endpoint: upstream\n    \
         config: {{delay_ms: 0}}\ndispatchers:\n  main:\n    router_class: vumi.dispatchers.RedirectOutboundRouter\n    \
         transport_names: [telnet, tx]\n    exposed_names: [upstream]\n    \
         redirect_inbound: {{telnet: upstream, tx: upstream}}\n    redirect_outbound: {{upstream: tx}}\n"
    );
    let (mut host, port, _, _tmp) = start_with_ports("redirect", &yaml);
    let mut user = Telnet::connect(port);
    user.send("over the receiver");
    host.wait_for_log("recorder tx sent \"over the receiver\"", Duration::from_secs(10));
    host.wait_for_log("(transport_name upstream)", Duration::from_secs(5));
    host.wait_for_log("slow_echo got ack for", Duration::from_secs(10));
}

#[test]
fn load_balancing_with_reply_affinity() {
    let yaml = "transports:\n  t1: {plugin: telnet, config: {bind: \"127.0.0.1:{port}\"}}\n  \
        t2: {plugin: telnet, config: {bind: \"127.0.0.1:{port2}\"}}\napplications:\n  a: {plugin: echo, endpoint: a_ep}\n\
        dispatchers:\n  main:\n    router_class: vumi.dispatchers.LoadBalancingRouter\n    transport_names: [t1, t2]\n    \
        exposed_names: [a_ep]\n    reply_affinity: true\n";
    let (_host, port, port2, _tmp) = start_with_ports("balance", yaml);
    let mut u1 = Telnet::connect(port);
    let mut u2 = Telnet::connect(port2);
    for i in 0..4 {
        u1.send(&format!("one {i}"));
        assert_eq!(
            u1.read_line().unwrap(),
            format!("one {i}"),
            "the reply leaves through t1"
        );
        u2.send(&format!("two {i}"));
        assert_eq!(
            u2.read_line().unwrap(),
            format!("two {i}"),
            "the reply leaves through t2"
        );
    }
}

#[test]
fn routing_table_routes_by_connector_and_endpoint() {
    let yaml = format!(
        "transports:\n{TELNET}{}dispatchers:\n  main:\n    router_class: vumi.dispatchers.RoutingTableDispatcher\n    \
         receive_inbound_connectors: [telnet]\n    receive_outbound_connectors: [a_ep, b_ep]\n    routing_table:\n      \
         telnet: {{default: [b_ep, default]}}\n      b_ep: {{default: [telnet, default]}}\n      a_ep: {{default: [telnet, default]}}\n",
        two_apps("echo", "shout")
    );
    let (_host, port, _, _tmp) = start_with_ports("table", &yaml);
    let mut user = Telnet::connect(port);
    user.send("table talk");
    assert_eq!(user.read_line().unwrap(), "TABLE TALK");
}

#[test]
fn to_addr_router_matches_from_the_start() {
    let yaml = format!(
        "transports:\n  t1: {{plugin: telnet, config: {{bind: \"127.0.0.1:{{port}}\", to_addr: \"*120*1#\"}}}}\n  \
         t2: {{plugin: telnet, config: {{bind: \"127.0.0.1:{{port2}}\", to_addr: \"*130#\"}}}}\n{}\
         dispatchers:\n  main:\n    router_class: vumi.dispatchers.ToAddrRouter\n    transport_names: [t1, t2]\n    \
         exposed_names: [a_ep, b_ep]\n    toaddr_mappings: {{a_ep: '\\*120', b_ep: '\\*130#'}}\n",
        two_apps("echo", "shout")
    );
    let (_host, port, port2, _tmp) = start_with_ports("toaddr", &yaml);
    let mut u1 = Telnet::connect(port);
    let mut u2 = Telnet::connect(port2);
    u1.send("menu");
    assert_eq!(u1.read_line().unwrap(), "menu");
    u2.send("menu");
    assert_eq!(u2.read_line().unwrap(), "MENU");
}

#[test]
fn transport_to_transport_relays() {
    let yaml = "transports:\n  telnet: {plugin: telnet, config: {bind: \"127.0.0.1:{port}\"}}\n  out: {plugin: recorder}\n\
        dispatchers:\n  relay:\n    router_class: vumi.dispatchers.TransportToTransportRouter\n    transport_names: [telnet, out]\n    \
        exposed_names: []\n    route_mappings: {telnet: out}\n";
    let (mut host, port, _, _tmp) = start_with_ports("relay", yaml);
    let mut user = Telnet::connect(port);
    user.send("pass it on");
    host.wait_for_log("recorder out sent \"pass it on\"", Duration::from_secs(10));
}
