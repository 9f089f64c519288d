//! The messaging API's config: the server, the dialects it speaks, the channels (transports) it
//! sends through, the accounts that may use them, and how callbacks are made.

use crate::bounds::within;
use crate::delivery::RetryPolicy;
use ruvuma_plugin_api::prelude::*;
use std::collections::BTreeMap;

pub const CONFIG_DOC: &str = "bind (127.0.0.1:13013),\n\
    dialects: {junebug (true), kannel (true), jasmin (true)},\n\
    channels: {<transport name>: {mo_url, mo_auth_token, character_limit}} (required; a channel is the\n\
    transport a message goes out on: Junebug's channel id, Kannel's smsc, Jasmin's connector),\n\
    default_channel (the only channel, when there is one), default_sender (Kannel's global-sender),\n\
    users: [{username, password, channels ([]: all), mt_tps (0: no limit)}],\n\
    callbacks: {timeout_ms (5000), retries (3), backoff_ms (500), max_in_flight (100000),\n\
    per_receiver (256 at once), pipeline (16: GETs sent on one connection before their answers come;\n\
    1: one at a time), max_waiting_per_receiver (50000), max_backlog_per_receiver (5000)},\n\
    track_ttl (172800 s: how long a message's callbacks are remembered), inbound_ttl (600 s: how long\n\
    an inbound message can be replied to), max_recipients (100), max_content (8192 bytes),\n\
    max_body (65536), max_connections (1024), header_timeout_ms (10000), body_timeout_ms (10000),\n\
    publish_timeout_ms (1000), max_rate_wait_ms (1000)";

fn yes() -> bool {
    true
}
fn default_bind() -> String {
    "127.0.0.1:13013".into()
}
fn default_track_ttl() -> u64 {
    172_800
}
fn default_inbound_ttl() -> u64 {
    600
}
fn default_max_recipients() -> usize {
    100
}
fn default_max_content() -> usize {
    8192
}
fn default_max_body() -> usize {
    64 * 1024
}
fn default_max_connections() -> usize {
    1024
}
fn default_timeout() -> u64 {
    10_000
}
fn default_publish_timeout() -> u64 {
    1000
}
fn default_rate_wait() -> u64 {
    1000
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialects {
    #[serde(default = "yes")]
    pub junebug: bool,
    #[serde(default = "yes")]
    pub kannel: bool,
    #[serde(default = "yes")]
    pub jasmin: bool,
}

impl Default for Dialects {
    fn default() -> Self {
        Self {
            junebug: true,
            kannel: true,
            jasmin: true,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Where inbound messages are POSTed, in Junebug's form.
    #[serde(default)]
    pub mo_url: Option<String>,
    /// Sent as `Authorization: Token <mo_auth_token>` with each inbound message.
    #[serde(default)]
    pub mo_auth_token: Option<String>,
    /// Junebug's character limit on what is sent through this channel.
    #[serde(default)]
    pub character_limit: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub username: String,
    pub password: String,
    /// The channels this user may send through; empty: all of them.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Messages a second this user may send; 0: no limit.
    #[serde(default)]
    pub mt_tps: u32,
}

fn default_cb_backoff() -> u64 {
    500
}
fn default_in_flight() -> usize {
    100_000
}
fn default_per_receiver() -> usize {
    256
}
fn default_pipeline() -> usize {
    16
}
fn default_waiting() -> usize {
    50_000
}
fn default_backlog() -> usize {
    5000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Callbacks {
    #[serde(default = "crate::delivery::default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "crate::delivery::default_retries")]
    pub retries: u32,
    #[serde(default = "default_cb_backoff")]
    pub backoff_ms: u64,
    /// Callbacks under way at once, over every receiver; events wait for room beyond it.
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// Requests to one receiver (scheme, host and port) at once.
    #[serde(default = "default_per_receiver")]
    pub per_receiver: usize,
    /// GET callbacks sent on one connection to a plain-`http` receiver before their answers come
    /// (HTTP/1.1 pipelining); `per_receiver / pipeline` connections are kept to it.
    #[serde(default = "default_pipeline")]
    pub pipeline: usize,
    /// Callbacks one receiver may have waiting; more are kept as failures at once.
    #[serde(default = "default_waiting")]
    pub max_waiting_per_receiver: usize,
    /// While a receiver has this many callbacks waiting, new messages whose callbacks would go
    /// to it are held (up to `publish_timeout_ms`, then refused as when the bus is full).
    #[serde(default = "default_backlog")]
    pub max_backlog_per_receiver: usize,
}

impl Default for Callbacks {
    fn default() -> Self {
        Self {
            timeout_ms: crate::delivery::default_timeout_ms(),
            retries: crate::delivery::default_retries(),
            backoff_ms: default_cb_backoff(),
            max_in_flight: default_in_flight(),
            per_receiver: default_per_receiver(),
            pipeline: default_pipeline(),
            max_waiting_per_receiver: default_waiting(),
            max_backlog_per_receiver: default_backlog(),
        }
    }
}

impl Callbacks {
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            timeout_ms: self.timeout_ms,
            retries: self.retries,
            backoff_ms: self.backoff_ms,
            max_reply_body: 64 * 1024,
            follow_redirects: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_bind")]
    pub bind: String,
    #[serde(default)]
    pub dialects: Dialects,
    pub channels: BTreeMap<String, Channel>,
    #[serde(default)]
    pub default_channel: Option<String>,
    /// The sender of a Kannel or Jasmin request that names none (Kannel's `global-sender`).
    #[serde(default)]
    pub default_sender: Option<String>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub callbacks: Callbacks,
    #[serde(default = "default_track_ttl")]
    pub track_ttl: u64,
    #[serde(default = "default_inbound_ttl")]
    pub inbound_ttl: u64,
    #[serde(default = "default_max_recipients")]
    pub max_recipients: usize,
    #[serde(default = "default_max_content")]
    pub max_content: usize,
    #[serde(default = "default_max_body")]
    pub max_body: usize,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_timeout")]
    pub header_timeout_ms: u64,
    #[serde(default = "default_timeout")]
    pub body_timeout_ms: u64,
    #[serde(default = "default_publish_timeout")]
    pub publish_timeout_ms: u64,
    #[serde(default = "default_rate_wait")]
    pub max_rate_wait_ms: u64,
}

impl Config {
    /// The channel a request that names none goes out on.
    pub fn default_channel(&self) -> Option<&str> {
        match (&self.default_channel, self.channels.len()) {
            (Some(name), _) => Some(name.as_str()),
            (None, 1) => self.channels.keys().next().map(String::as_str),
            _ => None,
        }
    }
}

fn check_url(key: &str, url: &str) -> Option<ConfigProblem> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => None,
        _ => Some(ConfigProblem::at(
            key,
            format!("{:?} is not an http or https URL", crate::escape::url_for_log(url)),
        )),
    }
}

pub fn check(c: &Config) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    if c.bind.parse::<std::net::SocketAddr>().is_err() {
        problems.push(ConfigProblem::at(
            "bind",
            format!("{:?} is not an address:port", c.bind),
        ));
    }
    if c.channels.is_empty() {
        problems.push(ConfigProblem::at("channels", "name at least one channel (a transport)"));
    }
    for (name, ch) in &c.channels {
        if let Some(url) = &ch.mo_url {
            problems.extend(check_url(&format!("channels.{name}.mo_url"), url));
        }
        if ch.mo_auth_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            problems.push(ConfigProblem::at(&format!("channels.{name}.mo_auth_token"), "is empty"));
        }
    }
    if let Some(d) = &c.default_channel {
        if !c.channels.contains_key(d) {
            problems.push(ConfigProblem::at(
                "default_channel",
                format!("{d:?} is not one of channels"),
            ));
        }
    }
    if (c.dialects.kannel || c.dialects.jasmin) && c.users.is_empty() {
        problems.push(ConfigProblem::at(
            "users",
            "the kannel and jasmin dialects need at least one user (or turn them off under dialects)",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, u) in c.users.iter().enumerate() {
        let at = |k: &str| format!("users[{i}].{k}");
        if u.username.trim().is_empty() {
            problems.push(ConfigProblem::at(&at("username"), "is empty"));
        } else if !seen.insert(u.username.as_str()) {
            problems.push(ConfigProblem::at(&at("username"), "appears twice"));
        }
        if u.password.trim().is_empty() {
            problems.push(ConfigProblem::at(&at("password"), "is empty"));
        }
        for ch in u.channels.iter().filter(|ch| !c.channels.contains_key(*ch)) {
            problems.push(ConfigProblem::at(
                &at("channels"),
                format!("{ch:?} is not one of channels"),
            ));
        }
        problems.extend(within(&at("mt_tps"), u.mt_tps.into(), 0, 1_000_000));
    }
    problems.extend(c.callbacks.policy().check("callbacks"));
    let cb = &c.callbacks;
    problems.extend(within("callbacks.max_in_flight", cb.max_in_flight as u64, 1, 1_000_000));
    problems.extend(within("callbacks.per_receiver", cb.per_receiver as u64, 1, 10_000));
    problems.extend(within("callbacks.pipeline", cb.pipeline as u64, 1, 256));
    problems.extend(within(
        "callbacks.max_waiting_per_receiver",
        cb.max_waiting_per_receiver as u64,
        1,
        cb.max_in_flight as u64,
    ));
    problems.extend(within(
        "callbacks.max_backlog_per_receiver",
        cb.max_backlog_per_receiver as u64,
        1,
        cb.max_waiting_per_receiver as u64,
    ));
    problems.extend(within("track_ttl", c.track_ttl, 1, 30 * 86_400));
    problems.extend(within("inbound_ttl", c.inbound_ttl, 1, 30 * 86_400));
    problems.extend(within("max_recipients", c.max_recipients as u64, 1, 10_000));
    problems.extend(within("max_content", c.max_content as u64, 1, 1024 * 1024));
    problems.extend(within("max_body", c.max_body as u64, 1, 16 * 1024 * 1024));
    problems.extend(within("max_connections", c.max_connections as u64, 1, 100_000));
    problems.extend(within("header_timeout_ms", c.header_timeout_ms, 1, 300_000));
    problems.extend(within("body_timeout_ms", c.body_timeout_ms, 1, 300_000));
    problems.extend(within("publish_timeout_ms", c.publish_timeout_ms, 1, 60_000));
    problems.extend(within("max_rate_wait_ms", c.max_rate_wait_ms, 0, 60_000));
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_refused(callbacks: &str) -> Vec<String> {
        let json = format!(
            r#"{{"channels": {{"sms": {{}}}}, "users": [{{"username": "u", "password": "p"}}], "callbacks": {callbacks}}}"#
        );
        let config: Config = serde_json::from_str(&json).expect("config");
        check(&config).into_iter().map(|p| p.key.to_string()).collect()
    }

    #[test]
    fn the_pipeline_depth_is_bounded_and_named() {
        assert_eq!(keys_refused(r#"{"pipeline": 16}"#), Vec::<String>::new());
        assert!(keys_refused(r#"{"pipeline": 1}"#).is_empty());
        assert_eq!(keys_refused(r#"{"pipeline": 0}"#), ["callbacks.pipeline"]);
        assert_eq!(keys_refused(r#"{"pipeline": 257}"#), ["callbacks.pipeline"]);
    }
}
