//! State shared between host processes through the real Redis on 127.0.0.1:6379 (`.ci/run`
//! starts it when it is not running); these tests fail when it is missing.

use ruvuma_tests::*;
use serde_json::Value;

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
