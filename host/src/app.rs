//! Starting a host, in one place for `ruvuma run`, the benches and the tests: read the config,
//! load the plugins, compile, open the state store and the bus, build the topology, start it,
//! and shut it down.

use crate::bus::Bus;
use crate::compile::{compile, Plan};
use crate::config::{self, Problem};
use crate::error::HostError;
use crate::plugins::{plugin_dirs, Catalogue};
use crate::state::StateStore;
use crate::store::{Store, StoreError};
use crate::topology::{Stopped, Topology};
use ruvuma_plugin_api::abi::LogLevel;
use std::path::{Path, PathBuf};

/// A config checked against the plugins: ready to start.
pub struct Prepared {
    pub plan: Plan,
    pub catalogue: Catalogue,
}

/// Reads, resolves and checks a config: the plan and the catalogue, or every problem.
/// Plugin configs and the wiring are checked even when the file has problems of its own, so
/// that every problem is reported at once.
pub fn prepare(path: &Path, extra_plugin_dirs: &[PathBuf]) -> Result<Prepared, Vec<Problem>> {
    let text = config::read(path).map_err(|p| vec![p])?;
    let (cfg, mut problems) = config::parse_all(path, &text);
    let Some(cfg) = cfg else { return Err(problems) };
    let catalogue = Catalogue::load(plugin_dirs(&cfg.plugin_dirs, extra_plugin_dirs));
    for e in &catalogue.errors {
        tracing::warn!("skipping plugin file {e}");
    }
    match compile(cfg, &catalogue) {
        Ok(plan) if problems.is_empty() => Ok(Prepared { plan, catalogue }),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}

/// A host that is up.
pub struct Host {
    topology: Topology,
    state: std::sync::Arc<StateStore>,
    store: Option<std::sync::Arc<Store>>,
    prepared: Prepared,
}

/// Opens the store a config names, if any (off the runtime: opening may touch the disk).
async fn open_store(plan: &Plan) -> Result<Option<std::sync::Arc<Store>>, HostError> {
    let Some(spec) = plan.config.store.clone() else {
        return Ok(None);
    };
    let journal = matches!(plan.config.bus, crate::config::BusSpec::Memory { .. });
    let opened = tokio::task::spawn_blocking(move || Store::open(&spec, journal)).await;
    let store = opened.map_err(|e| {
        HostError::Store(StoreError::Open {
            name: "store".into(),
            reason: crate::store::DbError(e.to_string()),
        })
    })??;
    tracing::info!("store {}: open", store.name());
    Ok(Some(store))
}

impl Host {
    /// Opens the state store and the bus, builds the topology and starts it.
    pub async fn start(prepared: Prepared, max_level: LogLevel) -> Result<Self, HostError> {
        let plan = &prepared.plan;
        let state = StateStore::open(&plan.config.state).await?;
        let store = open_store(plan).await?;
        let transports: Vec<String> = plan.config.transports.iter().map(|t| t.name.clone()).collect();
        let bus = Bus::open(&plan.config.bus, store.clone(), &transports).await?;
        let topology = Topology::build(plan, &prepared.catalogue, bus, state.clone(), store.clone(), max_level)?;
        if let Err(e) = topology.start().await {
            topology.shutdown(plan.config.shutdown_timeout).await;
            if let Some(s) = &store {
                s.close().await;
            }
            return Err(e.into());
        }
        Ok(Self {
            topology,
            state,
            store,
            prepared,
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.prepared.plan
    }

    pub fn bus(&self) -> &std::sync::Arc<Bus> {
        self.topology.bus()
    }

    pub fn state(&self) -> &std::sync::Arc<StateStore> {
        &self.state
    }

    pub fn store(&self) -> Option<&std::sync::Arc<Store>> {
        self.store.as_ref()
    }

    /// The name in logs: `system_alias`, else `ruvuma`.
    pub fn alias(&self) -> &str {
        match self.plan().config.system_alias.as_str() {
            "" => "ruvuma",
            alias => alias,
        }
    }

    /// Stops taking input, finishes what is in flight (up to `shutdown_timeout`), stops.
    pub async fn stop(self) -> Stopped {
        let timeout = self.prepared.plan.config.shutdown_timeout;
        let stopped = self.topology.shutdown(timeout).await;
        if let Some(store) = &self.store {
            store.close().await;
        }
        stopped
    }
}

/// `ruvuma run`: starts the config and runs until SIGINT or SIGTERM.
pub async fn run(path: &Path, extra_plugin_dirs: &[PathBuf], max_level: LogLevel) -> Result<(), HostError> {
    let prepared = prepare(path, extra_plugin_dirs).map_err(HostError::Config)?;
    let host = Host::start(prepared, max_level).await?;
    let plan = host.plan();
    tracing::info!(
        "{} running {} from {}",
        host.alias(),
        plan.counts(),
        plan.config.path.display()
    );
    let signal = wait_for_signal().await;
    tracing::info!("{signal}: shutting down (no new input; finishing messages in flight)");
    let alias = host.alias().to_owned();
    let journaled = host.store().is_some() && !host.bus().is_shared();
    let stopped = host.stop().await;
    tracing::info!("{alias} stopped");
    match stopped.abandoned {
        0 => Ok(()),
        n if journaled => {
            tracing::warn!("{n} accepted messages were not finished by shutdown_timeout; the journal keeps them and the next start handles them");
            Ok(())
        }
        n => Err(HostError::Abandoned(n)),
    }
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        let _ = tokio::signal::ctrl_c().await;
        return "interrupt";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
