//! Reading and small writes while the host runs (a plugin asking what became of a message, the
//! admin server listing failures): one connection, opened at the first question and kept, used
//! off the async runtime.

use super::{connect, Db, DbError, StoreError};
use crate::config::StoreBackend;
use std::sync::{Arc, Mutex};

pub(super) struct Lookup {
    backend: StoreBackend,
    name: String,
    /// The connection, once opened; dropped after an error so that the next question reconnects.
    db: Mutex<Option<Box<dyn Db>>>,
}

impl Lookup {
    pub(super) fn new(backend: StoreBackend, name: String) -> Arc<Self> {
        Arc::new(Self {
            backend,
            name,
            db: Mutex::new(None),
        })
    }

    /// Runs `f` on the connection. Blocking.
    fn run_blocking<T>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T, DbError>) -> Result<T, StoreError> {
        let mut guard = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(connect(&self.backend, false)?);
        }
        let Some(db) = guard.as_mut() else {
            unreachable!("the connection was opened above")
        };
        f(db.as_mut()).map_err(|reason| {
            *guard = None;
            StoreError::Query {
                name: self.name.clone(),
                reason,
            }
        })
    }

    /// Runs `f` on the connection, off the runtime.
    pub(super) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut dyn Db) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let me = self.clone();
        match tokio::task::spawn_blocking(move || me.run_blocking(f)).await {
            Ok(found) => found,
            Err(e) => Err(StoreError::Query {
                name: self.name.clone(),
                reason: DbError(format!("the lookup stopped: {e}")),
            }),
        }
    }
}
