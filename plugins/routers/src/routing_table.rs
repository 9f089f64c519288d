//! Vumi's `RoutingTableDispatcher`: each message is routed by the connector it arrived on and
//! its `routing_metadata.endpoint_name` (`default` when absent), to `[connector, endpoint]`;
//! the message leaves with `endpoint_name` set to that endpoint.

use crate::common::Endpoints;
use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::JsonObject;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub transport_names: Vec<String>,
    pub exposed_names: Vec<String>,
    /// Vumi's names for transport_names and exposed_names.
    #[serde(default)]
    pub receive_inbound_connectors: Vec<String>,
    #[serde(default)]
    pub receive_outbound_connectors: Vec<String>,
    /// connector → endpoint → [connector, endpoint]
    pub routing_table: BTreeMap<String, BTreeMap<String, (String, String)>>,
}

pub struct RoutingTableDispatcher {
    table: BTreeMap<String, BTreeMap<String, (String, String)>>,
}

const DEFAULT: &str = "default";

impl Component for RoutingTableDispatcher {
    type Config = Config;
    const NAME: &'static str = "routing_table";
    const ALIASES: &'static [&'static str] = &[
        "vumi.dispatchers.RoutingTableDispatcher",
        "vumi.dispatchers.endpoint_dispatchers.RoutingTableDispatcher",
        "RoutingTableDispatcher",
    ];
    const DESCRIPTION: &'static str = "Routes by (connector, routing_metadata.endpoint_name) through a routing table.";
    const CONFIG_DOC: &'static str = "routing_table: {connector: {endpoint: [connector, endpoint]}} (required)";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let endpoints = Endpoints {
            transport_names: &config.transport_names,
            exposed_names: &config.exposed_names,
        };
        for (src, routes) in &config.routing_table {
            let key = format!("routing_table.{src}");
            let to_apps = config.transport_names.contains(src);
            if !to_apps && !config.exposed_names.contains(src) {
                problems.push(ConfigProblem::at(
                    "routing_table",
                    format!("unknown endpoint {src:?}: not in transport_names or exposed_names"),
                ));
                continue;
            }
            for (endpoint, (dst, _)) in routes {
                let key = format!("{key}.{endpoint}");
                if to_apps {
                    endpoints.check_exposed(&key, [dst], &mut problems);
                } else {
                    endpoints.check_transports(&key, [dst], &mut problems);
                }
            }
        }
        problems
    }

    fn create(config: Config, _ctx: Context) -> Result<Self, String> {
        Ok(Self {
            table: config.routing_table,
        })
    }
}

fn endpoint_of(metadata: &JsonObject) -> String {
    match metadata.get("endpoint_name") {
        Some(Value::String(e)) => e,
        _ => DEFAULT.to_owned(),
    }
}

/// Sets `endpoint_name`, unless it already says that (an absent name says `default`): a message
/// left as it is is not copied.
fn set_endpoint(metadata: &JsonObject, current: &str, endpoint: &str) -> Option<JsonObject> {
    if current == endpoint && (metadata.get("endpoint_name").is_some() || endpoint == DEFAULT) {
        return None;
    }
    let mut changed = metadata.clone();
    changed.insert("endpoint_name", endpoint.into());
    Some(changed)
}

impl RoutingTableDispatcher {
    fn lookup(&self, from: &str, metadata: &JsonObject) -> Result<(String, String, String), String> {
        let endpoint = endpoint_of(metadata);
        let routes = self
            .table
            .get(from)
            .ok_or_else(|| format!("routing_table has no entry for connector {from:?}"))?;
        let (dst, dst_endpoint) = routes
            .get(&endpoint)
            .cloned()
            .ok_or_else(|| format!("routing_table has no entry for endpoint {endpoint:?} on {from:?}"))?;
        Ok((dst, dst_endpoint, endpoint))
    }
}

impl Router for RoutingTableDispatcher {
    async fn dispatch_inbound(&self, mut msg: Message, from: &str) -> Result<Vec<Routed>, String> {
        let (dst, endpoint, current) = self.lookup(from, &msg.routing_metadata)?;
        if let Some(changed) = set_endpoint(&msg.routing_metadata, &current, &endpoint) {
            msg.routing_metadata = changed;
        }
        Ok(vec![Routed::inbound(&dst, msg)])
    }

    async fn dispatch_outbound(&self, mut msg: Message, from: &str) -> Result<Vec<Routed>, String> {
        let (dst, endpoint, current) = self.lookup(from, &msg.routing_metadata)?;
        if let Some(changed) = set_endpoint(&msg.routing_metadata, &current, &endpoint) {
            msg.routing_metadata = changed;
        }
        Ok(vec![Routed::outbound(&dst, msg)])
    }

    async fn dispatch_event(&self, mut event: Event, from: &str, sender: Option<&str>) -> Result<Vec<Routed>, String> {
        match self.lookup(from, &event.routing_metadata) {
            Ok((dst, endpoint, current)) => {
                if let Some(changed) = set_endpoint(&event.routing_metadata, &current, &endpoint) {
                    event.routing_metadata = changed;
                }
                Ok(vec![Routed::event(&dst, event)])
            }
            Err(e) => match sender {
                Some(app) => Ok(vec![Routed::event(app, event)]),
                None => Err(e),
            },
        }
    }
}
