//! Observers: a plugin observer (`event_log`) and what it is told of the host's life.

use ruvuma_tests::*;
use std::time::Duration;

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn names(events: &[serde_json::Value], event: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == event)
        .map(|e| e["component"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn a_plugin_observer_is_told_of_components_starting_and_stopping() {
    let tmp = TempDir::new("observers");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let (all, some) = (tmp.path().join("all.jsonl"), tmp.path().join("some.jsonl"));
    let port = free_port();
    let yaml = format!(
        "{}observers:\n  audit: {{plugin: event_log, config: {{path: {}}}}}\n  \
         lifecycle: {{plugin: event_log, events: [component_stopped], config: {{path: {}}}}}\n",
        telnet_config(port, "    plugin: echo"),
        all.display(),
        some.display()
    );
    let mut host = Host::start(&yaml, &["--plugin-dir", plugins.to_str().unwrap()]);
    let mut user = Telnet::connect(port);
    user.send("hello");
    assert_eq!(user.read_line().unwrap(), "hello");
    eventually("the observer is told of every start", Duration::from_secs(10), || {
        names(&lines(&all), "component_started").len() >= 3
    });
    host.signal("TERM");
    assert!(host.wait(Duration::from_secs(30)).success(), "{}", host.log());

    let events = lines(&all);
    let started = names(&events, "component_started");
    for c in ["telnet", "app", "main"] {
        assert!(started.contains(&c.to_owned()), "{c} started: {events:?}");
    }
    assert!(
        events
            .iter()
            .all(|e| e["system_alias"] == "test" && e["at"].is_string()),
        "{events:?}"
    );
    let stopped = names(&events, "component_stopped");
    assert!(stopped.contains(&"telnet".to_owned()), "{events:?}");
    let filtered = lines(&some);
    assert!(
        !filtered.is_empty() && filtered.iter().all(|e| e["event"] == "component_stopped"),
        "{filtered:?}"
    );
}

#[test]
fn observers_are_checked_by_validate() {
    let tmp = TempDir::new("observers");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let yaml = format!(
        "{}observers:\n  a: {{plugin: nope}}\n  b: {{plugin: event_log, config: {{path: \"\", max_bytes: 5}}}}\n  \
         c: {{plugin: webhook, events: [coffee_made], config: {{url: \"http://127.0.0.1:1/x\"}}}}\n",
        telnet_config(free_port(), "    plugin: echo")
    );
    let path = tmp.write("c.yaml", &yaml);
    let (code, _, err) = validate_with(&path, &plugins);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("observer \"a\"") && err.contains("nope"), "{err}");
    assert!(
        err.contains("observer \"b\"") && err.contains("max_bytes") && err.contains("path"),
        "{err}"
    );
    assert!(err.contains("observer \"c\"") && err.contains("coffee_made"), "{err}");
    assert_eq!(err.matches("coffee_made").count(), 1, "each problem once: {err}");
}

#[test]
fn the_plugins_command_lists_observers() {
    let tmp = TempDir::new("observers");
    let plugins = plugin_dir(&tmp, &["ruvuma_observers"]);
    let out = ruvuma(&["plugins", "--plugin-dir", plugins.to_str().unwrap()]);
    let listed = text(&out.stdout);
    assert!(listed.contains("observer") && listed.contains("event_log"), "{listed}");
}
