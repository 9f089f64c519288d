//! The store's record writer: one thread that takes records off a channel and writes them in
//! batches, one transaction each. Records are not waited for, so it gathers for a moment before
//! it writes: large batches cost the database far less per record than many small ones. When
//! the database fails it keeps the batch, reports the store down, and tries again with growing
//! pauses; publishers wait once the buffer is full.

use super::db::{Db, DbError};
use super::retention::Sweeper;
use super::room::Room;
use super::rows::{Batch, Batching, Record, Statements};
use super::Health;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Records written in one transaction at most.
const MAX_BATCH: usize = 16384;
/// How long the writer gathers records after the first before it writes them.
const GATHER: Duration = Duration::from_millis(300);

pub(super) enum RecordOp {
    Record(Record),
    /// Told once everything sent before it is committed.
    Flush(oneshot::Sender<()>),
    Close,
}

pub(super) struct Writer {
    pub db: Box<dyn Db>,
    pub rx: Receiver<RecordOp>,
    pub permits: Arc<Room>,
    pub health: Arc<Health>,
    pub batching: Batching,
    pub sweeper: Sweeper,
    /// Names the store in logs (the file, or the redacted URL).
    pub name: String,
}

pub(super) fn now_micros() -> i64 {
    ruvuma_plugin_api::timestamp::Timestamp::now().micros()
}

/// Runs `write` in a transaction until the database takes it: the store is reported down while
/// it does not, and up again once it does.
pub(super) fn commit(
    db: &mut Box<dyn Db>,
    health: &Health,
    name: &str,
    room: impl Fn() -> usize,
    mut write: impl FnMut(&mut dyn Db) -> Result<(), DbError>,
) {
    let mut pause = Duration::from_millis(50);
    let mut failing_since: Option<Instant> = None;
    loop {
        let result = (|| {
            db.batch("BEGIN")?;
            write(db.as_mut())?;
            db.batch("COMMIT")
        })();
        match result {
            Ok(()) => {
                if let Some(since) = failing_since {
                    health.up(name, since.elapsed());
                }
                return;
            }
            Err(e) => {
                failing_since.get_or_insert_with(Instant::now);
                health.down(name, &e.to_string(), room());
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(5));
                if let Err(e) = db.recover() {
                    tracing::debug!("store {name}: not back yet: {e}");
                }
            }
        }
    }
}

impl Writer {
    pub fn run(mut self) {
        let mut sql = Statements::default();
        loop {
            let first = match self.rx.recv_timeout(self.sweeper.period()) {
                Ok(op) => op,
                Err(RecvTimeoutError::Timeout) => {
                    self.sweep();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let (mut batch, waiters, close) = self.gather(first);
            batch.settle();
            if !batch.is_empty() {
                let (permits, health) = (self.permits.clone(), self.health.clone());
                commit(
                    &mut self.db,
                    &health,
                    &self.name,
                    || permits.available(),
                    |db| batch.write(db, &mut sql, now_micros()),
                );
                let (messages, events) = batch.counts();
                self.health.written(messages, events);
                self.permits.give(batch.len());
            }
            for w in waiters {
                let _ = w.send(());
            }
            if close {
                break;
            }
            self.sweep();
        }
    }

    /// `first` and what follows within [`GATHER`], up to [`MAX_BATCH`]; a flush or a close
    /// ends the gathering at once.
    fn gather(&mut self, first: RecordOp) -> (Batch, Vec<oneshot::Sender<()>>, bool) {
        let deadline = Instant::now() + GATHER;
        let mut batch = Batch::default();
        let mut waiters = Vec::new();
        let mut next = Some(first);
        while let Some(op) = next.take() {
            match op {
                RecordOp::Record(r) => batch.record(r, &self.batching),
                RecordOp::Flush(done) => {
                    waiters.push(done);
                    break;
                }
                RecordOp::Close => return (batch, waiters, true),
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            next = match self.rx.try_recv() {
                Ok(op) => Some(op),
                Err(_) => self
                    .rx
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    .ok(),
            };
        }
        (batch, waiters, false)
    }

    fn sweep(&mut self) {
        if let Err(e) = self.sweeper.run_due(self.db.as_mut(), now_micros()) {
            tracing::warn!("store {}: retention: {e}", self.name);
            let _ = self.db.recover();
        }
    }
}
