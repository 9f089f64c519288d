//! Hot reload under load in a topology of 50 components: 17 `telnet` transports (t0..t16), 17
//! `echo` applications (a0..a16), 16 `simple` dispatchers (d_i routes t_i → a_i; d15 also t16 → a16).
//!
//! Four connections (two on t5, two on t6: a path no reload touches) send a line and read its
//! echo in a loop the whole run, counting replies in 100 ms bins. After 2 s of warm up and 2 s of
//! steady load, every 2 s the config is rewritten with a0 as `shout` (then `echo` again) and the
//! host gets SIGHUP. From just before the signal a probe on t0 sends a line about every ms until
//! a reply shows the new application ("SIGHUP → answering"); 20 more probes must all show it.
//!
//! Per reload: SIGHUP → answering, the `in <ms> ms` of its log line, the replies/s of the second
//! from the signal and of the lowest one-second sliding window overlapping the reload, over the
//! steady rate (the median of the sliding windows clear of every reload's first second) and, for
//! the lowest, over the clear windows within 2 s of the signal ("nearby": the machine drifts).
//! Every line must get its own reply: a lost or wrong one, or a failed connection, is a host bug
//! and makes the run exit with 1.
//!
//! `cargo bench -p ruvuma-tests --bench reload` (env: BENCH_RELOADS, default 10).

use ruvuma_tests::{built, free_port, plugin_dir, Host, Telnet, TempDir, ALL_PLUGINS};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const TRANSPORTS: usize = 17;
const DISPATCHERS: usize = 16;
/// The transport of each steady-load connection.
const LOAD: [usize; 4] = [5, 6, 5, 6];
const BIN: Duration = Duration::from_millis(100);
/// Bins in a one-second window.
const WINDOW: usize = 10;
const WARM_UP: Duration = Duration::from_secs(2);
/// Steady load before the first reload, and after the last one's spacing.
const QUIET: Duration = Duration::from_secs(2);
const SPACING: Duration = Duration::from_secs(2);
const PROBE_PACE: Duration = Duration::from_millis(1);
/// Probes after the first new reply, each of which must show the new application too.
const CONFIRM: usize = 20;

/// Distinct free ports, one per transport.
fn ports() -> Vec<u16> {
    let mut seen = HashSet::new();
    std::iter::repeat_with(free_port)
        .filter(|p| seen.insert(*p))
        .take(TRANSPORTS)
        .collect()
}

/// The 50-component config, with `a0_plugin` as a0's plugin.
fn config(ports: &[u16], a0_plugin: &str) -> String {
    let mut y = String::from("system_alias: bench\nbus: memory\nstate: memory\ntransports:\n");
    for (i, port) in ports.iter().enumerate() {
        y += &format!("  t{i}: {{plugin: telnet, config: {{bind: \"127.0.0.1:{port}\"}}}}\n");
    }
    y += "applications:\n";
    for i in 0..TRANSPORTS {
        let plugin = if i == 0 { a0_plugin } else { "echo" };
        y += &format!("  a{i}: {{plugin: {plugin}, endpoint: a{i}_ep}}\n");
    }
    y += "dispatchers:\n";
    for d in 0..DISPATCHERS {
        let last = if d + 1 == DISPATCHERS { TRANSPORTS } else { d + 1 };
        let list = |f: &dyn Fn(usize) -> String| (d..last).map(f).collect::<Vec<_>>().join(", ");
        y += &format!(
            "  d{d}:\n    router_class: simple\n    transport_names: [{}]\n    exposed_names: [{}]\n    \
             route_mappings: {{{}}}\n",
            list(&|i| format!("t{i}")),
            list(&|i| format!("a{i}_ep")),
            list(&|i| format!("t{i}: [a{i}_ep]"))
        );
    }
    y
}

/// Replies counted per 100 ms from `start`.
struct Bins {
    start: Instant,
    counts: Vec<AtomicU64>,
}

impl Bins {
    fn new(span: Duration) -> Self {
        let len = (span.as_millis() / BIN.as_millis()) as usize + 1;
        Self {
            start: Instant::now(),
            counts: (0..len).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn index(&self, at: Instant) -> usize {
        (at.saturating_duration_since(self.start).as_millis() / BIN.as_millis()) as usize
    }

    fn add(&self) {
        let i = self.index(Instant::now()).min(self.counts.len() - 1);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The whole bins before `end`.
    fn snapshot(&self, end: Instant) -> Vec<u64> {
        let n = self.index(end).min(self.counts.len());
        self.counts[..n].iter().map(|c| c.load(Ordering::Relaxed)).collect()
    }
}

/// One connection's lines: every line sent must get exactly its expected reply.
#[derive(Default)]
struct Tally {
    sent: u64,
    answered: u64,
    wrong: u64,
    /// The first failure: a read that failed, or a wrong reply.
    problem: Option<String>,
}

impl Tally {
    /// Sends `line` and reads one reply; `None` (and the error noted) if none came.
    fn exchange(&mut self, telnet: &mut Telnet, line: &str) -> Option<String> {
        telnet.send(line);
        self.sent += 1;
        let reply = telnet.read_line();
        match &reply {
            Ok(_) => self.answered += 1,
            Err(e) => drop(self.problem.get_or_insert(format!("after {line:?}: {e}"))),
        }
        reply.ok()
    }

    fn wrong(&mut self, line: &str, reply: &str, want: &str) {
        self.wrong += 1;
        self.problem
            .get_or_insert(format!("{line:?} was answered {reply:?}, not {want:?}"));
    }
}

/// One steady-load connection, sending until `stop`.
fn load(mut telnet: Telnet, id: usize, bins: Arc<Bins>, stop: Arc<AtomicBool>) -> JoinHandle<Tally> {
    std::thread::spawn(move || {
        let mut tally = Tally::default();
        for n in 0u64.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let line = format!("load{id}n{n}");
            let Some(reply) = tally.exchange(&mut telnet, &line) else {
                break;
            };
            if reply == line {
                bins.add();
            } else {
                tally.wrong(&line, &reply, &line);
            }
        }
        tally
    })
}

fn reply_of(line: &str, shout: bool) -> String {
    if shout {
        line.to_uppercase()
    } else {
        line.into()
    }
}

/// The probe's connection to t0, and its count.
struct Probe {
    telnet: Telnet,
    tally: Tally,
}

impl Probe {
    /// Probes until a reply shows the new application (`shout` or not), then confirms it: the
    /// time from `signal` to that reply and the probes it took; `None` if the connection failed.
    fn round(&mut self, n: usize, shout: bool, signal: Instant) -> Option<(Duration, usize)> {
        let mut probes = 0;
        let answering = loop {
            let sent = Instant::now();
            let line = format!("r{n}p{probes}");
            probes += 1;
            let reply = self.tally.exchange(&mut self.telnet, &line)?;
            if reply == reply_of(&line, shout) {
                break signal.elapsed();
            }
            if reply != reply_of(&line, !shout) {
                self.tally.wrong(&line, &reply, &reply_of(&line, shout));
            }
            std::thread::sleep(PROBE_PACE.saturating_sub(sent.elapsed()));
        };
        for c in 0..CONFIRM {
            let line = format!("r{n}c{c}");
            let reply = self.tally.exchange(&mut self.telnet, &line)?;
            if reply != reply_of(&line, shout) {
                self.tally.wrong(&line, &reply, &reply_of(&line, shout));
            }
        }
        Some((answering, probes))
    }
}

/// One reload's figures.
struct Round {
    plugin: &'static str,
    signal: Instant,
    answering_ms: f64,
    probes: usize,
    log_ms: f64,
    /// The reload's log line if it is not the expected one (applied, a0 changed, 49 unchanged).
    odd_line: Option<String>,
}

/// The `in <ms> ms` of a reload's log line.
fn log_ms(line: &str) -> Option<f64> {
    let head = &line[..line.find(" ms: ")?];
    head.rsplit(' ').next()?.parse().ok()
}

/// Rewrites a0 as `shout` (odd `n`) or `echo`, signals, and waits for the probe and the log.
fn reload(host: &mut Host, ports: &[u16], n: usize, probe: &mut Probe) -> Option<Round> {
    let shout = n % 2 == 1;
    let plugin = if shout { "shout" } else { "echo" };
    std::fs::write(host.config_path(), config(ports, plugin)).expect("rewrite the config");
    let signal = Instant::now();
    let answer = std::thread::scope(|scope| {
        let probing = scope.spawn(|| probe.round(n, shout, signal));
        host.signal("HUP");
        probing.join().ok().flatten()
    });
    let line = host.wait_for_reload(n);
    let (answering, probes) = answer?;
    let expected =
        line.contains(" applied in ") && line.contains("changed application \"a0\"") && line.contains("; 49 unchanged");
    Some(Round {
        plugin,
        signal,
        answering_ms: answering.as_secs_f64() * 1000.0,
        probes,
        log_ms: log_ms(&line).unwrap_or(f64::NAN),
        odd_line: (!expected).then_some(line),
    })
}

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0
}

fn lowest(values: impl IntoIterator<Item = f64>) -> f64 {
    values.into_iter().fold(f64::INFINITY, f64::min)
}

/// A reload's rates in replies/s: the second from the signal's bin; the lowest sliding window
/// overlapping the reload; the median of the clear windows starting within 2 s of the signal.
struct Dip {
    at_signal: f64,
    worst: f64,
    nearby: f64,
}

/// Replies/s of the one-second sliding windows starting at each bin from `first`.
fn windows(bins: &[u64], first: usize) -> Vec<(usize, f64)> {
    (first..=bins.len().saturating_sub(WINDOW))
        .map(|s| (s, bins[s..s + WINDOW].iter().sum::<u64>() as f64))
        .collect()
}

/// The steady rate (the median of the windows clear of every reload) and each reload's [`Dip`].
fn rates(bins: &Bins, counts: &[u64], rounds: &[Round]) -> (f64, Vec<Dip>) {
    let all = windows(counts, bins.index(bins.start + WARM_UP));
    // Each reload's bins: from its signal's to the one in which it answered and logged.
    let busy: Vec<(usize, usize)> = rounds
        .iter()
        .map(|r| {
            let took = Duration::from_secs_f64(r.answering_ms.max(r.log_ms) / 1000.0);
            (bins.index(r.signal), bins.index(r.signal + took))
        })
        .collect();
    let overlaps = |s: usize, (from, to): (usize, usize)| s <= to && s + WINDOW > from;
    // Clear windows overlap no reload, nor the second from any signal.
    let second = |&(from, to): &(usize, usize)| (from, to.max(from + WINDOW - 1));
    let clear: Vec<(usize, f64)> = all
        .iter()
        .filter(|(s, _)| !busy.iter().map(second).any(|span| overlaps(*s, span)))
        .copied()
        .collect();
    let rates = |set: &[(usize, f64)], keep: &dyn Fn(usize) -> bool| -> Vec<f64> {
        set.iter().filter(|(s, _)| keep(*s)).map(|w| w.1).collect()
    };
    let dips = busy
        .iter()
        .map(|&(from, to)| Dip {
            at_signal: all.iter().find(|w| w.0 == from).map_or(f64::NAN, |w| w.1),
            worst: lowest(rates(&all, &|s| overlaps(s, (from, to)))),
            nearby: median(&rates(&clear, &|s| s.abs_diff(from) <= 2 * WINDOW)),
        })
        .collect();
    (median(&rates(&clear, &|_| true)), dips)
}

/// The reloads, spaced [`SPACING`] apart after warm up and quiet; then quiet again.
fn run_reloads(host: &mut Host, ports: &[u16], reloads: usize, probe: &mut Probe, start: Instant) -> Vec<Round> {
    let mut next = start + WARM_UP + QUIET;
    let mut rounds = Vec::new();
    for n in 1..=reloads {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let Some(round) = reload(host, ports, n, probe) else {
            println!("reload {n}: the probe on t0 failed; no more reloads");
            break;
        };
        next = round.signal + SPACING;
        rounds.push(round);
    }
    std::thread::sleep((next + QUIET).saturating_duration_since(Instant::now()));
    rounds
}

fn join(name: String, thread: JoinHandle<Tally>) -> (String, Tally) {
    let tally = thread.join().unwrap_or_else(|_| Tally {
        problem: Some("the thread panicked".into()),
        ..Tally::default()
    });
    (name, tally)
}

/// Prints each connection's count; false if any line went unanswered or was answered wrong.
fn check(tallies: &[(String, Tally)]) -> bool {
    let mut ok = true;
    for (name, t) in tallies {
        let lost = t.sent - t.answered;
        let problem = t.problem.as_deref().map(|p| format!(" — {p}")).unwrap_or_default();
        println!(
            "{name}: sent {}, answered {}, lost = {lost}, wrong = {}{problem}",
            t.sent, t.answered, t.wrong
        );
        ok &= lost == 0 && t.wrong == 0 && t.problem.is_none();
    }
    ok
}

fn print_rounds(rounds: &[Round], steady: f64, dips: &[Dip]) {
    println!("\nreload  a0 now  SIGHUP→answering  probes  reload log  1 s from signal   worst 1 s overlapping nearby");
    for (i, (r, dip)) in rounds.iter().zip(dips).enumerate() {
        let (at, worst) = (dip.at_signal, dip.worst);
        let (at_pct, worst_pct, near_pct) = (100.0 * at / steady, 100.0 * worst / steady, 100.0 * worst / dip.nearby);
        println!(
            "{:>6}  {:<6}  {:>13.1} ms  {:>6}  {:>7.1} ms  {at:>7.0}/s ({at_pct:>3.0}%)  {worst:>9.0}/s ({worst_pct:>3.0}%)  \
             {near_pct:>5.0}%",
            i + 1,
            r.plugin,
            r.answering_ms,
            r.probes,
            r.log_ms,
        );
        if let Some(line) = &r.odd_line {
            println!("        unexpected reload log line: {line}");
        }
    }
}

fn summary(rounds: &[Round], steady: f64, dips: &[Dip]) {
    let answering: Vec<f64> = rounds.iter().map(|r| r.answering_ms).collect();
    let logged: Vec<f64> = rounds.iter().map(|r| r.log_ms).collect();
    let near: Vec<f64> = dips.iter().map(|d| 100.0 * d.worst / d.nearby).collect();
    println!(
        "worst 1 s window of each reload over the nearby clear ones: median {:.0}%, lowest {:.0}%",
        median(&near),
        lowest(near.iter().copied())
    );
    println!(
        "\nreload: SIGHUP→answering median {:.1} ms (max {:.1}), reload log median {:.1} ms, worst 1 s window \
         during a reload {:.0}% of steady (steady {steady:.0} replies/s)",
        median(&answering),
        answering.iter().copied().fold(0.0, f64::max),
        median(&logged),
        100.0 * lowest(dips.iter().map(|d| d.worst)) / steady,
    );
}

fn main() {
    let reloads: usize = std::env::var("BENCH_RELOADS")
        .map_or(10, |v| v.parse().expect("a number"))
        .max(1);
    built();
    let tmp = TempDir::new("bench-reload");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let ports = ports();
    let mut host = Host::start(
        &config(&ports, "echo"),
        &["--plugin-dir", plugins.to_str().expect("utf-8 path")],
    );
    let apart = SPACING.as_secs();
    println!(
        "Hot reload of a0 (echo ⇄ shout) among 50 components: {reloads} reloads, {apart} s apart; load on t5, t6."
    );
    let connections: Vec<Telnet> = LOAD.iter().map(|&t| Telnet::connect(ports[t])).collect();
    let mut probe = Probe {
        telnet: Telnet::connect(ports[0]),
        tally: Tally::default(),
    };
    let span = WARM_UP + QUIET * 2 + SPACING * (reloads as u32 + 1) + Duration::from_secs(120);
    let bins = Arc::new(Bins::new(span));
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(id, telnet)| load(telnet, id, bins.clone(), stop.clone()))
        .collect();
    let rounds = run_reloads(&mut host, &ports, reloads, &mut probe, bins.start);
    stop.store(true, Ordering::Relaxed);
    let end = Instant::now();
    let mut tallies: Vec<(String, Tally)> = loaders
        .into_iter()
        .enumerate()
        .map(|(id, t)| join(format!("load {id} (t{})", LOAD[id]), t))
        .collect();
    tallies.push(("probe (t0)".into(), probe.tally));
    let (steady, dips) = rates(&bins, &bins.snapshot(end), &rounds);
    print_rounds(&rounds, steady, &dips);
    println!();
    let ok = check(&tallies) && rounds.len() == reloads && rounds.iter().all(|r| r.odd_line.is_none());
    summary(&rounds, steady, &dips);
    if !ok {
        println!("FAILED: a line went unanswered or was answered wrong, a connection failed, or a reload went wrong");
        std::process::exit(1);
    }
}
