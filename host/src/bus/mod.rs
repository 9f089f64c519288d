//! The bus: one queue per routing key (`<endpoint>.<flow>`), competing consumers, and a count of
//! work in flight so that shutdown can wait until every message has been handled. `memory` is
//! in-process, with bounded queues and backpressure; `amqp` is RabbitMQ.
//!
//! What a consumer takes is a [`Received`]: a guard that is settled exactly once. `ack()` says it
//! was handled; dropping it unsettled (a handler that panicked, a task that was cancelled) gives
//! it back — requeued on RabbitMQ — so no delivery is forgotten and the in-flight count cannot
//! drift.
//!
//! With a message store, the bus is where it sees traffic: what a transport publishes
//! (`<t>.inbound`, `<t>.event`) is kept as it is published, what a transport takes
//! (`<t>.outbound`) as it is taken, in whichever process that happens. The memory bus also
//! journals every message on its queues in the store (`memory.rs`).

mod amqp;
mod consumer;
mod failure;
mod memory;
mod publisher;
mod replay;
mod watch;

pub use amqp::{is_reply_queue_of, AmqpBus, KeptFailure};
use consumer::{shared, Settle, TakeFrom};
pub use consumer::{Consumer, Handler, Received, Settlement};
pub use failure::Failure;
pub use memory::{Depth, MemoryBus};
use publisher::PublishTo;
pub use publisher::{Publisher, Unqueued};
use watch::Watch;

use crate::config::BusSpec;
use crate::events::{Events, HostEvent};
use crate::store::{Kept, Store};
use crate::text::{escape_control, redact_url};
use ruvuma_plugin_api::message::Payload;
use ruvuma_plugin_api::{Flow, Timestamp};
use std::collections::HashSet;
use std::sync::Arc;

/// Why the bus could not take or give a message.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("the bus is shut down; {key} no longer takes messages")]
    Closed { key: String },
    #[error("bus: cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("amqp: {what}: {reason}")]
    Amqp { what: String, reason: String },
    #[error("amqp: the broker refused the message (nack)")]
    Refused,
    #[error("amqp: no confirm from the broker within {0} s")]
    Unconfirmed(u64),
}

/// The bus a host runs on, and what of its traffic the store keeps.
pub struct Bus {
    backend: Backend,
    tap: Option<Tap>,
    /// Told of each failure kept; counts them per component.
    events: Arc<Events>,
    /// The keys this process consumes, whose depths it reports.
    consumed: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

pub enum Backend {
    Memory(MemoryBus),
    Amqp(AmqpBus),
}

/// The store, and the transports whose traffic it keeps.
struct Tap {
    store: Arc<Store>,
    /// Replaced by a reload that adds or removes transports.
    transports: std::sync::RwLock<HashSet<String>>,
}

/// A queue whose traffic the store keeps: the flow and the transport.
#[derive(Clone)]
struct Recording {
    store: Arc<Store>,
    flow: Flow,
    endpoint: Arc<str>,
}

impl Recording {
    async fn keep(&self, kept: &Kept, at: Timestamp) {
        self.store.record(self.flow, &self.endpoint, kept, at).await;
    }

    fn keep_now(&self, kept: &Kept, at: Timestamp) {
        self.store.record_now(self.flow, &self.endpoint, kept, at);
    }
}

impl Tap {
    /// What is kept of `key`, if it is a transport's, where `at` says it is kept: on publish
    /// for inbound and events, on consume for outbound.
    fn recording(&self, key: &str, on_publish: bool) -> Option<Recording> {
        let (endpoint, flow) = key.rsplit_once('.')?;
        let flow = match flow {
            "inbound" if on_publish => Flow::Inbound,
            "event" if on_publish => Flow::Event,
            "outbound" if !on_publish => Flow::Outbound,
            _ => return None,
        };
        let transports = self.transports.read().unwrap_or_else(|p| p.into_inner());
        transports.contains(endpoint).then(|| Recording {
            store: self.store.clone(),
            flow,
            endpoint: endpoint.into(),
        })
    }
}

impl Bus {
    /// Connects to the bus a config names. With a store, the traffic of `transports` is kept,
    /// and the memory bus journals what is on its queues.
    pub async fn open(
        spec: &BusSpec,
        store: Option<Arc<Store>>,
        transports: &[String],
        events: Arc<Events>,
    ) -> Result<Arc<Self>, BusError> {
        let backend = match spec {
            BusSpec::Memory { capacity } => Backend::Memory(MemoryBus::new(*capacity, store.clone())),
            BusSpec::Amqp {
                url,
                exchange,
                prefetch,
            } => Backend::Amqp(AmqpBus::connect(url, exchange, *prefetch).await?),
        };
        let tap = store.map(|store| Tap {
            store,
            transports: std::sync::RwLock::new(transports.iter().cloned().collect()),
        });
        Ok(Arc::new(Self {
            backend,
            tap,
            events,
            consumed: Default::default(),
        }))
    }

    /// The transports whose traffic the store keeps, after a reload (publishers and
    /// consumers made from now on).
    pub fn record_transports(&self, transports: &[String]) {
        if let Some(tap) = &self.tap {
            *tap.transports.write().unwrap_or_else(|p| p.into_inner()) = transports.iter().cloned().collect();
        }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn publisher(&self, key: &str) -> Publisher {
        let backend = match &self.backend {
            Backend::Memory(m) => PublishTo::Memory(m.publisher(key)),
            Backend::Amqp(a) => PublishTo::Amqp(a.publisher(key)),
        };
        let recording = self.tap.as_ref().and_then(|t| t.recording(key, true));
        Publisher {
            backend,
            recording,
            watch: None,
            stamp: None,
        }
    }

    pub fn consumer(&self, key: &str) -> Consumer {
        let mut one = self.consumers(key, 1);
        one.remove(0)
    }

    /// `loops` consumers of `key` for one component instance. On RabbitMQ they share one
    /// subscription (one channel, the bus's prefetch, at least one delivery per loop), so that
    /// a process opens a channel per instance and queue, however high its concurrency, and no
    /// more is prefetched than the instance holds.
    pub fn consumers(&self, key: &str, loops: usize) -> Vec<Consumer> {
        let backends = match &self.backend {
            Backend::Memory(m) => (0..loops.max(1)).map(|_| TakeFrom::Memory(m.consumer(key))).collect(),
            Backend::Amqp(a) => shared(a.consumer(key), loops),
        };
        self.consuming(key, key, backends)
    }

    /// A reply queue for one instance of `transport`, on a bus shared by several processes:
    /// replies to what the instance publishes come back to it (see `amqp::replies`).
    pub fn reply_queue(&self, transport: &str) -> Option<String> {
        match &self.backend {
            Backend::Amqp(a) => Some(a.reply_key(transport)),
            Backend::Memory(_) => None,
        }
    }

    /// `loops` consumers of `transport`'s reply queue `private` (as [`Bus::consumers`]); the
    /// store keeps what they take as the transport's outbound.
    pub fn reply_consumers(&self, private: &str, transport: &str, loops: usize) -> Vec<Consumer> {
        let shared_key = format!("{transport}.outbound");
        let backends = match &self.backend {
            Backend::Memory(m) => (0..loops.max(1))
                .map(|_| TakeFrom::Memory(m.consumer(private)))
                .collect(),
            Backend::Amqp(a) => shared(a.reply_consumer(private, &shared_key), loops),
        };
        self.consuming(private, &shared_key, backends)
    }

    /// Declares the reply queues of the transport instances made since the last call, before
    /// they start (on RabbitMQ; nothing to do in memory).
    pub async fn declare_reply_queues(&self) -> Result<(), BusError> {
        match &self.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Amqp(a) => a.declare_reply_queues().await,
        }
    }

    /// Consumers of `key`, kept by the store as `recorded_as` is.
    fn consuming(&self, key: &str, recorded_as: &str, backends: Vec<TakeFrom>) -> Vec<Consumer> {
        if let Ok(mut c) = self.consumed.lock() {
            c.insert(key.to_owned());
        }
        let recording = self.tap.as_ref().and_then(|t| t.recording(recorded_as, false));
        backends
            .into_iter()
            .map(|backend| Consumer {
                backend,
                recording: recording.clone(),
                watch: None,
                stop: None,
            })
            .collect()
    }

    /// The depth of each queue this process consumes; an error when the broker cannot be asked.
    pub async fn depths(&self) -> Result<Vec<Depth>, BusError> {
        let keys: Vec<String> = self
            .consumed
            .lock()
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default();
        match &self.backend {
            Backend::Memory(m) => Ok(m.depths().into_iter().filter(|d| keys.contains(&d.key)).collect()),
            Backend::Amqp(a) => Ok(a
                .depths(&keys)
                .await?
                .into_iter()
                .map(|(key, depth)| Depth {
                    key,
                    depth,
                    oldest_age: None,
                })
                .collect()),
        }
    }

    /// `memory` or `amqp`.
    pub fn kind(&self) -> &'static str {
        match &self.backend {
            Backend::Memory(_) => "memory",
            Backend::Amqp(_) => "amqp",
        }
    }

    /// Messages taken (or published) here and not yet completely handled.
    pub fn in_flight(&self) -> i64 {
        match &self.backend {
            Backend::Memory(m) => m.in_flight(),
            Backend::Amqp(a) => a.in_flight(),
        }
    }

    /// Whether other processes share it (endpoints this host does not define may live there).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Amqp(_))
    }

    /// Consumers may start: the whole host is ready. The memory bus hands out again what its
    /// journal kept from before a crash.
    pub fn open_consumers(&self) {
        match &self.backend {
            Backend::Amqp(a) => a.open(),
            Backend::Memory(m) => m.resume(),
        }
    }

    /// Stops taking: consumers end (a shared bus keeps what is queued for others).
    pub fn close(&self) {
        match &self.backend {
            Backend::Memory(m) => m.close(),
            Backend::Amqp(a) => a.close(),
        }
    }

    pub fn events(&self) -> &Arc<Events> {
        &self.events
    }

    /// The store, when the config has one.
    pub fn store(&self) -> Option<&Arc<Store>> {
        self.tap.as_ref().map(|t| &t.store)
    }

    /// Keeps a failure: in the store when there is one (listed and replayed from there), and
    /// as the bus keeps failures (the memory bus's ring, RabbitMQ's `<name>.failures`).
    pub fn record_failure(&self, failure: Failure) {
        if let Some(m) = self.events.metrics.find(&failure.component) {
            m.failed(&failure.reason);
        }
        self.events.emit(HostEvent::FailureDeadLettered {
            component: failure.component.clone(),
            message_id: failure.payload.message_id().to_owned(),
            reason: failure.reason.clone(),
        });
        if let Some(tap) = &self.tap {
            let store = tap.store.clone();
            let letter = failure.dead_letter();
            tokio::spawn(async move {
                let id = letter.failure_id.clone();
                if let Err(e) = store
                    .with_db(move |db| crate::store::failures::insert(db, &letter))
                    .await
                {
                    tracing::error!("failure {id} not kept in the store: {e}");
                }
            });
        }
        match &self.backend {
            Backend::Memory(m) => m.record_failure(failure),
            Backend::Amqp(a) => a.record_failure(failure),
        }
    }
}

/// The `transport_metadata` key where a message names the reply queue of the transport
/// instance that holds its conversation.
pub const REPLY_QUEUE: &str = "reply_queue";

/// The reply queue a reply published on `key` goes to: the one its message names, when it is
/// one of `key`'s.
fn reply_queue(payload: &Payload, key: &str) -> Option<String> {
    let Payload::Message(m) = payload else { return None };
    if m.in_reply_to.is_none() || !m.transport_metadata.as_str().contains(REPLY_QUEUE) {
        return None;
    }
    match m.transport_metadata.get(REPLY_QUEUE) {
        Some(serde_json::Value::String(q)) if amqp::is_reply_queue_of(&q, key) => Some(q),
        _ => None,
    }
}
