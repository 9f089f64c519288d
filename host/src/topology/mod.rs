//! A topology that is up: every component created through its library, its consumers wired to
//! the bus, started in order (applications, dispatchers, transports) and shut down in reverse.
//!
//! `build.rs` creates components and their consume loops, `consume.rs` holds the loops of
//! applications and transports, `dispatch.rs` a dispatcher's routing, `middleware.rs` the
//! middleware stacks, `services.rs` the host's side of the services each plugin gets, and
//! `swap.rs` replaces some components of a running topology (a reload).

mod build;
mod consume;
mod dispatch;
mod middleware;
mod retry;
mod services;
mod swap;

pub use build::Parts;
pub use middleware::{orders, Passed, Stack};
pub use services::Services;
pub use swap::{Key, Side, SwapError, Swapped};

use crate::bus::Bus;
use crate::events::metrics::kind_name;
use crate::events::HostEvent;
use ruvuma_plugin_api::abi::ComponentBox;
use ruvuma_plugin_api::Kind;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// Why a topology could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error(
        "{path} names endpoints it does not define ({names}); the memory bus cannot reach other \
         processes: define them in this file, or run on a shared bus (bus: amqp)"
    )]
    ExternalOnMemory { path: String, names: String },
    #[error("{kind} {name:?}: cannot create it: {reason}")]
    Create { kind: Kind, name: String, reason: String },
    #[error("{kind} {name:?}: failed to start: {reason}")]
    Start { kind: Kind, name: String, reason: String },
}

type Component = Arc<ComponentBox>;

/// One component (or middleware) and its instances.
struct Node {
    kind: Kind,
    name: String,
    instances: Vec<Component>,
}

/// One configured component as it runs: its middleware and itself, its consume loops, and
/// what stops them. A reload replaces whole units.
pub struct Unit {
    kind: Kind,
    name: String,
    /// Middleware first, then the component.
    nodes: Vec<Node>,
    tasks: Vec<JoinHandle<()>>,
    /// Turned true, its consumers take nothing more.
    stop: watch::Sender<bool>,
    /// A transport's retry schedule.
    retrier: Option<Arc<retry::Retrier>>,
}

impl Unit {
    fn key(&self) -> Key {
        (self.kind, self.name.clone())
    }
}

/// Where a kind of component starts: observers, applications, dispatchers, transports (and
/// stops in reverse).
fn rank(kind: Kind) -> u8 {
    match kind {
        Kind::Observer => 0,
        Kind::Application => 1,
        Kind::Router => 2,
        _ => 3,
    }
}

/// How a shutdown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Deliveries still in flight when `shutdown_timeout` ran out.
    pub abandoned: i64,
}

/// A built topology; it takes input once started.
pub struct Topology {
    parts: Parts,
    /// In start order (see [`rank`]).
    units: Vec<Unit>,
}

impl Topology {
    pub fn bus(&self) -> &Arc<Bus> {
        &self.parts.bus
    }

    /// The configured components running, in start order.
    pub fn keys(&self) -> Vec<Key> {
        self.units.iter().map(Unit::key).collect()
    }

    /// Starts every component in order; on a shared bus, consumers take nothing until then.
    pub async fn start(&self) -> Result<(), TopologyError> {
        for unit in &self.units {
            self.start_unit(unit).await?;
        }
        self.parts.bus.open_consumers();
        Ok(())
    }

    async fn start_unit(&self, unit: &Unit) -> Result<(), TopologyError> {
        if let Err(e) = self.parts.bus.declare_reply_queues().await {
            // Each consumer declares its queue again when it subscribes.
            warn!("{e}; a reply to one of the first messages may reach a process that does not hold it");
        }
        let events = self.parts.bus.events();
        for node in &unit.nodes {
            let kind = kind_name(node.kind);
            for c in &node.instances {
                if let Err(e) = c.start().await.into_result() {
                    let reason = e.to_string();
                    events.emit(HostEvent::ComponentFailed {
                        kind,
                        name: node.name.clone(),
                        reason: reason.clone(),
                    });
                    return Err(TopologyError::Start {
                        kind: node.kind,
                        name: node.name.clone(),
                        reason,
                    });
                }
            }
            events.emit(HostEvent::ComponentStarted {
                kind,
                name: node.name.clone(),
            });
            debug!("{} {:?} started", node.kind, node.name);
        }
        Ok(())
    }

    /// Stops taking input, waits (up to `timeout`) for everything in flight to be handled, then
    /// stops every component in reverse start order.
    pub async fn shutdown(mut self, timeout: Duration) -> Stopped {
        for unit in self.units.iter().rev().filter(|u| u.kind == Kind::Transport) {
            drain(unit).await;
        }
        let abandoned = self.wait_for_in_flight(timeout).await;
        for r in self.units.iter().filter_map(|u| u.retrier.as_ref()) {
            r.stop();
        }
        self.parts.bus.close();
        let mut units = std::mem::take(&mut self.units);
        for task in units.iter_mut().flat_map(|u| std::mem::take(&mut u.tasks)) {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
        let (observers, others): (Vec<&Unit>, Vec<&Unit>) = units.iter().rev().partition(|u| u.kind == Kind::Observer);
        for unit in others {
            self.stop_nodes(unit).await;
        }
        // The last events (components stopped) reach the observers before they stop.
        self.parts.bus.events().flush(Duration::from_secs(2)).await;
        for unit in observers {
            self.stop_nodes(unit).await;
        }
        Stopped { abandoned }
    }

    /// Stops a unit's component, then its middleware.
    async fn stop_nodes(&self, unit: &Unit) {
        for node in unit.nodes.iter().rev() {
            for c in &node.instances {
                c.stop().await;
            }
            self.parts.bus.events().emit(HostEvent::ComponentStopped {
                kind: kind_name(node.kind),
                name: node.name.clone(),
            });
            info!("{} {:?} stopped", node.kind, node.name);
        }
    }

    /// What is still in flight when `timeout` has passed (0 when everything finished).
    async fn wait_for_in_flight(&self, timeout: Duration) -> i64 {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let left = self.parts.bus.in_flight();
            if left <= 0 {
                return 0;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                warn!("shutdown timeout: {left} messages still in flight are abandoned");
                return left;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A transport takes no more input from its peers.
async fn drain(unit: &Unit) {
    if unit.kind != Kind::Transport {
        return;
    }
    for node in unit.nodes.iter().filter(|n| n.kind == Kind::Transport) {
        for c in &node.instances {
            c.drain().await;
        }
    }
    info!("transport {:?} takes no more input", unit.name);
}
