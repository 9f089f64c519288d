//! `mt_tps`: at most so many submits in any one-second span.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// At most `limit` submits in any one-second span.
pub(super) struct Pacer {
    limit: usize,
    sent: VecDeque<Instant>,
}

impl Pacer {
    pub fn new(tps: u32) -> Self {
        Self {
            limit: tps as usize,
            sent: VecDeque::with_capacity(tps as usize),
        }
    }

    /// Waits until one more submit keeps every one-second span within the limit.
    pub async fn wait(&mut self) {
        while self.sent.len() >= self.limit {
            let Some(&oldest) = self.sent.front() else { return };
            let free_at = oldest + Duration::from_secs(1);
            if free_at <= Instant::now() {
                self.sent.pop_front();
            } else {
                tokio::time::sleep_until(free_at.into()).await;
            }
        }
    }

    pub fn record(&mut self, at: Instant) {
        self.sent.push_back(at);
    }
}
