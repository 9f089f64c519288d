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
    /// Its place in arrival order (the key of `by_age`).
    serial: u64,
    bytes: usize,
}

/// The most text, in bytes, held for all the multipart messages waiting at once: past it the
/// oldest are passed on as they are. (A part is at most a 64 KiB PDU, and a message has up to 255.)
pub const MAX_PENDING_BYTES: usize = 16 * 1024 * 1024;

#[derive(Default)]
struct Waiting {
    by_key: HashMap<PartKey, Partial>,
    /// Keys by arrival, oldest first.
    by_age: BTreeMap<u64, PartKey>,
    bytes: usize,
    next_serial: u64,
}

impl Waiting {
    fn remove(&mut self, key: &PartKey) -> Option<Partial> {
        let partial = self.by_key.remove(key)?;
        self.by_age.remove(&partial.serial);
        self.bytes -= partial.bytes;
        Some(partial)
    }

    fn pop_oldest(&mut self) -> Option<(PartKey, Partial)> {
        let (_, key) = self.by_age.pop_first()?;
        let partial = self.by_key.remove(&key)?;
        self.bytes -= partial.bytes;
        Some((key, partial))
    }
}

/// Parts waiting for the rest of their message, bounded in count and bytes.
pub struct Reassembler {
    timeout: Duration,
    max_pending: usize,
    waiting: Mutex<Waiting>,
}

impl Reassembler {
    pub fn new(timeout: Duration, max_pending: usize) -> Self {
        Self {
            timeout,
            max_pending: max_pending.max(1),
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

    /// Adds part `seq`; returns the whole message once every part is here, and any message
    /// pushed out (incomplete) to keep within the bounds. A repeated part replaces the earlier
    /// copy; a part numbered outside 1..=total is refused.
    pub fn add(&self, key: PartKey, seq: u8, text: String) -> Result<Vec<Joined>, String> {
        if seq == 0 || seq > key.total {
            return Err(format!("part {seq} of {} is not a part number", key.total));
        }
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        if !w.by_key.contains_key(&key) {
            while w.by_key.len() >= self.max_pending {
                let Some((k, p)) = w.pop_oldest() else { break };
                out.push(Self::join(k, p, false));
            }
            let serial = w.next_serial;
            w.next_serial += 1;
            w.by_age.insert(serial, key.clone());
            w.by_key.insert(
                key.clone(),
                Partial {
                    parts: BTreeMap::new(),
                    since: Instant::now(),
                    serial,
                    bytes: 0,
                },
            );
        }
        let len = text.len();
        let (old, count) = match w.by_key.get_mut(&key) {
            Some(partial) => {
                let old = partial.parts.insert(seq, text).map_or(0, |t| t.len());
                partial.bytes = partial.bytes + len - old;
                (old, partial.parts.len())
            }
            None => return Err("the message's parts were lost".to_owned()),
        };
        w.bytes = w.bytes + len - old;
        if count >= usize::from(key.total) {
            if let Some(partial) = w.remove(&key) {
                out.push(Self::join(key.clone(), partial, true));
            }
        }
        while w.bytes > MAX_PENDING_BYTES {
            let Some((k, p)) = w.pop_oldest() else { break };
            out.push(Self::join(k, p, false));
        }
        Ok(out)
    }

    /// Messages whose parts stopped coming: what came of them, to pass on as it is.
    pub fn expired(&self) -> Vec<Joined> {
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let mut out = Vec::new();
        while let Some(key) = w.by_age.first_key_value().map(|(_, k)| k.clone()) {
            let old = w
                .by_key
                .get(&key)
                .is_none_or(|p| now.duration_since(p.since) >= self.timeout);
            if !old {
                break;
            }
            match w.pop_oldest() {
                Some((k, p)) => out.push(Self::join(k, p, false)),
                None => break,
            }
        }
        out
    }

    /// Every message still waiting, as it is (at shutdown: its parts were answered).
    pub fn take_all(&self) -> Vec<Joined> {
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        while let Some((k, p)) = w.pop_oldest() {
            out.push(Self::join(k, p, false));
        }
        out
    }

    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.waiting.lock().map(|w| w.by_key.len()).unwrap_or(0)
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
        let r = Reassembler::new(Duration::from_secs(60), 100);
        assert!(r.add(key(3), 3, "c".into()).unwrap().is_empty());
        assert!(r.add(key(3), 1, "a".into()).unwrap().is_empty());
        let j = r.add(key(3), 2, "b".into()).unwrap().remove(0);
        assert_eq!((j.text.as_str(), j.complete), ("abc", true));
        assert_eq!(r.waiting(), 0);
    }

    #[test]
    fn passes_on_what_came_after_the_timeout() {
        let r = Reassembler::new(Duration::from_millis(0), 100);
        assert!(r.add(key(2), 2, "world".into()).unwrap().is_empty());
        let out = r.expired();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].text.as_str(), out[0].complete), ("world", false));
        assert_eq!(out[0].received, vec![2]);
    }

    #[test]
    fn parts_out_of_range_are_refused_and_the_oldest_give_way() {
        let r = Reassembler::new(Duration::from_secs(60), 2);
        assert!(r.add(key(3), 0, "x".into()).is_err());
        assert!(r.add(key(3), 4, "x".into()).is_err());
        let other = |n: u16| PartKey { ref_num: n, ..key(3) };
        assert!(r.add(other(1), 1, "one".into()).unwrap().is_empty());
        assert!(r.add(other(2), 1, "two".into()).unwrap().is_empty());
        let pushed = r.add(other(3), 1, "three".into()).unwrap();
        assert_eq!(pushed.len(), 1);
        assert_eq!((pushed[0].text.as_str(), pushed[0].complete), ("one", false));
        assert_eq!(r.waiting(), 2);
        let big = "y".repeat(MAX_PENDING_BYTES / 2 + 1);
        let pushed = r.add(other(4), 1, big.clone()).unwrap();
        assert_eq!(pushed.len(), 1, "the count bound pushes out \"two\"");
        let pushed = r.add(other(4), 2, big).unwrap();
        assert_eq!(
            r.waiting(),
            0,
            "over the byte bound, everything gives way: {}",
            pushed.len()
        );
        assert_eq!(r.take_all().len(), 0);
    }
}
