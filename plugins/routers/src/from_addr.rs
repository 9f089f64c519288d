//! Vumi's `FromAddrMultiplexRouter`: several transports, each with one address, shown to one
//! application as one transport. Inbound messages and events take the exposed name as their
//! `transport_name`; an outbound message goes to the transport `fromaddr_mappings` gives its
//! `from_addr`, and takes that transport's name.

use crate::common::NameMap;
use ruvuma_plugin_api::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub transport_names: Vec<String>,
    pub exposed_names: Vec<String>,
    /// from_addr of outbound messages → the transport that owns that address
    pub fromaddr_mappings: BTreeMap<String, String>,
}

pub struct FromAddrMultiplexRouter {
    exposed: String,
    fromaddr: NameMap<String>,
}

impl Component for FromAddrMultiplexRouter {
    type Config = Config;
    const NAME: &'static str = "from_addr_multiplex";
    const ALIASES: &'static [&'static str] = &["vumi.dispatchers.FromAddrMultiplexRouter", "FromAddrMultiplexRouter"];
    const DESCRIPTION: &'static str = "Shows several single-address transports to one application as one transport.";
    const CONFIG_DOC: &'static str =
        "fromaddr_mappings: {from_addr: transport_name} (required); exactly one exposed name";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if config.exposed_names.len() != 1 {
            problems.push(ConfigProblem::at(
                "exposed_names",
                format!(
                    "this router takes exactly one exposed name, found {}",
                    config.exposed_names.len()
                ),
            ));
        }
        let endpoints = crate::common::Endpoints {
            transport_names: &config.transport_names,
            exposed_names: &config.exposed_names,
        };
        endpoints.check_transports("fromaddr_mappings", config.fromaddr_mappings.values(), &mut problems);
        problems
    }

    fn create(config: Config, _ctx: Context) -> Result<Self, String> {
        let exposed = config.exposed_names.first().cloned().ok_or("no exposed name")?;
        Ok(Self {
            exposed,
            fromaddr: config.fromaddr_mappings.into_iter().collect(),
        })
    }
}

impl Router for FromAddrMultiplexRouter {
    async fn dispatch_inbound(&self, mut msg: Message, _from: &str) -> Result<Vec<Routed>, String> {
        msg.transport_name = self.exposed.as_str().into();
        Ok(vec![Routed::inbound(&self.exposed, msg)])
    }

    async fn dispatch_outbound(&self, mut msg: Message, _from: &str) -> Result<Vec<Routed>, String> {
        let transport = self
            .fromaddr
            .get(msg.from_addr())
            .ok_or_else(|| format!("fromaddr_mappings has no transport for from_addr {:?}", msg.from_addr()))?
            .clone();
        msg.transport_name = transport.as_str().into();
        Ok(vec![Routed::outbound(&transport, msg)])
    }

    async fn dispatch_event(
        &self,
        mut event: Event,
        _from: &str,
        _sender: Option<&str>,
    ) -> Result<Vec<Routed>, String> {
        event.transport_name = self.exposed.as_str().into();
        Ok(vec![Routed::event(&self.exposed, event)])
    }
}
