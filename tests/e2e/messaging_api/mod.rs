//! The `messaging_api` application against the real binary, the SMSC simulator and local
//! receivers: Kannel's sendsms, Jasmin's /send and Junebug's JSON API, each with its callbacks,
//! refusals and bounds. Requests are sent the way each project's documentation sends them.

mod bounds;
mod jasmin;
mod junebug;
mod kannel;

use ruvuma_tests::smsc::Smsc;
use ruvuma_tests::*;
use std::time::Duration;

pub(super) const WAIT: Duration = Duration::from_secs(20);

/// A gateway: an smpp transceiver to `smsc`, the messaging API on a free port with user
/// `app`/`s3cret-pw` (and `other`, who may use no channel here), `extra` keys in its config.
pub(super) struct Gateway {
    pub host: Host,
    pub port: u16,
    pub tmp: TempDir,
}

pub(super) fn gateway(smsc: &Smsc, extra: &str) -> Gateway {
    let channels = "      channels: {sms: {}, spare: {}}\n";
    let extra = if extra.contains("channels:") {
        extra.to_owned()
    } else {
        format!("{channels}{extra}")
    };
    let tmp = TempDir::new("api");
    let plugins = plugin_dir(&tmp, ALL_PLUGINS);
    let port = free_port();
    let db = tmp.path().join("store.db");
    let yaml = format!(
        "store: {{sqlite: {{path: {db:?}}}}}\n\
         transports:\n  sms:\n    plugin: smpp\n    config: {{host: 127.0.0.1, port: {smsc}, system_id: test, \
         password: secret, registered_delivery: false}}\n  spare:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{spare}\"}}\n\
         applications:\n  api:\n    plugin: messaging_api\n    endpoint: api\n    config:\n      bind: \"127.0.0.1:{port}\"\n\
         \x20     default_channel: sms\n      users:\n        - {{username: app, password: s3cret-pw}}\n\
         \x20       - {{username: other, password: other-pw, channels: [spare]}}\n\
         \x20       - {{username: slow, password: slow-pw, mt_tps: 2}}\n      max_rate_wait_ms: 0\n      max_body: 4096\n      default_sender: ruvuma\n\
         \x20     callbacks: {{retries: 3, backoff_ms: 20, timeout_ms: 2000}}\n{extra}\
         dispatchers:\n  gw:\n    router_class: simple\n    transport_names: [sms, spare]\n    exposed_names: [api]\n\
         \x20   route_mappings: {{sms: [api], spare: [api]}}\n",
        smsc = smsc.port(),
        spare = free_port(),
    );
    let config = tmp.write("gateway.yaml", &yaml);
    let host = Host::start(
        &std::fs::read_to_string(&config).expect("config"),
        &["--plugin-dir", plugins.to_str().expect("utf-8 path")],
    );
    Gateway { host, port, tmp }
}

/// GETs `url`: status, `name: value` header lines, body.
pub(super) fn get(url: &str) -> (u16, String, String) {
    let answer = match ureq::get(url).timeout(Duration::from_secs(15)).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let headers: Vec<String> = answer
        .headers_names()
        .iter()
        .map(|h| format!("{h}: {}", answer.header(h).unwrap_or("")))
        .collect();
    (
        answer.status(),
        headers.join("\n"),
        answer.into_string().unwrap_or_default(),
    )
}

/// Percent-encodes every byte but letters and digits.
pub(super) fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(super) fn ok_receiver() -> (String, Received) {
    receiver(|_, _, _| (200, vec![], "ACK/Jasmin".into()))
}

pub(super) fn paths(got: &Received) -> Vec<String> {
    got.lock()
        .expect("received")
        .iter()
        .map(|(p, _, _)| p.clone())
        .collect()
}
