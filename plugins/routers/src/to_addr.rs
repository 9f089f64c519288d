//! Vumi's `ToAddrRouter`: an inbound message goes to every application whose `toaddr_mappings`
//! pattern matches its `to_addr` (matched from the start, as Python's `re.match`). Unlike Vumi,
//! events reach the application that sent the message instead of being dropped.

use crate::common::NameMap;
use crate::common::{outbound_by_name, to_map, Endpoints};
use regex::Regex;
use ruvuma_plugin_api::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub transport_names: Vec<String>,
    pub exposed_names: Vec<String>,
    /// application endpoint → regular expression for to_addr
    pub toaddr_mappings: BTreeMap<String, String>,
    #[serde(default)]
    pub transport_mappings: BTreeMap<String, String>,
}

pub struct ToAddrRouter {
    mappings: Vec<(String, Regex)>,
    transport_mappings: NameMap<String>,
}

fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})"))
}

impl Component for ToAddrRouter {
    type Config = Config;
    const NAME: &'static str = "to_addr";
    const ALIASES: &'static [&'static str] = &["vumi.dispatchers.ToAddrRouter", "ToAddrRouter"];
    const DESCRIPTION: &'static str = "Sends inbound messages to every application whose to_addr pattern matches.";
    const CONFIG_DOC: &'static str =
        "toaddr_mappings: {app_endpoint: regex matched at the start of to_addr} (required)\n\
        transport_mappings: {transport_name: transport_name} for outbound (default: none)";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let endpoints = Endpoints {
            transport_names: &config.transport_names,
            exposed_names: &config.exposed_names,
        };
        endpoints.check_exposed("toaddr_mappings", config.toaddr_mappings.keys(), &mut problems);
        endpoints.check_transports("transport_mappings", config.transport_mappings.values(), &mut problems);
        for (app, pattern) in &config.toaddr_mappings {
            if let Err(e) = compile(pattern) {
                problems.push(ConfigProblem::at(
                    &format!("toaddr_mappings.{app}"),
                    format!("{pattern:?} is not a regular expression: {e}"),
                ));
            }
        }
        problems
    }

    fn create(config: Config, _ctx: Context) -> Result<Self, String> {
        let mut mappings = Vec::new();
        for (app, pattern) in config.toaddr_mappings {
            mappings.push((app, compile(&pattern).map_err(|e| e.to_string())?));
        }
        Ok(Self {
            mappings,
            transport_mappings: to_map(config.transport_mappings),
        })
    }
}

impl Router for ToAddrRouter {
    async fn dispatch_inbound(&self, msg: Message, _from: &str) -> Result<Vec<Routed>, String> {
        let to = msg.to_addr();
        let out: Vec<Routed> = self
            .mappings
            .iter()
            .filter(|(_, re)| re.is_match(to))
            .map(|(app, _)| Routed::inbound(app, msg.clone()))
            .collect();
        if out.is_empty() {
            return Err(format!("no toaddr_mappings pattern matches to_addr {to:?}"));
        }
        Ok(out)
    }

    async fn dispatch_outbound(&self, msg: Message, from: &str) -> Result<Vec<Routed>, String> {
        outbound_by_name(msg, from, &self.transport_mappings)
    }
}
