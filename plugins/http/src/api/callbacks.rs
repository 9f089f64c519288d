//! Calling clients back (delivery reports, events, inbound messages): each callback runs on its
//! own task, retried with backoff on connection errors, timeouts, 5xx and 429, and kept as a
//! failure (with what it was about) when the retries are spent — never dropped silently.
//!
//! Bounds: at most `max_in_flight` callbacks are under way at once (an event waits for room
//! beyond that, so a flood slows the event queue instead of growing memory); each receiver
//! (scheme, host and port) gets at most `per_receiver` requests at once and may have at most
//! `max_waiting_per_receiver` callbacks waiting, so a slow receiver holds up only its own.
//! The callbacks of one message are made one after the other, in the order its events came:
//! a client hears "submitted" before "delivered".

use super::config::Callbacks as Limits;
use crate::delivery::{client, deliver, deliver_with, judge, Answer, RetryPolicy};
use crate::escape::{for_log, url_for_log};
use crate::pipelined::{self, Pool};
use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::tokio::sync::{OwnedSemaphorePermit, Semaphore};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// One request to make.
pub struct Callback {
    pub method: Method,
    pub url: String,
    /// Content type and body (POST).
    pub body: Option<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
    /// The answer's body must be this (blanks around it aside) to count as received.
    pub expect: Option<&'static str>,
    /// What is kept as the failure if it never gets through.
    pub about: Payload,
    /// What the URL is (`dlr-url`, `event_url`, `mo_url`), for the failure's reason.
    pub what: &'static str,
    /// The message it is about: callbacks of one message keep their order.
    pub lane: String,
}

/// A callback with its room taken, waiting for its turn in its message's lane.
struct Queued {
    cb: Callback,
    url: reqwest::Url,
    _permit: OwnedSemaphorePermit,
    receiver: Arc<Receiver>,
    key: String,
}

/// The most receivers whose connections are kept open at once; beyond it, a callback to
/// another receiver goes on a connection of its own.
const MAX_POOLS: usize = 1024;

/// One receiver's turns. `waiting` changes only under the lock on the map of receivers, so an
/// entry is forgotten exactly when nothing waits for it.
struct Receiver {
    permits: Semaphore,
    waiting: AtomicUsize,
}

pub struct Callbacks {
    ctx: Context,
    client: reqwest::Client,
    policy: RetryPolicy,
    limits: Limits,
    in_flight: Arc<Semaphore>,
    receivers: Mutex<HashMap<String, Arc<Receiver>>>,
    /// Per message under way: the callbacks waiting behind the one being made.
    lanes: Mutex<HashMap<String, VecDeque<Queued>>>,
    /// The open connections to each plain-`http` receiver.
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    /// Callback URLs as clients gave them, and their receivers' keys.
    keys: Mutex<HashMap<String, String>>,
}

/// How many callback URLs [`Callbacks::receiver_key`] keeps.
const KEYS_KEPT: usize = 256;

/// Where a URL's requests go (scheme, host and port), and the URL parsed.
fn receiver_of(url: &str) -> Result<(String, reqwest::Url), String> {
    let u = reqwest::Url::parse(url).map_err(|e| format!("{:?} is not a URL: {e}", url_for_log(url)))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("{:?} is not an http or https URL", url_for_log(url)));
    }
    let host = u.host_str().unwrap_or_default();
    let key = format!("{}://{host}:{}", u.scheme(), u.port_or_known_default().unwrap_or(0));
    Ok((key, u))
}

impl Callbacks {
    pub fn new(ctx: Context, limits: &Limits) -> Result<Self, String> {
        let policy = limits.policy();
        Ok(Self {
            client: client(&policy)?,
            ctx,
            policy,
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
            limits: limits.clone(),
            receivers: Mutex::default(),
            lanes: Mutex::default(),
            pools: Mutex::default(),
            keys: Mutex::default(),
        })
    }

    /// Starts `cb` on its own task once there is room; returns when it has started (or has been
    /// kept as a failure because its receiver has too many waiting).
    pub async fn send(self: &Arc<Self>, cb: Callback) {
        let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
            return;
        };
        let (key, url) = match receiver_of(&cb.url) {
            Ok(found) => found,
            Err(reason) => return self.ctx.keep_failure(cb.about, &format!("{}: {reason}", cb.what)),
        };
        let Some(receiver) = self.enter(&key) else {
            let reason = format!(
                "{} {}: {} callbacks to {key} are waiting already (max_waiting_per_receiver)",
                cb.what,
                url_for_log(&cb.url),
                self.limits.max_waiting_per_receiver
            );
            return self.ctx.keep_failure(cb.about, &reason);
        };
        let lane = cb.lane.clone();
        let queued = Queued {
            cb,
            url,
            _permit: permit,
            receiver,
            key,
        };
        {
            let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(waiting) = lanes.get_mut(&lane) {
                waiting.push_back(queued);
                return;
            }
            lanes.insert(lane.clone(), VecDeque::new());
        }
        let me = self.clone();
        self.ctx.spawn(async move {
            let mut next = Some(queued);
            while let Some(q) = next {
                me.make(q).await;
                let mut lanes = me.lanes.lock().unwrap_or_else(|p| p.into_inner());
                next = lanes.get_mut(&lane).and_then(VecDeque::pop_front);
                if next.is_none() {
                    lanes.remove(&lane);
                }
            }
        });
    }

    /// Makes one callback, keeping it as a failure when it never gets through.
    async fn make(&self, q: Queued) {
        let result = self.run(&q).await;
        self.leave(&q.key);
        if let Err(reason) = result {
            let reason = format!("{} {} not delivered: {reason}", q.cb.what, url_for_log(&q.cb.url));
            self.ctx.keep_failure(q.cb.about, &reason);
        }
    }

    /// How many callbacks to `url`'s receiver wait or are under way.
    pub fn waiting_for(&self, url: &str) -> usize {
        let Some(key) = self.receiver_key(url) else { return 0 };
        let map = self.receivers.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&key).map_or(0, |r| r.waiting.load(Ordering::Relaxed))
    }

    /// [`receiver_of`]'s key for a callback URL as a client gave it (a client sends the same
    /// one with each message, so the last [`KEYS_KEPT`] are kept rather than parsed again).
    fn receiver_key(&self, url: &str) -> Option<String> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = keys.get(url) {
            return Some(key.clone());
        }
        let (key, _) = receiver_of(url).ok()?;
        if keys.len() >= KEYS_KEPT {
            keys.clear();
        }
        keys.insert(url.to_owned(), key.clone());
        Some(key)
    }

    /// Waits until `url`'s receiver has fewer than `max_backlog_per_receiver` callbacks waiting,
    /// at most `wait`: a client whose receiver falls behind is slowed down before its reports
    /// pile up (other clients are not). The reason when the wait was not enough.
    pub async fn room_for(&self, url: &str, wait: std::time::Duration) -> Result<(), String> {
        let limit = self.limits.max_backlog_per_receiver;
        let deadline = std::time::Instant::now() + wait;
        loop {
            let waiting = self.waiting_for(url);
            if waiting < limit {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(format!(
                    "{waiting} callbacks to {} wait already (max_backlog_per_receiver {limit})",
                    url_for_log(url)
                ));
            }
            ruvuma_plugin_api::tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Counts one more callback waiting for `key`, unless it has too many.
    fn enter(&self, key: &str) -> Option<Arc<Receiver>> {
        let mut map = self.receivers.lock().unwrap_or_else(|p| p.into_inner());
        let receiver = map.entry(key.to_owned()).or_insert_with(|| {
            Arc::new(Receiver {
                permits: Semaphore::new(self.limits.per_receiver),
                waiting: AtomicUsize::new(0),
            })
        });
        if receiver.waiting.load(Ordering::Relaxed) >= self.limits.max_waiting_per_receiver {
            return None;
        }
        receiver.waiting.fetch_add(1, Ordering::Relaxed);
        Some(receiver.clone())
    }

    /// One callback to `key` less; a receiver nothing waits for is forgotten.
    fn leave(&self, key: &str) {
        let mut map = self.receivers.lock().unwrap_or_else(|p| p.into_inner());
        if map
            .get(key)
            .is_some_and(|r| r.waiting.fetch_sub(1, Ordering::Relaxed) == 1)
        {
            map.remove(key);
        }
    }

    async fn run(&self, q: &Queued) -> Result<Answer, String> {
        let cb = &q.cb;
        let _turn = q.receiver.permits.acquire().await;
        let accept = |answer: Answer| match cb.expect {
            Some(expected) if String::from_utf8_lossy(&answer.body).trim() != expected => {
                let head = String::from_utf8_lossy(&answer.body[..answer.body.len().min(80)]).into_owned();
                Err((true, format!("the answer is not {expected:?}: {:?}", for_log(&head))))
            }
            _ => Ok(answer),
        };
        if q.url.scheme() == "http" && !self.policy.follow_redirects {
            let get = cb.method == Method::Get;
            let body = cb.body.as_ref().map(|(t, b)| (*t, b.as_str()));
            let request = pipelined::prepare(get, &q.url, &cb.headers, body)?;
            let pool = self.pool(&q.key, &q.url);
            let once = || async {
                let r = pool
                    .send(&request)
                    .await
                    .map_err(|(again, why)| (again, format!("no answer from {}: {why}", url_for_log(&cb.url))))?;
                let headers = reqwest::header::HeaderMap::new();
                judge(r.status, headers, r.body, r.location.as_deref(), &cb.url)
            };
            return deliver_with(once, &self.policy, accept).await;
        }
        let build = || {
            let mut request = match cb.method {
                Method::Get => self.client.get(q.url.clone()),
                Method::Post => self.client.post(q.url.clone()),
            };
            for (name, value) in &cb.headers {
                request = request.header(*name, value);
            }
            if let Some((content_type, body)) = &cb.body {
                request = request.header("content-type", *content_type).body(body.clone());
            }
            request
        };
        deliver(build, &cb.url, &self.policy, accept).await
    }

    /// The connections kept to the receiver `key` (of `url`); a pool of its own, not kept,
    /// when [`MAX_POOLS`] receivers with open connections are kept already.
    fn pool(&self, key: &str, url: &reqwest::Url) -> Arc<Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pool) = pools.get(key) {
            return pool.clone();
        }
        let host = &url[url::Position::BeforeHost..url::Position::AfterHost];
        let addr = format!("{host}:{}", url.port_or_known_default().unwrap_or(80));
        let depth = self.limits.pipeline;
        let connections = self.limits.per_receiver.div_ceil(depth);
        let timeout = std::time::Duration::from_millis(self.policy.timeout_ms);
        let pool = Arc::new(Pool::new(addr, connections, depth, self.policy.max_reply_body, timeout));
        if pools.len() >= MAX_POOLS {
            pools.retain(|_, p| !p.is_idle());
        }
        if pools.len() < MAX_POOLS {
            pools.insert(key.to_owned(), pool.clone());
        }
        pool
    }
}
