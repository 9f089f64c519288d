//! Dead letters: from the store when the config has one, else from the memory bus's ring or
//! RabbitMQ's `<endpoint>.failures` queues. A replay puts the message back on the routing key
//! it came from and forgets the letter.

use super::Admin;
use crate::bus::{Backend, Failure};
use crate::store::failures::{self as kept, DeadLetter};
use ruvuma_plugin_api::vumi_json;

/// Why a failure could not be listed, replayed or purged.
#[derive(Debug, thiserror::Error)]
pub enum FailuresError {
    #[error("no failure {0:?}")]
    NotFound(String),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the failure queues cannot be read: {0}")]
    Broker(#[from] crate::bus::BusError),
    #[error("failure {id}: its message cannot be read back: {reason}")]
    Unreadable { id: String, reason: String },
    #[error("failure {id}: cannot publish it on {key}: {reason}")]
    Publish { id: String, key: String, reason: String },
}

fn from_ring(f: &Failure) -> DeadLetter {
    f.dead_letter()
}

/// The `<endpoint>.failures` queues of this host's components.
fn queues(admin: &Admin) -> Vec<String> {
    let mut out: Vec<String> = admin
        .shown()
        .components
        .iter()
        .filter(|c| c.kind != "middleware" && c.kind != "observer")
        .map(|c| format!("{}.failures", c.endpoint))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A record from a failure queue, when it is one of ruvuma's (it has a `failure_id`).
fn from_queue(kept: crate::bus::KeptFailure) -> Option<DeadLetter> {
    let r = &kept.record;
    let text = |k: &str| r[k].as_str().map(str::to_owned);
    Some(DeadLetter {
        failure_id: text("failure_id")?,
        component: text("component").unwrap_or_default(),
        origin: text("origin").unwrap_or_default(),
        message_id: r["message"]["message_id"].as_str().unwrap_or("").to_owned(),
        reason: text("reason").unwrap_or_default(),
        failed_at: r["failed_at"].as_i64().unwrap_or(0),
        body: r["message"].to_string(),
    })
}

pub async fn list(admin: &Admin, component: Option<String>, limit: usize) -> Result<Vec<DeadLetter>, FailuresError> {
    if let Some(store) = &admin.store {
        return Ok(store
            .with_db(move |db| kept::list(db, component.as_deref(), limit))
            .await?);
    }
    match admin.bus.backend() {
        Backend::Memory(m) => Ok(m
            .failures()
            .iter()
            .rev()
            .filter(|f| component.as_deref().is_none_or(|c| c == f.component))
            .take(limit)
            .map(from_ring)
            .collect()),
        Backend::Amqp(a) => {
            let mut all: Vec<DeadLetter> = a
                .failures(&queues(admin), crate::store::query::MAX_PAGE)
                .await?
                .into_iter()
                .filter_map(from_queue)
                .filter(|f| component.as_deref().is_none_or(|c| c == f.component))
                .collect();
            all.sort_by_key(|f| std::cmp::Reverse(f.failed_at));
            all.truncate(limit);
            Ok(all)
        }
    }
}

pub async fn get(admin: &Admin, id: &str) -> Result<DeadLetter, FailuresError> {
    let found = if let Some(store) = &admin.store {
        let key = id.to_owned();
        store.with_db(move |db| kept::get(db, &key)).await?
    } else {
        match admin.bus.backend() {
            Backend::Memory(m) => m.failures().iter().find(|f| f.id == id).map(from_ring),
            Backend::Amqp(a) => a
                .failures(&queues(admin), crate::store::query::MAX_PAGE)
                .await?
                .into_iter()
                .filter_map(from_queue)
                .find(|f| f.failure_id == id),
        }
    };
    found.ok_or_else(|| FailuresError::NotFound(id.to_owned()))
}

/// Publishes the failure's message on its origin again and forgets the failure.
pub async fn replay(admin: &Admin, id: &str) -> Result<DeadLetter, FailuresError> {
    let letter = match (admin.store.is_some(), admin.bus.backend()) {
        // On the broker, taken off its queue first: two replays of one failure cannot both find it.
        (false, Backend::Amqp(a)) => a
            .take_failure(&queues(admin), id)
            .await?
            .and_then(from_queue)
            .ok_or_else(|| FailuresError::NotFound(id.to_owned()))?,
        _ => get(admin, id).await?,
    };
    let payload = vumi_json::decode_payload(letter.body.as_bytes()).map_err(|e| FailuresError::Unreadable {
        id: id.to_owned(),
        reason: e.to_string(),
    })?;
    let publisher = admin.bus.publisher(&letter.origin);
    if let Err(e) = publisher.publish(payload.clone()).await {
        if admin.store.is_none() && admin.bus.is_shared() {
            // It was taken off its queue: it goes back as a failure of its own.
            let endpoint = letter.origin.rsplit_once('.').map_or("", |(e, _)| e);
            let why = format!("{} (a replay could not be published: {e})", letter.reason);
            admin.bus.record_failure(Failure::new(
                &letter.component,
                endpoint,
                letter.origin.clone(),
                payload,
                why,
            ));
        }
        return Err(FailuresError::Publish {
            id: id.to_owned(),
            key: letter.origin.clone(),
            reason: e.to_string(),
        });
    }
    forget(admin, id).await?;
    tracing::info!(
        "failure {id} of {:?} replayed on {} (message {})",
        letter.component,
        letter.origin,
        letter.message_id
    );
    Ok(letter)
}

async fn forget(admin: &Admin, id: &str) -> Result<(), FailuresError> {
    if let Some(store) = &admin.store {
        let key = id.to_owned();
        store.with_db(move |db| kept::delete(db, &key)).await?;
    } else if let Backend::Memory(m) = admin.bus.backend() {
        m.take_failure(id);
    }
    Ok(())
}

/// Forgets every failure (of one component, when given); how many.
pub async fn purge(admin: &Admin, component: Option<String>) -> Result<u64, FailuresError> {
    let n = if let Some(store) = &admin.store {
        store.with_db(move |db| kept::purge(db, component.as_deref())).await?
    } else {
        match admin.bus.backend() {
            Backend::Memory(m) => m.purge_failures(component.as_deref()) as u64,
            Backend::Amqp(a) => {
                let all = queues(admin);
                let mine: Vec<String> = match component.as_deref() {
                    Some(c) => admin
                        .shown()
                        .components
                        .iter()
                        .filter(|x| x.name == c)
                        .map(|x| format!("{}.failures", x.endpoint))
                        .collect(),
                    None => all,
                };
                a.purge_failures(&mine).await?
            }
        }
    };
    tracing::info!("{n} failures purged");
    Ok(n)
}
