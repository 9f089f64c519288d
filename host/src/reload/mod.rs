//! Hot reload: a new config replaces the running one without stopping what did not change.
//! It is checked first (every problem, as `validate` reports them; a config with a problem is
//! not applied), compared with the running one (`diff.rs`), and only the components added,
//! changed or removed are started or stopped; a failed start goes back to the old config.
//! Global keys (bus, state, store, the admin server's address, the system alias) cannot change
//! while the host runs: such a config is refused by name, unless the operator asks for a full
//! restart.

pub mod diff;

use crate::compile::Prepared;
use crate::config::Problem;
use crate::events::HostEvent;
use crate::topology::{Key, SwapError, Topology};
use diff::Diff;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Sighup,
    Watch,
    Admin,
}

/// Why a reload was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the new config has {} problem(s); the running config goes on: {}", .0.len(), problems(.0))]
    Invalid(Vec<Problem>),
    #[error(
        "{} cannot change while the host runs; the running config goes on (restart ruvuma, or apply \
         with a full restart from the admin server)",
        .0.join(", ")
    )]
    Refused(Vec<&'static str>),
    #[error("reload failed: {0}")]
    Swap(#[from] SwapError),
}

fn problems(list: &[Problem]) -> String {
    list.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")
}

/// How a reload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// In effect.
    Applied,
    /// Nothing to change.
    Unchanged,
    /// The config has problems.
    Invalid,
    /// It changes global keys.
    Refused,
    /// A new part failed; the old config runs again.
    RolledBack,
    /// A new part failed and so did going back.
    Failed,
    /// It changes global keys and a full restart was asked for.
    Restarting,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Unchanged => "unchanged",
            Self::Invalid => "invalid",
            Self::Refused => "refused",
            Self::RolledBack => "rolled_back",
            Self::Failed => "failed",
            Self::Restarting => "restarting",
        }
    }
}

/// An outcome is its name: `outcome == "applied"`.
impl PartialEq<&str> for Outcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a reload did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Seconds since the epoch.
    pub at: f64,
    pub trigger: Trigger,
    pub outcome: Outcome,
    pub error: Option<String>,
    /// Every problem of an invalid config.
    pub problems: Vec<String>,
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
    pub duration_ms: f64,
}

impl Report {
    fn new(trigger: Trigger, outcome: Outcome) -> Self {
        Self {
            at: crate::events::metrics::unix_now(),
            trigger,
            outcome,
            error: None,
            problems: Vec::new(),
            added: Vec::new(),
            changed: Vec::new(),
            removed: Vec::new(),
            unchanged: 0,
            duration_ms: 0.0,
        }
    }

    /// Asked for while the host stops: nothing is done.
    pub fn stopping(trigger: Trigger) -> Self {
        let mut r = Self::new(trigger, Outcome::Failed);
        r.error = Some("the host is stopping".into());
        r
    }
}

/// The reloads of this process, for `/metrics` and the overview.
#[derive(Default)]
pub struct Reloads {
    applied: AtomicU64,
    failed: AtomicU64,
    last: Mutex<Option<Report>>,
}

impl Reloads {
    /// (applied, failed): a reload that changed nothing is applied.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.applied.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    pub fn last(&self) -> Option<Report> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, report: &Report) {
        let counter = if report.error.is_none() {
            &self.applied
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
    }
}

/// `application "echo"`.
fn named(key: &Key) -> String {
    format!("{} {:?}", crate::events::metrics::kind_name(key.0), key.1)
}

/// What runs: the topology and the config it was built from.
pub struct Running {
    pub topology: Topology,
    pub prepared: Prepared,
}

impl Running {
    /// Applies a new config (or the problems that keep it out), read since `began`; told to
    /// `reloads`, to the observers and to the log.
    pub async fn reload(
        &mut self,
        new: Result<Prepared, Vec<Problem>>,
        trigger: Trigger,
        full_restart: bool,
        reloads: &Reloads,
        began: Instant,
    ) -> Report {
        let mut report = Report::new(trigger, Outcome::Applied);
        let applied = match new {
            Err(problems) => {
                report.problems = problems.iter().map(|p| p.to_string()).collect();
                Err(ReloadError::Invalid(problems))
            }
            Ok(new) => match self.apply(new, &mut report).await {
                Err(ReloadError::Refused(keys)) if full_restart => {
                    tracing::warn!("reload: {} changed; restarting the whole process", keys.join(", "));
                    report.outcome = Outcome::Restarting;
                    Ok(())
                }
                other => other,
            },
        };
        if let Err(e) = applied {
            report.outcome = match &e {
                ReloadError::Invalid(_) => Outcome::Invalid,
                ReloadError::Refused(_) => Outcome::Refused,
                ReloadError::Swap(SwapError::RolledBack(_) | SwapError::Build(_)) => Outcome::RolledBack,
                ReloadError::Swap(SwapError::RollbackFailed { .. }) => Outcome::Failed,
            };
            report.error = Some(e.to_string());
        }
        report.duration_ms = began.elapsed().as_secs_f64() * 1000.0;
        self.tell(&report, reloads);
        report
    }

    async fn apply(&mut self, new: Prepared, report: &mut Report) -> Result<(), ReloadError> {
        let (old_plan, old_cat) = (&self.prepared.plan, &self.prepared.catalogue);
        let diff: Diff = diff::diff((old_plan, old_cat), (&new.plan, &new.catalogue));
        if !diff.refused.is_empty() {
            return Err(ReloadError::Refused(diff.refused));
        }
        report.added = diff.added.iter().map(named).collect();
        report.removed = diff.removed.iter().map(named).collect();
        report.changed = diff
            .changed
            .iter()
            .map(|c| format!("{} ({})", named(&c.key), c.what.join(", ")))
            .collect();
        report.unchanged = diff.unchanged;
        if diff.is_empty() {
            report.outcome = Outcome::Unchanged;
            self.prepared = new;
            return Ok(());
        }
        let bus = self.topology.bus().clone();
        let transports = |p: &Prepared| {
            p.plan
                .config
                .transports
                .iter()
                .map(|t| t.name.clone())
                .collect::<Vec<_>>()
        };
        bus.record_transports(&transports(&new));
        let timeout = old_plan.config.shutdown_timeout;
        let swapped = self
            .topology
            .swap(
                (old_plan, old_cat),
                (&new.plan, &new.catalogue),
                &diff.to_stop(),
                &diff.to_start(),
                timeout,
            )
            .await;
        if let Err(e) = swapped {
            bus.record_transports(&transports(&self.prepared));
            return Err(e.into());
        }
        let events = bus.events();
        for name in &diff.webhooks_gone {
            events.detach(name);
        }
        for spec in &diff.webhooks_new {
            if let Err(e) = events.start_webhook(spec) {
                tracing::error!("reload: {e}");
            }
        }
        self.prepared = new;
        Ok(())
    }

    /// Counts the reload, tells the observers, and logs what changed.
    fn tell(&self, report: &Report, reloads: &Reloads) {
        reloads.record(report);
        let events = self.topology.bus().events();
        events.emit(HostEvent::ConfigReloaded {
            trigger: report.trigger,
            outcome: report.outcome,
            error: report.error.clone(),
            added: report.added.clone(),
            changed: report.changed.clone(),
            removed: report.removed.clone(),
        });
        let list = |l: &[String]| if l.is_empty() { "none".to_owned() } else { l.join(", ") };
        let path = self.prepared.plan.config.path.display();
        match &report.error {
            None => tracing::info!(
                "reload of {path} ({:?}) {} in {:.1} ms: added {}; changed {}; removed {}; {} unchanged",
                report.trigger,
                report.outcome,
                report.duration_ms,
                list(&report.added),
                list(&report.changed),
                list(&report.removed),
                report.unchanged
            ),
            Some(e) => tracing::error!("reload of {path} ({:?}) {}: {e}", report.trigger, report.outcome),
        }
    }
}
