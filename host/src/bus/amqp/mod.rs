//! The bus on RabbitMQ, Vumi's topology: a durable direct exchange (`vumi`), one durable queue per
//! routing key bound to it, persistent messages with Vumi JSON bodies, publisher confirms, a
//! prefetch per subscription, and an ack only after the handler finished and the broker confirmed
//! what it published (`confirms`). Several host processes on one broker are competing consumers;
//! replies find the process that holds their conversation (`replies`). A lost connection (a
//! broker restart, a network fault) is made again, consumers subscribe again, a publish that was
//! not confirmed is sent again, and a delivery whose ack was lost comes again: delivery is at
//! least once.

mod confirms;
mod consumer;
mod failures;
mod replies;

pub(in crate::bus) use confirms::handling;
pub use consumer::{AmqpConsumer, Ticket};
pub use failures::Kept as KeptFailure;
pub use replies::is_reply_queue_of;

use super::{escape_control, redact_url, BusError, Failure, Received, Settle};
use confirms::Unconfirmed;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind, PublisherConfirm};
use ruvuma_plugin_api::vumi_json::encode;
use ruvuma_plugin_api::Payload;
use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Mutex as AsyncMutex};
use tracing::{error, warn};

/// How long the broker has to answer a channel being opened or a subscription being made.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

struct Shared {
    url: String,
    /// The live connection; replaced by a new one when it is lost.
    connection: AsyncMutex<Option<Connection>>,
    exchange: String,
    prefetch: u16,
    /// Publishing channel with confirms; made again after a failure.
    publish: AsyncMutex<Option<Channel>>,
    declared: Mutex<HashSet<String>>,
    /// Reply queues (private, shared key) of instances not started yet: declared before their
    /// transport takes its first message (`replies`).
    undeclared_replies: Mutex<Vec<(String, String)>>,
    ready: watch::Sender<bool>,
    closed: watch::Sender<bool>,
    in_flight: AtomicI64,
}

pub struct AmqpBus(Arc<Shared>);

#[derive(Clone)]
pub struct AmqpPublisher {
    shared: Arc<Shared>,
    key: Arc<str>,
}

fn failed(what: &str, e: impl std::fmt::Display) -> BusError {
    BusError::Amqp {
        what: what.to_owned(),
        reason: e.to_string(),
    }
}

async fn connect(url: &str) -> Result<Connection, BusError> {
    let refused = |reason: String| BusError::Connect {
        url: redact_url(url),
        reason,
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        Connection::connect(url, ConnectionProperties::default()),
    )
    .await
    .map_err(|_| refused("no answer within 10 s".into()))?
    .map_err(|e| refused(e.to_string()))
}

impl Shared {
    /// A new channel, on the live connection, connecting again first if that one is lost.
    async fn channel(&self) -> Result<Channel, BusError> {
        let mut slot = self.connection.lock().await;
        if !slot.as_ref().is_some_and(|c| c.status().connected()) {
            *slot = Some(connect(&self.url).await?);
            tracing::info!("amqp: connected to {}", redact_url(&self.url));
        }
        let connection = slot.as_ref().ok_or_else(|| failed("connecting", "no connection"))?;
        match tokio::time::timeout(ANSWER_WAIT, connection.create_channel()).await {
            Ok(made) => made.map_err(|e| failed("opening a channel", e)),
            // A connection that no longer answers is made again on the next call.
            Err(_) => {
                *slot = None;
                Err(failed("opening a channel", "no answer within 10 s"))
            }
        }
    }

    /// Declares `<key>`'s durable queue and binds it, once per process.
    async fn declare(&self, channel: &Channel, key: &str) -> Result<(), BusError> {
        self.declare_with(channel, key, FieldTable::default()).await
    }

    /// Declares `key`'s durable queue with `args` and binds it, once per process.
    async fn declare_with(&self, channel: &Channel, key: &str, args: FieldTable) -> Result<(), BusError> {
        if self.declared.lock().map(|d| d.contains(key)).unwrap_or(false) {
            return Ok(());
        }
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .queue_declare(key.into(), durable, args)
            .await
            .map_err(|e| failed(&format!("declaring queue {key}"), e))?;
        channel
            .queue_bind(
                key.into(),
                self.exchange.as_str().into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| failed(&format!("binding queue {key}"), e))?;
        if let Ok(mut d) = self.declared.lock() {
            d.insert(key.to_owned());
        }
        Ok(())
    }

    async fn publish_channel(&self) -> Result<Channel, BusError> {
        let mut slot = self.publish.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| c.status().connected()) {
            return Ok(c.clone());
        }
        let channel = self.channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| failed("enabling confirms", e))?;
        *slot = Some(channel.clone());
        Ok(channel)
    }

    /// Sends one publish; the broker's confirm is still to come. A `mandatory` one that no
    /// queue takes comes back with its confirm.
    async fn send_once(
        &self,
        key: &str,
        body: &[u8],
        declare: bool,
        mandatory: bool,
    ) -> Result<PublisherConfirm, BusError> {
        let channel = self.publish_channel().await?;
        if declare {
            self.declare(&channel, key).await?;
        }
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into());
        channel
            .basic_publish(
                self.exchange.as_str().into(),
                key.into(),
                BasicPublishOptions {
                    mandatory,
                    ..Default::default()
                },
                body,
                properties,
            )
            .await
            .map_err(|e| failed("publishing", e))
    }

    /// One attempt: published and confirmed by the broker, or why not.
    async fn publish_once(&self, key: &str, body: &[u8], declare: bool) -> Result<(), BusError> {
        let confirm = self.send_once(key, body, declare, false).await?;
        confirmation(confirm).await
    }

    /// Publishes with a confirm; retries with backoff (across a reconnect) until the broker has
    /// it, or the bus is closed. While a delivery is being handled, the publish is sent and its
    /// confirm left to the delivery's settler (`confirms`).
    async fn publish_raw(&self, key: &str, body: Vec<u8>, declare: bool) -> Result<(), BusError> {
        if confirms::collecting() {
            if let Ok(confirm) = self.send_once(key, &body, declare, false).await {
                let sent = Unconfirmed {
                    key: key.into(),
                    body,
                    declare,
                    fallback: None,
                    confirm,
                };
                return match confirms::collect(sent) {
                    Ok(()) => Ok(()),
                    Err(sent) => confirmation(sent.confirm).await,
                };
            }
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let mut wait = Duration::from_millis(50);
        let result = loop {
            match self.publish_once(key, &body, declare).await {
                Ok(()) => break Ok(()),
                Err(e) if *self.closed.borrow() => break Err(e),
                Err(e) => {
                    warn!("{e}; publishing to {key} again in {} ms", wait.as_millis());
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        };
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        result
    }
}

/// The broker's answer to one publish.
async fn confirmation(confirm: PublisherConfirm) -> Result<(), BusError> {
    // A confirm lost with its connection may never resolve; the caller publishes again.
    let confirm = tokio::time::timeout(ANSWER_WAIT, confirm)
        .await
        .map_err(|_| BusError::Unconfirmed(ANSWER_WAIT.as_secs()))?
        .map_err(|e| failed("waiting for the broker's confirm", e))?;
    if confirm.is_ack() {
        Ok(())
    } else {
        Err(BusError::Refused)
    }
}

impl AmqpBus {
    pub async fn connect(url: &str, exchange: &str, prefetch: u16) -> Result<Self, BusError> {
        let connection = connect(url).await?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| failed("opening a channel", e))?;
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .exchange_declare(exchange.into(), ExchangeKind::Direct, durable, FieldTable::default())
            .await
            .map_err(|e| failed(&format!("declaring exchange {exchange}"), e))?;
        Ok(Self(Arc::new(Shared {
            url: url.to_owned(),
            connection: AsyncMutex::new(Some(connection)),
            exchange: exchange.to_owned(),
            prefetch,
            publish: AsyncMutex::new(None),
            declared: Mutex::default(),
            undeclared_replies: Mutex::default(),
            ready: watch::channel(false).0,
            closed: watch::channel(false).0,
            in_flight: AtomicI64::new(0),
        })))
    }

    pub fn publisher(&self, key: &str) -> AmqpPublisher {
        AmqpPublisher {
            shared: self.0.clone(),
            key: key.into(),
        }
    }

    pub fn consumer(&self, key: &str) -> AmqpConsumer {
        AmqpConsumer {
            shared: self.0.clone(),
            key: key.to_owned(),
            stream: AsyncMutex::new(None),
            unsettled: Default::default(),
            prefetch: self.0.prefetch,
            settling: Default::default(),
            reply_queue_of: None,
        }
    }

    /// A reply queue for one instance of `transport` (see `replies`).
    pub fn reply_key(&self, transport: &str) -> String {
        replies::reply_key(transport)
    }

    /// The consumer of an instance's reply queue `private`, whose late replies move to
    /// `shared_key`.
    pub fn reply_consumer(&self, private: &str, shared_key: &str) -> AmqpConsumer {
        let mut consumer = self.consumer(private);
        consumer.reply_queue_of = Some(shared_key.to_owned());
        if let Ok(mut waiting) = self.0.undeclared_replies.lock() {
            waiting.push((private.to_owned(), shared_key.to_owned()));
        }
        consumer
    }

    pub fn in_flight(&self) -> i64 {
        self.0.in_flight.load(Ordering::Acquire)
    }

    /// Messages waiting on each of `keys`' queues, as the broker counts them (passive declares
    /// on one channel of its own); an error when the broker cannot be reached within 3 s.
    pub async fn depths(&self, keys: &[String]) -> Result<Vec<(String, u64)>, BusError> {
        let ask = async {
            let channel = self.0.channel().await?;
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                match channel
                    .queue_declare(key.as_str().into(), passive, FieldTable::default())
                    .await
                {
                    Ok(q) => out.push((key.clone(), u64::from(q.message_count()))),
                    // A queue not declared yet closes the channel: the rest are not known.
                    Err(_) => break,
                }
            }
            let _ = channel.close(200, "depths read".into()).await;
            Ok(out)
        };
        tokio::time::timeout(Duration::from_secs(3), ask)
            .await
            .map_err(|_| failed("reading queue depths", "no answer within 3 s"))?
    }

    pub fn open(&self) {
        self.0.ready.send_replace(true);
    }

    pub fn close(&self) {
        self.0.closed.send_replace(true);
    }

    /// Publishes the failure to `<endpoint>.failures` as Vumi does: `{"message",
    /// "failure_code", "reason"}`, with what a replay needs beside (`failure_id`, `component`,
    /// `origin`, `failed_at`); the caller has logged it.
    pub fn record_failure(&self, failure: Failure) {
        let publisher = self.publisher(&failure.routing_key());
        let record = serde_json::json!({
            "message": ruvuma_plugin_api::vumi_json::payload_to_value(&failure.payload),
            "failure_code": "failed",
            "reason": failure.reason,
            "failure_id": failure.id,
            "component": failure.component,
            "origin": failure.origin,
            "failed_at": failure.at,
        })
        .to_string();
        tokio::spawn(async move {
            if let Err(e) = publisher.publish_raw(record.into_bytes(), true).await {
                error!("amqp: failure record not kept on {}: {e}", publisher.key);
            }
        });
    }
}

impl AmqpPublisher {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Publishes with a confirm; retries with backoff (across a reconnect) until the broker has
    /// it, or the bus is closed.
    pub async fn publish(&self, payload: Payload) -> Result<(), BusError> {
        self.publish_raw(encode(&payload).into_bytes(), true).await
    }

    /// Publishes a reply on the reply queue `private` of the instance holding its conversation;
    /// on this publisher's (shared) queue when that one is gone.
    pub async fn publish_reply(&self, payload: Payload, private: &str) -> Result<(), BusError> {
        let body = encode(&payload).into_bytes();
        self.shared.publish_reply(private, &self.key, body).await
    }

    /// Publishes a status report. Its queue is not declared: whoever watches statuses binds
    /// their own, and reports nobody watches are not kept.
    pub async fn publish_status(&self, json: String) -> Result<(), BusError> {
        self.publish_raw(json.into_bytes(), false).await
    }

    async fn publish_raw(&self, body: Vec<u8>, declare: bool) -> Result<(), BusError> {
        self.shared.publish_raw(&self.key, body, declare).await
    }
}
