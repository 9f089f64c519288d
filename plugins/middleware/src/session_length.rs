//! `session_length` (Vumi's SessionLengthMiddleware): records when each session started and
//! ended in `helper_metadata.<field_name>.session_start` / `session_end` (seconds since the
//! epoch). The start is kept in the state store for `timeout` seconds under
//! `<transport_name>:<address>:session_created`, so the closing message can carry it.

use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::tracing::warn;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn default_timeout() -> u64 {
    600
}

fn default_field() -> String {
    "session".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Seconds a session's start is remembered (600).
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// The helper_metadata key (session).
    #[serde(default = "default_field")]
    pub field_name: String,
    /// `transport_name` (only this is supported).
    #[serde(default)]
    pub namespace_type: Option<String>,
    /// Accepted for Vumi configs; the host's state store is configured with `state:`.
    #[serde(default)]
    pub redis_manager: Option<Value>,
}

pub struct SessionLength {
    ctx: Context,
    timeout: Duration,
    field: String,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Component for SessionLength {
    type Config = Config;
    const NAME: &'static str = "session_length";
    const ALIASES: &'static [&'static str] = &[
        "vumi.middleware.session_length.SessionLengthMiddleware",
        "SessionLengthMiddleware",
    ];
    const DESCRIPTION: &'static str = "Records session start and end times in helper_metadata.";
    const CONFIG_DOC: &'static str = "timeout: seconds a session's start is remembered (600)\n\
        field_name: helper_metadata key (session)";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if config.timeout == 0 {
            problems.push(ConfigProblem::at("timeout", "must be at least 1 second"));
        }
        if let Some(t) = config.namespace_type.as_deref().filter(|t| *t != "transport_name") {
            problems.push(ConfigProblem::at(
                "namespace_type",
                format!("{t:?} is not supported; use transport_name"),
            ));
        }
        problems
    }

    fn create(config: Config, ctx: Context) -> Result<Self, String> {
        Ok(Self {
            ctx,
            timeout: Duration::from_secs(config.timeout),
            field: config.field_name,
        })
    }
}

impl SessionLength {
    async fn track(&self, mut msg: Message, addr: Option<String>) -> Result<Option<Message>, String> {
        let Some(addr) = addr.filter(|a| !a.is_empty()) else {
            warn!(
                "message {} has no address to key its session by; passed on as it is",
                msg.message_id
            );
            return Ok(Some(msg));
        };
        let key = format!("{}:{addr}:session_created", msg.transport_name);
        let mut meta = msg.helper_metadata.get(&self.field).unwrap_or_else(|| json!({}));
        let state = self.ctx.state();
        let has_start = meta.get("session_start").is_some();
        match msg.session_event {
            SessionEvent::New => {
                if !has_start {
                    let t = now();
                    state.set(&key, &t.to_string(), self.timeout).await?;
                    meta["session_start"] = json!(t);
                }
            }
            SessionEvent::Close => {
                if meta.get("session_end").is_none() {
                    meta["session_end"] = json!(now());
                }
                if !has_start {
                    if let Some(start) = state.get(&key).await?.and_then(|v| v.parse::<f64>().ok()) {
                        meta["session_start"] = json!(start);
                    }
                    state.delete(&key).await?;
                }
            }
            _ => {
                if !has_start {
                    if let Some(start) = state.get(&key).await?.and_then(|v| v.parse::<f64>().ok()) {
                        meta["session_start"] = json!(start);
                    }
                }
            }
        }
        if meta.as_object().is_some_and(|m| !m.is_empty()) {
            msg.helper_metadata.insert(&self.field, meta);
        }
        Ok(Some(msg))
    }
}

impl Middleware for SessionLength {
    async fn handle_inbound(&self, msg: Message, _: &str, _: Direction) -> Result<Option<Message>, String> {
        let addr = msg.from_addr.as_ref().map(|a| a.to_string()).into_option();
        self.track(msg, addr).await
    }

    async fn handle_outbound(&self, msg: Message, _: &str, _: Direction) -> Result<Option<Message>, String> {
        let addr = msg.to_addr.as_ref().map(|a| a.to_string()).into_option();
        self.track(msg, addr).await
    }
}
