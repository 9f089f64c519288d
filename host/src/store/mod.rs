//! The message store: every message and event that passes a transport, with each outbound
//! message's status derived from its events, on SQLite (embedded) or PostgreSQL. It doubles as
//! the memory bus's journal: what was accepted and not yet handled is kept until it is, and
//! handed out again after a crash.
//!
//! Writing is off the message path: publishers hand records to [`Store::record`], which returns
//! at once while the buffer has room, and one writer thread writes them in batches, one
//! transaction each (`writer.rs`). A journal entry is different: its publisher waits until it is
//! committed, so what a transport has answered for is on disk first.

pub mod counts;
mod db;
pub mod failures;
mod health;
mod journal;
mod journal_file;
mod legacy;
mod lookup;
mod postgres;
pub mod query;
mod retention;
pub mod retries;
mod room;
mod rows;
mod schema;
mod sqlite;
mod writer;

pub use db::{Cell, Db, DbError};
pub use health::Health;
pub use journal_file::{peek as peek_journal, Entry, JournalError};
pub use rows::{normalize_id, Kept};
pub use schema::SchemaError;

use crate::config::{StoreBackend, StoreSpec};
use journal::{JournalOp, JournalRow, JournalWriter};
use journal_file::JournalFile;
use rows::{Batching, Record};
use ruvuma_plugin_api::{Flow, Timestamp};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use writer::{RecordOp, Writer};

/// How long a connection waits for a database before it gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the writer's statements wait on another connection's lock before they fail (and
/// the batch is tried again).
const BUSY_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {name}: cannot open it: {reason}")]
    Open { name: String, reason: DbError },
    #[error("store {0}")]
    Schema(#[from] SchemaError),
    #[error("store {name}: {reason}")]
    Query { name: String, reason: DbError },
    #[error("store: {0}")]
    Journal(#[from] JournalError),
}

/// The store's name in logs and errors: the file, or the URL without its password.
pub fn name_of(backend: &StoreBackend) -> String {
    match backend {
        StoreBackend::Sqlite { path } => path.display().to_string(),
        StoreBackend::Postgres { url } => postgres::redact(url),
    }
}

/// A connection to the store a config names, its schema checked and brought up to date.
/// `create` makes an SQLite file that is not there yet (the host does; the query commands do not).
pub fn connect(backend: &StoreBackend, create: bool) -> Result<Box<dyn Db>, StoreError> {
    let name = name_of(backend);
    let open = |reason| StoreError::Open {
        name: name.clone(),
        reason,
    };
    let mut db: Box<dyn Db> = match backend {
        StoreBackend::Sqlite { path } => Box::new(sqlite::Sqlite::open(path, create, BUSY_WAIT).map_err(open)?),
        StoreBackend::Postgres { url } => Box::new(postgres::Postgres::connect(url, CONNECT_TIMEOUT).map_err(open)?),
    };
    schema::migrate(db.as_mut(), &name)?;
    Ok(db)
}

/// Where the memory bus's journal is kept: `store.journal`, else a folder beside an SQLite
/// store (`data/ruvuma.db` → `data/ruvuma.journal`), else `data/ruvuma.journal`.
pub fn journal_dir(spec: &StoreSpec) -> PathBuf {
    match (&spec.journal, &spec.backend) {
        (Some(dir), _) => dir.clone(),
        (None, StoreBackend::Sqlite { path }) => path.with_extension("journal"),
        (None, StoreBackend::Postgres { .. }) => PathBuf::from("data/ruvuma.journal"),
    }
}

/// Opens the journal, and moves into it what an older ruvuma journaled in the database (a
/// `journal` table: in the store's database on PostgreSQL, in `<store>.journal.db` beside an
/// SQLite store), which is then dropped.
fn open_journal(spec: &StoreSpec) -> Result<(JournalFile, journal_file::Recovered), StoreError> {
    let (mut file, mut recovered) = JournalFile::open(&journal_dir(spec))?;
    for line in &recovered.damage {
        tracing::error!("journal {line}");
    }
    let Some((name, legacy)) = legacy::read(&spec.backend)? else {
        return Ok((file, recovered));
    };
    let io = |error| {
        StoreError::Journal(JournalError::Io {
            dir: name.clone(),
            what: "cannot move the old journal's entries into it".into(),
            error,
        })
    };
    let moved = legacy.len();
    for (i, (_, key, body)) in legacy.into_iter().enumerate() {
        let seq = recovered.last_seq + 1 + i as i64;
        file.put(seq, &key, &body).map_err(|e| io(std::io::Error::other(e)))?;
        recovered.entries.push((seq, key, body));
    }
    file.commit().map_err(io)?;
    recovered.last_seq += moved as i64;
    legacy::remove(&spec.backend);
    tracing::info!(
        "journal: {moved} entries moved from {name} into {}",
        file.dir().display()
    );
    Ok((file, recovered))
}

/// The host's handle on its store.
pub struct Store {
    records: mpsc::Sender<RecordOp>,
    /// None when the bus is not the memory bus: nothing is journaled then.
    journal: Option<mpsc::Sender<JournalOp>>,
    permits: Arc<room::Room>,
    health: Arc<Health>,
    next_seq: AtomicI64,
    /// What the journal held at this start, until the bus takes it to hand it out again.
    recovered: Mutex<Vec<Entry>>,
    backend: StoreBackend,
    name: String,
    buffer: usize,
    writers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    lookup: Arc<lookup::Lookup>,
}

fn spawn(
    name: &str,
    store: &str,
    run: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(run)
        .map_err(|e| StoreError::Open {
            name: store.to_owned(),
            reason: DbError(format!("cannot start the {name} thread: {e}")),
        })
}

/// A journal entry's number, and (when asked for) where its commit is told.
pub struct Journaled {
    pub seq: i64,
    pub committed: Option<oneshot::Receiver<()>>,
}

impl Store {
    /// Opens the store and starts its writer; with `journal` (the memory bus), opens the
    /// journal too and reads back what it holds. Blocking: run it off the async runtime.
    pub fn open(spec: &StoreSpec, journal: bool) -> Result<Arc<Self>, StoreError> {
        let name = name_of(&spec.backend);
        let db = connect(&spec.backend, true)?;
        let (records, rx) = mpsc::channel();
        let permits = Arc::new(room::Room::new(spec.buffer));
        let health = Arc::new(Health::default());
        let writer = Writer {
            db,
            rx,
            permits: permits.clone(),
            health: health.clone(),
            batching: Batching {
                default: spec.batch.clone(),
                per_endpoint: spec.batches.clone(),
            },
            sweeper: retention::Sweeper::new(&spec.retention),
            name: name.clone(),
        };
        let mut writers = vec![spawn("ruvuma-store", &name, move || writer.run())?];
        let (mut journal_tx, mut recovered, mut last_seq) = (None, Vec::new(), 0);
        if journal {
            let (file, found) = open_journal(spec)?;
            let (tx, journal_rx) = mpsc::channel();
            let journal_writer = JournalWriter {
                file,
                rx: journal_rx,
                permits: permits.clone(),
                health: health.clone(),
                name: name.clone(),
            };
            writers.push(spawn("ruvuma-journal", &name, move || journal_writer.run())?);
            (journal_tx, recovered, last_seq) = (Some(tx), found.entries, found.last_seq);
        }
        Ok(Arc::new(Self {
            records,
            journal: journal_tx,
            permits,
            health,
            next_seq: AtomicI64::new(last_seq + 1),
            recovered: Mutex::new(recovered),
            backend: spec.backend.clone(),
            lookup: lookup::Lookup::new(spec.backend.clone(), name.clone()),
            name,
            buffer: spec.buffer,
            writers: Mutex::new(writers),
        }))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn backend(&self) -> &StoreBackend {
        &self.backend
    }

    /// What the journal held at this start (taken once: the caller hands it out again).
    pub fn take_recovered(&self) -> Vec<Entry> {
        std::mem::take(&mut *self.recovered.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Records and journal entries handed over and not yet written: how far the store lags.
    pub fn pending(&self) -> usize {
        self.permits.held(self.buffer)
    }

    /// Waits for room in the buffer: publishers slow down while the database is slow or down.
    async fn room(&self) {
        if self.permits.take().await {
            self.health.full(&self.name, self.buffer);
        }
    }

    fn send(&self, op: RecordOp) {
        if self.records.send(op).is_err() {
            tracing::error!("store {}: the writer has stopped; a record was not kept", self.name);
        }
    }

    fn send_journal(&self, op: JournalOp) {
        let Some(journal) = &self.journal else {
            return;
        };
        if journal.send(op).is_err() {
            tracing::error!("store {}: the journal's writer has stopped", self.name);
        }
    }

    /// Keeps a message or event that passed a transport's endpoint at `at`, once there is room.
    pub async fn record(&self, flow: Flow, endpoint: &Arc<str>, kept: &Kept, at: Timestamp) {
        self.room().await;
        self.push_record(flow, endpoint, kept, at);
    }

    /// [`Store::record`] without waiting: for a publisher that has just waited for its journal
    /// entry's room (so the buffer is bounded all the same) and must not stop between the two.
    pub fn record_now(&self, flow: Flow, endpoint: &Arc<str>, kept: &Kept, at: Timestamp) {
        self.permits.take_now();
        self.push_record(flow, endpoint, kept, at);
    }

    fn push_record(&self, flow: Flow, endpoint: &Arc<str>, kept: &Kept, at: Timestamp) {
        self.send(RecordOp::Record(Record {
            flow,
            endpoint: endpoint.clone(),
            kept: kept.clone(),
            at: at.micros(),
        }));
    }

    /// Journals a message or event put on queue `key`; with `durable`, the caller can wait until
    /// it is committed.
    pub async fn journal(&self, key: &Arc<str>, kept: &Kept, durable: bool) -> Journaled {
        self.room().await;
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let (done, committed) = if durable {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let row = JournalRow {
            seq,
            key: key.clone(),
            kept: kept.clone(),
        };
        self.send_journal(JournalOp::Insert(row, done));
        Journaled { seq, committed }
    }

    /// A journal entry was handled: it is deleted (or, still unwritten, never written).
    pub fn forget(&self, seq: i64) {
        self.send_journal(JournalOp::Delete(seq));
    }

    /// Waits until everything handed over so far is committed (records and journal).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        self.send(RecordOp::Flush(tx));
        let (jtx, jrx) = oneshot::channel();
        self.send_journal(JournalOp::Flush(jtx));
        let _ = rx.await;
        if self.journal.is_some() {
            let _ = jrx.await;
        }
    }

    /// Writes what is held and stops the writers.
    pub async fn close(&self) {
        self.send(RecordOp::Close);
        self.send_journal(JournalOp::Close);
        let threads = std::mem::take(&mut *self.writers.lock().unwrap_or_else(|p| p.into_inner()));
        let joined = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        });
        let _ = joined.await;
    }

    /// A message and its events, by its id or its transport's id for it (what `messages get`
    /// shows); what is still on its way to the database is not there yet.
    pub async fn find(&self, id: &str) -> Result<Option<query::Found>, StoreError> {
        let id = id.to_owned();
        self.lookup.run(move |db| query::get(db, &id)).await
    }

    /// What the store holds for `endpoint` from `since` (microseconds since 1970) on, counted
    /// (`counts::for_endpoint`).
    pub async fn counts(&self, endpoint: &str, since: i64) -> Result<serde_json::Value, StoreError> {
        let endpoint = endpoint.to_owned();
        self.lookup
            .run(move |db| counts::for_endpoint(db, &endpoint, since))
            .await
    }

    /// Runs `f` on the store's shared reading connection, off the runtime (small queries and
    /// writes from the admin server; the traffic's records go through the writer).
    pub async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Db) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.lookup.run(f).await
    }

    /// A connection of its own, for reading (queries).
    pub fn reader(&self) -> Result<Box<dyn Db>, StoreError> {
        connect(&self.backend, false)
    }
}

#[cfg(test)]
mod tests;
