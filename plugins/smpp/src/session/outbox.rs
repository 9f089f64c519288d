//! Submits waiting for the window, in order; those sent again go to the front.

use rusmpp::pdus::SubmitSm;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::{oneshot, Notify};

/// What became of one submit_sm: the SMSC's message id, or why it was refused.
pub type Outcome = Result<String, String>;

/// One submit_sm waiting to be sent (again).
pub struct Job {
    pub pdu: SubmitSm,
    /// Sends so far that went unanswered.
    pub unanswered: u32,
    pub done: oneshot::Sender<Outcome>,
}

/// Submits waiting for the window, in order; those sent again go to the front.
#[derive(Default)]
pub struct Outbox {
    queue: Mutex<VecDeque<Job>>,
    notify: Notify,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Job>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, jobs: impl IntoIterator<Item = Job>) {
        self.lock().extend(jobs);
        self.notify.notify_one();
    }

    pub(super) fn push_front(&self, jobs: Vec<Job>) {
        let mut q = self.lock();
        for job in jobs.into_iter().rev() {
            q.push_front(job);
        }
        drop(q);
        self.notify.notify_one();
    }

    pub(super) async fn pop(&self) -> Job {
        loop {
            if let Some(job) = self.lock().pop_front() {
                return job;
            }
            self.notify.notified().await;
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Ends every waiting submit with `reason`.
    pub fn fail_all(&self, reason: &str) {
        for job in self.lock().drain(..) {
            let _ = job.done.send(Err(reason.to_owned()));
        }
    }
}
