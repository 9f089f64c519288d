//! Taking from one routing key: a consumer, its deliveries, and how each is settled.

use super::{amqp, memory, Kept, Recording, Timestamp, Watch};
use crate::events::{Meter, Tally};
use ruvuma_plugin_api::message::Payload;
use ruvuma_plugin_api::room::Room;
use std::pin::Pin;
use std::sync::Arc;

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
    pub(super) backend: TakeFrom,
    pub(super) recording: Option<Recording>,
    pub(super) watch: Option<Watch>,
    /// Turns true when the component that consumes stops (a reload): it takes no more, and
    /// what is queued stays for its successor.
    pub(super) stop: Option<tokio::sync::watch::Receiver<bool>>,
}

/// One RabbitMQ subscription shared by `loops` consume loops.
pub(super) fn shared(mut consumer: amqp::AmqpConsumer, loops: usize) -> Vec<TakeFrom> {
    consumer.hold_at_least(loops);
    let consumer = Arc::new(consumer);
    (0..loops.max(1)).map(|_| TakeFrom::Amqp(consumer.clone())).collect()
}

pub(super) enum TakeFrom {
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
pub(super) enum Settle<'c> {
    Memory(memory::Ticket<'c>),
    Amqp(Box<amqp::Ticket>),
}

impl<'c> Received<'c> {
    pub(super) fn new(payload: Payload, settle: Settle<'c>) -> Self {
        Self {
            payload,
            settle: Settlement(Some(settle)),
            kept: None,
        }
    }

    pub(super) fn with_kept(mut self, kept: Option<Kept>) -> Self {
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
