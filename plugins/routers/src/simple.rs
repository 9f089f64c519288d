//! Vumi's `SimpleDispatchRouter`: inbound from each transport fans out to the applications
//! `route_mappings` names; outbound goes to the transport the message names, renamed through
//! `transport_mappings`.

use crate::common::NameMap;
use crate::common::{fan_out, outbound_by_name, to_map, Endpoints, Names};
use ruvuma_plugin_api::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub transport_names: Vec<String>,
    pub exposed_names: Vec<String>,
    /// transport name → application endpoint(s)
    #[serde(default)]
    pub route_mappings: BTreeMap<String, Names>,
    /// transport_name on an outbound message → the transport that sends it
    #[serde(default)]
    pub transport_mappings: BTreeMap<String, String>,
}

impl Config {
    fn endpoints(&self) -> Endpoints<'_> {
        Endpoints {
            transport_names: &self.transport_names,
            exposed_names: &self.exposed_names,
        }
    }
}

pub struct SimpleDispatchRouter {
    routes: NameMap<Vec<String>>,
    transport_mappings: NameMap<String>,
}

/// The checks SimpleDispatchRouter and its relatives share.
pub fn check_routes(
    endpoints: &Endpoints<'_>,
    routes: &BTreeMap<String, Names>,
    to_transports: bool,
    problems: &mut Vec<ConfigProblem>,
) {
    if routes.is_empty() {
        problems.push(ConfigProblem::at(
            "route_mappings",
            "must name where each transport's messages go",
        ));
    }
    endpoints.check_transports("route_mappings", routes.keys(), problems);
    for (transport, targets) in routes {
        let key = format!("route_mappings.{transport}");
        if to_transports {
            endpoints.check_transports(&key, &targets.0, problems);
        } else {
            endpoints.check_exposed(&key, &targets.0, problems);
        }
    }
}

impl Component for SimpleDispatchRouter {
    type Config = Config;
    const NAME: &'static str = "simple";
    const ALIASES: &'static [&'static str] = &["vumi.dispatchers.SimpleDispatchRouter", "SimpleDispatchRouter"];
    const DESCRIPTION: &'static str =
        "Sends each transport's inbound messages to the applications route_mappings names (Vumi's SimpleDispatchRouter).";
    const CONFIG_DOC: &'static str = "route_mappings: {transport_name: app_endpoint or [app_endpoint, ...]} (required)\n\
        transport_mappings: {transport_name: transport_name}: send outbound messages naming one transport through another (default: none)";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        check_routes(&config.endpoints(), &config.route_mappings, false, &mut problems);
        config
            .endpoints()
            .check_transports("transport_mappings", config.transport_mappings.values(), &mut problems);
        problems
    }

    fn create(config: Config, _ctx: Context) -> Result<Self, String> {
        Ok(Self {
            routes: config.route_mappings.into_iter().map(|(k, v)| (k, v.0)).collect(),
            transport_mappings: to_map(config.transport_mappings),
        })
    }
}

impl Router for SimpleDispatchRouter {
    async fn dispatch_inbound(&self, msg: Message, from: &str) -> Result<Vec<Routed>, String> {
        // Vumi routes by the transport the message names; the queue it arrived on is the fallback.
        let name = if msg.transport_name.is_empty() {
            from
        } else {
            msg.transport_name.as_str()
        };
        let apps = self
            .routes
            .get(name)
            .filter(|apps| !apps.is_empty())
            .ok_or_else(|| format!("route_mappings has no entry for transport {name:?}"))?;
        Ok(fan_out(apps, msg, Routed::inbound))
    }

    async fn dispatch_outbound(&self, msg: Message, from: &str) -> Result<Vec<Routed>, String> {
        outbound_by_name(msg, from, &self.transport_mappings)
    }
}
