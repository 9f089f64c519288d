//! The config reader's own tests.
use super::*;

fn parse_text(text: &str) -> Result<ConfigFile, Vec<Problem>> {
    parse(Path::new("test.yaml"), text)
}

#[test]
fn reads_a_full_config() {
    let cfg = parse_text(
        "system_alias: dev\ntransports:\n  telnet:\n    plugin: telnet\n    config: {bind: \"127.0.0.1:1\"}\n\
         applications:\n  echo: {plugin: echo, endpoint: echo_app, instances: 3}\n\
         dispatchers:\n  main:\n    router_class: simple\n    transport_names: [telnet]\n    exposed_names: [echo_app]\n    route_mappings: {telnet: echo_app}\n",
    )
    .unwrap();
    assert_eq!(cfg.system_alias, "dev");
    assert_eq!(cfg.transports[0].config["bind"], "127.0.0.1:1");
    assert_eq!(cfg.applications[0].endpoint, "echo_app");
    assert_eq!(cfg.applications[0].instances, 3);
    assert_eq!(cfg.dispatchers[0].router_config["route_mappings"]["telnet"], "echo_app");
}

#[test]
fn collects_every_problem_with_lines() {
    let errs =
        parse_text("bogus: 1\ntransports:\n  t1:\n    config: {}\n  t2:\n    plugin: telnet\n    instances: 0\n")
            .unwrap_err();
    let text: Vec<String> = errs.iter().map(|p| p.to_string()).collect();
    assert_eq!(errs.len(), 3, "{text:#?}");
    assert!(
        text[0].starts_with("test.yaml:1: config: unknown key \"bogus\""),
        "{text:#?}"
    );
    assert!(
        text[1].contains("transport \"t1\": key \"plugin\" is missing") && text[1].starts_with("test.yaml:3:"),
        "{text:#?}"
    );
    assert!(
        text[2].starts_with("test.yaml:7: transport \"t2\": key \"instances\""),
        "{text:#?}"
    );
}

#[test]
fn bad_yaml_names_line_and_column() {
    let errs = parse_text("transports:\n  telnet: {plugin: telnet\n").unwrap_err();
    assert_eq!(errs.len(), 1);
    let loc = errs[0].location.clone().unwrap();
    assert!(loc.starts_with("test.yaml:"), "{loc}");
    assert!(errs[0].message.starts_with("bad YAML"), "{}", errs[0]);
}

#[test]
fn environment_values() {
    std::env::set_var("RUVUMA_TEST_SECRET", "s3cret");
    let cfg = parse_text("transports:\n  t:\n    plugin: x\n    config: {password: \"${RUVUMA_TEST_SECRET}\", user: \"${RUVUMA_TEST_UNSET:-anon}\"}\n").unwrap();
    assert_eq!(cfg.transports[0].config["password"], "s3cret");
    assert_eq!(cfg.transports[0].config["user"], "anon");
    let errs =
        parse_text("transports:\n  t:\n    plugin: x\n    config: {password: \"${RUVUMA_TEST_UNSET}\"}\n").unwrap_err();
    assert!(errs[0].message.contains("RUVUMA_TEST_UNSET is not set"), "{}", errs[0]);
    assert!(errs[0].message.contains("password"), "{}", errs[0]);
}

#[test]
fn vumi_dispatcher_file() {
    let cfg = parse_text(
        "router_class: vumi.dispatchers.SimpleDispatchRouter\ntransport_names:\n  - smpp_transport\n  - xmpp_transport\n\
         exposed_names:\n  - my_application\nroute_mappings:\n  smpp_transport: my_application\n",
    )
    .unwrap();
    assert!(cfg.vumi_dispatcher_file);
    assert_eq!(cfg.dispatchers.len(), 1);
    assert_eq!(cfg.dispatchers[0].name, "test");
    assert_eq!(cfg.dispatchers[0].transport_names, ["smpp_transport", "xmpp_transport"]);
}

#[test]
fn buses() {
    let errs = parse_text("bus: kafka\n").unwrap_err();
    assert!(errs[0].message.contains("\"kafka\""));
    let cfg = parse_text("bus: {memory: {capacity: 8}}\n").unwrap();
    assert_eq!(cfg.bus, BusSpec::Memory { capacity: 8 });
}

#[test]
fn the_memory_state_store_can_hold_more_keys_within_a_bound() {
    let cfg = parse_text("state: {memory: {max_keys: 5000000}}\n").unwrap();
    assert_eq!(cfg.state, StateSpec::Memory { max_keys: 5_000_000 });
    let cfg = parse_text("state: memory\n").unwrap();
    assert_eq!(cfg.state, StateSpec::Memory { max_keys: 1_000_000 });
    let errs = messages("state: {memory: {max_keys: 10}}\n");
    assert!(
        errs[0].contains("key \"max_keys\": expected a whole number from 1000 to 100000000"),
        "{errs:?}"
    );
    let errs = messages("state: {memory: {keys: 10}}\n");
    assert!(
        errs[0].contains("unknown key \"keys\"; known keys: max_keys"),
        "{errs:?}"
    );
}

fn messages(text: &str) -> Vec<String> {
    parse_text(text).unwrap_err().iter().map(|p| p.to_string()).collect()
}

#[test]
fn durations_are_bounded_and_never_panic() {
    for bad in [
        "1e300",
        ".inf",
        "-.inf",
        ".nan",
        "\"99999999999999999999999s\"",
        "1.0e19",
        "-1",
        "\"soon\"",
    ] {
        let errs = messages(&format!("shutdown_timeout: {bad}\n"));
        assert_eq!(errs.len(), 1, "{bad}: {errs:?}");
        assert!(
            errs[0].starts_with("test.yaml:1: config: key \"shutdown_timeout\": expected seconds"),
            "{bad}: {errs:?}"
        );
        assert!(errs[0].contains("from 0 to 3600 s"), "{errs:?}");
    }
    let cfg = parse_text("shutdown_timeout: 250ms\n").unwrap();
    assert_eq!(cfg.shutdown_timeout, Duration::from_millis(250));
}

#[test]
fn sizes_and_counts_are_bounded() {
    let errs = messages("bus: {memory: {capacity: 100000000000}}\n");
    assert!(
        errs[0].contains("key \"capacity\": expected a whole number from 1 to 1000000"),
        "{errs:?}"
    );
    let errs = messages("transports:\n  t:\n    plugin: x\n    concurrency: 1000000000\n    instances: 5000\n");
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0]
        .starts_with("test.yaml:4: transport \"t\": key \"concurrency\": expected a whole number from 1 to 10000"));
    assert!(
        errs[1].starts_with("test.yaml:5: transport \"t\": key \"instances\": expected a whole number from 1 to 1000")
    );
    let errs = messages("transports:\n  t:\n    plugin: x\n    concurrency: 1000\n    instances: 100\n");
    assert!(
        errs[0].contains("instances × concurrency is 100000, more than the 10000"),
        "{errs:?}"
    );
    let errs = messages("bus: {amqp: {prefetch: 70000}}\n");
    assert!(
        errs[0].contains("key \"prefetch\": expected a whole number from 1 to 65535"),
        "{errs:?}"
    );
}

#[test]
fn a_number_too_large_for_any_type_is_named() {
    let errs = messages("bus: {memory: {capacity: 100000000000000000000000000}}\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("a number is too large"), "{errs:?}");
    assert!(!errs[0].contains("u128"), "{errs:?}");
}

#[test]
fn a_duplicate_key_is_reported_at_its_own_line() {
    let errs = messages("transports:\n  t:\n    plugin: x\n    config: {}\n    plugin: y\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("test.yaml:5: bad YAML: key \"transports.t.plugin\" is given twice"),
        "{errs:?}"
    );
}

#[test]
fn nesting_is_bounded() {
    let deep = format!(
        "transports:\n  t:\n    plugin: x\n    config: {{a: {}1{}}}\n",
        "[".repeat(100),
        "]".repeat(100)
    );
    let errs = messages(&deep);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("nests deeper than 64 levels"), "{errs:?}");
}

#[test]
fn every_problem_of_a_large_file_is_found_and_each_has_its_line() {
    let mut text = String::from("transports:\n");
    for i in 0..20_000 {
        text.push_str(&format!("  t{i}:\n    plugin: x\n    instances: 0\n"));
    }
    let errs = parse_text(&text).unwrap_err();
    assert_eq!(errs.len(), 20_000);
    assert_eq!(errs[19_999].location.as_deref(), Some("test.yaml:60001"));
}

#[test]
fn vumi_worker_keys_are_taken_and_set_aside() {
    let cfg = parse_text(
        "router_class: vumi.dispatchers.base.SimpleDispatchRouter\ntransport_names: [sms]\nexposed_names: [app]\n\
         route_mappings: {sms: app}\namqp_prefetch_count: 20\nworker_name: d1\nredis_manager: {key_prefix: x}\n",
    )
    .unwrap();
    assert_eq!(
        cfg.unused_keys,
        ["test.amqp_prefetch_count", "test.worker_name", "test.redis_manager"]
    );
    let router = cfg.dispatchers[0].router_config_json();
    assert!(router.get("worker_name").is_none() && router.get("route_mappings").is_some());
}

#[test]
fn the_file_size_is_bounded() {
    let dir = std::env::temp_dir().join(format!("ruvuma-config-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.yaml");
    std::fs::write(&big, format!("# {}\n", "x".repeat(2 * 1024 * 1024))).unwrap();
    let errs = load(&big).unwrap_err();
    assert!(errs[0].message.contains("larger than 1048576 bytes"), "{errs:?}");
    let errs = load(Path::new("/dev/zero")).unwrap_err();
    assert!(errs[0].message.contains("larger than 1048576 bytes"), "{errs:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn deeply_nested_flow_collections_are_refused_before_they_are_parsed() {
    for (open, close) in [("[", "]"), ("{a: ", "}")] {
        let text = format!("transports: {}1{}\n", open.repeat(20_000), close.repeat(20_000));
        let errs = messages(&text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("nests deeper than 64 levels"), "{errs:?}");
    }
}

#[test]
fn reads_a_store_with_retention_and_batches() {
    let cfg = parse_text(
        "store:\n  postgres: {url: \"postgres://u:p@h/db\"}\n  retention: {inbound: 30d, outbound: 2h, events: 90s}\n  \
         batch: all\n  batches: {sms: sms-batch}\n  buffer: 10\n",
    )
    .unwrap();
    let store = cfg.store.unwrap();
    assert_eq!(
        store.backend,
        StoreBackend::Postgres {
            url: "postgres://u:p@h/db".into()
        }
    );
    assert_eq!(store.retention.inbound, Some(Duration::from_secs(30 * 86_400)));
    assert_eq!(store.retention.outbound, Some(Duration::from_secs(7200)));
    assert_eq!(store.retention.events, Some(Duration::from_secs(90)));
    assert_eq!(store.batch.as_deref(), Some("all"));
    assert_eq!(store.batches["sms"], "sms-batch");
    assert_eq!(store.buffer, 10);
    assert!(
        parse_text("state: memory\n").unwrap().store.is_none(),
        "no store unless asked for"
    );
}

#[test]
fn store_problems_are_named_at_their_lines() {
    let problems =
        |text: &str| -> Vec<String> { parse_text(text).unwrap_err().iter().map(|p| p.to_string()).collect() };
    let p = problems("store:\n  sqlite: {path: a.db}\n  postgres: {url: x}\n");
    assert!(p[0].contains("one backend, sqlite or postgres, not both"), "{p:?}");
    let p = problems("store:\n  retention: {inbound: 1d}\n");
    assert!(p[0].contains("name a backend"), "{p:?}");
    let p = problems("store:\n  sqlite: {file: a.db}\n");
    assert!(
        p[0].starts_with("test.yaml:2:") && p[0].contains("unknown key \"file\"; known keys: path"),
        "{p:?}"
    );
    let p = problems("store:\n  sqlite: {path: a.db}\n  retention:\n    inbound: 0\n    outbound: forever\n    later: 1d\n  buffer: 0\n");
    assert_eq!(p.len(), 4, "{p:?}");
    assert!(
        p[0].starts_with("test.yaml:4:") && p[0].contains("would keep nothing"),
        "{p:?}"
    );
    assert!(
        p[1].starts_with("test.yaml:5:") && p[1].contains("\"outbound\""),
        "{p:?}"
    );
    assert!(
        p[2].starts_with("test.yaml:6:") && p[2].contains("unknown key \"later\""),
        "{p:?}"
    );
    assert!(
        p[3].starts_with("test.yaml:7:") && p[3].contains("from 1 to 1000000"),
        "{p:?}"
    );
    let p = problems("store: sqlite\n");
    assert!(p[0].contains("expected {sqlite: {path: ...}}"), "{p:?}");
}
