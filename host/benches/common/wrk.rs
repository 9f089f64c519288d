//! Driving wrk (Debian's `wrk` package) against a listening port, and reading its report.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// What one wrk run reported.
pub struct Wrk {
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// wrk's line on non-2xx answers or socket errors, or "none".
    pub errors: String,
}

/// Panics with how to install wrk when it is missing.
pub fn require() {
    if Command::new("wrk").arg("--version").output().is_err() {
        panic!("this benchmark drives wrk: install it with `apt-get install wrk`");
    }
}

pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "ruvuma did not start listening on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A wrk script in `dir` that POSTs one Vumi-shaped JSON request.
pub fn post_script(dir: &Path) -> PathBuf {
    let script = dir.join("post.lua");
    let mut f = std::fs::File::create(&script).expect("script");
    writeln!(
        f,
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.body = '{{\"from_addr\": \"+27831234567\", \"to_addr\": \"*120#\", \"content\": \"ping\"}}'"
    )
    .expect("script");
    script
}

/// Starts wrk with `threads` and `connections` for `seconds` against `port`.
pub fn spawn(script: &Path, port: u16, threads: u64, connections: u64, seconds: u64) -> std::process::Child {
    Command::new("wrk")
        .args([
            &format!("-t{threads}"),
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}/"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run wrk")
}

/// Waits for a wrk run and reads its report.
pub fn finish(child: std::process::Child) -> Wrk {
    let out = child.wait_with_output().expect("wrk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rate: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk printed no rate:\n{text}"));
    let errors = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .unwrap_or("none")
        .trim()
        .to_owned();
    Wrk {
        rate,
        p50_ms: percentile(&text, "50%"),
        p99_ms: percentile(&text, "99%"),
        errors,
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
