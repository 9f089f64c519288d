//! Publishing on one routing key.

use super::{amqp, memory, reply_queue, BusError, Kept, Recording, Timestamp, Watch, REPLY_QUEUE};
use crate::events::{Events, Meter, Tally};
use ruvuma_plugin_api::message::Payload;
use std::sync::Arc;

/// Publishes on one routing key.
#[derive(Clone)]
pub struct Publisher {
    pub(super) backend: PublishTo,
    pub(super) recording: Option<Recording>,
    pub(super) watch: Option<Watch>,
    /// The reply queue a transport instance names in each message it publishes.
    pub(super) stamp: Option<Arc<str>>,
}

#[derive(Clone)]
pub(super) enum PublishTo {
    Memory(memory::MemoryPublisher),
    Amqp(amqp::AmqpPublisher),
}

/// A payload [`Publisher::try_publish`] could not queue at once, for [`Publisher::finish`]:
/// counted already, and whether it is published or forwarded.
pub struct Unqueued(Payload, bool);

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
