//! The app's workers. A user's messages always go to the same worker (by a hash of the
//! address), one at a time and in order; a worker that died is replaced when it is next needed.

use crate::isolate::Spec;
use crate::worker::Worker;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use tokio::sync::Mutex as AsyncMutex;

pub struct Pool {
    spec: Arc<Spec>,
    workers: Vec<AsyncMutex<Option<Arc<Worker>>>>,
    /// One gate per user with a message in hand; gone once no one waits on it.
    users: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

impl Pool {
    /// Starts `n` workers, each loading the app: the first that cannot is the error.
    pub async fn start(spec: Spec, n: usize) -> Result<Pool, String> {
        let spec = Arc::new(spec);
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            workers.push(AsyncMutex::new(Some(Worker::start(&spec, i).await?)));
        }
        Ok(Pool {
            spec,
            workers,
            users: Mutex::default(),
        })
    }

    /// The worker for `key`, started again first if it has died.
    pub async fn worker(&self, key: &str) -> Result<Arc<Worker>, String> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let i = (h.finish() % self.workers.len() as u64) as usize;
        let mut held = self.workers[i].lock().await;
        if let Some(w) = held.as_ref().filter(|w| w.is_alive()) {
            return Ok(w.clone());
        }
        let w = Worker::start(&self.spec, i).await?;
        tracing::info!("sandbox worker {i} started again");
        *held = Some(w.clone());
        Ok(w)
    }

    /// Runs `f` when `user` has no other message in hand.
    pub async fn in_order<T>(&self, user: &str, f: impl std::future::Future<Output = T>) -> T {
        let gate = Gate::new(&self.users, user);
        let _held = gate.lock.lock().await;
        f.await
    }

    /// Kills every worker.
    pub fn stop(&self) {
        for w in &self.workers {
            if let Ok(held) = w.try_lock() {
                if let Some(w) = held.as_ref() {
                    w.kill();
                }
            }
        }
    }
}

/// A user's place in line; the map forgets the user when the last one waiting leaves (also when
/// the message is dropped half way).
struct Gate<'p> {
    users: &'p Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
    user: String,
    lock: Arc<AsyncMutex<()>>,
}

impl<'p> Gate<'p> {
    fn new(users: &'p Mutex<HashMap<String, Arc<AsyncMutex<()>>>>, user: &str) -> Self {
        let lock = users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(user.to_owned())
            .or_default()
            .clone();
        Gate {
            users,
            user: user.to_owned(),
            lock,
        }
    }
}

impl Drop for Gate<'_> {
    fn drop(&mut self) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map and this gate hold it: no one else waits.
        if Arc::strong_count(&self.lock) == 2 {
            users.remove(&self.user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_users_messages_wait_in_line_and_the_line_is_forgotten_after() {
        let users: Mutex<HashMap<String, Arc<AsyncMutex<()>>>> = Mutex::default();
        let first = Gate::new(&users, "u");
        let held = first.lock.clone().lock_owned().await;
        let second = Gate::new(&users, "u");
        assert!(second.lock.try_lock().is_err(), "the second waits for the first");
        drop(held);
        drop(first);
        assert_eq!(users.lock().unwrap().len(), 1, "still one waiting");
        drop(second);
        assert!(users.lock().unwrap().is_empty(), "forgotten once no one waits");
    }
}
