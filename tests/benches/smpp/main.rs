//! SMPP throughput, each figure measured several times (3 by default) with the median:
//!
//! 1. **simulator ceiling**: a raw SMPP client written here on rusmpp binds as a transmitter to
//!    the test SMSC (tests/support/smsc.rs) and sends 200,000 submit_sm with 64 outstanding;
//! 2. **MT on one bind**: the `mt_source` application → `smpp` transport → the SMSC, at window 10
//!    and 64, timed by `mt_source` itself (first publish to last ack);
//! 3. **HTTP → SMPP**: wrk posts JSON to the `http` transport (async mode) at concurrency 50 for
//!    10 s; the `transport_to_transport` router sends each message out through the `smpp`
//!    transport; the end-to-end rate counts submit_sm at the SMSC;
//! 4. **MO**: the SMSC sends 50,000 deliver_sm (window 64) → `smpp` transceiver → an HTTP sink
//!    run here, once through `http_relay` and once through a `transport_to_transport`
//!    dispatcher and the `http` transport's outbound (the shape of `config/smpp.yaml`; see
//!    `mo.rs`);
//! 5. **Kannel**, beside 3 and 4 in every run when it is installed (`apt-get install kannel`):
//!    the same HTTP → SMPP load through its sendsms interface and the same MO to the same sink,
//!    against the same simulator, and each run's ruvuma ÷ Kannel ratio (see `kannel.rs`);
//! 6. **messaging API** (`api`): MT through the Kannel dialect of `messaging_api`, and MT with a
//!    delivery-report callback for every message (receipts one second after each
//!    submit_sm_resp), each beside Kannel doing the same in the same run (see `api.rs`);
//! 7. **store**: 3 side by side with the message store off, on SQLite and on PostgreSQL, each
//!    store variant over the same round's store-off figure, and a check that every submit_sm is
//!    a stored outbound message (see `store.rs`);
//! 8. **ops**: 3 with the admin server, a `/metrics` scrape a second and a webhook observer of
//!    every event, beside the same run without them (see `ops.rs`).
//!
//! The simulator, the raw client and the HTTP sink run in this process and the gateway in its
//! own: they share the machine's cores, and each run prints how busy each side kept them.
//!
//! `cargo bench -p ruvuma-tests --bench smpp` (env: BENCH_RUNS; BENCH_ONLY, a comma-separated
//! subset of `ceiling,mt,http,mo,kannel,api,store,ops`). With `kannel` and one of `http` and
//! `mo`, Kannel runs beside that one only: `BENCH_ONLY=mo,kannel` is the MO comparison alone.

use bytes::{Buf, BytesMut};
use kannel::Kannel;
use rusmpp::encode::{Encode, Length};
use rusmpp::pdus::{BindTransmitter, SubmitSm};
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{InterfaceVersion, Npi, RegisteredDelivery, Ton};
use rusmpp::{Command, CommandStatus, Pdu};
use ruvuma_tests::smsc::{Smsc, SmscConfig};
use ruvuma_tests::{built, free_port, plugin_dir, Host, TempDir, ALL_PLUGINS};
use sink::Sink;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

const CEILING_MESSAGES: u64 = 200_000;
const CEILING_WINDOW: u64 = 64;
/// (window, messages) for the MT runs.
const MT_CASES: [(u64, u64); 2] = [(10, 30_000), (64, 100_000)];
const MT_SOURCE_WINDOW: u64 = 20_000;
const HTTP_WINDOW: u64 = 64;
const WRK_CONNECTIONS: u32 = 50;
const WRK_SECONDS: u32 = 10;
/// How long a run may take before it is taken for stuck.
const RUN_LIMIT: Duration = Duration::from_secs(300);
/// Quiet that ends a count: nothing new for this long.
const SETTLE: Duration = Duration::from_secs(1);

mod api;
mod kannel;
mod mo;
mod ops;
mod sink;
mod store;

const BIND_TRANSMITTER_RESP: u32 = 0x8000_0002;
const SUBMIT_SM_RESP: u32 = 0x8000_0004;

const WRK_SCRIPT: &str = r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"to_addr":"27820000001","from_addr":"1234","content":"hello"}'
"#;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn wanted(part: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|p| p.trim() == part))
}

fn main() {
    let runs = env_num("BENCH_RUNS", 3).max(1);
    let wrk = std::process::Command::new("wrk").arg("--version").output().is_ok();
    let with_kannel = wanted("kannel") && kannel::available();
    // Kannel beside the ruvuma part it is compared with, or beside both when neither is picked.
    let kannel_beside_http = with_kannel && (wanted("http") || !wanted("mo"));
    let kannel_mo = with_kannel && (wanted("mo") || !wanted("http"));
    built();
    println!("SMPP benchmarks, {runs} runs of each. The SMSC simulator, the raw client and the HTTP sink run in this");
    println!("process, the gateway (ruvuma, or Kannel) in its own: both share this machine's cores. \"cores\" is CPU");
    println!("time over wall time.");
    let with_postgres = wanted("store")
        && match store::postgres_available() {
            Ok(()) => true,
            Err(e) => {
                println!("PostgreSQL does not answer psql ({e}): the store-on-PostgreSQL runs are skipped.");
                false
            }
        };
    if !wrk && (wanted("http") || wanted("kannel") || wanted("store")) {
        println!("wrk is not installed (`apt-get install wrk`): the HTTP → SMPP parts are skipped.");
    }
    if wanted("kannel") && !with_kannel {
        println!("Kannel is not installed (`apt-get install kannel`): the Kannel parts are skipped.");
    }

    let mut ceiling = Row::new("simulator ceiling, submit_sm/s", None);
    let mut mt: Vec<Row> = MT_CASES
        .iter()
        .map(|(w, _)| {
            Row::new(
                format!("MT one bind, window {w}, submit_sm/s"),
                (*w == 64).then_some(50_000.0),
            )
        })
        .collect();
    let mut wrk_rate = Row::new("HTTP → SMPP, wrk requests/s", None);
    let mut end_to_end = Row::new("HTTP → SMPP end to end, MT/s", Some(32_000.0));
    let mut non_2xx = Row::new("HTTP → SMPP non-2xx answers", None);
    let mut mo_rows = mo::Rows::new();
    let mut kannel_http = Row::new("Kannel HTTP → SMPP end to end, MT/s", None);
    let mut http_ratio = Row::ratio("HTTP → SMPP, ruvuma ÷ Kannel", Some(2.0));
    let mut api_mt = Row::new("sendsms MT (messaging_api), MT/s", None);
    let mut api_kannel_mt = Row::new("Kannel sendsms MT, MT/s", None);
    let mut api_mt_ratio = Row::ratio("sendsms MT, ruvuma ÷ Kannel", Some(3.0));
    let mut api_dlr = Row::new("MT + DLR (messaging_api), callbacks/s", None);
    let mut api_kannel_dlr = Row::new("Kannel MT + DLR, callbacks/s", None);
    let mut api_dlr_ratio = Row::ratio("MT + DLR callbacks, ruvuma ÷ Kannel", Some(4.0));
    let mut api_lost = Row::new("MT + DLR receipts lost or duplicated (ruvuma)", None);
    let mut stores: Vec<store::Rows> = store::Keep::ALL
        .into_iter()
        .filter(|k| *k != store::Keep::Postgres || with_postgres)
        .map(store::Rows::new)
        .collect();
    let mut store_problems: Vec<String> = Vec::new();
    let mut ops_off = Row::new("HTTP → SMPP ops off, end to end MT/s", None);
    let mut ops_on = Row::new("HTTP → SMPP ops on (admin, scrapes, webhook), end to end MT/s", None);
    let mut ops_ratio = Row::ratio("HTTP → SMPP ops on ÷ ops off, MT/s", Some(0.9));
    let mut ops_scrape = Row::new("/metrics answer while wrk runs, µs (median of the run's scrapes)", None);

    for run in 1..=runs {
        println!("\n== run {run} of {runs}");
        if wanted("ceiling") {
            ceiling.push(simulator_ceiling());
        }
        if wanted("mt") {
            for ((window, count), row) in MT_CASES.iter().zip(&mut mt) {
                row.push(mt_one_bind(*window, *count));
            }
        }
        let mut ours = None;
        if wanted("http") && wrk {
            let r = http_to_smpp();
            wrk_rate.push(r.wrk_rate);
            end_to_end.push(r.end_to_end);
            non_2xx.push(r.non_2xx as f64);
            ours = Some(r.end_to_end);
        }
        if kannel_beside_http && wrk {
            let theirs = kannel_http_to_smpp().end_to_end;
            kannel_http.push(theirs);
            if let Some(ours) = ours {
                http_ratio.push(ours / theirs);
            }
        }
        mo_rows.round(wanted("mo"), kannel_mo);
        if wanted("api") && wrk {
            let ours = api::sendsms_mt();
            api_mt.push(ours);
            let dlr = api::mt_with_dlr();
            let (lost, duplicated) = dlr.lost_and_duplicated();
            api_lost.push((lost + duplicated) as f64);
            api_dlr.push(dlr.callbacks_per_second);
            if kannel::available() {
                let theirs = kannel_http_to_smpp().end_to_end;
                api_kannel_mt.push(theirs);
                api_mt_ratio.push(ours / theirs);
                let theirs = api::kannel_mt_with_dlr();
                api_kannel_dlr.push(theirs.callbacks_per_second);
                api_dlr_ratio.push(dlr.callbacks_per_second / theirs.callbacks_per_second);
            }
        }
        if wanted("ops") && wrk {
            let off = ops::run(false);
            let on = ops::run(true);
            ops_off.push(off.http.end_to_end);
            ops_on.push(on.http.end_to_end);
            ops_ratio.push(on.http.end_to_end / off.http.end_to_end);
            let mut s = on.scrapes.clone();
            s.sort_by(|a, b| a.total_cmp(b));
            ops_scrape.push(s.get(s.len() / 2).copied().unwrap_or(f64::NAN) * 1000.0);
            println!("ops: {} webhook events in the ops-on run", on.events);
        }
        if wanted("store") && wrk {
            let mut off = None;
            for rows in &mut stores {
                let r = store::run(rows.keep, &mut store_problems);
                if rows.keep == store::Keep::Off {
                    off = Some(r.http.end_to_end);
                }
                rows.push(&r, off);
            }
        }
    }

    let rows: Vec<&Row> = std::iter::once(&ceiling)
        .chain(&mt)
        .chain([&wrk_rate, &end_to_end, &non_2xx, &kannel_http, &http_ratio])
        .chain(mo_rows.all())
        .chain([
            &api_mt,
            &api_kannel_mt,
            &api_mt_ratio,
            &api_dlr,
            &api_kannel_dlr,
            &api_dlr_ratio,
            &api_lost,
            &ops_off,
            &ops_on,
            &ops_ratio,
            &ops_scrape,
        ])
        .chain(stores.iter().flat_map(store::Rows::all))
        .filter(|r| !r.runs.is_empty())
        .collect();
    println!(
        "\n| figure | {} | median | target |",
        (1..=runs).map(|r| format!("run {r}")).collect::<Vec<_>>().join(" | ")
    );
    println!("|---|{}---:|---:|", "---:|".repeat(runs as usize));
    for row in rows {
        println!("{}", row.table_line());
    }
    println!(
        "(targets from the issue, printed for reference only: one bind ≥ 50,000 submit_sm/s; HTTP → SMPP ≥ 2× Kannel's \
         ~16,000 MT/s; MO ≥ 2× Kannel's ~6,000 MO/s, through the http transport ≥ 4× Kannel's; sendsms MT ≥ 3× \
         Kannel; MT + DLR callbacks ≥ 4× Kannel's, none lost or duplicated; store on ≥ 0.8× store off; ops on ≥ 0.9× ops off; a ratio row is the median of the \
         runs' own ratios)"
    );
    if wanted("store") && wrk {
        match store_problems.len() {
            0 => println!(
                "store: in every store run, each submit_sm at the SMSC was a stored outbound message, with its inbound \
                 record"
            ),
            n => {
                println!("\n!!!!!!!! store: {n} counts that do not add up (the SMSC's and the store's):");
                for p in &store_problems {
                    println!("!!!!!!!!   {p}");
                }
            }
        }
    }
}

/// One figure across the runs.
struct Row {
    name: String,
    target: Option<f64>,
    runs: Vec<f64>,
    /// Printed with two decimals and a "×" (a ratio), else as a whole number.
    ratio: bool,
}

impl Row {
    fn new(name: impl Into<String>, target: Option<f64>) -> Self {
        Row {
            name: name.into(),
            target,
            runs: Vec::new(),
            ratio: false,
        }
    }

    fn ratio(name: impl Into<String>, target: Option<f64>) -> Self {
        Row {
            ratio: true,
            ..Row::new(name, target)
        }
    }

    fn push(&mut self, value: f64) {
        self.runs.push(value);
    }

    fn median(&self) -> f64 {
        let mut v = self.runs.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    }

    fn show(&self, v: f64) -> String {
        if self.ratio {
            format!("{v:.2}×")
        } else {
            thousands(v)
        }
    }

    fn table_line(&self) -> String {
        let runs: Vec<String> = self.runs.iter().map(|v| self.show(*v)).collect();
        let target = self.target.map_or(String::new(), |t| format!("≥ {}", self.show(t)));
        format!(
            "| {} | {} | **{}** | {target} |",
            self.name,
            runs.join(" | "),
            self.show(self.median())
        )
    }
}

/// 43518.4 → "43,518".
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// The simulator as every part uses it: no recording, no receipts.
fn simulator() -> Smsc {
    Smsc::start(SmscConfig {
        record: false,
        receipts: false,
        ..SmscConfig::default()
    })
}

/// Starts `ruvuma run` on `yaml` with every plugin; keep the folder as long as the host.
fn start_host(tag: &str, yaml: &str) -> (Host, TempDir) {
    let tmp = TempDir::new(tag);
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let host = Host::start(yaml, &["--plugin-dir", plugins.to_str().expect("utf-8 path")]);
    (host, tmp)
}

/// An `smpp` transport named `sms` bound to `smsc`, with `window` submits outstanding and as
/// many deliveries at once; `extra` is more config keys (`, key: value`).
fn smpp_transport(smsc: &Smsc, window: u64, extra: &str) -> String {
    format!(
        "  sms:\n    plugin: smpp\n    concurrency: {window}\n    config: {{host: 127.0.0.1, port: {}, system_id: test, \
         password: secret, window: {window}, registered_delivery: false{extra}}}\n",
        smsc.port()
    )
}

/// A warning, an error, or a thread's panic in the host's log.
fn is_problem(line: &str) -> bool {
    line.contains(" WARN ") || line.contains(" ERROR ") || line.contains("panicked at")
}

/// The host's warnings, errors and panics so far: how many, and the first few.
fn log_problems(host: &Host) -> String {
    let log = host.log();
    let problems: Vec<&str> = log.lines().filter(|l| is_problem(l)).collect();
    match problems.len() {
        0 => "host log: no warning or error".to_owned(),
        n => format!(
            "host log: {n} warnings/errors/panics, the first:\n    {}",
            problems[..n.min(3)].join("\n    ")
        ),
    }
}

fn wait_for_bind(smsc: &Smsc) {
    smsc.wait_for("the transport's bind", Duration::from_secs(30), |s| {
        s.bound_sessions() == 1
    });
}

// ---- 1. the simulator's ceiling ----

fn simulator_ceiling() -> f64 {
    let smsc = simulator();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let cpu = Cpu::now(RUVUMA);
    let elapsed = rt.block_on(submit_flood(smsc.port(), CEILING_MESSAGES, CEILING_WINDOW));
    let busy = cpu.report();
    assert_eq!(
        smsc.submit_count(),
        CEILING_MESSAGES,
        "the simulator counted other than what was sent"
    );
    let rate = per_second(CEILING_MESSAGES, elapsed);
    println!(
        "simulator ceiling: {CEILING_MESSAGES} submit_sm (window {CEILING_WINDOW}) in {:.2} s: {rate:.0}/s; {busy}",
        elapsed.as_secs_f64()
    );
    rate
}

/// Encodes a whole PDU, command_length included.
fn encode(seq: u32, pdu: impl Into<Pdu>) -> Vec<u8> {
    let command = Command::new(CommandStatus::EsmeRok, seq, pdu);
    let len = 4 + command.length();
    let mut out = vec![0u8; len];
    out[..4].copy_from_slice(&(len as u32).to_be_bytes());
    command.encode(&mut out[4..]);
    out
}

fn c_string(bytes: &'static [u8]) -> COctetString<1, 21> {
    COctetString::from_static_slice(bytes).expect("a C string")
}

fn bind_transmitter() -> BindTransmitter {
    BindTransmitter::builder()
        .system_id(COctetString::from_static_slice(b"test\0").expect("system_id"))
        .password(COctetString::from_static_slice(b"secret\0").expect("password"))
        .interface_version(InterfaceVersion::Smpp3_4)
        .build()
}

fn submit_sm() -> SubmitSm {
    SubmitSm::builder()
        .source_addr(c_string(b"1234\0"))
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(c_string(b"27820000001\0"))
        .registered_delivery(RegisteredDelivery::from(0))
        .short_message(OctetString::from_static_slice(b"hello").expect("short_message"))
        .build()
}

/// Takes one whole PDU off the front of `inbox`: its (command_id, command_status).
fn take_pdu(inbox: &mut BytesMut) -> Option<(u32, u32)> {
    if inbox.len() < 16 {
        return None;
    }
    let word = |at: usize| u32::from_be_bytes([inbox[at], inbox[at + 1], inbox[at + 2], inbox[at + 3]]);
    let len = word(0) as usize;
    assert!(len >= 16, "a PDU of {len} bytes from the simulator");
    if inbox.len() < len {
        return None;
    }
    let header = (word(4), word(8));
    inbox.advance(len);
    Some(header)
}

async fn next_pdu(rd: &mut OwnedReadHalf, inbox: &mut BytesMut) -> (u32, u32) {
    loop {
        if let Some(header) = take_pdu(inbox) {
            return header;
        }
        let n = rd.read_buf(inbox).await.expect("read from the simulator");
        assert!(n > 0, "the simulator closed the connection");
    }
}

/// Binds as a transmitter and sends `count` submit_sm with at most `window` unanswered; the
/// time from the first submit_sm to the last submit_sm_resp.
async fn submit_flood(port: u16, count: u64, window: u64) -> Duration {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the simulator");
    stream.set_nodelay(true).expect("nodelay");
    let (mut rd, mut wr) = stream.into_split();
    let mut inbox = BytesMut::with_capacity(64 * 1024);
    wr.write_all(&encode(1, bind_transmitter())).await.expect("send bind");
    assert_eq!(
        next_pdu(&mut rd, &mut inbox).await,
        (BIND_TRANSMITTER_RESP, 0),
        "bind refused"
    );

    let answered = Arc::new(AtomicU64::new(0));
    let room = Arc::new(Notify::new());
    let started = Instant::now();
    let writer = tokio::spawn(send_submits(wr, count, window, answered.clone(), room.clone()));
    let mut done = 0;
    while done < count {
        let n = rd.read_buf(&mut inbox).await.expect("read from the simulator");
        assert!(n > 0, "the simulator closed the connection after {done} responses");
        let mut got = 0;
        while let Some(header) = take_pdu(&mut inbox) {
            assert_eq!(header, (SUBMIT_SM_RESP, 0), "not an OK submit_sm_resp");
            got += 1;
        }
        done += got;
        answered.fetch_add(got, Ordering::Release);
        room.notify_one();
    }
    let elapsed = started.elapsed();
    drop(writer.await.expect("the writer"));
    elapsed
}

/// Writes submit_sm as fast as the window lets it, all that fits in one write. Gives the write
/// half back so that the connection stays open until the reader is done.
async fn send_submits(
    mut wr: OwnedWriteHalf,
    count: u64,
    window: u64,
    answered: Arc<AtomicU64>,
    room: Arc<Notify>,
) -> OwnedWriteHalf {
    let template = encode(0, submit_sm());
    let mut batch = Vec::with_capacity(template.len() * window as usize);
    let mut sent = 0u64;
    while sent < count {
        let free = (window - (sent - answered.load(Ordering::Acquire))).min(count - sent);
        if free == 0 {
            room.notified().await;
            continue;
        }
        for _ in 0..free {
            sent += 1;
            let at = batch.len();
            batch.extend_from_slice(&template);
            // Sequence number 1 was the bind.
            batch[at + 12..at + 16].copy_from_slice(&((sent + 1) as u32).to_be_bytes());
        }
        wr.write_all(&batch).await.expect("send submit_sm");
        batch.clear();
    }
    wr
}

// ---- 2. MT through ruvuma on one bind ----

fn mt_one_bind(window: u64, count: u64) -> f64 {
    let smsc = simulator();
    let yaml = format!(
        "transports:\n{}applications:\n  app: {{plugin: mt_source, endpoint: sms, config: {{count: {count}, \
         window: {MT_SOURCE_WINDOW}}}}}\n",
        smpp_transport(&smsc, window, "")
    );
    let (mut host, _tmp) = start_host("smpp-mt", &yaml);
    let cpu = Cpu::now(RUVUMA);
    host.wait_for_log("mt_source done:", RUN_LIMIT);
    let busy = cpu.report();
    let log = host.log();
    let line = log
        .lines()
        .find(|l| l.contains("mt_source done:"))
        .expect("the done line");
    let field = |key: &str| done_field(line, key).unwrap_or_else(|| panic!("no {key}= in the done line: {line}"));
    let (sent, acks, nacks, duplicates) = (field("sent"), field("acks"), field("nacks"), field("duplicates"));
    let elapsed = Duration::from_micros(field("elapsed_us"));
    println!(
        "MT one bind, window {window}: sent={sent} acks={acks} nacks={nacks} duplicates={duplicates}, \
         SMSC counted {}",
        smsc.submit_count()
    );
    assert!(
        acks == count && nacks == 0 && duplicates == 0,
        "MT window {window}: expected {count} acks and no nack or duplicate:\n{line}"
    );
    let rate = per_second(count, elapsed);
    println!(
        "MT one bind, window {window}: {count} in {:.2} s: {rate:.0} submit_sm/s; {busy}",
        elapsed.as_secs_f64()
    );
    println!("MT one bind, window {window}: {}", log_problems(&host));
    rate
}

/// The number after `key=` in a `mt_source done:` line.
fn done_field(line: &str, key: &str) -> Option<u64> {
    let value = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))?;
    let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

// ---- 3. HTTP → transport_to_transport → SMPP ----

struct HttpRun {
    wrk_rate: f64,
    end_to_end: f64,
    non_2xx: u64,
    /// submit_sm counted at the SMSC.
    submits: u64,
}

/// The HTTP → SMPP topology: the `http` transport `web` on `port` (async mode) → the
/// `transport_to_transport` router → the `smpp` transport `sms` bound to `smsc`.
fn http_to_smpp_config(smsc: &Smsc, port: u16) -> String {
    format!(
        "transports:\n  web:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{port}\", mode: async}}\n{}\
         dispatchers:\n  relay:\n    router_class: transport_to_transport\n    transport_names: [web, sms]\n    \
         exposed_names: []\n    route_mappings: {{web: sms}}\n",
        smpp_transport(smsc, HTTP_WINDOW, "")
    )
}

fn http_to_smpp() -> HttpRun {
    let smsc = simulator();
    let port = free_port();
    let yaml = http_to_smpp_config(&smsc, port);
    let (host, tmp) = start_host("smpp-http", &yaml);
    wait_for_bind(&smsc);
    let script = tmp.write("post.lua", WRK_SCRIPT);
    let url = format!("http://127.0.0.1:{port}/");
    let run = wrk_to_smsc("HTTP → SMPP", &smsc, &url, Some(&script), Cpu::now(RUVUMA), &|| {
        host.log()
    });
    println!("HTTP → SMPP: {}", log_problems(&host));
    run
}

/// The same through Kannel: wrk GETs its sendsms URL.
fn kannel_http_to_smpp() -> HttpRun {
    let smsc = simulator();
    let kannel = Kannel::start(smsc.port(), HTTP_WINDOW, "http://127.0.0.1:9/unused");
    wait_for_bind(&smsc);
    let answer = kannel.send_one();
    assert!(answer.contains("Accepted for delivery"), "Kannel's sendsms: {answer}");
    smsc.wait_for("Kannel's first submit_sm", Duration::from_secs(30), |s| {
        s.submit_count() == 1
    });
    let run = wrk_to_smsc(
        "Kannel HTTP → SMPP",
        &smsc,
        &kannel.sendsms_url(),
        None,
        Cpu::now(kannel::PROCESSES),
        &|| kannel.problems(),
    );
    println!("Kannel HTTP → SMPP: {}", kannel.problems());
    run
}

/// Runs wrk against `url` (POSTing with `script`, or plain GETs) at [`WRK_CONNECTIONS`] for
/// [`WRK_SECONDS`]; counts the submit_sm that reach `smsc` from then on, until the count has
/// stood still for [`SETTLE`] after wrk stopped.
fn wrk_to_smsc(
    label: &str,
    smsc: &Smsc,
    url: &str,
    script: Option<&std::path::Path>,
    cpu: Cpu,
    log: &dyn Fn() -> String,
) -> HttpRun {
    let before = smsc.submit_count();
    let started = Instant::now();
    let mut wrk = std::process::Command::new("wrk");
    wrk.args(["-t2", &format!("-c{WRK_CONNECTIONS}"), &format!("-d{WRK_SECONDS}s")]);
    if let Some(script) = script {
        wrk.arg("-s").arg(script);
    }
    let mut wrk = wrk
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wrk");
    // The time of the last submit_sm: polled until the count has stood still for SETTLE after
    // wrk stopped. The CPU shares are taken while wrk runs.
    let (mut submits, mut last_submit) = (0, started);
    let mut wrk_ended: Option<(Instant, u64, String)> = None;
    loop {
        let now = Instant::now();
        let n = smsc.submit_count() - before;
        if n != submits {
            (submits, last_submit) = (n, now);
        }
        match wrk_ended {
            None => {
                if wrk.try_wait().expect("wait for wrk").is_some() {
                    wrk_ended = Some((now, n, cpu.report()));
                }
            }
            Some((ended, _, _)) => {
                if now.duration_since(last_submit.max(ended)) >= SETTLE {
                    break;
                }
                assert!(
                    now.duration_since(ended) < RUN_LIMIT,
                    "{label}: submit_sm still trickling in:\n{}",
                    log()
                );
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let (wrk_end, at_wrk_end, busy) = wrk_ended.expect("wrk ended");
    let out = wrk.wait_with_output().expect("wrk output");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let wrk_rate: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk printed no rate:\n{text}{}", String::from_utf8_lossy(&out.stderr)));
    let requests: u64 = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let non_2xx: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let socket_errors = text
        .lines()
        .find(|l| l.contains("Socket errors"))
        .map_or("none", str::trim);
    let span = last_submit.duration_since(started);
    let end_to_end = per_second(submits, span);
    println!("{label}: wrk {requests} requests, {wrk_rate:.0}/s, non-2xx {non_2xx}, socket errors: {socket_errors}");
    println!(
        "{label}: {submits} submit_sm at the SMSC ({} more than 2xx answers counted by wrk), \
         {at_wrk_end} of them when wrk stopped, the last {:.0} ms after; {:.2} s from wrk's start: \
         {end_to_end:.0} MT/s end to end; {busy}",
        submits as i64 - requests.saturating_sub(non_2xx) as i64,
        last_submit.saturating_duration_since(wrk_end).as_secs_f64() * 1000.0,
        span.as_secs_f64()
    );
    HttpRun {
        wrk_rate,
        end_to_end,
        non_2xx,
        submits,
    }
}

// ---- where the CPU time goes ----

/// CPU time so far, in clock ticks (100 a second on Linux): this process (the simulator, the raw
/// client, the sink), the gateway's processes it started (`ruvuma`, or Kannel's), and the whole
/// machine.
struct Cpu {
    at: Instant,
    names: &'static [&'static str],
    bench: u64,
    host: u64,
    machine: u64,
}

const TICKS_PER_SECOND: f64 = 100.0;
const RUVUMA: &[&str] = &["ruvuma"];

impl Cpu {
    /// Now, counting the children of this process with one of these `names` as the gateway.
    fn now(names: &'static [&'static str]) -> Cpu {
        let me = std::process::id();
        let host = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| proc_stat(&format!("/proc/{pid}/stat")))
            .filter(|s| s.parent == me && names.contains(&s.name.as_str()))
            .map(|s| s.ticks)
            .sum();
        Cpu {
            at: Instant::now(),
            names,
            bench: proc_stat("/proc/self/stat").map_or(0, |s| s.ticks),
            host,
            machine: machine_busy_ticks(),
        }
    }

    /// CPU seconds the gateway's processes used since `self`.
    fn gateway_seconds(&self) -> f64 {
        Cpu::now(self.names).host.saturating_sub(self.host) as f64 / TICKS_PER_SECOND
    }

    /// Cores kept busy since `self`, by side.
    fn report(&self) -> String {
        let end = Cpu::now(self.names);
        let wall = end.at.duration_since(self.at).as_secs_f64() * TICKS_PER_SECOND;
        let cores = |a: u64, b: u64| b.saturating_sub(a) as f64 / wall;
        format!(
            "cores busy: {} {:.2}, this process {:.2}, whole machine {:.2} of {}",
            self.names.join(" + "),
            cores(self.host, end.host),
            cores(self.bench, end.bench),
            cores(self.machine, end.machine),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        )
    }
}

struct ProcStat {
    name: String,
    /// R, S, D, Z (exited, not yet reaped), ...
    state: char,
    parent: u32,
    ticks: u64,
}

/// The name, parent pid and user + system ticks in a /proc/<pid>/stat.
fn proc_stat(path: &str) -> Option<ProcStat> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let number = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(ProcStat {
        name: text[open + 1..close].to_owned(),
        state: fields.first()?.chars().next()?,
        parent: number(1)? as u32,
        ticks: number(11)? + number(12)?,
    })
}

/// Ticks the machine's CPUs spent other than idle or waiting for I/O, from /proc/stat.
fn machine_busy_ticks() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    values.iter().take(8).sum::<u64>().saturating_sub(idle)
}
