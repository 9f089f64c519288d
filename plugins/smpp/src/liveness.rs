//! Whether the SMSC is alive: answers to our own requests count, not any byte it sends (a peer
//! that floods us while ignoring what we send is not a working link).

use std::time::{Duration, Instant};

/// What the link should do now.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    Fine,
    /// Time to ask the SMSC with an enquire_link.
    Enquire,
    /// Our enquire_link went unanswered: drop the link.
    Dead,
}

pub struct Liveness {
    /// The last answer the SMSC gave to one of our requests.
    last_answer: Instant,
    /// Our enquire_link awaiting its response: (sequence, sent at).
    pub enquiry: Option<(u32, Instant)>,
    /// Timers count from here: the last time the link started reading again after it had
    /// stopped to let deliveries drain (while it does not read, answers cannot arrive).
    pub clock_from: Instant,
    stopped_at: Option<Instant>,
}

impl Liveness {
    pub fn new(now: Instant) -> Self {
        Self {
            last_answer: now,
            enquiry: None,
            clock_from: now,
            stopped_at: None,
        }
    }

    /// The SMSC answered one of our requests.
    pub fn answered(&mut self, now: Instant) {
        self.last_answer = now;
    }

    /// Reading stops until a deliver_sm is answered.
    pub fn stopped_reading(&mut self) {
        self.stopped_at.get_or_insert_with(Instant::now);
    }

    /// Reading goes on: time spent not reading does not count against the SMSC.
    pub fn reading_again(&mut self, now: Instant) {
        if self.stopped_at.take().is_some() {
            self.clock_from = now;
        }
    }

    pub fn check(&self, now: Instant, reading: bool, interval: Duration, timeout: Duration) -> Check {
        if !reading {
            return Check::Fine;
        }
        match self.enquiry {
            Some((_, at)) if now.duration_since(at.max(self.clock_from)) > timeout => Check::Dead,
            Some(_) => Check::Fine,
            None if now.duration_since(self.last_answer.max(self.clock_from)) >= interval => Check::Enquire,
            None => Check::Fine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_answers_keep_the_link_alive_and_time_not_reading_is_not_counted() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut live = Liveness::new(t0);
        assert_eq!(live.check(t0 + s, true, 2 * s, s), Check::Fine);
        assert_eq!(live.check(t0 + 2 * s, true, 2 * s, s), Check::Enquire);
        live.enquiry = Some((7, t0 + 2 * s));
        assert_eq!(live.check(t0 + 4 * s, true, 2 * s, s), Check::Dead);
        assert_eq!(live.check(t0 + 4 * s, false, 2 * s, s), Check::Fine, "not reading");
        live.stopped_reading();
        live.reading_again(t0 + 4 * s);
        assert_eq!(
            live.check(t0 + 4 * s, true, 2 * s, s),
            Check::Fine,
            "the clock starts again"
        );
        live.enquiry = None;
        live.answered(t0 + 5 * s);
        assert_eq!(live.check(t0 + 6 * s, true, 2 * s, s), Check::Fine);
    }
}
