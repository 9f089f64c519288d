//! The host's events and who hears of them: components started, stopped, failed or changing
//! status, messages finished or failed, failures dead-lettered. Each observer has a bounded
//! queue of its own; an event that finds it full is dropped and counted, so no observer can
//! slow the message path.
//!
//! `metrics.rs` counts traffic per component, `history.rs` keeps the host's rates, and
//! `webhook.rs` is the built-in observer that POSTs each event as JSON.

pub mod app_metrics;
pub mod history;
pub mod metrics;
pub mod webhook;

pub use metrics::{Meter, Metrics, Tally};

use crate::config::ObserverSpec;
use serde_json::{json, Value as Json};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
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
    "config_reloaded",
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
    /// A reload was asked for: what it did (`outcome`), or why not.
    ConfigReloaded {
        trigger: crate::reload::Trigger,
        outcome: crate::reload::Outcome,
        error: Option<String>,
        added: Vec<String>,
        changed: Vec<String>,
        removed: Vec<String>,
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
            Self::ConfigReloaded { .. } => "config_reloaded",
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
            Self::ConfigReloaded {
                trigger,
                outcome,
                error,
                added,
                changed,
                removed,
            } => json!({"trigger": trigger, "outcome": outcome, "error": error,
                        "added": added, "changed": changed, "removed": removed}),
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
}

/// One observer's side of the hub: its queue and what it wants.
struct Sink {
    name: String,
    wants: Vec<&'static str>,
    tx: mpsc::Sender<Arc<Json>>,
    dropped: AtomicU64,
    /// Handed over and not yet delivered (or given up on).
    unsent: Arc<AtomicU64>,
}

impl Sink {
    fn dropped_one(&self, name: &str) {
        if self.dropped.fetch_add(1, Ordering::Relaxed).is_multiple_of(1000) {
            tracing::warn!("observer {:?}: its queue is full; {name} events are dropped", self.name);
        }
    }
}

/// What the admin pages and `/metrics` show of an observer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ObserverView {
    pub name: String,
    pub events: Vec<&'static str>,
    pub queued: usize,
    pub dropped: u64,
}

/// The events a list names (every one when there is no list), or the first name that is not
/// an event.
pub fn wanted(list: Option<&[String]>) -> Result<Vec<&'static str>, String> {
    let Some(list) = list else {
        return Ok(EVENT_NAMES.to_vec());
    };
    list.iter()
        .map(|e| {
            EVENT_NAMES.iter().find(|n| **n == e.as_str()).copied().ok_or_else(|| {
                format!(
                    "key \"events\": {e:?} is not an event; known: {}",
                    EVENT_NAMES.join(", ")
                )
            })
        })
        .collect()
}

/// Events an observer's queue holds at most.
pub const OBSERVER_QUEUE: usize = 1000;

/// The hub every host event goes through.
pub struct Events {
    alias: String,
    sinks: RwLock<Vec<Sink>>,
    /// Whether any observer wants per-message events (else they are not even made).
    message_events: AtomicBool,
    pub metrics: Arc<Metrics>,
}

impl Events {
    pub fn new(alias: &str, metrics: Arc<Metrics>) -> Self {
        Self {
            alias: alias.to_owned(),
            sinks: RwLock::default(),
            message_events: AtomicBool::new(false),
            metrics,
        }
    }

    /// Starts the built-in observers a config names (on the current runtime); plugin ones are
    /// attached when the topology creates them.
    pub fn with_observers(self, specs: &[ObserverSpec]) -> Result<Self, ObserverError> {
        for spec in specs.iter().filter(|s| s.plugin == "webhook") {
            self.start_webhook(spec)?;
        }
        Ok(self)
    }

    fn add(&self, name: &str, wants: Vec<&'static str>, tx: mpsc::Sender<Arc<Json>>, unsent: Arc<AtomicU64>) {
        if wants.iter().any(|w| w.starts_with("message_")) {
            self.message_events.store(true, Ordering::Release);
        }
        self.sinks.write().unwrap_or_else(|p| p.into_inner()).push(Sink {
            name: name.to_owned(),
            wants,
            tx,
            dropped: AtomicU64::new(0),
            unsent,
        });
    }

    /// Attaches an observer that `deliver`s each event it wants, one at a time, in order.
    pub fn attach<F, Fut>(&self, name: &str, wants: Vec<&'static str>, deliver: F)
    where
        F: Fn(Arc<Json>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Arc<Json>>(OBSERVER_QUEUE);
        let unsent = Arc::new(AtomicU64::new(0));
        let done = unsent.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                deliver(event).await;
                done.fetch_sub(1, Ordering::AcqRel);
            }
        });
        self.add(name, wants, tx, unsent);
    }

    /// Detaches the oldest observer of that name (a reload replaces or removes it): it is
    /// handed nothing more, and ends once it has delivered what it holds.
    pub fn detach(&self, name: &str) {
        let mut sinks = self.sinks.write().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = sinks.iter().position(|s| s.name == name) {
            sinks.remove(at);
        }
        let wanted = sinks.iter().any(|s| s.wants.iter().any(|w| w.starts_with("message_")));
        self.message_events.store(wanted, Ordering::Release);
    }

    /// Starts a built-in observer (a webhook) and attaches it.
    pub fn start_webhook(&self, spec: &ObserverSpec) -> Result<(), ObserverError> {
        let unsent = Arc::new(AtomicU64::new(0));
        let (wants, tx) = webhook::start(spec, unsent.clone())?;
        self.add(&spec.name, wants, tx, unsent);
        Ok(())
    }

    /// Waits (up to `limit`) until every observer has been given what it was handed: at
    /// shutdown, so that the last events are not lost with the process.
    pub async fn flush(&self, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        let left = || {
            let sinks = self.sinks.read().unwrap_or_else(|p| p.into_inner());
            sinks.iter().map(|s| s.unsent.load(Ordering::Acquire)).sum::<u64>()
        };
        while left() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Checks the observers a config names, without starting them: the events each wants, and
    /// the built-in webhook's config (the compiler checks plugin observers' own).
    pub fn check(specs: &[ObserverSpec]) -> Vec<(String, ObserverError)> {
        let mut out = Vec::new();
        for spec in specs {
            let bad = |reason: String| ObserverError::Config {
                name: spec.name.clone(),
                reason,
            };
            let checked = match spec.plugin.as_str() {
                "webhook" => webhook::validate(spec),
                _ => wanted(spec.events.as_deref()).map(|_| ()).map_err(bad),
            };
            if let Err(e) = checked {
                out.push((spec.name.clone(), e));
            }
        }
        out
    }

    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// Whether per-message events are wanted by anyone.
    pub fn wants_message_events(&self) -> bool {
        self.message_events.load(Ordering::Acquire)
    }

    /// Hands an event to every observer that wants it, without waiting.
    pub fn emit(&self, event: HostEvent) {
        self.emit_with(event.name(), || event);
    }

    /// [`Events::emit`] of an event named `name`, made only if some observer wants it and has
    /// room for it (the message path's events cost nothing while every queue is full).
    pub fn emit_with(&self, name: &'static str, make: impl FnOnce() -> HostEvent) {
        let mut json = None;
        let mut make = Some(make);
        let sinks = self.sinks.read().unwrap_or_else(|p| p.into_inner());
        for sink in sinks.iter().filter(|s| s.wants.contains(&name)) {
            if sink.tx.capacity() == 0 {
                sink.dropped_one(name);
                continue;
            }
            let body = match (&json, make.take()) {
                (Some(body), _) => Arc::clone(body),
                (None, Some(make)) => json.insert(Arc::new(make().to_json(&self.alias))).clone(),
                (None, None) => continue,
            };
            sink.unsent.fetch_add(1, Ordering::AcqRel);
            if sink.tx.try_send(body).is_err() {
                sink.unsent.fetch_sub(1, Ordering::AcqRel);
                sink.dropped_one(name);
            }
        }
    }

    pub fn observers(&self) -> Vec<ObserverView> {
        self.sinks
            .read()
            .unwrap_or_else(|p| p.into_inner())
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
