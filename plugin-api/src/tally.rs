//! For transports facing peers: counting a recurring problem and reporting it at most once per
//! interval, with how many times it happened (a flood of refused connections or failed accepts
//! costs a few log lines, not a line each), and backing off after failed accepts.

use std::time::{Duration, Instant};

pub struct Tally {
    interval: Duration,
    last: Option<Instant>,
    count: u64,
}

impl Tally {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            count: 0,
        }
    }

    /// Counts one more; `Some(n)` when it is time to report (the first time, then at most once
    /// per interval), `n` being how many happened since the last report.
    pub fn note(&mut self) -> Option<u64> {
        self.count += 1;
        let due = self.last.is_none_or(|t| t.elapsed() >= self.interval);
        due.then(|| {
            self.last = Some(Instant::now());
            std::mem::take(&mut self.count)
        })
    }
}

/// Waits after failed accepts: 100 ms, doubling to 1 s; reset by a good accept.
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(1);

    pub fn new() -> Self {
        Self { next: Self::FIRST }
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// How long to wait now; the next wait is twice as long, up to a second.
    pub fn step(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_once_per_interval_with_the_count() {
        let mut t = Tally::new(Duration::from_secs(3600));
        assert_eq!(t.note(), Some(1));
        for _ in 0..99 {
            assert_eq!(t.note(), None);
        }
        let mut b = Backoff::new();
        let waits: Vec<u128> = (0..6).map(|_| b.step().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
    }
}
