//! Warnings about what the SMSC sends (undecodable, unexpected or stray PDUs): the SMSC decides
//! how many of those come, so a link logs at most one such line per [`EVERY`], and then how many
//! it did not log.

use super::Link;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one warning about the SMSC's PDUs per link in this span.
pub(super) const EVERY: Duration = Duration::from_secs(10);

/// When a link last logged a warning about the SMSC's PDUs, and how many it held back since.
#[derive(Default)]
pub(super) struct PeerWarnings {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    last: Option<Instant>,
    held: u64,
}

impl PeerWarnings {
    /// `Some(held back before this one)` when a warning may be logged at `now`; otherwise it is
    /// counted as held back.
    fn allow(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.last.is_some_and(|last| now.duration_since(last) < EVERY) {
            s.held += 1;
            return None;
        }
        s.last = Some(now);
        Some(std::mem::take(&mut s.held))
    }

    /// How many were held back, once a line may be logged again and some were: that line is
    /// the caller's to log.
    fn due(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.held == 0 || s.last.is_some_and(|last| now.duration_since(last) < EVERY) {
            return None;
        }
        s.last = Some(now);
        Some(std::mem::take(&mut s.held))
    }
}

impl Link {
    /// Logs a warning about a PDU from the SMSC, unless one was logged within [`EVERY`].
    pub(super) fn warn_peer(&self, text: impl FnOnce() -> String) {
        match self.peer_warnings.allow(Instant::now()) {
            None => {}
            Some(0) => tracing::warn!("{}", text()),
            Some(held) => tracing::warn!(
                "{} ({held} more warnings about PDUs from the SMSC were not logged before this one)",
                text()
            ),
        }
    }

    /// Logs how many warnings about PDUs from the SMSC were held back, once that is due.
    pub(super) fn report_held_warnings(&self, now: Instant) {
        if let Some(held) = self.peer_warnings.due(now) {
            tracing::warn!(
                "{held} more warnings about PDUs from the SMSC were not logged (at most one every {EVERY:?})"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_span_and_the_rest_counted() {
        let t0 = Instant::now();
        let w = PeerWarnings::default();
        assert_eq!(w.allow(t0), Some(0));
        assert_eq!(w.due(t0 + EVERY), None, "nothing held back");
        for _ in 0..4999 {
            assert_eq!(w.allow(t0 + EVERY / 2), None);
        }
        assert_eq!(w.due(t0 + EVERY / 2), None, "not yet");
        assert_eq!(w.due(t0 + EVERY), Some(4999));
        assert_eq!(w.allow(t0 + EVERY + EVERY / 2), None, "the count was a line");
        assert_eq!(w.allow(t0 + 2 * EVERY), Some(1));
    }
}
