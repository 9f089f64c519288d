//! The in-process bus: a bounded queue per routing key with backpressure, competing consumers,
//! and a count of what is published and not yet completely handled.
//!
//! With a store, every message put on a queue is journaled first and forgotten once a consumer
//! has handled it, so a crash loses nothing that was accepted: at the next start, what the
//! journal still holds is handed out again (`resume`). A handler's own publishes are journaled
//! before its delivery is forgotten, and the store commits in order, so after a crash either the
//! delivery or what it led to is still there (at least once, never lost).

use super::{BusError, Failure, Received, Settle};
use crate::store::{Kept, Store};
use ruvuma_plugin_api::message::Payload;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How many failure records the memory bus keeps per process (every one is also logged).
const FAILURES_KEPT: usize = 1000;

/// What a queue holds: a message or event, and its journal entry (0: not journaled).
pub(super) struct Entry {
    seq: i64,
    payload: Payload,
    /// What the journal and the store keep of it, written once at publish.
    kept: Option<Kept>,
    /// When it was queued ([`now_us`]).
    queued_us: u64,
}

impl Entry {
    /// One the journal kept from before the last stop (its store record was written then).
    pub(super) fn recovered(seq: i64, payload: Payload) -> Self {
        Self {
            seq,
            payload,
            kept: None,
            queued_us: now_us(),
        }
    }
}

/// Microseconds on the system's coarse monotonic clock (a few milliseconds of resolution, a
/// fraction of the precise clock's cost): queue ages need no more, and it is read twice a hop.
fn now_us() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for the call to fill; CLOCK_MONOTONIC_COARSE exists on
    // every Linux this host runs on, and on failure `t` stays zero (an age of zero).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut t) };
    (t.tv_sec as u64).saturating_mul(1_000_000) + (t.tv_nsec as u64) / 1000
}

/// When the last message taken from a queue was queued (at first, when the queue was made):
/// the message at the head was queued after it, so it has waited at most the time since.
/// Taking reads no clock.
struct Clock {
    last_taken_queued_us: AtomicU64,
}

impl Clock {
    fn new() -> Self {
        Self {
            last_taken_queued_us: AtomicU64::new(now_us()),
        }
    }

    fn taken(&self, queued_us: u64) {
        self.last_taken_queued_us.store(queued_us, Ordering::Relaxed);
    }

    /// The most the message at the head can have waited, in seconds.
    fn oldest(&self) -> f64 {
        let queued = self.last_taken_queued_us.load(Ordering::Relaxed);
        now_us().saturating_sub(queued) as f64 / 1e6
    }
}

/// A queue's depth and how long its head may have waited.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Depth {
    pub key: String,
    pub depth: u64,
    /// Seconds; an upper bound, 0 when the queue is empty; none where the bus cannot tell.
    pub oldest_age: Option<f64>,
}

struct Queue {
    tx: async_channel::Sender<Entry>,
    rx: async_channel::Receiver<Entry>,
    clock: Arc<Clock>,
}

pub struct MemoryBus {
    capacity: usize,
    queues: Mutex<HashMap<String, Queue>>,
    /// Keys someone consumes: the journal hands out only what will be taken.
    consumed: Mutex<HashSet<String>>,
    /// Published and not yet finished by a consumer.
    in_flight: Arc<AtomicI64>,
    failures: Mutex<VecDeque<Failure>>,
    journal: Option<Arc<Store>>,
}

/// Publishes on one routing key of the memory bus.
#[derive(Clone)]
pub struct MemoryPublisher {
    key: Arc<str>,
    tx: async_channel::Sender<Entry>,
    in_flight: Arc<AtomicI64>,
    journal: Option<Arc<Store>>,
}

impl MemoryPublisher {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Queues `payload` at once when that needs no wait: no journal and room in the queue.
    /// `Err` hands it back for [`MemoryPublisher::publish`].
    #[inline]
    pub fn try_publish(&self, payload: Payload) -> Result<Result<(), BusError>, Payload> {
        if self.journal.is_some() {
            return Err(payload);
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let entry = Entry {
            seq: 0,
            payload,
            kept: None,
            queued_us: now_us(),
        };
        match self.tx.try_send(entry) {
            Ok(()) => Ok(Ok(())),
            Err(e) => {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                match e {
                    async_channel::TrySendError::Full(entry) => Err(entry.payload),
                    async_channel::TrySendError::Closed(_) => Ok(Err(BusError::Closed {
                        key: self.key.to_string(),
                    })),
                }
            }
        }
    }

    /// Waits while the queue is full; journaled, and with `durable`, until the journal has it.
    /// `keep` sees what the journal keeps of it (the store's record), once it is journaled,
    /// before it is queued.
    pub async fn publish(&self, payload: Payload, durable: bool, keep: impl FnOnce(&Kept)) -> Result<(), BusError> {
        let (seq, committed, kept) = match &self.journal {
            Some(j) => {
                let kept = Kept::of(&payload);
                let entry = j.journal(&self.key, &kept, durable).await;
                keep(&kept);
                (entry.seq, entry.committed, Some(kept))
            }
            None => (0, None, None),
        };
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let entry = Entry {
            seq,
            payload,
            kept,
            queued_us: now_us(),
        };
        if self.tx.send(entry).await.is_err() {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            // A journaled one stays journaled: it is handed out after the next start.
            return Err(BusError::Closed {
                key: self.key.to_string(),
            });
        }
        if let Some(c) = committed {
            c.await.map_err(|_| BusError::Closed {
                key: self.key.to_string(),
            })?;
        }
        Ok(())
    }
}

/// Takes from one routing key of the memory bus; several consumers of one key share its messages.
pub struct MemoryConsumer {
    key: Arc<str>,
    rx: async_channel::Receiver<Entry>,
    clock: Arc<Clock>,
    in_flight: Arc<AtomicI64>,
    journal: Option<Arc<Store>>,
}

impl MemoryConsumer {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The next delivery; `None` once the bus is closed and the queue empty.
    pub async fn recv(&self) -> Option<Received<'_>> {
        let entry = self.rx.recv().await.ok()?;
        Some(self.received(entry))
    }

    /// The delivery at the head of the queue, if there is one now.
    #[inline]
    pub fn try_recv(&self) -> Option<Received<'_>> {
        let entry = self.rx.try_recv().ok()?;
        Some(self.received(entry))
    }

    #[inline]
    fn received(&self, entry: Entry) -> Received<'_> {
        let Entry {
            seq,
            payload,
            kept,
            queued_us,
        } = entry;
        self.clock.taken(queued_us);
        let ticket = Ticket { consumer: self, seq };
        Received::new(payload, Settle::Memory(ticket)).with_kept(kept)
    }
}

/// Counts a delivery out of the in-flight total, once, and forgets its journal entry (`seq`,
/// when it has one). Two words: a delivery is moved on every hop.
pub(super) struct Ticket<'c> {
    consumer: &'c MemoryConsumer,
    seq: i64,
}

impl Ticket<'_> {
    fn journal(&self) -> Option<&Store> {
        self.consumer.journal.as_deref().filter(|_| self.seq > 0)
    }

    /// Completely handled (its own publishes are already counted, and journaled).
    #[inline]
    pub(super) fn done(self) {
        if let Some(journal) = self.journal() {
            journal.forget(self.seq);
        }
        self.consumer.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Dropped unhandled: an in-process queue cannot take it back, so say so. A journaled one
    /// stays in the journal and is handed out again after the next start.
    pub(super) fn abandoned(self) {
        let key = &self.consumer.key;
        match self.journal() {
            Some(_) => tracing::warn!(
                "{key}: a delivery was dropped before it was handled; the journal keeps it for the next start"
            ),
            None => tracing::warn!("{key}: a delivery was dropped before it was handled"),
        }
        self.consumer.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl MemoryBus {
    /// A bus of queues of `capacity`; with a store, journaled in it.
    pub fn new(capacity: usize, journal: Option<Arc<Store>>) -> Self {
        Self {
            capacity: capacity.max(1),
            queues: Mutex::default(),
            consumed: Mutex::default(),
            in_flight: Arc::default(),
            failures: Mutex::default(),
            journal,
        }
    }

    fn with_queue<R>(&self, key: &str, f: impl FnOnce(&Queue) -> R) -> R {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let q = queues.entry(key.to_owned()).or_insert_with(|| {
            let (tx, rx) = async_channel::bounded(self.capacity);
            Queue {
                tx,
                rx,
                clock: Arc::new(Clock::new()),
            }
        });
        f(q)
    }

    pub fn publisher(&self, key: &str) -> MemoryPublisher {
        let tx = self.with_queue(key, |q| q.tx.clone());
        MemoryPublisher {
            key: key.into(),
            tx,
            in_flight: self.in_flight.clone(),
            journal: self.journal.clone(),
        }
    }

    pub fn consumer(&self, key: &str) -> MemoryConsumer {
        let (rx, clock) = self.with_queue(key, |q| (q.rx.clone(), q.clock.clone()));
        self.consumed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned());
        MemoryConsumer {
            key: key.into(),
            rx,
            clock,
            in_flight: self.in_flight.clone(),
            journal: self.journal.clone(),
        }
    }

    /// Hands out again, in the background, what the journal kept from before the last stop:
    /// to the queues someone consumes; the rest stays in the journal, and is named.
    pub fn resume(&self) {
        let Some(journal) = self.journal.clone() else { return };
        let consumed: Vec<String> = self
            .consumed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect();
        let senders = consumed
            .into_iter()
            .map(|k| {
                let tx = self.with_queue(&k, |q| q.tx.clone());
                (k, tx)
            })
            .collect();
        tokio::spawn(super::replay::replay(journal, senders, self.in_flight.clone()));
    }

    /// Every queue's depth, by routing key.
    pub fn depths(&self) -> Vec<Depth> {
        let queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<Depth> = queues
            .iter()
            .map(|(key, q)| {
                let depth = q.rx.len() as u64;
                let oldest_age = Some(if depth == 0 { 0.0 } else { q.clock.oldest() });
                Depth {
                    key: key.clone(),
                    depth,
                    oldest_age,
                }
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
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

    /// Takes one failure out of the ring (to replay it, or forget it).
    pub fn take_failure(&self, id: &str) -> Option<Failure> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let at = failures.iter().position(|f| f.id == id)?;
        failures.remove(at)
    }

    /// Forgets every failure (of one component, when given); how many.
    pub fn purge_failures(&self, component: Option<&str>) -> usize {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let before = failures.len();
        failures.retain(|f| component.is_some_and(|c| c != f.component));
        before - failures.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruvuma_plugin_api::{vumi_json, Message};

    fn msg(n: usize) -> Payload {
        Message::new("a", "b", Some(&n.to_string()), "t", "test").into()
    }

    #[tokio::test]
    async fn competing_consumers_share_a_queue_and_count_work() {
        let bus = MemoryBus::new(4, None);
        let p = bus.publisher("t.inbound");
        let c1 = bus.consumer("t.inbound");
        let c2 = bus.consumer("t.inbound");
        p.publish(msg(1), true, |_| {}).await.unwrap();
        p.publish(msg(2), true, |_| {}).await.unwrap();
        assert_eq!(bus.in_flight(), 2);
        let r1 = c1.recv().await.unwrap();
        let r2 = c2.recv().await.unwrap();
        r1.ack();
        assert_eq!(bus.in_flight(), 1);
        drop(r2);
        assert_eq!(bus.in_flight(), 0, "a dropped delivery is settled too");
    }

    #[tokio::test]
    async fn a_journaled_outbound_message_with_a_retry_scheduled_is_left_to_the_schedule() {
        use crate::config::{Retention, StoreBackend, StoreSpec};
        use crate::store::retries::{self, Scheduled};
        let dir = std::env::temp_dir().join(format!("ruvuma-replay-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let spec = StoreSpec {
            backend: StoreBackend::Sqlite {
                path: dir.join("store.db"),
            },
            retention: Retention::default(),
            batch: None,
            batches: Default::default(),
            buffer: 100,
            journal: None,
        };
        let (nacked, other) = (msg(1), msg(2));
        let store = Store::open(&spec, true).unwrap();
        let bus = MemoryBus::new(8, Some(store.clone()));
        for m in [&nacked, &other] {
            bus.publisher("sms.outbound")
                .publish(m.clone(), true, |_| {})
                .await
                .unwrap();
        }
        let row = Scheduled {
            message_id: nacked.message_id().to_owned(),
            transport: "sms".into(),
            attempts: 1,
            first_at: 0,
            due_at: 0,
            reason: "ESME_RSYSERR".into(),
            body: vumi_json::encode(&nacked),
        };
        store.with_db(move |db| retries::put(db, &row)).await.unwrap();
        store.close().await;
        drop(bus);

        let store = Store::open(&spec, true).unwrap();
        let bus = MemoryBus::new(8, Some(store.clone()));
        let c = bus.consumer("sms.outbound");
        bus.resume();
        let got = c.recv().await.unwrap();
        assert_eq!(
            got.payload().message_id(),
            other.message_id(),
            "only the one not scheduled"
        );
        got.ack();
        let more = tokio::time::timeout(std::time::Duration::from_millis(200), c.recv()).await;
        assert!(more.is_err(), "the scheduled one is not handed out a second time");
        store.close().await;
        let store = Store::open(&spec, true).unwrap();
        assert!(store.take_recovered().is_empty(), "and it is gone from the journal");
        store.close().await;
    }

    #[tokio::test]
    async fn full_queue_applies_backpressure() {
        let bus = MemoryBus::new(1, None);
        let p = bus.publisher("k");
        p.publish(msg(1), true, |_| {}).await.unwrap();
        let blocked = tokio::time::timeout(std::time::Duration::from_millis(50), p.publish(msg(2), true, |_| {})).await;
        assert!(blocked.is_err(), "second publish must wait for room");
        let c = bus.consumer("k");
        c.recv().await.unwrap().ack();
        p.publish(msg(3), true, |_| {}).await.unwrap();
    }

    #[tokio::test]
    async fn try_publish_queues_while_there_is_room_and_hands_back_the_rest() {
        let bus = MemoryBus::new(2, None);
        let p = bus.publisher("k");
        assert!(matches!(p.try_publish(msg(1)), Ok(Ok(()))));
        assert!(matches!(p.try_publish(msg(2)), Ok(Ok(()))));
        let handed_back = match p.try_publish(msg(3)) {
            Err(payload) => payload,
            Ok(_) => panic!("a full queue must hand the payload back"),
        };
        assert_eq!(content(&handed_back), "3", "the payload comes back whole");
        assert_eq!(bus.in_flight(), 2, "what was handed back is not counted");
        let c = bus.consumer("k");
        let first = c.recv().await.unwrap();
        assert_eq!(content(first.payload()), "1");
        first.ack();
        assert!(matches!(p.try_publish(handed_back), Ok(Ok(()))));
        bus.close();
        assert!(matches!(p.try_publish(msg(4)), Ok(Err(BusError::Closed { .. }))));
        assert_eq!(bus.in_flight(), 2);
    }

    fn content(p: &Payload) -> String {
        match p {
            Payload::Message(m) => m.content().unwrap_or_default().to_owned(),
            Payload::Event(_) => String::new(),
        }
    }

    #[tokio::test]
    async fn close_ends_consumers_after_draining() {
        let bus = MemoryBus::new(4, None);
        let p = bus.publisher("k");
        let c = bus.consumer("k");
        p.publish(msg(1), true, |_| {}).await.unwrap();
        bus.close();
        assert!(p.publish(msg(2), true, |_| {}).await.is_err());
        c.recv().await.unwrap().ack();
        assert!(c.recv().await.is_none());
    }
}
