//! Starting a host, in one place for `ruvuma run`, the benches and the tests: read the config,
//! load the plugins, compile, open the state store and the bus, build the topology, start it,
//! and shut it down.

use crate::bus::Bus;
mod reloader;
mod run;

use crate::admin::Shown;
use crate::compile::Plan;
pub use crate::compile::{prepare, Prepared};
use crate::error::HostError;
use crate::events::{Events, Metrics};
use crate::reload::{Reloads, Report, Running, Trigger};
use crate::state::StateStore;
use crate::store::{Store, StoreError};
use crate::topology::{Parts, Stopped, Topology};
use reloader::Reloader;
pub use run::{run, RunOptions};
use ruvuma_plugin_api::abi::LogLevel;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A host that is up.
pub struct Host {
    reloader: Reloader,
    bus: Arc<Bus>,
    state: Arc<StateStore>,
    store: Option<Arc<Store>>,
    alias: String,
    config_path: PathBuf,
    /// Where the admin server listens, when the config has one.
    admin: Option<std::net::SocketAddr>,
    /// The admin server, which ends once its connections have answered.
    admin_task: Option<tokio::task::JoinHandle<()>>,
    /// Stops the admin server, the metrics sampler and the reload server.
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

    /// [`Host::start`], with the plugin folders given on the command line (reloads and the
    /// admin server's config check look there too).
    pub async fn start_with(
        prepared: Prepared,
        max_level: LogLevel,
        extra_plugin_dirs: &[PathBuf],
    ) -> Result<Self, HostError> {
        let plan = &prepared.plan;
        let state = StateStore::open(&plan.config.state).await?;
        let store = open_store(plan).await?;
        let transports: Vec<String> = plan.config.transports.iter().map(|t| t.name.clone()).collect();
        let alias = alias_of(&plan.config.system_alias).to_owned();
        let events = Events::new(&alias, Arc::new(Metrics::default())).with_observers(&plan.config.observers)?;
        let events = Arc::new(events);
        let bus = Bus::open(&plan.config.bus, store.clone(), &transports, events.clone()).await?;
        let parts = Parts {
            bus: bus.clone(),
            state: state.clone(),
            store: store.clone(),
            max_level,
        };
        let topology = Topology::build(plan, &prepared.catalogue, parts)?;
        if let Err(e) = topology.start().await {
            topology.shutdown(plan.config.shutdown_timeout).await;
            if let Some(s) = &store {
                s.close().await;
            }
            return Err(e.into());
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        sample_every_second(events.metrics.clone(), stopped.clone());
        let admin_spec = plan.config.admin.clone();
        let config_path = plan.config.path.clone();
        let shown = Arc::new(std::sync::RwLock::new(Arc::new(Shown::of(plan, &prepared.catalogue))));
        let reloader = Reloader::new(Running { topology, prepared }, extra_plugin_dirs, shown.clone());
        let mut host = Self {
            reloader,
            bus,
            state,
            store,
            alias,
            config_path,
            admin: None,
            admin_task: None,
            stop,
        };
        if let Some(spec) = admin_spec {
            let (asks, asked) = tokio::sync::mpsc::channel(4);
            host.reloader.serve(asked, stopped.clone());
            let admin = Arc::new(host.admin_view(extra_plugin_dirs, shown, asks));
            match crate::admin::start(&spec, admin, stopped).await {
                Ok((addr, task)) => {
                    host.admin = Some(addr);
                    host.admin_task = Some(task);
                }
                Err(e) => {
                    host.stop().await;
                    return Err(HostError::Admin(e));
                }
            }
        }
        Ok(host)
    }

    /// What the admin server reads of this host.
    fn admin_view(
        &self,
        extra_plugin_dirs: &[PathBuf],
        shown: Arc<std::sync::RwLock<Arc<Shown>>>,
        reload: tokio::sync::mpsc::Sender<crate::admin::ReloadAsk>,
    ) -> crate::admin::Admin {
        crate::admin::Admin {
            alias: self.alias.clone(),
            config_path: self.config_path.clone(),
            extra_plugin_dirs: extra_plugin_dirs.to_vec(),
            bus: self.bus.clone(),
            state: self.state.clone(),
            store: self.store.clone(),
            events: self.events().clone(),
            shown,
            validate: |path, dirs| prepare(path, dirs).err().unwrap_or_default(),
            reloads: self.reloader.reloads.clone(),
            reload,
        }
    }

    /// Where the admin server listens, when the config has one.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.admin
    }

    /// `1 transport, 1 application, 1 dispatcher`, as the config running now has.
    pub async fn counts(&self) -> String {
        let running = self.reloader.running.lock().await;
        running.as_ref().map(|r| r.prepared.plan.counts()).unwrap_or_default()
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    pub fn state(&self) -> &Arc<StateStore> {
        &self.state
    }

    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }

    /// The name in logs: `system_alias`, else `ruvuma`.
    pub fn alias(&self) -> &str {
        &self.alias
    }

    pub fn events(&self) -> &Arc<Events> {
        self.bus.events()
    }

    /// Reads the config file again and applies it (see [`crate::reload`]).
    pub async fn reload(&self, trigger: Trigger) -> Report {
        self.reloader.reload(trigger, false).await
    }

    /// Applies a config prepared by the caller (the in-process tests' components compiled
    /// into them), as a reload does.
    pub async fn apply(&self, new: Prepared, trigger: Trigger) -> Report {
        self.reloader.apply(Some(new), trigger, false).await
    }

    /// This process's reloads.
    pub fn reloads(&self) -> &Arc<Reloads> {
        &self.reloader.reloads
    }

    /// Turns true when a reload asked for a full restart (the config changes global keys).
    pub fn restart_asked(&self) -> tokio::sync::watch::Receiver<bool> {
        self.reloader.restart.subscribe()
    }

    /// Stops taking input, finishes what is in flight (up to `shutdown_timeout`), stops.
    pub async fn stop(self) -> Stopped {
        self.stop.send_replace(true);
        let stopped = match self.reloader.take().await {
            Some(running) => {
                let timeout = running.prepared.plan.config.shutdown_timeout;
                running.topology.shutdown(timeout).await
            }
            None => Stopped { abandoned: 0 },
        };
        if let Some(store) = &self.store {
            store.close().await;
        }
        // What the admin server was answering (a full restart's report) is sent before the
        // process exits or starts again.
        if let Some(task) = self.admin_task {
            let _ = task.await;
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
