use ruvuma_tests::*;
use std::time::Duration;

/// config/quickstart.yaml, on a free port, loading plugins from the binary's own folder.
#[test]
fn quickstart_round_trip_with_plugins_beside_the_binary() {
    let b = built();
    let text = std::fs::read_to_string(b.root.join("config/quickstart.yaml")).expect("quickstart config");
    assert!(text.contains("127.0.0.1:9010"), "quickstart listens on 9010");
    assert!(
        text.contains("path: data/quickstart.db"),
        "quickstart keeps messages in data/"
    );
    assert!(
        text.contains("bind: \"127.0.0.1:8000\""),
        "quickstart serves its admin pages on 8000"
    );
    let (port, admin) = (free_port(), free_port());
    let tmp = TempDir::new("quickstart");
    let store = tmp.path().join("data/quickstart.db");
    let text = text
        .replace("127.0.0.1:9010", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{admin}"))
        .replace("data/quickstart.db", store.to_str().unwrap());
    let config = tmp.write("quickstart.yaml", &text);
    let host = Host::start(&text, &[]);
    let mut user = Telnet::connect(port);
    user.expect_silence(Duration::from_millis(200)); // the session-open message gets no reply
    user.send("hello");
    assert_eq!(user.read_line().unwrap(), "hello");
    user.send("ruvuma says hi");
    assert_eq!(user.read_line().unwrap(), "ruvuma says hi");
    let overview: serde_json::Value = ureq::get(&format!("http://127.0.0.1:{admin}/api/overview"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(overview["system_alias"], "quickstart", "{overview}");
    assert_eq!(
        overview["store"]["name"].as_str().map(|n| n.contains("quickstart.db")),
        Some(true),
        "{overview}"
    );
    let log = host.log();
    assert!(
        log.contains("telnet listening on 127.0.0.1:"),
        "plugin log reaches the host: {log}"
    );
    assert!(
        log.contains("component=\"telnet\""),
        "plugin log is tagged with its component: {log}"
    );
    // The first run already keeps what happened.
    eventually("both replies kept", Duration::from_secs(10), || {
        stores::listed(&config, &["--direction", "out"]).len() == 2
    });
}

#[test]
fn fifty_concurrent_connections_each_get_their_own_replies() {
    let tmp = TempDir::new("concurrent");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let _host = Host::start(
        &telnet_config(port, "    plugin: echo"),
        &["--plugin-dir", plugins.to_str().unwrap()],
    );
    let users: Vec<_> = (0..50)
        .map(|i| {
            std::thread::spawn(move || {
                let mut t = Telnet::connect(port);
                for j in 0..5 {
                    let line = format!("user {i} line {j}");
                    t.send(&line);
                    assert_eq!(t.read_line().unwrap(), line, "user {i} got someone else's reply");
                }
            })
        })
        .collect();
    for u in users {
        u.join().expect("user thread");
    }
}

#[test]
fn instances_compete_for_one_endpoint() {
    let tmp = TempDir::new("instances");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let app = "    plugin: slow_echo\n    instances: 3\n    config: {delay_ms: 300, tag_instance: true}";
    let _host = Host::start(&telnet_config(port, app), &["--plugin-dir", plugins.to_str().unwrap()]);
    let mut users: Vec<Telnet> = (0..6).map(|_| Telnet::connect(port)).collect();
    for (i, u) in users.iter_mut().enumerate() {
        u.send(&format!("m{i}"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, u) in users.iter_mut().enumerate() {
        let reply = u.read_line().unwrap();
        assert!(reply.starts_with(&format!("m{i} [instance ")), "{reply}");
        seen.insert(reply.split("[instance ").nth(1).unwrap_or("").to_owned());
    }
    assert!(
        seen.len() >= 2,
        "six slow messages were all handled by one of three instances: {seen:?}"
    );
}

/// The example plugin of the README, loaded from a folder of its own, with its config.
#[test]
fn the_readme_example_plugin_runs() {
    let b = built();
    let readme = std::fs::read_to_string(b.root.join("README.md")).expect("README");
    let source = std::fs::read_to_string(b.root.join("plugins/shout/src/lib.rs")).expect("shout source");
    assert!(
        readme.contains(&format!("```rust\n{source}```")),
        "README shows plugins/shout/src/lib.rs exactly"
    );

    let tmp = TempDir::new("shout");
    let plugins = plugin_dir(&tmp, &["ruvuma_telnet", "ruvuma_routers", "ruvuma_shout"]);
    let port = free_port();
    let app = "    plugin: shout\n    config: {exclaim: true}";
    let _host = Host::start(&telnet_config(port, app), &["--plugin-dir", plugins.to_str().unwrap()]);
    let mut user = Telnet::connect(port);
    user.send("hello there");
    assert_eq!(user.read_line().unwrap(), "HELLO THERE!");
}
