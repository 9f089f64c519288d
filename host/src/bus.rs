//! The bus: one queue per routing key (`<endpoint>.<flow>`), competing consumers, and a count of
//! work in flight so that shutdown can wait until every message has been handled. `memory` is
//! in-process, with bounded queues and backpressure; `amqp` is RabbitMQ (see `amqp.rs`).

use ruvuma_plugin_api::message::Payload;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// How many failure records the memory bus keeps per process (every one is also logged).
const FAILURES_KEPT: usize = 1000;

/// A message or event that could not be handled, with the reason.
#[derive(Debug, Clone)]
pub struct Failure {
    pub routing_key: String,
    pub payload: Payload,
    pub reason: String,
}

struct Queue {
    tx: async_channel::Sender<Payload>,
    rx: async_channel::Receiver<Payload>,
}

pub struct MemoryBus {
    capacity: usize,
    queues: Mutex<HashMap<String, Queue>>,
    /// Published and not yet finished by a consumer.
    in_flight: Arc<AtomicI64>,
    failures: Mutex<VecDeque<Failure>>,
}

/// Publishes on one routing key of the memory bus.
#[derive(Clone)]
pub struct MemoryPublisher {
    key: Arc<str>,
    tx: async_channel::Sender<Payload>,
    in_flight: Arc<AtomicI64>,
}

impl MemoryPublisher {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Waits while the queue is full.
    pub async fn publish(&self, payload: Payload) -> Result<(), String> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        match self.tx.send(payload).await {
            Ok(()) => Ok(()),
            Err(_) => {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                Err(format!("the bus is shut down; {} no longer takes messages", self.key))
            }
        }
    }
}

/// Takes from one routing key of the memory bus; several consumers of one key share its messages.
pub struct MemoryConsumer {
    key: Arc<str>,
    rx: async_channel::Receiver<Payload>,
    in_flight: Arc<AtomicI64>,
}

impl MemoryConsumer {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The next delivery; `None` once the bus is closed and the queue empty.
    pub async fn recv(&self) -> Option<Payload> {
        self.rx.recv().await.ok()
    }

    /// Marks a delivery as completely handled (its own publishes are already counted).
    pub fn finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl MemoryBus {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            queues: Mutex::default(),
            in_flight: Arc::default(),
            failures: Mutex::default(),
        }
    }

    fn with_queue<R>(&self, key: &str, f: impl FnOnce(&Queue) -> R) -> R {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let q = queues.entry(key.to_owned()).or_insert_with(|| {
            let (tx, rx) = async_channel::bounded(self.capacity);
            Queue { tx, rx }
        });
        f(q)
    }

    pub fn publisher(&self, key: &str) -> MemoryPublisher {
        let tx = self.with_queue(key, |q| q.tx.clone());
        MemoryPublisher {
            key: key.into(),
            tx,
            in_flight: self.in_flight.clone(),
        }
    }

    pub fn consumer(&self, key: &str) -> MemoryConsumer {
        let rx = self.with_queue(key, |q| q.rx.clone());
        MemoryConsumer {
            key: key.into(),
            rx,
            in_flight: self.in_flight.clone(),
        }
    }

    /// Messages published and not yet completely handled.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Closes every queue: publishers fail, consumers drain what is queued and then end.
    pub fn close(&self) {
        let queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        for q in queues.values() {
            q.tx.close();
        }
    }

    /// Keeps a failure record (`<name>.failures`); the oldest go once there are too many.
    pub fn record_failure(&self, failure: Failure) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= FAILURES_KEPT {
            failures.pop_front();
        }
        failures.push_back(failure);
    }

    pub fn failures(&self) -> Vec<Failure> {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// The bus a host runs on.
pub enum Bus {
    Memory(MemoryBus),
    Amqp(crate::amqp::AmqpBus),
}

/// Publishes on one routing key.
#[derive(Clone)]
pub enum Publisher {
    Memory(MemoryPublisher),
    Amqp(crate::amqp::AmqpPublisher),
}

/// Takes from one routing key.
pub enum Consumer {
    Memory(MemoryConsumer),
    Amqp(Box<crate::amqp::AmqpConsumer>),
}

impl Bus {
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

    /// Consumers may start: the whole host is ready.
    pub fn open(&self) {
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
    pub async fn publish(&self, payload: Payload) -> Result<(), String> {
        match self {
            Self::Memory(m) => m.publish(payload).await,
            Self::Amqp(a) => a.publish(payload).await,
        }
    }

    /// A status report (Vumi JSON): logged, and on RabbitMQ published for whoever watches.
    pub async fn publish_status(&self, json: String) -> Result<(), String> {
        let key = match self {
            Self::Memory(m) => m.key(),
            Self::Amqp(a) => a.key(),
        };
        tracing::info!(target: "ruvuma::status", "{key} {json}");
        match self {
            Self::Memory(_) => Ok(()),
            Self::Amqp(a) => a.publish_status(json).await,
        }
    }
}

impl Consumer {
    /// The next delivery; `None` once the bus is closed.
    pub async fn recv(&self) -> Option<Payload> {
        match self {
            Self::Memory(m) => m.recv().await,
            Self::Amqp(a) => a.recv().await,
        }
    }

    /// The last delivery is completely handled (on AMQP: acked now).
    pub fn finished(&self) {
        match self {
            Self::Memory(m) => m.finished(),
            Self::Amqp(a) => a.finished(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruvuma_plugin_api::Message;

    fn msg(n: usize) -> Payload {
        Message::new("a", "b", Some(&n.to_string()), "t", "test").into()
    }

    #[tokio::test]
    async fn competing_consumers_share_a_queue_and_count_work() {
        let bus = MemoryBus::new(4);
        let p = bus.publisher("t.inbound");
        let c1 = bus.consumer("t.inbound");
        let c2 = bus.consumer("t.inbound");
        p.publish(msg(1)).await.unwrap();
        p.publish(msg(2)).await.unwrap();
        assert_eq!(bus.in_flight(), 2);
        assert!(c1.recv().await.is_some());
        assert!(c2.recv().await.is_some());
        c1.finished();
        c2.finished();
        assert_eq!(bus.in_flight(), 0);
    }

    #[tokio::test]
    async fn full_queue_applies_backpressure() {
        let bus = MemoryBus::new(1);
        let p = bus.publisher("k");
        p.publish(msg(1)).await.unwrap();
        let blocked = tokio::time::timeout(std::time::Duration::from_millis(50), p.publish(msg(2))).await;
        assert!(blocked.is_err(), "second publish must wait for room");
        let c = bus.consumer("k");
        c.recv().await.unwrap();
        p.publish(msg(3)).await.unwrap();
    }

    #[tokio::test]
    async fn close_ends_consumers_after_draining() {
        let bus = MemoryBus::new(4);
        let p = bus.publisher("k");
        let c = bus.consumer("k");
        p.publish(msg(1)).await.unwrap();
        bus.close();
        assert!(p.publish(msg(2)).await.is_err());
        assert!(c.recv().await.is_some());
        assert!(c.recv().await.is_none());
    }
}
