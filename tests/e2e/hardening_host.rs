//! The host against hostile files and values: broken plugin files, unbounded config input,
//! secrets in URLs, work abandoned at shutdown, and messages on RabbitMQ that are not Vumi's.

use ruvuma_tests::*;
use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `ruvuma args` and waits at most `limit` for it: a run that hangs fails the test instead
/// of hanging it.
fn ruvuma_within(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(&built().ruvuma)
        .args(args)
        .env_remove("RUVUMA_PLUGIN_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ruvuma");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("ruvuma {args:?} did not finish within {limit:?}: {}", text(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// A truncated library and a FIFO named like one are named and skipped; the good plugins
/// beside them still load, and nothing dies of SIGBUS or waits on the FIFO.
#[test]
fn a_truncated_library_and_a_fifo_are_named_and_skipped() {
    let tmp = TempDir::new("broken-plugins");
    let dir = plugin_dir(&tmp, &["ruvuma_echo"]);
    let whole = std::fs::read(built().out.join("libruvuma_telnet.so")).expect("telnet library");
    std::fs::write(dir.join("libtruncated.so"), &whole[..64 * 1024]).expect("write");
    let fifo = dir.join("x.so");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let dir_arg = dir.to_str().unwrap();
    let out = ruvuma_within(&["plugins", "--plugin-dir", dir_arg], Duration::from_secs(30));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("echo"), "the good library still loads: {stdout}");
    assert!(
        stderr.contains("libtruncated.so: a truncated or damaged library"),
        "{stderr}"
    );
    assert!(stderr.contains("x.so: not a regular file"), "{stderr}");
    let config = tmp.write("echo.yaml", &telnet_config(free_port(), "    plugin: echo"));
    let out = ruvuma_within(
        &["validate", "-c", config.to_str().unwrap(), "--plugin-dir", dir_arg],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1), "telnet is missing: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("libtruncated.so: a truncated"),
        "{}",
        text(&out.stderr)
    );
}

/// Input without end and values past any bound are problems with names, not hangs or panics.
#[test]
fn endless_files_and_unbounded_values_are_refused_by_name() {
    let out = ruvuma_within(&["validate", "-c", "/dev/zero"], Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("larger than 1048576 bytes"),
        "{}",
        text(&out.stderr)
    );
    let tmp = TempDir::new("bounds");
    let config = tmp.write(
        "bounds.yaml",
        "shutdown_timeout: 1.0e19\nbus: {memory: {capacity: 100000000000}}\n\
         transports:\n  t:\n    plugin: telnet\n    concurrency: 1000000000\n",
    );
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let out = ruvuma_within(
        &[
            "validate",
            "-c",
            config.to_str().unwrap(),
            "--plugin-dir",
            plugins.to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for key in ["shutdown_timeout", "capacity", "concurrency"] {
        assert!(stderr.contains(&format!("key \"{key}\": expected")), "{key}: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A password in a bus or state-store URL never reaches the log.
#[test]
fn passwords_in_urls_stay_out_of_the_log() {
    for (section, secret) in [
        (
            "bus: {amqp: {url: \"amqp://guest:s3cretpw@127.0.0.1:1/%2f\"}}",
            "s3cretpw",
        ),
        (
            "state: {redis: {url: \"redis://:t0psecret@127.0.0.1:1/0\"}}",
            "t0psecret",
        ),
    ] {
        let tmp = TempDir::new("redact");
        let yaml = format!("{section}\n{}", telnet_config(free_port(), "    plugin: echo"));
        let config = tmp.write("redact.yaml", &yaml);
        let plugins = plugin_dir(&tmp, ALL_PLUGINS);
        let out = ruvuma_within(
            &[
                "run",
                "-c",
                config.to_str().unwrap(),
                "--plugin-dir",
                plugins.to_str().unwrap(),
            ],
            Duration::from_secs(60),
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("cannot connect"), "{stderr}");
        assert!(
            stderr.contains(":***@127.0.0.1:1"),
            "the URL is named, redacted: {stderr}"
        );
        assert!(!stderr.contains(secret), "{secret} leaked: {stderr}");
    }
}

/// What was accepted and could not be finished by shutdown_timeout is counted, and the exit
/// code says so.
#[test]
fn work_abandoned_at_shutdown_is_counted_and_fails_the_exit_code() {
    let port = free_port();
    let tmp = TempDir::new("abandon");
    let plugins = plugin_dir(&tmp, &["ruvuma_telnet", "ruvuma_routers", "ruvuma_fixture_testkit"]);
    let yaml = format!(
        "shutdown_timeout: 500ms\ntransports:\n  telnet: {{plugin: telnet, config: {{bind: \"127.0.0.1:{port}\"}}}}\n\
         applications:\n  slow: {{plugin: slow_echo, endpoint: slow_app, config: {{delay_ms: 30000}}}}\n\
         dispatchers:\n  main:\n    router_class: simple\n    transport_names: [telnet]\n    exposed_names: [slow_app]\n    route_mappings: {{telnet: slow_app}}\n"
    );
    let mut host = Host::start(&yaml, &["--plugin-dir", plugins.to_str().unwrap()]);
    let mut user = Telnet::connect(port);
    user.send("hello");
    host.wait_for_log("slow_echo holds", Duration::from_secs(10));
    host.signal("TERM");
    let status = host.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{}", host.log());
    assert!(
        host.log()
            .contains("accepted messages were still in flight at shutdown_timeout and are lost"),
        "{}",
        host.log()
    );
}

/// A body on RabbitMQ that is not a Vumi message is kept whole on `<endpoint>.failures` with
/// the reason; the log gets an escaped excerpt, so a newline in it forges no line.
#[test]
fn a_malformed_amqp_message_is_kept_whole_on_the_failures_queue() {
    let id = format!("bad_{}_{}", std::process::id(), free_port());
    let tmp = TempDir::new("malformed");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let yaml = format!(
        "bus: {{amqp: {{url: \"amqp://guest:guest@127.0.0.1:5672/%2f\"}}}}\n\
         applications:\n  echo: {{plugin: echo, endpoint: {id}}}\n"
    );
    let host = Host::start(&yaml, &["--plugin-dir", plugins.to_str().unwrap()]);
    let body = format!("{{\"not\": \"vumi\"}}\nERROR forged line {}", "x".repeat(3000));
    let script = built().root.join("tests/interop/pika_malformed.py");
    let out = Command::new("python3")
        .arg(&script)
        .args([&id, &body])
        .output()
        .expect("python3");
    assert!(out.status.success(), "pika failed: {}", text(&out.stderr));
    let record: Value = serde_json::from_str(text(&out.stdout).trim()).expect("json");
    assert_eq!(record["failure_code"], "malformed");
    assert_eq!(record["body"], body.as_str(), "the whole body is kept");
    assert!(record["reason"]
        .as_str()
        .unwrap_or("")
        .starts_with("not a Vumi message"));
    let log = host.log();
    assert!(log.contains("not a Vumi message"), "{log}");
    assert!(
        !log.lines().any(|l| l.starts_with("ERROR forged")),
        "a newline in a body forged a log line:\n{log}"
    );
}

/// Problems in the file's shape do not hide the plugins' problems or the wiring's: all are
/// listed at once, each at its key's line.
#[test]
fn shape_plugin_and_wiring_problems_are_reported_together() {
    let tmp = TempDir::new("all-problems");
    let config = tmp.write(
        "all.yaml",
        "transports:\n  telnet:\n    plugin: telnet\n    instances: 0\n    config:\n      bind: nowhere\n\
         applications:\n  echo: {plugin: echo, endpoint: echo_app}\n\
         dispatchers:\n  main:\n    router_class: vumi.dispatchers.base.SimpleDispatchRouter\n    transport_names: [telnet, ghost]\n    \
         exposed_names: [echo_app]\n    route_mappings: {telnet: echo_app}\n",
    );
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let (code, _, stderr) = validate_with(&config, &plugins);
    assert_eq!(code, Some(1), "{stderr}");
    let file = config.display().to_string();
    for expected in [
        format!("{file}:4: transport \"telnet\": key \"instances\": expected a whole number from 1 to 1000"),
        format!("{file}:6: transport \"telnet\": key \"bind\": \"nowhere\" is not an address"),
        format!("{file}:12: dispatcher \"main\": key \"transport_names\": unknown endpoint \"ghost\""),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(stderr.starts_with("3 problems found"), "{stderr}");
}
