//! Chat through a real XMPP server: Prosody (Debian's package, started here on loopback) and
//! `ruvuma run` with the `xmpp` transport (STARTTLS, the test CA) and the `echo` application, in
//! its own process. USERS tokio-xmpp clients (this process) each send their share of
//! BENCH_MESSAGES chats to the transport's account, keeping WINDOW unanswered, and read every
//! echo: a chat in, a chat out, two stanzas through Prosody per round trip. Every echo must be a
//! chat that user sent, and each must come back once: anything else fails the bench.
//!
//! The figure that matters is where the CPU goes: Prosody's CPU time, ruvuma's and this
//! process's (the clients) over each run, read from /proc, beside the rate. Prosody is one Lua
//! thread; ruvuma is not the limit while its CPU stays well under Prosody's.
//!
//! `cargo bench -p ruvuma-tests --bench xmpp` (env: BENCH_MESSAGES, default 40,000; BENCH_RUNS,
//! default 3).

use ruvuma_tests::procfs::cpu_time;
use ruvuma_tests::prosody::Prosody;
use ruvuma_tests::xmpp_user::XmppUser;
use ruvuma_tests::{built, plugin_dir, Host, TempDir};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const USERS: u64 = 4;
const WINDOW: u64 = 100;
const PASSWORD: &str = "bench-pw";
/// How long one echo may take before the run is given up as failed.
const REPLY_LIMIT: Duration = Duration::from_secs(20);

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn start_host(tmp: &TempDir, prosody: &Prosody) -> Host {
    let plugins = plugin_dir(tmp, &["ruvuma_xmpp", "ruvuma_echo"]);
    let yaml = format!(
        "transports:\n  chat:\n    plugin: xmpp\n    config: {{host: 127.0.0.1, port: {}, username: bot@localhost, \
         password: \"${{XMPP_BENCH_PASSWORD}}\", ca_file: \"{}\"}}\n\
         applications:\n  echo: {{plugin: echo, endpoint: chat}}\n",
        prosody.port,
        prosody.ca_file().display()
    );
    let mut host = Host::start_with_env(
        &yaml,
        &["--plugin-dir", plugins.to_str().expect("utf-8 path")],
        &[("XMPP_BENCH_PASSWORD", PASSWORD)],
    );
    host.wait_for_log("\"type\":\"logged_in\"", Duration::from_secs(30));
    host
}

/// One user's share: `count` chats, WINDOW in flight, every echo checked off. The number of
/// problems (an echo that was not sent, or came twice, or never came).
fn drive(user: &XmppUser, tag: u64, count: u64) -> u64 {
    let body = |i: u64| format!("u{tag} m{i} hello from the bench");
    let mut sent = 0;
    let mut seen = HashSet::new();
    let mut problems = 0;
    while (seen.len() as u64) < count {
        let room = (seen.len() as u64 + WINDOW).min(count) - sent;
        if room > 0 {
            user.send_many("bot@localhost", (sent..sent + room).map(body));
            sent += room;
        }
        let Some(chat) = user.next_chat(REPLY_LIMIT) else {
            eprintln!(
                "user {tag}: no echo within {REPLY_LIMIT:?} ({} of {count} back)",
                seen.len()
            );
            return problems + count - seen.len() as u64;
        };
        let index = chat
            .body
            .strip_prefix(&format!("u{tag} m"))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<u64>().ok());
        match index {
            Some(i) if i < sent && seen.insert(i) => {}
            _ => problems += 1,
        }
    }
    problems
}

struct Run {
    rate: f64,
    prosody_cpu: f64,
    host_cpu: f64,
    client_cpu: f64,
}

fn run(users: &mut [XmppUser], messages: u64, prosody: u32, host: u32) -> (Run, u64) {
    let me = std::process::id();
    let before = [prosody, host, me].map(cpu_time);
    let started = Instant::now();
    let per_user = messages / USERS;
    let problems: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = users
            .iter_mut()
            .enumerate()
            .map(|(i, u)| s.spawn(move || drive(u, i as u64, per_user)))
            .collect();
        handles.into_iter().map(|h| h.join().expect("user thread")).sum()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let after = [prosody, host, me].map(cpu_time);
    let cpu = |i: usize| (after[i] - before[i]).as_secs_f64() / elapsed;
    let run = Run {
        rate: (per_user * USERS) as f64 / elapsed,
        prosody_cpu: cpu(0),
        host_cpu: cpu(1),
        client_cpu: cpu(2),
    };
    (run, problems)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let messages = env_num("BENCH_MESSAGES", 40_000).max(USERS);
    let runs = env_num("BENCH_RUNS", 3).max(1);
    built();
    let prosody = Prosody::start();
    prosody.register("bot", PASSWORD);
    for i in 0..USERS {
        prosody.register(&format!("user{i}"), PASSWORD);
    }
    let tmp = TempDir::new("bench-xmpp");
    let host = start_host(&tmp, &prosody);
    let mut users: Vec<XmppUser> = (0..USERS)
        .map(|i| XmppUser::connect(&prosody, &format!("user{i}"), PASSWORD))
        .collect();
    println!("XMPP echo through Prosody: {USERS} users, {WINDOW} chats in flight each, {messages} chats per run, {runs} runs");
    let (warm, mut failures) = run(&mut users, messages / 10, prosody.pid(), host.pid());
    println!("warm up: {:.0} round trips/s", warm.rate);
    let mut results = Vec::new();
    for n in 1..=runs {
        let (r, problems) = run(&mut users, messages, prosody.pid(), host.pid());
        failures += problems;
        println!(
            "run {n}: {:>7.0} round trips/s; CPU (cores): prosody {:.2}, ruvuma {:.2}, clients {:.2}; ruvuma ÷ prosody {:.2}",
            r.rate,
            r.prosody_cpu,
            r.host_cpu,
            r.client_cpu,
            r.host_cpu / r.prosody_cpu
        );
        results.push(r);
    }
    let m = |f: fn(&Run) -> f64| median(results.iter().map(f).collect());
    println!(
        "median: {:.0} round trips/s; CPU (cores): prosody {:.2}, ruvuma {:.2}, clients {:.2}; ruvuma ÷ prosody {:.2}",
        m(|r| r.rate),
        m(|r| r.prosody_cpu),
        m(|r| r.host_cpu),
        m(|r| r.client_cpu),
        m(|r| r.host_cpu / r.prosody_cpu)
    );
    println!(
        "ruvuma CPU per 1000 round trips: {:.1} ms; prosody: {:.1} ms",
        m(|r| r.host_cpu / r.rate * 1e6),
        m(|r| r.prosody_cpu / r.rate * 1e6)
    );
    drop(users);
    drop(host);
    assert_eq!(failures, 0, "{failures} echoes were wrong, doubled or missing");
}
