//! The config compiler: a config file's specs, checked against the plugin catalogue, become a
//! plan ready to build. It runs as named passes, each adding to one list of problems, so that
//! `validate` reports every problem at once:
//!
//! 1. `names`: names are lower-case and unique;
//! 2. `resolve`: every component is found in the catalogue and checks its own config;
//! 3. `wiring`: every endpoint a dispatcher names exists, and each queue has one consumer.

mod names;
mod prepare;
mod resolve;
mod wiring;

pub use prepare::{prepare, prepare_again, Prepared};

use crate::config::{ComponentSpec, ConfigFile, DispatcherSpec, MiddlewareSpec, ObserverSpec, Problem};
use crate::plugins::Catalogue;
use serde_json::Value as Json;
use std::collections::BTreeSet;

/// A component bound to the library that provides it.
#[derive(Debug, Clone)]
pub struct Resolved<S> {
    pub spec: S,
    pub library: usize,
    /// The component's catalogue name (aliases resolved).
    pub component: String,
    /// Its middleware, in list order.
    pub middleware: Vec<Resolved<MiddlewareSpec>>,
}

impl Resolved<DispatcherSpec> {
    /// The router's config: the dispatcher's own keys plus its endpoint lists, as Vumi passes them.
    pub fn router_config(&self) -> Json {
        self.spec.router_config_json()
    }
}

/// A config ready to run.
pub struct Plan {
    pub config: ConfigFile,
    pub transports: Vec<Resolved<ComponentSpec>>,
    pub applications: Vec<Resolved<ComponentSpec>>,
    pub dispatchers: Vec<Resolved<DispatcherSpec>>,
    /// Observers from plugin libraries.
    pub observers: Vec<Resolved<ObserverSpec>>,
    /// Endpoints the config names but does not define: other processes serve them on a shared bus.
    pub external_transports: BTreeSet<String>,
    pub external_applications: BTreeSet<String>,
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

impl Plan {
    /// `1 transport, 1 application, 1 dispatcher`
    pub fn counts(&self) -> String {
        format!(
            "{}, {}, {}",
            plural(self.transports.len(), "transport", "transports"),
            plural(self.applications.len(), "application", "applications"),
            plural(self.dispatchers.len(), "dispatcher", "dispatchers"),
        )
    }

    /// Every endpoint named and not defined here.
    pub fn external_endpoints(&self) -> Vec<String> {
        self.external_transports
            .iter()
            .chain(self.external_applications.iter())
            .cloned()
            .collect()
    }

    /// The line `ruvuma validate` prints.
    pub fn summary(&self) -> String {
        let mut s = format!("{} is valid: {}", self.config.path.display(), self.counts());
        let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
        let mut external = Vec::new();
        if !self.external_transports.is_empty() {
            external.push(format!(" transports {}", list(&self.external_transports)));
        }
        if !self.external_applications.is_empty() {
            external.push(format!(" applications {}", list(&self.external_applications)));
        }
        if !external.is_empty() {
            s.push_str("; endpoints expected on the bus from other processes:");
            s.push_str(&external.join(";"));
        }
        if !self.config.unused_keys.is_empty() {
            s.push_str("; Vumi keys taken and not used: ");
            s.push_str(&self.config.unused_keys.join(", "));
        }
        s
    }
}

/// Collects problems, each pointed at its line in the file.
pub(crate) struct Problems<'a> {
    cfg: &'a ConfigFile,
    list: Vec<Problem>,
}

impl Problems<'_> {
    pub(crate) fn at(&mut self, path: &[&str], message: String) {
        self.list.push(self.cfg.problem(path, message));
    }
}

/// Checks a config against the catalogue; the plan, or every problem found.
pub fn compile(cfg: ConfigFile, cat: &Catalogue) -> Result<Plan, Vec<Problem>> {
    let mut problems = Problems {
        cfg: &cfg,
        list: Vec::new(),
    };
    names::check(&cfg, &mut problems);
    let resolved = resolve::resolve(&cfg, cat, &mut problems);
    let external = wiring::check(&cfg, &mut problems);
    let problems = problems.list;
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Plan {
        config: cfg,
        transports: resolved.transports,
        applications: resolved.applications,
        dispatchers: resolved.dispatchers,
        observers: resolved.observers,
        external_transports: external.transports,
        external_applications: external.applications,
    })
}
