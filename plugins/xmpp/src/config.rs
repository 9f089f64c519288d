//! The transport's configuration: Vumi's `XMPPTransport` keys (`host`, `port`, `username`,
//! `password`, `status`, `status_message`, `ping_interval`, `presence_interval`, `debug`) and
//! what a client facing a real server needs besides: STARTTLS with its own CA file, a
//! subscription policy, reconnect delays and the bounds on what the server may send.

use ruvuma_plugin_api::config_values::{all_or_nothing, duration, out_of, reconnect_delays, seconds};
use ruvuma_plugin_api::serde::{self, Deserialize};
use ruvuma_plugin_api::ConfigProblem;
use std::fmt;
use std::time::Duration;
use tokio_xmpp::jid::{BareJid, Jid};

pub const CONFIG_DOC: &str = "\
host: the XMPP server's host name or address (required)
port: its client port (5222)
username: the account's JID, user@domain (required); ${ENV} reads the environment
password: its password (required, never logged); ${ENV} reads the environment
resource: the resource bound for this connection (ruvuma)
starttls: required, optional or off (required): optional takes TLS when the server offers it
ca_file: PEM file of the CAs to trust for TLS (the Mozilla roots when absent or empty)
tls_server_name: the name the server's certificate must carry (the JID's domain)
status: the presence shown: chat, available, away, xa or dnd (chat)
status_message: the presence's text (\"\")
priority: the presence's priority, -128..=127 (0; negative gets no offline messages)
ping_interval: seconds between XEP-0199 pings to the server (60, 1..=3600)
ping_timeout: seconds a ping may go unanswered before the stream is dropped (10)
presence_interval: seconds between presence updates, 0 for only at login (60)
subscriptions: accept, refuse or allow_list: what a subscription request gets (accept, as Vumi)
allow_list: the bare JIDs whose requests are accepted under allow_list ([])
login_timeout: seconds to connect, start TLS, log in and bind (10)
write_timeout: seconds a write may take before the stream is dropped (10)
outbound_wait: seconds an outbound message waits for a stream that is down before its nack (10)
reconnect_delay, reconnect_max_delay: seconds between connection attempts, doubling (1, 60)
max_stanza_size: most bytes the server may send towards one stanza (262144, 4096..=16777216)
queue: outbound messages waiting to be written (1000, 1..=100000); past it they are nacked
debug: log every stanza in and out at debug level (false)
Durations are seconds, at least 0.1 and at most 3600.";

fn default_port() -> u16 {
    5222
}
fn default_resource() -> String {
    "ruvuma".into()
}
fn default_status() -> String {
    "chat".into()
}
fn sixty() -> f64 {
    60.0
}
fn ten() -> f64 {
    10.0
}
fn one() -> f64 {
    1.0
}
fn default_max_stanza() -> usize {
    262_144
}
fn default_queue() -> usize {
    1000
}

/// Whether the stream is encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(crate = "self::serde", rename_all = "snake_case")]
pub enum StartTls {
    Required,
    Optional,
    Off,
}

/// What a subscription request (`<presence type="subscribe"/>`) gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(crate = "self::serde", rename_all = "snake_case")]
pub enum Subscriptions {
    Accept,
    Refuse,
    AllowList,
}

/// The `config:` of an `xmpp` transport.
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
    #[serde(default = "default_resource")]
    pub resource: String,
    #[serde(default = "required")]
    pub starttls: StartTls,
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub tls_server_name: Option<String>,
    #[serde(default = "default_status")]
    pub status: String,
    #[serde(default)]
    pub status_message: String,
    #[serde(default)]
    pub priority: i8,
    #[serde(default = "sixty")]
    pub ping_interval: f64,
    #[serde(default = "ten")]
    pub ping_timeout: f64,
    #[serde(default = "sixty")]
    pub presence_interval: f64,
    #[serde(default = "accept")]
    pub subscriptions: Subscriptions,
    #[serde(default)]
    pub allow_list: Vec<String>,
    #[serde(default = "ten")]
    pub login_timeout: f64,
    #[serde(default = "ten")]
    pub write_timeout: f64,
    #[serde(default = "ten")]
    pub outbound_wait: f64,
    #[serde(default = "one")]
    pub reconnect_delay: f64,
    #[serde(default = "sixty")]
    pub reconnect_max_delay: f64,
    #[serde(default = "default_max_stanza")]
    pub max_stanza_size: usize,
    #[serde(default = "default_queue")]
    pub queue: usize,
    #[serde(default)]
    pub debug: bool,
}

fn required() -> StartTls {
    StartTls::Required
}
fn accept() -> Subscriptions {
    Subscriptions::Accept
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

/// The presence `show` values; `available` (and `online`) mean none.
const STATUSES: [&str; 6] = ["chat", "available", "online", "away", "xa", "dnd"];

/// The config with its names parsed and its times resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub raw: Config,
    pub jid: BareJid,
    pub allow_list: Vec<BareJid>,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// `None`: presence only at login.
    pub presence_interval: Option<Duration>,
    pub login_timeout: Duration,
    pub write_timeout: Duration,
    pub outbound_wait: Duration,
    pub reconnect_delay: Duration,
    pub reconnect_max_delay: Duration,
}

/// The account's JID, or why `username` is not one.
fn account(username: &str) -> Result<BareJid, String> {
    match Jid::new(username.trim()) {
        Ok(jid) if jid.node().is_some() => Ok(jid.to_bare()),
        Ok(_) => Err(format!("{username:?} has no user part: it must be user@domain")),
        Err(e) => Err(format!("{username:?} is not a JID: {e}")),
    }
}

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
        if let Err(e) = account(&self.username) {
            out.push(ConfigProblem::at("username", e));
        }
        if self.password.is_empty() {
            out.push(ConfigProblem::at("password", "must not be empty"));
        }
        if self.resource.trim().is_empty() || self.resource.len() > 256 {
            out.push(ConfigProblem::at("resource", "must be 1 to 256 bytes"));
        }
        if !STATUSES.contains(&self.status.as_str()) {
            let known = STATUSES.join(", ");
            out.push(ConfigProblem::at(
                "status",
                format!("{:?} is not one of {known}", self.status),
            ));
        }
        for (i, jid) in self.allow_list.iter().enumerate() {
            if let Err(e) = Jid::new(jid.trim()) {
                out.push(ConfigProblem::at(
                    "allow_list",
                    format!("entry {i}: {jid:?} is not a JID: {e}"),
                ));
            }
        }
        let presence =
            (self.presence_interval != 0.0).then(|| seconds("presence_interval", self.presence_interval, 3600.0));
        out.extend(
            [
                seconds("ping_interval", self.ping_interval, 3600.0),
                seconds("ping_timeout", self.ping_timeout, 3600.0),
                presence.flatten(),
                seconds("login_timeout", self.login_timeout, 3600.0),
                seconds("write_timeout", self.write_timeout, 3600.0),
                seconds("outbound_wait", self.outbound_wait, 3600.0),
                seconds("reconnect_delay", self.reconnect_delay, 3600.0),
                seconds("reconnect_max_delay", self.reconnect_max_delay, 3600.0),
                out_of("max_stanza_size", self.max_stanza_size, 4096, 16 * 1024 * 1024),
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
            jid: account(&self.username)?,
            allow_list: self
                .allow_list
                .iter()
                .filter_map(|j| Jid::new(j.trim()).ok())
                .map(|j| j.to_bare())
                .collect(),
            ping_interval: secs(self.ping_interval),
            ping_timeout: secs(self.ping_timeout),
            presence_interval: (self.presence_interval != 0.0).then(|| secs(self.presence_interval)),
            login_timeout: secs(self.login_timeout),
            write_timeout: secs(self.write_timeout),
            outbound_wait: secs(self.outbound_wait),
            reconnect_delay: secs(self.reconnect_delay),
            reconnect_max_delay: secs(self.reconnect_max_delay),
            raw: self,
        })
    }
}

impl Settings {
    /// The server's address as given, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.raw.host, self.raw.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn vumi_keys_defaults_and_every_problem_named() {
        let c = parse(
            r#"{"host": "h", "port": "5222", "username": "bot@example.org", "password": "p",
                "status": "away", "status_message": "here", "ping_interval": 30, "debug": true}"#,
        );
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        let s = c.settings().unwrap();
        assert_eq!(s.jid.to_string(), "bot@example.org");
        assert_eq!(s.presence_interval, Some(Duration::from_secs(60)));
        assert_eq!(
            (s.raw.starttls, s.raw.subscriptions),
            (StartTls::Required, Subscriptions::Accept)
        );
        let bad = parse(
            r#"{"host": "", "username": "example.org", "password": "", "status": "busy",
                "allow_list": ["a@b", "@@"], "ping_interval": 0, "max_stanza_size": 10,
                "reconnect_delay": 5, "reconnect_max_delay": 1}"#,
        );
        let keys: Vec<String> = bad.problems().iter().map(|p| p.key.to_string()).collect();
        assert_eq!(
            keys,
            [
                "host",
                "username",
                "password",
                "status",
                "allow_list",
                "ping_interval",
                "max_stanza_size",
                "reconnect_max_delay"
            ]
        );
        let none = parse(r#"{"host": "h", "username": "a@b", "password": "p", "presence_interval": 0}"#);
        assert_eq!(none.settings().unwrap().presence_interval, None);
    }

    #[test]
    fn debug_hides_the_password() {
        let c = parse(r#"{"host": "h", "username": "u@d", "password": "hunter2"}"#);
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
