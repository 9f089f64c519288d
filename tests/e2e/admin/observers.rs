//! The webhook observer and the observers `validate` refuses.

use super::*;

#[test]
fn the_webhook_observer_posts_component_events_with_its_token_and_retries() {
    const TOKEN: &str = "hook-S3cr3t-9QwE";
    let (url, received) = receiver(|n, _, _| {
        if n == 0 {
            (500, Vec::new(), "not yet".into())
        } else {
            (200, Vec::new(), "ok".into())
        }
    });
    let (admin, telnet) = (free_port(), free_port());
    let top = format!(
        "admin: {{bind: \"127.0.0.1:{admin}\"}}\nobservers:\n  hook: {{plugin: webhook, config: {{url: \"{url}/events\", \
         token: \"${{HOOK_TOKEN}}\", backoff_ms: 100}}}}\n"
    );
    let (host, _tmp) = start(
        "admin-webhook",
        &telnet_yaml("hooked", telnet, "echo", &top),
        &[("HOOK_TOKEN", TOKEN)],
    );
    let expected: BTreeSet<&str> = ["telnet", "app", "main"].into();
    let started = |got: &[(String, String, String)]| -> BTreeSet<String> {
        got.iter()
            .filter_map(|(_, _, body)| serde_json::from_str::<Value>(body).ok())
            .filter(|v| v["event"] == "component_started")
            .filter_map(|v| v["component"].as_str().map(str::to_owned))
            .collect()
    };
    eventually("component_started for every component", WAIT, || {
        let got = received.lock().expect("received");
        expected.iter().all(|c| started(&got).contains(*c))
    });
    let got = received.lock().expect("received").clone();
    assert_eq!(
        started(&got),
        expected.iter().map(|c| c.to_string()).collect(),
        "component_started names each component once: {got:?}"
    );
    for (path, headers, body) in &got {
        assert_eq!(path, "/events");
        let authorization = headers
            .lines()
            .filter_map(|l| l.split_once(": "))
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v);
        assert_eq!(authorization, Some(format!("Bearer {TOKEN}").as_str()), "{headers}");
        let event: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(event["system_alias"], "hooked", "{body}");
        assert!(event["at"].as_str().is_some_and(|a| a.len() >= 19), "{body}");
        assert!(event["event"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
        assert!(event["component"].as_str().is_some_and(|c| !c.is_empty()), "{body}");
    }
    let first = &got[0].2;
    assert!(
        got[1..].iter().any(|(_, _, body)| body == first),
        "the event answered with 500 is posted again: {got:?}"
    );
    assert!(
        got.iter().filter(|(_, _, body)| body == first).count() == 2,
        "retried once, not more, after one 500: {got:?}"
    );
    let observers = get(admin, "/api/observers").json("/api/observers");
    assert_eq!(observers["observers"][0]["name"], "hook", "{observers}");
    assert!(
        !host.log().contains(TOKEN),
        "the hook's token reaches the host's stderr"
    );
}

#[test]
fn validate_refuses_a_bad_observer_and_names_it() {
    let tmp = TempDir::new("admin-bad-observer");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let top = "observers:\n  hook: {plugin: webhook, config: {url: \"http://127.0.0.1:9/events\", events: [component_started, no_such_event]}}\n  \
               other: {plugin: nope}\n";
    let config = tmp.write("config.yaml", &telnet_yaml("bad", free_port(), "echo", top));
    let (code, out, err) = validate_with(&config, &plugins);
    assert_ne!(code, Some(0), "validate accepts it:\n{out}\n{err}");
    let said = format!("{out}\n{err}");
    assert!(
        said.lines()
            .any(|l| l.contains("observer \"hook\"") && l.contains("no_such_event")),
        "the unknown event is named with its observer:\n{said}"
    );
    assert!(
        said.lines()
            .any(|l| l.contains("observer \"other\"") && l.contains("\"nope\"")),
        "the unknown plugin is named with its observer:\n{said}"
    );
}
