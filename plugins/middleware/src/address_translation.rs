//! `address_translation` (Vumi's AddressTranslationMiddleware): outbound `to_addr` is rewritten
//! through `outbound_map`; inbound `from_addr` through its inverse. Other addresses pass as they
//! are; events are untouched.

use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::std_types::ROption;
use std::collections::HashMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub outbound_map: HashMap<String, String>,
}

pub struct AddressTranslation {
    outbound: HashMap<String, String>,
    inbound: HashMap<String, String>,
}

impl Component for AddressTranslation {
    type Config = Config;
    const NAME: &'static str = "address_translation";
    const ALIASES: &'static [&'static str] = &[
        "vumi.middleware.address_translator.AddressTranslationMiddleware",
        "AddressTranslationMiddleware",
    ];
    const DESCRIPTION: &'static str = "Rewrites outbound to_addr through outbound_map, inbound from_addr back.";
    const CONFIG_DOC: &'static str = "outbound_map: {address: address} (required)";

    fn create(config: Config, _ctx: Context) -> Result<Self, String> {
        let inbound = config
            .outbound_map
            .iter()
            .map(|(k, v)| (v.clone(), k.clone()))
            .collect();
        Ok(Self {
            outbound: config.outbound_map,
            inbound,
        })
    }
}

fn translate(addr: &mut ROption<ruvuma_plugin_api::std_types::RString>, map: &HashMap<String, String>) {
    if let ROption::RSome(a) = addr {
        if let Some(to) = map.get(a.as_str()) {
            *addr = ROption::RSome(to.as_str().into());
        }
    }
}

// Only a message whose address is in the map is touched: changing a field of a shared message
// copies it.
impl Middleware for AddressTranslation {
    async fn handle_inbound(&self, mut msg: Message, _: &str, _: Direction) -> Result<Option<Message>, String> {
        if msg
            .from_addr
            .as_ref()
            .map(|a| self.inbound.contains_key(a.as_str()))
            .unwrap_or(false)
        {
            translate(&mut msg.from_addr, &self.inbound);
        }
        Ok(Some(msg))
    }

    async fn handle_outbound(&self, mut msg: Message, _: &str, _: Direction) -> Result<Option<Message>, String> {
        if msg
            .to_addr
            .as_ref()
            .map(|a| self.outbound.contains_key(a.as_str()))
            .unwrap_or(false)
        {
            translate(&mut msg.to_addr, &self.outbound);
        }
        Ok(Some(msg))
    }
}
