//! Building a topology from a plan: each component created through its library with the
//! services it is granted, its middleware stack, and its consume loops.

mod routed;

use super::consume::{consume_application, consume_transport, Loop};
use super::middleware::{Layer, Stack};
use super::retry::Retrier;
use super::services::{Grants, Services};
use super::{Component, Key, Node, Topology, TopologyError, Unit};
use crate::bus::{Bus, Consumer};
use crate::compile::{Plan, Resolved};
use crate::config::{ComponentSpec, MiddlewareSpec, RetrySpec};
use crate::events::{Meter, Tally};
use crate::plugins::Catalogue;
use crate::state::StateStore;
use crate::store::Store;
use abi_stable::std_types::{RArc, RString};
use ruvuma_plugin_api::abi::{CreateArgs, EndpointName, LogLevel};
use ruvuma_plugin_api::{Flow, Kind};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::watch;

/// One component instance to create.
struct Instance<'a> {
    library: usize,
    kind: Kind,
    component: &'a str,
    name: &'a str,
    endpoint: &'a str,
    config: &'a serde_json::Value,
}

struct Builder<'a> {
    cat: &'a Catalogue,
    bus: Arc<Bus>,
    state: Arc<StateStore>,
    store: Option<Arc<Store>>,
    max_level: LogLevel,
    nodes: Vec<Node>,
    consumers: Vec<tokio::task::JoinHandle<()>>,
    /// The unit being built's stop signal and retry schedule.
    stop: watch::Sender<bool>,
    retrier: Option<Arc<Retrier>>,
    /// Retry schedules of the running transports: kept when a policy does not change.
    running_retriers: &'a HashMap<String, Arc<Retrier>>,
    units: Vec<Unit>,
}

/// What every component of a topology is given: the bus, the stores, the log level.
#[derive(Clone)]
pub struct Parts {
    pub bus: Arc<Bus>,
    pub state: Arc<StateStore>,
    pub store: Option<Arc<Store>>,
    pub max_level: LogLevel,
}

/// Units built before one failed: they never started, and are let go.
pub(super) struct Unbuilt {
    pub error: TopologyError,
    pub built: Vec<Unit>,
}

/// Builds the units of `plan` that `only` names (all, without it), in start order.
pub(super) fn build_units(
    parts: &Parts,
    plan: &Plan,
    cat: &Catalogue,
    only: Option<&BTreeSet<Key>>,
    running_retriers: &HashMap<String, Arc<Retrier>>,
) -> Result<Vec<Unit>, Unbuilt> {
    let mut b = Builder {
        cat,
        bus: parts.bus.clone(),
        state: parts.state.clone(),
        store: parts.store.clone(),
        max_level: parts.max_level,
        nodes: Vec::new(),
        consumers: Vec::new(),
        stop: watch::channel(false).0,
        retrier: None,
        running_retriers,
        units: Vec::new(),
    };
    let wanted = |kind: Kind, name: &str| only.is_none_or(|o| o.contains(&(kind, name.to_owned())));
    let built = (|| {
        for o in plan.observers.iter().filter(|o| wanted(Kind::Observer, &o.spec.name)) {
            b.unit(Kind::Observer, &o.spec.name, |b| b.observer(o))?;
        }
        for a in plan
            .applications
            .iter()
            .filter(|a| wanted(Kind::Application, &a.spec.name))
        {
            b.unit(Kind::Application, &a.spec.name, |b| b.application(a))?;
        }
        for d in plan.dispatchers.iter().filter(|d| wanted(Kind::Router, &d.spec.name)) {
            b.unit(Kind::Router, &d.spec.name, |b| b.dispatcher(d))?;
        }
        for t in plan.transports.iter().filter(|t| wanted(Kind::Transport, &t.spec.name)) {
            b.unit(Kind::Transport, &t.spec.name, |b| b.transport(t))?;
        }
        Ok(())
    })();
    match built {
        Ok(()) => Ok(b.units),
        Err(error) => {
            // What the failed unit had made so far goes too.
            b.stop.send_replace(true);
            Err(Unbuilt { error, built: b.units })
        }
    }
}

impl Topology {
    /// Creates every component and its consumers; nothing takes input until [`Topology::start`].
    pub fn build(plan: &Plan, cat: &Catalogue, parts: Parts) -> Result<Self, TopologyError> {
        let external = plan.external_endpoints();
        if !parts.bus.is_shared() && !external.is_empty() {
            return Err(TopologyError::ExternalOnMemory {
                path: plan.config.path.display().to_string(),
                names: external.join(", "),
            });
        }
        let units = build_units(&parts, plan, cat, None, &HashMap::new()).map_err(|u| u.error)?;
        Ok(Topology { parts, units })
    }
}

fn state_scope(spec: &ComponentSpec) -> String {
    spec.state_namespace.clone().unwrap_or_else(|| spec.name.clone())
}

impl Builder<'_> {
    /// Builds one unit: what `f` creates, with a stop signal of its own.
    fn unit(
        &mut self,
        kind: Kind,
        name: &str,
        f: impl FnOnce(&mut Self) -> Result<(), TopologyError>,
    ) -> Result<(), TopologyError> {
        self.stop = watch::channel(false).0;
        self.retrier = None;
        let (nodes, tasks) = (self.nodes.len(), self.consumers.len());
        f(self)?;
        self.units.push(Unit {
            kind,
            name: name.to_owned(),
            nodes: self.nodes.split_off(nodes),
            tasks: self.consumers.split_off(tasks),
            stop: self.stop.clone(),
            retrier: self.retrier.take(),
        });
        Ok(())
    }

    /// `loops` consumers of `key` for one instance, that end when the unit being built stops.
    fn consumers(&self, key: &str, loops: usize) -> Vec<Consumer> {
        self.until_stopped(self.bus.consumers(key, loops))
    }

    fn until_stopped(&self, consumers: Vec<Consumer>) -> Vec<Consumer> {
        consumers.into_iter().map(|c| c.until(self.stop.subscribe())).collect()
    }

    /// A transport's retry schedule: the running one while its policy is the same.
    fn retrier_for(&mut self, name: &str, policy: &RetrySpec) -> Arc<Retrier> {
        let retrier = match self.running_retriers.get(name) {
            Some(r) if r.spec() == policy => r.clone(),
            _ => Retrier::start(name, policy.clone(), self.bus.clone(), self.store.clone()),
        };
        self.retrier = Some(retrier.clone());
        retrier
    }

    /// An endpoint name for one consume loop or component: each has its own, so that no two
    /// threads share its reference count.
    fn name(&self, name: &str) -> EndpointName {
        RArc::new(RString::from(name))
    }

    fn meter(&self, kind: Kind, name: &str) -> Arc<Meter> {
        self.bus.events().metrics.meter(kind, name)
    }

    fn grants(&mut self, kind: Kind, name: &str, endpoint: &str, stack: Option<Arc<Stack>>) -> Grants {
        let connector = self.name(endpoint);
        let meter = self.meter(kind, name);
        let events = self.bus.events().clone();
        let key = |flow: Flow, tally: Tally| {
            let publisher = self.bus.publisher(&format!("{endpoint}.{flow}"));
            Some(publisher.metered(meter.clone(), tally, Some(&events)))
        };
        let transport = kind == Kind::Transport;
        let application = kind == Kind::Application;
        Grants {
            component: name.to_owned(),
            kind,
            connector,
            inbound: if transport { key(Flow::Inbound, Tally::In) } else { None },
            outbound: if application {
                key(Flow::Outbound, Tally::Out)
            } else {
                None
            },
            // A transport publishes events; an application's own event queue takes the nacks of
            // outbound messages its middleware drops.
            event: match kind {
                Kind::Transport => key(Flow::Event, Tally::Events),
                Kind::Application => Some(self.bus.publisher(&format!("{endpoint}.event"))),
                _ => None,
            },
            status: transport.then(|| self.bus.publisher(&format!("{endpoint}.status"))),
            stack,
            state: self.state.clone(),
            state_scope: name.to_owned(),
            runtime: tokio::runtime::Handle::current(),
            max_level: self.max_level,
            bus: self.bus.clone(),
            store: self.store.clone(),
            meter,
            retry: None,
        }
    }

    fn create(&self, what: Instance<'_>, grants: Grants) -> Result<Component, TopologyError> {
        let module = self.cat.libraries[what.library].module;
        let args = CreateArgs {
            kind: what.kind,
            component: what.component.into(),
            instance_name: what.name.into(),
            endpoint: what.endpoint.into(),
            config_json: what.config.to_string().into(),
            services: Services::new(grants).into_box(),
        };
        (module.create())(args)
            .into_result()
            .map(Arc::new)
            .map_err(|e| TopologyError::Create {
                kind: what.kind,
                name: what.name.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Creates a component's middleware (one set per instance); they start before it and stop
    /// after it.
    fn stack<S>(
        &mut self,
        owner: &Resolved<S>,
        name: &str,
        endpoint: &str,
    ) -> Result<Option<Arc<Stack>>, TopologyError> {
        let mut layers = Vec::new();
        for m in &owner.middleware {
            let mw_name = format!("{name}.{}", m.spec.name);
            let grants = self.grants(Kind::Middleware, &mw_name, endpoint, None);
            let what = Instance {
                library: m.library,
                kind: Kind::Middleware,
                component: &m.component,
                name: &mw_name,
                endpoint,
                config: &m.spec.config,
            };
            let component = self.create(what, grants)?;
            self.nodes.push(Node {
                kind: Kind::Middleware,
                name: mw_name,
                instances: vec![component.clone()],
            });
            layers.push(Layer {
                name: m.spec.name.clone(),
                component,
            });
        }
        let specs: Vec<MiddlewareSpec> = owner.middleware.iter().map(|m| m.spec.clone()).collect();
        Ok(Stack::new(&specs, layers))
    }

    /// Creates one instance of a transport or application with its stack.
    fn instance(
        &mut self,
        kind: Kind,
        r: &Resolved<ComponentSpec>,
        retry: Option<Arc<Retrier>>,
        reply_queue: Option<&str>,
    ) -> Result<(Component, Option<Arc<Stack>>), TopologyError> {
        let spec = &r.spec;
        let stack = self.stack(r, &spec.name, &spec.endpoint)?;
        let mut grants = self.grants(kind, &spec.name, &spec.endpoint, stack.clone());
        grants.retry = retry;
        if let Some(queue) = reply_queue {
            grants.inbound = grants.inbound.map(|p| p.stamping(queue));
        }
        grants.state_scope = state_scope(spec);
        let what = Instance {
            library: r.library,
            kind,
            component: &r.component,
            name: &spec.name,
            endpoint: &spec.endpoint,
            config: &spec.config,
        };
        Ok((self.create(what, grants)?, stack))
    }

    fn application(&mut self, app: &Resolved<ComponentSpec>) -> Result<(), TopologyError> {
        let spec = &app.spec;
        let mut instances = Vec::new();
        for _ in 0..spec.instances {
            let (c, stack) = self.instance(Kind::Application, app, None, None)?;
            let meter = self.meter(Kind::Application, &spec.name);
            for flow in [Flow::Inbound, Flow::Event] {
                for mut consumer in self.consumers(&format!("{}.{flow}", spec.endpoint), spec.concurrency) {
                    if flow == Flow::Inbound {
                        consumer = consumer.metered(meter.clone(), Tally::In);
                    }
                    let lp = Loop {
                        bus: self.bus.clone(),
                        component: c.clone(),
                        stack: stack.clone(),
                        endpoint: self.name(&spec.endpoint),
                        name: spec.name.clone(),
                        retry: None,
                    };
                    self.consumers
                        .push(tokio::spawn(consume_application(lp, consumer, flow)));
                }
            }
            instances.push(c);
        }
        self.nodes.push(Node {
            kind: Kind::Application,
            name: spec.name.clone(),
            instances,
        });
        Ok(())
    }

    /// One of a transport instance's consume loops, on its shared queue or its reply queue.
    fn transport_loop(&mut self, spec: &ComponentSpec, lp: Loop, consumer: Consumer) {
        let meter = self.meter(Kind::Transport, &spec.name);
        let consumer = consumer.metered(meter.clone(), Tally::Out);
        let events = self.bus.publisher(&format!("{}.event", spec.name));
        let events = events.metered(meter, Tally::Events, Some(self.bus.events()));
        self.consumers
            .push(tokio::spawn(consume_transport(lp, consumer, events)));
    }

    fn transport(&mut self, t: &Resolved<ComponentSpec>) -> Result<(), TopologyError> {
        let spec = &t.spec;
        let retry = spec.retry.as_ref().map(|policy| self.retrier_for(&spec.name, policy));
        let mut instances = Vec::new();
        for _ in 0..spec.instances {
            // On a shared bus, replies to what this instance publishes come back to it.
            let reply_queue = self.bus.reply_queue(&spec.name);
            let (c, stack) = self.instance(Kind::Transport, t, retry.clone(), reply_queue.as_deref())?;
            let lp = Loop {
                bus: self.bus.clone(),
                component: c.clone(),
                stack,
                endpoint: self.name(&spec.name),
                name: spec.name.clone(),
                retry: retry.clone(),
            };
            let mut consumers = self.consumers(&format!("{}.outbound", spec.name), spec.concurrency);
            if let Some(q) = &reply_queue {
                let replies = self.bus.reply_consumers(q, &spec.name, spec.concurrency);
                consumers.extend(self.until_stopped(replies));
            }
            for consumer in consumers {
                self.transport_loop(spec, lp.clone(), consumer);
            }
            instances.push(c);
        }
        self.nodes.push(Node {
            kind: Kind::Transport,
            name: spec.name.clone(),
            instances,
        });
        Ok(())
    }
}
