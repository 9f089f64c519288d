//! The bus: one queue per routing key (`<endpoint>.<flow>`), competing consumers, and a count of
//! work in flight so that shutdown can wait until every message has been handled. `memory` is
//! in-process, with bounded queues and backpressure; `amqp` is RabbitMQ.
//!
//! What a consumer takes is a [`Received`]: a guard that is settled exactly once. `ack()` says it
//! was handled; dropping it unsettled (a handler that panicked, a task that was cancelled) gives
//! it back — requeued on RabbitMQ — so no delivery is forgotten and the in-flight count cannot
//! drift.

mod amqp;
mod memory;

pub use amqp::AmqpBus;
pub use memory::MemoryBus;

use crate::config::BusSpec;
use crate::text::{escape_control, redact_url};
use ruvuma_plugin_api::message::Payload;
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
}

/// A message or event that could not be handled, with the reason.
#[derive(Debug, Clone)]
pub struct Failure {
    pub routing_key: String,
    pub payload: Payload,
    pub reason: String,
}

/// The bus a host runs on.
pub enum Bus {
    Memory(MemoryBus),
    Amqp(AmqpBus),
}

/// Publishes on one routing key.
#[derive(Clone)]
pub enum Publisher {
    Memory(memory::MemoryPublisher),
    Amqp(amqp::AmqpPublisher),
}

/// Takes from one routing key.
pub enum Consumer {
    Memory(memory::MemoryConsumer),
    Amqp(Box<amqp::AmqpConsumer>),
}

/// One delivery taken from a queue; see the module docs.
#[must_use = "a delivery is settled by ack(), or given back when dropped"]
pub struct Received<'c> {
    payload: Payload,
    settle: Settlement<'c>,
}

/// The settling half of a delivery: `ack()` once handled; dropped unsettled, the delivery is
/// given back (requeued on RabbitMQ, counted out and logged in memory).
#[must_use = "a delivery is settled by ack(), or given back when dropped"]
pub struct Settlement<'c>(Option<Settle<'c>>);

/// How a delivery is settled; a memory one borrows its consumer's count.
enum Settle<'c> {
    Memory(memory::Ticket<'c>),
    Amqp(amqp::Ticket),
}

impl<'c> Received<'c> {
    fn new(payload: Payload, settle: Settle<'c>) -> Self {
        Self {
            payload,
            settle: Settlement(Some(settle)),
        }
    }

    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The payload to handle, and the settlement to ack once it is handled.
    pub fn into_parts(self) -> (Payload, Settlement<'c>) {
        (self.payload, self.settle)
    }

    /// Handled (or its failure recorded): the queue may forget it.
    pub fn ack(self) {
        self.settle.ack()
    }
}

impl Settlement<'_> {
    pub fn ack(mut self) {
        match self.0.take() {
            Some(Settle::Memory(t)) => t.done(),
            Some(Settle::Amqp(t)) => t.ack(),
            None => {}
        }
    }
}

impl Drop for Settlement<'_> {
    fn drop(&mut self) {
        match self.0.take() {
            Some(Settle::Memory(t)) => t.abandoned(),
            Some(Settle::Amqp(t)) => t.requeue(),
            None => {}
        }
    }
}

impl Bus {
    /// Connects to the bus a config names.
    pub async fn open(spec: &BusSpec) -> Result<Arc<Self>, BusError> {
        Ok(Arc::new(match spec {
            BusSpec::Memory { capacity } => Bus::Memory(MemoryBus::new(*capacity)),
            BusSpec::Amqp {
                url,
                exchange,
                prefetch,
            } => Bus::Amqp(AmqpBus::connect(url, exchange, *prefetch).await?),
        }))
    }

    pub fn publisher(&self, key: &str) -> Publisher {
        match self {
            Self::Memory(m) => Publisher::Memory(m.publisher(key)),
            Self::Amqp(a) => Publisher::Amqp(a.publisher(key)),
        }
    }

    pub fn consumer(&self, key: &str) -> Consumer {
        match self {
            Self::Memory(m) => Consumer::Memory(m.consumer(key)),
            Self::Amqp(a) => Consumer::Amqp(Box::new(a.consumer(key))),
        }
    }

    /// Messages taken (or published) here and not yet completely handled.
    pub fn in_flight(&self) -> i64 {
        match self {
            Self::Memory(m) => m.in_flight(),
            Self::Amqp(a) => a.in_flight(),
        }
    }

    /// Whether other processes share it (endpoints this host does not define may live there).
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Amqp(_))
    }

    /// Consumers may start: the whole host is ready.
    pub fn open_consumers(&self) {
        if let Self::Amqp(a) = self {
            a.open();
        }
    }

    /// Stops taking: consumers end (a shared bus keeps what is queued for others).
    pub fn close(&self) {
        match self {
            Self::Memory(m) => m.close(),
            Self::Amqp(a) => a.close(),
        }
    }

    pub fn record_failure(&self, failure: Failure) {
        match self {
            Self::Memory(m) => m.record_failure(failure),
            Self::Amqp(a) => a.record_failure(failure),
        }
    }
}

impl Publisher {
    pub fn key(&self) -> &str {
        match self {
            Self::Memory(m) => m.key(),
            Self::Amqp(a) => a.key(),
        }
    }

    /// Waits while the queue is full (memory) or until the broker confirms (amqp).
    pub async fn publish(&self, payload: Payload) -> Result<(), BusError> {
        match self {
            Self::Memory(m) => m.publish(payload).await,
            Self::Amqp(a) => a.publish(payload).await,
        }
    }

    /// A status report (Vumi JSON): logged, and on RabbitMQ published for whoever watches.
    pub async fn publish_status(&self, json: String) -> Result<(), BusError> {
        tracing::info!(target: "ruvuma::status", "{} {json}", self.key());
        match self {
            Self::Memory(_) => Ok(()),
            Self::Amqp(a) => a.publish_status(json).await,
        }
    }

    /// Whether publishing never needs the host's runtime (the memory bus).
    pub fn is_in_process(&self) -> bool {
        matches!(self, Self::Memory(_))
    }
}

impl Consumer {
    /// The next delivery; `None` once the bus is closed.
    pub async fn recv(&self) -> Option<Received<'_>> {
        match self {
            Self::Memory(m) => m.recv().await,
            Self::Amqp(a) => a.recv().await,
        }
    }
}
