//! The messaging API against Kannel, both in front of the same simulator, in one run:
//!
//! - **sendsms MT**: wrk GETs Kannel's sendsms URL (the same query for both) for
//!   [`WRK_SECONDS`](super::WRK_SECONDS) at [`WRK_CONNECTIONS`](super::WRK_CONNECTIONS); the rate
//!   is submit_sm counted at the SMSC (ruvuma: `messaging_api` → `simple` dispatcher → `smpp`,
//!   as `config/sendsms.yaml` wires it);
//! - **MT + DLR**: the same with `dlr-mask=1` and a `dlr-url` on the bench's HTTP sink; the
//!   simulator sends each receipt one second after its submit_sm_resp; the rate is callbacks at
//!   the sink over the time from the first to the last, and every receipt must arrive once:
//!   one callback per submit_sm, each SMSC id once.

use super::kannel::{self, Kannel};
use super::{log_problems, per_second, smpp_transport, start_host, wait_for_bind, wrk_to_smsc, Cpu, Sink, RUVUMA};
use ruvuma_tests::free_port;
use ruvuma_tests::smsc::{Smsc, SmscConfig};
use std::time::Duration;

const HTTP_WINDOW: u64 = 64;
const RECEIPT_DELAY: Duration = Duration::from_secs(1);
/// The query every request sends (Kannel's own example, with a sender).
const QUERY: &str = "username=bench&password=bench&from=1234&to=27820000001&text=hello";

/// What one MT + DLR run measured.
pub struct DlrRun {
    pub callbacks_per_second: f64,
    pub submits: u64,
    pub callbacks: u64,
    pub unique: u64,
}

impl DlrRun {
    /// Receipts lost (a submit without its callback) and duplicated (a callback twice).
    pub fn lost_and_duplicated(&self) -> (u64, u64) {
        (self.submits.saturating_sub(self.unique), self.callbacks - self.unique)
    }
}

fn simulator(receipts: bool) -> Smsc {
    Smsc::start(SmscConfig {
        record: false,
        receipts,
        receipt_delay: RECEIPT_DELAY,
        ..SmscConfig::default()
    })
}

fn gateway_config(smsc: &Smsc, port: u16) -> String {
    format!(
        "state: {{memory: {{max_keys: 20000000}}}}\ntransports:\n{}applications:\n  api:\n    plugin: messaging_api\n    endpoint: api\n    config:\n      \
         bind: \"127.0.0.1:{port}\"\n      dialects: {{junebug: false, jasmin: false}}\n      channels: {{sms: {{}}}}\n      \
         users: [{{username: bench, password: bench}}]\n\
         dispatchers:\n  gw:\n    router_class: simple\n    transport_names: [sms]\n    exposed_names: [api]\n    \
         route_mappings: {{sms: [api]}}\n",
        smpp_transport(smsc, HTTP_WINDOW, "")
    )
}

/// ruvuma's sendsms: MT/s end to end.
pub fn sendsms_mt() -> f64 {
    let smsc = simulator(false);
    let port = free_port();
    let (host, _tmp) = start_host("api-mt", &gateway_config(&smsc, port));
    wait_for_bind(&smsc);
    let url = format!("http://127.0.0.1:{port}/cgi-bin/sendsms?{QUERY}");
    let run = wrk_to_smsc("sendsms MT", &smsc, &url, None, Cpu::now(RUVUMA), &|| host.log());
    println!("sendsms MT: {}", log_problems(&host));
    run.end_to_end
}

/// The dlr-url, URL-encoded, with the SMSC's id of the message as `id`.
fn dlr_query(sink: &Sink) -> String {
    let url = format!("{}/dlr?id=%F&type=%d", sink.url);
    let encoded: String = url
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("&dlr-mask=1&dlr-url={encoded}")
}

/// Waits for the callbacks to stop coming, and tells what came.
fn count_callbacks(label: &str, sink: Sink, submits: u64) -> DlrRun {
    let deadline = std::time::Instant::now() + RECEIPT_DELAY + Duration::from_secs(120);
    while sink.tally.lock().expect("tally").requests < submits && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    sink.settle();
    let first = sink.tally.lock().expect("tally").first;
    let tally = sink.stop();
    let span = match (first, tally.last) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => Duration::from_millis(1),
    };
    let run = DlrRun {
        callbacks_per_second: per_second(tally.requests, span),
        submits,
        callbacks: tally.requests,
        unique: tally.ids.len() as u64,
    };
    let (lost, duplicated) = run.lost_and_duplicated();
    println!(
        "{label}: {} callbacks for {submits} submit_sm in {:.2} s from the first to the last: {:.0}/s; \
         lost {lost}, duplicated {duplicated}",
        run.callbacks,
        span.as_secs_f64(),
        run.callbacks_per_second
    );
    run
}

/// ruvuma's sendsms with a delivery report for every message.
pub fn mt_with_dlr() -> DlrRun {
    let smsc = simulator(true);
    let sink = Sink::start(u64::MAX);
    let port = free_port();
    let (host, _tmp) = start_host("api-dlr", &gateway_config(&smsc, port));
    wait_for_bind(&smsc);
    let url = format!("http://127.0.0.1:{port}/cgi-bin/sendsms?{QUERY}{}", dlr_query(&sink));
    let run = wrk_to_smsc("sendsms MT + DLR", &smsc, &url, None, Cpu::now(RUVUMA), &|| host.log());
    let counted = count_callbacks("sendsms MT + DLR", sink, run.submits);
    println!("sendsms MT + DLR: {}", log_problems(&host));
    counted
}

/// Kannel's sendsms with a delivery report for every message.
pub fn kannel_mt_with_dlr() -> DlrRun {
    let smsc = simulator(true);
    let sink = Sink::start(u64::MAX);
    let kannel = Kannel::start(smsc.port(), HTTP_WINDOW, "http://127.0.0.1:9/unused");
    wait_for_bind(&smsc);
    let url = format!("{}{}", kannel.sendsms_url(), dlr_query(&sink));
    let run = wrk_to_smsc(
        "Kannel MT + DLR",
        &smsc,
        &url,
        None,
        Cpu::now(kannel::PROCESSES),
        &|| kannel.problems(),
    );
    let counted = count_callbacks("Kannel MT + DLR", sink, run.submits);
    println!("Kannel MT + DLR: {}", kannel.problems());
    counted
}
