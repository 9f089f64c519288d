//! Vumi's `LoadBalancingRouter`: several transports, one application. Outbound messages are
//! spread over the transports round robin; with `reply_affinity` a reply goes out through the
//! transport its question came in on (remembered in `helper_metadata.load_balancer`). With
//! `rewrite_transport_names` the application sees the exposed name as `transport_name`.

use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::tracing::warn;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub transport_names: Vec<String>,
    pub exposed_names: Vec<String>,
    #[serde(default = "yes")]
    pub reply_affinity: bool,
    #[serde(default = "yes")]
    pub rewrite_transport_names: bool,
}

pub struct LoadBalancingRouter {
    exposed: String,
    transports: Vec<String>,
    next: AtomicUsize,
    affinity: bool,
    rewrite: bool,
}

const META: &str = "load_balancer";

impl Component for LoadBalancingRouter {
    type Config = Config;
    const NAME: &'static str = "load_balancing";
    const ALIASES: &'static [&'static str] = &[
        "vumi.dispatchers.LoadBalancingRouter",
        "vumi.dispatchers.load_balancer.LoadBalancingRouter",
        "LoadBalancingRouter",
    ];
    const DESCRIPTION: &'static str = "Spreads one application's outbound messages over several transports.";
    const CONFIG_DOC: &'static str = "reply_affinity: replies leave through the transport the question came in on (true)\n\
        rewrite_transport_names: the application sees the exposed name as transport_name (true); exactly one exposed name";

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
        if config.transport_names.is_empty() {
            problems.push(ConfigProblem::at("transport_names", "needs at least one transport"));
        }
        problems
    }

    fn create(config: Config, _ctx: Context) -> Result<Self, String> {
        Ok(Self {
            exposed: config.exposed_names.first().cloned().ok_or("no exposed name")?,
            transports: config.transport_names,
            next: AtomicUsize::new(0),
            affinity: config.reply_affinity,
            rewrite: config.rewrite_transport_names,
        })
    }
}

impl LoadBalancingRouter {
    fn round_robin(&self) -> &str {
        &self.transports[self.next.fetch_add(1, Ordering::Relaxed) % self.transports.len()]
    }

    /// Pops the transport a reply's question came in on; an emptied stack is removed.
    fn pop_origin(msg: &mut Message) -> Option<String> {
        if !msg.helper_metadata.as_str().contains(META) {
            return None;
        }
        msg.helper_metadata.update(|map| {
            let stack = map.get_mut(META)?.get_mut("transport_names")?.as_array_mut()?;
            let origin = stack.pop()?.as_str().map(str::to_owned);
            if stack.is_empty() {
                map.remove(META);
            }
            origin
        })
    }
}

impl Router for LoadBalancingRouter {
    async fn dispatch_inbound(&self, mut msg: Message, from: &str) -> Result<Vec<Routed>, String> {
        // With one transport every reply leaves through it: there is nothing to remember.
        if self.affinity && self.transports.len() > 1 {
            let origin = if msg.transport_name.is_empty() {
                from.to_owned()
            } else {
                msg.transport_name.to_string()
            };
            msg.helper_metadata.update(|map| {
                let meta = map.entry(META).or_insert_with(|| json!({}));
                if !meta.is_object() {
                    *meta = json!({});
                }
                match meta.get_mut("transport_names").and_then(Value::as_array_mut) {
                    Some(stack) => stack.push(origin.into()),
                    None => meta["transport_names"] = json!([origin]),
                }
            });
        }
        if self.rewrite {
            msg.transport_name = self.exposed.as_str().into();
        }
        Ok(vec![Routed::inbound(&self.exposed, msg)])
    }

    async fn dispatch_outbound(&self, mut msg: Message, _from: &str) -> Result<Vec<Routed>, String> {
        let mut chosen = None;
        if self.affinity && self.transports.len() > 1 && msg.in_reply_to.is_some() {
            match Self::pop_origin(&mut msg) {
                Some(t) if self.transports.contains(&t) => chosen = Some(t),
                other => warn!(
                    "reply {} names no known origin transport ({other:?}); using round robin",
                    msg.message_id
                ),
            }
        }
        let transport = chosen.unwrap_or_else(|| self.round_robin().to_owned());
        if self.rewrite {
            msg.transport_name = transport.as_str().into();
        }
        Ok(vec![Routed::outbound(&transport, msg)])
    }

    async fn dispatch_event(
        &self,
        mut event: Event,
        _from: &str,
        _sender: Option<&str>,
    ) -> Result<Vec<Routed>, String> {
        if self.rewrite {
            event.transport_name = self.exposed.as_str().into();
        }
        Ok(vec![Routed::event(&self.exposed, event)])
    }
}
