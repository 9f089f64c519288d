//! What the benchmarks share: building the plugins, running a topology from YAML through the
//! real host, and running each measurement in a child process of its own.

#![allow(dead_code)] // each bench uses its own part

pub mod wrk;

use ruvuma::app::{Host, Prepared};
use ruvuma::{compile::compile, config, plugins::Catalogue};
use ruvuma_plugin_api::abi::LogLevel;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn messages() -> u64 {
    env_num("BENCH_MESSAGES", 200_000)
}

pub fn window() -> u64 {
    env_num("BENCH_WINDOW", 1000)
}

pub fn runs() -> u64 {
    env_num("BENCH_RUNS", 9)
}

/// This process's peak resident memory, KiB.
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// cargo bench does not build cdylibs: build the plugins the in-process benches load.
pub fn build_plugins() {
    build_release(&["ruvuma-echo", "ruvuma-routers", "ruvuma-fixture-testkit"]);
}

/// `cargo build --release` of `packages` (the binary and the plugins a bench runs).
pub fn build_release(packages: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--quiet"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    let status = cmd
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .status()
        .expect("cargo build");
    assert!(status.success(), "building the plugins failed");
}

pub fn plugin_folder() -> PathBuf {
    let exe = std::env::current_exe().expect("bench path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/release")
        .to_path_buf()
}

/// The `loadgen` transport named `bench`, for `messages` round trips with `window` unanswered.
pub fn loadgen(messages: u64, window: u64) -> String {
    format!("transports:\n  bench:\n    plugin: loadgen\n    config: {{messages: {messages}, window: {window}}}\n")
}

/// Runs a topology whose `bench` transport is `loadgen`, through the real host; the time until
/// every reply came back.
pub fn run_topology(yaml: &str) -> Duration {
    run_loadgen(yaml, "bench")
}

/// [`run_topology`] with the `loadgen` transport named `transport`.
pub fn run_loadgen(yaml: &str, transport: &str) -> Duration {
    let key = format!("{transport}:result");
    let cfg = config::parse(Path::new("bench.yaml"), yaml).expect("bench config");
    let catalogue = Catalogue::load(vec![plugin_folder()]);
    let plan = match compile(cfg, &catalogue) {
        Ok(p) => p,
        Err(problems) => panic!("bench config: {problems:?}\n{yaml}"),
    };
    runtime().block_on(async {
        let host = Host::start(Prepared { plan, catalogue }, LogLevel::Warn)
            .await
            .expect("start");
        let result = loop {
            if let Some(v) = host.state().get(&key).await.expect("state") {
                break v;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        host.stop().await;
        Duration::from_micros(result.parse().expect("micros"))
    })
}

/// Prints what a child run measured, for [`run_child`].
pub fn report(mode: &str, elapsed: Duration) {
    let rate = messages() as f64 / elapsed.as_secs_f64();
    println!("RESULT {mode} {rate:.0} {}", peak_rss_kib());
}

/// Runs this bench again as a child in `mode`; its rate (round trips/s) and peak RSS (KiB).
pub fn run_child(mode: &str) -> (f64, f64) {
    let out = Command::new(std::env::current_exe().expect("self"))
        .env("RUVUMA_BENCH_CHILD", mode)
        .output()
        .expect("run child");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT"))
        .unwrap_or_else(|| panic!("{mode} run failed: {}{}", text, String::from_utf8_lossy(&out.stderr)));
    let parts: Vec<&str> = line.split_whitespace().collect();
    (parts[2].parse().expect("rate"), parts[3].parse().expect("rss"))
}

pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub fn rounded(v: &[f64]) -> Vec<f64> {
    v.iter().map(|r| (r * 100.0).round() / 100.0).collect()
}

/// Starts the release `ruvuma` binary on `yaml`, written to `<dir>/<name>.yaml`, logging errors
/// only.
pub fn spawn_host(dir: &Path, name: &str, yaml: &str) -> std::process::Child {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).expect("config");
    Command::new(root.join("target/release/ruvuma"))
        .args(["run", "-c", path.to_str().expect("path")])
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start ruvuma")
}
