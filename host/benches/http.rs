//! HTTP inbound → dispatcher → echo → sync reply, through the real `ruvuma` binary, loaded with
//! wrk (Debian's `wrk` package) at concurrency 64 for 10 s, three times: requests/s and the p50
//! and p99 latencies wrk reports, with medians across the runs.
//!
//! `cargo bench -p ruvuma --bench http` (env: BENCH_CONNECTIONS, BENCH_SECONDS, BENCH_RUNS).

mod common;

use common::env_num;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn build() {
    common::build_release(&["ruvuma", "ruvuma-http", "ruvuma-echo", "ruvuma-routers"]);
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "ruvuma did not start listening on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// wrk's figure for a `--latency` percentile line (`50%  1.23ms`), in milliseconds.
fn percentile(out: &str, label: &str) -> f64 {
    let text = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(label))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    let (num, scale) = if let Some(v) = text.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = text.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (text, f64::NAN)
    };
    num.parse::<f64>().map(|n| n * scale).unwrap_or(f64::NAN)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        panic!("this benchmark drives wrk: install it with `apt-get install wrk`");
    }
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
    let script = dir.join("post.lua");
    let mut f = std::fs::File::create(&script).expect("script");
    writeln!(
        f,
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.body = '{{\"from_addr\": \"+27831234567\", \"to_addr\": \"*120#\", \"content\": \"ping\"}}'"
    )
    .expect("script");
    let mut host = Command::new(root.join("target/release/ruvuma"))
        .args(["run", "-c", config.to_str().expect("path")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ruvuma");
    wait_for_port(port);
    let connections = env_num("BENCH_CONNECTIONS", 64);
    let seconds = env_num("BENCH_SECONDS", 10);
    let runs = env_num("BENCH_RUNS", 3);
    println!("HTTP sync round trip (http → simple → echo → reply): wrk -t2 -c{connections} -d{seconds}s, {runs} runs");
    let (mut rates, mut p50s, mut p99s) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let out = Command::new("wrk")
            .args([
                "-t2",
                &format!("-c{connections}"),
                &format!("-d{seconds}s"),
                "--latency",
                "-s",
            ])
            .arg(&script)
            .arg(format!("http://127.0.0.1:{port}/"))
            .output()
            .expect("run wrk");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let rate: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("wrk printed no rate:\n{text}"));
        let errors = text
            .lines()
            .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
            .unwrap_or("none");
        let (p50, p99) = (percentile(&text, "50%"), percentile(&text, "99%"));
        println!(
            "run {}: {rate:.0} requests/s, p50 {p50:.2} ms, p99 {p99:.2} ms, errors: {}",
            run + 1,
            errors.trim()
        );
        rates.push(rate);
        p50s.push(p50);
        p99s.push(p99);
    }
    let _ = host.kill();
    let _ = host.wait();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "median: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms",
        median(rates),
        median(p50s),
        median(p99s)
    );
}
