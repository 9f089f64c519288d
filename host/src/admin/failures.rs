//! Dead letters: from the store when the config has one, else from the memory bus's ring.
//! A replay puts the message back on the routing key it came from and forgets the letter.

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
    #[error("failures are kept on the broker's <name>.failures queues; add a `store:` to list and replay them here")]
    NotKept,
    #[error("failure {id}: its message cannot be read back: {reason}")]
    Unreadable { id: String, reason: String },
    #[error("failure {id}: cannot publish it on {key}: {reason}")]
    Publish { id: String, key: String, reason: String },
}

fn from_ring(f: &Failure) -> DeadLetter {
    f.dead_letter()
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
        Backend::Amqp(_) => Err(FailuresError::NotKept),
    }
}

pub async fn get(admin: &Admin, id: &str) -> Result<DeadLetter, FailuresError> {
    let found = if let Some(store) = &admin.store {
        let key = id.to_owned();
        store.with_db(move |db| kept::get(db, &key)).await?
    } else {
        match admin.bus.backend() {
            Backend::Memory(m) => m.failures().iter().find(|f| f.id == id).map(from_ring),
            Backend::Amqp(_) => return Err(FailuresError::NotKept),
        }
    };
    found.ok_or_else(|| FailuresError::NotFound(id.to_owned()))
}

/// Publishes the failure's message on its origin again and forgets the failure.
pub async fn replay(admin: &Admin, id: &str) -> Result<DeadLetter, FailuresError> {
    let letter = get(admin, id).await?;
    let payload = vumi_json::decode_payload(letter.body.as_bytes()).map_err(|e| FailuresError::Unreadable {
        id: id.to_owned(),
        reason: e.to_string(),
    })?;
    let publisher = admin.bus.publisher(&letter.origin);
    publisher.publish(payload).await.map_err(|e| FailuresError::Publish {
        id: id.to_owned(),
        key: letter.origin.clone(),
        reason: e.to_string(),
    })?;
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
            Backend::Amqp(_) => return Err(FailuresError::NotKept),
        }
    };
    tracing::info!("{n} failures purged");
    Ok(n)
}
