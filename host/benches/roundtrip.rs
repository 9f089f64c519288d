//! Round trips per second through the whole in-process path, side by side:
//!
//! * plugins: the `loadgen` transport plugin → dispatcher with the `simple` router plugin →
//!   the `echo` application plugin → router → transport, on the memory bus;
//! * closures: the same topology (same queues, same message type, same hops) built from plain
//!   Rust closures and channels, with no plugin boundary and no host machinery.
//!
//! Each run happens in a fresh child process so that its peak memory (VmHWM) is its own.
//! `cargo bench -p ruvuma --bench roundtrip` (env: BENCH_MESSAGES, BENCH_WINDOW, BENCH_RUNS; defaults 200000, 1000, 9).

use ruvuma::{compile::compile, config, engine::Engine, plugins::Catalogue};
use ruvuma_plugin_api::abi::LogLevel;
use ruvuma_plugin_api::{Message, Payload};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn plugin_folder() -> PathBuf {
    let exe = std::env::current_exe().expect("bench path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/release")
        .to_path_buf()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// One run through the real plugins; returns elapsed time.
fn run_plugins(messages: u64, window: u64) -> Duration {
    let yaml = format!(
        "transports:\n  bench:\n    plugin: loadgen\n    config: {{messages: {messages}, window: {window}}}\n\
         applications:\n  echo:\n    plugin: echo\n    endpoint: echo_app\n\
         dispatchers:\n  main:\n    router_class: simple\n    transport_names: [bench]\n    exposed_names: [echo_app]\n    route_mappings: {{bench: echo_app}}\n"
    );
    let cfg = config::parse(Path::new("bench.yaml"), &yaml).expect("bench config");
    let catalogue = Catalogue::load(vec![plugin_folder()]);
    let plan = match compile(cfg, &catalogue) {
        Ok(p) => p,
        Err(problems) => panic!("bench config: {problems:?}"),
    };
    runtime().block_on(async {
        let engine = Engine::build(&plan, &catalogue, LogLevel::Warn).expect("build");
        engine.start().await.expect("start");
        let result = loop {
            if let Some(v) = engine.state.get("bench:result") {
                break v;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        engine.shutdown(Duration::from_secs(5)).await;
        Duration::from_micros(result.parse().expect("micros"))
    })
}

/// The same hops with closures and channels only.
fn run_closures(messages: u64, window: u64) -> Duration {
    type Chan = (async_channel::Sender<Payload>, async_channel::Receiver<Payload>);
    let q = || -> Chan { async_channel::bounded(1024) };
    let (t_in, t_out, a_in, a_out) = (q(), q(), q(), q());
    // The "router" and "application" as plain closures.
    let route_inbound = |msg: Message| -> Vec<(String, Message)> { vec![("echo_app".to_owned(), msg)] };
    let route_outbound = |msg: Message| -> Vec<(String, Message)> { vec![(msg.transport_name.to_string(), msg)] };
    let echo = |msg: &Message| -> Option<Message> { msg.content().map(|c| msg.reply(Some(c), true)) };
    runtime().block_on(async move {
        let window = Arc::new(tokio::sync::Semaphore::new(window as usize));
        let start = Instant::now();
        // dispatcher: transport inbound → app inbound
        let (rx, tx) = (t_in.1.clone(), a_in.0.clone());
        tokio::spawn(async move {
            while let Ok(Payload::Message(m)) = rx.recv().await {
                for (_, m) in route_inbound(m) {
                    let _ = tx.send(m.into()).await;
                }
            }
        });
        // application
        let (rx, tx) = (a_in.1.clone(), a_out.0.clone());
        tokio::spawn(async move {
            while let Ok(Payload::Message(m)) = rx.recv().await {
                if let Some(r) = echo(&m) {
                    let _ = tx.send(r.into()).await;
                }
            }
        });
        // dispatcher: app outbound → transport outbound
        let (rx, tx) = (a_out.1.clone(), t_out.0.clone());
        tokio::spawn(async move {
            while let Ok(Payload::Message(m)) = rx.recv().await {
                for (_, m) in route_outbound(m) {
                    let _ = tx.send(m.into()).await;
                }
            }
        });
        // transport: generator and reply counter
        let (gen_tx, gen_window) = (t_in.0.clone(), window.clone());
        tokio::spawn(async move {
            for i in 0..messages {
                let Ok(p) = gen_window.acquire().await else { return };
                p.forget();
                let from = format!("user{}", i % 1000);
                let _ = gen_tx
                    .send(Message::new(&from, "loadgen", Some("ping"), "bench", "loadgen").into())
                    .await;
            }
        });
        let rx = t_out.1.clone();
        let mut n = 0;
        while n < messages {
            if rx.recv().await.is_err() {
                break;
            }
            window.add_permits(1);
            n += 1;
        }
        start.elapsed()
    })
}

fn child(mode: &str) {
    let messages = env_num("BENCH_MESSAGES", 200_000);
    let window = env_num("BENCH_WINDOW", 1000);
    let elapsed = match mode {
        "plugins" => run_plugins(messages, window),
        _ => run_closures(messages, window),
    };
    let rate = messages as f64 / elapsed.as_secs_f64();
    println!("RESULT {mode} {rate:.0} {}", peak_rss_kib());
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    if let Ok(mode) = std::env::var("RUVUMA_BENCH_CHILD") {
        return child(&mode);
    }
    // cargo bench does not build cdylibs: build the plugins this bench loads.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "ruvuma-echo",
            "-p",
            "ruvuma-routers",
            "-p",
            "ruvuma-fixture-testkit",
        ])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .status()
        .expect("cargo build");
    assert!(status.success(), "building the plugins failed");
    let runs = env_num("BENCH_RUNS", 9);
    let messages = env_num("BENCH_MESSAGES", 200_000);
    println!(
        "round trips: {messages} messages per run, window {}, {runs} runs per path, alternating",
        env_num("BENCH_WINDOW", 1000)
    );
    let mut rates: [(Vec<f64>, Vec<f64>); 2] = Default::default();
    let modes = ["plugins", "closures"];
    for _ in 0..runs {
        for (i, mode) in modes.iter().enumerate() {
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
            rates[i].0.push(parts[2].parse().expect("rate"));
            rates[i].1.push(parts[3].parse().expect("rss"));
        }
    }
    // Runs alternate, so each plugin run has a closure run beside it under the same conditions.
    let mut pair_ratios: Vec<f64> = rates[0].0.iter().zip(&rates[1].0).map(|(p, c)| p / c).collect();
    println!("{:<9} {:>14} {:>16}", "path", "round trips/s", "peak RSS (MiB)");
    for (i, mode) in modes.iter().enumerate() {
        let rate = median(&mut rates[i].0);
        let rss = median(&mut rates[i].1) / 1024.0;
        println!(
            "{mode:<9} {rate:>14.0} {rss:>16.1}   (runs: {:?})",
            rates[i].0.iter().map(|r| *r as u64).collect::<Vec<_>>()
        );
    }
    println!(
        "ratio plugins/closures: median of per-pair ratios {:.2} (pairs: {:?})",
        median(&mut pair_ratios),
        pair_ratios
            .iter()
            .map(|r| (r * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
}
