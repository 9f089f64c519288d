//! The `ssmi` transport against an SSMI server simulated here, written from the protocol as
//! python-ssmi, txssmi and Vumi's TruteqTransport describe it (no maintained independent server
//! exists): lines `SSMI,<code>,<fields>` ending in `\r`; the client logs in (`1`) and is acked
//! (`101,1`), sends link checks (`3`, acked `101,2`), USSD (`110`) and SMS (`2`); the server
//! sends USSD (`110`) and SMS MO (`103`).

use ruvuma_tests::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const PASSWORD: &str = "s3cret-pw";

#[derive(Default)]
struct SimState {
    /// Every line the client sent: (connection number from 1, line without `\r`).
    lines: Vec<(usize, String)>,
    conn: Option<TcpStream>,
    conns: usize,
    /// Connections wait in the listener's backlog while set.
    hold: bool,
    /// Link checks go unanswered while set.
    mute_link_checks: bool,
}

/// A TruTeq SSMI server: acks a login with the expected password, nacks any other (`102,1`),
/// answers link checks, records every line, and sends what the test tells it to.
struct Sim {
    port: u16,
    state: Arc<Mutex<SimState>>,
}

impl Sim {
    fn start(password: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let state: Arc<Mutex<SimState>> = Arc::default();
        let shared = state.clone();
        std::thread::spawn(move || loop {
            if shared.lock().unwrap().hold {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).expect("blocking");
                    let n = {
                        let mut s = shared.lock().unwrap();
                        s.conns += 1;
                        s.conn = Some(stream.try_clone().expect("clone"));
                        s.conns
                    };
                    let state = shared.clone();
                    std::thread::spawn(move || serve(n, stream, password, state));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        });
        Self { port, state }
    }

    fn send_raw(&self, bytes: &[u8]) {
        let mut s = self.state.lock().unwrap();
        let conn = s.conn.as_mut().expect("a connection to send on");
        conn.write_all(bytes).expect("send to the transport");
    }

    fn send(&self, line: &str) {
        self.send_raw(format!("{line}\r").as_bytes());
    }

    fn drop_link(&self) {
        if let Some(c) = self.state.lock().unwrap().conn.take() {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    fn hold(&self, on: bool) {
        self.state.lock().unwrap().hold = on;
    }

    fn lines(&self) -> Vec<(usize, String)> {
        self.state.lock().unwrap().lines.clone()
    }

    fn count(&self, prefix: &str) -> usize {
        self.lines().iter().filter(|(_, l)| l.starts_with(prefix)).count()
    }

    /// Waits for the client to send `line`; the number of the connection it came on.
    fn expect(&self, line: &str) -> usize {
        eventually(&format!("the transport sending {line:?}"), WAIT, || {
            self.lines().iter().any(|(_, l)| l == line)
        });
        self.lines()
            .iter()
            .find(|(_, l)| l == line)
            .map(|(n, _)| *n)
            .unwrap_or(0)
    }
}

/// Reads one connection's lines and answers logins and link checks.
fn serve(n: usize, stream: TcpStream, password: &str, state: Arc<Mutex<SimState>>) {
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    while matches!(reader.read_until(b'\r', &mut buf), Ok(k) if k > 0) {
        let line = String::from_utf8_lossy(buf.strip_suffix(b"\r").unwrap_or(&buf)).into_owned();
        buf.clear();
        let answer = if let Some(creds) = line.strip_prefix("SSMI,1,") {
            Some(if creds == format!("ruvuma,{password}") {
                "SSMI,101,1\r"
            } else {
                "SSMI,102,1\r"
            })
        } else if line == "SSMI,3" && !state.lock().unwrap().mute_link_checks {
            Some("SSMI,101,2\r")
        } else {
            None
        };
        // Answered before it is recorded: a test that saw the login sends after the ack.
        if let Some(a) = answer {
            let _ = writer.write_all(a.as_bytes());
        }
        state.lock().unwrap().lines.push((n, line));
    }
}

/// A host whose `ssmi` transport (endpoint `ssmi`) talks to `sim`, with `app` (YAML of one
/// application on that endpoint) and `extra` transport config; the password from the environment.
fn host(sim: &Sim, app: &str, extra: &str) -> (Host, TempDir) {
    let tmp = TempDir::new("ssmi");
    let plugins = plugin_dir(
        &tmp,
        &["ruvuma_ssmi", "ruvuma_echo", "ruvuma_ussd", "ruvuma_fixture_testkit"],
    );
    let yaml = format!(
        "transports:\n  ssmi:\n    plugin: ssmi\n    config: {{host: 127.0.0.1, port: {}, username: ruvuma, \
         password: \"${{SSMI_TEST_PASSWORD}}\", reconnect_delay: 0.1, reconnect_max_delay: 0.5{extra}}}\n\
         applications:\n  app: {{endpoint: ssmi, {app}}}\n",
        sim.port
    );
    let host = Host::start_with_env(
        &yaml,
        &["--plugin-dir", plugins.to_str().expect("utf-8 path")],
        &[("SSMI_TEST_PASSWORD", PASSWORD)],
    );
    (host, tmp)
}

fn assert_no_password(host: &Host) {
    let log = host.log();
    assert!(!log.contains(PASSWORD), "the password reached the log:\n{log}");
}

#[test]
fn ssmi_logs_in_checks_the_link_and_leaves_a_server_that_stops_answering() {
    let sim = Sim::start(PASSWORD);
    let (mut host, _tmp) = host(&sim, "plugin: echo", ", link_check_period: 0.2");
    assert_eq!(sim.expect(&format!("SSMI,1,ruvuma,{PASSWORD}")), 1);
    eventually("three link checks", WAIT, || sim.count("SSMI,3") >= 3);
    assert!(sim.lines().iter().all(|(n, _)| *n == 1), "{:?}", sim.lines());
    host.wait_for_log("\"type\":\"logged_in\"", WAIT);
    // Unanswered link checks: after two the link is dropped, and the transport logs in again.
    sim.state.lock().unwrap().mute_link_checks = true;
    host.wait_for_log("2 link checks went unanswered", WAIT);
    eventually("a second login", WAIT, || sim.count("SSMI,1,") >= 2);
    let lines = sim.lines();
    let second = lines.iter().find(|(n, l)| *n == 2 && l.starts_with("SSMI,1,"));
    assert!(
        second.is_some(),
        "the second login comes on a new connection: {lines:?}"
    );
    assert!(host.log().contains("\"type\":\"connection_lost\""), "{}", host.log());
    assert_no_password(&host);
}

#[test]
fn ssmi_a_refused_login_is_reported_and_retried() {
    let sim = Sim::start("another-password");
    let (mut host, _tmp) = host(&sim, "plugin: echo", "");
    host.wait_for_log(
        "the server refused the login: invalid username/password combination",
        WAIT,
    );
    eventually("a login retried", WAIT, || sim.count("SSMI,1,") >= 2);
    assert!(host.log().contains("\"type\":\"login_failed\""), "{}", host.log());
    assert_no_password(&host);
}

#[test]
fn ssmi_a_ussd_session_from_start_to_end() {
    let sim = Sim::start(PASSWORD);
    let (mut host, _tmp) = host(&sim, "plugin: ussd_menu", "");
    sim.expect(&format!("SSMI,1,ruvuma,{PASSWORD}"));
    // New session: the USSD code opens it, the menu asks, and the session goes on (type 2).
    sim.send("SSMI,110,27821234567,1,0,*120*123#");
    sim.expect("SSMI,110,27821234567,2,foo?");
    sim.send("SSMI,110,27821234567,2,0,baz, qux");
    sim.expect("SSMI,110,27821234567,2,Say bar ...");
    // The closing reply ends the session (type 3).
    sim.send("SSMI,110,27821234567,2,0,bar");
    sim.expect("SSMI,110,27821234567,3,Clever. Bye!");
    // A user who hangs up (3) or times out (4) closes the session: the menu sees a close.
    sim.send("SSMI,110,27829999999,1,0,*120*123");
    sim.expect("SSMI,110,27829999999,2,foo?");
    sim.send("SSMI,110,27829999999,3,0,");
    host.wait_for_log("+27829999999 ended session", WAIT);
    sim.send("SSMI,110,27828888888,1,0,*120*123#");
    sim.expect("SSMI,110,27828888888,2,foo?");
    sim.send("SSMI,110,27828888888,4,0,");
    host.wait_for_log("+27828888888 ended session", WAIT);
    assert_eq!(sim.count("SSMI,110,"), 5, "no reply to a close: {:?}", sim.lines());
    assert_no_password(&host);
}

#[test]
fn ssmi_inbound_fields_as_vumi_maps_them() {
    let sim = Sim::start(PASSWORD);
    let app = "plugin: mt_source, config: {messages: []}";
    let (mut host, _tmp) = host(&sim, app, ", sms_to_addr: \"31000\"");
    sim.expect(&format!("SSMI,1,ruvuma,{PASSWORD}"));
    sim.send("SSMI,111,27820000001,1,2,655011234567890:1::,*120*7");
    host.wait_for_log("mt_source got \"\" from +27820000001 to *120*7# meta", WAIT);
    // Latin-1 on the line, and the session's code as to_addr of the later messages.
    sim.send_raw(b"SSMI,110,27820000001,2,0,f\xf6\xf3, b\xe6r\r");
    host.wait_for_log("mt_source got \"föó, bær\" from +27820000001 to *120*7#", WAIT);
    sim.send("SSMI,103,27820000002,42,hi, there");
    host.wait_for_log("mt_source got \"hi, there\" from +27820000002 to 31000", WAIT);
    sim.send("SSMI,107,27820000003,43,31337,win");
    host.wait_for_log("mt_source got \"win\" from +27820000003 to 31337", WAIT);
    assert!(host.log().contains(r#""sequence":"42""#), "{}", host.log());
}

#[test]
fn ssmi_sms_mo_is_echoed_as_sms_mt_and_a_stop_logs_out() {
    let sim = Sim::start(PASSWORD);
    let (mut host, _tmp) = host(&sim, "plugin: echo", ", validity: 60");
    sim.expect(&format!("SSMI,1,ruvuma,{PASSWORD}"));
    sim.send("SSMI,103,27821234567,7,hello, world");
    sim.expect("SSMI,2,60,27821234567,hello, world");
    // USSD replies use 110, SMS replies 2: an SMS MO never gets a USSD answer.
    assert_eq!(sim.count("SSMI,110,"), 0);
    // A host that stops logs out.
    host.signal("TERM");
    assert!(host.wait(WAIT).success());
    eventually("a logout", WAIT, || sim.count("SSMI,99") == 1);
}

#[test]
fn ssmi_a_dropped_link_nacks_what_comes_meanwhile_and_logs_in_again() {
    let sim = Sim::start(PASSWORD);
    let app = "plugin: slow_echo, config: {delay_ms: 1500}";
    let (mut host, _tmp) = host(&sim, app, "");
    assert_eq!(sim.expect(&format!("SSMI,1,ruvuma,{PASSWORD}")), 1);
    host.wait_for_log("\"type\":\"logged_in\"", WAIT);
    let logins = |host: &Host| host.log().matches("\"type\":\"logged_in\"").count();
    let first = logins(&host);
    // The MO arrives, then the link drops and the server takes no connection: the echo,
    // 1.5 s later, finds the link down and is nacked with why.
    sim.send("SSMI,103,27821234567,1,during the outage");
    sim.hold(true);
    sim.drop_link();
    host.wait_for_log("\"type\":\"connection_lost\"", WAIT);
    let nack = format!(
        ": the ssmi link to 127.0.0.1:{} is down (the server closed the connection); the message was not sent",
        sim.port
    );
    eventually("the echo nacked with the reason", WAIT, || {
        host.log()
            .lines()
            .any(|l| l.contains("slow_echo got nack for ") && l.contains(&nack))
    });
    // The server takes connections again: the transport logs in on a new one and carries on.
    sim.hold(false);
    eventually("a second login", WAIT, || sim.count("SSMI,1,") == 2);
    eventually("the login acked", WAIT, || logins(&host) > first);
    sim.send("SSMI,103,27821234567,2,after");
    assert_eq!(sim.expect("SSMI,2,0,27821234567,after"), 2);
    host.wait_for_log("slow_echo got ack for ", WAIT);
    assert_eq!(sim.count("SSMI,2,0,27821234567,during"), 0, "{:?}", sim.lines());
    assert_no_password(&host);
}

#[test]
fn ssmi_malformed_and_over_long_lines_are_skipped_on_the_same_link() {
    let sim = Sim::start(PASSWORD);
    let (mut host, _tmp) = host(&sim, "plugin: echo", "");
    sim.expect(&format!("SSMI,1,ruvuma,{PASSWORD}"));
    sim.send("GARBAGE\x1b[31m");
    host.wait_for_log("it does not start with \"SSMI,\": \"GARBAGE\\u{1b}[31m\"", WAIT);
    sim.send("SSMI,110,27821234567,9,0,x");
    host.wait_for_log("type \"9\" is not one of 1 (new)", WAIT);
    // max_line is 65536 by default: a line of exactly that is read, one byte more is skipped.
    let head = "SSMI,103,27821234567,5,";
    let fits = format!("{head}{}", "y".repeat(65_536 - head.len()));
    sim.send(&format!("{head}{}", "z".repeat(65_537 - head.len())));
    host.wait_for_log(
        "a line of 65537 bytes from the server skipped: longer than max_line (65536)",
        WAIT,
    );
    sim.send(&fits);
    sim.expect(&format!("SSMI,2,0,27821234567,{}", "y".repeat(65_536 - head.len())));
    sim.send("SSMI,103,27821234567,6,still here");
    assert_eq!(sim.expect("SSMI,2,0,27821234567,still here"), 1, "the same connection");
    assert_eq!(sim.count("SSMI,1,"), 1, "no second login");
    assert_eq!(sim.count("SSMI,2,0,27821234567,z"), 0);
}
