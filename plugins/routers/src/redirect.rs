//! Vumi's `RedirectRouter` (and its old name `RedirectOutboundRouter`): inbound messages and
//! events from each transport go to the application `redirect_inbound` names, taking its name as
//! `transport_name`; outbound messages go to the transport `redirect_outbound` names for the
//! message's `transport_name`. Made for split binds: an SMPP receiver and transmitter shown to
//! one application as one transport.

use crate::common::Endpoints;
use crate::common::NameMap;
use ruvuma_plugin_api::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub transport_names: Vec<String>,
    pub exposed_names: Vec<String>,
    /// transport → application endpoint
    #[serde(default)]
    pub redirect_inbound: BTreeMap<String, String>,
    /// transport_name on outbound messages (an application endpoint) → transport
    #[serde(default)]
    pub redirect_outbound: BTreeMap<String, String>,
}

pub struct RedirectRouter {
    inbound: NameMap<String>,
    outbound: NameMap<String>,
}

impl Component for RedirectRouter {
    type Config = Config;
    const NAME: &'static str = "redirect";
    const ALIASES: &'static [&'static str] = &[
        "vumi.dispatchers.RedirectRouter",
        "RedirectRouter",
        "vumi.dispatchers.RedirectOutboundRouter",
        "RedirectOutboundRouter",
        "redirect_outbound",
    ];
    const DESCRIPTION: &'static str = "Redirects by name both ways, e.g. separate SMPP transmitter and receiver binds.";
    const CONFIG_DOC: &'static str = "redirect_inbound: {transport_name: app_endpoint}\n\
        redirect_outbound: {app_endpoint (the message's transport_name): transport_name}";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let endpoints = Endpoints {
            transport_names: &config.transport_names,
            exposed_names: &config.exposed_names,
        };
        endpoints.check_transports("redirect_inbound", config.redirect_inbound.keys(), &mut problems);
        endpoints.check_exposed("redirect_inbound", config.redirect_inbound.values(), &mut problems);
        endpoints.check_transports("redirect_outbound", config.redirect_outbound.values(), &mut problems);
        if config.redirect_inbound.is_empty() && config.redirect_outbound.is_empty() {
            problems.push(ConfigProblem::whole(
                "keys \"redirect_inbound\", \"redirect_outbound\": neither is given",
            ));
        }
        problems
    }

    fn create(config: Config, _ctx: Context) -> Result<Self, String> {
        Ok(Self {
            inbound: config.redirect_inbound.into_iter().collect(),
            outbound: config.redirect_outbound.into_iter().collect(),
        })
    }
}

impl RedirectRouter {
    fn inbound_target(&self, transport_name: &str, from: &str) -> Result<&String, String> {
        self.inbound
            .get(transport_name)
            .or_else(|| self.inbound.get(from))
            .ok_or_else(|| format!("redirect_inbound has no entry for transport {from:?}"))
    }
}

impl Router for RedirectRouter {
    async fn dispatch_inbound(&self, mut msg: Message, from: &str) -> Result<Vec<Routed>, String> {
        let target = self.inbound_target(&msg.transport_name, from)?.clone();
        msg.transport_name = target.as_str().into();
        Ok(vec![Routed::inbound(&target, msg)])
    }

    async fn dispatch_outbound(&self, msg: Message, from: &str) -> Result<Vec<Routed>, String> {
        let target = self
            .outbound
            .get(msg.transport_name.as_str())
            .or_else(|| self.outbound.get(from))
            .ok_or_else(|| format!("redirect_outbound has no entry for {:?}", msg.transport_name))?
            .clone();
        Ok(vec![Routed::outbound(&target, msg)])
    }

    async fn dispatch_event(&self, mut event: Event, from: &str, sender: Option<&str>) -> Result<Vec<Routed>, String> {
        let target = match self.inbound_target(&event.transport_name, from) {
            Ok(t) => t.clone(),
            Err(e) => sender.map(str::to_owned).ok_or(e)?,
        };
        event.transport_name = target.as_str().into();
        Ok(vec![Routed::event(&target, event)])
    }
}
