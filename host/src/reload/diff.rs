//! What a new config changes against the running one: components added, removed, changed
//! (with what changed) and unchanged, the built-in observers to replace, and the global keys
//! that cannot change while the host runs.

use crate::compile::{Plan, Resolved};
use crate::config::{ConfigFile, ObserverSpec};
use crate::plugins::Catalogue;
use crate::topology::{Key, Side};
use ruvuma_plugin_api::Kind;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A component that changed, and what of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub key: Key,
    pub what: Vec<&'static str>,
}

/// The difference between two configs.
#[derive(Debug, Default)]
pub struct Diff {
    pub added: Vec<Key>,
    pub removed: Vec<Key>,
    pub changed: Vec<Changed>,
    pub unchanged: usize,
    /// Built-in observers (webhooks) to detach and to start.
    pub webhooks_gone: Vec<String>,
    pub webhooks_new: Vec<ObserverSpec>,
    /// Keys that differ and cannot change live.
    pub refused: Vec<&'static str>,
}

impl Diff {
    /// Components to stop: removed and changed.
    pub fn to_stop(&self) -> BTreeSet<Key> {
        self.removed
            .iter()
            .cloned()
            .chain(self.changed.iter().map(|c| c.key.clone()))
            .collect()
    }

    /// Components to start: added and changed.
    pub fn to_start(&self) -> BTreeSet<Key> {
        self.added
            .iter()
            .cloned()
            .chain(self.changed.iter().map(|c| c.key.clone()))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.webhooks_gone.is_empty()
            && self.webhooks_new.is_empty()
    }
}

/// The global keys that differ: the backends the whole host was opened with.
fn refused(old: &ConfigFile, new: &ConfigFile) -> Vec<&'static str> {
    let mut out = Vec::new();
    if old.bus != new.bus {
        out.push("bus");
    }
    if old.state != new.state {
        out.push("state");
    }
    if old.store != new.store {
        out.push("store");
    }
    if old.admin.as_ref().map(|a| a.bind) != new.admin.as_ref().map(|a| a.bind) {
        out.push("admin.bind");
    }
    if old.system_alias != new.system_alias {
        out.push("system_alias");
    }
    out
}

/// One resolved component's parts that a reload compares.
struct Entry<'a> {
    key: Key,
    /// The library of the component, then of each middleware.
    libraries: Vec<&'a Arc<crate::plugins::Library>>,
    component: &'a str,
    /// Compares the spec with the other side's; what differs.
    spec: SpecRef<'a>,
}

enum SpecRef<'a> {
    Component(&'a crate::config::ComponentSpec),
    Dispatcher(&'a crate::config::DispatcherSpec),
    Observer(&'a ObserverSpec),
}

fn entry<'a, S>(cat: &'a Catalogue, kind: Kind, name: &str, r: &'a Resolved<S>, spec: SpecRef<'a>) -> Entry<'a> {
    let mut libraries = vec![&cat.libraries[r.library]];
    libraries.extend(r.middleware.iter().map(|m| &cat.libraries[m.library]));
    Entry {
        key: (kind, name.to_owned()),
        libraries,
        component: &r.component,
        spec,
    }
}

fn entries<'a>(plan: &'a Plan, cat: &'a Catalogue) -> Vec<Entry<'a>> {
    let components = |kind: Kind, list: &'a [Resolved<crate::config::ComponentSpec>]| {
        list.iter()
            .map(move |c| entry(cat, kind, &c.spec.name, c, SpecRef::Component(&c.spec)))
    };
    let observers = plan
        .observers
        .iter()
        .map(|o| entry(cat, Kind::Observer, &o.spec.name, o, SpecRef::Observer(&o.spec)));
    let dispatchers = plan
        .dispatchers
        .iter()
        .map(|d| entry(cat, Kind::Router, &d.spec.name, d, SpecRef::Dispatcher(&d.spec)));
    observers
        .chain(components(Kind::Application, &plan.applications))
        .chain(dispatchers)
        .chain(components(Kind::Transport, &plan.transports))
        .collect()
}

/// What differs between two specs of one component.
fn spec_changes(old: &SpecRef<'_>, new: &SpecRef<'_>) -> Vec<&'static str> {
    let mut what = Vec::new();
    let mut note = |differs: bool, name: &'static str| {
        if differs {
            what.push(name);
        }
    };
    match (old, new) {
        (SpecRef::Component(a), SpecRef::Component(b)) => {
            note(a.plugin != b.plugin, "plugin");
            note(a.config != b.config, "config");
            note(a.endpoint != b.endpoint, "endpoint");
            note(a.middleware != b.middleware, "middleware");
            note(a.instances != b.instances, "instances");
            note(a.concurrency != b.concurrency, "concurrency");
            note(a.state_namespace != b.state_namespace, "state_namespace");
            note(a.retry != b.retry, "retry");
        }
        (SpecRef::Dispatcher(a), SpecRef::Dispatcher(b)) => {
            note(a.router_class != b.router_class, "plugin");
            note(a.router_config != b.router_config, "config");
            note(
                a.transport_names != b.transport_names || a.exposed_names != b.exposed_names,
                "endpoints",
            );
            note(a.middleware != b.middleware, "middleware");
            note(a.instances != b.instances, "instances");
            note(a.concurrency != b.concurrency, "concurrency");
        }
        (SpecRef::Observer(a), SpecRef::Observer(b)) => {
            note(a.plugin != b.plugin, "plugin");
            note(a.config != b.config || a.events != b.events, "config");
        }
        _ => what.push("plugin"),
    }
    what
}

/// Compares the running config with a new one.
pub fn diff(old: Side<'_>, new: Side<'_>) -> Diff {
    let mut out = Diff {
        refused: refused(&old.0.config, &new.0.config),
        ..Diff::default()
    };
    let before = entries(old.0, old.1);
    let after = entries(new.0, new.1);
    for n in &after {
        let Some(o) = before.iter().find(|o| o.key == n.key) else {
            out.added.push(n.key.clone());
            continue;
        };
        let mut what = spec_changes(&o.spec, &n.spec);
        let same_libraries =
            o.libraries.len() == n.libraries.len() && o.libraries.iter().zip(&n.libraries).all(|(a, b)| a.same_code(b));
        if !same_libraries || o.component != n.component {
            what.push("library");
        }
        match what.is_empty() {
            true => out.unchanged += 1,
            false => out.changed.push(Changed {
                key: n.key.clone(),
                what,
            }),
        }
    }
    for o in &before {
        if !after.iter().any(|n| n.key == o.key) {
            out.removed.push(o.key.clone());
        }
    }
    webhooks(&old.0.config.observers, &new.0.config.observers, &mut out);
    out
}

fn webhooks(old: &[ObserverSpec], new: &[ObserverSpec], out: &mut Diff) {
    let hooks = |list: &[ObserverSpec]| -> Vec<ObserverSpec> {
        list.iter().filter(|o| o.plugin == "webhook").cloned().collect()
    };
    let (old, new) = (hooks(old), hooks(new));
    for o in &old {
        if !new.contains(o) {
            out.webhooks_gone.push(o.name.clone());
        }
    }
    for n in &new {
        if !old.contains(n) {
            out.webhooks_new.push(n.clone());
        }
    }
    out.unchanged += new.iter().filter(|n| old.contains(n)).count();
}
