//! The transport's configuration.

use crate::text::{Coding, Split};
use ruvuma_plugin_api::serde::{self, Deserialize};
use ruvuma_plugin_api::ConfigProblem;
use std::time::Duration;

/// What a bind asks the SMSC for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(crate = "self::serde", rename_all = "lowercase")]
pub enum BindType {
    Transceiver,
    Transmitter,
    Receiver,
}

impl BindType {
    pub fn sends(self) -> bool {
        self != Self::Receiver
    }

    pub fn receives(self) -> bool {
        self != Self::Transmitter
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transceiver => "transceiver",
            Self::Transmitter => "transmitter",
            Self::Receiver => "receiver",
        }
    }
}

/// How receipt ids are matched to the ids in submit_sm_resp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(crate = "self::serde", rename_all = "lowercase")]
pub enum IdMatch {
    /// The same text, ignoring case and leading zeros; failing that, the id read as hex in
    /// decimal or as decimal in hex (SMSCs that answer in one and report in the other).
    Auto,
    /// The same text, ignoring case and leading zeros.
    Exact,
}

fn default_port() -> u16 {
    2775
}
fn default_bind_type() -> BindType {
    BindType::Transceiver
}
fn default_interface_version() -> u8 {
    0x34
}
fn default_true() -> bool {
    true
}
fn default_window() -> usize {
    10
}
fn default_submit_timeout() -> f64 {
    30.0
}
fn default_submit_attempts() -> u32 {
    3
}
fn default_throttle_delay() -> f64 {
    1.0
}
fn default_throttle_max_delay() -> f64 {
    30.0
}
fn default_enquire_link_interval() -> f64 {
    30.0
}
fn default_response_timeout() -> f64 {
    10.0
}
fn default_reconnect_delay() -> f64 {
    1.0
}
fn default_reconnect_max_delay() -> f64 {
    60.0
}
fn default_data_coding() -> String {
    "auto".into()
}
fn default_split() -> String {
    "udh".into()
}
fn default_multipart_timeout() -> f64 {
    60.0
}
fn default_dlr_ttl() -> f64 {
    7.0 * 24.0 * 3600.0
}
fn default_early_receipt_ttl() -> f64 {
    3600.0
}
fn default_id_match() -> IdMatch {
    IdMatch::Auto
}
fn default_mo_window() -> usize {
    100
}
fn default_multipart_max_pending() -> usize {
    10_000
}

/// The most submit_sm a window may hold: an SMSC allows far fewer, and each one awaiting its
/// response holds its message in memory.
pub const MAX_WINDOW: usize = 1000;
/// The most submits per second a pacer may allow.
pub const MAX_MT_TPS: u32 = 100_000;
/// The most deliver_sm a link leaves unanswered at once.
pub const MAX_MO_WINDOW: usize = 10_000;
/// The most multipart MO messages waiting for their other parts at once.
pub const MAX_MULTIPART_PENDING: usize = 1_000_000;
/// Durations that are a time to wait for an answer or between attempts: at most an hour.
pub const MAX_WAIT_SECS: f64 = 3600.0;
/// Durations that are how long something is remembered: at most 30 days.
pub const MAX_TTL_SECS: f64 = 30.0 * 24.0 * 3600.0;
/// The shortest wait between connection attempts: below it a refusing SMSC is hammered.
pub const MIN_RECONNECT_SECS: f64 = 0.1;

pub const CONFIG_DOC: &str = "\
host: the SMSC's host name or address (required)
port: the SMSC's port (2775)
bind_type: transceiver, transmitter or receiver (transceiver)
system_id: the account to bind as (required); ${ENV} reads the environment
password: its password (\"\"); ${ENV} reads the environment
system_type: sent in the bind (\"\")
interface_version: sent in the bind (0x34, SMPP 3.4)
addr_ton, addr_npi, address_range: sent in the bind (0, 0, \"\")
source_addr_ton, source_addr_npi, dest_addr_ton, dest_addr_npi: for submit_sm (0, 0, 1, 1)
default_source_addr: the sender when a message has no from_addr (none: such a message is nacked)
registered_delivery: ask for delivery receipts (true)
window: submit_sm awaiting a response at most, 1 to 1000 (10; each one holds its message in memory, and SMSCs allow far fewer)
mt_tps: submit_sm per second at most, over any one-second span, 1 to 100000 (no limit)
submit_timeout: seconds to wait for submit_sm_resp before sending again (30)
submit_attempts: sends of one submit_sm before it is nacked for want of a response, 1 to 100 (3)
throttle_delay, throttle_max_delay: seconds to pause after ESME_RTHROTTLED or ESME_RMSGQFUL, doubling (1, 30)
enquire_link_interval: seconds without an answer from the SMSC before an enquire_link (30)
response_timeout: seconds to wait for a bind, enquire_link or unbind response, and for a write to the SMSC to go through (10)
reconnect_delay, reconnect_max_delay: seconds between connection attempts, doubling; at least 0.1 (1, 60)
mo_window: deliver_sm left unanswered at most, 1 to 10000 (100); while that many wait for the bus, nothing more is read from the SMSC
data_coding: auto, gsm7, ascii, latin1 or ucs2 (auto: GSM 03.38, else Latin-1 if latin1_fallback, else UCS2)
latin1_fallback: let auto pick Latin-1 before UCS2 (true)
split: how long messages go: udh, sar or message_payload (udh)
multipart_timeout: seconds to wait for the rest of a multipart MO before passing on what came (60)
multipart_max_pending: multipart MO messages waiting for their parts at most, 1 to 1000000 (10000); past it the oldest is passed on as it is
dlr_ttl: seconds to remember a message for its delivery receipts (604800)
early_receipt_ttl: seconds to keep a receipt that came before its submit_sm_resp (3600)
Every duration is a positive number of seconds: at most 3600 for waits and delays, at most 2592000 (30 days) for dlr_ttl, early_receipt_ttl and multipart_timeout.
receipt_id_match: auto or exact (auto also matches a hex id reported in decimal and the reverse)
tls: connect over TLS (false)
tls_ca_file: PEM file of the certificates to trust (the Mozilla roots when left out)
tls_server_name: the name the SMSC's certificate must carry (host)";

/// The `config:` of an `smpp` transport.
#[derive(Debug, Clone, Deserialize)]
#[serde(crate = "self::serde", deny_unknown_fields)]
pub struct Config {
    pub host: String,
    #[serde(
        default = "default_port",
        deserialize_with = "ruvuma_plugin_api::config_values::port_number"
    )]
    pub port: u16,
    #[serde(default = "default_bind_type")]
    pub bind_type: BindType,
    pub system_id: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub system_type: String,
    #[serde(default = "default_interface_version")]
    pub interface_version: u8,
    #[serde(default)]
    pub addr_ton: u8,
    #[serde(default)]
    pub addr_npi: u8,
    #[serde(default)]
    pub address_range: String,
    #[serde(default)]
    pub source_addr_ton: u8,
    #[serde(default)]
    pub source_addr_npi: u8,
    #[serde(default = "one")]
    pub dest_addr_ton: u8,
    #[serde(default = "one")]
    pub dest_addr_npi: u8,
    #[serde(default)]
    pub default_source_addr: Option<String>,
    #[serde(default = "default_true")]
    pub registered_delivery: bool,
    #[serde(default = "default_window")]
    pub window: usize,
    #[serde(default)]
    pub mt_tps: Option<u32>,
    #[serde(default = "default_submit_timeout")]
    pub submit_timeout: f64,
    #[serde(default = "default_submit_attempts")]
    pub submit_attempts: u32,
    #[serde(default = "default_throttle_delay")]
    pub throttle_delay: f64,
    #[serde(default = "default_throttle_max_delay")]
    pub throttle_max_delay: f64,
    #[serde(default = "default_enquire_link_interval")]
    pub enquire_link_interval: f64,
    #[serde(default = "default_response_timeout")]
    pub response_timeout: f64,
    #[serde(default = "default_reconnect_delay")]
    pub reconnect_delay: f64,
    #[serde(default = "default_reconnect_max_delay")]
    pub reconnect_max_delay: f64,
    #[serde(default = "default_data_coding")]
    pub data_coding: String,
    #[serde(default = "default_true")]
    pub latin1_fallback: bool,
    #[serde(default = "default_split")]
    pub split: String,
    #[serde(default = "default_multipart_timeout")]
    pub multipart_timeout: f64,
    #[serde(default = "default_dlr_ttl")]
    pub dlr_ttl: f64,
    #[serde(default = "default_early_receipt_ttl")]
    pub early_receipt_ttl: f64,
    #[serde(default = "default_id_match")]
    pub receipt_id_match: IdMatch,
    #[serde(default = "default_mo_window")]
    pub mo_window: usize,
    #[serde(default = "default_multipart_max_pending")]
    pub multipart_max_pending: usize,
    #[serde(default)]
    pub tls: bool,
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    #[serde(default)]
    pub tls_server_name: Option<String>,
}

fn one() -> u8 {
    1
}

/// The config with its text choices and times resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub raw: Config,
    /// `None`: automatic.
    pub coding: Option<Coding>,
    pub split: Split,
    pub submit_timeout: Duration,
    pub throttle_delay: Duration,
    pub throttle_max_delay: Duration,
    pub enquire_link_interval: Duration,
    pub response_timeout: Duration,
    pub reconnect_delay: Duration,
    pub reconnect_max_delay: Duration,
    pub multipart_timeout: Duration,
    pub dlr_ttl: Duration,
    pub early_receipt_ttl: Duration,
}

/// Seconds as a duration; never panics (`problems` has already refused what is out of range).
fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.clamp(0.0, MAX_TTL_SECS)).unwrap_or(Duration::from_secs(1))
}

/// Seconds as written in a problem: `1e300`, not three hundred digits.
fn seconds_text(value: f64) -> String {
    if value == 0.0 || (1e-6..1e15).contains(&value.abs()) {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

use ruvuma_plugin_api::config_values::out_of;

impl Config {
    /// Every problem beyond the types, each naming its key.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        if self.host.trim().is_empty() {
            out.push(ConfigProblem::at("host", "must not be empty"));
        }
        if self.system_id.is_empty() || self.system_id.len() > 15 {
            out.push(ConfigProblem::at(
                "system_id",
                format!("must be 1 to 15 characters, found {}", self.system_id.len()),
            ));
        }
        if self.password.len() > 8 {
            out.push(ConfigProblem::at("password", "SMPP 3.4 allows at most 8 characters"));
        }
        if self.system_type.len() > 12 {
            out.push(ConfigProblem::at(
                "system_type",
                "SMPP 3.4 allows at most 12 characters",
            ));
        }
        if self.address_range.len() > 40 {
            out.push(ConfigProblem::at(
                "address_range",
                "SMPP 3.4 allows at most 40 characters",
            ));
        }
        if let Some(src) = &self.default_source_addr {
            if src.is_empty() || src.len() > 20 {
                out.push(ConfigProblem::at("default_source_addr", "must be 1 to 20 characters"));
            }
        }
        out.extend(self.count_problems());
        out.extend(self.duration_problems());
        if self.data_coding != "auto" {
            if let Err(e) = Coding::from_name(&self.data_coding) {
                out.push(ConfigProblem::at("data_coding", format!("{e} (or \"auto\")")));
            }
        }
        if !self.tls && (self.tls_ca_file.is_some() || self.tls_server_name.is_some()) {
            let key = if self.tls_ca_file.is_some() {
                "tls_ca_file"
            } else {
                "tls_server_name"
            };
            out.push(ConfigProblem::at(key, "needs \"tls: true\""));
        }
        if let Some(path) = &self.tls_ca_file {
            if !std::path::Path::new(path).is_file() {
                out.push(ConfigProblem::at(
                    "tls_ca_file",
                    format!("{path:?} is not a readable file"),
                ));
            }
        }
        if let Err(e) = Split::from_name(&self.split) {
            out.push(ConfigProblem::at("split", e.to_string()));
        }
        out
    }

    /// Counts out of their range.
    fn count_problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        out.extend(out_of("window", self.window, 1, MAX_WINDOW));
        if let Some(tps) = self.mt_tps {
            if let Some(p) = out_of("mt_tps", tps, 1, MAX_MT_TPS) {
                out.push(ConfigProblem::at(
                    "mt_tps",
                    format!("{} (leave it out for no limit)", p.message),
                ));
            }
        }
        out.extend(out_of("submit_attempts", self.submit_attempts, 1, 100));
        out.extend(out_of("mo_window", self.mo_window, 1, MAX_MO_WINDOW));
        out.extend(out_of(
            "multipart_max_pending",
            self.multipart_max_pending,
            1,
            MAX_MULTIPART_PENDING,
        ));
        out
    }

    /// Durations that are not a finite positive number of seconds within their maximum.
    fn duration_problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        for (key, value, max) in [
            ("submit_timeout", self.submit_timeout, MAX_WAIT_SECS),
            ("throttle_delay", self.throttle_delay, MAX_WAIT_SECS),
            ("throttle_max_delay", self.throttle_max_delay, MAX_WAIT_SECS),
            ("enquire_link_interval", self.enquire_link_interval, MAX_WAIT_SECS),
            ("response_timeout", self.response_timeout, MAX_WAIT_SECS),
            ("reconnect_delay", self.reconnect_delay, MAX_WAIT_SECS),
            ("reconnect_max_delay", self.reconnect_max_delay, MAX_WAIT_SECS),
            ("multipart_timeout", self.multipart_timeout, MAX_TTL_SECS),
            ("dlr_ttl", self.dlr_ttl, MAX_TTL_SECS),
            ("early_receipt_ttl", self.early_receipt_ttl, MAX_TTL_SECS),
        ] {
            if !(value.is_finite() && value > 0.0) {
                out.push(ConfigProblem::at(
                    key,
                    format!("must be a positive number of seconds, found {}", seconds_text(value)),
                ));
            } else if value > max {
                out.push(ConfigProblem::at(
                    key,
                    format!("must be at most {max} seconds, found {}", seconds_text(value)),
                ));
            }
        }
        for (key, value) in [
            ("reconnect_delay", self.reconnect_delay),
            ("reconnect_max_delay", self.reconnect_max_delay),
        ] {
            if value.is_finite() && value > 0.0 && value < MIN_RECONNECT_SECS {
                out.push(ConfigProblem::at(
                    key,
                    format!(
                        "must be at least {MIN_RECONNECT_SECS} seconds, found {}",
                        seconds_text(value)
                    ),
                ));
            }
        }
        out
    }

    pub fn settings(self) -> Result<Settings, String> {
        let problems = self.problems();
        if !problems.is_empty() {
            let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
            return Err(problems.join("; "));
        }
        let coding = match self.data_coding.as_str() {
            "auto" => None,
            name => Some(Coding::from_name(name)?),
        };
        let split = Split::from_name(&self.split)?;
        Ok(Settings {
            submit_timeout: secs(self.submit_timeout),
            throttle_delay: secs(self.throttle_delay),
            throttle_max_delay: secs(self.throttle_max_delay),
            enquire_link_interval: secs(self.enquire_link_interval),
            response_timeout: secs(self.response_timeout),
            reconnect_delay: secs(self.reconnect_delay),
            reconnect_max_delay: secs(self.reconnect_max_delay),
            multipart_timeout: secs(self.multipart_timeout),
            dlr_ttl: secs(self.dlr_ttl),
            early_receipt_ttl: secs(self.early_receipt_ttl),
            raw: self,
            coding,
            split,
        })
    }
}
