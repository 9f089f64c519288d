//! The most recent log lines, kept in memory for the admin page.

use super::fields::LineFields;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// How many lines the host keeps; older lines make room for newer ones.
pub const MAX_LINES: usize = 1000;

/// The most bytes of a kept line's message (with its fields); a longer one is cut on a char
/// boundary and ends in [`TRUNCATED`], all within this bound.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// The end of a message that was cut.
pub const TRUNCATED: &str = "…[truncated]";

/// One kept log line: what the log printed, in parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecentLine {
    /// When it was logged, RFC 3339 in UTC (`2024-05-01T12:00:00.123456Z`).
    pub at: String,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: &'static str,
    /// The component the line is about, or [`super::HOST_COMPONENT`].
    pub component: String,
    /// The module or plugin target that logged it (`ruvuma::plugin` for every plugin line).
    pub target: String,
    /// The message, then ` name=value` for each other field, as the text log writes them.
    pub message: String,
}

/// A kept line with its level, for filtering.
struct Entry {
    level: Level,
    line: RecentLine,
}

/// A bounded buffer of the most recent lines. A push holds the lock only to add one line.
pub struct Ring {
    lines: Mutex<VecDeque<Arc<Entry>>>,
    capacity: usize,
}

impl Ring {
    /// An empty ring that keeps at most `capacity` lines.
    pub const fn new(capacity: usize) -> Self {
        Self {
            lines: Mutex::new(VecDeque::new()),
            capacity,
        }
    }

    /// Keeps `line`, dropping the oldest line when full.
    fn push(&self, level: Level, line: RecentLine) {
        if self.capacity == 0 {
            return;
        }
        let entry = Arc::new(Entry { level, line });
        let mut lines = self.lock();
        if lines.len() >= self.capacity {
            lines.pop_front();
        }
        lines.push_back(entry);
    }

    /// The last `limit` lines at `min_level` or more severe (all levels when `None`), oldest
    /// first.
    pub fn recent(&self, limit: usize, min_level: Option<Level>) -> Vec<RecentLine> {
        let picked: Vec<Arc<Entry>> = {
            let lines = self.lock();
            lines
                .iter()
                .rev()
                .filter(|e| min_level.is_none_or(|min| e.level <= min))
                .take(limit)
                .cloned()
                .collect()
        };
        picked.iter().rev().map(|e| e.line.clone()).collect()
    }

    /// The lines; a panic elsewhere while holding the lock leaves them usable.
    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<Entry>>> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The lines the host logged.
static RING: Ring = Ring::new(MAX_LINES);

/// The last `limit` lines the host logged at `min_level` or more severe (every level the log
/// filter lets through when `None`), oldest first; at most [`MAX_LINES`] are kept.
pub fn recent(limit: usize, min_level: Option<Level>) -> Vec<RecentLine> {
    RING.recent(limit, min_level)
}

/// The layer that fills the host's ring.
pub fn global_layer() -> RingLayer {
    RingLayer::new(&RING)
}

/// A tracing layer that keeps each event it sees in a [`Ring`].
pub struct RingLayer {
    ring: &'static Ring,
}

impl RingLayer {
    /// A layer filling `ring`.
    pub fn new(ring: &'static Ring) -> Self {
        Self { ring }
    }
}

impl<S: Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        self.ring.push(*meta.level(), line_of(event, super::now_rfc3339()));
    }
}

/// `event` as a kept line, stamped `at`.
fn line_of(event: &Event<'_>, at: String) -> RecentLine {
    let mut fields = LineFields::new(MAX_MESSAGE_BYTES);
    event.record(&mut fields);
    let meta = event.metadata();
    RecentLine {
        at,
        level: meta.level().as_str(),
        component: fields
            .component
            .take()
            .unwrap_or_else(|| super::HOST_COMPONENT.to_owned()),
        target: meta.target().to_owned(),
        message: fields.finish(TRUNCATED),
    }
}
