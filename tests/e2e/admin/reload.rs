//! Reloads from the admin server: save then apply through the API and the config page, what
//! `/metrics`, the overview and the observers are told, global keys refused by name, and a
//! full restart when the operator asks for one.

use super::*;

fn apply(admin: u16, body: Option<&str>) -> Reply {
    call(admin, "POST", "/api/config/apply", None, body)
}

fn said(user: &mut Telnet, line: &str) -> String {
    user.send(line);
    user.read_line().expect("the telnet connection is open")
}

#[test]
fn the_api_saves_then_applies_and_reports_the_reload_everywhere() {
    let (admin, telnet) = (free_port(), free_port());
    let tmp = TempDir::new("admin-reload-events");
    let events = tmp.path().join("events.jsonl");
    let top = format!(
        "admin: {{bind: \"127.0.0.1:{admin}\"}}\nobservers:\n  audit: {{plugin: event_log, events: [config_reloaded], config: {{path: {}}}}}\n",
        events.display()
    );
    let (_host, _tmp) = start("admin-reload", &telnet_yaml("live", telnet, "echo", &top), &[]);
    let mut user = Telnet::connect(telnet);
    assert_eq!(said(&mut user, "quiet"), "quiet");
    let metrics = get(admin, "/metrics").body;
    assert!(
        metrics.contains("ruvuma_reloads_total{result=\"applied\"} 0"),
        "{metrics}"
    );

    // Saved, not yet applied: the running config goes on.
    let shouting = telnet_yaml("live", telnet, "shout", &top);
    let saved = call(admin, "PUT", "/api/config", None, Some(&shouting));
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(said(&mut user, "still quiet"), "still quiet");

    let applied = apply(admin, None);
    assert_eq!(applied.status, 200, "{}", applied.body);
    let report = applied.json("apply")["reload"].clone();
    assert_eq!(report["outcome"], "applied", "{report}");
    assert_eq!(report["trigger"], "admin", "{report}");
    assert_eq!(
        report["changed"],
        serde_json::json!(["application \"app\" (plugin, library)"]),
        "{report}"
    );
    assert_eq!(report["unchanged"], 3, "telnet, main and the observer: {report}");
    assert_eq!(
        said(&mut user, "loud now"),
        "LOUD NOW",
        "the same connection, the new application"
    );

    let overview = get(admin, "/api/overview").json("overview");
    assert_eq!(overview["reloads"]["applied"], 1, "{overview}");
    assert_eq!(overview["reloads"]["last"]["outcome"], "applied", "{overview}");
    let metrics = get(admin, "/metrics").body;
    for line in [
        "ruvuma_reloads_total{result=\"applied\"} 1",
        "ruvuma_reloads_total{result=\"failed\"} 0",
        "ruvuma_last_reload_info{outcome=\"applied\",error=\"\"} 1",
        "ruvuma_last_reload_success 1",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    let page = get(admin, "/").body;
    assert!(page.contains("1 applied, 0 failed"), "{page}");

    // A config with a problem is saved by nobody; one applied behind the API's back (an edit
    // on disk) is refused with every problem, and counted.
    let path = std::path::PathBuf::from(
        get(admin, "/api/config").json("config")["path"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    std::fs::write(&path, shouting.replace("plugin: shout", "plugin: no_such_plugin")).unwrap();
    let refused = apply(admin, Some("{}"));
    assert_eq!(refused.status, 422, "{}", refused.body);
    let report = refused.json("apply")["reload"].clone();
    assert_eq!(report["outcome"], "invalid", "{report}");
    assert!(
        report["problems"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p.as_str().unwrap_or("").contains("no_such_plugin"))),
        "{report}"
    );
    assert_eq!(said(&mut user, "unchanged"), "UNCHANGED");
    let metrics = get(admin, "/metrics").body;
    assert!(
        metrics.contains("ruvuma_reloads_total{result=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("ruvuma_last_reload_success 0"), "{metrics}");
    assert!(
        metrics.contains("ruvuma_last_reload_info{outcome=\"invalid\",error=\"the new config has "),
        "{metrics}"
    );

    let bad_body = apply(admin, Some("{\"full_restart\": \"yes\"}"));
    assert_eq!(bad_body.status, 400, "{}", bad_body.body);

    eventually("the observer is told of both reloads", WAIT, || {
        std::fs::read_to_string(&events).unwrap_or_default().lines().count() >= 2
    });
    let told: Vec<Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(told[0]["event"], "config_reloaded", "{told:?}");
    assert_eq!(told[0]["outcome"], "applied", "{told:?}");
    assert_eq!(told[0]["trigger"], "admin", "{told:?}");
    assert_eq!(told[1]["outcome"], "invalid", "{told:?}");
}

#[test]
fn global_keys_are_refused_by_name_unless_a_full_restart_is_asked_for() {
    let (admin, telnet) = (free_port(), free_port());
    let top = format!("admin: {{bind: \"127.0.0.1:{admin}\"}}\n");
    let (mut host, _tmp) = start("admin-restart", &telnet_yaml("before", telnet, "echo", &top), &[]);
    let pid = host.pid();
    let mut user = Telnet::connect(telnet);
    assert_eq!(said(&mut user, "hi"), "hi");

    let renamed = telnet_yaml("after", telnet, "shout", &top)
        .replace("transports:", "state: {memory: {max_keys: 1000}}\ntransports:");
    assert_eq!(call(admin, "PUT", "/api/config", None, Some(&renamed)).status, 200);
    let refused = apply(admin, None);
    assert_eq!(refused.status, 409, "{}", refused.body);
    let error = refused.json("apply")["reload"]["error"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        error.starts_with("state, system_alias cannot change while the host runs"),
        "{error}"
    );
    assert_eq!(said(&mut user, "same"), "same", "nothing was changed");

    // SIGHUP is refused the same way.
    host.signal("HUP");
    let line = host.wait_for_reload(2);
    assert!(
        line.contains("refused") && line.contains("state, system_alias"),
        "{line}"
    );

    let restarting = apply(admin, Some("{\"full_restart\": true}"));
    assert_eq!(restarting.status, 200, "{}", restarting.body);
    assert_eq!(restarting.json("apply")["reload"]["outcome"], "restarting");
    eventually("the host runs again under its new alias", WAIT, || {
        try_call(admin, "GET", "/health", None, None)
            .ok()
            .and_then(|r| serde_json::from_str::<Value>(&r.body).ok())
            .is_some_and(|v| v["system_alias"] == "after")
    });
    assert_eq!(host.pid(), pid, "the same process, started afresh");
    let log = host.log();
    assert_eq!(log.matches("running 1 transport").count(), 2, "{log}");
    assert!(log.contains("restarting the whole process"), "{log}");
    let mut again = Telnet::connect(telnet);
    assert_eq!(said(&mut again, "new start"), "NEW START");
    host.signal("TERM");
    assert!(host.wait(WAIT).success(), "{}", host.log());
}

#[test]
fn the_config_page_saves_and_applies() {
    let (admin, telnet) = (free_port(), free_port());
    let top = format!("admin: {{bind: \"127.0.0.1:{admin}\"}}\n");
    let (_host, _tmp) = start("admin-reload-page", &telnet_yaml("paged", telnet, "echo", &top), &[]);
    let mut user = Telnet::connect(telnet);
    let text = telnet_yaml("paged", telnet, "shout", &top);
    let page = post_form(admin, "/config", &[("text", &text), ("action", "apply")]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"saved\""), "{}", page.body);
    assert!(
        page.body.contains("<td id=\"reload-outcome\">applied</td>"),
        "{}",
        page.body
    );
    assert_eq!(said(&mut user, "page"), "PAGE");
    let shown = get(admin, "/config").body;
    assert!(shown.contains("Last reload"), "{shown}");
}
