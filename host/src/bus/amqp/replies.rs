//! Replies go back to the process that holds their conversation. A transport that keeps a
//! connection open for an answer (a sync HTTP request, a telnet session) can answer only from the
//! process where the connection is; with several such processes on one broker, a reply taken
//! from the shared `<transport>.outbound` by another process would find no one waiting.
//!
//! So each transport instance on RabbitMQ has a reply queue of its own,
//! `<transport>.outbound.<tag>`, and names it in the `transport_metadata` of every message it
//! publishes (`reply_queue`); Vumi's `reply()` copies `transport_metadata`, so the reply names
//! it too. A reply is published there (mandatory): when that queue is gone, the broker returns
//! it and it goes on the shared queue, where a process that does not hold the conversation
//! nacks it. The queue is durable (a broker restart keeps it), its replies that wait more than
//! [`TTL_MS`] move to the shared queue (dead-lettered), and it is deleted once no process has
//! consumed it for [`EXPIRES_MS`].

use super::confirms::{self, Unconfirmed};
use super::{AmqpBus, BusError, Shared};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Confirmation};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::{debug, warn};

/// How long a reply waits on an instance's queue before it moves to the shared one.
pub const TTL_MS: u32 = 60_000;
/// How long an instance's queue outlives its last consumer.
pub const EXPIRES_MS: u32 = 300_000;

/// A reply queue's name for one instance of `transport`: unique to this process and instance.
pub(super) fn reply_key(transport: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "{transport}.outbound.{:x}-{n}-{:08x}",
        std::process::id(),
        random as u32
    )
}

/// Whether `private` is one of `shared_key`'s reply queues, as [`reply_key`] makes them: what a
/// message names is checked, so that no one routes a reply anywhere else.
pub fn is_reply_queue_of(private: &str, shared_key: &str) -> bool {
    private.len() <= 200
        && private
            .strip_prefix(shared_key)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|tag| !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
}

impl AmqpBus {
    /// Declares the reply queues of the instances made since the last call. Called before those
    /// instances start: a message they publish names its reply queue at once, and a reply sent
    /// there before the queue's consumer has subscribed must wait in it, not be returned by the
    /// broker and taken from the shared queue by a process that does not hold the conversation.
    pub async fn declare_reply_queues(&self) -> Result<(), BusError> {
        let waiting = match self.0.undeclared_replies.lock() {
            Ok(mut w) => std::mem::take(&mut *w),
            Err(_) => return Ok(()),
        };
        if waiting.is_empty() {
            return Ok(());
        }
        let declare = async {
            let channel = self.0.channel().await?;
            for (private, shared_key) in &waiting {
                self.0.declare_private(&channel, private, shared_key).await?;
            }
            let _ = channel.close(200, "reply queues declared".into()).await;
            Ok(())
        };
        tokio::time::timeout(super::ANSWER_WAIT, declare)
            .await
            .unwrap_or_else(|_| Err(super::failed("declaring reply queues", "no answer within 10 s")))
    }
}

impl Shared {
    /// Declares an instance's reply queue (see the module docs) and binds it, once per process.
    pub(super) async fn declare_private(&self, channel: &Channel, key: &str, shared_key: &str) -> Result<(), BusError> {
        let mut args = FieldTable::default();
        args.insert("x-expires".into(), AMQPValue::LongUInt(EXPIRES_MS));
        args.insert("x-message-ttl".into(), AMQPValue::LongUInt(TTL_MS));
        let exchange = AMQPValue::LongString(self.exchange.as_str().into());
        args.insert("x-dead-letter-exchange".into(), exchange);
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(shared_key.into()),
        );
        self.declare_with(channel, key, args).await
    }

    /// Publishes a reply on the reply queue `private`; on `shared_key` when that queue is gone
    /// or the broker does not take it there.
    pub(super) async fn publish_reply(&self, private: &str, shared_key: &str, body: Vec<u8>) -> Result<(), BusError> {
        let (confirm, body) = match self.send_once(private, &body, false, true).await {
            Ok(confirm) if confirms::collecting() => {
                let sent = Unconfirmed {
                    key: private.into(),
                    body,
                    declare: false,
                    fallback: Some(shared_key.into()),
                    confirm,
                };
                match confirms::collect(sent) {
                    Ok(()) => return Ok(()),
                    Err(sent) => (Some(sent.confirm), sent.body),
                }
            }
            Ok(confirm) => (Some(confirm), body),
            Err(e) => {
                warn!("{e}; the reply goes on {shared_key}");
                (None, body)
            }
        };
        if let Some(confirm) = confirm {
            match confirm.await {
                Ok(Confirmation::Ack(None)) => return Ok(()),
                Ok(Confirmation::Ack(Some(_))) => debug!("amqp: no queue {private}; the reply goes on {shared_key}"),
                Ok(_) => warn!("amqp: the broker refused a reply on {private}; it goes on {shared_key}"),
                Err(e) => warn!("amqp: a reply on {private} was not confirmed ({e}); it goes on {shared_key}"),
            }
        }
        self.publish_raw(shared_key, body, true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::options::QueueDeclareOptions;

    const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

    /// Whether the broker has `queue` (a passive declare, on a channel of its own).
    async fn exists(bus: &AmqpBus, queue: &str) -> bool {
        let channel = bus.0.channel().await.expect("channel");
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let found = channel
            .queue_declare(queue.into(), passive, FieldTable::default())
            .await
            .is_ok();
        let _ = channel.close(200, "checked".into()).await;
        found
    }

    /// A reply queue exists as soon as its instance may start, before any of its consumers has
    /// run: a reply sent at once waits there for them.
    #[tokio::test]
    async fn reply_queues_are_declared_before_their_consumers_run() {
        let bus = AmqpBus::connect(BROKER, "vumi", 10)
            .await
            .expect("RabbitMQ on 127.0.0.1:5672 (guest/guest)");
        let private = reply_key("declared_early");
        let _consumer = bus.reply_consumer(&private, "declared_early.outbound");
        assert!(
            !exists(&bus, &private).await,
            "not declared while the instance is only made"
        );
        bus.declare_reply_queues().await.expect("declared");
        assert!(exists(&bus, &private).await, "declared before any consumer subscribed");
        let channel = bus.0.channel().await.expect("channel");
        let _ = channel.queue_delete(private.as_str().into(), Default::default()).await;
    }

    #[test]
    fn a_reply_queue_is_one_of_its_transports_and_nothing_else() {
        let key = reply_key("web");
        assert!(is_reply_queue_of(&key, "web.outbound"), "{key}");
        assert_ne!(key, reply_key("web"), "each instance has its own");
        for other in [
            "web.outbound",
            "web.outbound.",
            "webx.outbound.1a-2",
            "sms.outbound.1a-2",
            "web.outbound.1a-2.failures",
            "web.outbound.1a 2",
            "web.inbound.1a-2",
        ] {
            assert!(!is_reply_queue_of(other, "web.outbound"), "{other}");
        }
        let long = format!("web.outbound.{}", "a".repeat(200));
        assert!(!is_reply_queue_of(&long, "web.outbound"), "bounded length");
    }
}
