//! The journal's writer: the memory bus's queues, kept on disk (`journal_file.rs`) until each
//! message is handled. It is a thread of its own, so that its writes never wait for the records'.
//!
//! An entry a publisher waits for is written at once, in the next commit (all that arrive
//! meanwhile share it), and deleted like any other once handled. The rest (entries published while a delivery is being handled, and the
//! deletes of handled ones) are held for [`HOLD`] first: most entries are handled within it, and
//! an entry written and deleted in the same moment is never written at all. They are written in
//! the order they came, so a delivery's delete is never committed before the entries its handler
//! published, and after a crash either the delivery or what it led to is still there.

use super::journal_file::JournalFile;
use super::room::Room;
use super::rows::Kept;
use super::Health;
use std::collections::{HashSet, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long an entry nobody waits for, and a delete, are held before they are written.
pub const HOLD: Duration = Duration::from_millis(50);
/// Ops taken per commit at most.
const MAX_BATCH: usize = 4096;

/// A journal entry: a message or event on a memory-bus queue, kept until it is handled.
pub struct JournalRow {
    pub seq: i64,
    pub key: Arc<str>,
    pub kept: Kept,
}

pub(super) enum JournalOp {
    /// An entry; with a waiter, it is written at once and the waiter told once it is committed.
    Insert(JournalRow, Option<oneshot::Sender<()>>),
    Delete(i64),
    /// Told once everything sent before it is committed.
    Flush(oneshot::Sender<()>),
    Close,
}

/// What is held back, in the order it came.
enum Held {
    Insert(JournalRow),
    Delete(i64),
}

pub(super) struct JournalWriter {
    pub file: JournalFile,
    pub rx: Receiver<JournalOp>,
    pub permits: Arc<Room>,
    pub health: Arc<Health>,
    pub name: String,
}

/// What one commit writes and owes.
#[derive(Default)]
struct Step {
    inserts: Vec<JournalRow>,
    deletes: Vec<i64>,
    waiters: Vec<oneshot::Sender<()>>,
    /// Entries this commit settles (written, or never to be written): their room is given back.
    settled: usize,
}

impl JournalWriter {
    pub fn run(mut self) {
        let mut held: VecDeque<(Instant, Held)> = VecDeque::new();
        let mut cancelled: HashSet<i64> = HashSet::new();
        loop {
            let wait = held.front().map_or(Duration::from_secs(3600), |(at, _)| {
                (*at + HOLD).saturating_duration_since(Instant::now())
            });
            let mut step = Step::default();
            let mut flush_all = false;
            let mut close = false;
            let mut gone = false;
            match self.rx.recv_timeout(wait) {
                Ok(op) => {
                    let mut next = Some(op);
                    let mut taken = 0;
                    while let Some(op) = next.take() {
                        taken += 1;
                        match op {
                            JournalOp::Insert(row, Some(done)) => {
                                step.waiters.push(done);
                                step.settled += 1;
                                step.inserts.push(row);
                            }
                            JournalOp::Insert(row, None) => held.push_back((Instant::now(), Held::Insert(row))),
                            // Even for an entry of this very commit: what its handler published
                            // may still be held, and must not be left with nothing behind it.
                            JournalOp::Delete(seq) => held.push_back((Instant::now(), Held::Delete(seq))),
                            JournalOp::Flush(done) => {
                                step.waiters.push(done);
                                flush_all = true;
                            }
                            JournalOp::Close => {
                                flush_all = true;
                                close = true;
                                break;
                            }
                        }
                        if taken < MAX_BATCH && !flush_all {
                            next = self.rx.try_recv().ok();
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => (flush_all, gone) = (true, true),
            }
            Self::release(&mut held, &mut cancelled, &mut step, flush_all);
            if !step.inserts.is_empty() || !step.deletes.is_empty() {
                self.write(&step);
            }
            self.permits.give(step.settled);
            for w in step.waiters {
                let _ = w.send(());
            }
            if close || gone {
                break;
            }
        }
    }

    /// Moves what has been held for [`HOLD`] (everything, with `all`) into the step, in order:
    /// an entry whose delete came while it was held is neither written nor deleted.
    fn release(held: &mut VecDeque<(Instant, Held)>, cancelled: &mut HashSet<i64>, step: &mut Step, all: bool) {
        let now = Instant::now();
        let due = held.iter().take_while(|(at, _)| all || *at + HOLD <= now).count();
        let taken: Vec<Held> = held.drain(..due).map(|(_, h)| h).collect();
        let deleted: HashSet<i64> = taken
            .iter()
            .filter_map(|h| match h {
                Held::Delete(seq) => Some(*seq),
                Held::Insert(_) => None,
            })
            .collect();
        // An entry still held whose delete is not due yet: it is written now and deleted later.
        for h in taken {
            match h {
                Held::Insert(row) if deleted.contains(&row.seq) => {
                    cancelled.insert(row.seq);
                    step.settled += 1;
                }
                Held::Insert(row) => {
                    step.settled += 1;
                    step.inserts.push(row);
                }
                Held::Delete(seq) if cancelled.remove(&seq) => {}
                Held::Delete(seq) => step.deletes.push(seq),
            }
        }
    }
}

impl JournalWriter {
    /// Appends the step's entries and deletes, and writes them until the disk takes them: the
    /// store is reported down while it does not, and up again once it does.
    fn write(&mut self, step: &Step) {
        for j in &step.inserts {
            if let Err(e) = self.file.put(j.seq, &j.key, j.kept.body()) {
                tracing::error!("{e}");
            }
        }
        for seq in &step.deletes {
            self.file.done(*seq);
        }
        let mut pause = Duration::from_millis(50);
        let mut failing_since: Option<Instant> = None;
        while let Err(e) = self.file.commit() {
            failing_since.get_or_insert_with(Instant::now);
            let what = format!("journal {}: {e}", self.file.dir().display());
            self.health.down(&self.name, &what, self.permits.available());
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(5));
        }
        if let Some(since) = failing_since {
            self.health.up(&self.name, since.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruvuma_plugin_api::Message;

    fn row(seq: i64) -> Held {
        Held::Insert(JournalRow {
            seq,
            key: "k.inbound".into(),
            kept: Kept::of(&Message::new("a", "b", None, "t", "t").into()),
        })
    }

    #[test]
    fn held_entries_handled_within_the_hold_are_never_written_and_order_is_kept() {
        let old = Instant::now() - HOLD * 2;
        // 7 was written earlier (a waited-for entry); 1 comes and goes; 2 stays; 3 is too new.
        let mut held: VecDeque<(Instant, Held)> = [
            (old, row(1)),
            (old, Held::Delete(7)),
            (old, row(2)),
            (old, Held::Delete(1)),
            (Instant::now(), row(3)),
            (Instant::now(), Held::Delete(2)),
        ]
        .into();
        let (mut cancelled, mut step) = (HashSet::new(), Step::default());
        JournalWriter::release(&mut held, &mut cancelled, &mut step, false);
        let written: Vec<i64> = step.inserts.iter().map(|r| r.seq).collect();
        assert_eq!(written, [2], "1 was handled while held");
        assert_eq!(step.deletes, [7]);
        assert_eq!(step.settled, 2, "1 and 2 no longer wait for room");
        assert_eq!(held.len(), 2, "3 and the delete of 2 are not due yet");
        let mut step = Step::default();
        JournalWriter::release(&mut held, &mut cancelled, &mut step, true);
        let written: Vec<i64> = step.inserts.iter().map(|r| r.seq).collect();
        assert_eq!((written, step.deletes), (vec![3], vec![2]), "a flush takes everything");
    }
}
