//! The USSD sessions open on the link: SSMI names the USSD code (`*120*123#`) only in a
//! session's first message, so the transport remembers it per phone number to give every later
//! message its `to_addr` (Vumi kept it in Redis for `ussd_session_lifetime`). Held in memory,
//! bounded in count and in age: the server decides how many sessions it opens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Entry {
    code: String,
    touched: Instant,
}

pub struct Sessions {
    map: Mutex<HashMap<String, Entry>>,
    lifetime: Duration,
    max: usize,
}

/// What opening a session cost: the session forgotten to make room, if any.
pub struct Opened {
    pub evicted: Option<String>,
}

impl Sessions {
    pub fn new(lifetime: Duration, max: usize) -> Self {
        Self {
            map: Mutex::default(),
            lifetime,
            max: max.max(1),
        }
    }

    /// Remembers `code` as the session of `msisdn`. When full, sessions past their lifetime go
    /// first; if none has, the one idle longest is forgotten.
    pub fn open(&self, msisdn: &str, code: &str) -> Opened {
        let now = Instant::now();
        let Ok(mut map) = self.map.lock() else {
            return Opened { evicted: None };
        };
        let mut evicted = None;
        if !map.contains_key(msisdn) && map.len() >= self.max {
            map.retain(|_, e| now.duration_since(e.touched) < self.lifetime);
            if map.len() >= self.max {
                let oldest = map.iter().min_by_key(|(_, e)| e.touched).map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    map.remove(&k);
                    evicted = Some(k);
                }
            }
        }
        map.insert(
            msisdn.to_owned(),
            Entry {
                code: code.to_owned(),
                touched: now,
            },
        );
        Opened { evicted }
    }

    /// The code of `msisdn`'s session, if it is open and not past its lifetime; `close` forgets
    /// it, otherwise its lifetime starts again.
    pub fn find(&self, msisdn: &str, close: bool) -> Option<String> {
        let now = Instant::now();
        let mut map = self.map.lock().ok()?;
        let live = map
            .get(msisdn)
            .is_some_and(|e| now.duration_since(e.touched) < self.lifetime);
        if !live || close {
            return map.remove(msisdn).filter(|_| live).map(|e| e.code);
        }
        let entry = map.get_mut(msisdn)?;
        entry.touched = now;
        Some(entry.code.clone())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_forgets_and_stays_bounded() {
        let s = Sessions::new(Duration::from_secs(60), 2);
        assert!(s.open("+1", "*1#").evicted.is_none());
        assert!(s.open("+2", "*2#").evicted.is_none());
        assert_eq!(s.find("+1", false).as_deref(), Some("*1#"));
        // +2 is now the one idle longest.
        assert_eq!(s.open("+3", "*3#").evicted.as_deref(), Some("+2"));
        assert_eq!(s.len(), 2);
        assert_eq!(s.find("+2", false), None);
        assert_eq!(s.find("+3", true).as_deref(), Some("*3#"));
        assert_eq!(s.find("+3", false), None);
    }

    #[test]
    fn a_session_past_its_lifetime_is_gone() {
        let s = Sessions::new(Duration::from_millis(1), 10);
        s.open("+1", "*1#");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(s.find("+1", false), None);
        assert_eq!(s.len(), 0);
    }
}
