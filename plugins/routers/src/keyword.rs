//! Vumi's `ContentKeywordRouter`: an inbound message goes to every application whose rule
//! matches its first word (case-insensitive), optionally only for a `to_addr` and a `from_addr`
//! prefix; a message no rule takes, empty ones included, goes to `fallback_application`.
//! Outbound messages go to the transport `transport_mappings` gives their `from_addr` (else the
//! transport they name); the router remembers who sent each for `expire_routing_memory` seconds,
//! so that its events find their way back.

use crate::common::NameMap;
use crate::common::{key, Endpoints};
use ruvuma_plugin_api::prelude::*;
use serde::de::{self, Deserializer};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub app: String,
    pub keyword: String,
    #[serde(default)]
    pub to_addr: Option<String>,
    #[serde(default)]
    pub prefix: Option<String>,
}

/// Seconds, as a number or as text (Vumi configs have both).
fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrText {
        Num(u64),
        Text(String),
    }
    match NumOrText::deserialize(d) {
        Ok(NumOrText::Num(n)) => Ok(n),
        Ok(NumOrText::Text(t)) => t
            .trim()
            .parse()
            .map_err(|_| de::Error::custom(format!("{t:?} is not a number of seconds"))),
        Err(_) => Err(de::Error::custom("expected a number of seconds")),
    }
}

fn week() -> u64 {
    7 * 24 * 3600
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub transport_names: Vec<String>,
    pub exposed_names: Vec<String>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// application endpoint → keyword (rules of their own, after `rules`)
    #[serde(default)]
    pub keyword_mappings: BTreeMap<String, String>,
    #[serde(default)]
    pub fallback_application: Option<String>,
    /// from_addr of outbound messages → transport
    #[serde(default)]
    pub transport_mappings: BTreeMap<String, String>,
    #[serde(default = "week", deserialize_with = "seconds")]
    pub expire_routing_memory: u64,
    /// Inherited from Vumi's SimpleDispatchRouter: accepted, and not used by this router (as in
    /// Vumi, which routes inbound messages by its own rules).
    #[serde(default)]
    pub route_mappings: Option<serde_json::Value>,
    /// Accepted for Vumi configs; the state store already keeps each dispatcher's keys apart.
    #[serde(default)]
    pub dispatcher_name: Option<String>,
    /// Accepted for Vumi configs; the host's state store is configured with `state:`.
    #[serde(default)]
    pub redis_manager: Option<serde_json::Value>,
}

pub struct ContentKeywordRouter {
    ctx: Context,
    rules: Vec<Rule>,
    fallback: Option<String>,
    transport_mappings: NameMap<String>,
    transports: Vec<String>,
    memory: Duration,
    /// With one application there is nothing to remember: every event goes to it.
    only_app: Option<String>,
}

impl Component for ContentKeywordRouter {
    type Config = Config;
    const NAME: &'static str = "content_keyword";
    const ALIASES: &'static [&'static str] = &["vumi.dispatchers.ContentKeywordRouter", "ContentKeywordRouter"];
    const DESCRIPTION: &'static str =
        "Routes inbound messages by their first word; a fallback application takes the rest.";
    const CONFIG_DOC: &'static str = "rules: [{app, keyword, to_addr?, prefix?}] (each match gets a copy)\n\
        keyword_mappings: {app_endpoint: keyword} (more rules, after `rules`)\n\
        fallback_application: app_endpoint for messages no rule takes (none: they fail)\n\
        transport_mappings: {from_addr: transport_name} for outbound (else the message's transport_name)\n\
        expire_routing_memory: seconds to remember who sent an outbound message (604800)";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let endpoints = Endpoints {
            transport_names: &config.transport_names,
            exposed_names: &config.exposed_names,
        };
        if config.rules.is_empty() && config.keyword_mappings.is_empty() && config.fallback_application.is_none() {
            problems.push(ConfigProblem::whole(
                "keys \"rules\", \"keyword_mappings\", \"fallback_application\": none is given, so nothing can be routed",
            ));
        }
        for (i, rule) in config.rules.iter().enumerate() {
            endpoints.check_exposed(&format!("rules.{i}.app"), [&rule.app], &mut problems);
            if rule.keyword.trim().is_empty() {
                problems.push(ConfigProblem::at(&format!("rules.{i}.keyword"), "must not be empty"));
            }
        }
        endpoints.check_exposed("keyword_mappings", config.keyword_mappings.keys(), &mut problems);
        endpoints.check_exposed(
            "fallback_application",
            config.fallback_application.iter(),
            &mut problems,
        );
        endpoints.check_transports("transport_mappings", config.transport_mappings.values(), &mut problems);
        if config.expire_routing_memory == 0 {
            problems.push(ConfigProblem::at("expire_routing_memory", "must be at least 1 second"));
        }
        problems
    }

    fn create(config: Config, ctx: Context) -> Result<Self, String> {
        let mut rules: Vec<Rule> = config.rules;
        rules.extend(config.keyword_mappings.into_iter().map(|(app, keyword)| Rule {
            app,
            keyword,
            to_addr: None,
            prefix: None,
        }));
        for rule in &mut rules {
            rule.keyword = rule.keyword.to_lowercase();
        }
        Ok(Self {
            ctx,
            rules,
            fallback: config.fallback_application,
            transport_mappings: config.transport_mappings.into_iter().collect(),
            transports: config.transport_names,
            memory: Duration::from_secs(config.expire_routing_memory),
            only_app: (config.exposed_names.len() == 1).then(|| config.exposed_names[0].clone()),
        })
    }
}

impl ContentKeywordRouter {
    /// Rule keywords are lower-case already; the message's word is compared without case.
    fn matches(rule: &Rule, keyword: &str, msg: &Message) -> bool {
        let same = if keyword.is_ascii() {
            rule.keyword.eq_ignore_ascii_case(keyword)
        } else {
            rule.keyword == keyword.to_lowercase()
        };
        same && rule.to_addr.as_deref().is_none_or(|to| to == msg.to_addr())
            && rule.prefix.as_deref().is_none_or(|p| msg.from_addr().starts_with(p))
    }
}

impl Router for ContentKeywordRouter {
    async fn dispatch_inbound(&self, msg: Message, _from: &str) -> Result<Vec<Routed>, String> {
        let keyword = msg.content().and_then(|c| c.split_whitespace().next()).unwrap_or("");
        let out: Vec<Routed> = if keyword.is_empty() {
            Vec::new()
        } else {
            self.rules
                .iter()
                .filter(|r| Self::matches(r, keyword, &msg))
                .map(|r| Routed::inbound(&r.app, msg.clone()))
                .collect()
        };
        if !out.is_empty() {
            return Ok(out);
        }
        match &self.fallback {
            Some(app) => Ok(vec![Routed::inbound(app, msg)]),
            None => Err(format!(
                "no rule takes keyword {keyword:?} and there is no fallback_application"
            )),
        }
    }

    async fn dispatch_outbound(&self, msg: Message, from: &str) -> Result<Vec<Routed>, String> {
        let transport = match self.transport_mappings.get(msg.from_addr()) {
            Some(t) => t.clone(),
            None if self.transports.iter().any(|t| *t == *msg.transport_name) => msg.transport_name.to_string(),
            None => {
                return Err(format!(
                "transport_mappings has no transport for from_addr {:?}, and transport_name {:?} is not a transport",
                msg.from_addr(),
                msg.transport_name
            ))
            }
        };
        if self.only_app.is_none() {
            self.ctx
                .state()
                .set(&key(&["message", &msg.message_id]), from, self.memory)
                .await?;
        }
        Ok(vec![Routed::outbound(&transport, msg)])
    }

    async fn dispatch_event(&self, event: Event, _from: &str, sender: Option<&str>) -> Result<Vec<Routed>, String> {
        let remembered = match &self.only_app {
            Some(app) => Some(app.clone()),
            None => self.ctx.state().get(&key(&["message", &event.user_message_id])).await?,
        };
        match remembered.as_deref().or(sender) {
            Some(app) => Ok(vec![Routed::event(app, event)]),
            None => Err(format!(
                "no route back for message {}: it was not sent through this dispatcher in the last {} s",
                event.user_message_id,
                self.memory.as_secs()
            )),
        }
    }
}
