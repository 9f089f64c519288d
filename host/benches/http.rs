//! HTTP inbound → dispatcher → echo → sync reply, through the real `ruvuma` binary, loaded with
//! wrk (Debian's `wrk` package) at concurrency 64 for 10 s, three times: requests/s and the p50
//! and p99 latencies wrk reports, with medians across the runs.
//!
//! `cargo bench -p ruvuma --bench http` (env: BENCH_CONNECTIONS, BENCH_SECONDS, BENCH_RUNS).

mod common;

use common::{env_num, median, wrk};
use std::path::Path;
use std::process::{Command, Stdio};

fn build() {
    common::build_release(&["ruvuma", "ruvuma-http", "ruvuma-echo", "ruvuma-routers"]);
}

fn main() {
    wrk::require();
    build();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let dir = std::env::temp_dir().join(format!("ruvuma-http-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("http.yaml");
    std::fs::write(
        &config,
        format!(
            "transports:\n  web:\n    plugin: http\n    concurrency: 1\n    config: {{bind: \"127.0.0.1:{port}\", mode: sync}}\n\
             applications:\n  echo: {{plugin: echo, endpoint: echo_app}}\n\
             dispatchers:\n  main:\n    router_class: simple\n    transport_names: [web]\n    exposed_names: [echo_app]\n    \
             route_mappings: {{web: echo_app}}\n"
        ),
    )
    .expect("config");
    let script = wrk::post_script(&dir);
    let mut host = Command::new(root.join("target/release/ruvuma"))
        .args(["run", "-c", config.to_str().expect("path")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ruvuma");
    wrk::wait_for_port(port);
    let connections = env_num("BENCH_CONNECTIONS", 64);
    let seconds = env_num("BENCH_SECONDS", 10);
    let runs = env_num("BENCH_RUNS", 3);
    println!("HTTP sync round trip (http → simple → echo → reply): wrk -t2 -c{connections} -d{seconds}s, {runs} runs");
    let (mut rates, mut p50s, mut p99s) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let w = wrk::finish(wrk::spawn(&script, port, 2, connections, seconds));
        println!(
            "run {}: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, errors: {}",
            run + 1,
            w.rate,
            w.p50_ms,
            w.p99_ms,
            w.errors
        );
        rates.push(w.rate);
        p50s.push(w.p50_ms);
        p99s.push(w.p99_ms);
    }
    let _ = host.kill();
    let _ = host.wait();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "median: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms",
        median(&rates),
        median(&p50s),
        median(&p99s)
    );
}
