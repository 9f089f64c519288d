//! State shared between host processes through the real Redis on 127.0.0.1:6379 (`.ci/run`
//! starts it when it is not running); these tests fail when it is missing.

use ruvuma_tests::*;
use serde_json::Value;
use std::time::Duration;

fn grouping_host(tmp: &TempDir, port: u16, prefix: &str) -> Host {
    let plugins = plugin_dir(tmp, ALL_PLUGINS);
    let yaml = format!(
        "state: {{redis: {{url: \"redis://127.0.0.1:6379\", key_prefix: \"{prefix}\"}}}}\n\
         transports:\n  web: {{plugin: http, config: {{bind: \"127.0.0.1:{port}\", mode: sync}}}}\n\
         applications:\n  quiet: {{plugin: echo, endpoint: quiet}}\n  loud: {{plugin: shout, endpoint: loud}}\n\
         dispatchers:\n  main:\n    router_class: user_grouping\n    transport_names: [web]\n    exposed_names: [quiet, loud]\n    \
         group_mappings: {{group1: quiet, group2: loud}}\n"
    );
    Host::start(&yaml, &["--plugin-dir", plugins.to_str().unwrap()])
}

fn say(port: u16, user: &str) -> String {
    let body = format!(r#"{{"from_addr": "{user}", "to_addr": "*1#", "content": "hello"}}"#);
    let (status, text) = http_post(&format!("http://127.0.0.1:{port}/"), "application/json", &body, None);
    assert_eq!(status, 200, "{text}");
    serde_json::from_str::<Value>(&text).expect("json")["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Two hosts, one Redis: the round robin and each user's group are the same in both.
#[test]
fn user_groups_hold_across_processes_on_redis() {
    let prefix = format!("ruvuma-e2e-{}-{}", std::process::id(), free_port());
    let (tmp_a, tmp_b) = (TempDir::new("redis-a"), TempDir::new("redis-b"));
    let (port_a, port_b) = (free_port(), free_port());
    let _a = grouping_host(&tmp_a, port_a, &prefix);
    let _b = grouping_host(&tmp_b, port_b, &prefix);
    assert_eq!(say(port_a, "user-1"), "hello", "first user: group1");
    assert_eq!(say(port_b, "user-2"), "HELLO", "second user, on the other host: group2");
    assert_eq!(say(port_b, "user-1"), "hello", "user-1 keeps group1 on the other host");
    assert_eq!(say(port_a, "user-2"), "HELLO", "user-2 keeps group2 on the first host");
    assert_eq!(
        say(port_a, "user-3"),
        "hello",
        "the round robin is shared: group1 again"
    );
}

#[test]
fn an_unreachable_redis_is_a_clear_error() {
    let tmp = TempDir::new("redis-down");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let cfg = tmp.write(
        "c.yaml",
        &format!(
            "state: {{redis: {{url: \"redis://127.0.0.1:{}\"}}}}\ntransports:\n  web: {{plugin: http, config: {{bind: \"127.0.0.1:{port}\"}}}}\n\
             applications:\n  app: {{plugin: echo, endpoint: web}}\n",
            free_port()
        ),
    );
    let out = ruvuma(&[
        "run",
        "-c",
        cfg.to_str().unwrap(),
        "--plugin-dir",
        plugins.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("state: cannot connect to redis at redis://127.0.0.1:"),
        "{}",
        text(&out.stderr)
    );
}

/// A bus on the real RabbitMQ at 127.0.0.1:5672 (guest/guest; `.ci/run` starts it when it is not
/// running). Queue names are global on the broker, so each test names its endpoints uniquely.
pub(crate) fn amqp_bus() -> &'static str {
    "bus: {amqp: {url: \"amqp://guest:guest@127.0.0.1:5672/%2f\", exchange: vumi, prefetch: 20}}\n"
}

pub(crate) fn unique(tag: &str) -> String {
    format!("{tag}_{}_{}", std::process::id(), free_port())
}

pub(crate) fn host_on_amqp(tag: &str, body: &str) -> (Host, TempDir) {
    let tmp = TempDir::new(tag);
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let host = Host::start(
        &format!("{}{body}", amqp_bus()),
        &["--plugin-dir", plugins.to_str().unwrap()],
    );
    (host, tmp)
}

/// Transport, dispatcher and application in three processes, finding each other by name.
#[test]
fn a_topology_split_over_three_processes_on_rabbitmq() {
    let id = unique("split");
    let port = free_port();
    let (_app, _t1) = host_on_amqp(
        "amqp-app",
        &format!("applications:\n  echo: {{plugin: echo, endpoint: app_{id}}}\n"),
    );
    let (_disp, _t2) = host_on_amqp(
        "amqp-disp",
        &format!(
            "dispatchers:\n  main:\n    router_class: simple\n    transport_names: [tel_{id}]\n    exposed_names: [app_{id}]\n    \
             route_mappings: {{tel_{id}: app_{id}}}\n"
        ),
    );
    let (_transport, _t3) = host_on_amqp(
        "amqp-tel",
        &format!("transports:\n  tel_{id}: {{plugin: telnet, config: {{bind: \"127.0.0.1:{port}\"}}}}\n"),
    );
    let mut user = Telnet::connect(port);
    for line in ["over rabbitmq", "and back"] {
        user.send(line);
        assert_eq!(user.read_line().unwrap(), line);
    }
}

/// Three application hosts are competing consumers of one endpoint: they share its messages.
#[test]
fn three_application_hosts_share_the_load() {
    let id = unique("share");
    let port = free_port();
    let app = format!(
        "applications:\n  echo:\n    plugin: echo\n    endpoint: app_{id}\n    middleware:\n      - log: logging\n"
    );
    let apps: Vec<(Host, TempDir)> = (0..3).map(|i| host_on_amqp(&format!("amqp-share-{i}"), &app)).collect();
    let (_front, _tmp) = host_on_amqp(
        "amqp-front",
        &format!(
            "transports:\n  tel_{id}: {{plugin: telnet, config: {{bind: \"127.0.0.1:{port}\"}}}}\n\
             dispatchers:\n  main:\n    router_class: simple\n    transport_names: [tel_{id}]\n    exposed_names: [app_{id}]\n    \
             route_mappings: {{tel_{id}: app_{id}}}\n"
        ),
    );
    let mut user = Telnet::connect(port);
    for i in 0..30 {
        let line = format!("m{i}");
        user.send(&line);
        assert_eq!(user.read_line().unwrap(), line);
    }
    let counts: Vec<usize> = apps
        .iter()
        .map(|(h, _)| {
            h.log()
                .lines()
                .filter(|l| l.contains("Processed inbound message") && l.contains("\"content\":\"m"))
                .count()
        })
        .collect();
    assert_eq!(
        counts.iter().sum::<usize>(),
        30,
        "every message handled once: {counts:?}"
    );
    assert!(
        counts.iter().all(|c| *c >= 3),
        "all three hosts took a share: {counts:?}"
    );
}

/// An ordinary AMQP client (Python's pika) playing a Vumi transport: its Vumi JSON message on
/// `<transport>.inbound` is routed, answered, and the reply arrives on `<transport>.outbound`
/// as a Vumi worker expects it.
#[test]
fn a_vumi_message_from_pika_is_answered_on_the_outbound_queue() {
    let id = unique("pika");
    let transport = format!("vumi_{id}");
    let (_host, _tmp) = host_on_amqp(
        "amqp-pika",
        &format!(
            "applications:\n  echo: {{plugin: echo, endpoint: app_{id}}}\n\
             dispatchers:\n  main:\n    router_class: vumi.dispatchers.SimpleDispatchRouter\n    transport_names: [{transport}]\n    \
             exposed_names: [app_{id}]\n    route_mappings: {{{transport}: app_{id}}}\n"
        ),
    );
    let script = built().root.join("tests/interop/pika_roundtrip.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args([&transport, "hello vumi"])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "pika failed (pip install pika): {}",
        text(&out.stderr)
    );
    let both: Value = serde_json::from_str(text(&out.stdout).trim()).expect("json");
    let (sent, reply) = (&both["sent"], &both["reply"]);
    assert_eq!(reply["message_type"], "user_message");
    assert_eq!(reply["message_version"], "20110921");
    assert_eq!(reply["content"], "hello vumi");
    assert_eq!(reply["in_reply_to"], sent["message_id"]);
    assert_eq!(reply["to_addr"], "+27831234567");
    assert_eq!(reply["from_addr"], "*120#");
    assert_eq!(reply["transport_name"], transport.as_str());
    assert_eq!(
        reply["transport_metadata"]["session_id"], "vumi-1",
        "transport metadata comes back for the transport"
    );
    assert_eq!(reply["message_id"].as_str().map(str::len), Some(32));
}

/// config/distributed/ as it is (only the telnet port moved to a free one).
#[test]
fn the_distributed_configs_run_as_they_are() {
    let root = built().root.join("config/distributed");
    let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    let port = free_port();
    let transport = read("transport.yaml");
    assert!(transport.contains("127.0.0.1:9010"));
    let tmp = TempDir::new("distributed");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let args = ["--plugin-dir", plugins.to_str().unwrap()];
    let _echo_1 = Host::start(&read("echo.yaml"), &args);
    let _echo_2 = Host::start(&read("echo.yaml"), &args);
    let _dispatcher = Host::start(&read("dispatcher.yaml"), &args);
    let _transport = Host::start(
        &transport.replace("127.0.0.1:9010", &format!("127.0.0.1:{port}")),
        &args,
    );
    let mut user = Telnet::connect(port);
    for i in 0..5 {
        user.send(&format!("distributed {i}"));
        assert_eq!(user.read_line().unwrap(), format!("distributed {i}"));
    }
}

/// The broker's queues whose names hold `id`: messages ready, unacknowledged, and consumers.
pub(crate) fn broker_queues(id: &str) -> String {
    let out = std::process::Command::new("rabbitmqctl")
        .args([
            "list_queues",
            "-q",
            "name",
            "messages_ready",
            "messages_unacknowledged",
            "consumers",
        ])
        .output()
        .expect("rabbitmqctl");
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains(id))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The last `n` lines of a log.
pub(crate) fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn redis_get(key: &str) -> Option<String> {
    let out = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "GET", key])
        .output()
        .expect("redis-cli");
    let value = text(&out.stdout).trim().to_owned();
    (!value.is_empty()).then_some(value)
}

/// kill -9 of an application host while 4,000 messages flow: every message is still answered
/// (at least once), none is lost. The load generator counts each message's first reply.
#[test]
fn killing_an_application_host_loses_no_message() {
    let id = unique("kill");
    let prefix = format!("ruvuma-kill-{id}");
    let app = format!("applications:\n  echo: {{plugin: echo, endpoint: app_{id}}}\n");
    // The victim logs each message it takes, to show it was mid-stream when it died.
    let logged = format!("applications:\n  echo: {{plugin: echo, endpoint: app_{id}, middleware: [log: logging]}}\n");
    let (mut victim, _t1) = host_on_amqp("amqp-victim", &logged);
    let (survivor, _t2) = host_on_amqp("amqp-survivor", &app);
    let (front, _t3) = host_on_amqp(
        "amqp-load",
        &format!(
            "state: {{redis: {{url: \"redis://127.0.0.1:6379\", key_prefix: \"{prefix}\"}}}}\n\
             transports:\n  lg_{id}: {{plugin: loadgen, config: {{messages: 4000, window: 200}}}}\n\
             dispatchers:\n  main:\n    router_class: simple\n    transport_names: [lg_{id}]\n    exposed_names: [app_{id}]\n    \
             route_mappings: {{lg_{id}: app_{id}}}\n"
        ),
    );
    // Let messages flow through both application hosts, then kill one mid-stream.
    eventually("the victim handling messages", Duration::from_secs(30), || {
        victim.log().matches("Processed inbound message").count() >= 200
    });
    victim.kill();
    let result = format!("{prefix}:lg_{id}:result");
    // Debug builds on a busy 2-core machine: the limit is for a stall, not a speed.
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    while redis_get(&result).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "not every one of 4,000 messages answered within 240 s; queues:\n{}\nload host:\n{}\nsurvivor:\n{}",
            broker_queues(&id),
            tail(&front.log(), 40),
            tail(&survivor.log(), 20)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let repeats = redis_get(&format!("{prefix}:lg_{id}:repeats")).unwrap_or_else(|| "0".into());
    eprintln!("all 4,000 answered; {repeats} answered twice (at-least-once after the kill)");
}

/// On RabbitMQ, what cannot be routed is kept on `<dispatcher>.failures`, as Vumi keeps failures.
#[test]
fn failures_are_kept_on_the_broker() {
    let id = unique("fail");
    let port = free_port();
    let (mut host, _tmp) = host_on_amqp(
        "amqp-fail",
        &format!(
            "transports:\n  tel_{id}: {{plugin: telnet, config: {{bind: \"127.0.0.1:{port}\"}}}}\n\
             applications:\n  echo: {{plugin: echo, endpoint: app_{id}}}\n\
             dispatchers:\n  d_{id}:\n    router_class: from_addr_multiplex\n    transport_names: [tel_{id}]\n    \
             exposed_names: [app_{id}]\n    fromaddr_mappings: {{nobody: tel_{id}}}\n"
        ),
    );
    let mut user = Telnet::connect(port);
    user.send("lost?");
    host.wait_for_log("not routed", Duration::from_secs(10));
    let queue = format!("d_{id}.failures");
    eventually("the failure on the broker", Duration::from_secs(10), || {
        let out = std::process::Command::new("rabbitmqctl")
            .args(["list_queues", "name", "messages"])
            .output()
            .expect("rabbitmqctl");
        text(&out.stdout)
            .lines()
            .any(|l| l.starts_with(&format!("{queue}\t")) && !l.ends_with("\t0"))
    });
}

/// On RabbitMQ an `smpp` transport's status reports are published on `<transport>.status`, where
/// a Vumi worker (pika here) that binds a queue sees them.
#[test]
fn smpp_status_reports_reach_a_pika_watcher() {
    use std::io::BufRead;
    let smsc = ruvuma_tests::smsc::Smsc::start(ruvuma_tests::smsc::SmscConfig::default());
    let transport = unique("sms");
    let script = built().root.join("tests/interop/pika_status.py");
    let mut watcher = std::process::Command::new("python3")
        .arg(&script)
        .args([transport.as_str(), "ok", "bound", "30"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut lines = std::io::BufReader::new(watcher.stdout.take().unwrap()).lines();
    assert_eq!(
        lines.next().and_then(Result::ok).as_deref(),
        Some("ready"),
        "pika watcher did not start"
    );
    let (_host, _tmp) = host_on_amqp(
        "amqp-status",
        &format!(
            "transports:\n  {transport}: {{plugin: smpp, config: {{host: 127.0.0.1, port: {}, system_id: test, password: secret}}}}\n\
             applications:\n  app: {{plugin: mt_source, endpoint: {transport}}}\n",
            smsc.port()
        ),
    );
    let reports: Vec<Value> = lines
        .map_while(Result::ok)
        .map(|l| serde_json::from_str(&l).expect("json report"))
        .collect();
    let status = watcher.wait().expect("wait");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut watcher.stderr.take().unwrap(), &mut err).ok();
    assert!(status.success(), "{err}\n{reports:#?}");
    let bound = reports.last().expect("a report");
    assert_eq!(bound["message_type"], "status");
    assert_eq!(bound["component"], "smpp");
    assert_eq!(bound["transport_name"], transport.as_str());
    assert_eq!(bound["details"]["bind_type"], "transceiver");
}
