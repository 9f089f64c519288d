//! RabbitMQ restarted while messages flow: nothing is lost and every host recovers by itself.
//! This stops and starts the broker (`rabbitmqctl stop_app` / `start_app`), so it runs in a test
//! binary of its own, after the others.

use ruvuma_tests::*;
use std::process::Command;
use std::time::Duration;

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl").args(args).output().expect("rabbitmqctl");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn redis_get(key: &str) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "GET", key])
        .output()
        .expect("redis-cli");
    let value = text(&out.stdout).trim().to_owned();
    (!value.is_empty()).then_some(value)
}

#[test]
fn a_broker_restart_loses_nothing_and_every_host_recovers() {
    let id = format!("restart_{}_{}", std::process::id(), free_port());
    let prefix = format!("ruvuma-{id}");
    let bus = "bus: {amqp: {url: \"amqp://guest:guest@127.0.0.1:5672/%2f\", exchange: vumi, prefetch: 20}}\n";
    let tmp = TempDir::new("restart");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let args = ["--plugin-dir", plugins.to_str().unwrap()];
    let app = format!("{bus}applications:\n  echo: {{plugin: echo, endpoint: app_{id}, middleware: [log: logging]}}\n");
    let app_host = Host::start(&app, &args);
    let front = Host::start(
        &format!(
            "{bus}state: {{redis: {{url: \"redis://127.0.0.1:6379\", key_prefix: \"{prefix}\"}}}}\n\
             transports:\n  lg_{id}: {{plugin: loadgen, config: {{messages: 5000, window: 100}}}}\n\
             dispatchers:\n  main:\n    router_class: simple\n    transport_names: [lg_{id}]\n    exposed_names: [app_{id}]\n    \
             route_mappings: {{lg_{id}: app_{id}}}\n"
        ),
        &args,
    );
    eventually("messages flowing", Duration::from_secs(30), || {
        app_host.log().matches("Processed inbound message").count() >= 200
    });
    rabbitmqctl(&["stop_app"]);
    std::thread::sleep(Duration::from_secs(2));
    rabbitmqctl(&["start_app"]);
    let result = format!("{prefix}:lg_{id}:result");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while redis_get(&result).is_none() {
        if std::time::Instant::now() > deadline {
            let queues = Command::new("rabbitmqctl")
                .args([
                    "list_queues",
                    "name",
                    "messages_ready",
                    "messages_unacknowledged",
                    "consumers",
                ])
                .output()
                .map(|o| text(&o.stdout))
                .unwrap_or_default();
            let tail = |log: String| {
                log.lines()
                    .filter(|l| !l.contains("Processed inbound"))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            panic!(
                "not every message was answered after the restart\nqueues:\n{}\nfront:\n{}\napp:\n{}",
                queues
                    .lines()
                    .filter(|l| l.contains(&id))
                    .collect::<Vec<_>>()
                    .join("\n"),
                tail(front.log()),
                tail(app_host.log())
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
