//! Setting a message's `provider` (Vumi's provider_setter): `static_provider` sets one for every
//! message; `address_prefix_provider` picks one by the longest matching prefix of the user's
//! address (from_addr inbound, to_addr outbound), only where none is set yet.

use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::std_types::ROption;
use ruvuma_plugin_api::tracing::warn;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    pub provider: String,
}

pub struct StaticProvider {
    provider: String,
}

impl Component for StaticProvider {
    type Config = StaticConfig;
    const NAME: &'static str = "static_provider";
    const ALIASES: &'static [&'static str] = &[
        "vumi.middleware.provider_setter.StaticProviderSettingMiddleware",
        "StaticProviderSettingMiddleware",
    ];
    const DESCRIPTION: &'static str = "Sets the same provider on every inbound and outbound message.";
    const CONFIG_DOC: &'static str = "provider: the provider to set (required)";

    fn create(config: StaticConfig, _ctx: Context) -> Result<Self, String> {
        Ok(Self {
            provider: config.provider,
        })
    }
}

impl Middleware for StaticProvider {
    async fn handle_inbound(&self, mut msg: Message, _: &str, _: Direction) -> Result<Option<Message>, String> {
        msg.provider = ROption::RSome(self.provider.as_str().into());
        Ok(Some(msg))
    }

    async fn handle_outbound(&self, mut msg: Message, _: &str, _: Direction) -> Result<Option<Message>, String> {
        msg.provider = ROption::RSome(self.provider.as_str().into());
        Ok(Some(msg))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    pub country_code: String,
    #[serde(default)]
    pub strip_plus: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixConfig {
    pub provider_prefixes: BTreeMap<String, String>,
    #[serde(default)]
    pub normalize_msisdn: Option<Normalize>,
}

pub struct AddressPrefixProvider {
    /// Longest prefix first.
    prefixes: Vec<(String, String)>,
    normalize: Option<Normalize>,
}

/// Vumi's `normalize_msisdn`: international form with `+` (or without, with `strip_plus`).
pub fn normalize_msisdn(raw: &str, country_code: &str, strip_plus: bool) -> String {
    if raw.len() <= 5 {
        return raw.to_owned();
    }
    let digits: String = raw.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect();
    let mut out = if let Some(rest) = digits.strip_prefix("00") {
        format!("+{rest}")
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("+{country_code}{rest}")
    } else if digits.starts_with('+') {
        digits
    } else if digits.starts_with(country_code) {
        format!("+{digits}")
    } else {
        digits
    };
    if strip_plus {
        out = out.trim_start_matches('+').to_owned();
    }
    out
}

impl Component for AddressPrefixProvider {
    type Config = PrefixConfig;
    const NAME: &'static str = "address_prefix_provider";
    const ALIASES: &'static [&'static str] = &[
        "vumi.middleware.provider_setter.AddressPrefixProviderSettingMiddleware",
        "AddressPrefixProviderSettingMiddleware",
    ];
    const DESCRIPTION: &'static str = "Sets the provider from the longest matching prefix of the user's address.";
    const CONFIG_DOC: &'static str = "provider_prefixes: {prefix: provider} (required)\n\
        normalize_msisdn: {country_code, strip_plus (false)}: normalise the address before matching";

    fn create(config: PrefixConfig, _ctx: Context) -> Result<Self, String> {
        let mut prefixes: Vec<(String, String)> = config.provider_prefixes.into_iter().collect();
        prefixes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Ok(Self {
            prefixes,
            normalize: config.normalize_msisdn,
        })
    }
}

impl AddressPrefixProvider {
    fn set(&self, msg: &mut Message, addr: Option<String>) {
        if msg.provider.is_some() {
            return;
        }
        let Some(addr) = addr else {
            warn!(
                "message {} has no address to find its provider by; left unset",
                msg.message_id
            );
            return;
        };
        let addr = match &self.normalize {
            Some(n) => normalize_msisdn(&addr, &n.country_code, n.strip_plus),
            None => addr,
        };
        if let Some((_, provider)) = self.prefixes.iter().find(|(p, _)| addr.starts_with(p.as_str())) {
            msg.provider = ROption::RSome(provider.as_str().into());
        }
    }
}

impl Middleware for AddressPrefixProvider {
    async fn handle_inbound(&self, mut msg: Message, _: &str, _: Direction) -> Result<Option<Message>, String> {
        let addr = msg.from_addr.as_ref().map(|a| a.to_string()).into_option();
        self.set(&mut msg, addr);
        Ok(Some(msg))
    }

    async fn handle_outbound(&self, mut msg: Message, _: &str, _: Direction) -> Result<Option<Message>, String> {
        let addr = msg.to_addr.as_ref().map(|a| a.to_string()).into_option();
        self.set(&mut msg, addr);
        Ok(Some(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_msisdn;

    #[test]
    fn normalizes_like_vumi() {
        assert_eq!(normalize_msisdn("0831234567", "27", false), "+27831234567");
        assert_eq!(normalize_msisdn("0027831234567", "27", false), "+27831234567");
        assert_eq!(normalize_msisdn("27831234567", "27", false), "+27831234567");
        assert_eq!(normalize_msisdn("+27 83 123-4567", "27", true), "27831234567");
        assert_eq!(normalize_msisdn("12345", "27", false), "12345");
    }
}
