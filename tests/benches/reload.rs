//! Hot reload under load, in a topology of 50 components: 17 `telnet` transports (t0..t16), 17
//! `echo` applications (a0..a16) and 16 `simple` dispatchers (d_i routes t_i → a_i; d15 routes
//! both t15 → a15 and t16 → a16).
//!
//! Four connections (two on t5, two on t6, a path no reload touches) each send a line and read
//! its echo in a tight loop for the whole run, counting replies in 100 ms bins. After 2 s of warm
//! up and 2 s of steady load, the config is rewritten every 2 s with a0 as `shout` (then `echo`
//! again) and the host gets SIGHUP. From just before the signal a probe on t0 sends a line about
//! every millisecond until a reply shows the new application (capitals for `shout`, the line
//! itself for `echo`): that time is "SIGHUP → answering"; then 20 more probes must all show it.
//!
//! Per reload it prints SIGHUP → answering, the reload's own figure from its log line, the reply
//! rate of the second from the signal and the lowest one-second sliding window that overlaps the
//! reload, both over the steady rate (the median of the one-second sliding windows clear of every
//! reload). Every line sent must get its own reply: a lost or wrong one, or a connection that
//! fails, is a host bug and makes the run exit with 1.
//!
//! `cargo bench -p ruvuma-tests --bench reload` (env: BENCH_RELOADS, default 10).

use ruvuma_tests::{built, free_port, plugin_dir, Host, Telnet, TempDir, ALL_PLUGINS};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
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

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

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
        match telnet.read_line() {
            Ok(reply) => {
                self.answered += 1;
                Some(reply)
            }
            Err(e) => {
                self.problem.get_or_insert(format!("after {line:?}: {e}"));
                None
            }
        }
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

/// What the probe is asked before a signal: the reload's number and what a0 becomes.
struct Ask {
    round: usize,
    shout: bool,
    signal: Instant,
}

fn reply_of(line: &str, shout: bool) -> String {
    if shout {
        line.to_uppercase()
    } else {
        line.to_owned()
    }
}

/// Probes t0 until a reply shows the new application, then confirms it: the time from the
/// signal to that reply and the probes it took; `None` if the connection failed.
fn probe_round(telnet: &mut Telnet, ask: &Ask, tally: &mut Tally) -> Option<(Duration, usize)> {
    let mut probes = 0;
    let answering = loop {
        let sent = Instant::now();
        let line = format!("r{}p{probes}", ask.round);
        probes += 1;
        let reply = tally.exchange(telnet, &line)?;
        if reply == reply_of(&line, ask.shout) {
            break ask.signal.elapsed();
        }
        if reply != reply_of(&line, !ask.shout) {
            tally.wrong(&line, &reply, &reply_of(&line, ask.shout));
        }
        std::thread::sleep(PROBE_PACE.saturating_sub(sent.elapsed()));
    };
    for n in 0..CONFIRM {
        let line = format!("r{}c{n}", ask.round);
        let reply = tally.exchange(telnet, &line)?;
        let want = reply_of(&line, ask.shout);
        if reply != want {
            tally.wrong(&line, &reply, &want);
        }
    }
    Some((answering, probes))
}

/// The probe on t0: answers each [`Ask`] until the asks end or its connection fails.
fn probe(mut telnet: Telnet, asks: Receiver<Ask>, answers: Sender<(Duration, usize)>) -> JoinHandle<Tally> {
    std::thread::spawn(move || {
        let mut tally = Tally::default();
        for ask in asks {
            match probe_round(&mut telnet, &ask, &mut tally) {
                Some(answer) if answers.send(answer).is_ok() => {}
                _ => break,
            }
        }
        tally
    })
}

/// The main thread's side of the probe.
struct Probe {
    asks: Sender<Ask>,
    answers: Receiver<(Duration, usize)>,
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
fn reload(host: &mut Host, ports: &[u16], n: usize, probe: &Probe) -> Option<Round> {
    let shout = n % 2 == 1;
    let plugin = if shout { "shout" } else { "echo" };
    std::fs::write(host.config_path(), config(ports, plugin)).expect("rewrite the config");
    let signal = Instant::now();
    let ask = Ask {
        round: n,
        shout,
        signal,
    };
    probe.asks.send(ask).ok()?;
    host.signal("HUP");
    let answer = probe.answers.recv_timeout(Duration::from_secs(60));
    let line = host.wait_for_reload(n);
    let (answering, probes) = answer.ok()?;
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
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// The rates around the reloads, from the bins.
struct Rates {
    steady: f64,
    /// Per reload: replies/s of the second from the signal's bin, and of the lowest sliding
    /// window overlapping the reload.
    at_signal: Vec<f64>,
    worst: Vec<f64>,
}

/// Replies/s of the one-second sliding windows starting at each bin from `first`.
fn windows(bins: &[u64], first: usize) -> Vec<(usize, f64)> {
    (first..=bins.len().saturating_sub(WINDOW))
        .map(|s| (s, bins[s..s + WINDOW].iter().sum::<u64>() as f64))
        .collect()
}

fn rates(bins: &Bins, counts: &[u64], rounds: &[Round]) -> Rates {
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
    // Steady windows overlap no reload, nor the second from any signal.
    let second = |&(from, to): &(usize, usize)| (from, to.max(from + WINDOW - 1));
    let clear: Vec<f64> = all
        .iter()
        .filter(|(s, _)| !busy.iter().map(second).any(|span| overlaps(*s, span)))
        .map(|&(_, rate)| rate)
        .collect();
    let rate_at = |start: usize| all.iter().find(|(s, _)| *s == start).map_or(f64::NAN, |w| w.1);
    let lowest = |span: (usize, usize)| {
        all.iter()
            .filter(|(s, _)| overlaps(*s, span))
            .map(|w| w.1)
            .fold(f64::INFINITY, f64::min)
    };
    Rates {
        steady: median(&clear),
        at_signal: busy.iter().map(|&(from, _)| rate_at(from)).collect(),
        worst: busy.iter().map(|&span| lowest(span)).collect(),
    }
}

/// The reloads, spaced [`SPACING`] apart after warm up and quiet; then quiet again.
fn run_reloads(host: &mut Host, ports: &[u16], reloads: usize, probe: &Probe, start: Instant) -> Vec<Round> {
    let mut next = start + WARM_UP + QUIET;
    let mut rounds = Vec::new();
    for n in 1..=reloads {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        match reload(host, ports, n, probe) {
            Some(round) => {
                next = round.signal + SPACING;
                rounds.push(round);
            }
            None => {
                println!("reload {n}: the probe on t0 failed; no more reloads");
                break;
            }
        }
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

fn print_rounds(rounds: &[Round], rates: &Rates) {
    let pct = |rate: f64| 100.0 * rate / rates.steady;
    println!("\nreload  a0 now  SIGHUP→answering  probes  reload log  1 s from signal     worst 1 s overlapping");
    for (i, r) in rounds.iter().enumerate() {
        let (at, worst) = (rates.at_signal[i], rates.worst[i]);
        println!(
            "{:>6}  {:<6}  {:>13.1} ms  {:>6}  {:>7.1} ms  {:>7.0}/s ({:>3.0}%)  {:>7.0}/s ({:>3.0}%)",
            i + 1,
            r.plugin,
            r.answering_ms,
            r.probes,
            r.log_ms,
            at,
            pct(at),
            worst,
            pct(worst)
        );
        if let Some(line) = &r.odd_line {
            println!("        unexpected reload log line: {line}");
        }
    }
}

fn summary(rounds: &[Round], rates: &Rates) {
    let answering: Vec<f64> = rounds.iter().map(|r| r.answering_ms).collect();
    let logged: Vec<f64> = rounds.iter().map(|r| r.log_ms).collect();
    let max = answering.iter().copied().fold(f64::NAN, f64::max);
    let worst = rates.worst.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "\nreload: SIGHUP→answering median {:.1} ms (max {max:.1}), reload log median {:.1} ms, worst 1 s window \
         during a reload {:.0}% of steady (steady {:.0} replies/s)",
        median(&answering),
        median(&logged),
        100.0 * worst / rates.steady,
        rates.steady
    );
}

fn main() {
    let reloads = env_num("BENCH_RELOADS", 10).max(1) as usize;
    built();
    let tmp = TempDir::new("bench-reload");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let ports = ports();
    let mut host = Host::start(
        &config(&ports, "echo"),
        &["--plugin-dir", plugins.to_str().expect("utf-8 path")],
    );
    println!(
        "Hot reload of one application (a0: echo ⇄ shout) in a 50-component topology, {reloads} reloads {} s \
         apart; steady load: {} connections (t5, t6) sending a line and reading its reply in a loop; probe on t0.",
        SPACING.as_secs(),
        LOAD.len()
    );
    let connections: Vec<Telnet> = LOAD.iter().map(|&t| Telnet::connect(ports[t])).collect();
    let probe_connection = Telnet::connect(ports[0]);
    let span = WARM_UP + QUIET * 2 + SPACING * (reloads as u32 + 1) + Duration::from_secs(120);
    let bins = Arc::new(Bins::new(span));
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(id, telnet)| load(telnet, id, bins.clone(), stop.clone()))
        .collect();
    let ((asks, asked), (answered, answers)) = (channel(), channel());
    let prober = probe(probe_connection, asked, answered);
    let probing = Probe { asks, answers };
    let rounds = run_reloads(&mut host, &ports, reloads, &probing, bins.start);
    stop.store(true, Ordering::Relaxed);
    let end = Instant::now();
    drop(probing);
    let mut tallies: Vec<(String, Tally)> = loaders
        .into_iter()
        .enumerate()
        .map(|(id, t)| join(format!("load {id} (t{})", LOAD[id]), t))
        .collect();
    tallies.push(join("probe (t0)".into(), prober));
    let counts = bins.snapshot(end);
    let sigs: Vec<usize> = rounds.iter().map(|r| bins.index(r.signal)).collect();
    for (i, c) in counts.iter().enumerate() {
        eprintln!("DEBUG {i} {c} {}", if sigs.contains(&i) { "SIG" } else { "" });
    }
    let rates = rates(&bins, &counts, &rounds);
    print_rounds(&rounds, &rates);
    println!();
    let ok = check(&tallies) && rounds.len() == reloads && rounds.iter().all(|r| r.odd_line.is_none());
    summary(&rounds, &rates);
    if !ok {
        println!("FAILED: a line went unanswered or was answered wrong, a connection failed, or a reload went wrong");
        std::process::exit(1);
    }
}
