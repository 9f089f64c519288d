//! Vumi's `TransportToTransportRouter`: an inbound message from one transport is sent out through
//! the transports `route_mappings` names. Events about those messages have nowhere to go
//! (transports do not take events) and are discarded, each logged.

use crate::common::NameMap;
use crate::common::{fan_out, Endpoints, Names};
use crate::simple::check_routes;
use ruvuma_plugin_api::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub transport_names: Vec<String>,
    pub exposed_names: Vec<String>,
    /// transport name → transport name(s) its inbound messages are sent out on
    pub route_mappings: BTreeMap<String, Names>,
}

impl Config {
    fn endpoints(&self) -> Endpoints<'_> {
        Endpoints {
            transport_names: &self.transport_names,
            exposed_names: &self.exposed_names,
        }
    }
}

pub struct TransportToTransportRouter {
    routes: NameMap<Vec<String>>,
}

impl Component for TransportToTransportRouter {
    type Config = Config;
    const NAME: &'static str = "transport_to_transport";
    const ALIASES: &'static [&'static str] = &[
        "vumi.dispatchers.TransportToTransportRouter",
        "TransportToTransportRouter",
    ];
    const DESCRIPTION: &'static str = "Relays each transport's inbound messages out through other transports.";
    const CONFIG_DOC: &'static str = "route_mappings: {transport_name: transport_name or [...]} (required)";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        check_routes(&config.endpoints(), &config.route_mappings, true, &mut problems);
        problems
    }

    fn create(config: Config, _ctx: Context) -> Result<Self, String> {
        Ok(Self {
            routes: config.route_mappings.into_iter().map(|(k, v)| (k, v.0)).collect(),
        })
    }
}

impl Router for TransportToTransportRouter {
    async fn dispatch_inbound(&self, msg: Message, from: &str) -> Result<Vec<Routed>, String> {
        let name = if msg.transport_name.is_empty() {
            from
        } else {
            msg.transport_name.as_str()
        };
        let targets = self
            .routes
            .get(name)
            .ok_or_else(|| format!("route_mappings has no entry for transport {name:?}"))?;
        Ok(fan_out(targets, msg, Routed::outbound))
    }

    async fn dispatch_outbound(&self, msg: Message, from: &str) -> Result<Vec<Routed>, String> {
        Err(format!(
            "outbound message {} from {from:?}: this dispatcher only relays between transports",
            msg.message_id
        ))
    }

    async fn dispatch_event(&self, event: Event, from: &str, _sender: Option<&str>) -> Result<Vec<Routed>, String> {
        ruvuma_plugin_api::tracing::debug!(
            "{} for relayed message {} from {from:?} discarded: transports take no events",
            event.kind.name(),
            event.user_message_id
        );
        Ok(Vec::new())
    }
}
