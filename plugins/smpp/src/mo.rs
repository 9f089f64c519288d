//! Putting multipart MO messages back together.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Which message a part belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartKey {
    pub from: String,
    pub to: String,
    pub ref_num: u16,
    pub total: u8,
}

/// The text put back together, and whether parts are missing (it timed out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub key: PartKey,
    pub text: String,
    /// The part numbers that came, in order.
    pub received: Vec<u8>,
    pub complete: bool,
}

struct Partial {
    parts: BTreeMap<u8, String>,
    since: Instant,
}

/// Parts waiting for the rest of their message.
pub struct Reassembler {
    timeout: Duration,
    waiting: Mutex<HashMap<PartKey, Partial>>,
}

impl Reassembler {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            waiting: Mutex::default(),
        }
    }

    fn join(key: PartKey, partial: Partial, complete: bool) -> Joined {
        Joined {
            key,
            received: partial.parts.keys().copied().collect(),
            text: partial.parts.into_values().collect(),
            complete,
        }
    }

    /// Adds part `seq`; returns the whole message once every part is here. A repeated part
    /// replaces the earlier copy.
    pub fn add(&self, key: PartKey, seq: u8, text: String) -> Option<Joined> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let partial = waiting.entry(key.clone()).or_insert_with(|| Partial {
            parts: BTreeMap::new(),
            since: Instant::now(),
        });
        partial.parts.insert(seq, text);
        if partial.parts.len() < usize::from(key.total) {
            return None;
        }
        let partial = waiting.remove(&key)?;
        Some(Self::join(key, partial, true))
    }

    /// Messages whose parts stopped coming: what came of them, to pass on as it is.
    pub fn expired(&self) -> Vec<Joined> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let keys: Vec<PartKey> = waiting
            .iter()
            .filter(|(_, p)| now.duration_since(p.since) >= self.timeout)
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| waiting.remove(&k).map(|p| Self::join(k, p, false)))
            .collect()
    }

    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.waiting.lock().map(|w| w.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(total: u8) -> PartKey {
        PartKey {
            from: "a".into(),
            to: "b".into(),
            ref_num: 7,
            total,
        }
    }

    #[test]
    fn joins_in_part_order_whatever_the_arrival_order() {
        let r = Reassembler::new(Duration::from_secs(60));
        assert!(r.add(key(3), 3, "c".into()).is_none());
        assert!(r.add(key(3), 1, "a".into()).is_none());
        let j = r.add(key(3), 2, "b".into()).unwrap();
        assert_eq!((j.text.as_str(), j.complete), ("abc", true));
        assert_eq!(r.waiting(), 0);
    }

    #[test]
    fn passes_on_what_came_after_the_timeout() {
        let r = Reassembler::new(Duration::from_millis(0));
        assert!(r.add(key(2), 2, "world".into()).is_none());
        let out = r.expired();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].text.as_str(), out[0].complete), ("world", false));
        assert_eq!(out[0].received, vec![2]);
    }
}
