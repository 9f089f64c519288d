//! Pipelined publisher confirms. While a consumer handles a delivery, what the handler publishes
//! is sent without waiting for the broker's confirm; the confirms are collected (a task-local
//! list, so a plugin's publish made while the host polls it is collected too), and the delivery
//! goes to its consumer's settler, which acks it once the broker has confirmed everything it
//! produced. The consumer meanwhile takes its next delivery, up to its prefetch.
//!
//! Confirms arrive in order on the publishing channel and the settler works in delivery order,
//! so waiting for them one after the other costs nothing. A confirm that fails (a nack, a lost
//! connection) is published again, with the retries every publish has, before the ack: nothing
//! is acked before what it produced is on the broker, as when each publish waited.

use super::consumer::Ticket;
use super::Shared;
use lapin::{Confirmation, PublisherConfirm};
use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::warn;

/// A publish sent and not yet confirmed, with what it takes to send it again.
pub(in crate::bus) struct Unconfirmed {
    pub key: Arc<str>,
    pub body: Vec<u8>,
    pub declare: bool,
    /// For a reply sent to the queue of the process holding its conversation: the shared
    /// queue it goes to when that queue is gone.
    pub fallback: Option<Arc<str>>,
    pub confirm: PublisherConfirm,
}

tokio::task_local! {
    static UNCONFIRMED: RefCell<Vec<Unconfirmed>>;
}

/// Whether publishes made now are collected (a delivery is being handled).
pub(super) fn collecting() -> bool {
    UNCONFIRMED.try_with(|_| ()).is_ok()
}

/// Collects a sent publish for the delivery being handled; gives it back when none is.
pub(super) fn collect(u: Unconfirmed) -> Result<(), Unconfirmed> {
    let mut slot = Some(u);
    let kept = UNCONFIRMED.try_with(|list| {
        if let Some(u) = slot.take() {
            list.borrow_mut().push(u);
        }
    });
    match (kept, slot) {
        (Ok(()), None) => Ok(()),
        (_, Some(u)) => Err(u),
        (Err(_), None) => Ok(()),
    }
}

/// Runs `handle`, and returns the publishes it sent and that wait for their confirm.
pub(in crate::bus) async fn handling<F: Future<Output = ()>>(handle: F) -> Vec<Unconfirmed> {
    UNCONFIRMED
        .scope(RefCell::new(Vec::new()), async {
            handle.await;
            UNCONFIRMED.with(|list| list.take())
        })
        .await
}

/// One consumer's settler: deliveries in the order they were handled, each with what it
/// produced.
pub(super) type Settling = mpsc::UnboundedSender<(Vec<Unconfirmed>, Ticket)>;

/// Starts a settler; it ends when its consumer is gone and it has settled everything.
pub(super) fn settler(shared: Arc<Shared>) -> Settling {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Vec<Unconfirmed>, Ticket)>();
    tokio::spawn(async move {
        while let Some((unconfirmed, ticket)) = rx.recv().await {
            if confirmed(&shared, unconfirmed).await {
                ticket.ack_now().await;
            } else {
                ticket.requeue_now().await;
            }
        }
    });
    tx
}

/// Waits for each confirm; what the broker did not confirm is published again (a reply that
/// no queue took, on its shared queue). False when something could not be (the bus closed
/// meanwhile): the delivery is given back.
async fn confirmed(shared: &Shared, unconfirmed: Vec<Unconfirmed>) -> bool {
    let mut all = true;
    for u in unconfirmed {
        // A confirm lost with its connection may never resolve: past the wait, it is
        // published again (at least once allows the copy).
        let why = match tokio::time::timeout(super::ANSWER_WAIT, u.confirm).await {
            Ok(Ok(Confirmation::Ack(None))) => continue,
            Ok(Ok(Confirmation::Ack(Some(_)))) if u.fallback.is_none() => continue,
            Ok(Ok(Confirmation::Ack(Some(_)))) => "no queue took it".to_owned(),
            Ok(Ok(_)) => "the broker refused it (nack)".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no confirm within {} s", super::ANSWER_WAIT.as_secs()),
        };
        let (key, declare) = match u.fallback {
            Some(fallback) => (fallback, true),
            None => (u.key.clone(), u.declare),
        };
        if u.key != key {
            tracing::debug!("amqp: a reply for {}: {why}; publishing it on {key}", u.key);
        } else {
            warn!("amqp: a publish to {key} was not confirmed ({why}); publishing it again");
        }
        if let Err(e) = shared.publish_raw(&key, u.body, declare).await {
            warn!("amqp: {e}; the delivery that produced it will come again");
            all = false;
        }
    }
    all
}
