//! Transports and applications, and the middleware list any component may have (Vumi's
//! format).

use super::reader::Reader;
use super::yaml;
use super::{ComponentSpec, MiddlewareSpec, LIMITS};
use serde_json::{Map as JsonMap, Value as Json};
use serde_yaml_ng::{Mapping, Value as Yaml};

const TRANSPORT_KEYS: &[&str] = &[
    "plugin",
    "config",
    "instances",
    "concurrency",
    "state_namespace",
    "required",
    "retry",
];
const APPLICATION_KEYS: &[&str] = &[
    "plugin",
    "endpoint",
    "config",
    "instances",
    "concurrency",
    "state_namespace",
];

/// A transport or application entry; `None` when it is not a map at all.
pub(super) fn read_component(r: &mut Reader<'_>, section: &str, name: &str, spec: &Yaml) -> Option<ComponentSpec> {
    let is_transport = section == "transports";
    let subject = format!("{} {name:?}", if is_transport { "transport" } else { "application" });
    let Yaml::Mapping(map) = spec else {
        let found = yaml::kind(spec);
        r.problem(
            &[section, name],
            format!("{subject}: expected a map with at least a \"plugin\" key, found {found}"),
        );
        return None;
    };
    let mut out = ComponentSpec {
        name: name.to_owned(),
        plugin: String::new(),
        endpoint: name.to_owned(),
        config: Json::Object(JsonMap::new()),
        instances: 1,
        concurrency: 1,
        concurrency_given: false,
        middleware: Vec::new(),
        state_namespace: None,
        required: false,
        retry: None,
    };
    if let Some(list) = map.get("middleware") {
        out.middleware = read_middleware(r, &[section, name, "middleware"], &subject, list);
    }
    let known = if is_transport { TRANSPORT_KEYS } else { APPLICATION_KEYS };
    for (key, value) in yaml::entries(map) {
        let path = [section, name, key.as_str()];
        match key.as_str() {
            "plugin" => out.plugin = r.string(&path, &subject, value).unwrap_or_default(),
            "endpoint" if !is_transport => out.endpoint = r.string(&path, &subject, value).unwrap_or_default(),
            "config" => out.config = read_config(r, &path, &subject, value),
            "instances" => out.instances = r.instances(&path, &subject, value),
            "concurrency" => {
                out.concurrency = r.concurrency(&path, &subject, value);
                out.concurrency_given = true;
            }
            "state_namespace" => out.state_namespace = r.string(&path, &subject, value),
            "required" if is_transport => match value {
                Yaml::Bool(b) => out.required = *b,
                other => r.problem(
                    &path,
                    format!(
                        "{subject}: key \"required\": expected true or false, found {}",
                        yaml::text(other)
                    ),
                ),
            },
            "retry" if is_transport => out.retry = super::retry::read_retry(r, &[section, name], &subject, value),
            "middleware" => {}
            other if out.middleware.iter().any(|m| m.name == other) => {
                let config = r.json(&path, &subject, value);
                set_middleware_config(&mut out.middleware, other, config);
            }
            other => r.problem(
                &path,
                format!(
                    "{subject}: unknown key {other:?}; known keys: {}, middleware",
                    known.join(", ")
                ),
            ),
        }
    }
    check_tasks(r, &[section, name], &subject, out.instances, out.concurrency);
    if out.plugin.is_empty() {
        r.problem(
            &[section, name],
            format!("{subject}: key \"plugin\" is missing (the plugin component to run, e.g. telnet)"),
        );
    }
    Some(out)
}

/// Each instance runs `concurrency` consumers: their product is bounded too.
pub(super) fn check_tasks(r: &mut Reader<'_>, path: &[&str], subject: &str, instances: usize, concurrency: usize) {
    let tasks = instances.saturating_mul(concurrency) as u64;
    if tasks > LIMITS.max_concurrency {
        let max = LIMITS.max_concurrency;
        r.problem(
            path,
            format!("{subject}: instances × concurrency is {tasks}, more than the {max} deliveries one component may hold at once"),
        );
    }
}

fn read_config(r: &mut Reader<'_>, path: &[&str], subject: &str, value: &Yaml) -> Json {
    match value {
        Yaml::Null => Json::Object(JsonMap::new()),
        Yaml::Mapping(_) => r.json(path, subject, value),
        other => {
            let found = yaml::kind(other);
            r.problem(
                path,
                format!("{subject}: key \"config\": expected a map, found {found}"),
            );
            Json::Null
        }
    }
}

pub(super) fn set_middleware_config(list: &mut [MiddlewareSpec], name: &str, config: Json) {
    for m in list.iter_mut().filter(|m| m.name == name) {
        m.config = config.clone();
    }
}

fn middleware_spec(name: &str, plugin: &str) -> MiddlewareSpec {
    MiddlewareSpec {
        name: name.to_owned(),
        plugin: plugin.to_owned(),
        config: Json::Object(JsonMap::new()),
        consume_priority: 0,
        publish_priority: 0,
    }
}

/// `- name: {class: plugin, consume_priority: 1, publish_priority: -1, config: {...}}`.
fn read_middleware_options(
    r: &mut Reader<'_>,
    path: &[&str],
    what: &str,
    name: &str,
    opts: &Mapping,
) -> Option<MiddlewareSpec> {
    let mut mw = middleware_spec(name, "");
    for (key, v) in yaml::entries(opts) {
        match (key.as_str(), v) {
            ("class" | "plugin", Yaml::String(p)) => mw.plugin = p.clone(),
            ("consume_priority", Yaml::Number(n)) if n.as_i64().is_some() => {
                mw.consume_priority = n.as_i64().unwrap_or(0)
            }
            ("publish_priority", Yaml::Number(n)) if n.as_i64().is_some() => {
                mw.publish_priority = n.as_i64().unwrap_or(0)
            }
            ("config", Yaml::Mapping(_)) => mw.config = r.json(path, what, v),
            (key, v) => r.problem(
                path,
                format!(
                    "{what}: {name:?}: key {key:?} with {} is not understood; \
                     known keys: class (or plugin), consume_priority, publish_priority, config",
                    yaml::text(v)
                ),
            ),
        }
    }
    if mw.plugin.is_empty() {
        r.problem(path, format!("{what}: {name:?} names no class (the middleware plugin)"));
        return None;
    }
    Some(mw)
}

/// Vumi's middleware list: `- name: plugin`, or `- name: {class: plugin, ...}`; a bare
/// `- plugin` is named after its plugin. A middleware's config is the key of its name beside the
/// list, or `config:` in its entry.
pub(super) fn read_middleware(r: &mut Reader<'_>, path: &[&str], subject: &str, value: &Yaml) -> Vec<MiddlewareSpec> {
    let Yaml::Sequence(items) = value else {
        let found = yaml::kind(value);
        r.problem(
            path,
            format!("{subject}: key \"middleware\": expected a list, found {found}"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let what = format!("{subject}: key \"middleware.{i}\"");
        let entry = match item {
            Yaml::String(plugin) => Some(middleware_spec(plugin, plugin)),
            Yaml::Mapping(m) if m.len() == 1 => match m.iter().next() {
                Some((k, Yaml::String(plugin))) => Some(middleware_spec(&yaml::key(k), plugin)),
                Some((k, Yaml::Mapping(opts))) => read_middleware_options(r, path, &what, &yaml::key(k), opts),
                Some((k, other)) => {
                    let (name, found) = (yaml::key(k), yaml::kind(other));
                    r.problem(
                        path,
                        format!("{what}: {name:?} must name a middleware plugin, found {found}"),
                    );
                    None
                }
                None => None,
            },
            other => {
                let found = yaml::text(other);
                r.problem(
                    path,
                    format!("{what}: expected `name: plugin` (one key), found {found}"),
                );
                None
            }
        };
        out.extend(entry);
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in &out {
        if !seen.insert(m.name.clone()) {
            let name = &m.name;
            r.problem(
                path,
                format!("{subject}: key \"middleware\": the name {name:?} is used twice"),
            );
        }
    }
    out
}
