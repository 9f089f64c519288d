//! The message store through the real binary, on SQLite and on the machine's PostgreSQL: what
//! is kept of a conversation and of an SMPP message's fate, the query commands, retention, a
//! database that goes away mid-run, and `kill -9` of a memory-bus host under load.

use ruvuma_tests::smsc::{Smsc, SmscConfig};
use ruvuma_tests::stores::{get, listed, messages, TestStore, POSTGRES};
use ruvuma_tests::tcp_proxy::TcpProxy;
use ruvuma_tests::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// Starts `yaml` (with `{port}` and `{port2}` replaced) and writes the same config for the
/// query commands: the host, its ports, the config's path, and the scratch folder.
fn start(tmp: &TempDir, yaml: &str) -> (Host, u16, u16, PathBuf) {
    let plugins = plugin_dir(tmp, ALL_PLUGINS);
    let (port, port2) = (free_port(), free_port());
    let yaml = yaml
        .replace("{port}", &port.to_string())
        .replace("{port2}", &port2.to_string());
    let config = tmp.write("config.yaml", &yaml);
    let host = Host::start(&yaml, &["--plugin-dir", plugins.to_str().unwrap()]);
    (host, port, port2, config)
}

fn restart(tmp: &TempDir, config: &std::path::Path) -> Host {
    let yaml = std::fs::read_to_string(config).unwrap();
    let plugins = tmp.path().join("plugins");
    Host::start(&yaml, &["--plugin-dir", plugins.to_str().unwrap()])
}

/// Telnet on `{port}` → a dispatcher → echo, with `store` and its `extra` keys.
fn echo_over_telnet(store: &TestStore, extra: &str) -> String {
    telnet_config(0, "    plugin: echo").replace("127.0.0.1:0", "127.0.0.1:{port}") + &store.yaml() + extra
}

/// `$sqlite` and `$postgres` run `$body(&tmp, store)` on a fresh store of each kind.
macro_rules! on_both_stores {
    ($tag:literal, $body:ident, $sqlite:ident, $postgres:ident) => {
        #[test]
        fn $sqlite() {
            let tmp = TempDir::new($tag);
            $body(&tmp, TestStore::sqlite(&tmp));
        }

        #[test]
        fn $postgres() {
            let tmp = TempDir::new($tag);
            $body(&tmp, TestStore::postgres($tag, POSTGRES));
        }
    };
}

fn content(row: &Value) -> &str {
    row["message"]["content"].as_str().unwrap_or("")
}

fn telnet_conversation_is_kept(tmp: &TempDir, store: TestStore) {
    let yaml = echo_over_telnet(&store, "");
    let (mut host, port, _, config) = start(tmp, &yaml);
    let mut user = Telnet::connect(port);
    user.send("hello store");
    assert_eq!(user.read_line().unwrap(), "hello store");
    eventually("the reply and its ack kept", WAIT, || {
        listed(&config, &["--direction", "out", "--status", "acked"]).len() == 1
    });
    let rows = listed(&config, &[]);
    let inbound: Vec<&Value> = rows.iter().filter(|r| r["direction"] == "in").collect();
    assert!(inbound.iter().any(|r| content(r) == "hello store"), "{rows:#?}");
    assert!(
        inbound.iter().any(|r| r["message"]["session_event"] == "new"),
        "the session's opening is kept: {rows:#?}"
    );
    let reply = rows.iter().find(|r| r["direction"] == "out").unwrap();
    let id = reply["message_id"].as_str().unwrap();
    let found = get(&config, id).expect("the reply by its id");
    assert_eq!(found["status"], "acked");
    assert_eq!(found["endpoint"], "telnet");
    assert_eq!(found["message"]["content"], "hello store");
    assert_eq!(
        found["message"]["in_reply_to"],
        inbound.iter().find(|r| content(r) == "hello store").unwrap()["message_id"]
    );
    let events = found["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{found:#}");
    assert_eq!(events[0]["event_type"], "ack");
    assert_eq!(events[0]["event"]["user_message_id"], id);
    host.signal("TERM");
    assert!(host.wait(WAIT).success(), "{}", host.log());
    if let TestStore::Sqlite(path) = &store {
        // The file is an ordinary SQLite database.
        let out = std::process::Command::new("sqlite3")
            .arg(path)
            .arg("SELECT direction, status, count(*) FROM messages GROUP BY 1, 2 ORDER BY 1, 2")
            .output()
            .expect("the sqlite3 tool");
        assert_eq!(
            text(&out.stdout).trim(),
            "in|received|2\nout|acked|1",
            "{}",
            text(&out.stderr)
        );
    }
}

on_both_stores!(
    "telnet",
    telnet_conversation_is_kept,
    a_telnet_conversation_is_kept_with_its_events_on_sqlite,
    a_telnet_conversation_is_kept_with_its_events_on_postgres
);

/// An HTTP front relaying to an `smpp` transport that asks for receipts, with the store.
fn http_to_smpp(smsc: &Smsc, store: &TestStore, extra: &str) -> String {
    format!(
        "transports:\n  web:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{{port}}\", mode: async}}\n\
         \x20 sms:\n    plugin: smpp\n    config: {{host: 127.0.0.1, port: {}, system_id: test, password: secret, \
         registered_delivery: true, reconnect_delay: 0.2{extra}}}\n\
         dispatchers:\n  relay:\n    router_class: transport_to_transport\n    transport_names: [web, sms]\n    \
         exposed_names: []\n    route_mappings: {{web: [sms], sms: [web]}}\n{}",
        smsc.port(),
        store.yaml()
    )
}

fn post_message(port: u16, to: &str, content: &str) -> (u16, String) {
    let body = serde_json::json!({"to_addr": to, "from_addr": "1234", "content": content}).to_string();
    http_post(&format!("http://127.0.0.1:{port}/"), "application/json", &body, None)
}

fn smpp_fate_is_kept(tmp: &TempDir, store: TestStore) {
    let smsc = Smsc::start(SmscConfig::default());
    let (mut host, port, _, config) = start(tmp, &http_to_smpp(&smsc, &store, ""));
    host.wait_for_log("bound", WAIT);
    let (status, body) = post_message(port, "27820000001", "where is it?");
    assert_eq!(status, 202, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("the message delivered, as the store says", WAIT, || {
        get(&config, &id).is_some_and(|m| m["status"] == "delivered")
    });
    let found = get(&config, &id).unwrap();
    assert_eq!(found["direction"], "out");
    assert_eq!(found["endpoint"], "sms");
    assert_eq!(found["addr"], "27820000001");
    let kinds: Vec<&str> = found["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["ack", "delivery_report"],
        "{found:#}\n{} submits\n{}",
        smsc.submit_count(),
        host.log()
    );
    assert_eq!(found["events"][1]["detail"], "delivered");
    assert_eq!(
        found["also"][0]["direction"], "in",
        "the same id, as the HTTP front took it: {found:#}"
    );
    assert_eq!(found["also"][0]["endpoint"], "web");
    // The SMSC's own id finds it too, written as the SMSC wrote it (zero padded, upper case).
    let smsc_id = smsc.submits()[0].message_id.clone().expect("answered");
    let by_smsc = get(&config, &format!("000{}", smsc_id.to_uppercase())).expect("found by the SMSC's id");
    assert_eq!(by_smsc["message_id"], id.as_str());
    host.signal("TERM");
    assert!(host.wait(WAIT).success(), "{}", host.log());
}

on_both_stores!(
    "smpp",
    smpp_fate_is_kept,
    an_smpp_message_with_ack_and_receipt_is_kept_as_delivered_on_sqlite,
    an_smpp_message_with_ack_and_receipt_is_kept_as_delivered_on_postgres
);

on_both_stores!(
    "list",
    list_filters_paging_formats_and_stats,
    list_filters_paging_formats_and_stats_through_the_command_line_on_sqlite,
    list_filters_paging_formats_and_stats_through_the_command_line_on_postgres
);

fn list_filters_paging_formats_and_stats(tmp: &TempDir, store: TestStore) {
    let yaml = echo_over_telnet(&store, "");
    let (_host, port, _, config) = start(tmp, &yaml);
    let (mut a, mut b) = (Telnet::connect(port), Telnet::connect(port));
    for i in 0..6 {
        a.send(&format!("a{i}"));
        assert_eq!(a.read_line().unwrap(), format!("a{i}"));
    }
    for i in 0..4 {
        b.send(&format!("b{i}"));
        assert_eq!(b.read_line().unwrap(), format!("b{i}"));
    }
    eventually("ten acks kept", WAIT, || {
        listed(&config, &["--status", "acked"]).len() == 10
    });
    let all = listed(&config, &[]);
    assert_eq!(all.len(), 22, "10 lines, 10 replies and 2 session openings");
    let a_addr = all.iter().find(|r| content(r) == "a0").unwrap()["addr"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        listed(&config, &["--addr", &a_addr]).len(),
        13,
        "a's 6 lines, 6 replies and opening"
    );
    assert_eq!(listed(&config, &["--direction", "in", "--addr", &a_addr]).len(), 7);
    assert_eq!(
        listed(&config, &["--endpoint", "telnet", "--status", "received"]).len(),
        12
    );
    assert_eq!(listed(&config, &["--since", "1h"]).len(), 22);
    assert!(listed(&config, &["--until", "2000-01-01"]).is_empty());
    assert!(listed(&config, &["--endpoint", "nowhere"]).is_empty());

    // Pages of 5, following the cursor each prints: every row once, newest first.
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let mut args = vec!["list", "--format", "csv", "--limit", "5"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let (code, out, err) = messages(&config, &args);
        assert_eq!(code, Some(0), "{err}");
        let mut lines = out.lines();
        assert_eq!(
            lines.next(),
            Some("stored_at,direction,endpoint,addr,status,batch,message_id,sent_message_id,content")
        );
        seen.extend(lines.map(|l| l.split(',').nth(6).unwrap().to_owned()));
        match err.trim().strip_prefix("more: --cursor ") {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let ids: Vec<String> = all
        .iter()
        .map(|r| r["message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        seen, ids,
        "paged in the same order as one listing, without gaps or repeats"
    );

    let (code, table, _) = messages(&config, &["list", "--limit", "3"]);
    assert_eq!(code, Some(0));
    assert_eq!(table.lines().count(), 4, "a header and three rows:\n{table}");
    assert!(table.lines().next().unwrap().starts_with("stored_at"), "{table}");

    let (code, out, err) = messages(&config, &["stats", "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let stats: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stats["total"], 22);
    assert_eq!(stats["by_direction"]["in"], 12);
    assert_eq!(stats["by_direction"]["out"], 10);
    assert_eq!(stats["by_status"]["acked"], 10);
    assert_eq!(stats["by_endpoint"]["telnet"], 22);
    assert_eq!(stats["events"]["ack"], 10);
    let (code, out, _) = messages(&config, &["stats"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("telnet") && out.contains("acked") && out.contains("events: ack"),
        "{out}"
    );

    // Bad input is named.
    let (code, _, err) = messages(&config, &["list", "--since", "yesterday"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("\"yesterday\" is not a time"), "{err}");
    let (code, _, err) = messages(&config, &["list", "--cursor", "junk"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("\"junk\" is not a cursor"), "{err}");
    let (code, _, err) = messages(&config, &["get", "no-such-id"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no message \"no-such-id\""), "{err}");
    let bare = tmp.write("bare.yaml", "bus: memory\n");
    let (code, _, err) = messages(&bare, &["stats"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("has no store: section"), "{err}");
}

on_both_stores!(
    "retention",
    retention_deletes_what_is_old,
    retention_deletes_what_is_older_than_its_kind_allows_while_running_on_sqlite,
    retention_deletes_what_is_older_than_its_kind_allows_while_running_on_postgres
);

fn retention_deletes_what_is_old(tmp: &TempDir, store: TestStore) {
    let yaml = echo_over_telnet(&store, "  retention: {inbound: 1s, outbound: 1h, events: 1h}\n");
    let (_host, port, _, config) = start(tmp, &yaml);
    let mut user = Telnet::connect(port);
    for i in 0..3 {
        user.send(&format!("r{i}"));
        assert_eq!(user.read_line().unwrap(), format!("r{i}"));
    }
    eventually("three replies kept", WAIT, || {
        listed(&config, &["--direction", "out"]).len() == 3
    });
    eventually("the inbound messages deleted after a second", WAIT, || {
        listed(&config, &["--direction", "in"]).is_empty()
    });
    let out = listed(&config, &["--direction", "out"]);
    assert_eq!(out.len(), 3, "outbound ones are kept for an hour");
    assert_eq!(
        get(&config, out[0]["message_id"].as_str().unwrap()).unwrap()["events"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// What keeps the database away for a while: it says on `begun` once the database is away.
type Outage = Box<dyn FnOnce(Duration, std::sync::mpsc::Sender<()>) + Send>;

/// Talks through telnet while `outage` keeps the database away, then checks that every
/// message was answered once it was back and that everything was kept.
fn outage_loses_nothing(store: TestStore, outage: Outage, name: &str) {
    let tmp = TempDir::new("store-outage");
    let yaml = echo_over_telnet(&store, "");
    let (mut host, port, _, config) = start(&tmp, &yaml);
    let mut user = Telnet::connect(port);
    user.send("before");
    assert_eq!(user.read_line().unwrap(), "before");
    let down_for = Duration::from_secs(3);
    let (begun, away) = std::sync::mpsc::channel();
    let outage = std::thread::spawn(move || outage(down_for, begun));
    away.recv_timeout(WAIT).expect("the outage began");
    for i in 0..5 {
        user.send(&format!("during{i}"));
    }
    outage.join().unwrap();
    for i in 0..5 {
        assert_eq!(
            user.read_line().unwrap(),
            format!("during{i}"),
            "answered once the store is back"
        );
    }
    user.send("after");
    assert_eq!(user.read_line().unwrap(), "after");
    host.wait_for_log(&format!("store {name}: down"), WAIT);
    host.wait_for_log(&format!("store {name}: up again"), WAIT);
    eventually("all seven replies kept with their acks", WAIT, || {
        listed(&config, &["--direction", "out", "--status", "acked"]).len() == 7
    });
    let kept: HashSet<String> = listed(&config, &["--direction", "in"])
        .iter()
        .map(|r| content(r).to_owned())
        .collect();
    for c in ["before", "during0", "during4", "after"] {
        assert!(kept.contains(c), "{c} kept: {kept:?}");
    }
}

#[test]
fn a_locked_sqlite_file_holds_the_traffic_back_and_loses_nothing() {
    let tmp = TempDir::new("store-lock");
    let store = TestStore::sqlite(&tmp);
    let TestStore::Sqlite(path) = &store else {
        unreachable!()
    };
    let (path, name) = (path.clone(), path.display().to_string());
    let lock: Outage = Box::new(move |d, begun| {
        // Another program holding the database's write lock.
        let mut python = std::process::Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import sqlite3, time\nc = sqlite3.connect({:?}, isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\n\
                 print('locked', flush=True)\ntime.sleep({})\nc.execute('COMMIT')",
                path.display().to_string(),
                d.as_secs_f64()
            ))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        let stdout = python.stdout.take().expect("stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("read");
        assert_eq!(line.trim(), "locked");
        begun.send(()).unwrap();
        assert!(python.wait().expect("python3").success());
    });
    outage_loses_nothing(store, lock, &name);
}

#[test]
fn postgres_going_away_mid_run_holds_the_traffic_back_and_loses_nothing() {
    let proxy = Arc::new(TcpProxy::start(POSTGRES));
    let store = TestStore::postgres("outage", &format!("127.0.0.1:{}", proxy.port));
    let TestStore::Postgres { url, .. } = &store else {
        unreachable!()
    };
    // The host names the database without its credentials.
    let name = url.replace("postgres@", "postgres:***@");
    let p = proxy.clone();
    let cut: Outage = Box::new(move |d, begun| {
        p.down();
        begun.send(()).unwrap();
        std::thread::sleep(d);
        p.up();
    });
    outage_loses_nothing(store, cut, &name);
}

/// Contents answered 202, by content.
type Accepted = Arc<Mutex<HashSet<String>>>;

fn load(port: u16, accepted: Accepted, stop: Arc<std::sync::atomic::AtomicBool>, client: usize) {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(2)).build();
    let mut n = 0;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let text = format!("c{client}-{n}");
        n += 1;
        let body = serde_json::json!({"to_addr": "27820000001", "from_addr": "1234", "content": text}).to_string();
        let sent = agent
            .post(&format!("http://127.0.0.1:{port}/"))
            .set("content-type", "application/json")
            .send_string(&body);
        match sent {
            Ok(r) if r.status() == 202 => {
                accepted.lock().unwrap().insert(text);
            }
            Ok(_) | Err(ureq::Error::Status(..)) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

on_both_stores!(
    "kill",
    kill_9_loses_nothing,
    kill_9_under_http_to_smpp_load_loses_nothing_that_was_answered_202_on_sqlite,
    kill_9_under_http_to_smpp_load_loses_nothing_that_was_answered_202_on_postgres
);

fn kill_9_loses_nothing(tmp: &TempDir, store: TestStore) {
    let smsc = Smsc::start(SmscConfig {
        receipts: false,
        ..SmscConfig::default()
    });
    // Sending is throttled, so that accepted messages queue up behind the bind.
    let (mut host, port, _, config) = start(tmp, &http_to_smpp(&smsc, &store, ", mt_tps: 100"));
    host.wait_for_log("bound", WAIT);
    let accepted: Accepted = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (a, s) = (accepted.clone(), stop.clone());
            std::thread::spawn(move || load(port, a, s, c))
        })
        .collect();
    eventually("a backlog of accepted messages", WAIT, || {
        accepted.lock().unwrap().len() > 600
    });
    host.kill();
    let sent_before = smsc.submit_count();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() as u64 > sent_before + 200,
        "the kill must leave accepted messages unsent: {} accepted, {sent_before} sent",
        accepted.len()
    );
    let started = Instant::now();
    let mut host = restart(tmp, &config);
    host.wait_for_log("handled again", WAIT);
    let submitted = || -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for s in smsc.submits() {
            *counts
                .entry(String::from_utf8_lossy(&s.short_message).into_owned())
                .or_insert(0) += 1;
        }
        counts
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = submitted();
        let missing = accepted.iter().filter(|c| !got.contains_key(*c)).count();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} accepted messages never reached the SMSC; journal: {} entries\n{}",
            accepted.len(),
            store.journal_entries(&config),
            host.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = submitted();
    let twice = got.values().filter(|n| **n > 1).count();
    println!(
        "kill -9 ({}): {} accepted, {sent_before} sent before the kill, all {} reached the SMSC after the restart \
         ({:.1} s); {twice} sent twice (at least once)",
        store.name(),
        accepted.len(),
        accepted.len(),
        started.elapsed().as_secs_f64()
    );
    eventually("the journal emptied", WAIT, || store.journal_entries(&config) == 0);
    host.signal("TERM");
    assert!(host.wait(Duration::from_secs(60)).success(), "{}", host.log());
}

#[test]
fn a_second_memory_bus_host_on_the_same_journal_is_refused_by_name_and_the_first_goes_on() {
    let tmp = TempDir::new("store-journal-lock");
    let store = TestStore::sqlite(&tmp);
    let (mut first, port, _, config) = start(&tmp, &echo_over_telnet(&store, ""));
    let mut user = Telnet::connect(port);
    user.send("before");
    assert_eq!(user.read_line().unwrap(), "before");
    // The same store on another port: only the journal is shared.
    let yaml = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&port.to_string(), &free_port().to_string());
    let second = tmp.write("second.yaml", &yaml);
    let plugins = tmp.path().join("plugins");
    let log = tmp.path().join("second.log");
    let mut child = std::process::Command::new(&built().ruvuma)
        .args([
            "run",
            "-c",
            second.to_str().unwrap(),
            "--plugin-dir",
            plugins.to_str().unwrap(),
        ])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn ruvuma");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the second host ran on the same journal:\n{}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    let journal = tmp.path().join("data").join("store.journal");
    assert!(
        err.contains(&journal.display().to_string()) && err.contains("in use by another ruvuma process"),
        "{err}"
    );
    // The first host still answers, and still journals.
    user.send("still here");
    assert_eq!(user.read_line().unwrap(), "still here");
    drop(user);
    first.signal("TERM");
    assert!(first.wait(Duration::from_secs(30)).success(), "{}", first.log());
}

#[test]
fn a_database_that_is_not_a_ruvuma_store_stops_the_host_with_a_clear_error() {
    let tmp = TempDir::new("store-foreign");
    let path = tmp.path().join("shop.db");
    let out = std::process::Command::new("sqlite3")
        .arg(&path)
        .arg("CREATE TABLE orders (id INTEGER)")
        .output()
        .expect("the sqlite3 tool");
    assert!(out.status.success());
    let config = tmp.write(
        "c.yaml",
        &format!("store:\n  sqlite: {{path: \"{}\"}}\ntransports: {{}}\n", path.display()),
    );
    let plugins = plugin_dir(&tmp, &["ruvuma_echo"]);
    let out = ruvuma(&[
        "run",
        "-c",
        config.to_str().unwrap(),
        "--plugin-dir",
        plugins.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&path.display().to_string()) && err.contains("not a ruvuma store") && err.contains("orders"),
        "{err}"
    );
}

#[test]
fn validate_names_store_problems_at_their_lines() {
    let tmp = TempDir::new("store-validate");
    let plugins = plugin_dir(&tmp, &["ruvuma_telnet", "ruvuma_echo"]);
    let config = tmp.write(
        "c.yaml",
        "store:\n  sqlite: {path: a.db}\n  batches: {nope: b}\n  retention: {inbound: soon}\n\
         transports:\n  telnet: {plugin: telnet, config: {bind: \"127.0.0.1:9999\"}}\n\
         applications:\n  echo: {plugin: echo, endpoint: telnet}\n",
    );
    let (code, _, err) = validate_with(&config, &plugins);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("c.yaml:3: config: store.batches: \"nope\" is not a transport here"),
        "{err}"
    );
    assert!(
        err.contains("c.yaml:4: config: store.retention: key \"inbound\""),
        "{err}"
    );
    assert!(!tmp.path().join("a.db").exists(), "validate creates nothing");
}

/// On RabbitMQ, each process with the store keeps what passes its transports: a topology split
/// over three processes sharing one PostgreSQL store keeps each message and event once.
#[test]
fn processes_on_rabbitmq_sharing_a_postgres_store_keep_each_message_once() {
    let store = TestStore::postgres("amqp", POSTGRES);
    let id = format!("st_{}_{}", std::process::id(), free_port());
    let port = free_port();
    let bus = "bus: {amqp: {url: \"amqp://guest:guest@127.0.0.1:5672/%2f\", exchange: vumi, prefetch: 20}}\n";
    let parts = [
        format!("applications:\n  echo: {{plugin: echo, endpoint: app_{id}}}\n"),
        format!(
            "dispatchers:\n  main:\n    router_class: simple\n    transport_names: [tel_{id}]\n    exposed_names: [app_{id}]\n    \
             route_mappings: {{tel_{id}: app_{id}}}\n"
        ),
        format!("transports:\n  tel_{id}: {{plugin: telnet, config: {{bind: \"127.0.0.1:{port}\"}}}}\n"),
    ];
    let tmp = TempDir::new("store-amqp");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let _hosts: Vec<Host> = parts
        .iter()
        .map(|part| {
            Host::start(
                &format!("{bus}{}{part}", store.yaml()),
                &["--plugin-dir", plugins.to_str().unwrap()],
            )
        })
        .collect();
    let config = tmp.write("query.yaml", &store.yaml());
    let mut user = Telnet::connect(port);
    for i in 0..5 {
        user.send(&format!("shared {i}"));
        assert_eq!(user.read_line().unwrap(), format!("shared {i}"));
    }
    eventually("five acks kept", WAIT, || {
        listed(&config, &["--status", "acked"]).len() == 5
    });
    std::thread::sleep(Duration::from_millis(500));
    let (code, out, err) = messages(&config, &["stats", "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let stats: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        stats["by_direction"]["in"], 6,
        "five lines and the session's opening: {stats:#}"
    );
    assert_eq!(stats["by_direction"]["out"], 5, "{stats:#}");
    assert_eq!(stats["events"]["ack"], 5, "{stats:#}");
    assert_eq!(stats["by_endpoint"][format!("tel_{id}")], 11, "{stats:#}");
}
