//! The host's errors, by stage. Each names what is wrong and, where it can, what to do.

use crate::bus::BusError;
use crate::config::Problem;
use crate::state::StateError;
use crate::store::StoreError;
use crate::topology::TopologyError;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The config (or a plugin's check of it) found problems; each is printed on its own.
    #[error("{} problem{} found", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Config(Vec<Problem>),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Observer(#[from] crate::events::ObserverError),
    #[error("admin: {0}")]
    Admin(String),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0} accepted messages were still in flight at shutdown_timeout and are lost")]
    Abandoned(i64),
    #[error("cannot listen for signals: {0}")]
    Signal(String),
    #[error("full restart failed: {0}")]
    Restart(String),
}
