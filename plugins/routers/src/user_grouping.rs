//! Vumi's `UserGroupingRouter`, for A/B tests: each new user (`from_addr`) is given the next group
//! in sorted group order, round robin (group1, group2, group1, ...), and keeps it; their messages
//! go to the application `group_mappings` names for that group. Assignments live in the state
//! store, so they hold across instances (and processes, on a shared store), and expire after
//! `user_ttl` seconds of the user's silence.

use crate::common::NameMap;
use crate::common::{key, outbound_by_name, to_map, Endpoints};
use ruvuma_plugin_api::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

fn default_user_ttl() -> u64 {
    30 * 24 * 3600
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub transport_names: Vec<String>,
    pub exposed_names: Vec<String>,
    /// group name → application endpoint
    pub group_mappings: BTreeMap<String, String>,
    #[serde(default)]
    pub transport_mappings: BTreeMap<String, String>,
    /// Seconds a user's group is remembered after their last message (30 days).
    #[serde(default = "default_user_ttl")]
    pub user_ttl: u64,
    /// Inherited from Vumi's SimpleDispatchRouter: accepted, and not used by this router (as in
    /// Vumi, which routes inbound messages by its own rules).
    #[serde(default)]
    pub route_mappings: Option<serde_json::Value>,
    /// Accepted for Vumi configs (the key prefix); the state store already keeps each
    /// dispatcher's keys apart.
    #[serde(default)]
    pub dispatcher_name: Option<String>,
}

pub struct UserGroupingRouter {
    ctx: Context,
    /// In sorted group order.
    groups: Vec<(String, String)>,
    transport_mappings: NameMap<String>,
    ttl: Duration,
}

impl Component for UserGroupingRouter {
    type Config = Config;
    const NAME: &'static str = "user_grouping";
    const ALIASES: &'static [&'static str] = &["vumi.dispatchers.UserGroupingRouter", "UserGroupingRouter"];
    const DESCRIPTION: &'static str = "Assigns each user to a group round robin, sticky; routes by group (A/B tests).";
    const CONFIG_DOC: &'static str = "group_mappings: {group: app_endpoint} (required)\n\
        user_ttl: seconds a user's group is kept after their last message (2592000)\n\
        transport_mappings: {transport_name: transport_name} for outbound (default: none)";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if config.group_mappings.is_empty() {
            problems.push(ConfigProblem::at("group_mappings", "needs at least one group"));
        }
        if config.user_ttl == 0 {
            problems.push(ConfigProblem::at("user_ttl", "must be at least 1 second"));
        }
        let endpoints = Endpoints {
            transport_names: &config.transport_names,
            exposed_names: &config.exposed_names,
        };
        endpoints.check_exposed("group_mappings", config.group_mappings.values(), &mut problems);
        endpoints.check_transports("transport_mappings", config.transport_mappings.values(), &mut problems);
        problems
    }

    fn create(config: Config, ctx: Context) -> Result<Self, String> {
        Ok(Self {
            ctx,
            groups: config.group_mappings.into_iter().collect(),
            transport_mappings: to_map(config.transport_mappings),
            ttl: Duration::from_secs(config.user_ttl),
        })
    }
}

impl UserGroupingRouter {
    async fn group_for(&self, user: &str) -> Result<usize, String> {
        let state = self.ctx.state();
        let user_key = key(&["user", user]);
        if let Some(group) = state.get(&user_key).await? {
            if let Some(i) = self.groups.iter().position(|(g, _)| *g == group) {
                state.set(&user_key, &group, self.ttl).await?;
                return Ok(i);
            }
        }
        let n = state.incr("round-robin", 1, self.ttl).await? - 1;
        let i = n.rem_euclid(self.groups.len() as i64) as usize;
        state.set(&user_key, &self.groups[i].0, self.ttl).await?;
        Ok(i)
    }
}

impl Router for UserGroupingRouter {
    async fn dispatch_inbound(&self, msg: Message, _from: &str) -> Result<Vec<Routed>, String> {
        let i = self.group_for(msg.from_addr()).await?;
        Ok(vec![Routed::inbound(&self.groups[i].1, msg)])
    }

    async fn dispatch_outbound(&self, msg: Message, from: &str) -> Result<Vec<Routed>, String> {
        outbound_by_name(msg, from, &self.transport_mappings)
    }
}
