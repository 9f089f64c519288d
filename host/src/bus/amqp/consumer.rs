//! Consuming from RabbitMQ: a subscription per consumer, made again when its channel dies, and
//! a ticket per delivery that acks it (or gives it back) once. What is not a Vumi message is
//! kept whole on `<endpoint>.failures` with the reason, and taken off its queue.

use super::confirms::{settler, Settling, Unconfirmed};
use super::{escape_control, failed, BusError, Received, Settle, Shared};
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::Channel;
use ruvuma_plugin_api::vumi_json::decode_payload;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Mutex as AsyncMutex;
use tracing::{error, warn};

pub struct AmqpConsumer {
    pub(super) shared: Arc<Shared>,
    pub(super) key: String,
    pub(super) stream: AsyncMutex<Option<(Channel, lapin::Consumer)>>,
    /// Deliveries taken and not yet settled with the broker: its channel closes after them.
    pub(super) unsettled: Arc<AtomicUsize>,
    /// Deliveries the broker may hand it before it acks any.
    pub(super) prefetch: u16,
    /// Acks deliveries once what handling them published is confirmed; started on first use.
    pub(super) settling: OnceLock<Settling>,
    /// For an instance's reply queue: the shared queue its late replies move to.
    pub(super) reply_queue_of: Option<String>,
}

/// Settles one delivery with the broker, once.
pub struct Ticket {
    acker: lapin::Acker,
    shared: Arc<Shared>,
    unsettled: Arc<AtomicUsize>,
}

impl Ticket {
    /// Settles it in a task of its own, so that whoever drops it need not wait.
    fn settle(self, requeue: bool) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
            self.unsettled.fetch_sub(1, Ordering::AcqRel);
            return; // no runtime left: the broker redelivers what the closed channel held
        };
        runtime.spawn(self.settle_now(requeue));
    }

    /// Settles it with the broker, and returns once the ack (or nack) is sent.
    async fn settle_now(self, requeue: bool) {
        self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
        let _settled = Settled(self.unsettled);
        let sent = async {
            if requeue {
                let options = BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                };
                self.acker.nack(options).await
            } else {
                self.acker.ack(BasicAckOptions::default()).await
            }
        };
        // A lost settle (a lost connection, or one that stopped answering) means the broker
        // delivers it again.
        match tokio::time::timeout(super::ANSWER_WAIT, sent).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!("amqp: settling a delivery failed ({e}); the message will come again"),
            Err(_) => warn!(
                "amqp: settling a delivery took over {} s; the message will come again",
                super::ANSWER_WAIT.as_secs()
            ),
        }
    }

    pub(in crate::bus) fn ack(self) {
        self.settle(false)
    }

    pub(in crate::bus) fn requeue(self) {
        self.settle(true)
    }

    pub(super) async fn ack_now(self) {
        self.settle_now(false).await
    }

    pub(super) async fn requeue_now(self) {
        self.settle_now(true).await
    }
}

/// Counts a settle as sent when dropped (sent, failed or cancelled).
struct Settled(Arc<AtomicUsize>);

impl Drop for Settled {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How long a stopped consumer's channel waits for its acks to be sent before it closes.
const SETTLE_WAIT: Duration = Duration::from_secs(5);

/// A consumer that goes (its component stopped for a reload) closes its channel once what it
/// took is settled: what the broker had sent it and nobody took goes back on the queue for the
/// others, and what it handled is not delivered again.
impl Drop for AmqpConsumer {
    fn drop(&mut self) {
        let Some((channel, _)) = self.stream.get_mut().take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let unsettled = self.unsettled.clone();
        runtime.spawn(async move {
            let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
            while unsettled.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if channel.status().connected() {
                if let Err(e) = channel.close(200, "consumer stopped".into()).await {
                    warn!("amqp: closing a stopped consumer's channel: {e}");
                }
            }
        });
    }
}

impl AmqpConsumer {
    /// Shared by `loops` consume loops: each can hold a delivery, whatever the bus's prefetch.
    pub fn hold_at_least(&mut self, loops: usize) {
        let loops = u16::try_from(loops).unwrap_or(u16::MAX);
        self.prefetch = self.prefetch.max(loops).max(1);
    }

    /// Acks a handled delivery: at once when handling it published nothing, else once the
    /// broker has confirmed all it published (in delivery order).
    pub(in crate::bus) fn settle_after(&self, unconfirmed: Vec<Unconfirmed>, ticket: Ticket) {
        if unconfirmed.is_empty() {
            return ticket.ack();
        }
        let settling = self.settling.get_or_init(|| settler(self.shared.clone()));
        if let Err(lost) = settling.send((unconfirmed, ticket)) {
            // The settler ended (no runtime left): the broker delivers it again.
            lost.0 .1.requeue();
        }
    }

    async fn subscribe(&self) -> Result<(Channel, lapin::Consumer), BusError> {
        let shared = &self.shared;
        let channel = shared.channel().await?;
        channel
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| failed("setting prefetch", e))?;
        match &self.reply_queue_of {
            Some(shared_key) => shared.declare_private(&channel, &self.key, shared_key).await?,
            None => shared.declare(&channel, &self.key).await?,
        }
        let consumer = channel
            .basic_consume(
                self.key.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| failed(&format!("consuming {}", self.key), e))?;
        Ok((channel, consumer))
    }

    /// The next delivery, once the host is ready; `None` once the bus is closed.
    pub async fn recv(&self) -> Option<Received<'_>> {
        use futures_lite::StreamExt;
        let shared = &self.shared;
        let mut ready = shared.ready.subscribe();
        let mut closed = shared.closed.subscribe();
        tokio::select! {
            _ = ready.wait_for(|r| *r) => {}
            _ = closed.wait_for(|c| *c) => return None,
        }
        let mut stream = self.stream.lock().await;
        loop {
            if *closed.borrow() {
                return None;
            }
            if stream.is_none() {
                let subscribed = tokio::time::timeout(super::ANSWER_WAIT, self.subscribe())
                    .await
                    .unwrap_or_else(|_| Err(failed(&format!("subscribing to {}", self.key), "no answer within 10 s")));
                match subscribed {
                    Ok(s) => *stream = Some(s),
                    Err(e) => {
                        warn!("{e}; trying again in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            let (channel, consumer) = stream.as_mut()?;
            let next = tokio::select! {
                next = consumer.next() => next,
                _ = closed.wait_for(|c| *c) => return None,
                // A channel that died quietly: subscribe again on a live connection.
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if !channel.status().connected() {
                        warn!("amqp: lost the channel consuming {}; subscribing again", self.key);
                        *stream = None;
                    }
                    continue;
                }
            };
            match next {
                Some(Ok(delivery)) => match decode_payload(&delivery.data) {
                    Ok(payload) => {
                        shared.in_flight.fetch_add(1, Ordering::AcqRel);
                        self.unsettled.fetch_add(1, Ordering::AcqRel);
                        let ticket = Ticket {
                            acker: delivery.acker,
                            shared: shared.clone(),
                            unsettled: self.unsettled.clone(),
                        };
                        return Some(Received::new(payload, Settle::Amqp(Box::new(ticket))));
                    }
                    Err(e) => self.set_aside(delivery, e.to_string()).await,
                },
                Some(Err(e)) => {
                    warn!("amqp: consuming {}: {e}; subscribing again", self.key);
                    *stream = None;
                }
                None => *stream = None,
            }
        }
    }

    /// Keeps a delivery that is not a Vumi message, whole, on `<endpoint>.failures` with the
    /// reason (as Vumi keeps failures), then takes it off its queue. Only a short, escaped
    /// excerpt reaches the log.
    async fn set_aside(&self, delivery: lapin::message::Delivery, reason: String) {
        let endpoint = self.key.rsplit_once('.').map_or(self.key.as_str(), |(e, _)| e);
        let failures = format!("{endpoint}.failures");
        let data = &delivery.data;
        let excerpt = String::from_utf8_lossy(&data[..data.len().min(200)]);
        error!(
            queue = self.key.as_str(),
            "amqp: not a Vumi message ({}); {} bytes kept on {failures}: {}",
            escape_control(&reason),
            data.len(),
            escape_control(&excerpt)
        );
        let mut record = serde_json::json!({
            "message": null,
            "failure_code": "malformed",
            "reason": format!("not a Vumi message: {reason}"),
            "queue": self.key,
        });
        match std::str::from_utf8(data) {
            Ok(text) => record["body"] = text.into(),
            Err(_) => record["body_hex"] = data.iter().map(|b| format!("{b:02x}")).collect::<String>().into(),
        }
        let kept = self
            .shared
            .publish_raw(&failures, record.to_string().into_bytes(), true)
            .await;
        let settled = match kept {
            Ok(()) => delivery.acker.ack(BasicAckOptions::default()).await,
            Err(e) => {
                error!(
                    "amqp: the malformed message on {} could not be kept ({e}); it stays on its queue",
                    self.key
                );
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                };
                tokio::time::sleep(Duration::from_secs(1)).await;
                delivery.acker.nack(requeue).await
            }
        };
        if let Err(e) = settled {
            warn!("amqp: settling the malformed message failed ({e}); it will come again");
        }
    }
}
