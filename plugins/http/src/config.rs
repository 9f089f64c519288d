//! The `http` transport's config: every key, its default, and the range `validate` checks.

use crate::auth::Auth;
use crate::bounds::within;
use crate::delivery::RetryPolicy;
use crate::inbound::{FieldNames, RequestFormat};
use ruvuma_plugin_api::prelude::*;
use std::collections::HashMap;
use std::net::SocketAddr;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Answer 202 at once; replies go to `outbound_url`.
    #[default]
    Async,
    /// Hold the request until the reply comes, and answer with it.
    Sync,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// `{"message_id", "in_reply_to", "content", "continue_session"}`
    #[default]
    Json,
    /// `CON <content>` while the session goes on, `END <content>` when it ends (plain text).
    Text,
}

fn default_bind() -> String {
    "127.0.0.1:9020".into()
}
fn default_path() -> String {
    "/".into()
}
fn default_reply_timeout() -> u64 {
    10_000
}
fn default_max_body() -> usize {
    64 * 1024
}
fn default_type() -> String {
    "http".into()
}
fn default_session_timeout() -> u64 {
    600
}
fn default_header_timeout() -> u64 {
    10_000
}
fn default_body_timeout() -> u64 {
    10_000
}
fn default_max_connections() -> usize {
    512
}
fn default_publish_timeout() -> u64 {
    1000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_bind")]
    pub bind: String,
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub request_format: RequestFormat,
    #[serde(default)]
    pub fields: FieldNames,
    /// Form mode: the aggregator's session states → new, resume or close.
    #[serde(default)]
    pub session_events: HashMap<String, String>,
    #[serde(default)]
    pub response_format: ResponseFormat,
    #[serde(default = "default_reply_timeout")]
    pub reply_timeout_ms: u64,
    #[serde(default = "default_max_body")]
    pub max_body: usize,
    /// Required on inbound requests: `{username, password}` or `{token}`.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// to_addr when a request gives none.
    #[serde(default)]
    pub to_addr: Option<String>,
    #[serde(default = "default_type")]
    pub transport_type: String,
    #[serde(default)]
    pub outbound_url: Option<String>,
    #[serde(default)]
    pub outbound_auth: Option<Auth>,
    #[serde(default)]
    pub outbound: RetryPolicy,
    /// Form mode without a session state field: seconds a session id is remembered (600).
    #[serde(default = "default_session_timeout")]
    pub session_timeout: u64,
    /// A connection must deliver a whole request head within this many milliseconds of opening
    /// or of its previous answer (so an idle kept-alive connection is closed after it too).
    #[serde(default = "default_header_timeout")]
    pub header_timeout_ms: u64,
    /// A request body must arrive whole within this many milliseconds (408 otherwise).
    #[serde(default = "default_body_timeout")]
    pub body_timeout_ms: u64,
    /// Connections held at once; more are closed as they come, with a warning.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long a request may wait for room on the bus before it is answered 503.
    #[serde(default = "default_publish_timeout")]
    pub publish_timeout_ms: u64,
}

pub const CONFIG_DOC: &str = "bind (127.0.0.1:9020), path (/), mode: async|sync, request_format: json|form,\n\
    fields: {from_addr, to_addr, content, session_id, session_event} (form mode names),\n\
    session_events: {aggregator value: new|resume|close}, response_format: json|text (CON/END),\n\
    reply_timeout_ms (10000), max_body (65536), auth: {username, password} or {token}, to_addr,\n\
    transport_type (http), outbound_url, outbound_auth,\n\
    outbound: {timeout_ms, retries, backoff_ms, max_reply_body (1048576), follow_redirects (false)},\n\
    session_timeout (600), header_timeout_ms (10000), body_timeout_ms (10000),\n\
    max_connections (512), publish_timeout_ms (1000)";

/// The aggregator's session states, mapped to ours.
pub fn session_events(config: &Config) -> Result<HashMap<String, SessionEvent>, ConfigProblem> {
    config
        .session_events
        .iter()
        .map(|(given, ours)| match SessionEvent::from_vumi(Some(ours)) {
            Ok(ev) if ev != SessionEvent::None => Ok((given.clone(), ev)),
            _ => Err(ConfigProblem::at(
                &format!("session_events.{given}"),
                format!("{ours:?} is not new, resume or close"),
            )),
        })
        .collect()
}

fn ranges(config: &Config) -> impl Iterator<Item = ConfigProblem> {
    [
        within("reply_timeout_ms", config.reply_timeout_ms, 1, 600_000),
        within("max_body", config.max_body as u64, 1, 16 * 1024 * 1024),
        within("session_timeout", config.session_timeout, 1, 7 * 24 * 3600),
        within("header_timeout_ms", config.header_timeout_ms, 100, 600_000),
        within("body_timeout_ms", config.body_timeout_ms, 100, 600_000),
        within("max_connections", config.max_connections as u64, 1, 100_000),
        within("publish_timeout_ms", config.publish_timeout_ms, 1, 60_000),
    ]
    .into_iter()
    .flatten()
}

/// Every problem in `config`, each naming its key.
pub fn check(config: &Config) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    if config.bind.parse::<SocketAddr>().is_err() {
        problems.push(ConfigProblem::at(
            "bind",
            format!("{:?} is not an address like 127.0.0.1:9020", config.bind),
        ));
    }
    if !config.path.starts_with('/') {
        problems.push(ConfigProblem::at(
            "path",
            format!("{:?} must start with /", config.path),
        ));
    }
    if let Err(e) = session_events(config) {
        problems.push(e);
    }
    problems.extend(ranges(config));
    if let Some(url) = &config.outbound_url {
        if reqwest::Url::parse(url).is_err() {
            problems.push(ConfigProblem::at(
                "outbound_url",
                format!("{:?} is not a URL", crate::escape::url_for_log(url)),
            ));
        }
    }
    problems.extend(config.outbound.check("outbound"));
    for (key, auth) in [("auth", &config.auth), ("outbound_auth", &config.outbound_auth)] {
        if let Some(auth) = auth {
            problems.extend(auth.check(key));
        }
    }
    problems
}
