//! Sending submit_sm as the window, mt_tps and throttling allow, and settling each one when the
//! SMSC answers it, when it goes unanswered too long, or when the link ends under it.

use super::{Job, Link, Pacer};
use crate::wire;
use bytes::Bytes;
use rusmpp::{Command, CommandStatus};
use ruvuma_plugin_api::StatusLevel;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// A submit sent and waiting for its answer, holding one of the window's permits.
pub(super) struct Sent {
    job: Job,
    at: Instant,
    _permit: OwnedSemaphorePermit,
}

/// Submits sent and not yet answered, by sequence number.
pub(super) type Window = Arc<Mutex<BTreeMap<u32, Sent>>>;

type PacerGuard<'a> = tokio::sync::MutexGuard<'a, Pacer>;

impl Link {
    /// Sends what the outbox holds as the window, mt_tps and throttling allow.
    pub(super) async fn submit_loop(
        self: Arc<Self>,
        window: Window,
        permits: Arc<Semaphore>,
        out: mpsc::Sender<Bytes>,
    ) {
        let mut pacer = match &self.pacer {
            Some(p) => Some(p.lock().await),
            None => None,
        };
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let Some(job) = self.next_job(&mut pacer).await else {
                return;
            };
            // No await from taking the job (the end of `next_job`) to its place in the window.
            let seq = self.next_seq();
            let now = Instant::now();
            if let Some(p) = pacer.as_mut() {
                p.record(now);
            }
            let frame = wire::encode(&Command::new(CommandStatus::EsmeRok, seq, job.pdu.clone()));
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            if let Ok(mut w) = window.lock() {
                w.insert(
                    seq,
                    Sent {
                        job,
                        at: now,
                        _permit: permit,
                    },
                );
            }
            if out.send(frame).await.is_err() {
                return;
            }
        }
    }

    /// The next submit to send, once no throttling pause and mt_tps hold it back; `None` when
    /// the link stops.
    async fn next_job(&self, pacer: &mut Option<PacerGuard<'_>>) -> Option<Job> {
        loop {
            while let Some(until) = self.throttled_until() {
                tokio::time::sleep_until(until.into()).await;
            }
            if let Some(p) = pacer.as_mut() {
                p.wait().await;
            }
            let job = self.outbox.pop().await;
            if self.stopping() {
                self.outbox.push_front(vec![job]);
                return None;
            }
            if self.throttled_until().is_some() {
                // Throttled while this waited for work: it waits out the pause first.
                self.outbox.push_front(vec![job]);
                continue;
            }
            return Some(job);
        }
    }

    fn throttled_until(&self) -> Option<Instant> {
        self.throttle.lock().ok().and_then(|t| t.until(Instant::now()))
    }

    /// Settles the submit answered; false when none was waiting under `seq`.
    pub(super) async fn on_submit_resp(
        &self,
        window: &Window,
        seq: u32,
        status: CommandStatus,
        smsc_id: String,
    ) -> bool {
        let Some(sent) = window.lock().ok().and_then(|mut w| w.remove(&seq)) else {
            self.warn_peer(|| format!("submit_sm_resp for sequence {seq}, which is not waiting (answered late?)"));
            return false;
        };
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        match u32::from(status) {
            wire::ESME_ROK => {
                let recovered = self.throttle.lock().map(|mut t| t.recover()).unwrap_or(false);
                let _ = sent.job.done.send(Ok(smsc_id));
                if recovered {
                    self.status(
                        StatusLevel::Ok,
                        "throttle_end",
                        "the SMSC accepts messages again".into(),
                    )
                    .await;
                }
            }
            wire::ESME_RTHROTTLED | wire::ESME_RMSGQFUL => self.on_throttled(sent.job, status).await,
            _ => {
                let _ = sent.job.done.send(Err(wire::status_name(status)));
            }
        }
        true
    }

    /// The SMSC throttled `job`: every submit pauses, and it is sent again first.
    async fn on_throttled(&self, job: Job, status: CommandStatus) {
        let (delay, first) = self.throttle.lock().unwrap_or_else(|e| e.into_inner()).pause(
            Instant::now(),
            self.settings.throttle_delay,
            self.settings.throttle_max_delay,
        );
        self.outbox.push_front(vec![job]);
        if first {
            self.status(
                StatusLevel::Degraded,
                "throttled",
                format!("{}: pausing submits for {delay:?}", wire::status_name(status)),
            )
            .await;
        }
    }

    /// Submits unanswered past submit_timeout: sent again, or failed after the last attempt.
    /// Time before `clock_from` (while the link was not reading) does not count.
    pub(super) fn sweep(&self, window: &Window, now: Instant, clock_from: Instant) {
        let timeout = self.settings.submit_timeout;
        let expired: Vec<Sent> = {
            let Ok(mut w) = window.lock() else { return };
            let late: Vec<u32> = w
                .iter()
                .filter(|(_, s)| now.duration_since(s.at.max(clock_from)) >= timeout)
                .map(|(seq, _)| *seq)
                .collect();
            late.into_iter().filter_map(|seq| w.remove(&seq)).collect()
        };
        if expired.is_empty() {
            return;
        }
        self.in_flight.fetch_sub(expired.len() as u32, Ordering::AcqRel);
        let attempts = self.settings.raw.submit_attempts;
        let mut again = Vec::new();
        for mut sent in expired {
            sent.job.unanswered += 1;
            if sent.job.unanswered >= attempts {
                let _ = sent.job.done.send(Err(format!(
                    "no submit_sm_resp within {timeout:?}, {attempts} attempt(s)"
                )));
            } else {
                tracing::warn!("no submit_sm_resp within {timeout:?}; sending again");
                again.push(sent.job);
            }
        }
        self.outbox.push_front(again);
    }

    /// Submits without a response when a link ended go to the front of the outbox.
    pub(super) fn requeue_unanswered(&self, window: &Window) {
        let unanswered: Vec<Job> = {
            let mut w = window.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *w).into_values().map(|s| s.job).collect()
        };
        self.in_flight.fetch_sub(unanswered.len() as u32, Ordering::AcqRel);
        if !unanswered.is_empty() {
            tracing::info!(
                count = unanswered.len(),
                "submit_sm without a response when the link ended; they will be sent again after the next bind"
            );
            self.outbox.push_front(unanswered);
        }
    }
}
