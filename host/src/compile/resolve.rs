//! The resolve pass: every transport, application, dispatcher and middleware is found in the
//! plugin catalogue, and its plugin checks its config. A plugin names the key each problem is
//! about, so the problem points at that key's line.

use super::{Problems, Resolved};
use crate::config::{ComponentSpec, ConfigFile, DispatcherSpec, MiddlewareSpec, ObserverSpec};
use crate::plugins::Catalogue;
use abi_stable::std_types::RStr;
use ruvuma_plugin_api::Kind;
use serde_json::Value as Json;

/// What the pass hands on.
pub(super) struct ResolvedSpecs {
    pub transports: Vec<Resolved<ComponentSpec>>,
    pub applications: Vec<Resolved<ComponentSpec>>,
    pub dispatchers: Vec<Resolved<DispatcherSpec>>,
    /// Observers from plugins (the built-in webhook is the host's own).
    pub observers: Vec<Resolved<ObserverSpec>>,
}

/// A section entry that names a plugin component.
trait Spec: Clone {
    fn name(&self) -> &str;
    /// The key that names the component (`plugin`, `router_class`).
    fn plugin_key(&self) -> &'static str;
    fn plugin(&self) -> &str;
    /// The config the plugin checks and gets.
    fn plugin_config(&self) -> Json;
    fn middleware(&self) -> &[MiddlewareSpec];
    /// The spec, with the concurrency the plugin asks for when the config sets none.
    fn with_asked_concurrency(self, _asked: u32) -> Self {
        self
    }
}

impl Spec for ComponentSpec {
    fn name(&self) -> &str {
        &self.name
    }
    fn plugin_key(&self) -> &'static str {
        "plugin"
    }
    fn plugin(&self) -> &str {
        &self.plugin
    }
    fn plugin_config(&self) -> Json {
        self.config.clone()
    }
    fn middleware(&self) -> &[MiddlewareSpec] {
        &self.middleware
    }
    fn with_asked_concurrency(mut self, asked: u32) -> Self {
        if !self.concurrency_given && asked > 0 {
            self.concurrency = asked as usize;
        }
        self
    }
}

impl Spec for DispatcherSpec {
    fn name(&self) -> &str {
        &self.name
    }
    fn plugin_key(&self) -> &'static str {
        "router_class"
    }
    fn plugin(&self) -> &str {
        &self.router_class
    }
    fn plugin_config(&self) -> Json {
        self.router_config_json()
    }
    fn middleware(&self) -> &[MiddlewareSpec] {
        &self.middleware
    }
}

impl Spec for ObserverSpec {
    fn name(&self) -> &str {
        &self.name
    }
    fn plugin_key(&self) -> &'static str {
        "plugin"
    }
    fn plugin(&self) -> &str {
        &self.plugin
    }
    fn plugin_config(&self) -> Json {
        self.config.clone()
    }
    fn middleware(&self) -> &[MiddlewareSpec] {
        &[]
    }
}

struct Resolver<'a, 'p> {
    cat: &'a Catalogue,
    problems: &'a mut Problems<'p>,
}

impl Resolver<'_, '_> {
    /// Finds a component and lets its plugin check `config`. `path` is where the spec sits;
    /// `name_key` the key that names the plugin; `config_key` where the plugin config sits.
    fn find(
        &mut self,
        kind: Kind,
        path: &[&str],
        subject: &str,
        plugin: &str,
        config: &Json,
    ) -> Option<(usize, String)> {
        let found = match self.cat.find(kind, plugin) {
            Ok(f) => f,
            Err(e) => {
                self.problems.at(path, format!("{subject}: {e}"));
                return None;
            }
        };
        let component = found.info.name.to_string();
        let library = self
            .cat
            .libraries
            .iter()
            .position(|l| std::ptr::eq(&**l, found.library))?;
        let json = config.to_string();
        let validate = found.library.module.validate();
        let base = &path[..path.len() - 1];
        for p in validate(kind, RStr::from_str(&component), RStr::from_str(&json)) {
            let mut at: Vec<&str> = base.to_vec();
            if matches!(kind, Kind::Transport | Kind::Application | Kind::Observer) {
                at.push("config");
            }
            at.extend(
                p.key
                    .split('.')
                    .filter(|k| !k.is_empty() && k.parse::<usize>().is_err()),
            );
            let at = if p.key.is_empty() { path.to_vec() } else { at };
            self.problems.at(&at, format!("{subject}: {p}"));
        }
        Some((library, component))
    }

    fn middleware(&mut self, section: &str, owner: &str, list: &[MiddlewareSpec]) -> Vec<Resolved<MiddlewareSpec>> {
        let singular = section.trim_end_matches('s');
        let mut out = Vec::new();
        for m in list {
            let subject = format!("{singular} {owner:?}: middleware {:?}", m.name);
            let path = [section, owner, m.name.as_str()];
            if let Some((library, component)) = self.find(Kind::Middleware, &path, &subject, &m.plugin, &m.config) {
                out.push(Resolved {
                    spec: m.clone(),
                    library,
                    component,
                    middleware: Vec::new(),
                });
            }
        }
        out
    }

    /// Resolves every spec of one section.
    fn section<S: Spec>(&mut self, kind: Kind, section: &str, specs: &[S]) -> Vec<Resolved<S>> {
        let mut out = Vec::new();
        let singular = section.trim_end_matches('s');
        for s in specs.iter().filter(|s| !s.plugin().is_empty()) {
            let subject = format!("{singular} {:?}", s.name());
            let path = [section, s.name(), s.plugin_key()];
            let Some((library, component)) = self.find(kind, &path, &subject, s.plugin(), &s.plugin_config()) else {
                continue;
            };
            let middleware = self.middleware(section, s.name(), s.middleware());
            let ask = self.cat.libraries[library].module.concurrency();
            let json = s.plugin_config().to_string();
            let asked = ask(kind, RStr::from_str(&component), RStr::from_str(&json));
            out.push(Resolved {
                spec: s.clone().with_asked_concurrency(asked),
                library,
                component,
                middleware,
            });
        }
        out
    }
}

pub(super) fn resolve(cfg: &ConfigFile, cat: &Catalogue, problems: &mut Problems<'_>) -> ResolvedSpecs {
    let mut r = Resolver { cat, problems };
    ResolvedSpecs {
        transports: r.section(Kind::Transport, "transports", &cfg.transports),
        applications: r.section(Kind::Application, "applications", &cfg.applications),
        dispatchers: r.section(Kind::Router, "dispatchers", &cfg.dispatchers),
        observers: r.section(Kind::Observer, "observers", &plugin_observers(cfg)),
    }
}

/// The observers that come from plugins: all but the built-in `webhook`.
pub fn plugin_observers(cfg: &ConfigFile) -> Vec<ObserverSpec> {
    cfg.observers
        .iter()
        .filter(|o| o.plugin != "webhook")
        .cloned()
        .collect()
}
