//! The state store on Redis, shared by every host process that names the same server and
//! `key_prefix`. Lifetimes are Redis expiries; the connection reconnects by itself.

use super::{redact_url, ttl, StateError};
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::AsyncCommands;
use std::time::Duration;

pub struct RedisState {
    connection: ConnectionManager,
    prefix: String,
}

fn failed(what: &'static str, e: redis::RedisError) -> StateError {
    StateError::Redis {
        what,
        reason: e.to_string(),
    }
}

impl RedisState {
    /// Connects to `url`; every key is stored as `<prefix>:<key>`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StateError> {
        let refused = |reason: String| StateError::Connect {
            url: redact_url(url),
            reason,
        };
        let client = redis::Client::open(url).map_err(|e| refused(format!("not a redis URL: {e}")))?;
        // Reconnects after a lost connection back off up to a second between tries; a server that
        // is not there at start is an error within seconds, not a hang.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(3)
            .set_max_delay(1000)
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(5));
        let connection = tokio::time::timeout(
            Duration::from_secs(10),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| refused("no answer within 10 s".into()))?
        .map_err(|e| refused(e.to_string()))?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.prefix)
    }

    pub async fn ping(&self) -> Result<(), StateError> {
        let mut c = self.connection.clone();
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut c);
        match tokio::time::timeout(Duration::from_secs(2), ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(failed("ping", e)),
            Err(_) => Err(StateError::Redis {
                what: "ping",
                reason: "no answer within 2 s".into(),
            }),
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, StateError> {
        let mut c = self.connection.clone();
        c.get(self.key(key)).await.map_err(|e| failed("get", e))
    }

    pub async fn set(&self, key: &str, value: &str, ttl_ms: u64) -> Result<(), StateError> {
        ttl(ttl_ms)?;
        let mut c = self.connection.clone();
        let options = redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ttl_ms));
        c.set_options::<_, _, ()>(self.key(key), value, options)
            .await
            .map_err(|e| failed("set", e))
    }

    /// INCRBY, and an expiry for a key that has none yet (a new one): atomic in one transaction.
    pub async fn incr(&self, key: &str, by: i64, ttl_ms: u64) -> Result<i64, StateError> {
        ttl(ttl_ms)?;
        let mut c = self.connection.clone();
        let key = self.key(key);
        let (value, _): (i64, i64) = redis::pipe()
            .atomic()
            .incr(&key, by)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ttl_ms)
            .arg("NX")
            .query_async(&mut c)
            .await
            .map_err(|e| failed("incr", e))?;
        Ok(value)
    }

    pub async fn delete(&self, key: &str) -> Result<bool, StateError> {
        let mut c = self.connection.clone();
        let removed: i64 = c.del(self.key(key)).await.map_err(|e| failed("delete", e))?;
        Ok(removed > 0)
    }

    /// Milliseconds until `key` expires (for tests and diagnostics); negative as Redis says.
    pub async fn ttl_ms(&self, key: &str) -> Result<i64, StateError> {
        let mut c = self.connection.clone();
        redis::cmd("PTTL")
            .arg(self.key(key))
            .query_async(&mut c)
            .await
            .map_err(|e| failed("pttl", e))
    }
}

/// Against the real Redis on 127.0.0.1:6379 (`.ci/run` starts it when it is not running): these
/// fail, loudly, when it is missing.
#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> RedisState {
        let prefix = format!("ruvuma-test-{}-{}", std::process::id(), uuid_like());
        RedisState::connect("redis://127.0.0.1:6379", &prefix)
            .await
            .unwrap_or_else(|e| panic!("these tests need Redis on 127.0.0.1:6379: {e}"))
    }

    fn uuid_like() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn set_get_delete_with_lifetimes() {
        let s = store().await;
        s.set("k", "v", 60_000).await.unwrap();
        assert_eq!(s.get("k").await.unwrap().as_deref(), Some("v"));
        let ttl = s.ttl_ms("k").await.unwrap();
        assert!(ttl > 0 && ttl <= 60_000, "the key keeps its lifetime in Redis: {ttl}");
        assert!(s.delete("k").await.unwrap());
        assert!(!s.delete("k").await.unwrap());
        assert_eq!(s.get("k").await.unwrap(), None);
        assert!(s.set("k", "v", 0).await.is_err(), "keys without a lifetime are refused");
        s.set("short", "v", 30).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(80)).await;
        assert_eq!(s.get("short").await.unwrap(), None, "expired");
    }

    #[tokio::test]
    async fn incr_is_atomic_and_keeps_the_first_lifetime() {
        let s = std::sync::Arc::new(store().await);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move {
                    for _ in 0..50 {
                        s.incr("n", 1, 60_000).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(s.get("n").await.unwrap().as_deref(), Some("400"));
        let first = s.ttl_ms("n").await.unwrap();
        s.incr("n", 1, 1_000_000).await.unwrap();
        let after = s.ttl_ms("n").await.unwrap();
        assert!(
            after <= first,
            "an existing key keeps its lifetime ({first} then {after})"
        );
        s.delete("n").await.unwrap();
    }
}
