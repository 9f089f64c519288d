//! A topology that is up: every component created through its library, its consumers wired to
//! the bus, started in order (applications, dispatchers, transports) and shut down in reverse.
//!
//! `build.rs` creates components and their consume loops, `consume.rs` holds the loops of
//! applications and transports, `dispatch.rs` a dispatcher's routing, `middleware.rs` the
//! middleware stacks, and `services.rs` the host's side of the services each plugin gets.

mod build;
mod consume;
mod dispatch;
mod middleware;
mod retry;
mod services;

pub use middleware::{orders, Passed, Stack};
pub use services::Services;

use crate::bus::Bus;
use crate::events::metrics::kind_name;
use crate::events::HostEvent;
use ruvuma_plugin_api::abi::ComponentBox;
use ruvuma_plugin_api::Kind;
use std::sync::Arc;
use std::time::{Duration, Instant};
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

/// One configured component (or middleware) and its instances.
struct Node {
    kind: Kind,
    name: String,
    instances: Vec<Component>,
}

/// How a shutdown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Deliveries still in flight when `shutdown_timeout` ran out.
    pub abandoned: i64,
}

/// A built topology; it takes input once started.
pub struct Topology {
    bus: Arc<Bus>,
    /// In start order: middleware before their component, then applications, dispatchers,
    /// transports.
    nodes: Vec<Node>,
    consumers: Vec<JoinHandle<()>>,
    /// The transports' retry schedules.
    retriers: Vec<Arc<retry::Retrier>>,
}

impl Topology {
    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// Starts every component in order; on a shared bus, consumers take nothing until then.
    pub async fn start(&self) -> Result<(), TopologyError> {
        let events = self.bus.events();
        for node in &self.nodes {
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
        self.bus.open_consumers();
        Ok(())
    }

    /// Stops taking input, waits (up to `timeout`) for everything in flight to be handled, then
    /// stops every component in reverse start order.
    pub async fn shutdown(mut self, timeout: Duration) -> Stopped {
        for node in self.nodes.iter().rev().filter(|n| n.kind == Kind::Transport) {
            for c in &node.instances {
                c.drain().await;
            }
            info!("transport {:?} takes no more input", node.name);
        }
        let abandoned = self.wait_for_in_flight(timeout).await;
        for r in &self.retriers {
            r.stop();
        }
        self.bus.close();
        for task in std::mem::take(&mut self.consumers) {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
        let (observers, others): (Vec<&Node>, Vec<&Node>) =
            self.nodes.iter().rev().partition(|n| n.kind == Kind::Observer);
        for node in others {
            self.stop_node(node).await;
        }
        // The last events (components stopped) reach the observers before they stop.
        self.bus.events().flush(Duration::from_secs(2)).await;
        for node in observers {
            self.stop_node(node).await;
        }
        Stopped { abandoned }
    }

    async fn stop_node(&self, node: &Node) {
        for c in &node.instances {
            c.stop().await;
        }
        self.bus.events().emit(HostEvent::ComponentStopped {
            kind: kind_name(node.kind),
            name: node.name.clone(),
        });
        info!("{} {:?} stopped", node.kind, node.name);
    }

    /// What is still in flight when `timeout` has passed (0 when everything finished).
    async fn wait_for_in_flight(&self, timeout: Duration) -> i64 {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let left = self.bus.in_flight();
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
