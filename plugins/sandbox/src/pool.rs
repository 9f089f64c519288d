//! The app's workers. A user's messages go one at a time and in order (each waits for the one
//! before it to end), each to the worker with the most free slots, as a process per message
//! under Vumi had no worker of its own either; a worker that died is replaced when it is next
//! needed.

use crate::isolate::Spec;
use crate::worker::Worker;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Mutex as AsyncMutex;

pub struct Pool {
    spec: Arc<Spec>,
    workers: Vec<AsyncMutex<Option<Arc<Worker>>>>,
    /// Where the search for the least busy worker starts, turning so that ties spread.
    turn: AtomicUsize,
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
            turn: AtomicUsize::new(0),
            users: Mutex::default(),
        })
    }

    /// The worker with the most free slots (a dead one counts as all free), started again
    /// first if it has died.
    pub async fn worker(&self) -> Result<Arc<Worker>, String> {
        let i = self.least_busy();
        let mut held = self.workers[i].lock().await;
        if let Some(w) = held.as_ref().filter(|w| w.is_alive()) {
            return Ok(w.clone());
        }
        let w = Worker::start(&self.spec, i).await?;
        tracing::info!("sandbox worker {i} started again");
        *held = Some(w.clone());
        Ok(w)
    }

    fn least_busy(&self) -> usize {
        let n = self.workers.len();
        let start = self.turn.fetch_add(1, Ordering::Relaxed) % n;
        let free = |i: usize| match self.workers[i].try_lock() {
            Ok(held) => held
                .as_ref()
                .filter(|w| w.is_alive())
                .map_or(self.spec.slots, |w| w.free_slots()),
            // Being started again: it will have every slot free.
            Err(_) => self.spec.slots,
        };
        (0..n)
            .map(|k| (start + k) % n)
            .max_by_key(|&i| (free(i), std::cmp::Reverse((i + n - start) % n)))
            .unwrap_or(0)
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
