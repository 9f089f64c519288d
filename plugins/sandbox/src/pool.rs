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
        let gate = {
            let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
            users.entry(user.to_owned()).or_default().clone()
        };
        let held = gate.lock().await;
        let out = f.await;
        drop(held);
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map and this call hold it: no one else waits.
        if Arc::strong_count(&gate) == 2 {
            users.remove(user);
        }
        out
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
