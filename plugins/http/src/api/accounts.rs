//! Who may send: users with passwords (compared in constant time), the channels each may use,
//! and each one's rate (`mt_tps`, a token bucket: a request over it waits for its turn, up to
//! `max_rate_wait_ms`, and is refused after that).

use super::config::{Config, User};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why a request is refused before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown user or wrong password (the password is never repeated).
    BadCredentials,
    /// The user may not send through this channel.
    Forbidden { channel: String },
    /// No such channel.
    NoChannel { channel: String },
    /// The request names no channel and there is no default one.
    NoDefault,
    /// Over the user's `mt_tps` for longer than the wait allowed.
    TooFast { mt_tps: u32 },
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct Account {
    pub username: String,
    password: String,
    channels: BTreeSet<String>,
    mt_tps: u32,
    bucket: Mutex<Bucket>,
}

/// Compares without stopping at the first difference.
fn same(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len() && given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

impl Account {
    fn new(u: &User) -> Self {
        Self {
            username: u.username.clone(),
            password: u.password.clone(),
            channels: u.channels.iter().cloned().collect(),
            mt_tps: u.mt_tps,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(u.mt_tps),
                at: Instant::now(),
            }),
        }
    }

    pub fn may_use(&self, channel: &str) -> bool {
        self.channels.is_empty() || self.channels.contains(channel)
    }

    /// Takes `n` sends from the bucket: how long to wait first, or `None` when that would be
    /// longer than `max_wait` (nothing is taken then).
    fn take(&self, n: usize, max_wait: Duration) -> Option<Duration> {
        if self.mt_tps == 0 {
            return Some(Duration::ZERO);
        }
        let rate = f64::from(self.mt_tps);
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(rate);
        b.at = now;
        let left = b.tokens - n as f64;
        let wait = if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / rate)
        };
        if wait > max_wait {
            return None;
        }
        b.tokens = left;
        Some(wait)
    }
}

pub struct Accounts {
    by_name: HashMap<String, Account>,
    max_wait: Duration,
}

impl Accounts {
    pub fn new(config: &Config) -> Self {
        Self {
            by_name: config
                .users
                .iter()
                .map(|u| (u.username.clone(), Account::new(u)))
                .collect(),
            max_wait: Duration::from_millis(config.max_rate_wait_ms),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub fn check(&self, username: &str, password: &str) -> Result<&Account, Refusal> {
        match self.by_name.get(username) {
            Some(a) if same(password.as_bytes(), a.password.as_bytes()) => Ok(a),
            _ => Err(Refusal::BadCredentials),
        }
    }

    /// Waits until `account` may send `n` more messages, or refuses.
    pub async fn pace(&self, account: &Account, n: usize) -> Result<(), Refusal> {
        match account.take(n, self.max_wait) {
            Some(wait) if wait.is_zero() => Ok(()),
            Some(wait) => {
                ruvuma_plugin_api::tokio::time::sleep(wait).await;
                Ok(())
            }
            None => Err(Refusal::TooFast { mt_tps: account.mt_tps }),
        }
    }
}

/// The channel a request goes out on: the one it names, else the default; checked against the
/// config and the user's channels.
pub fn channel<'a>(config: &'a Config, account: Option<&Account>, named: Option<&'a str>) -> Result<&'a str, Refusal> {
    let channel = match named.filter(|n| !n.is_empty()) {
        Some(n) => n,
        None => {
            let default = config
                .default_channel()
                .filter(|d| account.is_none_or(|a| a.may_use(d)));
            let first = account
                .and_then(|a| a.channels.iter().next())
                .and_then(|c| config.channels.get_key_value(c))
                .map(|(k, _)| k.as_str());
            default.or(first).ok_or(Refusal::NoDefault)?
        }
    };
    if !config.channels.contains_key(channel) {
        return Err(Refusal::NoChannel {
            channel: channel.to_owned(),
        });
    }
    if let Some(a) = account {
        if !a.may_use(channel) {
            return Err(Refusal::Forbidden {
                channel: channel.to_owned(),
            });
        }
    }
    Ok(channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(mt_tps: u32) -> Account {
        Account::new(&User {
            username: "u".into(),
            password: "p".into(),
            channels: vec![],
            mt_tps,
        })
    }

    #[test]
    fn a_bucket_lets_its_rate_through_then_asks_for_a_wait() {
        let a = account(10);
        for _ in 0..10 {
            assert_eq!(a.take(1, Duration::ZERO), Some(Duration::ZERO));
        }
        assert_eq!(
            a.take(1, Duration::ZERO),
            None,
            "the eleventh in the same instant waits"
        );
        let wait = a.take(1, Duration::from_secs(1)).expect("a wait under a second");
        assert!(
            wait > Duration::from_millis(50) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
    }

    #[test]
    fn no_rate_means_no_wait() {
        assert_eq!(account(0).take(1_000_000, Duration::ZERO), Some(Duration::ZERO));
    }

    #[test]
    fn passwords_are_compared_whole() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secret", b"secreT"));
        assert!(!same(b"secret", b"secret2"));
    }
}
