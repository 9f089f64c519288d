//! Replacing some components of a running topology (a reload): the new ones are built first,
//! then the old ones drain (a transport takes no more input, every consume loop finishes what
//! it holds and takes nothing more, so what is queued stays for the successor) and stop, then
//! the new ones start. What is not named keeps running untouched. A new part that fails to
//! start sends the topology back to the old parts.

use super::build::{build_units, Unbuilt};
use super::retry::Retrier;
use super::{drain, rank, Topology, TopologyError, Unit};
use crate::compile::Plan;
use crate::plugins::Catalogue;
use ruvuma_plugin_api::Kind;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// A configured component: its kind and name.
pub type Key = (Kind, String);

/// A config and the catalogue it was compiled against.
pub type Side<'a> = (&'a Plan, &'a Catalogue);

/// Why a swap did not go through.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    #[error("{0}; nothing was changed")]
    Build(TopologyError),
    #[error("{0}; the previous config runs again")]
    RolledBack(TopologyError),
    #[error("{error}; going back to the previous config failed too ({rollback}); running now: {running}")]
    RollbackFailed {
        error: TopologyError,
        rollback: TopologyError,
        running: String,
    },
}

/// What a swap stopped and left unfinished.
#[derive(Debug, Default, Clone, Copy)]
pub struct Swapped {
    /// Deliveries a stopping component still held when `shutdown_timeout` ran out.
    pub abandoned: usize,
}

impl Topology {
    /// Stops the components `stop` names and starts those of `new` that `start` names; the
    /// rest runs on. `timeout` bounds each drain.
    pub async fn swap(
        &mut self,
        old: Side<'_>,
        new: Side<'_>,
        stop: &BTreeSet<Key>,
        start: &BTreeSet<Key>,
        timeout: Duration,
    ) -> Result<Swapped, SwapError> {
        let running = retriers(&self.units);
        let fresh = match build_units(&self.parts, new.0, new.1, Some(start), &running) {
            Ok(units) => units,
            Err(Unbuilt { error, built }) => {
                stop_new_retriers(&built, &running);
                self.discard(built);
                return Err(SwapError::Build(error));
            }
        };
        let (mut leaving, staying): (Vec<Unit>, Vec<Unit>) = std::mem::take(&mut self.units)
            .into_iter()
            .partition(|u| stop.contains(&u.key()));
        self.units = staying;
        let abandoned = self.retire(&mut leaving, timeout).await;
        // Decided now, done once the new parts run: the old schedules stay whole until then.
        let schedules: Vec<_> = leaving.iter().filter_map(|u| successor(u, &fresh)).collect();
        let made: Vec<Arc<Retrier>> = fresh.iter().filter_map(|u| u.retrier.clone()).collect();
        match self.start_units(fresh).await {
            Ok(()) => {
                for (old, next) in schedules {
                    match next {
                        Some(n) => old.hand_over(&n),
                        None => old.stop(),
                    }
                }
                Ok(Swapped { abandoned })
            }
            Err(error) => {
                let kept = retriers(&leaving);
                for r in made.iter().filter(|r| !kept.values().any(|o| Arc::ptr_eq(o, r))) {
                    r.stop();
                }
                self.roll_back(old, stop, error, &leaving).await
            }
        }
    }

    /// Starts the previous config's parts again after a failed start.
    async fn roll_back(
        &mut self,
        old: Side<'_>,
        stop: &BTreeSet<Key>,
        error: TopologyError,
        left: &[Unit],
    ) -> Result<Swapped, SwapError> {
        warn!("reload: {error}; starting the previous config's components again");
        let kept = retriers(left);
        let back = match build_units(&self.parts, old.0, old.1, Some(stop), &kept) {
            Ok(units) => units,
            Err(Unbuilt { error: rollback, built }) => {
                stop_new_retriers(&built, &kept);
                self.discard(built);
                let running = self.running();
                return Err(SwapError::RollbackFailed {
                    error,
                    rollback,
                    running,
                });
            }
        };
        match self.start_units(back).await {
            Ok(()) => Err(SwapError::RolledBack(error)),
            Err(rollback) => {
                let running = self.running();
                Err(SwapError::RollbackFailed {
                    error,
                    rollback,
                    running,
                })
            }
        }
    }

    /// Starts units and puts them in their places; on a failure, the ones started are stopped
    /// and the rest let go.
    async fn start_units(&mut self, units: Vec<Unit>) -> Result<(), TopologyError> {
        let mut started = Vec::new();
        let mut units = units.into_iter();
        for unit in units.by_ref() {
            match self.start_unit(&unit).await {
                Ok(()) => started.push(unit),
                Err(e) => {
                    self.discard(std::iter::once(unit).chain(units).collect());
                    self.retire(&mut started, Duration::from_secs(5)).await;
                    return Err(e);
                }
            }
        }
        self.units.extend(started);
        self.units.sort_by_key(|u| rank(u.kind));
        Ok(())
    }

    /// Drains and stops units: transports take no more input, every consume loop finishes
    /// what it holds (within `timeout`, else it is abandoned and counted), then each
    /// component stops after the ones that feed it.
    async fn retire(&self, units: &mut [Unit], timeout: Duration) -> usize {
        let events = self.parts.bus.events();
        for unit in units.iter().rev() {
            drain(unit).await;
            if unit.kind == Kind::Observer {
                events.detach(&unit.name);
            }
        }
        for unit in units.iter() {
            unit.stop.send_replace(true);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut abandoned = 0;
        for unit in units.iter_mut() {
            for mut task in std::mem::take(&mut unit.tasks) {
                if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                    task.abort();
                    abandoned += 1;
                }
            }
        }
        if abandoned > 0 {
            warn!("reload: {abandoned} deliveries were still being handled when shutdown_timeout ran out");
        }
        for unit in units.iter().rev() {
            self.stop_nodes(unit).await;
        }
        abandoned
    }

    /// Lets go of units that never started: their consume loops end, nothing is stopped (their
    /// retry schedules are the caller's to stop).
    fn discard(&self, units: Vec<Unit>) {
        for unit in units {
            unit.stop.send_replace(true);
            if unit.kind == Kind::Observer {
                self.parts.bus.events().detach(&unit.name);
            }
        }
    }

    /// `transport "sms", application "echo"`: what runs.
    pub fn running(&self) -> String {
        let names: Vec<String> = self
            .units
            .iter()
            .map(|u| format!("{} {:?}", crate::events::metrics::kind_name(u.kind), u.name))
            .collect();
        if names.is_empty() {
            "nothing".into()
        } else {
            names.join(", ")
        }
    }
}

/// The transports' retry schedules, by transport.
fn retriers(units: &[Unit]) -> HashMap<String, Arc<Retrier>> {
    units
        .iter()
        .filter_map(|u| Some((u.name.clone(), u.retrier.clone()?)))
        .collect()
}

/// A leaving transport's retry schedule and where it goes once the new parts run: to its
/// successor's (handed over), nowhere (stopped); none when the successor keeps it.
fn successor(old: &Unit, fresh: &[Unit]) -> Option<(Arc<Retrier>, Option<Arc<Retrier>>)> {
    let r = old.retrier.as_ref()?;
    let next = fresh
        .iter()
        .find(|u| u.kind == old.kind && u.name == old.name)
        .and_then(|u| u.retrier.clone());
    match next {
        Some(n) if Arc::ptr_eq(&n, r) => None,
        next => Some((r.clone(), next)),
    }
}

/// Stops the schedules units made that the running ones do not use.
fn stop_new_retriers(units: &[Unit], running: &HashMap<String, Arc<Retrier>>) {
    for r in units.iter().filter_map(|u| u.retrier.as_ref()) {
        if !running.values().any(|o| Arc::ptr_eq(o, r)) {
            r.stop();
        }
    }
}
