//! Dispatchers: `router_class`, the endpoint lists, and everything else beside them as the
//! router's config, as in Vumi. Keys every Vumi worker takes are accepted and set aside.

use super::components::{check_tasks, read_middleware, set_middleware_config};
use super::reader::Reader;
use super::yaml;
use super::DispatcherSpec;
use serde_json::Map as JsonMap;
use serde_yaml_ng::Mapping;

/// Keys any Vumi worker's config may carry that ruvuma takes and does not use: the bus and the
/// state store are the host's (`bus:`, `state:`), and names come from the config's keys.
pub(super) const VUMI_WORKER_KEYS: &[&str] = &[
    "amqp_prefetch_count",
    "worker_name",
    "redis_manager",
    "riak_manager",
    "worker_class",
];

/// `base` is where the dispatcher sits in the file (`["dispatchers", name]`, or nothing for a
/// Vumi dispatcher file). `unused` collects the Vumi keys set aside.
pub(super) fn read_dispatcher(
    r: &mut Reader<'_>,
    base: &[&str],
    name: &str,
    map: &Mapping,
    unused: &mut Vec<String>,
) -> Option<DispatcherSpec> {
    let subject = format!("dispatcher {name:?}");
    let mut out = DispatcherSpec {
        name: name.to_owned(),
        router_class: String::new(),
        transport_names: Vec::new(),
        exposed_names: Vec::new(),
        router_config: JsonMap::new(),
        instances: 1,
        concurrency: 1,
        middleware: Vec::new(),
    };
    let (mut seen_transports, mut seen_exposed) = (false, false);
    for (key, value) in yaml::entries(map) {
        let mut path: Vec<&str> = base.to_vec();
        path.push(&key);
        match key.as_str() {
            "router_class" => out.router_class = r.string(&path, &subject, value).unwrap_or_default(),
            "transport_names" => {
                seen_transports = true;
                out.transport_names = r.names(&path, &subject, value)
            }
            "exposed_names" => {
                seen_exposed = true;
                out.exposed_names = r.names(&path, &subject, value)
            }
            "instances" => out.instances = r.instances(&path, &subject, value),
            "concurrency" => out.concurrency = r.concurrency(&path, &subject, value),
            "middleware" => out.middleware = read_middleware(r, &path, &subject, value),
            k if VUMI_WORKER_KEYS.contains(&k) => unused.push(format!("{name}.{k}")),
            _ => {
                let json = r.json(&path, &subject, value);
                out.router_config.insert(key, json);
            }
        }
    }
    check_tasks(r, base, &subject, out.instances, out.concurrency);
    finish(r, base, &subject, &mut out, seen_transports, seen_exposed);
    Some(out)
}

/// Middleware configs beside the keys, Vumi's other names for the endpoint lists, and what is
/// missing.
fn finish(
    r: &mut Reader<'_>,
    base: &[&str],
    subject: &str,
    out: &mut DispatcherSpec,
    seen_transports: bool,
    seen_exposed: bool,
) {
    let (mut seen_transports, mut seen_exposed) = (seen_transports, seen_exposed);
    // Each middleware's config sits beside the dispatcher's keys, under the middleware's name.
    let names: Vec<String> = out.middleware.iter().map(|m| m.name.clone()).collect();
    for name in names {
        if let Some(config) = out.router_config.remove(&name) {
            set_middleware_config(&mut out.middleware, &name, config);
        }
    }
    // Vumi's RoutingTableDispatcher names its endpoints differently.
    if !seen_transports {
        if let Some(names) = alias(out, "receive_inbound_connectors") {
            out.transport_names = names;
            seen_transports = true;
        }
    }
    if !seen_exposed {
        if let Some(names) = alias(out, "receive_outbound_connectors") {
            out.exposed_names = names;
            seen_exposed = true;
        }
    }
    if out.router_class.is_empty() {
        let message = format!("{subject}: key \"router_class\" is missing (a router plugin name, e.g. simple)");
        r.problem(base, message);
    }
    if !seen_transports {
        r.problem(base, format!("{subject}: key \"transport_names\" is missing"));
    }
    if !seen_exposed {
        r.problem(base, format!("{subject}: key \"exposed_names\" is missing"));
    }
}

fn alias(d: &DispatcherSpec, key: &str) -> Option<Vec<String>> {
    d.router_config
        .get(key)?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}
