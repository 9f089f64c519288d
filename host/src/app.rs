//! Starting a host, in one place for `ruvuma run`, the benches and the tests: read the config,
//! load the plugins, compile, open the state store and the bus, build the topology, start it,
//! and shut it down.

use crate::bus::Bus;
use crate::compile::{compile, Plan};
use crate::config::{self, Problem};
use crate::error::HostError;
use crate::events::{Events, Metrics};
use crate::plugins::{plugin_dirs, Catalogue};
use crate::state::StateStore;
use crate::store::{Store, StoreError};
use crate::topology::{Stopped, Topology};
use ruvuma_plugin_api::abi::LogLevel;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    for (name, e) in Events::check(&cfg.observers) {
        problems.push(cfg.problem(&["observers", &name], e.to_string()));
    }
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
    /// Where the admin server listens, when the config has one.
    admin: Option<std::net::SocketAddr>,
    /// Stops the admin server and the metrics sampler.
    stop: tokio::sync::watch::Sender<bool>,
}

/// Takes the host's per-second samples (rates for the admin pages) until `stop`.
fn sample_every_second(metrics: Arc<Metrics>, mut stop: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => metrics.sample(),
                _ = stop.wait_for(|s| *s) => break,
            }
        }
    });
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
        Self::start_with(prepared, max_level, &[]).await
    }

    /// [`Host::start`], with the plugin folders given on the command line (the admin server's
    /// config check looks there too).
    pub async fn start_with(
        prepared: Prepared,
        max_level: LogLevel,
        extra_plugin_dirs: &[PathBuf],
    ) -> Result<Self, HostError> {
        let plan = &prepared.plan;
        let state = StateStore::open(&plan.config.state).await?;
        let store = open_store(plan).await?;
        let transports: Vec<String> = plan.config.transports.iter().map(|t| t.name.clone()).collect();
        let alias = alias_of(&plan.config.system_alias);
        let events = Events::new(alias, Arc::new(Metrics::default())).with_observers(&plan.config.observers)?;
        let events = Arc::new(events);
        let bus = Bus::open(&plan.config.bus, store.clone(), &transports, events.clone()).await?;
        let topology = Topology::build(plan, &prepared.catalogue, bus, state.clone(), store.clone(), max_level)?;
        if let Err(e) = topology.start().await {
            topology.shutdown(plan.config.shutdown_timeout).await;
            if let Some(s) = &store {
                s.close().await;
            }
            return Err(e.into());
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        sample_every_second(events.metrics.clone(), stopped.clone());
        let mut host = Self {
            topology,
            state,
            store,
            prepared,
            admin: None,
            stop,
        };
        if let Some(spec) = host.plan().config.admin.clone() {
            let admin = Arc::new(host.admin_view(extra_plugin_dirs));
            match crate::admin::start(&spec, admin, stopped).await {
                Ok(addr) => host.admin = Some(addr),
                Err(e) => {
                    host.stop().await;
                    return Err(HostError::Admin(e));
                }
            }
        }
        Ok(host)
    }

    /// What the admin server reads of this host.
    fn admin_view(&self, extra_plugin_dirs: &[PathBuf]) -> crate::admin::Admin {
        let cfg = &self.plan().config;
        crate::admin::Admin {
            alias: self.alias().to_owned(),
            config_path: cfg.path.clone(),
            extra_plugin_dirs: extra_plugin_dirs.to_vec(),
            bus: self.bus().clone(),
            state: self.state.clone(),
            store: self.store.clone(),
            events: self.events().clone(),
            components: crate::admin::components_of(self.plan()),
            libraries: crate::admin::libraries_of(&self.prepared.catalogue),
            required: cfg
                .transports
                .iter()
                .filter(|t| t.required)
                .map(|t| t.name.clone())
                .collect(),
            auth: cfg.admin.as_ref().and_then(|a| a.auth.clone()),
            validate: |path, dirs| prepare(path, dirs).err().unwrap_or_default(),
        }
    }

    /// Where the admin server listens, when the config has one.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.admin
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
        alias_of(&self.plan().config.system_alias)
    }

    pub fn events(&self) -> &Arc<Events> {
        self.topology.bus().events()
    }

    /// Stops taking input, finishes what is in flight (up to `shutdown_timeout`), stops.
    pub async fn stop(self) -> Stopped {
        self.stop.send_replace(true);
        let timeout = self.prepared.plan.config.shutdown_timeout;
        let stopped = self.topology.shutdown(timeout).await;
        if let Some(store) = &self.store {
            store.close().await;
        }
        stopped
    }
}

/// `system_alias`, else `ruvuma`.
pub fn alias_of(system_alias: &str) -> &str {
    match system_alias {
        "" => "ruvuma",
        alias => alias,
    }
}

/// `ruvuma run`: starts the config and runs until SIGINT or SIGTERM.
pub async fn run(path: &Path, extra_plugin_dirs: &[PathBuf], max_level: LogLevel) -> Result<(), HostError> {
    let prepared = prepare(path, extra_plugin_dirs).map_err(HostError::Config)?;
    let host = Host::start_with(prepared, max_level, extra_plugin_dirs).await?;
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
