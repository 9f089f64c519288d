//! Round trips through a Vumi JS sandbox toolkit app beside the `echo` application, in one
//! invocation, on the memory bus:
//!
//! - **sandbox**: `telnet` → `sandbox` running tests/fixtures/sandbox/bench.js (vumigo_v02: each
//!   message is a whole toolkit round: config.get, kv.get, the reply, kv.set);
//! - **echo**: `telnet` → `echo`, the same topology with Rust's simplest app.
//!
//! The client opens BENCH_USERS telnet connections (each one user), and each sends a line, waits
//! for its reply, and sends the next (closed loop), BENCH_MESSAGES in all; every reply must be
//! the expected one. Reported per run: round trips/s and the p50 and p99 of the time from a line
//! sent to its reply; runs alternate sandbox and echo BENCH_RUNS times; the summary has medians.
//!
//! `cargo bench -p ruvuma-tests --bench sandbox` (env: BENCH_MESSAGES, default 20,000;
//! BENCH_USERS, default 64; BENCH_RUNS, default 3; BENCH_WORKERS, default 2; BENCH_SLOTS,
//! default 8; BENCH_CPU_TIME, the sandbox's cpu_time, default 5, 0 for none; BENCH_YOUNG_SPACE,
//! the sandbox's young_space_mb, unset for its default). Needs node and npm (the toolkit is installed from npm into tests/fixtures/sandbox).

use ruvuma_tests::{built, free_port, plugin_dir, telnet_config, Host, TempDir};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Run {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// One user: `n` lines, each answered before the next; the latencies.
async fn user(port: u16, n: u64, greeted: bool, prefix: &'static str) -> Result<Vec<Duration>, String> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    let limit = Duration::from_secs(20);
    if greeted {
        tokio::time::timeout(limit, lines.read_line(&mut line))
            .await
            .map_err(|_| "no greeting")?
            .map_err(|e| e.to_string())?;
    }
    let mut took = Vec::with_capacity(n as usize);
    for i in 0..n {
        let sent = format!("m{i}");
        let start = Instant::now();
        write
            .write_all(format!("{sent}\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        line.clear();
        tokio::time::timeout(limit, lines.read_line(&mut line))
            .await
            .map_err(|_| format!("no reply to {sent}"))?
            .map_err(|e| e.to_string())?;
        took.push(start.elapsed());
        let want = format!("{prefix}{sent}");
        if line.trim_end() != want {
            return Err(format!("{sent}: got {:?}, want {want:?}", line.trim_end()));
        }
    }
    Ok(took)
}

fn measure(
    rt: &tokio::runtime::Runtime,
    port: u16,
    users: u64,
    messages: u64,
    greeted: bool,
    prefix: &'static str,
) -> Run {
    let each = messages / users;
    let start = Instant::now();
    let all = rt.block_on(async {
        let tasks: Vec<_> = (0..users)
            .map(|_| tokio::spawn(user(port, each, greeted, prefix)))
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(
                t.await
                    .expect("client task")
                    .unwrap_or_else(|e| panic!("a user failed: {e}")),
            );
        }
        all
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut ms: Vec<f64> = all.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q) as usize];
    Run {
        per_sec: ms.len() as f64 / elapsed,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn npm_ci(dir: &std::path::Path) {
    if dir.join("node_modules/vumigo_v02").exists() {
        return;
    }
    let ok = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .status()
        .expect("npm");
    assert!(ok.success(), "npm ci in {}", dir.display());
}

fn main() {
    let (messages, users, runs) = (
        env_num("BENCH_MESSAGES", 20_000),
        env_num("BENCH_USERS", 64),
        env_num("BENCH_RUNS", 3),
    );
    let (workers, slots) = (env_num("BENCH_WORKERS", 2), env_num("BENCH_SLOTS", 8));
    // Seconds; 0 turns the per-message CPU count off.
    let cpu_time = std::env::var("BENCH_CPU_TIME").unwrap_or_else(|_| "5".into());
    // MiB of V8's young generation per worker; unset, the sandbox's default.
    let young = std::env::var("BENCH_YOUNG_SPACE").map_or(String::new(), |mb| format!(", young_space_mb: {mb}"));
    let fixtures = built().root.join("tests/fixtures/sandbox");
    npm_ci(&fixtures);
    let tmp = TempDir::new("bench-sandbox");
    let plugins = plugin_dir(
        &tmp,
        &["ruvuma_telnet", "ruvuma_echo", "ruvuma_routers", "ruvuma_sandbox"],
    );
    let args = ["--plugin-dir", plugins.to_str().unwrap()];
    let (sandbox_port, echo_port) = (free_port(), free_port());
    let app = format!(
        "    plugin: sandbox\n    config: {{javascript_file: \"{}\", config: {{name: bench}}, log_level: warning, \
         workers: {workers}, slots: {slots}, cpu_time: {cpu_time}{young}}}",
        fixtures.join("bench.js").display()
    );
    let _sandbox = Host::start(&telnet_config(sandbox_port, &app), &args);
    let _echo = Host::start(&telnet_config(echo_port, "    plugin: echo"), &args);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    // Warm up: each worker's code is compiled and its contexts made.
    measure(&rt, sandbox_port, users, users * 20, true, "> ");
    measure(&rt, echo_port, users, users * 20, false, "");
    let (mut s, mut e) = (Vec::new(), Vec::new());
    println!(
        "{messages} round trips a run, {users} users, {workers} workers x {slots} slots, cpu_time {cpu_time}{young}"
    );
    for i in 0..runs {
        let a = measure(&rt, sandbox_port, users, messages, true, "> ");
        let b = measure(&rt, echo_port, users, messages, false, "");
        println!(
            "run {}: sandbox {:.0}/s p50 {:.2} ms p99 {:.2} ms | echo {:.0}/s p50 {:.2} ms p99 {:.2} ms",
            i + 1,
            a.per_sec,
            a.p50_ms,
            a.p99_ms,
            b.per_sec,
            b.p50_ms,
            b.p99_ms
        );
        s.push(a);
        e.push(b);
    }
    let med = |v: &[Run], f: fn(&Run) -> f64| median(v.iter().map(f).collect());
    println!(
        "median: sandbox {:.0}/s p50 {:.2} ms p99 {:.2} ms; echo {:.0}/s p50 {:.2} ms p99 {:.2} ms; sandbox/echo {:.2}",
        med(&s, |r| r.per_sec),
        med(&s, |r| r.p50_ms),
        med(&s, |r| r.p99_ms),
        med(&e, |r| r.per_sec),
        med(&e, |r| r.p50_ms),
        med(&e, |r| r.p99_ms),
        med(&s, |r| r.per_sec) / med(&e, |r| r.per_sec)
    );
}
