//! Hot reload under load: telnet, HTTP (sync) and SMPP traffic flows, counted, while the config
//! changes under it (SIGHUP): a keyword route added, an application's config changed, a
//! transport added and removed, a plugin library replaced on disk, a config with a problem, and
//! one whose new transport cannot bind its port. After each: nothing lost (every line, request
//! and MO answered), the telnet connection of the unchanged transport still answering, the
//! SMPP bind of the unchanged transport not rebound.

use ruvuma_tests::smsc::{Smsc, SmscConfig};
use ruvuma_tests::*;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// The config's variable parts, one reload step after another.
#[derive(Clone, Default)]
struct Shape {
    /// Messages starting `ver` go to the `versioned` application.
    ver_route: bool,
    /// The fallback application tags its replies with its instance.
    tagged: bool,
    /// A second telnet transport on this port.
    extra: Option<u16>,
    /// A key the config reader does not know (a config with a problem).
    problem: bool,
}

struct Rig {
    telnet: u16,
    http: u16,
    smsc: Smsc,
    plugins: std::path::PathBuf,
    _tmp: TempDir,
}

impl Rig {
    fn new() -> Self {
        let tmp = TempDir::new("reload");
        let plugins = plugin_dir(&tmp, ALL_PLUGINS);
        Self {
            telnet: free_port(),
            http: free_port(),
            smsc: Smsc::start(SmscConfig::default()),
            plugins,
            _tmp: tmp,
        }
    }

    fn yaml(&self, s: &Shape) -> String {
        let mut transports = format!(
            "  telnet: {{plugin: telnet, config: {{bind: \"127.0.0.1:{}\"}}}}\n  \
             web: {{plugin: http, config: {{bind: \"127.0.0.1:{}\", mode: sync}}}}\n  \
             sms: {{plugin: smpp, config: {{host: 127.0.0.1, port: {}, system_id: test, password: secret, reconnect_delay: 0.2}}}}\n",
            self.telnet,
            self.http,
            self.smsc.port()
        );
        let mut names = "telnet, web, sms".to_owned();
        if let Some(port) = s.extra {
            transports.push_str(&format!(
                "  extra: {{plugin: telnet, config: {{bind: \"127.0.0.1:{port}\"}}}}\n"
            ));
            names.push_str(", extra");
        }
        let tag = if s.tagged { ", tag_instance: true" } else { "" };
        let rules = if s.ver_route {
            "[{app: ver_ep, keyword: ver}]"
        } else {
            "[]"
        };
        let problem = if s.problem { "no_such_section: {}\n" } else { "" };
        format!(
            "system_alias: reload\n{problem}transports:\n{transports}applications:\n  \
             fallback: {{plugin: slow_echo, endpoint: fallback_ep, config: {{delay_ms: 0{tag}}}}}\n  \
             ver: {{plugin: versioned, endpoint: ver_ep}}\n\
             dispatchers:\n  main:\n    router_class: vumi.dispatchers.ContentKeywordRouter\n    \
             transport_names: [{names}]\n    exposed_names: [fallback_ep, ver_ep]\n    dispatcher_name: main\n    \
             rules: {rules}\n    fallback_application: fallback_ep\n"
        )
    }

    fn start(&self, s: &Shape) -> Host {
        let host = Host::start(&self.yaml(s), &["--plugin-dir", self.plugins.to_str().unwrap()]);
        self.smsc.wait_for("the SMPP bind", WAIT, |s| s.bound_sessions() == 1);
        host
    }
}

/// Traffic on three paths, each message checked against its answer.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Result<u64, String>>>,
    mo_sent: Arc<AtomicU64>,
    /// Answers so far on the telnet and HTTP paths.
    answered: Arc<AtomicU64>,
}

/// One telnet user sending `{tag} {i}` and reading each answer; the count answered.
fn telnet_user(
    port: u16,
    tag: String,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
) -> JoinHandle<Result<u64, String>> {
    let mut user = Telnet::connect(port);
    std::thread::spawn(move || {
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let line = format!("{tag} {n}");
            user.send(&line);
            let answer = user.read_line().map_err(|e| format!("{line:?}: no answer: {e}"))?;
            if !answer.starts_with(&line) {
                return Err(format!("{line:?} was answered {answer:?}"));
            }
            n += 1;
            answered.fetch_add(1, Ordering::Relaxed);
        }
        Ok(n)
    })
}

/// One HTTP client posting `web {i}` to the sync transport; the count answered.
fn http_client(
    port: u16,
    user: usize,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
) -> JoinHandle<Result<u64, String>> {
    std::thread::spawn(move || {
        let url = format!("http://127.0.0.1:{port}/");
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let content = format!("web {n}");
            let body = format!("{{\"from_addr\": \"u{user}\", \"to_addr\": \"s\", \"content\": \"{content}\"}}");
            let (status, answer) = http_post(&url, "application/json", &body, None);
            let reply: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
            let ok = status == 200 && reply["content"].as_str().is_some_and(|c| c.starts_with(&content));
            if !ok {
                return Err(format!("{content:?} was answered {status} {answer}"));
            }
            n += 1;
            answered.fetch_add(1, Ordering::Relaxed);
        }
        Ok(n)
    })
}

impl Load {
    fn start(rig: &Rig) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let mut threads = vec![
            telnet_user(rig.telnet, "load".into(), stop.clone(), answered.clone()),
            telnet_user(rig.telnet, "more".into(), stop.clone(), answered.clone()),
        ];
        threads.extend((0..2).map(|u| http_client(rig.http, u, stop.clone(), answered.clone())));
        Self {
            stop,
            threads,
            mo_sent: Arc::new(AtomicU64::new(0)),
            answered,
        }
    }

    /// Lets `more` messages flow (and 20 MO) before the next change.
    fn flow(&self, smsc: &Smsc, more: u64) {
        self.mo(smsc, 20);
        let target = self.answered.load(Ordering::Relaxed) + more;
        eventually("traffic flows", Duration::from_secs(120), || {
            self.answered.load(Ordering::Relaxed) >= target
        });
    }

    /// MO messages through the SMPP bind, a few at a time, between the reloads.
    fn mo(&self, smsc: &Smsc, count: u64) {
        for _ in 0..count {
            let n = self.mo_sent.fetch_add(1, Ordering::Relaxed);
            let status = smsc
                .send_deliver_sm("27820000001", "1234", 0, 0, format!("sms {n}").as_bytes(), &[])
                .expect("deliver_sm");
            assert_eq!(status, 0, "deliver_sm {n} was refused");
        }
    }

    /// Stops the traffic; the counts answered per path, or the first loss.
    fn finish(self, smsc: &Smsc) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        let mut counts = Vec::new();
        for t in self.threads {
            match t.join().expect("load thread") {
                Ok(n) => counts.push(n),
                Err(e) => panic!("a message was lost: {e}"),
            }
        }
        let sent = self.mo_sent.load(Ordering::Relaxed);
        smsc.wait_for("every MO answered by a submit_sm", WAIT, |s| {
            let texts: Vec<String> = s
                .submits()
                .iter()
                .map(|x| String::from_utf8_lossy(&x.short_message).into_owned())
                .collect();
            (0..sent).all(|n| {
                // The tag's brackets are GSM escapes on the wire: match up to the space.
                let (exact, tagged) = (format!("sms {n}"), format!("sms {n} "));
                texts.iter().any(|t| *t == exact || t.starts_with(&tagged))
            })
        });
        counts.push(sent);
        counts
    }
}

/// What an unchanged path must still do after a reload: the long-lived telnet user answers,
/// the SMPP bind is the first one.
fn unchanged_paths_intact(host: &mut Host, user: &mut Telnet, smsc: &Smsc, said: &str) {
    user.send(said);
    let answer = user.read_line().unwrap_or_else(|e| {
        let status = host.wait(Duration::from_secs(2));
        panic!("the telnet user's connection is closed ({e}); ruvuma ended: {status}")
    });
    assert!(answer.starts_with(said), "{said:?} answered {answer:?}");
    assert_eq!(smsc.binds().len(), 1, "the SMPP transport did not bind again");
}

fn ask(user: &mut Telnet, said: &str) -> String {
    user.send(said);
    user.read_line().expect("an answer")
}

#[test]
fn each_reload_under_load_loses_nothing_and_keeps_what_did_not_change() {
    let rig = Rig::new();
    let mut shape = Shape::default();
    let mut host = rig.start(&shape);
    let mut user = Telnet::connect(rig.telnet);
    assert_eq!(ask(&mut user, "ver before"), "ver before", "no keyword route yet");
    let load = Load::start(&rig);
    load.flow(&rig.smsc, 400);

    // 1. A keyword route added: only the dispatcher is replaced.
    shape.ver_route = true;
    let line = host.reload(&rig.yaml(&shape), 1);
    assert!(
        line.contains("applied") && line.contains("changed dispatcher \"main\" (config)"),
        "{line}"
    );
    assert!(line.contains("5 unchanged"), "{line}");
    assert_eq!(ask(&mut user, "ver hello"), "v1: ver hello");
    unchanged_paths_intact(&mut host, &mut user, &rig.smsc, "after route");
    load.flow(&rig.smsc, 400);

    // 2. An application's config changed.
    shape.tagged = true;
    let line = host.reload(&rig.yaml(&shape), 2);
    assert!(line.contains("changed application \"fallback\" (config)"), "{line}");
    assert!(
        ask(&mut user, "tag me").starts_with("tag me [instance "),
        "the new config is in effect"
    );
    unchanged_paths_intact(&mut host, &mut user, &rig.smsc, "after config");
    load.flow(&rig.smsc, 400);

    // 3. A transport added (the dispatcher changes with it).
    let extra = free_port();
    shape.extra = Some(extra);
    let line = host.reload(&rig.yaml(&shape), 3);
    assert!(line.contains("added transport \"extra\""), "{line}");
    let mut newcomer = Telnet::connect(extra);
    assert!(
        ask(&mut newcomer, "new here").starts_with("new here"),
        "the new transport answers"
    );
    unchanged_paths_intact(&mut host, &mut user, &rig.smsc, "after add");
    load.flow(&rig.smsc, 400);

    // 4. The transport removed again: its users are let go, its port closed.
    shape.extra = None;
    let line = host.reload(&rig.yaml(&shape), 4);
    assert!(line.contains("removed transport \"extra\""), "{line}");
    eventually("the removed transport's port closes", WAIT, || {
        std::net::TcpStream::connect(("127.0.0.1", extra)).is_err()
    });
    unchanged_paths_intact(&mut host, &mut user, &rig.smsc, "after remove");
    load.flow(&rig.smsc, 400);

    // 5. A new version of a plugin library put in place of the old one.
    let lib = rig.plugins.join("libruvuma_fixture_testkit.so");
    let next = rig.plugins.join(".libruvuma_fixture_testkit.so.new");
    std::fs::copy(testkit_v2(), &next).expect("copy version 2");
    std::fs::rename(&next, &lib).expect("replace the library");
    std::fs::write(host.config_path(), rig.yaml(&shape)).unwrap();
    host.signal("HUP");
    let line = host.wait_for_reload(5);
    assert!(line.contains("application \"ver\" (library)"), "{line}");
    assert!(line.contains("application \"fallback\" (library)"), "{line}");
    assert!(
        line.contains("4 unchanged"),
        "only the library's components restart: {line}"
    );
    assert_eq!(ask(&mut user, "ver again"), "v2: ver again", "the new library answers");
    unchanged_paths_intact(&mut host, &mut user, &rig.smsc, "after library");
    load.flow(&rig.smsc, 400);

    // 6. A config with a problem: not applied, the running one goes on.
    let mut bad = shape.clone();
    bad.problem = true;
    bad.ver_route = false;
    let line = host.reload(&rig.yaml(&bad), 6);
    assert!(line.contains("invalid") && line.contains("no_such_section"), "{line}");
    assert_eq!(
        ask(&mut user, "ver still"),
        "v2: ver still",
        "the running config goes on"
    );
    unchanged_paths_intact(&mut host, &mut user, &rig.smsc, "after problem");
    load.flow(&rig.smsc, 400);

    // 7. A new transport that cannot bind its port: back to the old config.
    let taken = TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let mut clash = shape.clone();
    clash.extra = Some(taken.local_addr().unwrap().port());
    clash.ver_route = false;
    let line = host.reload(&rig.yaml(&clash), 7);
    assert!(line.contains("rolled_back") && line.contains("extra"), "{line}");
    assert_eq!(
        ask(&mut user, "ver rolled"),
        "v2: ver rolled",
        "the old dispatcher routes again"
    );
    unchanged_paths_intact(&mut host, &mut user, &rig.smsc, "after rollback");
    load.flow(&rig.smsc, 400);

    let counts = load.finish(&rig.smsc);
    assert!(counts.iter().all(|n| *n > 0), "every path carried traffic: {counts:?}");
    let total: u64 = counts.iter().sum();
    assert!(total > 1000, "thousands of messages flowed: {counts:?}");
    eprintln!("answered per path (telnet, telnet, http, http, smpp): {counts:?}");
    let log = host.log();
    assert!(log.contains("rolled_back"), "the host says it rolled back:\n{log}");
    host.signal("TERM");
    assert!(host.wait(WAIT).success(), "{}", host.log());
}
