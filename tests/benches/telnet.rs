//! Telnet echo through the host beside bare tokio echo servers, in one invocation:
//!
//! - **host**: `ruvuma run` with `telnet` → `simple` dispatcher → `echo` (the quickstart's
//!   topology, without its store and admin server), in its own process;
//! - **bare**: a tokio line-echo server in this process (own runtime, own threads): per
//!   connection, read a line, write it back (one write per line);
//! - **batched**: the same, writing through a `BufWriter` flushed whenever no complete line is
//!   buffered: the best case, one write per batch of lines read together.
//!
//! The client (its own runtime) opens 32 connections and keeps 8 lines unanswered on each
//! (pipelined: it tops each connection up to 8 as replies come), BENCH_LINES lines in all. Every
//! reply must be the line sent, in order, per connection: a wrong or missing one is counted and
//! fails the bench. Runs alternate host, bare, batched, BENCH_RUNS times, after a short warm up of
//! each; the report has medians of lines/s and each run's host ÷ bare and host ÷ batched.
//!
//! `cargo bench -p ruvuma-tests --bench telnet` (env: BENCH_LINES, default 200,000; BENCH_RUNS,
//! default 5; BENCH_TELNET_CONCURRENCY, the transport's `concurrency:`, unset by default;
//! BENCH_TELNET_LIB, a `libruvuma_telnet.so` to run instead of this build's, e.g. an older one).

use ruvuma_tests::{built, free_port, plugin_dir, telnet_config, Host, TempDir};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tokio::time::timeout;

const CONNECTIONS: u64 = 32;
const IN_FLIGHT: u64 = 8;
/// How long a reply may take before its connection is given up as failed.
const REPLY_LIMIT: Duration = Duration::from_secs(10);

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Read a line, write it back: one write per line.
async fn bare_echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        match lines.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) if write.write_all(&line).await.is_err() => return,
            Ok(_) => {}
        }
    }
}

/// The same, writes coalesced: flushed when no complete line is left to read.
async fn batched_echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut out = BufWriter::with_capacity(64 * 1024, write);
    let mut line = Vec::new();
    loop {
        line.clear();
        match lines.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) if out.write_all(&line).await.is_err() => return,
            Ok(_) => {}
        }
        if !lines.buffer().contains(&b'\n') && out.flush().await.is_err() {
            return;
        }
    }
}

/// A bare echo server on `rt` (each connection served by `batched_echo` or `bare_echo`): its port.
fn serve(rt: &Runtime, batched: bool) -> u16 {
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
    let port = listener.local_addr().expect("address").port();
    rt.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            if batched {
                tokio::spawn(batched_echo(stream));
            } else {
                tokio::spawn(bare_echo(stream));
            }
        }
    });
    port
}

/// What one connection, or a whole run, saw.
#[derive(Default)]
struct Tally {
    answered: u64,
    /// Replies that were not the line expected next (another line, or out of order).
    wrong: u64,
    /// Lines never answered (the connection failed).
    missing: u64,
    /// The first thing that went wrong.
    problem: Option<String>,
}

impl Tally {
    fn note(&mut self, problem: String) {
        self.problem.get_or_insert(problem);
    }

    fn add(&mut self, other: Tally) {
        self.answered += other.answered;
        self.wrong += other.wrong;
        self.missing += other.missing;
        self.problem = self.problem.take().or(other.problem);
    }

    fn failures(&self) -> u64 {
        self.wrong + self.missing
    }

    fn describe(&self) -> String {
        let problem = self.problem.as_deref().map(|p| format!(" — {p}")).unwrap_or_default();
        format!("{} wrong, {} missing{problem}", self.wrong, self.missing)
    }
}

fn line_of(id: u64, n: u64, into: &mut String) {
    use std::fmt::Write;
    into.clear();
    let _ = write!(into, "connection {id} line {n} hello");
}

/// Reads one reply, then every other one already buffered, checking each against the line
/// expected next; `Err` with why the connection failed.
async fn read_replies(
    replies: &mut BufReader<OwnedReadHalf>,
    id: u64,
    quota: u64,
    tally: &mut Tally,
) -> Result<(), String> {
    let (mut line, mut want) = (String::new(), String::new());
    loop {
        line.clear();
        match timeout(REPLY_LIMIT, replies.read_line(&mut line)).await {
            Ok(Ok(0)) => return Err(format!("connection {id} closed after {} replies", tally.answered)),
            Ok(Err(e)) => return Err(format!("connection {id}: reading: {e}")),
            Err(_) => return Err(format!("connection {id}: no reply in {REPLY_LIMIT:?}")),
            Ok(Ok(_)) => {}
        }
        line_of(id, tally.answered, &mut want);
        if line.trim_end_matches(['\r', '\n']) != want {
            tally.wrong += 1;
            tally.note(format!("connection {id}: {want:?} was answered {line:?}"));
        }
        tally.answered += 1;
        if tally.answered == quota || !replies.buffer().contains(&b'\n') {
            return Ok(());
        }
    }
}

/// Sends `quota` lines on one connection, topping it up to [`IN_FLIGHT`] unanswered as replies
/// come, and checks each reply.
async fn converse(stream: TcpStream, id: u64, quota: u64) -> Tally {
    let (read, mut write) = stream.into_split();
    let mut replies = BufReader::with_capacity(64 * 1024, read);
    let (mut sent, mut tally) = (0, Tally::default());
    let (mut out, mut want) = (Vec::new(), String::new());
    while tally.answered < quota {
        out.clear();
        while sent < quota && sent - tally.answered < IN_FLIGHT {
            line_of(id, sent, &mut want);
            out.extend_from_slice(want.as_bytes());
            out.push(b'\n');
            sent += 1;
        }
        let done = match write.write_all(&out).await {
            Ok(()) => read_replies(&mut replies, id, quota, &mut tally).await,
            Err(e) => Err(format!("connection {id}: sending: {e}")),
        };
        if let Err(why) = done {
            tally.note(why);
            tally.missing = quota - tally.answered;
            break;
        }
    }
    tally
}

/// One run of `lines` against `port`: lines/s, and what the connections saw.
async fn drive(port: u16, lines: u64) -> (f64, Tally) {
    let mut streams = Vec::new();
    for _ in 0..CONNECTIONS {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        streams.push(stream);
    }
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for (id, stream) in (0..).zip(streams) {
        let quota = lines / CONNECTIONS + u64::from(id < lines % CONNECTIONS);
        tasks.spawn(converse(stream, id, quota));
    }
    let mut all = Tally::default();
    while let Some(tally) = tasks.join_next().await {
        all.add(tally.expect("connection task"));
    }
    (all.answered as f64 / start.elapsed().as_secs_f64(), all)
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0
}

/// One of the three servers, and its rate in each run.
struct Target {
    name: &'static str,
    port: u16,
    rates: Vec<f64>,
}

fn host_config(port: u16) -> String {
    let mut yaml = telnet_config(port, "    plugin: echo");
    if let Ok(n) = std::env::var("BENCH_TELNET_CONCURRENCY") {
        yaml = yaml.replace(
            "    plugin: telnet\n",
            &format!("    plugin: telnet\n    concurrency: {n}\n"),
        );
    }
    yaml
}

/// The host on the bench's config, with this build's plugins (or BENCH_TELNET_LIB's telnet).
fn start_host(tmp: &TempDir, port: u16) -> Host {
    let plugins = plugin_dir(tmp, &["ruvuma_telnet", "ruvuma_echo", "ruvuma_routers"]);
    if let Ok(lib) = std::env::var("BENCH_TELNET_LIB") {
        std::fs::copy(&lib, plugins.join("libruvuma_telnet.so")).unwrap_or_else(|e| panic!("copy {lib}: {e}"));
        println!("telnet plugin: {lib}");
    }
    Host::start(
        &host_config(port),
        &["--plugin-dir", plugins.to_str().expect("utf-8 path")],
    )
}

fn report(targets: &[Target], ratios: &[(f64, f64)]) {
    println!("\nmedians of {} runs, lines/s:", ratios.len());
    for t in targets {
        println!("  {:<8} {:>9.0}", t.name, median(&t.rates));
    }
    let (to_bare, to_batched): (Vec<f64>, Vec<f64>) = ratios.iter().copied().unzip();
    let each = |v: &[f64]| v.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", ");
    println!("host ÷ bare: median {:.2} (runs: {})", median(&to_bare), each(&to_bare));
    println!(
        "host ÷ batched: median {:.2} (runs: {})",
        median(&to_batched),
        each(&to_batched)
    );
}

fn main() {
    let lines = env_num("BENCH_LINES", 200_000).max(CONNECTIONS);
    let runs = env_num("BENCH_RUNS", 5).max(1);
    built();
    let tmp = TempDir::new("bench-telnet");
    let port = free_port();
    let host = start_host(&tmp, port);
    let servers = runtime("bare-echo");
    let client = runtime("client");
    let mut targets = [
        ("host", port),
        ("bare", serve(&servers, false)),
        ("batched", serve(&servers, true)),
    ]
    .map(|(name, port)| Target {
        name,
        port,
        rates: Vec::new(),
    });
    println!("Telnet echo: {CONNECTIONS} connections, {IN_FLIGHT} lines in flight on each, {lines} lines per run, {runs} runs");
    let mut failures = 0;
    for t in &targets {
        let (_, tally) = client.block_on(drive(t.port, lines / 10));
        failures += tally.failures();
        println!("warm up of {}: {}", t.name, tally.describe());
    }
    let mut ratios = Vec::new();
    for run in 1..=runs {
        for t in &mut targets {
            let (rate, tally) = client.block_on(drive(t.port, lines));
            failures += tally.failures();
            t.rates.push(rate);
            println!("run {run}: {:<8} {rate:>9.0} lines/s, {}", t.name, tally.describe());
        }
        let [host, bare, batched] = targets.each_ref().map(|t| t.rates.last().copied().unwrap_or(f64::NAN));
        println!(
            "run {run}: host ÷ bare {:.2}, host ÷ batched {:.2}",
            host / bare,
            host / batched
        );
        ratios.push((host / bare, host / batched));
    }
    report(&targets, &ratios);
    drop(host);
    if failures > 0 {
        println!("FAILED: {failures} replies wrong, out of order or missing");
        std::process::exit(1);
    }
}
