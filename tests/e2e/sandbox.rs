//! The `sandbox` application: apps written for Vumi's JavaScript sandbox (tests/fixtures/sandbox,
//! with vumigo_v02 installed from npm) over telnet and sync HTTP, its resources, and its limits:
//! each one an app overruns fails that message with the reason, and the next message is answered.

use ruvuma_tests::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// `npm ci` in `folder` (under the workspace root) unless its packages are there already.
fn npm_ci(folder: &str) -> PathBuf {
    let dir = built().root.join(folder);
    if !dir.join("node_modules/vumigo_v02/package.json").exists() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .output()
            .expect("npm (apt-get install nodejs npm)");
        assert!(out.status.success(), "npm ci in {folder}: {}", text(&out.stderr));
    }
    dir
}

fn fixtures() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| npm_ci("tests/fixtures/sandbox"))
}

/// A host with the app `file` (in the fixtures) behind a sync HTTP transport; `extra` adds keys
/// to the sandbox's config.
fn host(file: &str, extra: &str) -> (Host, u16, TempDir) {
    let app = fixtures().join(file);
    let yaml = format!(
        "transports:\n  web: {{plugin: http, config: {{bind: \"127.0.0.1:{{port}}\", mode: sync, reply_timeout_ms: 6000}}}}\n\
         applications:\n  app:\n    plugin: sandbox\n    endpoint: web\n    \
         config: {{javascript_file: \"{}\", config: {{name: survey}}{extra}}}\n",
        app.display()
    );
    let (host, port, _, tmp) = start_with_ports("sandbox", &yaml);
    (host, port, tmp)
}

/// One sync HTTP request: the status and the reply's content (or the error body).
fn say(port: u16, from: &str, content: &str, event: &str) -> (u16, String) {
    let body = serde_json::json!({"from_addr": from, "to_addr": "*120#", "content": content, "session_event": event});
    let (status, text) = http_post(
        &format!("http://127.0.0.1:{port}/"),
        "application/json",
        &body.to_string(),
        None,
    );
    let content = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["content"].as_str().map(str::to_owned))
        .unwrap_or(text);
    (status, content)
}

fn content(port: u16, from: &str, content_: &str, event: &str) -> String {
    let (status, text) = say(port, from, content_, event);
    assert_eq!(status, 200, "{text}");
    text
}

#[test]
fn config_sandbox_yaml_runs_as_it_is_a_toolkit_menu_over_telnet() {
    npm_ci("config/sandbox");
    let root = &built().root;
    let yaml = std::fs::read_to_string(root.join("config/sandbox.yaml")).expect("config/sandbox.yaml");
    assert!(yaml.contains("127.0.0.1:9011"));
    let tmp = TempDir::new("sandbox-yaml");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let mut host = Host::start_in(root, &yaml, &["--plugin-dir", plugins.to_str().unwrap()]);
    host.wait_for_log("telnet listening on 127.0.0.1:9011", WAIT);
    let mut user = Telnet::connect(9011);
    let lines = |user: &mut Telnet, n: usize| -> Vec<String> { (0..n).map(|_| user.read_line().unwrap()).collect() };
    assert_eq!(lines(&mut user, 3), ["Tea or coffee?", "1. Tea", "2. Coffee"]);
    user.send("2");
    assert_eq!(lines(&mut user, 1), ["Your name?"]);
    user.send("Ann");
    assert_eq!(lines(&mut user, 1), ["One coffee for Ann. Bye!"]);
}

#[test]
fn config_get_answers_the_config_and_config_keys_and_refuses_a_request_without_a_key() {
    let extra = ", config_keys: {greeting: hello, \"translation.fr\": {bonjour: 1}}";
    let (_host, port, _tmp) = host("tools.js", extra);
    assert_eq!(
        content(port, "u1", "config config", "new"),
        r#"config "{\"name\":\"survey\"}""#
    );
    assert_eq!(content(port, "u1", "config greeting", "new"), r#"config "hello""#);
    assert_eq!(
        content(port, "u1", "config translation.fr", "new"),
        r#"config "{\"bonjour\":1}""#
    );
    assert_eq!(content(port, "u1", "config missing", "new"), "config null");
    assert_eq!(
        content(port, "u1", "config -", "new"),
        "refused: 'key' must be given, as a string"
    );
}

#[test]
fn a_toolkit_survey_over_sync_http_keeps_its_user_in_kv_across_sessions() {
    let (_host, port, _tmp) = host("menu.js", "");
    let start = content(port, "+27000000001", "", "new");
    assert_eq!(start, "Best fruit?\n1. Mango\n2. Guava");
    assert_eq!(
        content(port, "+27000000001", "9", "resume"),
        start,
        "a wrong choice asks again"
    );
    assert_eq!(content(port, "+27000000001", "2", "resume"), "Your name?");
    assert_eq!(
        content(port, "+27000000001", "Thandi", "resume"),
        "Thanks Thandi: guava has 1 vote(s)."
    );
    // Another user, at the same time as a new session of the first.
    assert_eq!(content(port, "+27000000002", "", "new"), start);
    let again = content(port, "+27000000001", "", "new");
    assert_eq!(again, "Hi again, Thandi. Best fruit?\n1. Mango\n2. Guava");
    assert_eq!(content(port, "+27000000002", "2", "resume"), "Your name?");
    assert_eq!(
        content(port, "+27000000001", "2", "resume"),
        "Thanks Thandi: guava has 3 vote(s).",
        "the second user voted in between"
    );
}

#[test]
fn the_http_resource_reaches_only_the_hosts_allowed() {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("receiver");
    let receiver = server.server_addr().to_ip().expect("ip").port();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let body = format!("you asked for {}", request.url());
            let _ = request.respond(tiny_http::Response::from_string(body).with_status_code(201));
        }
    });
    let allow = format!(", http_allow: [\"127.0.0.1:{receiver}\"]");
    let (_host, port, _tmp) = host("tools.js", &allow);
    let url = format!("http://127.0.0.1:{receiver}/balance?id=7");
    assert_eq!(
        content(port, "u1", &format!("fetch {url}"), "new"),
        "fetched 201: you asked for /balance?id=7"
    );
    let other = format!("http://127.0.0.1:{}/", free_port());
    let refused = content(port, "u1", &format!("fetch {other}"), "new");
    assert_eq!(refused, "refused: host \"127.0.0.1\" is not in http_allow");
}

#[test]
fn send_to_an_endpoint_leaves_through_the_transport_a_routing_table_gives_it() {
    let (outbound, received) = receiver(|_, _, _| (200, vec![], r#"{"message_id": "remote-1"}"#.into()));
    let app = fixtures().join("tools.js");
    let yaml = format!(
        "transports:\n  web: {{plugin: http, config: {{bind: \"127.0.0.1:{{port}}\", mode: sync, reply_timeout_ms: 6000}}}}\n  \
         sms: {{plugin: http, config: {{bind: \"127.0.0.1:{{port2}}\", outbound_url: \"{outbound}/out\"}}}}\n\
         applications:\n  app:\n    plugin: sandbox\n    endpoint: app_ep\n    \
         config: {{javascript_file: \"{}\", endpoints: [sms]}}\n\
         dispatchers:\n  main:\n    router_class: vumi.dispatchers.RoutingTableDispatcher\n    \
         receive_inbound_connectors: [web, sms]\n    receive_outbound_connectors: [app_ep]\n    routing_table:\n      \
         web: {{default: [app_ep, default]}}\n      sms: {{default: [app_ep, default]}}\n      \
         app_ep: {{default: [web, default], sms: [sms, default]}}\n",
        app.display()
    );
    let (_host, port, _, _tmp) = start_with_ports("sandbox-endpoints", &yaml);
    assert_eq!(
        content(port, "u1", "notify +27830001111 sms your code is 42", "new"),
        "sent to +27830001111 via sms"
    );
    eventually("the message at the sms transport's receiver", WAIT, || {
        received.lock().unwrap().len() == 1
    });
    let (path, _, body) = received.lock().unwrap()[0].clone();
    assert_eq!(path, "/out");
    let sent: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(sent["to_addr"], "+27830001111", "{body}");
    assert_eq!(sent["content"], "your code is 42", "{body}");
    assert_eq!(
        content(port, "u1", "notify +27830001111 fax hello", "new"),
        "refused: Endpoint \"fax\" not configured"
    );
    assert_eq!(received.lock().unwrap().len(), 1, "nothing else was sent");
}

#[test]
fn messagestore_counts_and_finds_the_apps_messages_and_metrics_reach_the_hosts_metrics() {
    let tmp = TempDir::new("sandbox-store");
    messagestore_and_metrics(stores::TestStore::sqlite(&tmp));
}

#[test]
fn messagestore_counts_and_finds_the_apps_messages_on_postgres() {
    messagestore_and_metrics(stores::TestStore::postgres("sandbox", stores::POSTGRES));
}

fn messagestore_and_metrics(store: stores::TestStore) {
    let admin = free_port();
    let top = format!("{}admin: {{bind: \"127.0.0.1:{admin}\"}}\n", store.yaml());
    let app = fixtures().join("tools.js");
    let yaml = format!(
        "{top}transports:\n  web: {{plugin: http, config: {{bind: \"127.0.0.1:{{port}}\", mode: sync, reply_timeout_ms: 6000}}}}\n\
         applications:\n  app: {{plugin: sandbox, endpoint: web, config: {{javascript_file: \"{}\"}}}}\n",
        app.display()
    );
    let (host, port, _, _tmp) = start_with_ports("sandbox-store", &yaml);
    let content = |port, user, words, event| {
        let (status, text) = say(port, user, words, event);
        assert_eq!(status, 200, "{words}: {text}\n{}", host.log());
        text
    };
    assert_eq!(content(port, "u1", "mark", "new"), "marked");
    for user in ["u2", "u3"] {
        assert_eq!(content(port, user, "hi", "new"), "echo hi");
    }
    eventually("three senders counted", WAIT, || {
        content(port, "u1", "count count_inbound_uniques", "new") == "3"
    });
    let sent: i64 = content(port, "u1", "count count_sent_messages", "new")
        .parse()
        .expect("a count");
    assert!(sent >= 3, "the replies to mark and two his at least: {sent}");
    let progress: Value = serde_json::from_str(&content(port, "u1", "count progress_status", "new")).expect("JSON");
    for key in ["sent", "ack", "nack", "delivery_report", "delivery_report_delivered"] {
        assert!(progress[key].is_i64(), "{key} in {progress}");
    }
    assert_eq!(
        content(port, "u1", "count count_replies elsewhere", "new"),
        "refused: Invalid conversation_key"
    );
    assert_eq!(content(port, "u1", "lookup", "new"), "found mark, received, 0 event(s)");

    for (words, says) in [
        ("fire votes sum 2", "fired votes"),
        ("fire votes sum 3", "fired votes"),
        ("fire rtt.ms avg 10", "fired rtt.ms"),
        ("fire rtt.ms avg 20", "fired rtt.ms"),
        ("fire 9lives sum 1", "refused: Invalid metric name"),
        ("fire votes median 1", "refused: Invalid metric aggregator"),
    ] {
        let got = content(port, "u1", words, "new");
        assert!(got.starts_with(says), "{words}: {got}");
    }
    let (status, exposition) = http_get(&format!("http://127.0.0.1:{admin}/metrics"));
    assert_eq!(status, 200, "{exposition}");
    promtool_check(&exposition);
    let series = |metric: &str, agg: &str| format!("{{component=\"app\",metric=\"{metric}\",agg=\"{agg}\"}}");
    assert_eq!(
        sample(&exposition, &format!("ruvuma_app_metric{}", series("votes", "sum"))),
        5.0
    );
    assert_eq!(
        sample(&exposition, &format!("ruvuma_app_metric{}", series("rtt.ms", "avg"))),
        15.0
    );
    assert_eq!(
        sample(
            &exposition,
            &format!("ruvuma_app_metric_fired_total{}", series("votes", "sum"))
        ),
        2.0
    );
    assert!(!exposition.contains("9lives"), "a refused metric is not kept");
}

#[test]
fn events_an_app_does_not_handle_let_go_of_their_slot_at_once() {
    // One slot, and a time limit far past the transport's wait for a reply: each reply's ack
    // comes back to the app, which has no on_inbound_event. Held until the limit, it would keep
    // the next message waiting past the transport's 6 s.
    let (_host, port, _tmp) = host("tools.js", ", workers: 1, slots: 1, timeout: 60");
    for i in 0..4 {
        assert_eq!(content(port, &format!("u{i}"), "hi", "new"), "echo hi");
    }
}

#[test]
fn keys_past_the_quota_are_refused_with_or_without_an_expiry() {
    let (_host, port, _tmp) = host("tools.js", ", kv_keys: 3");
    let say = |words: &str| content(port, "u1", words, "new");
    assert_eq!(say("keep a 1"), "kept a");
    assert_eq!(say("keep a 3"), "kept a", "a key held already is not a new one");
    assert_eq!(say("lease s 1 600"), "leased s");
    assert_eq!(
        say("lease s 2 600"),
        "leased s",
        "set again in its window: not a new one"
    );
    assert_eq!(say("bump n"), "n is 1");
    assert_eq!(say("bump n"), "n is 2", "a counter held already is not a new one");
    assert_eq!(say("keep b 2"), "refused: Too many keys (kv_keys 3)");
    assert_eq!(say("lease t 1 600"), "refused: Too many keys (kv_keys 3)");
    assert_eq!(say("bump m"), "refused: Too many keys (kv_keys 3)");
    assert_eq!(
        say("lease u 1 99999999"),
        "refused: seconds must be a positive number up to kv_expiry_max (2592000), or null"
    );
}

#[test]
fn an_app_that_spews_while_its_message_waits_is_stopped_at_max_output_and_the_host_keeps_none_of_it() {
    // A receiver that takes connections and never answers: the message waits on it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("receiver");
    let receiver = silent.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(held);
    });
    let extra = format!(
        ", http_allow: [\"127.0.0.1:{receiver}\"], http_timeout: 8, log_level: debug, workers: 1, max_memory_mb: 1024"
    );
    let (mut host, port, _tmp) = host("tools.js", &extra);
    let before = procfs::peak_rss(host.pid());
    // 2,000 lines of 100 KB: 200 MB, against max_output's 1 MiB.
    let (status, _) = say(port, "u1", &format!("spew http://127.0.0.1:{receiver}/ 2000"), "new");
    assert_ne!(status, 200, "a message stopped at max_output gets no reply");
    host.wait_for_log("more than 1048576 bytes for one message (max_output)", WAIT);
    let peak = procfs::peak_rss(host.pid());
    assert!(
        peak < before + 64 * 1024 * 1024,
        "the host grew from {} MB to {} MB while the app spewed",
        procfs::mb(before),
        procfs::mb(peak)
    );
    assert_eq!(content(port, "u2", "hello", "new"), "echo hello");
}

#[test]
fn a_message_past_its_cpu_time_fails_and_the_worker_goes_on() {
    let (mut host, port, _tmp) = host("tools.js", ", cpu_time: 0.5, timeout: 30, workers: 1");
    assert_eq!(
        content(port, "u1", "spin 100 3", "new"),
        "spun",
        "0.3 s in three stretches"
    );
    let (status, _) = say(port, "u1", "spin 100 20", "new");
    assert_ne!(status, 200, "2 s in twenty stretches, past cpu_time");
    host.wait_for_log("the app ran for more than 500 ms for one message (cpu_time)", WAIT);
    assert_eq!(content(port, "u1", "hello", "new"), "echo hello");
    // The same on the app's own timers.
    assert_eq!(content(port, "u2", "tick 100 3", "new"), "ticked");
    let (status, _) = say(port, "u2", "tick 100 20", "new");
    assert_ne!(status, 200, "2 s in twenty stretches on timers, past cpu_time");
    eventually("a second message past its cpu_time", WAIT, || {
        host.log().matches("(cpu_time)").count() >= 2
    });
    assert_eq!(content(port, "u2", "hello", "new"), "echo hello");
    let log = host.log();
    assert!(
        !log.contains("worker 0 ended") && !log.contains("started again"),
        "the worker was not replaced:\n{log}"
    );
}

#[test]
fn a_script_stuck_in_a_loop_is_stopped_at_its_time_limit_and_the_next_message_is_answered() {
    let (mut host, port, _tmp) = host("tools.js", ", timeout: 1, workers: 1");
    let (status, _) = say(port, "u1", "loop", "new");
    assert_ne!(status, 200, "a message stuck in a loop gets no reply");
    host.wait_for_log("did not finish within 1s (timeout) and its worker did not let go", WAIT);
    assert_eq!(content(port, "u1", "hello", "new"), "echo hello");
}

#[test]
fn a_script_that_exhausts_its_memory_fails_its_message_and_the_next_is_answered() {
    let (mut host, port, _tmp) = host("tools.js", ", max_memory_mb: 32, workers: 1");
    let (status, _) = say(port, "u1", "eat", "new");
    assert_ne!(status, 200);
    host.wait_for_log("the app ran out of memory (max_memory_mb 32)", WAIT);
    assert_eq!(content(port, "u1", "hello", "new"), "echo hello");
}

#[test]
fn a_crashed_worker_is_replaced_and_an_error_names_the_line() {
    let (mut host, port, _tmp) = host("tools.js", ", workers: 1");
    assert_eq!(content(port, "u1", "hello", "new"), "echo hello");
    let (status, _) = say(port, "u1", "crash", "new");
    assert_ne!(status, 200);
    host.wait_for_log("sandbox app: the worker ended", WAIT);
    assert_eq!(content(port, "u1", "hello again", "new"), "echo hello again");
    host.wait_for_log("sandbox worker 0 started again", WAIT);
    let (status, _) = say(port, "u1", "throw", "new");
    assert_ne!(status, 200);
    let script = std::fs::read_to_string(fixtures().join("tools.js")).expect("tools.js");
    let line = 1 + script
        .lines()
        .position(|l| l.contains("return null.field;"))
        .expect("the line that throws");
    host.wait_for_log(
        &format!("tools.js line {line}: TypeError: Cannot read properties of null"),
        WAIT,
    );
}

#[test]
fn a_script_that_escapes_its_context_still_reads_no_files_and_reaches_no_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let open = listener.local_addr().expect("addr").port();
    let (_host, port, _tmp) = host("tools.js", "");
    assert_eq!(
        content(port, "u1", "read /etc/hostname", "new"),
        "read refused: ERR_ACCESS_DENIED"
    );
    let beside = fixtures().join("package.json");
    assert!(content(port, "u1", &format!("read {}", beside.display()), "new").starts_with("read "));
    let connect = content(port, "u1", &format!("connect {open}"), "new");
    assert!(connect.starts_with("connect refused: "), "{connect}");
}

#[test]
fn scripts_that_do_not_load_are_clear_errors_naming_the_line() {
    for (script, says) in [
        ("var a = ;\n", "bad.js line 1: SyntaxError: Unexpected token ';'"),
        (
            "var x = 1;\nundefined_thing();\n",
            "bad.js line 2: ReferenceError: undefined_thing is not defined",
        ),
    ] {
        let tmp = TempDir::new("sandbox-bad");
        let file = tmp.write("bad.js", script);
        let plugins = plugin_dir(&tmp, ALL_PLUGINS);
        let cfg = tmp.write(
            "c.yaml",
            &format!(
                "transports:\n  t: {{plugin: telnet, config: {{bind: \"127.0.0.1:{}\"}}}}\n\
                 applications:\n  app: {{plugin: sandbox, endpoint: t, config: {{javascript_file: \"{}\"}}}}\n",
                free_port(),
                file.display()
            ),
        );
        let out = ruvuma(&[
            "run",
            "-c",
            cfg.to_str().unwrap(),
            "--plugin-dir",
            plugins.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains(says), "{says} in:\n{}", text(&out.stderr));
    }
}
