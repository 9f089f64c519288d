//! The config compiler: resolves every component against the plugin catalogue, lets each plugin
//! check its own config, and checks the wiring (who consumes what). Every problem is collected.

use crate::config::{ComponentSpec, ConfigFile, DispatcherSpec, MiddlewareSpec, Problem};
use crate::plugins::Catalogue;
use abi_stable::std_types::RStr;
use ruvuma_plugin_api::Kind;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};

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
        router_config(&self.spec)
    }
}

fn router_config(d: &DispatcherSpec) -> Json {
    let mut map = d.router_config.clone();
    map.insert("transport_names".into(), d.transport_names.clone().into());
    map.insert("exposed_names".into(), d.exposed_names.clone().into());
    Json::Object(map)
}

/// A config ready to run.
pub struct Plan {
    pub config: ConfigFile,
    pub transports: Vec<Resolved<ComponentSpec>>,
    pub applications: Vec<Resolved<ComponentSpec>>,
    pub dispatchers: Vec<Resolved<DispatcherSpec>>,
    /// Endpoints the config names but does not define: other processes serve them on a shared bus.
    pub external_transports: BTreeSet<String>,
    pub external_applications: BTreeSet<String>,
}

impl Plan {
    /// `1 transport, 1 application, 1 dispatcher`
    pub fn counts(&self) -> String {
        let n = |count: usize, one: &str, many: &str| format!("{count} {}", if count == 1 { one } else { many });
        format!(
            "{}, {}, {}",
            n(self.transports.len(), "transport", "transports"),
            n(self.applications.len(), "application", "applications"),
            n(self.dispatchers.len(), "dispatcher", "dispatchers"),
        )
    }

    /// The line `ruvuma validate` prints.
    pub fn summary(&self) -> String {
        let mut s = format!("{} is valid: {}", self.config.path.display(), self.counts());
        if !self.external_transports.is_empty() || !self.external_applications.is_empty() {
            let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
            s.push_str("; endpoints expected on the bus from other processes:");
            if !self.external_transports.is_empty() {
                s.push_str(&format!(" transports {}", list(&self.external_transports)));
            }
            if !self.external_applications.is_empty() {
                if !self.external_transports.is_empty() {
                    s.push(';');
                }
                s.push_str(&format!(" applications {}", list(&self.external_applications)));
            }
        }
        s
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

struct Compiler<'a> {
    cfg: &'a ConfigFile,
    cat: &'a Catalogue,
    problems: Vec<Problem>,
}

impl Compiler<'_> {
    fn problem(&mut self, path: &[&str], message: String) {
        self.problems.push(self.cfg.problem(path, message));
    }

    fn resolve_middleware(
        &mut self,
        section: &str,
        owner: &str,
        list: &[MiddlewareSpec],
    ) -> Vec<Resolved<MiddlewareSpec>> {
        let mut out = Vec::new();
        for m in list {
            let subject = format!("{} {owner:?}: middleware {:?}", &section[..section.len() - 1], m.name);
            let path = [section, owner, m.name.as_str()];
            if let Some((library, component)) = self.resolve(Kind::Middleware, &path, &subject, &m.plugin, &m.config) {
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

    /// The spec, with the concurrency the plugin asks for when the config sets none.
    fn with_concurrency(&self, kind: Kind, library: usize, component: &str, spec: &ComponentSpec) -> ComponentSpec {
        let mut spec = spec.clone();
        if !spec.concurrency_given {
            let ask = self.cat.libraries[library].module.concurrency();
            let json = spec.config.to_string();
            let n = ask(kind, RStr::from_str(component), RStr::from_str(&json));
            if n > 0 {
                spec.concurrency = n as usize;
            }
        }
        spec
    }

    /// Finds the plugin component and lets it check its config.
    fn resolve(
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
                self.problem(path, format!("{subject}: {e}"));
                return None;
            }
        };
        let component = found.info.name.to_string();
        let library = self.cat.libraries.iter().position(|l| std::ptr::eq(l, found.library))?;
        let json = config.to_string();
        let validate = found.library.module.validate();
        let errors = validate(kind, RStr::from_str(&component), RStr::from_str(&json));
        for e in errors {
            // Point at the key the plugin names, when the file has it.
            let key = e.key.as_str();
            let mut at: Vec<&str> = path[..path.len() - 1].to_vec();
            if matches!(kind, Kind::Transport | Kind::Application) {
                at.push("config");
            }
            at.extend(key.split('.').filter(|k| !k.is_empty() && k.parse::<usize>().is_err()));
            let at = if key.is_empty() { path.to_vec() } else { at };
            self.problem(&at, format!("{subject}: {e}"));
        }
        Some((library, component))
    }
}

/// Checks a config against the catalogue; the plan, or every problem found.
pub fn compile(cfg: ConfigFile, cat: &Catalogue) -> Result<Plan, Vec<Problem>> {
    let mut c = Compiler {
        cfg: &cfg,
        cat,
        problems: Vec::new(),
    };

    // Names: lower-case, unique across transports, application endpoints and dispatchers.
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    let mut claim = |c: &mut Compiler<'_>, path: &[&str], name: &str, what: String| {
        if !valid_name(name) {
            c.problem(
                path,
                format!("{what}: name {name:?} must be lower-case letters, digits, '_' or '-'"),
            );
        }
        if let Some(prev) = owners.get(name) {
            c.problem(path, format!("{what}: duplicate name {name:?}, already used by {prev}"));
        } else {
            owners.insert(name.to_owned(), what);
        }
    };
    for t in &cfg.transports {
        claim(
            &mut c,
            &["transports", &t.name],
            &t.name,
            format!("transport {:?}", t.name),
        );
    }
    // An application may share its endpoint with a transport: that wires the two directly.
    let transport_names: BTreeSet<&str> = cfg.transports.iter().map(|t| t.name.as_str()).collect();
    for a in &cfg.applications {
        let what = format!("application {:?} (endpoint {:?})", a.name, a.endpoint);
        if transport_names.contains(a.endpoint.as_str()) {
            continue; // two such applications are caught below: both would consume its inbound
        }
        claim(&mut c, &["applications", &a.name, "endpoint"], &a.endpoint, what);
    }
    for d in &cfg.dispatchers {
        claim(
            &mut c,
            &["dispatchers", &d.name],
            &d.name,
            format!("dispatcher {:?}", d.name),
        );
    }
    let mut app_names = BTreeSet::new();
    for a in &cfg.applications {
        if !app_names.insert(a.name.clone()) {
            c.problem(
                &["applications", &a.name],
                format!("application {:?}: duplicate name", a.name),
            );
        }
    }

    let mut transports = Vec::new();
    for t in &cfg.transports {
        let subject = format!("transport {:?}", t.name);
        if let Some((library, component)) = c.resolve(
            Kind::Transport,
            &["transports", &t.name, "plugin"],
            &subject,
            &t.plugin,
            &t.config,
        ) {
            let middleware = c.resolve_middleware("transports", &t.name, &t.middleware);
            transports.push(Resolved {
                spec: c.with_concurrency(Kind::Transport, library, &component, t),
                library,
                component,
                middleware,
            });
        }
    }
    let mut applications = Vec::new();
    for a in &cfg.applications {
        let subject = format!("application {:?}", a.name);
        if let Some((library, component)) = c.resolve(
            Kind::Application,
            &["applications", &a.name, "plugin"],
            &subject,
            &a.plugin,
            &a.config,
        ) {
            let middleware = c.resolve_middleware("applications", &a.name, &a.middleware);
            applications.push(Resolved {
                spec: c.with_concurrency(Kind::Application, library, &component, a),
                library,
                component,
                middleware,
            });
        }
    }
    let mut dispatchers = Vec::new();
    for d in &cfg.dispatchers {
        let subject = format!("dispatcher {:?}", d.name);
        let config = router_config(d);
        if let Some((library, component)) = c.resolve(
            Kind::Router,
            &["dispatchers", &d.name, "router_class"],
            &subject,
            &d.router_class,
            &config,
        ) {
            let middleware = c.resolve_middleware("dispatchers", &d.name, &d.middleware);
            dispatchers.push(Resolved {
                spec: d.clone(),
                library,
                component,
                middleware,
            });
        }
    }

    // Wiring: every endpoint a dispatcher names exists (or lives on the shared bus), and every
    // queue something publishes to has exactly one kind of consumer.
    // On a shared bus, endpoints this file does not define may live in other processes.
    let local = (!cfg.transports.is_empty() || !cfg.applications.is_empty()) && !cfg.bus.is_shared();
    let transport_set: BTreeSet<&str> = cfg.transports.iter().map(|t| t.name.as_str()).collect();
    let endpoint_set: BTreeSet<&str> = cfg.applications.iter().map(|a| a.endpoint.as_str()).collect();
    let mut external_transports = BTreeSet::new();
    let mut external_applications = BTreeSet::new();
    let mut transport_consumers: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut endpoint_consumers: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for d in &cfg.dispatchers {
        let subject = format!("dispatcher {:?}", d.name);
        if d.transport_names.is_empty() {
            c.problem(
                &["dispatchers", &d.name, "transport_names"],
                format!("{subject}: key \"transport_names\" is empty"),
            );
        }
        for t in &d.transport_names {
            if transport_set.contains(t.as_str()) {
                transport_consumers.entry(t).or_default().push(subject.clone());
            } else if local {
                c.problem(
                    &["dispatchers", &d.name, "transport_names"],
                    format!("{subject}: key \"transport_names\": unknown endpoint {t:?}: no transport of that name is defined"),
                );
            } else {
                external_transports.insert(t.clone());
            }
        }
        for e in &d.exposed_names {
            if endpoint_set.contains(e.as_str()) {
                endpoint_consumers.entry(e).or_default().push(subject.clone());
            } else if local {
                c.problem(
                    &["dispatchers", &d.name, "exposed_names"],
                    format!(
                        "{subject}: key \"exposed_names\": unknown endpoint {e:?}: no application has that endpoint"
                    ),
                );
            } else {
                external_applications.insert(e.clone());
            }
        }
    }
    // An application whose endpoint is a transport's name talks to it directly, as in Vumi.
    for a in &cfg.applications {
        if transport_set.contains(a.endpoint.as_str()) {
            transport_consumers
                .entry(&a.endpoint)
                .or_default()
                .push(format!("application {:?}", a.name));
            endpoint_consumers
                .entry(&a.endpoint)
                .or_default()
                .push(format!("transport {:?}", a.endpoint));
        }
    }
    for t in cfg.transports.iter().filter(|_| !cfg.bus.is_shared()) {
        match transport_consumers.get(t.name.as_str()).map(Vec::as_slice) {
            None | Some([]) => c.problem(
                &["transports", &t.name],
                format!(
                    "transport {:?}: nothing consumes {0}.inbound: list it in a dispatcher's transport_names or give an application endpoint {0:?}",
                    t.name
                ),
            ),
            Some([_]) => {}
            Some(many) => c.problem(
                &["transports", &t.name],
                format!("transport {:?}: {} all consume {0}.inbound and would split its messages between them", t.name, many.join(" and ")),
            ),
        }
    }
    for a in cfg.applications.iter().filter(|_| !cfg.bus.is_shared()) {
        match endpoint_consumers.get(a.endpoint.as_str()).map(Vec::as_slice) {
            None | Some([]) => c.problem(
                &["applications", &a.name],
                format!(
                    "application {:?}: nothing consumes {}.outbound (its replies): list {1:?} in a dispatcher's exposed_names",
                    a.name, a.endpoint
                ),
            ),
            Some([_]) => {}
            Some(many) => c.problem(
                &["applications", &a.name],
                format!("application {:?}: {} all consume {}.outbound", a.name, many.join(" and "), a.endpoint),
            ),
        }
    }

    let problems = c.problems;
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Plan {
        config: cfg,
        transports,
        applications,
        dispatchers,
        external_transports,
        external_applications,
    })
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names() {
        assert!(valid_name("echo_app"));
        assert!(valid_name("smpp-1"));
        assert!(!valid_name("Echo"));
        assert!(!valid_name("a.b"));
        assert!(!valid_name(""));
        assert!(!valid_name("_x"));
    }
}
