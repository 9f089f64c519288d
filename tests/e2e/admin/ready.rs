//! `/ready` and `/health`: the state store, RabbitMQ and a required transport going away.

use super::*;

/// A redis-server of this test's own on a free port, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server is needed for this test (apt-get install redis-server): {e}"));
        let redis = Self { child, port };
        eventually("the test's redis-server answers PING", WAIT, || redis.pong());
        redis
    }

    fn pong(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 16];
        s.write_all(b"PING\r\n").is_ok() && s.read(&mut buf).is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn problems(reply: &Reply) -> Vec<String> {
    reply.json("/ready")["problems"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn assert_healthy(admin: u16) {
    let health = get(admin, "/health");
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json("/health")["status"], "ok");
}

#[test]
fn ready_fails_when_the_redis_state_store_goes_away_and_health_does_not() {
    let mut redis = Redis::start();
    let (admin, telnet) = (free_port(), free_port());
    let top = format!(
        "state: {{redis: {{url: \"redis://127.0.0.1:{}\"}}}}\nadmin: {{bind: \"127.0.0.1:{admin}\"}}\n",
        redis.port
    );
    let (_host, _tmp) = start("admin-ready-redis", &telnet_yaml("ready", telnet, "echo", &top), &[]);
    let ready = get(admin, "/ready");
    assert_eq!(ready.status, 200, "ready with redis up: {}", ready.body);
    assert_eq!(ready.json("/ready")["status"], "ready");
    assert_healthy(admin);

    redis.kill();
    let down = poll(admin, "/ready", "redis killed", |r| r.status != 200);
    assert_eq!(down.status, 503, "{}", down.body);
    assert_eq!(down.json("/ready")["status"], "not ready");
    let said = problems(&down);
    assert!(
        said.iter().any(|p| p.starts_with("state store (redis)")),
        "the problem names the state store: {said:?}"
    );
    assert_eq!(said.len(), 1, "only the state store is down: {said:?}");
    assert_healthy(admin);
}

#[test]
fn ready_fails_while_rabbitmq_cannot_be_reached_and_recovers() {
    let proxy = ruvuma_tests::tcp_proxy::TcpProxy::start("127.0.0.1:5672");
    let (admin, telnet) = (free_port(), free_port());
    // Names of this test's own, so that its queues on the shared broker are its own.
    let tag = format!("rdy{}", std::process::id());
    let yaml = format!(
        "system_alias: ready\nbus: {{amqp: {{url: \"amqp://guest:guest@127.0.0.1:{}/%2f\"}}}}\n\
         admin: {{bind: \"127.0.0.1:{admin}\"}}\n\
         transports:\n  {tag}_t: {{plugin: telnet, config: {{bind: \"127.0.0.1:{telnet}\"}}}}\n\
         applications:\n  {tag}_a: {{plugin: echo}}\n\
         dispatchers:\n  {tag}_d:\n    router_class: simple\n    transport_names: [{tag}_t]\n    \
         exposed_names: [{tag}_a]\n    route_mappings: {{{tag}_t: {tag}_a}}\n",
        proxy.port
    );
    let (_host, _tmp) = start("admin-ready-amqp", &yaml, &[]);
    let ready = poll(admin, "/ready", "ready on RabbitMQ", |r| r.status == 200);
    assert_eq!(ready.json("/ready")["status"], "ready", "{}", ready.body);

    proxy.down();
    let down = poll(admin, "/ready", "RabbitMQ cut off", |r| r.status != 200);
    assert_eq!(down.status, 503, "{}", down.body);
    let said = problems(&down);
    assert!(
        said.iter().any(|p| p.starts_with("bus (amqp)")),
        "the problem names the bus: {said:?}"
    );
    assert_healthy(admin);

    proxy.up();
    poll(admin, "/ready", "RabbitMQ back", |r| r.status == 200);
}

/// An `smpp` transport `sms` on `port` with `required: true`, an echo application on it.
fn required_smpp_yaml(alias: &str, port: u16, admin: u16) -> String {
    format!(
        "system_alias: {alias}\nadmin: {{bind: \"127.0.0.1:{admin}\"}}\n\
         transports:\n  sms:\n    plugin: smpp\n    required: true\n    config: {{host: 127.0.0.1, port: {port}, \
         system_id: test, password: secret, reconnect_delay: 0.2, reconnect_max_delay: 1}}\n\
         applications:\n  app: {{plugin: echo, endpoint: sms}}\n"
    )
}

#[test]
fn ready_fails_while_a_required_transport_is_not_up() {
    // Never bound: its SMSC's port is closed.
    let admin = free_port();
    let (_never, _tmp) = start(
        "admin-ready-closed",
        &required_smpp_yaml("closed", free_port(), admin),
        &[],
    );
    let ready = get(admin, "/ready");
    assert_eq!(
        ready.status, 503,
        "a required transport that never bound: {}",
        ready.body
    );
    let said = problems(&ready);
    assert!(
        said.iter().any(|p| p.starts_with("transport \"sms\"")),
        "the problem names the transport: {said:?}"
    );
    assert_healthy(admin);

    // Bound, then its SMSC goes away.
    let smsc = Smsc::start(SmscConfig::default());
    let admin = free_port();
    let (_host, _tmp2) = start("admin-ready-smsc", &required_smpp_yaml("smsc", smsc.port(), admin), &[]);
    smsc.wait_for("the transport binds", WAIT, |s| s.bound_sessions() == 1);
    let up = poll(admin, "/ready", "the transport bound", |r| r.status == 200);
    assert_eq!(up.json("/ready")["status"], "ready");
    drop(smsc);
    let down = poll(admin, "/ready", "the SMSC stopped", |r| r.status != 200);
    assert_eq!(down.status, 503, "{}", down.body);
    let said = problems(&down);
    assert!(
        said.iter().any(|p| p.starts_with("transport \"sms\" is ")),
        "the problem names the transport and its status: {said:?}"
    );
    assert_healthy(admin);
}
