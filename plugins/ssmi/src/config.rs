//! The transport's configuration: Vumi's `TruteqTransport` keys (`username`, `password`, `host`,
//! `port`, `link_check_period`, `ussd_session_lifetime`) and the bounds and timings of a client
//! that has to survive a hostile or absent server.

use crate::text::Encoding;
use ruvuma_plugin_api::serde::{self, Deserialize};
use ruvuma_plugin_api::ConfigProblem;
use std::fmt;
use std::time::Duration;

pub const CONFIG_DOC: &str = "\
host: the SSMI server's host name or address (required)
port: its port (50008, TruTeq's)
username: the TruTeq account (required); ${ENV} reads the environment
password: its password (required, never logged); ${ENV} reads the environment
link_check_period: seconds between link checks; two unanswered ones drop the link (60, 1..=3600)
ussd_session_lifetime: seconds a USSD session's code is remembered after its last message (300, 1..=86400)
max_sessions: USSD sessions remembered at once (100000, 1..=1000000); past it the one idle longest is forgotten
sms_to_addr: to_addr of an SMS MO, which SSMI does not carry (the username); a premium-rated MO has its own
validity: minutes the network keeps an SMS MT, 0 for its default (0, 0..=65535)
encoding: latin1 or utf-8, the text on the line (latin1, as Vumi's transport)
login_timeout: seconds to connect and have the login answered (10)
write_timeout: seconds a write may take before the link is dropped (10)
reconnect_delay, reconnect_max_delay: seconds between connection attempts, doubling (1, 60)
max_line: longest line read from the server in bytes (65536, 256..=1048576); a longer one is skipped
queue: outbound messages waiting to be written (1000, 1..=100000); past it they are nacked
Durations are seconds, at least 0.1 and at most 3600 (86400 for ussd_session_lifetime).";

fn default_port() -> u16 {
    50008
}
fn default_link_check_period() -> f64 {
    60.0
}
fn default_session_lifetime() -> f64 {
    300.0
}
fn default_max_sessions() -> usize {
    100_000
}
fn default_encoding() -> String {
    "latin1".into()
}
fn ten() -> f64 {
    10.0
}
fn one() -> f64 {
    1.0
}
fn sixty() -> f64 {
    60.0
}
fn default_max_line() -> usize {
    65_536
}
fn default_queue() -> usize {
    1000
}

/// The `config:` of an `ssmi` transport.
#[derive(Clone, Deserialize)]
#[serde(crate = "self::serde", deny_unknown_fields)]
pub struct Config {
    pub host: String,
    #[serde(
        default = "default_port",
        deserialize_with = "ruvuma_plugin_api::config_values::port_number"
    )]
    pub port: u16,
    pub username: String,
    pub password: String,
    #[serde(default = "default_link_check_period")]
    pub link_check_period: f64,
    #[serde(default = "default_session_lifetime")]
    pub ussd_session_lifetime: f64,
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    #[serde(default)]
    pub sms_to_addr: Option<String>,
    #[serde(default)]
    pub validity: u16,
    #[serde(default = "default_encoding")]
    pub encoding: String,
    #[serde(default = "ten")]
    pub login_timeout: f64,
    #[serde(default = "ten")]
    pub write_timeout: f64,
    #[serde(default = "one")]
    pub reconnect_delay: f64,
    #[serde(default = "sixty")]
    pub reconnect_max_delay: f64,
    #[serde(default = "default_max_line")]
    pub max_line: usize,
    #[serde(default = "default_queue")]
    pub queue: usize,
}

/// Never shows the password.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The config with its choices and times resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub raw: Config,
    pub encoding: Encoding,
    pub link_check_period: Duration,
    pub session_lifetime: Duration,
    pub login_timeout: Duration,
    pub write_timeout: Duration,
    pub reconnect_delay: Duration,
    pub reconnect_max_delay: Duration,
    pub sms_to_addr: String,
}

/// A problem when a field of the login line holds what would break it.
fn login_field(key: &str, value: &str) -> Option<ConfigProblem> {
    if value.is_empty() {
        Some(ConfigProblem::at(key, "must not be empty"))
    } else if value.contains([',', '\r', '\n']) {
        Some(ConfigProblem::at(
            key,
            "must not contain a comma or a line end (SSMI separates fields with commas)",
        ))
    } else {
        None
    }
}

use ruvuma_plugin_api::config_values::{all_or_nothing, duration, out_of, reconnect_delays, seconds};

impl Config {
    /// Every problem beyond the types, each naming its key (and never the password's value).
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        if self.host.trim().is_empty() {
            out.push(ConfigProblem::at("host", "must not be empty"));
        }
        if self.port == 0 {
            out.push(ConfigProblem::at("port", "must be 1 to 65535"));
        }
        if Encoding::from_config(&self.encoding).is_none() {
            out.push(ConfigProblem::at(
                "encoding",
                format!("{:?} is not latin1 or utf-8", self.encoding),
            ));
        }
        out.extend(
            [
                login_field("username", &self.username),
                login_field("password", &self.password),
                seconds("link_check_period", self.link_check_period, 3600.0),
                seconds("ussd_session_lifetime", self.ussd_session_lifetime, 86_400.0),
                seconds("login_timeout", self.login_timeout, 3600.0),
                seconds("write_timeout", self.write_timeout, 3600.0),
                seconds("reconnect_delay", self.reconnect_delay, 3600.0),
                seconds("reconnect_max_delay", self.reconnect_max_delay, 3600.0),
                out_of("max_sessions", self.max_sessions, 1, 1_000_000),
                out_of("max_line", self.max_line, 256, 1_048_576),
                out_of("queue", self.queue, 1, 100_000),
            ]
            .into_iter()
            .flatten(),
        );
        out.extend(reconnect_delays(self.reconnect_delay, self.reconnect_max_delay));
        out
    }

    /// The settings, or every problem in one message.
    pub fn settings(self) -> Result<Settings, String> {
        all_or_nothing(&self.problems())?;
        let secs = duration;
        Ok(Settings {
            encoding: Encoding::from_config(&self.encoding).unwrap_or(Encoding::Latin1),
            link_check_period: secs(self.link_check_period),
            session_lifetime: secs(self.ussd_session_lifetime),
            login_timeout: secs(self.login_timeout),
            write_timeout: secs(self.write_timeout),
            reconnect_delay: secs(self.reconnect_delay),
            reconnect_max_delay: secs(self.reconnect_max_delay),
            sms_to_addr: self.sms_to_addr.clone().unwrap_or_else(|| self.username.clone()),
            raw: self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_and_every_problem_named() {
        let c = parse(r#"{"host": "h", "port": "2775", "username": "u", "password": "p"}"#);
        assert!(c.problems().is_empty());
        let s = c.settings().unwrap();
        assert_eq!(
            (s.raw.port, s.link_check_period, s.sms_to_addr.as_str()),
            (2775, Duration::from_secs(60), "u")
        );
        let bad = parse(
            r#"{"host": "", "username": "a,b", "password": "", "max_line": 10, "link_check_period": 0,
                "encoding": "ebcdic", "reconnect_delay": 5, "reconnect_max_delay": 1}"#,
        );
        let keys: Vec<String> = bad.problems().iter().map(|p| p.key.to_string()).collect();
        assert_eq!(
            keys,
            [
                "host",
                "encoding",
                "username",
                "password",
                "link_check_period",
                "max_line",
                "reconnect_max_delay"
            ]
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let c = parse(r#"{"host": "h", "username": "u", "password": "hunter2"}"#);
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
