//! What each component has done, counted where traffic passes (atomics only on the message
//! path), its last status report, and a history of the host's rates for the admin pages.

use super::history::{History, Sample};
use ruvuma_plugin_api::message::{DeliveryStatus, EventKind, Payload};
use ruvuma_plugin_api::Kind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

/// Distinct nack reasons kept per component; the rest are counted as `other`.
pub const MAX_NACK_REASONS: usize = 32;
/// The longest nack reason label.
const MAX_REASON_LEN: usize = 48;

/// What a publisher or consumer counts for its component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally {
    /// Messages into the component (a transport's from its peer, an application's to it).
    In,
    /// Messages out of it.
    Out,
    /// Events a transport publishes: acks, nacks and delivery reports.
    Events,
}

/// A component's last status report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusNow {
    /// ok, degraded or down.
    pub level: String,
    /// The report's machine name (`bound`, `connection_lost`).
    pub kind: String,
    pub message: String,
    /// Seconds since 1970 when the level or kind last changed.
    pub since: f64,
    pub details: serde_json::Value,
}

/// The counts of one component (a transport, application, dispatcher or middleware).
pub struct Meter {
    pub kind: Kind,
    pub name: String,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    acks: AtomicU64,
    nacks: Reasons,
    delivered: AtomicU64,
    undelivered: AtomicU64,
    pending: AtomicU64,
    failures: Reasons,
    retries: AtomicU64,
    status: Mutex<Option<StatusNow>>,
    /// Recent (in, out) totals, one a second, for rates.
    recent: Mutex<History>,
    /// An application's own metrics (`metrics.fire`).
    pub app: super::app_metrics::AppMetrics,
}

/// One component's figures, read at once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MeterView {
    pub kind: &'static str,
    pub name: String,
    pub messages_in: u64,
    pub messages_out: u64,
    /// Per second over the last ten seconds.
    pub rate_in: f64,
    pub rate_out: f64,
    pub acks: u64,
    pub nacks: Vec<(String, u64)>,
    pub delivered: u64,
    pub undelivered: u64,
    pub pending: u64,
    /// Dead-lettered, in all and by reason.
    pub failures: u64,
    pub failure_reasons: Vec<(String, u64)>,
    /// An application's own metrics.
    pub app_metrics: Vec<super::app_metrics::AppMetric>,
    /// Temporary failures scheduled to be tried again.
    pub retries: u64,
    /// The last status report, when it has made one.
    pub status_report: Option<StatusNow>,
}

/// The SMPP status name in a nack reason (`ESME_RTHROTTLED`), else its first words, bounded.
pub fn reason_label(reason: &str) -> String {
    if let Some(at) = reason.find("ESME_") {
        let name: String = reason[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(MAX_REASON_LEN)
            .collect();
        return name;
    }
    let head = reason.split([':', '(', '\n']).next().unwrap_or("").trim();
    let label: String = head
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON_LEN)
        .collect();
    if label.is_empty() {
        "unknown".into()
    } else {
        label
    }
}

/// Counts by reason label, at most [`MAX_NACK_REASONS`] labels and then `other`.
#[derive(Default)]
struct Reasons(Mutex<Vec<(String, u64)>>);

impl Reasons {
    fn count(&self, reason: &str) {
        let label = reason_label(reason);
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = counts.iter_mut().find(|(l, _)| *l == label) {
            slot.1 += 1;
            return;
        }
        let label = if counts.len() < MAX_NACK_REASONS {
            label
        } else {
            "other".into()
        };
        match counts.iter_mut().find(|(l, _)| *l == label) {
            Some(slot) => slot.1 += 1,
            None => counts.push((label, 1)),
        }
    }

    fn read(&self) -> Vec<(String, u64)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Meter {
    fn new(kind: Kind, name: &str) -> Self {
        Self {
            kind,
            name: name.to_owned(),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            acks: AtomicU64::new(0),
            nacks: Reasons::default(),
            delivered: AtomicU64::new(0),
            undelivered: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            failures: Reasons::default(),
            retries: AtomicU64::new(0),
            status: Mutex::new(None),
            recent: Mutex::new(History::new(61)),
            app: Default::default(),
        }
    }

    /// Counts one payload passing a publisher or consumer of this component.
    #[inline]
    pub fn tally(&self, tally: Tally, payload: &Payload) {
        match (tally, payload) {
            (Tally::In, _) => self.messages_in.fetch_add(1, Ordering::Relaxed),
            (Tally::Out, _) => self.messages_out.fetch_add(1, Ordering::Relaxed),
            (Tally::Events, Payload::Event(e)) => self.event(&e.kind),
            (Tally::Events, Payload::Message(_)) => 0,
        };
    }

    fn event(&self, kind: &EventKind) -> u64 {
        let counter = match kind {
            EventKind::Ack { .. } => &self.acks,
            EventKind::Nack { nack_reason } => {
                self.nack(nack_reason);
                return 0;
            }
            EventKind::DeliveryReport { delivery_status } => match delivery_status {
                DeliveryStatus::Delivered => &self.delivered,
                DeliveryStatus::Failed => &self.undelivered,
                DeliveryStatus::Pending => &self.pending,
            },
        };
        counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a nack under its reason's label; past [`MAX_NACK_REASONS`] labels, as `other`.
    pub fn nack(&self, reason: &str) {
        self.nacks.count(reason);
    }

    /// Counts a dead letter under its reason's label.
    pub fn failed(&self, reason: &str) {
        self.failures.count(reason);
    }

    /// Counts a temporary failure scheduled to be tried again.
    pub fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes a status report; whether its level or kind changed.
    pub fn set_status(&self, level: &str, kind: &str, message: &str, details: serde_json::Value) -> bool {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let changed = status.as_ref().is_none_or(|s| s.level != level || s.kind != kind);
        let since = match (&*status, changed) {
            (Some(s), false) => s.since,
            _ => unix_now(),
        };
        *status = Some(StatusNow {
            level: level.into(),
            kind: kind.into(),
            message: message.into(),
            since,
            details,
        });
        changed
    }

    pub fn status(&self) -> Option<StatusNow> {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn totals(&self) -> (u64, u64) {
        (
            self.messages_in.load(Ordering::Relaxed),
            self.messages_out.load(Ordering::Relaxed),
        )
    }

    pub fn view(&self) -> MeterView {
        let (messages_in, messages_out) = self.totals();
        let (rate_in, rate_out) = self.recent.lock().unwrap_or_else(|p| p.into_inner()).rate(10);
        MeterView {
            kind: kind_name(self.kind),
            name: self.name.clone(),
            messages_in,
            messages_out,
            rate_in,
            rate_out,
            acks: self.acks.load(Ordering::Relaxed),
            nacks: self.nacks.read(),
            delivered: self.delivered.load(Ordering::Relaxed),
            undelivered: self.undelivered.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::Relaxed),
            failures: self.failures.read().iter().map(|(_, n)| n).sum(),
            failure_reasons: self.failures.read(),
            app_metrics: self.app.read(),
            retries: self.retries.load(Ordering::Relaxed),
            status_report: self.status(),
        }
    }
}

/// What operators call a component kind (a router runs as a dispatcher).
pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Router => "dispatcher",
        other => other.as_str(),
    }
}

/// Seconds since 1970.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Every component's meter, and the host's history.
pub struct Metrics {
    pub started: Instant,
    pub started_unix: f64,
    meters: RwLock<Vec<Arc<Meter>>>,
    /// The host's totals, one sample a second, for the last hour.
    history: Mutex<History>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            started_unix: unix_now(),
            meters: RwLock::new(Vec::new()),
            history: Mutex::new(History::new(3601)),
        }
    }
}

impl Metrics {
    /// The meter of a component, made at its first use.
    pub fn meter(&self, kind: Kind, name: &str) -> Arc<Meter> {
        let mut meters = self.meters.write().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = meters.iter().find(|m| m.name == name && m.kind == kind) {
            return m.clone();
        }
        let m = Arc::new(Meter::new(kind, name));
        meters.push(m.clone());
        m
    }

    /// The meter of a component by name, if it has one (the first of that name).
    pub fn find(&self, name: &str) -> Option<Arc<Meter>> {
        let meters = self.meters.read().unwrap_or_else(|p| p.into_inner());
        meters.iter().find(|m| m.name == name).cloned()
    }

    pub fn meters(&self) -> Vec<Arc<Meter>> {
        self.meters.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes this second's sample of every meter and of the host's totals.
    pub fn sample(&self) {
        let mut total = Sample::default();
        for m in self.meters() {
            let (i, o) = m.totals();
            m.recent.lock().unwrap_or_else(|p| p.into_inner()).push(Sample {
                at: 0.0,
                messages_in: i,
                messages_out: o,
                ..Sample::default()
            });
            if m.kind == Kind::Transport {
                total.messages_in += i;
                total.messages_out += o;
                total.delivered += m.delivered.load(Ordering::Relaxed);
                total.undelivered += m.undelivered.load(Ordering::Relaxed);
                total.pending += m.pending.load(Ordering::Relaxed);
            }
        }
        total.at = unix_now();
        self.history.lock().unwrap_or_else(|p| p.into_inner()).push(total);
    }

    /// Per-second rates over the last `seconds` (at most an hour), oldest first.
    pub fn rates(&self, seconds: usize) -> Vec<Sample> {
        self.history.lock().unwrap_or_else(|p| p.into_inner()).deltas(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruvuma_plugin_api::message::{Event, Message};

    fn nack(reason: &str) -> Payload {
        Event::new(
            "m1",
            EventKind::Nack {
                nack_reason: reason.into(),
            },
            "sms",
        )
        .into()
    }

    #[test]
    fn counts_by_kind_and_bounds_reasons() {
        let m = Meter::new(Kind::Transport, "sms");
        m.tally(Tally::In, &Message::new("1", "2", Some("hi"), "sms", "sms").into());
        m.tally(Tally::Events, &nack("submit_sm refused: ESME_RTHROTTLED (0x58)"));
        m.tally(Tally::Events, &nack("ESME_RTHROTTLED"));
        for i in 0..100 {
            m.nack(&format!("reason {i}"));
        }
        let v = m.view();
        assert_eq!(v.messages_in, 1);
        assert_eq!(v.nacks[0], ("ESME_RTHROTTLED".to_string(), 2));
        assert_eq!(v.nacks.len(), MAX_NACK_REASONS + 1);
        let other = v.nacks.iter().find(|(l, _)| l == "other").map(|(_, n)| *n);
        assert_eq!(other, Some(100 - (MAX_NACK_REASONS as u64 - 1)));
    }

    #[test]
    fn status_since_moves_only_on_change() {
        let m = Meter::new(Kind::Transport, "sms");
        assert!(m.set_status("ok", "bound", "bound", serde_json::json!({})));
        let since = m.status().map(|s| s.since);
        assert!(!m.set_status("ok", "bound", "still bound", serde_json::json!({})));
        assert_eq!(m.status().map(|s| s.since), since);
        assert!(m.set_status("down", "connection_lost", "lost", serde_json::json!({})));
    }

    #[test]
    fn labels() {
        assert_eq!(reason_label("x ESME_RINVDSTADR: bad"), "ESME_RINVDSTADR");
        assert_eq!(reason_label("no route: to 123"), "no route");
        assert_eq!(reason_label(""), "unknown");
        assert!(reason_label(&"a".repeat(500)).len() <= MAX_REASON_LEN);
    }
}
