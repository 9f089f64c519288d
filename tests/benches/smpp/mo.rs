//! MO: the SMSC sends [`MO_MESSAGES`] deliver_sm (window [`MO_WINDOW`]) to an `smpp`
//! transceiver, and each message must reach the HTTP sink exactly once. Three ways there:
//!
//! - **relay**: `smpp` → the `http_relay` application (`concurrency: 64`) → the sink;
//! - **http transport**: `smpp` → a `transport_to_transport` dispatcher → the `http` transport's
//!   outbound (`mode: async`, `outbound_url:` the sink), the shape of `config/smpp.yaml`: no
//!   `concurrency:` on `web`, so the transport asks for what it takes itself;
//! - **Kannel**: its sms-service GETs the sink's URL with the message's id.

use super::kannel::{self, Kannel};
use super::sink::Sink;
use super::{
    log_problems, per_second, simulator, smpp_transport, start_host, wait_for_bind, Cpu, Row, RUN_LIMIT, RUVUMA,
};
use ruvuma_tests::free_port;
use ruvuma_tests::smsc::Smsc;
use std::time::Instant;

const MO_MESSAGES: u64 = 50_000;
const MO_WINDOW: u64 = 64;

/// One MO run: messages a second at the sink, and the gateway's CPU time per message.
#[derive(Clone, Copy)]
struct MoRun {
    rate: f64,
    cpu_us: f64,
}

/// The MO figures across the rounds.
pub struct Rows {
    relay: Row,
    web: Row,
    kannel: Row,
    relay_ratio: Row,
    web_ratio: Row,
    web_over_relay: Row,
    relay_cpu: Row,
    web_cpu: Row,
    kannel_cpu: Row,
}

impl Rows {
    pub fn new() -> Rows {
        Rows {
            relay: Row::new("MO SMPP → http_relay → HTTP, MO/s", Some(12_000.0)),
            web: Row::new("MO SMPP → http transport → HTTP, MO/s", None),
            kannel: Row::new("Kannel MO SMPP → HTTP, MO/s", None),
            relay_ratio: Row::ratio("MO http_relay, ruvuma ÷ Kannel", Some(2.0)),
            web_ratio: Row::ratio("MO http transport, ruvuma ÷ Kannel", Some(4.0)),
            web_over_relay: Row::ratio("MO http transport ÷ http_relay", None),
            relay_cpu: Row::new("MO http_relay, gateway CPU µs per MO", None),
            web_cpu: Row::new("MO http transport, gateway CPU µs per MO", None),
            kannel_cpu: Row::new("Kannel MO, gateway CPU µs per MO", None),
        }
    }

    /// One round: both ruvuma paths when `ours`, then Kannel when `theirs`, and the ratios of
    /// what ran.
    pub fn round(&mut self, ours: bool, theirs: bool) {
        let ours = ours.then(|| (through_relay(), through_http_transport()));
        if let Some((relay, web)) = ours {
            self.relay.push(relay.rate);
            self.web.push(web.rate);
            self.web_over_relay.push(web.rate / relay.rate);
            self.relay_cpu.push(relay.cpu_us);
            self.web_cpu.push(web.cpu_us);
        }
        if !theirs {
            return;
        }
        let kannel = through_kannel();
        self.kannel.push(kannel.rate);
        self.kannel_cpu.push(kannel.cpu_us);
        if let Some((relay, web)) = ours {
            self.relay_ratio.push(relay.rate / kannel.rate);
            self.web_ratio.push(web.rate / kannel.rate);
        }
    }

    pub fn all(&self) -> [&Row; 9] {
        [
            &self.relay,
            &self.web,
            &self.kannel,
            &self.relay_ratio,
            &self.web_ratio,
            &self.web_over_relay,
            &self.relay_cpu,
            &self.web_cpu,
            &self.kannel_cpu,
        ]
    }
}

/// SMPP → `http_relay` → HTTP.
fn through_relay() -> MoRun {
    let smsc = simulator();
    let sink = Sink::start(MO_MESSAGES);
    let yaml = format!(
        "transports:\n{}applications:\n  relay:\n    plugin: http_relay\n    endpoint: sms\n    \
         concurrency: {MO_WINDOW}\n    config: {{url: \"{}/mo\"}}\n",
        smpp_transport(&smsc, MO_WINDOW, ", bind_type: transceiver"),
        sink.url
    );
    let (host, _tmp) = start_host("smpp-mo", &yaml);
    wait_for_bind(&smsc);
    let rate = mo_through("MO relay", &smsc, sink, Cpu::now(RUVUMA), &|| host.log());
    println!("MO relay: {}", log_problems(&host));
    rate
}

/// The `transport_to_transport` topology of `config/smpp.yaml`: `sms` (smpp) and `web` (the
/// `http` transport, async, POSTing to `outbound_url`), each relayed to the other.
fn http_transport_config(smsc: &Smsc, web_port: u16, outbound_url: &str) -> String {
    format!(
        "transports:\n{}  web:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{web_port}\", mode: async, \
         outbound_url: \"{outbound_url}\"}}\ndispatchers:\n  sms_gateway:\n    router_class: transport_to_transport\n    \
         transport_names: [web, sms]\n    exposed_names: []\n    route_mappings: {{web: sms, sms: web}}\n",
        smpp_transport(smsc, MO_WINDOW, ", bind_type: transceiver")
    )
}

/// SMPP → `transport_to_transport` → the `http` transport's outbound → HTTP.
fn through_http_transport() -> MoRun {
    let smsc = simulator();
    let sink = Sink::start(MO_MESSAGES);
    let yaml = http_transport_config(&smsc, free_port(), &format!("{}/mo", sink.url));
    let (host, _tmp) = start_host("smpp-mo-http", &yaml);
    wait_for_bind(&smsc);
    let rate = mo_through("MO http transport", &smsc, sink, Cpu::now(RUVUMA), &|| host.log());
    println!("MO http transport: {}", log_problems(&host));
    rate
}

/// The same through Kannel: its sms-service GETs the sink's URL with the message's id.
fn through_kannel() -> MoRun {
    let smsc = simulator();
    let sink = Sink::start(MO_MESSAGES);
    let kannel = Kannel::start(smsc.port(), MO_WINDOW, &format!("{}/mo", sink.url));
    wait_for_bind(&smsc);
    let rate = mo_through("Kannel MO", &smsc, sink, Cpu::now(kannel::PROCESSES), &|| {
        kannel.problems()
    });
    println!("Kannel MO: {}", kannel.problems());
    rate
}

/// The simulator sends [`MO_MESSAGES`] deliver_sm with [`MO_WINDOW`] unanswered; MO/s is that
/// many over the time until `sink` has counted as many messages, and the gateway's CPU time
/// until then over as many. Each must come exactly once.
fn mo_through(label: &str, smsc: &Smsc, sink: Sink, cpu: Cpu, log: &dyn Fn() -> String) -> MoRun {
    let started = Instant::now();
    let ok = smsc
        .blast_deliver_sm(MO_MESSAGES, MO_WINDOW as usize, "27820000001", "1234", "hello")
        .unwrap_or_else(|e| panic!("{label}: deliver_sm: {e}\n{}", log()));
    let answered = started.elapsed();
    let reached = sink.wait_for_target(RUN_LIMIT);
    let busy = cpu.report();
    let cpu_us = cpu.gateway_seconds() * 1e6 / MO_MESSAGES as f64;
    sink.settle();
    let tally = sink.stop();
    let unique = tally.ids.len() as u64;
    println!(
        "{label}: {ok} of {MO_MESSAGES} deliver_sm answered OK after {:.2} s; the sink got {} requests, {unique} messages, \
         {} duplicates, {} missing, {} without a message id",
        answered.as_secs_f64(),
        tally.requests,
        tally.requests - unique,
        MO_MESSAGES.saturating_sub(unique),
        tally.without_id
    );
    let Some(reached) = reached else {
        panic!(
            "{label}: the sink got {} of {MO_MESSAGES} requests within {RUN_LIMIT:?}\n{}",
            tally.requests,
            log()
        );
    };
    assert_eq!(unique, MO_MESSAGES, "{label}: messages went missing");
    let elapsed = reached.duration_since(started);
    let rate = per_second(MO_MESSAGES, elapsed);
    println!(
        "{label}: {MO_MESSAGES} (window {MO_WINDOW}) at the sink in {:.2} s: {rate:.0} MO/s, {cpu_us:.1} µs \
         of gateway CPU per MO; {busy}",
        elapsed.as_secs_f64()
    );
    MoRun { rate, cpu_us }
}
