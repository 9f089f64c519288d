//! The store's writer: one thread that takes records and journal entries off a channel and
//! writes each batch in one transaction. When the database fails it keeps the batch, reports
//! the store down, and tries again with growing pauses; publishers wait once the buffer is full.

use super::db::Db;
use super::retention::Sweeper;
use super::rows::{Batch, Batching, JournalRow, Record, Statements};
use super::Health;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Semaphore};

/// Ops written in one transaction at most.
const MAX_BATCH: usize = 4096;

pub(super) enum Op {
    Record(Record),
    /// A journal entry; `done` is told once it is committed.
    Insert(JournalRow, Option<oneshot::Sender<()>>),
    Delete(i64),
    /// Told once everything sent before it is committed.
    Flush(oneshot::Sender<()>),
    Close,
}

pub(super) struct Writer {
    pub db: Box<dyn Db>,
    pub rx: Receiver<Op>,
    pub permits: Arc<Semaphore>,
    pub health: Arc<Health>,
    pub batching: Batching,
    pub sweeper: Sweeper,
    /// Names the store in logs (the file, or the redacted URL).
    pub name: String,
}

/// What one batch owes once it is committed.
#[derive(Default)]
struct Owed {
    permits: usize,
    waiters: Vec<oneshot::Sender<()>>,
    close: bool,
}

fn now_micros() -> i64 {
    ruvuma_plugin_api::timestamp::Timestamp::now().micros()
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
            let (batch, owed) = self.gather(first);
            if !batch.is_empty() {
                self.commit(&batch, &mut sql);
            }
            self.permits.add_permits(owed.permits);
            for w in owed.waiters {
                let _ = w.send(());
            }
            if owed.close {
                break;
            }
            self.sweep();
        }
    }

    /// `first` and whatever else is waiting, up to [`MAX_BATCH`], until a close.
    fn gather(&mut self, first: Op) -> (Batch, Owed) {
        let mut batch = Batch::default();
        let mut owed = Owed::default();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(op) = next.take() {
            taken += 1;
            match op {
                Op::Record(r) => {
                    owed.permits += 1;
                    batch.record(r, &self.batching);
                }
                Op::Insert(row, done) => {
                    owed.permits += 1;
                    owed.waiters.extend(done);
                    batch.journal(row);
                }
                Op::Delete(seq) => batch.delete(seq),
                Op::Flush(done) => owed.waiters.push(done),
                Op::Close => {
                    owed.close = true;
                    break;
                }
            }
            if taken < MAX_BATCH {
                next = self.rx.try_recv().ok();
            }
        }
        batch.coalesce();
        (batch, owed)
    }

    /// Writes the batch, trying again until the database takes it.
    fn commit(&mut self, batch: &Batch, sql: &mut Statements) {
        let mut pause = Duration::from_millis(50);
        let mut failing_since: Option<Instant> = None;
        loop {
            let result = (|| {
                self.db.batch("BEGIN")?;
                batch.write(self.db.as_mut(), sql, now_micros())?;
                self.db.batch("COMMIT")
            })();
            match result {
                Ok(()) => {
                    let (messages, events) = batch.counts();
                    self.health.written(messages, events);
                    if let Some(since) = failing_since {
                        self.health.up(&self.name, since.elapsed());
                    }
                    return;
                }
                Err(e) => {
                    if failing_since.is_none() {
                        failing_since = Some(Instant::now());
                    }
                    self.health
                        .down(&self.name, &e.to_string(), self.permits.available_permits());
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(5));
                    if let Err(e) = self.db.recover() {
                        tracing::debug!("store {}: not back yet: {e}", self.name);
                    }
                }
            }
        }
    }

    fn sweep(&mut self) {
        if let Err(e) = self.sweeper.run_due(self.db.as_mut(), now_micros()) {
            tracing::warn!("store {}: retention: {e}", self.name);
            let _ = self.db.recover();
        }
    }
}
