//! `logging` (Vumi's LoggingMiddleware): logs every message and event that passes, unchanged.

use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::tracing::{debug, error, info, warn};
use ruvuma_plugin_api::vumi_json::{event_to_value, message_to_value};

fn info_level() -> String {
    "info".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// debug, info, warning or error (info)
    #[serde(default = "info_level")]
    pub log_level: String,
    /// Accepted for Vumi configs; failures are logged by the host.
    #[serde(default)]
    pub failure_log_level: Option<String>,
}

#[derive(Clone, Copy)]
enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

fn level(name: &str) -> Option<Level> {
    match name {
        "debug" => Some(Level::Debug),
        "info" | "msg" => Some(Level::Info),
        "warning" | "warn" => Some(Level::Warn),
        "error" | "err" | "critical" => Some(Level::Error),
        _ => None,
    }
}

pub struct Logging {
    level: Level,
}

impl Component for Logging {
    type Config = Config;
    const NAME: &'static str = "logging";
    const ALIASES: &'static [&'static str] = &["vumi.middleware.logging.LoggingMiddleware", "LoggingMiddleware"];
    const DESCRIPTION: &'static str = "Logs every message and event that passes, unchanged.";
    const CONFIG_DOC: &'static str = "log_level: debug, info, warning or error (info)";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        for (key, value) in [
            ("log_level", Some(&config.log_level)),
            ("failure_log_level", config.failure_log_level.as_ref()),
        ] {
            if let Some(v) = value.filter(|v| level(v).is_none()) {
                problems.push(ConfigProblem::at(
                    key,
                    format!("{v:?} is not one of debug, info, warning, error"),
                ));
            }
        }
        problems
    }

    fn create(config: Config, _ctx: Context) -> Result<Self, String> {
        Ok(Self {
            level: level(&config.log_level).ok_or("bad log_level")?,
        })
    }
}

impl Logging {
    fn log(&self, what: &str, connector: &str, text: String) {
        match self.level {
            Level::Debug => debug!("Processed {what} for {connector}: {text}"),
            Level::Info => info!("Processed {what} for {connector}: {text}"),
            Level::Warn => warn!("Processed {what} for {connector}: {text}"),
            Level::Error => error!("Processed {what} for {connector}: {text}"),
        }
    }
}

impl Middleware for Logging {
    async fn handle_inbound(&self, msg: Message, connector: &str, _: Direction) -> Result<Option<Message>, String> {
        self.log("inbound message", connector, message_to_value(&msg).to_string());
        Ok(Some(msg))
    }

    async fn handle_outbound(&self, msg: Message, connector: &str, _: Direction) -> Result<Option<Message>, String> {
        self.log("outbound message", connector, message_to_value(&msg).to_string());
        Ok(Some(msg))
    }

    async fn handle_event(&self, event: Event, connector: &str, _: Direction) -> Result<Option<Event>, String> {
        self.log("event", connector, event_to_value(&event).to_string());
        Ok(Some(event))
    }
}
