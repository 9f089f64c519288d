//! HTTP → SMPP with the message store: the same topology and the same wrk load as the HTTP →
//! SMPP part, run side by side in each round with the store off, on SQLite (a fresh file) and on
//! PostgreSQL (a fresh database, dropped after). Each run reports the host's peak RSS and CPU
//! time per message, and, once the host has stopped (SIGTERM, so that the writer flushes),
//! checks that every submit_sm the SMSC counted is a stored outbound message.

use super::{
    http_to_smpp_config, is_problem, log_problems, proc_stat, simulator, wait_for_bind, wrk_to_smsc, Cpu, HttpRun, Row,
    RUN_LIMIT, RUVUMA, TICKS_PER_SECOND, WRK_SCRIPT,
};
use ruvuma_tests::{free_port, plugin_dir, procfs, ruvuma, text, Host, TempDir, ALL_PLUGINS};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Where PostgreSQL is, and the database `psql` connects to while it creates and drops each run's.
const PG_HOST: &str = "127.0.0.1";
const PG_PORT: u16 = 5432;
const PG_USER: &str = "postgres";
const PG_ADMIN_DB: &str = "test";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Off,
    Sqlite,
    Postgres,
}

impl Keep {
    pub const ALL: [Keep; 3] = [Keep::Off, Keep::Sqlite, Keep::Postgres];

    pub fn name(self) -> &'static str {
        match self {
            Keep::Off => "store off",
            Keep::Sqlite => "store on SQLite",
            Keep::Postgres => "store on PostgreSQL",
        }
    }
}

/// Runs `sql` through `psql` on the admin database; its error text if it failed.
fn psql(sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args([
            "-h",
            PG_HOST,
            "-p",
            &PG_PORT.to_string(),
            "-U",
            PG_USER,
            "-d",
            PG_ADMIN_DB,
        ])
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(text(&out.stderr).trim().to_owned())
    }
}

/// Whether PostgreSQL answers `psql` (the PostgreSQL variant is skipped, and said so, if not).
pub fn postgres_available() -> Result<(), String> {
    psql("SELECT 1")
}

/// One run's figures.
pub struct StoreRun {
    pub http: HttpRun,
    /// VmHWM just before SIGTERM, bytes.
    pub peak_rss: u64,
    /// Host CPU time from wrk's start until the host had exited, over the submit_sm counted.
    pub cpu_us_per_mt: f64,
}

/// The figures of one variant across the rounds.
pub struct Rows {
    pub keep: Keep,
    pub wrk_rate: Row,
    pub end_to_end: Row,
    pub peak_rss: Row,
    pub cpu: Row,
    /// This variant's end-to-end MT/s over the same round's store-off figure (none for off).
    pub ratio: Option<Row>,
}

impl Rows {
    pub fn new(keep: Keep) -> Rows {
        let name = keep.name();
        Rows {
            keep,
            wrk_rate: Row::new(format!("HTTP → SMPP {name}, wrk requests/s"), None),
            end_to_end: Row::new(format!("HTTP → SMPP {name}, end to end MT/s"), None),
            peak_rss: Row::new(format!("HTTP → SMPP {name}, host peak RSS MB"), None),
            cpu: Row::new(format!("HTTP → SMPP {name}, host CPU µs per MT"), None),
            ratio: (keep != Keep::Off).then(|| Row::ratio(format!("HTTP → SMPP {name} ÷ store off, MT/s"), Some(0.8))),
        }
    }

    pub fn push(&mut self, run: &StoreRun, off: Option<f64>) {
        self.wrk_rate.push(run.http.wrk_rate);
        self.end_to_end.push(run.http.end_to_end);
        self.peak_rss.push(run.peak_rss as f64 / (1024.0 * 1024.0));
        self.cpu.push(run.cpu_us_per_mt);
        if let (Some(ratio), Some(off)) = (&mut self.ratio, off) {
            ratio.push(run.http.end_to_end / off);
        }
    }

    pub fn all(&self) -> Vec<&Row> {
        let mut rows = vec![&self.wrk_rate, &self.end_to_end];
        rows.extend(&self.ratio);
        rows.extend([&self.peak_rss, &self.cpu]);
        rows
    }
}

/// A fresh database for one PostgreSQL run; dropped with it.
struct Database {
    name: String,
}

impl Database {
    fn create() -> Database {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("ruvuma_bench_{}_{n}", std::process::id());
        psql(&format!("DROP DATABASE IF EXISTS {name}")).unwrap_or_else(|e| panic!("drop {name}: {e}"));
        psql(&format!("CREATE DATABASE {name}")).unwrap_or_else(|e| panic!("create {name}: {e}"));
        Database { name }
    }

    fn url(&self) -> String {
        format!("postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Err(e) = psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            println!("could not drop the database {}: {e}", self.name);
        }
    }
}

/// CPU ticks so far of each thread of process `pid`, by thread id: (name, ticks).
fn thread_ticks(pid: u32) -> BTreeMap<u32, (String, u64)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|tid| {
            let s = proc_stat(&format!("/proc/{pid}/task/{tid}/stat"))?;
            Some((tid, (s.name, s.ticks)))
        })
        .collect()
}

/// The cores each kind of thread kept busy between two [`thread_ticks`], busiest first, with
/// the busiest single thread of each kind (threads of one name pooled: tokio's workers).
fn thread_shares(
    before: &BTreeMap<u32, (String, u64)>,
    after: &BTreeMap<u32, (String, u64)>,
    wall: Duration,
) -> String {
    let ticks = wall.as_secs_f64() * TICKS_PER_SECOND;
    let mut by_name: BTreeMap<&str, (u64, u64, usize)> = BTreeMap::new();
    for (tid, (name, t)) in after {
        let spent = t.saturating_sub(before.get(tid).map_or(0, |b| b.1));
        let e = by_name.entry(name).or_default();
        e.0 += spent;
        e.1 = e.1.max(spent);
        e.2 += 1;
    }
    let mut shares: Vec<_> = by_name.into_iter().filter(|(_, (t, _, _))| *t > 0).collect();
    shares.sort_by_key(|(_, (t, _, _))| std::cmp::Reverse(*t));
    shares
        .iter()
        .map(|(name, (t, max, n))| match n {
            1 => format!("{name} {:.2}", *t as f64 / ticks),
            n => format!(
                "{name} ×{n} {:.2} (busiest {:.2})",
                *t as f64 / ticks,
                *max as f64 / ticks
            ),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the store's writer thread (`ruvuma-store`) has read and written through system calls so
/// far: (bytes read, bytes written, write calls), from `/proc/<pid>/task/<tid>/io`: on SQLite,
/// the database file and its WAL (socket traffic, PostgreSQL's, is not counted there).
fn writer_io(pid: u32) -> Option<(u64, u64, u64)> {
    let tid = thread_ticks(pid)
        .into_iter()
        .find(|(_, (name, _))| name == "ruvuma-store")?
        .0;
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/io")).ok()?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((field("rchar:")?, field("wchar:")?, field("syscw:")?))
}

/// With BENCH_PERF set to a folder, `perf record` samples the host while wrk runs (cpu-clock,
/// no call graphs), one file per variant: `perf report -i FILE --sort comm,dso,sym`. The run's
/// figures are then not comparable with a run without it.
fn perf_record(pid: u32, keep: Keep) -> Option<std::process::Child> {
    let dir = std::env::var_os("BENCH_PERF")?;
    let file = Path::new(&dir).join(format!(
        "smpp-store-{}-{pid}.data",
        match keep {
            Keep::Off => "off",
            Keep::Sqlite => "sqlite",
            Keep::Postgres => "postgres",
        }
    ));
    let child = Command::new("perf")
        .args([
            "record",
            "-q",
            "-e",
            "cpu-clock",
            "-F",
            "499",
            "-p",
            &pid.to_string(),
            "-o",
        ])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(c) => {
            println!("perf record of the host into {}", file.display());
            Some(c)
        }
        Err(e) => {
            println!("cannot run perf ({e}): no profile");
            None
        }
    }
}

/// What `ruvuma messages stats --format json` counted: (outbound, inbound, events).
fn stored(config: &Path) -> Result<(u64, u64, u64), String> {
    let out = ruvuma(&[
        "messages",
        "stats",
        "-c",
        config.to_str().expect("utf-8 path"),
        "--format",
        "json",
    ]);
    if !out.status.success() {
        return Err(format!(
            "messages stats failed ({}): {}",
            out.status,
            text(&out.stderr).trim()
        ));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("messages stats printed no JSON ({e})"))?;
    let direction = |d: &str| json["by_direction"][d].as_u64().unwrap_or(0);
    let events = json["events"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(serde_json::Value::as_u64).sum());
    Ok((direction("out"), direction("in"), events))
}

/// One HTTP → SMPP run with the store `keep`; a mismatch between the SMSC's count and the store's
/// is printed loudly and added to `problems`.
pub fn run(keep: Keep, problems: &mut Vec<String>) -> StoreRun {
    let label = format!("HTTP → SMPP, {}", keep.name());
    let smsc = simulator();
    let port = free_port();
    let dir = TempDir::new("smpp-store");
    let database = (keep == Keep::Postgres).then(Database::create);
    let section = match keep {
        Keep::Off => String::new(),
        Keep::Sqlite => format!(
            "store: {{sqlite: {{path: \"{}\"}}}}\n",
            dir.path().join("store.db").display()
        ),
        Keep::Postgres => format!(
            "store: {{postgres: {{url: \"{}\"}}, journal: \"{}\"}}\n",
            database.as_ref().expect("database").url(),
            dir.path().join("journal").display()
        ),
    };
    // `messages stats` reads the store section alone.
    let store_config = dir.write("store.yaml", &section);
    let yaml = format!("{}{section}", http_to_smpp_config(&smsc, port));
    let tmp = TempDir::new("smpp-store-http");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    // Without a backtrace: printing one (RUST_BACKTRACE=1 inherited) reads the binary's debug
    // information, tens of MB of peak RSS that would be charged to the store if a thread panics.
    let mut host = Host::start_with_env(
        &yaml,
        &["--plugin-dir", plugins.to_str().expect("utf-8 path")],
        &[("RUST_BACKTRACE", "0")],
    );
    wait_for_bind(&smsc);
    let pid = host.pid();
    let script = tmp.write("post.lua", WRK_SCRIPT);
    let url = format!("http://127.0.0.1:{port}/");
    let ticks_before = proc_stat(&format!("/proc/{pid}/stat")).map_or(0, |s| s.ticks);
    let threads_before = thread_ticks(pid);
    let io_before = (keep == Keep::Sqlite).then(|| writer_io(pid)).flatten();
    let started = Instant::now();
    let perf = perf_record(pid, keep);
    let http = wrk_to_smsc(&label, &smsc, &url, Some(&script), Cpu::now(RUVUMA), &|| host.log());
    if let Some(mut p) = perf {
        let _ = Command::new("kill").args(["-INT", &p.id().to_string()]).status();
        let _ = p.wait();
    }
    println!(
        "{label}: cores busy by host thread from wrk's start until the count stood still: {}",
        thread_shares(&threads_before, &thread_ticks(pid), started.elapsed())
    );
    if let (Some(a), Some(b)) = (io_before, writer_io(pid)) {
        let per = |x: u64, y: u64| y.saturating_sub(x) as f64 / http.submits.max(1) as f64;
        println!(
            "{label}: the store's writer thread, per MT: {:.1} KB written in {:.1} write calls, {:.1} KB read",
            per(a.1, b.1) / 1024.0,
            per(a.2, b.2),
            per(a.0, b.0) / 1024.0
        );
    }
    let settled = (keep != Keep::Off).then(|| stored(&store_config));
    let peak_rss = procfs::peak_rss(pid);
    println!("{label}: {}", log_problems(&host));
    let lines_before_stop = host.log().lines().count();

    // SIGTERM: the host finishes what is in flight and the writer writes what it holds. The
    // host's CPU time is read once it has exited and before it is reaped (a zombie keeps it).
    host.signal("TERM");
    let stopping = Instant::now();
    let mut ticks_after = ticks_before;
    while let Some(s) = proc_stat(&format!("/proc/{pid}/stat")) {
        ticks_after = s.ticks;
        if s.state == 'Z' {
            break;
        }
        assert!(
            stopping.elapsed() < RUN_LIMIT,
            "{label}: the host did not stop:\n{}",
            host.log()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let stop_time = stopping.elapsed();
    let status = host.wait(RUN_LIMIT);
    let cpu = ticks_after.saturating_sub(ticks_before) as f64 / TICKS_PER_SECOND;
    let cpu_us_per_mt = cpu * 1e6 / http.submits.max(1) as f64;
    println!(
        "{label}: host peak RSS {:.1} MB; stopped ({status}) {:.0} ms after SIGTERM; host CPU from wrk's start to \
         its exit {cpu:.2} s, {cpu_us_per_mt:.1} µs per MT",
        peak_rss as f64 / (1024.0 * 1024.0),
        stop_time.as_secs_f64() * 1000.0
    );
    let log = host.log();
    let at_stop: Vec<&str> = log.lines().skip(lines_before_stop).filter(|l| is_problem(l)).collect();
    if !at_stop.is_empty() {
        println!(
            "{label}: while stopping, the host logged:\n    {}",
            at_stop.join("\n    ")
        );
    }

    if keep != Keep::Off {
        if let Some(Ok((out, _, _))) = settled {
            println!(
                "{label}: {out} outbound messages stored when the load had settled (before SIGTERM), \
                 {} not yet",
                http.submits as i64 - out as i64
            );
        }
        match stored(&store_config) {
            Ok((out, inbound, events)) => {
                println!(
                    "{label}: the SMSC counted {} submit_sm; the store holds {out} outbound messages, {inbound} \
                     inbound, {events} events",
                    http.submits
                );
                if out != http.submits {
                    let problem = format!(
                        "{label}: MISMATCH: {} submit_sm at the SMSC but {out} outbound messages stored ({:+})",
                        http.submits,
                        out as i64 - http.submits as i64
                    );
                    println!("!!!!!!!! {problem}");
                    problems.push(problem);
                }
                // Each outbound message is a relayed inbound one: the two counts go together.
                if inbound != out {
                    let problem = format!(
                        "{label}: MISMATCH: {out} outbound messages stored but {inbound} inbound ones ({:+}), \
                         though each outbound message is a relayed inbound one",
                        inbound as i64 - out as i64
                    );
                    println!("!!!!!!!! {problem}");
                    problems.push(problem);
                }
            }
            Err(e) => {
                let problem = format!("{label}: could not count the stored messages: {e}");
                println!("!!!!!!!! {problem}");
                problems.push(problem);
            }
        }
    }
    drop(database);
    StoreRun {
        http,
        peak_rss,
        cpu_us_per_mt,
    }
}
