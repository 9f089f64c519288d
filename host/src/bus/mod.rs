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
mod failure;
mod memory;
mod replay;
mod watch;

pub use amqp::{is_reply_queue_of, AmqpBus, KeptFailure};
pub use failure::Failure;
pub use memory::{Depth, MemoryBus};
use watch::Watch;

use crate::config::BusSpec;
use crate::events::{Events, HostEvent, Meter, Tally};
use crate::store::{Kept, Store};
use crate::text::{escape_control, redact_url};
use ruvuma_plugin_api::message::Payload;
use ruvuma_plugin_api::room::Room;
use ruvuma_plugin_api::{Flow, Timestamp};
use std::collections::HashSet;
use std::pin::Pin;
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

/// Publishes on one routing key.
#[derive(Clone)]
pub struct Publisher {
    backend: PublishTo,
    recording: Option<Recording>,
    watch: Option<Watch>,
    /// The reply queue a transport instance names in each message it publishes.
    stamp: Option<Arc<str>>,
}

#[derive(Clone)]
enum PublishTo {
    Memory(memory::MemoryPublisher),
    Amqp(amqp::AmqpPublisher),
}

/// A payload [`Publisher::try_publish`] could not queue at once, for [`Publisher::finish`]:
/// counted already, and whether it is published or forwarded.
pub struct Unqueued(Payload, bool);

/// What [`Consumer::take_now`] found.
enum Now<'c> {
    Taken(Received<'c>),
    Stopped,
    /// Nothing queued, or a delivery to record first: [`Consumer::recv`].
    Wait,
}

/// What a consume loop does with each delivery it takes ([`Consumer::serve`]).
pub trait Handler: Send + Sync {
    /// Handles one payload; the component's future may use `room`.
    fn handle<'a>(
        &'a self,
        payload: Payload,
        room: Pin<&'a mut Room>,
    ) -> impl std::future::Future<Output = ()> + Send + 'a;
}

/// Takes from one routing key.
pub struct Consumer {
    backend: TakeFrom,
    recording: Option<Recording>,
    watch: Option<Watch>,
    /// Turns true when the component that consumes stops (a reload): it takes no more, and
    /// what is queued stays for its successor.
    stop: Option<tokio::sync::watch::Receiver<bool>>,
}

/// One RabbitMQ subscription shared by `loops` consume loops.
fn shared(mut consumer: amqp::AmqpConsumer, loops: usize) -> Vec<TakeFrom> {
    consumer.hold_at_least(loops);
    let consumer = Arc::new(consumer);
    (0..loops.max(1)).map(|_| TakeFrom::Amqp(consumer.clone())).collect()
}

enum TakeFrom {
    Memory(memory::MemoryConsumer),
    Amqp(Arc<amqp::AmqpConsumer>),
}

/// One delivery taken from a queue; see the module docs.
#[must_use = "a delivery is settled by ack(), or given back when dropped"]
pub struct Received<'c> {
    payload: Payload,
    settle: Settlement<'c>,
    /// What the store keeps of it, when the bus made that already (the memory bus's journal).
    kept: Option<Kept>,
}

/// The settling half of a delivery: `ack()` once handled; dropped unsettled, the delivery is
/// given back (requeued on RabbitMQ, counted out and logged in memory).
#[must_use = "a delivery is settled by ack(), or given back when dropped"]
pub struct Settlement<'c>(Option<Settle<'c>>);

/// How a delivery is settled; a memory one borrows its consumer's count. A broker's ticket is
/// boxed, so that a delivery stays small where it is moved on every hop in process.
enum Settle<'c> {
    Memory(memory::Ticket<'c>),
    Amqp(Box<amqp::Ticket>),
}

impl<'c> Received<'c> {
    fn new(payload: Payload, settle: Settle<'c>) -> Self {
        Self {
            payload,
            settle: Settlement(Some(settle)),
            kept: None,
        }
    }

    fn with_kept(mut self, kept: Option<Kept>) -> Self {
        self.kept = kept;
        self
    }

    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The payload to handle, and the settlement to ack once it is handled.
    #[inline]
    pub fn into_parts(self) -> (Payload, Settlement<'c>) {
        (self.payload, self.settle)
    }

    /// Handled (or its failure recorded): the queue may forget it.
    #[inline]
    pub fn ack(self) {
        self.settle.ack()
    }
}

impl Settlement<'_> {
    #[inline]
    pub fn ack(mut self) {
        match self.0.take() {
            Some(Settle::Memory(t)) => t.done(),
            Some(Settle::Amqp(t)) => t.ack(),
            None => {}
        }
    }
}

impl<'c> Settlement<'c> {
    /// The broker's ticket, when it is a RabbitMQ delivery.
    fn into_amqp(mut self) -> Result<amqp::Ticket, Self> {
        match self.0.take() {
            Some(Settle::Amqp(t)) => Ok(*t),
            other => {
                self.0 = other;
                Err(self)
            }
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

impl Publisher {
    /// Names `reply_queue` in the `transport_metadata` of each message it publishes.
    pub fn stamping(mut self, reply_queue: &str) -> Self {
        self.stamp = Some(reply_queue.into());
        self
    }

    /// Counts what it publishes on `meter`; with `events`, each event's outcome is told to the
    /// observers that want message events.
    pub fn metered(mut self, meter: Arc<Meter>, tally: Tally, events: Option<&Arc<Events>>) -> Self {
        let events = events
            .filter(|e| tally == Tally::Events && e.wants_message_events())
            .cloned();
        self.watch = Some(Watch { meter, tally, events });
        self
    }

    pub fn key(&self) -> &str {
        match &self.backend {
            PublishTo::Memory(m) => m.key(),
            PublishTo::Amqp(a) => a.key(),
        }
    }

    /// Waits while the queue is full (memory) or until the broker confirms (amqp). On a
    /// journaled memory bus it returns once the message is committed: whoever answers a peer
    /// after it has answered for something that survives a crash.
    pub async fn publish(&self, payload: Payload) -> Result<(), BusError> {
        self.send(payload, true).await
    }

    /// Publishes what the host made of a delivery it is handling (a router's decision, a nack
    /// for a message that could not be sent). The journal keeps it without the wait: the
    /// delivery it came from is forgotten only after it, so one of the two survives a crash.
    pub async fn forward(&self, payload: Payload) -> Result<(), BusError> {
        self.send(payload, false).await
    }

    /// [`Publisher::publish`] at once when it needs no wait (the memory bus without a journal,
    /// with room in the queue). Otherwise `Err`: the payload, counted already, for
    /// [`Publisher::finish`].
    #[inline]
    pub fn try_publish(&self, payload: Payload) -> Result<Result<(), BusError>, Unqueued> {
        self.try_send(payload, true)
    }

    /// [`Publisher::forward`] at once when it needs no wait, as [`Publisher::try_publish`].
    #[inline]
    pub fn try_forward(&self, payload: Payload) -> Result<Result<(), BusError>, Unqueued> {
        self.try_send(payload, false)
    }

    #[inline]
    fn try_send(&self, mut payload: Payload, durable: bool) -> Result<Result<(), BusError>, Unqueued> {
        self.prepare(&mut payload);
        match &self.backend {
            PublishTo::Memory(m) => m.try_publish(payload).map_err(|p| Unqueued(p, durable)),
            PublishTo::Amqp(_) => Err(Unqueued(payload, durable)),
        }
    }

    /// Publishes what [`Publisher::try_publish`] or [`Publisher::try_forward`] could not,
    /// waiting as [`Publisher::publish`] or [`Publisher::forward`] does.
    pub async fn finish(&self, unqueued: Unqueued) -> Result<(), BusError> {
        self.deliver(unqueued.0, unqueued.1).await
    }

    /// Names the reply queue and counts the payload: once per publish.
    #[inline]
    fn prepare(&self, payload: &mut Payload) {
        if let (Some(queue), Payload::Message(m)) = (&self.stamp, &mut *payload) {
            m.transport_metadata.insert(REPLY_QUEUE, queue.as_ref().into());
        }
        if let Some(w) = &self.watch {
            w.see(payload);
        }
    }

    async fn send(&self, mut payload: Payload, durable: bool) -> Result<(), BusError> {
        self.prepare(&mut payload);
        self.deliver(payload, durable).await
    }

    async fn deliver(&self, payload: Payload, durable: bool) -> Result<(), BusError> {
        // The time is read only for what the store keeps.
        let recording = self.recording.as_ref().map(|r| (r, Timestamp::now()));
        match &self.backend {
            // Journaled, kept and queued with no wait between the first two: a publisher that
            // is cancelled (a client that hung up) leaves either nothing or a message that is
            // both kept and journaled.
            PublishTo::Memory(m) => {
                let keep = |k: &Kept| {
                    if let Some((r, at)) = recording {
                        r.keep_now(k, at);
                    }
                };
                m.publish(payload, durable, keep).await
            }
            // Kept first: the broker's confirm is a wait that may be cancelled.
            PublishTo::Amqp(a) => {
                if let Some((r, at)) = recording {
                    r.keep(&Kept::of(&payload), at).await;
                }
                match reply_queue(&payload, a.key()) {
                    Some(private) => a.publish_reply(payload, &private).await,
                    None => a.publish(payload).await,
                }
            }
        }
    }

    /// A status report (Vumi JSON): logged, and on RabbitMQ published for whoever watches.
    pub async fn publish_status(&self, json: String) -> Result<(), BusError> {
        tracing::info!(target: "ruvuma::status", "{} {json}", self.key());
        match &self.backend {
            PublishTo::Memory(_) => Ok(()),
            PublishTo::Amqp(a) => a.publish_status(json).await,
        }
    }

    /// Whether publishing never needs the host's runtime (the memory bus; the store's buffer
    /// and journal wait on tokio's runtime-free primitives only).
    pub fn is_in_process(&self) -> bool {
        matches!(&self.backend, PublishTo::Memory(_))
    }
}

impl Consumer {
    /// Counts what it takes on `meter`.
    pub fn metered(mut self, meter: Arc<Meter>, tally: Tally) -> Self {
        self.watch = Some(Watch {
            meter,
            tally,
            events: None,
        });
        self
    }

    /// Takes nothing more once `stop` turns true (or its sender is gone).
    pub fn until(mut self, mut stop: tokio::sync::watch::Receiver<bool>) -> Self {
        // Seen as it is now, so that each receive looks at the value only once it changes; a
        // consumer stopped already is marked changed, and so takes nothing.
        if *stop.borrow_and_update() {
            stop.mark_changed();
        }
        self.stop = Some(stop);
        self
    }

    /// Takes deliveries until the bus closes or the consumer stops, and hands each to
    /// `handle`, with the loop's [`Room`] for the component's future. Each is settled once
    /// handled; on RabbitMQ, once too the broker has confirmed everything handling it
    /// published, and meanwhile the next is taken (up to the prefetch). A handler that panics
    /// leaves its delivery unsettled: it is given back.
    pub async fn serve<H: Handler>(&self, handler: &H) {
        let mut room = std::pin::pin!(Room::new());
        loop {
            // What is queued already is taken without a receive future.
            let received = match self.take_now() {
                Now::Taken(r) => r,
                Now::Stopped => break,
                Now::Wait => match self.recv().await {
                    Some(r) => r,
                    None => break,
                },
            };
            let (payload, settlement) = received.into_parts();
            match &self.backend {
                TakeFrom::Amqp(a) => {
                    let unconfirmed = amqp::handling(handler.handle(payload, room.as_mut())).await;
                    match settlement.into_amqp() {
                        Ok(ticket) => a.settle_after(unconfirmed, ticket),
                        Err(other) => other.ack(),
                    }
                }
                TakeFrom::Memory(_) => {
                    handler.handle(payload, room.as_mut()).await;
                    settlement.ack();
                }
            }
        }
    }

    /// A delivery waiting in process now (the memory bus), without waiting.
    #[inline]
    fn try_recv_now(&self) -> Option<Received<'_>> {
        match &self.backend {
            TakeFrom::Memory(m) => m.try_recv(),
            TakeFrom::Amqp(_) => None,
        }
    }

    /// A delivery queued in process now, counted, when it needs no wait (nothing to record).
    #[inline]
    fn take_now(&self) -> Now<'_> {
        if self.stopped() {
            return Now::Stopped;
        }
        if self.recording.is_some() {
            return Now::Wait;
        }
        match self.try_recv_now() {
            Some(received) => {
                if let Some(w) = &self.watch {
                    w.see(received.payload());
                }
                Now::Taken(received)
            }
            None => Now::Wait,
        }
    }

    /// One atomic load per delivery; the value (behind a lock) only once it has changed.
    #[inline]
    fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.has_changed().unwrap_or(false) && *s.borrow())
    }

    /// The next delivery; `None` once the bus is closed or the consumer stopped. Stopping
    /// takes nothing off the queue: both backends' receives may be abandoned unfinished.
    pub async fn recv(&self) -> Option<Received<'_>> {
        if self.stopped() {
            return None;
        }
        let stop = self.stop.as_ref();
        // What is queued already is taken without a future or the stop signal armed.
        let received = match self.try_recv_now() {
            Some(r) => r,
            None => self.wait(stop).await?,
        };
        if let Some(w) = &self.watch {
            w.see(received.payload());
        }
        if let Some(r) = &self.recording {
            let kept = received.kept.clone().unwrap_or_else(|| Kept::of(received.payload()));
            r.keep(&kept, Timestamp::now()).await;
        }
        Some(received)
    }

    /// Waits for the next delivery, or for `stop` to turn true.
    async fn wait(&self, stop: Option<&tokio::sync::watch::Receiver<bool>>) -> Option<Received<'_>> {
        let taken = async {
            match &self.backend {
                TakeFrom::Memory(m) => m.recv().await,
                TakeFrom::Amqp(a) => a.recv().await,
            }
        };
        match stop {
            None => taken.await,
            Some(stop) => {
                let mut stop = stop.clone();
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => None,
                    r = taken => r,
                }
            }
        }
    }
}
