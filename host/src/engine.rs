//! Runs a compiled plan: creates every component through its library, wires consumers to the
//! bus, starts them in order, and shuts them down cleanly.

use crate::bus::{Bus, Consumer, Failure, MemoryBus, Publisher};
use crate::compile::{Plan, Resolved};
use crate::config::StateSpec;
use crate::config::{BusSpec, ComponentSpec, MiddlewareSpec};
use crate::middleware::{Layer, Passed, Stack};
use crate::plugins::Catalogue;
use crate::services::Services;
use crate::state::{MemoryState, StateStore};
use abi_stable::std_types::{RArc, RString};
use ruvuma_plugin_api::abi::{ComponentBox, CreateArgs, Delivery, Direction, EndpointName, LogLevel};
use ruvuma_plugin_api::{Event, EventKind, Flow, Kind, Payload};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

/// How long a dispatcher remembers which application sent an outbound message, so that its
/// events find their way back.
const EVENT_MEMORY_MS: u64 = 24 * 3600 * 1000;

type Component = Arc<ComponentBox>;

struct Running {
    kind: Kind,
    name: String,
    instances: Vec<Component>,
}

/// A topology that is up.
pub struct Engine {
    pub bus: Arc<Bus>,
    pub state: Arc<StateStore>,
    /// In start order: applications, dispatchers, transports.
    started: Vec<Running>,
    consumers: Vec<JoinHandle<()>>,
}

/// One component instance to create.
struct Instance<'a> {
    library: usize,
    kind: Kind,
    component: &'a str,
    name: &'a str,
    endpoint: &'a str,
    config: &'a serde_json::Value,
}

fn create(cat: &Catalogue, what: Instance<'_>, services: Services) -> Result<Component, String> {
    let module = cat.libraries[what.library].module;
    let args = CreateArgs {
        kind: what.kind,
        component: what.component.into(),
        instance_name: what.name.into(),
        endpoint: what.endpoint.into(),
        config_json: what.config.to_string().into(),
        services: services.into_box(),
    };
    (module.create())(args)
        .into_result()
        .map(Arc::new)
        .map_err(|e| format!("{} {:?}: cannot create it: {e}", what.kind, what.name))
}

fn delivery(flow: Flow, endpoint: &EndpointName, payload: Payload, sender: Option<String>) -> Delivery {
    Delivery {
        direction: Direction::Consume,
        flow,
        endpoint: endpoint.clone(),
        payload,
        sender: sender.map(RString::from).into(),
    }
}

fn leak(name: &str) -> EndpointName {
    RArc::new(RString::from(name))
}

fn user_message_id(payload: &Payload) -> &str {
    match payload {
        Payload::Message(m) => &m.message_id,
        Payload::Event(e) => &e.user_message_id,
    }
}

/// Logs a failure and keeps it on `<name>.failures`, with the message or event it is about.
fn fail(bus: &Bus, name: &str, payload: Payload, reason: String) {
    let routing_key = format!("{name}.failures");
    error!(
        message_id = payload.message_id(),
        failures = routing_key.as_str(),
        "{name}: {reason}"
    );
    bus.record_failure(Failure {
        routing_key,
        payload,
        reason,
    });
}

fn nack(message_id: &str, transport_name: &str, reason: &str) -> Payload {
    Event::new(
        message_id,
        EventKind::Nack {
            nack_reason: reason.into(),
        },
        transport_name,
    )
    .into()
}

impl Engine {
    /// Opens the state store a config names.
    pub async fn open_state(spec: &StateSpec) -> Result<Arc<StateStore>, String> {
        Ok(Arc::new(match spec {
            StateSpec::Memory => StateStore::Memory(MemoryState::default()),
            StateSpec::Redis { url, key_prefix } => {
                StateStore::Redis(crate::redis_state::RedisState::connect(url, key_prefix).await?)
            }
        }))
    }

    /// Connects to the bus a config names.
    pub async fn open_bus(spec: &BusSpec) -> Result<Arc<Bus>, String> {
        Ok(Arc::new(match spec {
            BusSpec::Memory { capacity } => Bus::Memory(MemoryBus::new(*capacity)),
            BusSpec::Amqp {
                url,
                exchange,
                prefetch,
            } => Bus::Amqp(crate::amqp::AmqpBus::connect(url, exchange, *prefetch).await?),
        }))
    }

    /// Creates every component and its consumers; nothing takes input until [`Engine::start`].
    pub fn build(
        plan: &Plan,
        cat: &Catalogue,
        bus: Arc<Bus>,
        state: Arc<StateStore>,
        max_level: LogLevel,
    ) -> Result<Self, String> {
        if !plan.config.bus.is_shared()
            && (!plan.external_transports.is_empty() || !plan.external_applications.is_empty())
        {
            let names: Vec<&str> = plan
                .external_transports
                .iter()
                .chain(plan.external_applications.iter())
                .map(String::as_str)
                .collect();
            return Err(format!(
                "{} names endpoints it does not define ({}); the memory bus cannot reach other processes: \
                 define them in this file, or run on a shared bus (bus: amqp)",
                plan.config.path.display(),
                names.join(", ")
            ));
        }
        let mut engine = Engine {
            bus,
            state,
            started: Vec::new(),
            consumers: Vec::new(),
        };
        for app in &plan.applications {
            engine.build_application(cat, app, max_level)?;
        }
        for d in &plan.dispatchers {
            engine.build_dispatcher(cat, d, max_level)?;
        }
        for t in &plan.transports {
            engine.build_transport(cat, t, max_level)?;
        }
        Ok(engine)
    }

    fn services(
        &self,
        kind: Kind,
        name: &str,
        endpoint: &str,
        max_level: LogLevel,
        stack: Option<Arc<Stack>>,
    ) -> Services {
        let key = |flow: Flow| Some(self.bus.publisher(&format!("{endpoint}.{flow}")));
        let transport = kind == Kind::Transport;
        let application = kind == Kind::Application;
        Services {
            component: name.to_owned(),
            kind,
            connector: leak(endpoint),
            inbound: if transport { key(Flow::Inbound) } else { None },
            outbound: if application { key(Flow::Outbound) } else { None },
            // A transport publishes events; an application's own event queue takes the nacks of
            // outbound messages its middleware drops.
            event: if transport || application {
                key(Flow::Event)
            } else {
                None
            },
            status: transport.then(|| self.bus.publisher(&format!("{endpoint}.status"))),
            stack,
            state: self.state.clone(),
            state_scope: name.to_owned(),
            runtime: tokio::runtime::Handle::current(),
            max_level,
        }
    }

    /// Creates a component's middleware (one set per instance); they start before it and stop
    /// after it.
    fn stack<S>(
        &mut self,
        cat: &Catalogue,
        owner: &Resolved<S>,
        name: &str,
        endpoint: &str,
        max_level: LogLevel,
    ) -> Result<Option<Arc<Stack>>, String> {
        let mut layers = Vec::new();
        for m in &owner.middleware {
            let mw_name = format!("{name}.{}", m.spec.name);
            let services = self.services(Kind::Middleware, &mw_name, endpoint, max_level, None);
            let what = Instance {
                library: m.library,
                kind: Kind::Middleware,
                component: &m.component,
                name: &mw_name,
                endpoint,
                config: &m.spec.config,
            };
            let component = create(cat, what, services)?;
            self.started.push(Running {
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

    fn build_application(
        &mut self,
        cat: &Catalogue,
        app: &Resolved<ComponentSpec>,
        max_level: LogLevel,
    ) -> Result<(), String> {
        let spec = &app.spec;
        let mut instances = Vec::new();
        for _ in 0..spec.instances {
            let stack = self.stack(cat, app, &spec.name, &spec.endpoint, max_level)?;
            let mut services = self.services(Kind::Application, &spec.name, &spec.endpoint, max_level, stack.clone());
            services.state_scope = state_scope(spec);
            let c = create(
                cat,
                Instance {
                    library: app.library,
                    kind: Kind::Application,
                    component: &app.component,
                    name: &spec.name,
                    endpoint: &spec.endpoint,
                    config: &spec.config,
                },
                services,
            )?;
            for flow in [Flow::Inbound, Flow::Event] {
                for _ in 0..spec.concurrency {
                    let consumer = self.bus.consumer(&format!("{}.{flow}", spec.endpoint));
                    let task = consume_application(
                        self.bus.clone(),
                        c.clone(),
                        stack.clone(),
                        consumer,
                        flow,
                        spec.name.clone(),
                        leak(&spec.endpoint),
                    );
                    self.consumers.push(tokio::spawn(task));
                }
            }
            instances.push(c);
        }
        self.started.push(Running {
            kind: Kind::Application,
            name: spec.name.clone(),
            instances,
        });
        Ok(())
    }

    fn build_transport(
        &mut self,
        cat: &Catalogue,
        t: &Resolved<ComponentSpec>,
        max_level: LogLevel,
    ) -> Result<(), String> {
        let spec = &t.spec;
        let mut instances = Vec::new();
        for _ in 0..spec.instances {
            let stack = self.stack(cat, t, &spec.name, &spec.name, max_level)?;
            let mut services = self.services(Kind::Transport, &spec.name, &spec.name, max_level, stack.clone());
            services.state_scope = state_scope(spec);
            let c = create(
                cat,
                Instance {
                    library: t.library,
                    kind: Kind::Transport,
                    component: &t.component,
                    name: &spec.name,
                    endpoint: &spec.name,
                    config: &spec.config,
                },
                services,
            )?;
            for _ in 0..spec.concurrency {
                let consumer = self.bus.consumer(&format!("{}.outbound", spec.name));
                let events = self.bus.publisher(&format!("{}.event", spec.name));
                self.consumers.push(tokio::spawn(consume_transport(
                    self.bus.clone(),
                    c.clone(),
                    stack.clone(),
                    consumer,
                    events,
                    leak(&spec.name),
                )));
            }
            instances.push(c);
        }
        self.started.push(Running {
            kind: Kind::Transport,
            name: spec.name.clone(),
            instances,
        });
        Ok(())
    }

    fn build_dispatcher(
        &mut self,
        cat: &Catalogue,
        d: &Resolved<crate::config::DispatcherSpec>,
        max_level: LogLevel,
    ) -> Result<(), String> {
        let spec = &d.spec;
        let config = d.router_config();
        let mut instances = Vec::new();
        for _ in 0..spec.instances {
            let stack = self.stack(cat, d, &spec.name, &spec.name, max_level)?;
            let services = self.services(Kind::Router, &spec.name, &spec.name, max_level, None);
            let router = create(
                cat,
                Instance {
                    library: d.library,
                    kind: Kind::Router,
                    component: &d.component,
                    name: &spec.name,
                    endpoint: &spec.name,
                    config: &config,
                },
                services,
            )?;
            let ctx = Arc::new(DispatchContext {
                name: spec.name.clone(),
                router: router.clone(),
                bus: self.bus.clone(),
                state: self.state.clone(),
                apps: spec
                    .exposed_names
                    .iter()
                    .map(|e| {
                        let p = (
                            leak(e),
                            self.bus.publisher(&format!("{e}.inbound")),
                            self.bus.publisher(&format!("{e}.event")),
                        );
                        (e.clone(), p)
                    })
                    .collect(),
                transports: spec
                    .transport_names
                    .iter()
                    .map(|t| (t.clone(), (leak(t), self.bus.publisher(&format!("{t}.outbound")))))
                    .collect(),
                only_app: (spec.exposed_names.len() == 1).then(|| spec.exposed_names[0].clone()),
                stack,
            });
            let mut queues: Vec<(Flow, String)> = Vec::new();
            for t in &spec.transport_names {
                queues.push((Flow::Inbound, t.clone()));
                queues.push((Flow::Event, t.clone()));
            }
            for e in &spec.exposed_names {
                queues.push((Flow::Outbound, e.clone()));
            }
            for (flow, endpoint) in queues {
                for _ in 0..spec.concurrency {
                    let consumer = self.bus.consumer(&format!("{endpoint}.{flow}"));
                    self.consumers.push(tokio::spawn(consume_dispatcher(
                        ctx.clone(),
                        consumer,
                        flow,
                        leak(&endpoint),
                    )));
                }
            }
            instances.push(router);
        }
        self.started.push(Running {
            kind: Kind::Router,
            name: spec.name.clone(),
            instances,
        });
        Ok(())
    }

    /// Starts applications, then dispatchers, then transports (which begin taking input).
    pub async fn start(&self) -> Result<(), String> {
        for node in &self.started {
            for c in &node.instances {
                c.start()
                    .await
                    .into_result()
                    .map_err(|e| format!("{} {:?}: failed to start: {e}", node.kind, node.name))?;
            }
            debug!("{} {:?} started", node.kind, node.name);
        }
        // On a shared bus, consumers take nothing until every component here is up.
        self.bus.open();
        Ok(())
    }

    /// Stops taking input, waits (up to `timeout`) for everything in flight to be handled, then
    /// stops every component in reverse start order.
    pub async fn shutdown(self, timeout: Duration) {
        for node in self.started.iter().rev().filter(|n| n.kind == Kind::Transport) {
            for c in &node.instances {
                c.drain().await;
            }
            info!("transport {:?} takes no more input", node.name);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = self.bus.in_flight();
            if left <= 0 {
                break;
            }
            if Instant::now() >= deadline {
                warn!("shutdown timeout: {left} messages still in flight are abandoned");
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.bus.close();
        for task in self.consumers {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
        for node in self.started.iter().rev() {
            for c in &node.instances {
                c.stop().await;
            }
            info!("{} {:?} stopped", node.kind, node.name);
        }
    }
}

/// Passes a delivery through a component's consume stack, if it has one.
async fn through(stack: &Option<Arc<Stack>>, flow: Flow, connector: EndpointName, payload: Payload) -> Passed {
    match stack {
        Some(s) => s.consume(flow, &connector, payload).await,
        None => Passed::On(payload),
    }
}

async fn consume_application(
    bus: Arc<Bus>,
    app: Component,
    stack: Option<Arc<Stack>>,
    consumer: Consumer,
    flow: Flow,
    name: String,
    endpoint: EndpointName,
) {
    while let Some(payload) = consumer.recv().await {
        // A second handle on the same message (no copy), so a failure can keep it.
        let kept = payload.clone();
        match through(&stack, flow, endpoint.clone(), payload).await {
            Passed::On(payload) => {
                if let Err(reason) = app
                    .consume(delivery(flow, &endpoint, payload, None))
                    .await
                    .into_result()
                {
                    fail(
                        &bus,
                        &endpoint,
                        kept,
                        format!("application {name:?} failed on {endpoint}.{flow}: {reason}"),
                    );
                }
            }
            Passed::Dropped(reason) => info!(message_id = kept.message_id(), "{endpoint}.{flow}: {reason}"),
        }
        consumer.finished();
    }
}

async fn consume_transport(
    bus: Arc<Bus>,
    transport: Component,
    stack: Option<Arc<Stack>>,
    consumer: Consumer,
    events: Publisher,
    name: EndpointName,
) {
    while let Some(payload) = consumer.recv().await {
        let kept = payload.clone();
        let result = match through(&stack, Flow::Outbound, name.clone(), payload).await {
            Passed::On(payload) => transport
                .consume(delivery(Flow::Outbound, &name, payload, None))
                .await
                .into_result(),
            Passed::Dropped(reason) => Err(reason.into()),
        };
        if let Err(reason) = result {
            let id = kept.message_id();
            warn!(message_id = id, "transport {name:?} could not send: {reason}");
            if let Err(e) = events.publish(nack(id, &name, &reason)).await {
                fail(&bus, &name, kept, format!("nack not delivered: {e}"));
            }
        }
        consumer.finished();
    }
}

struct DispatchContext {
    name: String,
    router: Component,
    bus: Arc<Bus>,
    state: Arc<StateStore>,
    /// exposed name → (name, inbound, event publishers)
    apps: HashMap<String, (EndpointName, Publisher, Publisher)>,
    /// transport name → (name, outbound publisher)
    transports: HashMap<String, (EndpointName, Publisher)>,
    only_app: Option<String>,
    stack: Option<Arc<Stack>>,
}

impl DispatchContext {
    fn sender_key(&self, message_id: &str) -> String {
        format!("{}:sender:{message_id}", self.name)
    }

    async fn sender_of(&self, user_message_id: &str) -> Option<String> {
        if let Some(app) = &self.only_app {
            return Some(app.clone());
        }
        match self.state.get(&self.sender_key(user_message_id)).await {
            Ok(sender) => sender,
            Err(e) => {
                warn!(
                    message_id = user_message_id,
                    "dispatcher {:?}: cannot look up the sender: {e}", self.name
                );
                None
            }
        }
    }

    fn target(&self, flow: Flow, endpoint: &str) -> Result<(EndpointName, &Publisher), String> {
        match flow {
            Flow::Inbound => self.apps.get(endpoint).map(|p| (p.0.clone(), &p.1)),
            Flow::Event => self.apps.get(endpoint).map(|p| (p.0.clone(), &p.2)),
            Flow::Outbound => self.transports.get(endpoint).map(|p| (p.0.clone(), &p.1)),
        }
        .ok_or_else(|| {
            let list = if flow == Flow::Outbound {
                "transport_names"
            } else {
                "exposed_names"
            };
            format!("router sent {flow} to {endpoint:?}, which is not in the dispatcher's {list}")
        })
    }

    /// Nacks an outbound message back to the application it came from.
    async fn nack_to(&self, app: &str, kept: &Payload, reason: &str) {
        if let (Some((_, _, events)), Payload::Message(m)) = (self.apps.get(app), kept) {
            if let Err(e) = events.publish(nack(&m.message_id, &m.transport_name, reason)).await {
                warn!(
                    message_id = m.message_id.as_str(),
                    "dispatcher {:?}: nack not delivered: {e}", self.name
                );
            }
        }
    }

    /// Routes one delivery. What cannot be routed goes to `<dispatcher>.failures`, and an
    /// outbound message is nacked back to its application.
    async fn dispatch(&self, flow: Flow, from: EndpointName, payload: Payload) {
        let kept = payload.clone();
        let id = user_message_id(&kept);
        let sender = match flow {
            Flow::Event => self.sender_of(id).await,
            Flow::Outbound => {
                if self.only_app.is_none() {
                    if let Err(e) = self.state.set(&self.sender_key(id), &from, EVENT_MEMORY_MS).await {
                        warn!(
                            message_id = id,
                            "dispatcher {:?}: cannot remember sender: {e}", self.name
                        );
                    }
                }
                None
            }
            Flow::Inbound => None,
        };
        let payload = match through(&self.stack, flow, from.clone(), payload).await {
            Passed::On(payload) => payload,
            Passed::Dropped(reason) => {
                info!(
                    message_id = id,
                    "dispatcher {:?}: {flow} from {from:?} {reason}", self.name
                );
                if flow == Flow::Outbound {
                    self.nack_to(&from, &kept, &reason).await;
                }
                return;
            }
        };
        let result = match self
            .router
            .consume(delivery(flow, &from, payload, sender))
            .await
            .into_result()
        {
            // A router may discard an event on purpose (transports take none); a message must go
            // somewhere, or fail.
            Ok(routed) if routed.is_empty() && flow == Flow::Event => {
                debug!(
                    message_id = id,
                    "dispatcher {:?}: router discarded the event", self.name
                );
                Ok(())
            }
            Ok(routed) if routed.is_empty() => Err("the router found no destination".to_owned()),
            Ok(routed) => {
                let mut problems = Vec::new();
                for r in routed {
                    let sent = match self.target(r.flow, &r.endpoint) {
                        Ok((name, p)) => match &self.stack {
                            Some(stack) => match stack.publish(r.flow, &name, r.payload).await {
                                Passed::On(payload) => p.publish(payload).await,
                                Passed::Dropped(reason) => Err(reason),
                            },
                            None => p.publish(r.payload).await,
                        },
                        Err(e) => Err(e),
                    };
                    if let Err(e) = sent {
                        problems.push(e);
                    }
                }
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(problems.join("; "))
                }
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(reason) = result {
            let what = if flow == Flow::Event {
                "event about message"
            } else {
                "message"
            };
            let reason = format!("{flow} {what} {id} from {from:?} not routed: {reason}");
            if flow == Flow::Outbound {
                self.nack_to(&from, &kept, &reason).await;
            }
            fail(&self.bus, &self.name, kept, reason);
        }
    }
}

async fn consume_dispatcher(ctx: Arc<DispatchContext>, consumer: Consumer, flow: Flow, endpoint: EndpointName) {
    while let Some(payload) = consumer.recv().await {
        ctx.dispatch(flow, endpoint.clone(), payload).await;
        consumer.finished();
    }
}

fn state_scope(spec: &ComponentSpec) -> String {
    spec.state_namespace.clone().unwrap_or_else(|| spec.name.clone())
}
