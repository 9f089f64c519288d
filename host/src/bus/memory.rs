//! The in-process bus: a bounded queue per routing key with backpressure, competing consumers,
//! and a count of what is published and not yet completely handled.

use super::{BusError, Failure, Received, Settle};
use ruvuma_plugin_api::message::Payload;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// How many failure records the memory bus keeps per process (every one is also logged).
const FAILURES_KEPT: usize = 1000;

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
    pub async fn publish(&self, payload: Payload) -> Result<(), BusError> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        match self.tx.send(payload).await {
            Ok(()) => Ok(()),
            Err(_) => {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                Err(BusError::Closed {
                    key: self.key.to_string(),
                })
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
    pub async fn recv(&self) -> Option<Received<'_>> {
        let payload = self.rx.recv().await.ok()?;
        let ticket = Ticket {
            in_flight: &self.in_flight,
            key: &self.key,
        };
        Some(Received::new(payload, Settle::Memory(ticket)))
    }
}

/// Counts a delivery out of the in-flight total, once.
pub(super) struct Ticket<'c> {
    in_flight: &'c AtomicI64,
    key: &'c str,
}

impl Ticket<'_> {
    /// Completely handled (its own publishes are already counted).
    pub(super) fn done(self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Dropped unhandled: an in-process queue cannot take it back, so say so.
    pub(super) fn abandoned(self) {
        tracing::warn!("{}: a delivery was dropped before it was handled", self.key);
        self.done();
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
        let r1 = c1.recv().await.unwrap();
        let r2 = c2.recv().await.unwrap();
        r1.ack();
        assert_eq!(bus.in_flight(), 1);
        drop(r2);
        assert_eq!(bus.in_flight(), 0, "a dropped delivery is settled too");
    }

    #[tokio::test]
    async fn full_queue_applies_backpressure() {
        let bus = MemoryBus::new(1);
        let p = bus.publisher("k");
        p.publish(msg(1)).await.unwrap();
        let blocked = tokio::time::timeout(std::time::Duration::from_millis(50), p.publish(msg(2))).await;
        assert!(blocked.is_err(), "second publish must wait for room");
        let c = bus.consumer("k");
        c.recv().await.unwrap().ack();
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
        c.recv().await.unwrap().ack();
        assert!(c.recv().await.is_none());
    }
}
