//! Retention: records older than their kind's limit are deleted by the writer, a bounded chunk
//! at a time between batches, so that a large backlog never holds the database for long.

use super::db::{Db, DbError, Value};
use crate::config::Retention;
use std::time::{Duration, Instant};

/// Rows deleted per statement at most.
pub const CHUNK: i64 = 1000;

const DELETES: [(&str, &str); 3] = [
    (
        "inbound",
        "DELETE FROM messages WHERE direction = 'in' AND message_id IN \
         (SELECT message_id FROM messages WHERE direction = 'in' AND stored_at < $1 LIMIT $2)",
    ),
    (
        "outbound",
        "DELETE FROM messages WHERE direction = 'out' AND message_id IN \
         (SELECT message_id FROM messages WHERE direction = 'out' AND stored_at < $1 LIMIT $2)",
    ),
    (
        "events",
        "DELETE FROM events WHERE (user_message_id, event_id) IN \
         (SELECT user_message_id, event_id FROM events WHERE stored_at < $1 LIMIT $2)",
    ),
];

pub struct Sweeper {
    limits: [Option<Duration>; 3],
    every: Duration,
    next: Instant,
    /// Rows deleted so far, per kind.
    pub deleted: [u64; 3],
}

impl Sweeper {
    pub fn new(retention: &Retention) -> Self {
        let limits = [retention.inbound, retention.outbound, retention.events];
        let shortest = limits.iter().flatten().min().copied();
        // Checked at least every minute, and at least twice within the shortest retention.
        let every = shortest.map_or(Duration::from_secs(3600), |s| {
            (s / 2).clamp(Duration::from_millis(100), Duration::from_secs(60))
        });
        Self {
            limits,
            every,
            next: Instant::now(),
            deleted: [0; 3],
        }
    }

    /// How long until the next sweep is due.
    pub fn period(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// Deletes one chunk of each kind that is past its limit, when a sweep is due. A full chunk
    /// leaves the sweep due, so that the next pause between batches goes on with it.
    pub fn run_due(&mut self, db: &mut dyn Db, now_micros: i64) -> Result<(), DbError> {
        if Instant::now() < self.next || self.limits.iter().all(Option::is_none) {
            if self.limits.iter().all(Option::is_none) {
                self.next = Instant::now() + self.every;
            }
            return Ok(());
        }
        let mut more = false;
        for (i, (kind, sql)) in DELETES.iter().enumerate() {
            let Some(limit) = self.limits[i] else { continue };
            let cutoff = now_micros - i64::try_from(limit.as_micros()).unwrap_or(i64::MAX);
            let n = db.execute(sql, &[Value::Int(cutoff), Value::Int(CHUNK)])?;
            if n > 0 {
                tracing::debug!("retention: {n} {kind} records deleted");
            }
            self.deleted[i] += n;
            more |= n as i64 >= CHUNK;
        }
        self.next = if more {
            Instant::now()
        } else {
            Instant::now() + self.every
        };
        Ok(())
    }
}
