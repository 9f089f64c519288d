use ruvuma_tests::*;
use serde_json::Value;
use std::time::Duration;

/// Every line of `log` as a JSON object; panics naming the first line that is not one.
fn json_lines(log: &str) -> Vec<serde_json::Map<String, Value>> {
    log.lines()
        .map(|line| match serde_json::from_str(line) {
            Ok(Value::Object(object)) => object,
            Ok(other) => panic!("not a JSON object: {other}\n{log}"),
            Err(e) => panic!("not JSON ({e}): {line:?}\n{log}"),
        })
        .collect()
}

#[test]
fn json_log_lines_are_objects_that_name_their_component() {
    let tmp = TempDir::new("json-log");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let mut host = Host::start(
        &telnet_config(port, "    plugin: echo"),
        &["--plugin-dir", plugins.to_str().unwrap(), "--log-format", "json"],
    );
    let mut user = Telnet::connect(port);
    user.send("hello");
    assert_eq!(user.read_line().unwrap(), "hello");
    drop(user);
    host.signal("TERM");
    assert!(host.wait(Duration::from_secs(30)).success(), "{}", host.log());
    let log = host.log();
    let lines = json_lines(&log);
    assert!(!lines.is_empty(), "nothing was logged");
    for line in &lines {
        for key in ["timestamp", "level", "target", "message", "component"] {
            assert!(line.get(key).is_some_and(Value::is_string), "{key} missing: {line:?}");
        }
    }
    let telnet = lines
        .iter()
        .find(|l| l["component"] == "telnet" && l["target"] == "ruvuma::plugin");
    assert!(telnet.is_some(), "no line from the telnet transport:\n{log}");
    assert!(lines.iter().any(|l| l["component"] == "host"), "no host line:\n{log}");
    let at = lines[0]["timestamp"].as_str().unwrap_or_default();
    assert!(
        at.ends_with('Z') && at.as_bytes().get(10) == Some(&b'T'),
        "not RFC 3339 UTC: {at}"
    );
}

#[test]
fn an_unknown_log_format_is_refused_naming_the_accepted_ones() {
    let tmp = TempDir::new("log-format");
    let config = tmp.write("config.yaml", &telnet_config(free_port(), "    plugin: echo"));
    let out = ruvuma(&["run", "-c", config.to_str().unwrap(), "--log-format", "xml"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--log-format"), "{stderr}");
    assert!(stderr.contains("'xml'"), "{stderr}");
    assert!(stderr.contains("[possible values: text, json]"), "{stderr}");
}
