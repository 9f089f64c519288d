//! A dispatcher: consumes `.inbound` and `.event` of its transports and `.outbound` of its
//! exposed endpoints, asks its router where each goes, and publishes there. Events go back to
//! the application that sent the message; what cannot be routed goes to
//! `<dispatcher>.failures`, and an outbound message is nacked back to its application.

use super::consume::{delivery, fail, nack, through, At};
use super::middleware::{Passed, Stack};
use super::Component;
use crate::bus::{Bus, Consumer, Handler, Publisher};
use crate::config::DispatcherSpec;
use crate::state::StateStore;
use rustc_hash::FxHashMap;
use ruvuma_plugin_api::abi::{EndpointName, Routed};
use ruvuma_plugin_api::room::Room;
use ruvuma_plugin_api::{Flow, Payload};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tracing::{debug, info, warn};

/// How long a dispatcher remembers which application sent an outbound message, so that its
/// events find their way back.
const EVENT_MEMORY_MS: u64 = 24 * 3600 * 1000;

/// Where an exposed application endpoint is reached.
pub(super) struct AppRoute {
    pub name: EndpointName,
    pub inbound: Publisher,
    pub event: Publisher,
}

/// Where a transport is reached.
pub(super) struct TransportRoute {
    pub name: EndpointName,
    pub outbound: Publisher,
}

pub(super) struct Dispatcher {
    name: String,
    router: Component,
    bus: Arc<Bus>,
    state: Arc<StateStore>,
    /// By exposed name (FxHash: the keys are the config's endpoint names, and one lookup is on
    /// every message's path).
    apps: FxHashMap<String, AppRoute>,
    /// By transport name.
    transports: FxHashMap<String, TransportRoute>,
    /// The one exposed endpoint, when there is only one: every event is for it.
    only_app: Option<String>,
    stack: Option<Arc<Stack>>,
}

fn user_message_id(payload: &Payload) -> &str {
    match payload {
        Payload::Message(m) => &m.message_id,
        Payload::Event(e) => &e.user_message_id,
    }
}

impl Dispatcher {
    pub(super) fn new(
        spec: &DispatcherSpec,
        router: Component,
        bus: Arc<Bus>,
        state: Arc<StateStore>,
        apps: FxHashMap<String, AppRoute>,
        transports: FxHashMap<String, TransportRoute>,
        stack: Option<Arc<Stack>>,
    ) -> Self {
        Self {
            name: spec.name.clone(),
            router,
            bus,
            state,
            apps,
            transports,
            only_app: (spec.exposed_names.len() == 1).then(|| spec.exposed_names[0].clone()),
            stack,
        }
    }

    fn sender_key(&self, message_id: &str) -> String {
        format!("{}:sender:{message_id}", self.name)
    }

    /// Remembers which application sent an outbound message (when there is a choice).
    async fn remember_sender(&self, message_id: &str, from: &str) {
        if self.only_app.is_some() {
            return;
        }
        if let Err(e) = self
            .state
            .set(&self.sender_key(message_id), from, EVENT_MEMORY_MS)
            .await
        {
            warn!(message_id, "dispatcher {:?}: cannot remember sender: {e}", self.name);
        }
    }

    async fn sender_of(&self, user_message_id: &str) -> Option<String> {
        if let Some(app) = &self.only_app {
            return Some(app.clone());
        }
        match self.state.get(&self.sender_key(user_message_id)).await {
            Ok(sender) => sender,
            Err(e) => {
                let id = user_message_id;
                warn!(
                    message_id = id,
                    "dispatcher {:?}: cannot look up the sender: {e}", self.name
                );
                None
            }
        }
    }

    /// The endpoint name and publisher a routed delivery goes to.
    fn target(&self, flow: Flow, endpoint: &str) -> Result<(&EndpointName, &Publisher), String> {
        let found = match flow {
            Flow::Inbound => self.apps.get(endpoint).map(|a| (&a.name, &a.inbound)),
            Flow::Event => self.apps.get(endpoint).map(|a| (&a.name, &a.event)),
            Flow::Outbound => self.transports.get(endpoint).map(|t| (&t.name, &t.outbound)),
        };
        found.ok_or_else(|| {
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
        if let (Some(route), Payload::Message(m)) = (self.apps.get(app), kept) {
            if let Err(e) = route
                .event
                .forward(nack(&m.message_id, &m.transport_name, reason))
                .await
            {
                let id = m.message_id.as_str();
                warn!(message_id = id, "dispatcher {:?}: nack not delivered: {e}", self.name);
            }
        }
    }

    /// Publishes one routed delivery: queued at once when it can be (no middleware, room on
    /// the queue), with no future; otherwise through the publish stack, waiting as it must.
    async fn send(&self, r: Routed) -> Result<(), String> {
        let (name, publisher) = self.target(r.flow, &r.endpoint)?;
        let payload = match &self.stack {
            None => match publisher.try_forward(r.payload) {
                Ok(sent) => return sent.map_err(|e| e.to_string()),
                Err(unqueued) => return publisher.finish(unqueued).await.map_err(|e| e.to_string()),
            },
            Some(stack) => match stack.publish(r.flow, name, r.payload).await {
                Passed::On(payload) => payload,
                Passed::Dropped(reason) => return Err(reason),
            },
        };
        publisher.forward(payload).await.map_err(|e| e.to_string())
    }

    /// Asks the router and sends what it returns. A router may discard an event on purpose
    /// (transports take none); a message must go somewhere, or fail.
    async fn route(
        &self,
        flow: Flow,
        from: &EndpointName,
        payload: Payload,
        sender: Option<String>,
        room: Pin<&mut Room>,
    ) -> Result<(), String> {
        let d = delivery(flow, from, payload, sender);
        let answer = room.run(|slot| self.router.consume(d, slot)).await;
        let routed = answer.into_result().map_err(|e| e.to_string())?;
        if routed.is_empty() {
            if flow == Flow::Event {
                debug!("dispatcher {:?}: router discarded the event", self.name);
                return Ok(());
            }
            return Err("the router found no destination".to_owned());
        }
        let mut problems = Vec::new();
        for r in routed {
            if let Err(e) = self.send(r).await {
                problems.push(e);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Routes one delivery; see the module docs for what happens to what cannot be routed.
    pub(super) async fn dispatch(&self, flow: Flow, from: &EndpointName, payload: Payload, room: Pin<&mut Room>) {
        let kept = payload.clone();
        let id = user_message_id(&kept);
        let sender = match flow {
            Flow::Event => self.sender_of(id).await,
            Flow::Outbound => {
                self.remember_sender(id, from).await;
                None
            }
            Flow::Inbound => None,
        };
        let payload = match through!(&self.stack, flow, from, payload) {
            Passed::On(payload) => payload,
            Passed::Dropped(reason) => {
                info!(
                    message_id = id,
                    "dispatcher {:?}: {flow} from {from:?} {reason}", self.name
                );
                if flow == Flow::Outbound {
                    self.nack_to(from, &kept, &reason).await;
                }
                return;
            }
        };
        if let Err(reason) = self.route(flow, from, payload, sender, room).await {
            let what = if flow == Flow::Event {
                "event about message"
            } else {
                "message"
            };
            let reason = format!("{flow} {what} {id} from {from:?} not routed: {reason}");
            if flow == Flow::Outbound {
                self.nack_to(from, &kept, &reason).await;
            }
            let at = At {
                name: &self.name,
                endpoint: &self.name,
                origin: format!("{from}.{flow}"),
            };
            fail(&self.bus, at, kept, reason);
        }
    }
}

struct Routes(Arc<Dispatcher>, Flow, EndpointName);

impl Handler for Routes {
    fn handle<'a>(&'a self, payload: Payload, room: Pin<&'a mut Room>) -> impl Future<Output = ()> + Send + 'a {
        self.0.dispatch(self.1, &self.2, payload, room)
    }
}

pub(super) async fn consume_dispatcher(d: Arc<Dispatcher>, consumer: Consumer, flow: Flow, from: EndpointName) {
    consumer.serve(&Routes(d, flow, from)).await
}
