//! A transport's retry policy at work. The outbound messages it is handed are remembered
//! until it acks or nacks them; a nack whose reason is temporary is not passed on: the message
//! is scheduled to be sent again after a delay that grows with each attempt. Past the policy's
//! attempts or age it is given up on: dead-lettered with its reason, and the nack passes on.
//!
//! With a message store the schedule is kept there, so it survives a restart, and a process
//! claims a due retry before sending it, so two processes never send the same one. Without a
//! store it is kept in memory.

use crate::bus::{Bus, Failure, Publisher};
use crate::config::RetrySpec;
use crate::store::retries::{self, Scheduled};
use crate::store::Store;
use ruvuma_plugin_api::{vumi_json, Event, EventKind, Payload, Timestamp};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Messages remembered at most per transport; past it, new ones are sent without a retry.
pub const MAX_PENDING: usize = 100_000;
/// How long a process holds a claimed retry before another may take it.
const CLAIM_HOLD_US: i64 = 60_000_000;
/// Where a retried message carries its attempts (`helper_metadata.retry`).
const RETRY_KEY: &str = "retry";
/// How often the schedule is looked at.
const TICK: Duration = Duration::from_millis(200);

/// A message handed to the transport: how many times, since when.
#[derive(Clone)]
struct Attempt {
    payload: Payload,
    attempts: u32,
    first_at: i64,
}

/// Retries in memory: (due, id) soonest first, and what each one sends.
type Schedule = (BinaryHeap<Reverse<(i64, String)>>, HashMap<String, Attempt>);

pub struct Retrier {
    transport: String,
    spec: RetrySpec,
    outbound: Publisher,
    bus: Arc<Bus>,
    store: Option<Arc<Store>>,
    pending: Mutex<HashMap<String, Attempt>>,
    /// The schedule without a store.
    due: Mutex<Schedule>,
    wake: Notify,
    stop: watch::Sender<bool>,
}

fn now_us() -> i64 {
    Timestamp::now().micros()
}

impl Retrier {
    pub fn start(transport: &str, spec: RetrySpec, bus: Arc<Bus>, store: Option<Arc<Store>>) -> Arc<Self> {
        let me = Arc::new(Self {
            transport: transport.to_owned(),
            spec,
            outbound: bus.publisher(&format!("{transport}.outbound")),
            bus,
            store,
            pending: Mutex::default(),
            due: Mutex::default(),
            wake: Notify::new(),
            stop: watch::channel(false).0,
        });
        tokio::spawn(me.clone().run());
        me
    }

    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    pub fn spec(&self) -> &RetrySpec {
        &self.spec
    }

    /// Gives what it remembers and has scheduled in memory to `to` (its transport's successor
    /// after a reload), and stops; a store's schedule is shared already.
    pub fn hand_over(&self, to: &Retrier) {
        self.stop();
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let (heap, due) = std::mem::take(&mut *self.due.lock().unwrap_or_else(|p| p.into_inner()));
        to.pending.lock().unwrap_or_else(|p| p.into_inner()).extend(pending);
        let mut theirs = to.due.lock().unwrap_or_else(|p| p.into_inner());
        theirs.0.extend(heap);
        theirs.1.extend(due);
        drop(theirs);
        to.wake.notify_one();
    }

    /// The transport is handed `payload`: remembered. A retry carries its count of attempts and
    /// the time of the first in `helper_metadata.retry`, so that whichever process sends it
    /// goes on counting.
    pub fn remember(&self, payload: &Payload) {
        let Payload::Message(m) = payload else { return };
        let carried = m.helper_metadata.get(RETRY_KEY);
        let field = |k: &str| carried.as_ref().and_then(|r| r.get(k)).and_then(|v| v.as_i64());
        let attempt = Attempt {
            payload: payload.clone(),
            attempts: field("attempts").map_or(1, |n| n.clamp(1, i64::from(u32::MAX)) as u32),
            first_at: field("first_at").unwrap_or_else(now_us),
        };
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.len() >= MAX_PENDING && !pending.contains_key(m.message_id.as_str()) {
            return;
        }
        pending.insert(m.message_id.to_string(), attempt);
    }

    /// An event the transport publishes: what to publish instead (none: a nack that is retried).
    pub fn on_event(&self, payload: Payload) -> Option<Payload> {
        let Payload::Event(e) = &payload else {
            return Some(payload);
        };
        let id = e.user_message_id.as_str();
        let reason = match &e.kind {
            EventKind::Ack { .. } => {
                self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
                return Some(payload);
            }
            EventKind::DeliveryReport { .. } => return Some(payload),
            EventKind::Nack { nack_reason } => nack_reason.to_string(),
        };
        let attempt = self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        let Some(attempt) = attempt.filter(|_| self.spec.is_temporary(&reason)) else {
            return Some(payload);
        };
        let now = now_us();
        let delay = self.spec.delay(attempt.attempts + 1);
        let age = Duration::from_micros((now - attempt.first_at).max(0) as u64);
        if attempt.attempts >= self.spec.max_attempts || age + delay > self.spec.max_age {
            return Some(self.give_up(attempt, &reason, age));
        }
        if let Some(m) = self.bus.events().metrics.find(&self.transport) {
            m.retried();
        }
        tracing::info!(
            message_id = id,
            "transport {:?}: {reason}; attempt {} in {delay:?}",
            self.transport,
            attempt.attempts + 1
        );
        self.schedule(id.to_owned(), attempt, now + delay.as_micros() as i64, reason);
        None
    }

    /// Dead-letters the message and makes the nack that passes on.
    fn give_up(&self, attempt: Attempt, reason: &str, age: Duration) -> Payload {
        let why = format!(
            "{reason} (given up after {} attempts in {:.0} s)",
            attempt.attempts,
            age.as_secs_f64()
        );
        let id = attempt.payload.message_id().to_owned();
        let origin = format!("{}.outbound", self.transport);
        self.bus.record_failure(Failure::new(
            &self.transport,
            &self.transport,
            origin,
            attempt.payload,
            why.clone(),
        ));
        Event::new(
            &id,
            EventKind::Nack {
                nack_reason: why.as_str().into(),
            },
            &self.transport,
        )
        .into()
    }

    fn schedule(&self, id: String, attempt: Attempt, due_at: i64, reason: String) {
        let Some(store) = self.store.clone() else {
            let mut due = self.due.lock().unwrap_or_else(|p| p.into_inner());
            due.0.push(Reverse((due_at, id.clone())));
            due.1.insert(id, attempt);
            drop(due);
            self.wake.notify_one();
            return;
        };
        let row = Scheduled {
            message_id: id,
            transport: self.transport.clone(),
            attempts: attempt.attempts.into(),
            first_at: attempt.first_at,
            due_at,
            reason,
            body: vumi_json::encode(&attempt.payload),
        };
        tokio::spawn(async move {
            let id = row.message_id.clone();
            if let Err(e) = store.with_db(move |db| retries::put(db, &row)).await {
                tracing::error!(message_id = id.as_str(), "retry not scheduled in the store: {e}");
            }
        });
    }

    /// Forgets messages the transport never acked or nacked within the policy's age.
    fn sweep(&self) {
        let oldest = now_us() - self.spec.max_age.as_micros() as i64;
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, a| a.first_at >= oldest);
    }

    async fn run(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        let mut swept = tokio::time::Instant::now();
        loop {
            if swept.elapsed() >= Duration::from_secs(10) {
                self.sweep();
                swept = tokio::time::Instant::now();
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
            let due = match &self.store {
                Some(store) => self.claim(store).await,
                None => self.take_due(),
            };
            for (attempt, from_store) in due {
                self.send_again(attempt, from_store).await;
            }
        }
    }

    /// What is due in the in-memory schedule.
    fn take_due(&self) -> Vec<(Attempt, bool)> {
        let now = now_us();
        let mut due = self.due.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        while due.0.peek().is_some_and(|Reverse((at, _))| *at <= now) {
            if let Some(Reverse((_, id))) = due.0.pop() {
                out.extend(due.1.remove(&id).map(|a| (a, false)));
            }
        }
        out
    }

    /// What is due in the store, claimed for this process.
    async fn claim(&self, store: &Arc<Store>) -> Vec<(Attempt, bool)> {
        let transport = self.transport.clone();
        let claimed = store
            .with_db(move |db| retries::claim_due(db, &transport, now_us(), CLAIM_HOLD_US, 100))
            .await;
        let rows = claimed.unwrap_or_else(|e| {
            tracing::warn!("transport {:?}: retries not read from the store: {e}", self.transport);
            Vec::new()
        });
        rows.into_iter()
            .filter_map(|row| match vumi_json::decode_payload(row.body.as_bytes()) {
                Ok(payload) => Some((
                    Attempt {
                        payload,
                        attempts: row.attempts as u32,
                        first_at: row.first_at,
                    },
                    true,
                )),
                Err(e) => {
                    tracing::error!(
                        message_id = row.message_id.as_str(),
                        "a scheduled retry cannot be read: {e}"
                    );
                    None
                }
            })
            .collect()
    }

    /// Puts a due message back on the transport's queue, as its next attempt.
    async fn send_again(&self, attempt: Attempt, from_store: bool) {
        let id = attempt.payload.message_id().to_owned();
        let mut payload = attempt.payload;
        if let Payload::Message(m) = &mut payload {
            let carried = serde_json::json!({"attempts": attempt.attempts + 1, "first_at": attempt.first_at});
            m.helper_metadata.insert(RETRY_KEY, carried);
        }
        if let Err(e) = self.outbound.publish(payload).await {
            let kept = if from_store {
                "; it stays scheduled in the store"
            } else {
                ""
            };
            tracing::warn!(message_id = id.as_str(), "retry not sent: {e}{kept}");
            return;
        }
        if let (true, Some(store)) = (from_store, &self.store) {
            let transport = self.transport.clone();
            if let Err(e) = store.with_db(move |db| retries::done(db, &transport, &id)).await {
                tracing::warn!("transport {:?}: a sent retry is still scheduled: {e}", self.transport);
            }
        }
    }
}
