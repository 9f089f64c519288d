//! Looking a message up while the host runs (a plugin asking what became of a message): one
//! reading connection, opened at the first question and kept, used off the async runtime.

use super::query::{self, Found};
use super::{connect, Db, StoreError};
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

    /// A message and its events, by its id or its transport's id for it. Blocking.
    fn find_blocking(&self, id: &str) -> Result<Option<Found>, StoreError> {
        let mut guard = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(connect(&self.backend, false)?);
        }
        let Some(db) = guard.as_mut() else {
            unreachable!("the connection was opened above")
        };
        match query::get(db.as_mut(), id) {
            Ok(found) => Ok(found),
            Err(reason) => {
                *guard = None;
                Err(StoreError::Query {
                    name: self.name.clone(),
                    reason,
                })
            }
        }
    }

    pub(super) async fn find(self: &Arc<Self>, id: &str) -> Result<Option<Found>, StoreError> {
        let me = self.clone();
        let id = id.to_owned();
        match tokio::task::spawn_blocking(move || me.find_blocking(&id)).await {
            Ok(found) => found,
            Err(e) => Err(StoreError::Query {
                name: self.name.clone(),
                reason: super::DbError(format!("the lookup stopped: {e}")),
            }),
        }
    }
}
