//! Reloads from `--watch`, on RabbitMQ (each process reloads its own part; the broker keeps
//! what is queued meanwhile), and the global keys a running host refuses to change.

use ruvuma_tests::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn telnet_yaml(telnet: u16, app: &str) -> String {
    format!(
        "transports:\n  telnet: {{plugin: telnet, config: {{bind: \"127.0.0.1:{telnet}\"}}}}\n\
         applications:\n  app: {{plugin: {app}, endpoint: app_ep}}\n\
         dispatchers:\n  main:\n    router_class: simple\n    transport_names: [telnet]\n    exposed_names: [app_ep]\n    \
         route_mappings: {{telnet: app_ep}}\n"
    )
}

fn said(user: &mut Telnet, line: &str) -> String {
    user.send(line);
    user.read_line().expect("the telnet connection is open")
}

#[test]
fn watch_applies_an_edit_of_the_file() {
    let tmp = TempDir::new("reload-watch");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let mut host = Host::start(
        &telnet_yaml(port, "echo"),
        &["--plugin-dir", plugins.to_str().unwrap(), "--watch"],
    );
    host.wait_for_log("watching", WAIT);
    let mut user = Telnet::connect(port);
    assert_eq!(said(&mut user, "before"), "before");
    std::fs::write(host.config_path(), telnet_yaml(port, "shout")).unwrap();
    let line = host.wait_for_reload(1);
    assert!(line.contains("(Watch) applied"), "{line}");
    assert_eq!(
        said(&mut user, "after"),
        "AFTER",
        "the same connection, the new application"
    );
    // Writing the same text again is no change.
    std::fs::write(host.config_path(), telnet_yaml(port, "shout")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        host.log().matches("ruvuma::reload: reload of").count(),
        1,
        "{}",
        host.log()
    );
}

#[test]
fn the_store_and_the_bus_are_refused_by_name() {
    let tmp = TempDir::new("reload-refused");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let mut host = Host::start(&telnet_yaml(port, "echo"), &["--plugin-dir", plugins.to_str().unwrap()]);
    let mut user = Telnet::connect(port);
    let db = tmp.path().join("store.db");
    let with_store = format!(
        "store: {{sqlite: {{path: {}}}}}\nbus: {{memory: {{capacity: 64}}}}\n{}",
        db.display(),
        telnet_yaml(port, "shout")
    );
    let line = host.reload(&with_store, 1);
    assert!(
        line.contains("refused: bus, store cannot change while the host runs"),
        "{line}"
    );
    assert_eq!(said(&mut user, "same"), "same", "nothing changed");
    assert!(!db.exists(), "no store was opened");
}

/// Two processes on RabbitMQ: the front (telnet and dispatcher) and the application. The
/// application's process reloads a new application under load; what the broker held for it
/// meanwhile is answered by the new one, and the front never notices.
#[test]
fn on_rabbitmq_a_process_reloads_its_part_and_the_queue_keeps_the_messages() {
    let id = format!("rl_{}_{}", std::process::id(), free_port());
    let bus = "bus: {amqp: {url: \"amqp://guest:guest@127.0.0.1:5672/%2f\", exchange: vumi, prefetch: 20}}\n";
    let tmp = TempDir::new("reload-amqp");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let dirs = ["--plugin-dir", plugins.to_str().unwrap()];
    let app = |plugin: &str| format!("{bus}applications:\n  app: {{plugin: {plugin}, endpoint: app_{id}}}\n");
    let mut app_host = Host::start(&app("echo"), &dirs);
    let port = free_port();
    let front = Host::start(
        &format!(
            "{bus}transports:\n  tel_{id}: {{plugin: telnet, config: {{bind: \"127.0.0.1:{port}\"}}}}\n\
             dispatchers:\n  main:\n    router_class: simple\n    transport_names: [tel_{id}]\n    exposed_names: [app_{id}]\n    \
             route_mappings: {{tel_{id}: app_{id}}}\n"
        ),
        &dirs,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let users: Vec<_> = (0..3)
        .map(|u| {
            let stop = stop.clone();
            let mut user = Telnet::connect(port);
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let line = format!("user{u} line {n}");
                    let answer = said(&mut user, &line);
                    assert!(answer.eq_ignore_ascii_case(&line), "{line:?} answered {answer:?}");
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let line = app_host.reload(&app("shout"), 1);
    assert!(line.contains("changed application \"app\""), "{line}");
    let mut probe = Telnet::connect(port);
    eventually("the new application answers", WAIT, || {
        said(&mut probe, "probe") == "PROBE"
    });
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let counts: Vec<u64> = users.into_iter().map(|t| t.join().expect("no line lost")).collect();
    assert!(counts.iter().all(|n| *n > 10), "{counts:?}");
    assert!(!front.log().contains("reload"), "the front process did not reload");
}
