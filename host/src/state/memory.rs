//! State in this process: expired keys are swept as the store grows. Each operation finds its
//! key once (an entry, not a look then a change), which matters on a table of millions of keys
//! where every probe is a cache miss.

use super::{ttl, StateError};
use hashbrown::hash_map::EntryRef;
use std::fmt::Write;
use std::hash::RandomState;
use std::sync::Mutex;
use std::time::Instant;

/// Keys may come from peers (receipt ids): the std hasher, keyed per process, keeps them from
/// choosing collisions.
type Map = hashbrown::HashMap<String, (String, Instant), RandomState>;

pub struct MemoryState {
    inner: Mutex<Inner>,
    /// The most keys held at once: past it (after a sweep of the expired ones), a new key is
    /// refused, so that a peer that makes keys (unique receipt ids, say) cannot take all memory.
    max_keys: usize,
}

struct Inner {
    map: Map,
    next_sweep: usize,
    /// When a full store last swept.
    full_sweep: Instant,
}

impl Default for MemoryState {
    fn default() -> Self {
        Self::new(MAX_KEYS)
    }
}

impl MemoryState {
    pub fn new(max_keys: usize) -> Self {
        Self {
            max_keys,
            inner: Mutex::new(Inner {
                map: Map::default(),
                next_sweep: 1024,
                full_sweep: Instant::now(),
            }),
        }
    }
}

/// The most keys the memory store holds at once when the config does not say.
pub const MAX_KEYS: usize = crate::config::DEFAULT_STATE_KEYS;

impl Inner {
    fn maybe_sweep(&mut self, now: Instant) {
        if self.map.len() >= self.next_sweep {
            self.map.retain(|_, (_, exp)| *exp > now);
            self.next_sweep = (self.map.len() * 2).max(1024);
        }
    }

    /// Room for `key`: it is there already, or the store is below its limit (a full store
    /// sweeps out what expired at most once a second).
    fn room_for(&mut self, key: &str, now: Instant, max_keys: usize) -> Result<(), StateError> {
        if self.map.len() < max_keys {
            return Ok(());
        }
        if now.duration_since(self.full_sweep) >= std::time::Duration::from_secs(1) {
            self.map.retain(|_, (_, exp)| *exp > now);
            self.full_sweep = now;
        }
        if self.map.len() < max_keys || self.map.get(key).is_some_and(|(_, exp)| *exp > now) {
            Ok(())
        } else {
            Err(StateError::Full { keys: max_keys })
        }
    }
}

impl MemoryState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An expired key reads as absent; the next sweep, or a write, takes it away.
    pub fn get(&self, key: &str) -> Option<String> {
        let now = Instant::now();
        match self.lock().map.get(key) {
            Some((value, exp)) if *exp > now => Some(value.clone()),
            _ => None,
        }
    }

    pub fn set(&self, key: &str, value: &str, ttl_ms: u64) -> Result<(), StateError> {
        let now = Instant::now();
        let expires = now + ttl(ttl_ms)?;
        let mut inner = self.lock();
        inner.maybe_sweep(now);
        inner.room_for(key, now, self.max_keys)?;
        match inner.map.entry_ref(key) {
            EntryRef::Occupied(mut o) => {
                let (old, exp) = o.get_mut();
                old.clear();
                old.push_str(value);
                *exp = expires;
            }
            EntryRef::Vacant(v) => {
                v.insert((value.to_owned(), expires));
            }
        }
        Ok(())
    }

    /// Adds `by`; a new (or expired) key starts at 0 and gets `ttl_ms`; a live key keeps its
    /// lifetime.
    pub fn incr(&self, key: &str, by: i64, ttl_ms: u64) -> Result<i64, StateError> {
        let now = Instant::now();
        let life = ttl(ttl_ms)?;
        let mut inner = self.lock();
        inner.maybe_sweep(now);
        inner.room_for(key, now, self.max_keys)?;
        match inner.map.entry_ref(key) {
            EntryRef::Occupied(mut o) if o.get().1 > now => {
                let value = &mut o.get_mut().0;
                let n: i64 = value
                    .parse()
                    .map_err(|_| StateError::NotANumber { key: key.to_owned() })?;
                let n = n
                    .checked_add(by)
                    .ok_or_else(|| StateError::Overflow { key: key.to_owned() })?;
                value.clear();
                let _ = write!(value, "{n}");
                Ok(n)
            }
            EntryRef::Occupied(mut o) => {
                *o.get_mut() = (by.to_string(), now + life);
                Ok(by)
            }
            EntryRef::Vacant(v) => {
                v.insert((by.to_string(), now + life));
                Ok(by)
            }
        }
    }

    /// Whether a live key was there.
    pub fn delete(&self, key: &str) -> bool {
        let now = Instant::now();
        self.lock().map.remove(key).is_some_and(|(_, exp)| exp > now)
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn set_get_delete_and_ttl() {
        let s = MemoryState::default();
        s.set("a", "1", 60_000).unwrap();
        assert_eq!(s.get("a").as_deref(), Some("1"));
        assert!(s.delete("a"));
        assert!(!s.delete("a"));
        assert!(s.set("b", "x", 0).is_err(), "keys without a lifetime are refused");
        s.set("c", "x", 1).unwrap();
        s.incr("n", 5, 1).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(s.get("c"), None);
        assert!(!s.delete("c"), "an expired key was not there");
        assert_eq!(s.incr("n", 2, 60_000).unwrap(), 2, "an expired counter starts again");
        s.set("c", "y", 60_000).unwrap();
        assert_eq!(s.get("c").as_deref(), Some("y"));
    }

    #[test]
    fn incr_is_atomic_per_key() {
        let s = std::sync::Arc::new(MemoryState::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        s.incr("n", 1, 60_000).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(s.get("n").as_deref(), Some("4000"));
        s.set("w", "word", 60_000).unwrap();
        assert!(s.incr("w", 1, 60_000).is_err());
    }

    #[test]
    fn expired_keys_are_swept() {
        let s = MemoryState::default();
        for i in 0..1500 {
            s.set(&format!("k{i}"), "v", 1).unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
        for i in 0..1100 {
            s.set(&format!("fresh{i}"), "v", 60_000).unwrap();
        }
        assert!(s.len() < 2600, "expired keys stay bounded: {}", s.len());
    }

    #[test]
    fn a_full_store_refuses_new_keys_and_keeps_the_old() {
        let s = MemoryState::default();
        for i in 0..MAX_KEYS {
            s.set(&format!("k{i}"), "v", 60_000).unwrap();
        }
        let e = s.set("one-too-many", "v", 60_000).unwrap_err();
        assert!(e.to_string().contains("1000000 keys"), "{e}");
        assert!(s.incr("another", 1, 60_000).is_err());
        s.set("k1", "changed", 60_000).expect("an existing key may change");
        assert_eq!(s.get("k1").as_deref(), Some("changed"));
        assert_eq!(s.len(), MAX_KEYS);
    }
}
