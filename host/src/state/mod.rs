//! The state store handed to plugins: key/value with lifetimes and atomic increments. Every key
//! has a bounded lifetime. `memory` keeps it in this process; `redis` shares it between
//! processes.

mod memory;
mod redis;

pub use self::memory::MemoryState;
pub use self::redis::RedisState;

use crate::config::StateSpec;
use crate::text::redact_url;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("every state key needs a lifetime: ttl must be positive")]
    NoLifetime,
    #[error("state key {key:?} does not hold a number")]
    NotANumber { key: String },
    #[error("state key {key:?} would overflow")]
    Overflow { key: String },
    #[error("the state store holds {keys} keys, its limit: new keys are refused until some expire")]
    Full { keys: usize },
    #[error("state: cannot connect to redis at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("state store (redis) {what}: {reason}")]
    Redis { what: &'static str, reason: String },
}

/// Where state lives.
pub enum StateStore {
    Memory(MemoryState),
    Redis(RedisState),
}

fn ttl(ttl_ms: u64) -> Result<Duration, StateError> {
    if ttl_ms == 0 {
        Err(StateError::NoLifetime)
    } else {
        Ok(Duration::from_millis(ttl_ms))
    }
}

impl StateStore {
    /// Opens the state store a config names.
    pub async fn open(spec: &StateSpec) -> Result<Arc<Self>, StateError> {
        Ok(Arc::new(match spec {
            StateSpec::Memory { max_keys } => StateStore::Memory(MemoryState::new(*max_keys)),
            StateSpec::Redis { url, key_prefix } => StateStore::Redis(RedisState::connect(url, key_prefix).await?),
        }))
    }

    /// Whether the store answers (Redis: a PING within 2 s).
    pub async fn ping(&self) -> Result<(), StateError> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::Redis(r) => r.ping().await,
        }
    }

    /// `memory` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(_) => "redis",
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, StateError> {
        match self {
            Self::Memory(m) => Ok(m.get(key)),
            Self::Redis(r) => r.get(key).await,
        }
    }

    pub async fn set(&self, key: &str, value: &str, ttl_ms: u64) -> Result<(), StateError> {
        match self {
            Self::Memory(m) => m.set(key, value, ttl_ms),
            Self::Redis(r) => r.set(key, value, ttl_ms).await,
        }
    }

    pub async fn incr(&self, key: &str, by: i64, ttl_ms: u64) -> Result<i64, StateError> {
        match self {
            Self::Memory(m) => m.incr(key, by, ttl_ms),
            Self::Redis(r) => r.incr(key, by, ttl_ms).await,
        }
    }

    pub async fn delete(&self, key: &str) -> Result<bool, StateError> {
        match self {
            Self::Memory(m) => Ok(m.delete(key)),
            Self::Redis(r) => r.delete(key).await,
        }
    }
}
