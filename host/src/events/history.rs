//! A fixed number of per-second samples of running totals, from which rates are read.

use std::collections::VecDeque;

/// Running totals at one moment (or, from [`History::deltas`], what happened in one second).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Seconds since 1970.
    pub at: f64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub delivered: u64,
    pub undelivered: u64,
    pub pending: u64,
}

pub struct History {
    samples: VecDeque<Sample>,
    keep: usize,
}

impl History {
    pub fn new(keep: usize) -> Self {
        Self {
            samples: VecDeque::with_capacity(keep.min(64)),
            keep: keep.max(2),
        }
    }

    pub fn push(&mut self, s: Sample) {
        if self.samples.len() == self.keep {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
    }

    /// Messages in and out per second over the last `seconds` samples (0 with fewer than two).
    pub fn rate(&self, seconds: usize) -> (f64, f64) {
        let n = self.samples.len();
        if n < 2 {
            return (0.0, 0.0);
        }
        let span = seconds.min(n - 1);
        let (last, first) = (self.samples[n - 1], self.samples[n - 1 - span]);
        let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / span as f64;
        (
            per(last.messages_in, first.messages_in),
            per(last.messages_out, first.messages_out),
        )
    }

    /// What happened in each of the last `seconds` seconds, oldest first.
    pub fn deltas(&self, seconds: usize) -> Vec<Sample> {
        let n = self.samples.len();
        let from = n.saturating_sub(seconds + 1);
        let window: Vec<&Sample> = self.samples.range(from..).collect();
        window
            .windows(2)
            .map(|w| Sample {
                at: w[1].at,
                messages_in: w[1].messages_in.saturating_sub(w[0].messages_in),
                messages_out: w[1].messages_out.saturating_sub(w[0].messages_out),
                delivered: w[1].delivered.saturating_sub(w[0].delivered),
                undelivered: w[1].undelivered.saturating_sub(w[0].undelivered),
                pending: w[1].pending.saturating_sub(w[0].pending),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: f64, i: u64) -> Sample {
        Sample {
            at: t,
            messages_in: i,
            messages_out: i * 2,
            ..Sample::default()
        }
    }

    #[test]
    fn keeps_a_bounded_window_and_reads_rates() {
        let mut h = History::new(5);
        for t in 0..10 {
            h.push(at(t as f64, t * 10));
        }
        assert_eq!(h.samples.len(), 5);
        assert_eq!(h.rate(10), (10.0, 20.0));
        let d = h.deltas(2);
        assert_eq!(d.len(), 2);
        assert_eq!((d[1].at, d[1].messages_in, d[1].messages_out), (9.0, 10, 20));
        assert_eq!(History::new(5).rate(10), (0.0, 0.0));
    }
}
