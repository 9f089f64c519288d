//! Whether the store is keeping up: up or down, since when, the last error, and what it wrote.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a store that stays down is logged again.
const REPEAT: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Health {
    down: AtomicBool,
    last_error: Mutex<Option<String>>,
    last_logged: Mutex<Option<Instant>>,
    full_logged: Mutex<Option<Instant>>,
    messages: AtomicU64,
    events: AtomicU64,
}

impl Health {
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Messages and events written so far.
    pub fn written_counts(&self) -> (u64, u64) {
        (
            self.messages.load(Ordering::Relaxed),
            self.events.load(Ordering::Relaxed),
        )
    }

    pub(super) fn written(&self, messages: usize, events: usize) {
        self.messages.fetch_add(messages as u64, Ordering::Relaxed);
        self.events.fetch_add(events as u64, Ordering::Relaxed);
    }

    fn due(slot: &Mutex<Option<Instant>>) -> bool {
        let mut last = slot.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < REPEAT) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    pub(super) fn down(&self, name: &str, error: &str, room: usize) {
        let was_down = self.down.swap(true, Ordering::AcqRel);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_owned());
        if !was_down || Self::due(&self.last_logged) {
            tracing::error!(
                target: "ruvuma::status",
                "store {name}: down: {error}; records are held and written when it is back (room for {room} more before publishers wait)"
            );
        }
    }

    pub(super) fn up(&self, name: &str, after: Duration) {
        if self.down.swap(false, Ordering::AcqRel) {
            *self.last_logged.lock().unwrap_or_else(|p| p.into_inner()) = None;
            tracing::info!(
                target: "ruvuma::status",
                "store {name}: up again after {:.1} s; held records written",
                after.as_secs_f64()
            );
        }
    }

    pub(super) fn full(&self, name: &str, buffer: usize) {
        if Self::due(&self.full_logged) {
            tracing::warn!("store {name}: {buffer} records wait to be written; publishers wait for the store");
        }
    }
}
