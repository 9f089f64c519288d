//! A transport's `retry:` policy: which of its nacks are temporary, and how often and how
//! long a message is tried again before it is given up on (dead-lettered).
//!
//! ```yaml
//! transports:
//!   sms:
//!     plugin: smpp
//!     retry: {initial_delay: 1s, factor: 2, max_delay: 5m, max_attempts: 5, max_age: 1h}
//! ```

use super::reader::Reader;
use super::yaml;
use serde_yaml_ng::Value as Yaml;
use std::time::Duration;

/// Nack reasons that are temporary unless `retry.temporary` says otherwise: SMPP's
/// throttling, full queues and temporary application errors, system errors, lost links,
/// timeouts, and HTTP 5xx and 429 answers.
pub const DEFAULT_TEMPORARY: &[&str] = &[
    "ESME_RTHROTTLED",
    "ESME_RMSGQFUL",
    "ESME_RX_T_APPN",
    "ESME_RSYSERR",
    "not bound",
    "connection",
    "timed out",
    "timeout",
    "HTTP 5",
    "HTTP 429",
];

const KEYS: &str = "initial_delay, factor, max_delay, max_attempts, max_age, temporary";

#[derive(Debug, Clone, PartialEq)]
pub struct RetrySpec {
    pub initial_delay: Duration,
    pub factor: f64,
    pub max_delay: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Since the first attempt: no retry is scheduled past it.
    pub max_age: Duration,
    /// A nack whose reason contains one of these is temporary.
    pub temporary: Vec<String>,
}

impl Default for RetrySpec {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(300),
            max_attempts: 5,
            max_age: Duration::from_secs(3600),
            temporary: DEFAULT_TEMPORARY.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl RetrySpec {
    /// Whether a nack's reason is worth trying again.
    pub fn is_temporary(&self, reason: &str) -> bool {
        self.temporary.iter().any(|t| reason.contains(t.as_str()))
    }

    /// The wait before attempt `attempt` (2 is the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(2).min(64) as i32;
        let secs = self.initial_delay.as_secs_f64() * self.factor.powi(exp);
        Duration::from_secs_f64(secs.min(self.max_delay.as_secs_f64()))
    }
}

const MAX_WAIT: Duration = Duration::from_secs(86_400);
const MAX_AGE: Duration = Duration::from_secs(30 * 86_400);

/// `retry: {...}` under a transport.
pub(super) fn read_retry(r: &mut Reader<'_>, base: &[&str], subject: &str, value: &Yaml) -> Option<RetrySpec> {
    let Yaml::Mapping(m) = value else {
        let path: Vec<&str> = base.iter().copied().chain(["retry"]).collect();
        r.problem(
            &path,
            format!(
                "{subject}: key \"retry\": expected a map ({KEYS}), found {}",
                yaml::kind(value)
            ),
        );
        return None;
    };
    let mut spec = RetrySpec::default();
    for (k, v) in yaml::entries(m) {
        let path: Vec<&str> = base.iter().copied().chain(["retry", k.as_str()]).collect();
        match k.as_str() {
            "initial_delay" => {
                spec.initial_delay = r.duration(&path, subject, v, MAX_WAIT).unwrap_or(spec.initial_delay)
            }
            "max_delay" => spec.max_delay = r.duration(&path, subject, v, MAX_WAIT).unwrap_or(spec.max_delay),
            "max_age" => spec.max_age = r.duration(&path, subject, v, MAX_AGE).unwrap_or(spec.max_age),
            "max_attempts" => {
                spec.max_attempts = r
                    .count(&path, subject, v, 1..=1000)
                    .map_or(spec.max_attempts, |n| n as u32)
            }
            "factor" => match v.as_f64() {
                Some(f) if (1.0..=10.0).contains(&f) => spec.factor = f,
                _ => r.problem(
                    &path,
                    format!(
                        "{subject}: key \"factor\": expected a number from 1 to 10, found {}",
                        yaml::text(v)
                    ),
                ),
            },
            "temporary" => {
                let list = r.names(&path, subject, v);
                if list.iter().any(|t| t.is_empty()) {
                    r.problem(
                        &path,
                        format!("{subject}: key \"temporary\": an empty entry would make every nack temporary"),
                    );
                } else {
                    spec.temporary = list;
                }
            }
            other => r.problem(
                &path,
                format!("{subject}: key \"retry\": unknown key {other:?}; known keys: {KEYS}"),
            ),
        }
    }
    if spec.initial_delay.is_zero() {
        let path: Vec<&str> = base.iter().copied().chain(["retry", "initial_delay"]).collect();
        r.problem(&path, format!("{subject}: key \"initial_delay\": must be more than 0"));
    }
    if spec.max_delay < spec.initial_delay {
        let path: Vec<&str> = base.iter().copied().chain(["retry", "max_delay"]).collect();
        r.problem(
            &path,
            format!("{subject}: key \"max_delay\": must be at least initial_delay"),
        );
    }
    Some(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_their_cap() {
        let s = RetrySpec {
            initial_delay: Duration::from_secs(1),
            factor: 3.0,
            max_delay: Duration::from_secs(5),
            ..RetrySpec::default()
        };
        assert_eq!(s.delay(2), Duration::from_secs(1));
        assert_eq!(s.delay(3), Duration::from_secs(3));
        assert_eq!(s.delay(4), Duration::from_secs(5));
        assert!(s.is_temporary("submit_sm: ESME_RTHROTTLED"));
        assert!(!s.is_temporary("submit_sm: ESME_RINVDSTADR"));
    }
}
