//! Vumi's `SimpleDispatchRouter`: inbound from each transport fans out to the applications
//! `route_mappings` names; outbound goes to the transport the message names (`transport_name`, so
//! a reply goes back where its question came from), renamed through `transport_mappings`.

use ruvuma_plugin_api::prelude::*;
use serde::de::{self, Deserializer};
use std::collections::{BTreeMap, HashMap};

/// A list of names, or one name on its own (Vumi accepts both).
#[derive(Debug, Clone)]
pub struct Names(pub Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        match OneOrMany::deserialize(d) {
            Ok(OneOrMany::One(s)) => Ok(Names(vec![s])),
            Ok(OneOrMany::Many(v)) => Ok(Names(v)),
            Err(_) => Err(de::Error::custom("expected a name or a list of names")),
        }
    }
}

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

pub struct SimpleDispatchRouter {
    routes: HashMap<String, Vec<String>>,
    transport_mappings: HashMap<String, String>,
}

impl Component for SimpleDispatchRouter {
    type Config = Config;
    const NAME: &'static str = "simple";
    const ALIASES: &'static [&'static str] = &["vumi.dispatchers.SimpleDispatchRouter", "SimpleDispatchRouter"];
    const DESCRIPTION: &'static str =
        "Sends each transport's inbound messages to the applications route_mappings names (Vumi's SimpleDispatchRouter).";
    const CONFIG_DOC: &'static str = "route_mappings: {transport_name: app_endpoint or [app_endpoint, ...]} (required)\n\
        transport_mappings: {transport_name: transport_name}: send outbound messages naming one transport through another (default: none)";

    fn check(config: &Config) -> Vec<String> {
        let mut problems = Vec::new();
        if config.route_mappings.is_empty() {
            problems.push("key \"route_mappings\": must name where each transport's messages go".to_owned());
        }
        for (transport, apps) in &config.route_mappings {
            if !config.transport_names.contains(transport) {
                problems.push(format!(
                    "key \"route_mappings\": unknown endpoint {transport:?}: not one of transport_names {:?}",
                    config.transport_names
                ));
            }
            for app in &apps.0 {
                if !config.exposed_names.contains(app) {
                    problems.push(format!(
                        "key \"route_mappings.{transport}\": unknown endpoint {app:?}: not one of exposed_names {:?}",
                        config.exposed_names
                    ));
                }
            }
        }
        for (name, transport) in &config.transport_mappings {
            if !config.transport_names.contains(transport) {
                problems.push(format!(
                    "key \"transport_mappings.{name}\": unknown endpoint {transport:?}: not one of transport_names {:?}",
                    config.transport_names
                ));
            }
        }
        problems
    }

    fn create(config: Config, _ctx: Context) -> Result<Self, String> {
        Ok(Self {
            routes: config.route_mappings.into_iter().map(|(k, v)| (k, v.0)).collect(),
            transport_mappings: config.transport_mappings.into_iter().collect(),
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
        let (last, rest) = apps.split_last().ok_or("empty route")?;
        let mut out: Vec<Routed> = rest.iter().map(|app| Routed::inbound(app, msg.clone())).collect();
        out.push(Routed::inbound(last, msg));
        Ok(out)
    }

    async fn dispatch_outbound(&self, msg: Message, from: &str) -> Result<Vec<Routed>, String> {
        let name = msg.transport_name.as_str();
        if name.is_empty() {
            return Err(format!("outbound message from {from:?} names no transport_name"));
        }
        let transport = self
            .transport_mappings
            .get(name)
            .map_or(name, String::as_str)
            .to_owned();
        Ok(vec![Routed::outbound(&transport, msg)])
    }
}
