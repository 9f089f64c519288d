//! Pauses after ESME_RTHROTTLED / ESME_RMSGQFUL, doubling while they go on.

use std::time::{Duration, Instant};

/// Pauses after ESME_RTHROTTLED / ESME_RMSGQFUL, doubling while they go on.
#[derive(Default)]
pub(super) struct Throttle {
    until: Option<Instant>,
    delay: Option<Duration>,
}

impl Throttle {
    /// The end of the pause, while one lasts.
    pub fn until(&self, now: Instant) -> Option<Instant> {
        self.until.filter(|&until| until > now)
    }

    /// The SMSC took a submit: no pause from here on. True when it had been throttling.
    pub fn recover(&mut self) -> bool {
        let was = self.delay.is_some();
        *self = Self::default();
        was
    }

    /// The SMSC throttled a submit: pause for `first` or, when the pause before has ended,
    /// twice as long as it (at most `max`). Returns the pause and whether it is the first.
    pub fn pause(&mut self, now: Instant, first: Duration, max: Duration) -> (Duration, bool) {
        let is_first = self.delay.is_none();
        let delay = match self.delay {
            Some(d) if self.until.is_some_and(|u| u > now) => d,
            Some(d) => (d * 2).min(max),
            None => first,
        };
        self.delay = Some(delay);
        self.until = Some(now + delay);
        (delay, is_first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_while_throttling_goes_on_and_end_with_an_accepted_submit() {
        let t0 = Instant::now();
        let (s, max) = (Duration::from_secs(1), Duration::from_secs(3));
        let mut t = Throttle::default();
        assert_eq!(t.until(t0), None);
        assert_eq!(t.pause(t0, s, max), (s, true));
        assert_eq!(t.until(t0), Some(t0 + s));
        assert_eq!(t.pause(t0, s, max), (s, false), "within the pause: the same delay");
        assert_eq!(t.pause(t0 + s, s, max), (2 * s, false));
        assert_eq!(t.pause(t0 + 3 * s, s, max), (max, false));
        assert!(t.recover());
        assert!(!t.recover());
        assert_eq!(t.until(t0), None);
    }
}
