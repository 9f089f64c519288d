//! The host's events and who hears of them: components started, stopped, failed or changing
//! status, messages finished or failed, failures dead-lettered. Each observer has a bounded
//! queue of its own; an event that finds it full is dropped and counted, so no observer can
//! slow the message path.
//!
//! `metrics.rs` counts traffic per component, `history.rs` keeps the host's rates, and
//! `webhook.rs` is the built-in observer that POSTs each event as JSON.

pub mod history;
pub mod metrics;
pub mod webhook;

pub use metrics::{Meter, Metrics, Tally};

use crate::config::ObserverSpec;
use serde_json::{json, Value as Json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The names of the events, as observers filter them.
pub const EVENT_NAMES: &[&str] = &[
    "component_started",
    "component_stopped",
    "component_failed",
    "status_changed",
    "message_finished",
    "message_failed",
    "failure_dead_lettered",
];

/// Something that happened in the host.
#[derive(Debug, Clone)]
pub enum HostEvent {
    ComponentStarted {
        kind: &'static str,
        name: String,
    },
    ComponentStopped {
        kind: &'static str,
        name: String,
    },
    ComponentFailed {
        kind: &'static str,
        name: String,
        reason: String,
    },
    StatusChanged {
        component: String,
        status: String,
        kind: String,
        message: String,
    },
    /// An outbound message's outcome from its transport: acked, nacked, delivered, failed.
    MessageFinished {
        message_id: String,
        transport: String,
        outcome: String,
    },
    /// A message a transport could not send, with why.
    MessageFailed {
        message_id: String,
        transport: String,
        reason: String,
    },
    FailureDeadLettered {
        component: String,
        message_id: String,
        reason: String,
    },
}

impl HostEvent {
    pub fn name(&self) -> &'static str {
        match self {
            Self::ComponentStarted { .. } => "component_started",
            Self::ComponentStopped { .. } => "component_stopped",
            Self::ComponentFailed { .. } => "component_failed",
            Self::StatusChanged { .. } => "status_changed",
            Self::MessageFinished { .. } => "message_finished",
            Self::MessageFailed { .. } => "message_failed",
            Self::FailureDeadLettered { .. } => "failure_dead_lettered",
        }
    }

    fn fields(&self) -> Json {
        match self {
            Self::ComponentStarted { kind, name } | Self::ComponentStopped { kind, name } => {
                json!({"component": name, "kind": kind})
            }
            Self::ComponentFailed { kind, name, reason } => json!({"component": name, "kind": kind, "reason": reason}),
            Self::StatusChanged {
                component,
                status,
                kind,
                message,
            } => json!({"component": component, "status": status, "type": kind, "message": message}),
            Self::MessageFinished {
                message_id,
                transport,
                outcome,
            } => json!({"message_id": message_id, "component": transport, "outcome": outcome}),
            Self::MessageFailed {
                message_id,
                transport,
                reason,
            } => json!({"message_id": message_id, "component": transport, "reason": reason}),
            Self::FailureDeadLettered {
                component,
                message_id,
                reason,
            } => json!({"message_id": message_id, "component": component, "reason": reason}),
        }
    }

    /// The JSON an observer gets: `event`, `system_alias`, `at` and the event's own fields.
    pub fn to_json(&self, alias: &str) -> Json {
        let mut v = self.fields();
        if let Json::Object(m) = &mut v {
            m.insert("event".into(), self.name().into());
            m.insert("system_alias".into(), alias.into());
            m.insert("at".into(), ruvuma_plugin_api::Timestamp::now().to_string().into());
        }
        v
    }
}

/// Why an observer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ObserverError {
    #[error("observer {name:?}: {reason}")]
    Config { name: String, reason: String },
    #[error("observer {name:?}: plugin {plugin:?} is not an observer this host has; the built-in one is \"webhook\"")]
    Unknown { name: String, plugin: String },
}

/// One observer's side of the hub: its queue and what it wants.
struct Sink {
    name: String,
    wants: Vec<&'static str>,
    tx: mpsc::Sender<Arc<Json>>,
    dropped: AtomicU64,
}

/// What the admin pages and `/metrics` show of an observer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ObserverView {
    pub name: String,
    pub events: Vec<&'static str>,
    pub queued: usize,
    pub dropped: u64,
}

/// The hub every host event goes through.
pub struct Events {
    alias: String,
    sinks: Vec<Sink>,
    /// Whether any observer wants per-message events (else they are not even made).
    message_events: bool,
    pub metrics: Arc<Metrics>,
}

impl Events {
    pub fn new(alias: &str, metrics: Arc<Metrics>) -> Self {
        Self {
            alias: alias.to_owned(),
            sinks: Vec::new(),
            message_events: false,
            metrics,
        }
    }

    /// Starts the observers a config names (on the current runtime).
    pub fn with_observers(mut self, specs: &[ObserverSpec]) -> Result<Self, ObserverError> {
        for spec in specs {
            let (wants, tx) = match spec.plugin.as_str() {
                "webhook" => webhook::start(spec)?,
                other => {
                    return Err(ObserverError::Unknown {
                        name: spec.name.clone(),
                        plugin: other.into(),
                    })
                }
            };
            self.message_events |= wants.iter().any(|w| w.starts_with("message_"));
            self.sinks.push(Sink {
                name: spec.name.clone(),
                wants,
                tx,
                dropped: AtomicU64::new(0),
            });
        }
        Ok(self)
    }

    /// Checks the observers a config names, without starting them.
    pub fn check(specs: &[ObserverSpec]) -> Vec<(String, ObserverError)> {
        specs
            .iter()
            .filter_map(|spec| {
                let checked = match spec.plugin.as_str() {
                    "webhook" => webhook::validate(spec),
                    other => Err(ObserverError::Unknown {
                        name: spec.name.clone(),
                        plugin: other.into(),
                    }),
                };
                checked.err().map(|e| (spec.name.clone(), e))
            })
            .collect()
    }

    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// Whether per-message events are wanted by anyone.
    pub fn wants_message_events(&self) -> bool {
        self.message_events
    }

    /// Hands an event to every observer that wants it, without waiting.
    pub fn emit(&self, event: HostEvent) {
        let name = event.name();
        let mut json = None;
        for sink in self.sinks.iter().filter(|s| s.wants.contains(&name)) {
            let body = json.get_or_insert_with(|| Arc::new(event.to_json(&self.alias))).clone();
            if sink.tx.try_send(body).is_err() && sink.dropped.fetch_add(1, Ordering::Relaxed) % 1000 == 0 {
                tracing::warn!("observer {:?}: its queue is full; {name} events are dropped", sink.name);
            }
        }
    }

    pub fn observers(&self) -> Vec<ObserverView> {
        self.sinks
            .iter()
            .map(|s| ObserverView {
                name: s.name.clone(),
                events: s.wants.clone(),
                queued: s.tx.max_capacity() - s.tx.capacity(),
                dropped: s.dropped.load(Ordering::Relaxed),
            })
            .collect()
    }
}
