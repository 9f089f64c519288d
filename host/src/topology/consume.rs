//! The consume loops of applications and transports: take a delivery, pass it through the
//! component's middleware, hand it to the component, and settle it. What fails is logged and
//! kept on `<name>.failures`; an outbound message a transport cannot send is nacked.

use super::middleware::{Passed, Stack};
use super::retry::Retrier;
use super::Component;
use crate::bus::{Bus, Consumer, Failure, Handler, Publisher};
use abi_stable::std_types::RString;
use ruvuma_plugin_api::abi::{Delivery, Direction, EndpointName};
use ruvuma_plugin_api::room::Room;
use ruvuma_plugin_api::{Event, EventKind, Flow, Payload};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tracing::{error, info, warn};

/// What one consume loop works with.
#[derive(Clone)]
pub(super) struct Loop {
    pub bus: Arc<Bus>,
    pub component: Component,
    pub stack: Option<Arc<Stack>>,
    /// The endpoint it consumes on.
    pub endpoint: EndpointName,
    /// The component's name in the config.
    pub name: String,
    /// A transport's retry policy at work, when it has one.
    pub retry: Option<Arc<Retrier>>,
}

/// A delivery for a component to consume.
#[inline]
pub(super) fn delivery(flow: Flow, endpoint: &EndpointName, payload: Payload, sender: Option<String>) -> Delivery {
    Delivery {
        direction: Direction::Consume,
        flow,
        endpoint: endpoint.clone(),
        payload,
        sender: sender.map(RString::from).into(),
    }
}

/// Where a failure happened: the component's name, the endpoint whose `.failures` keeps it,
/// and the routing key it came from (where a replay puts it back).
pub(super) struct At<'a> {
    pub name: &'a str,
    pub endpoint: &'a str,
    pub origin: String,
}

/// Logs a failure and keeps it on `<endpoint>.failures`, with the message or event it is about.
pub(super) fn fail(bus: &Bus, at: At<'_>, payload: Payload, reason: String) {
    let failure = Failure::new(at.name, at.endpoint, at.origin, payload, reason);
    error!(
        message_id = failure.payload.message_id(),
        failures = failure.routing_key().as_str(),
        "{}: {}",
        at.endpoint,
        failure.reason
    );
    bus.record_failure(failure);
}

/// A nack for message `message_id`, sent through `transport_name`.
pub(super) fn nack(message_id: &str, transport_name: &str, reason: &str) -> Payload {
    Event::new(
        message_id,
        EventKind::Nack {
            nack_reason: reason.into(),
        },
        transport_name,
    )
    .into()
}

/// Passes a delivery through a component's consume stack, if it has one; without one, no
/// future is made (this is on every delivery's path).
macro_rules! through {
    ($stack:expr, $flow:expr, $connector:expr, $payload:expr) => {
        match $stack {
            Some(s) => s.consume($flow, $connector, $payload).await,
            None => Passed::On($payload),
        }
    };
}
pub(super) use through;

impl Loop {
    /// An application takes one inbound message or event.
    async fn application_takes(&self, flow: Flow, payload: Payload, room: Pin<&mut Room>) {
        // A second handle on the same message (no copy), so a failure can keep it.
        let kept = payload.clone();
        let endpoint = &self.endpoint;
        match through!(&self.stack, flow, endpoint, payload) {
            Passed::On(payload) => {
                let d = delivery(flow, endpoint, payload, None);
                let handled = room.run(|slot| self.component.consume(d, slot)).await;
                if let Err(reason) = handled.into_result() {
                    let reason = format!("application {:?} failed on {endpoint}.{flow}: {reason}", self.name);
                    let at = At {
                        name: &self.name,
                        endpoint,
                        origin: format!("{endpoint}.{flow}"),
                    };
                    fail(&self.bus, at, kept, reason);
                }
            }
            Passed::Dropped(reason) => info!(message_id = kept.message_id(), "{endpoint}.{flow}: {reason}"),
        }
    }

    /// A transport sends one outbound message; what it cannot send is nacked.
    async fn transport_sends(&self, events: &Publisher, payload: Payload, room: Pin<&mut Room>) {
        if let Some(r) = &self.retry {
            r.remember(&payload);
        }
        let kept = payload.clone();
        let name = &self.endpoint;
        let result = match through!(&self.stack, Flow::Outbound, name, payload) {
            Passed::On(payload) => room
                .run(|slot| {
                    self.component
                        .consume(delivery(Flow::Outbound, name, payload, None), slot)
                })
                .await
                .into_result()
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Passed::Dropped(reason) => Err(reason),
        };
        if let Err(reason) = result {
            let id = kept.message_id();
            warn!(message_id = id, "transport {name:?} could not send: {reason}");
            let nacked = nack(id, name, &reason);
            let Some(nacked) = (match &self.retry {
                Some(r) => r.on_event(nacked),
                None => Some(nacked),
            }) else {
                return;
            };
            if let Err(e) = events.forward(nacked).await {
                let at = At {
                    name,
                    endpoint: name,
                    origin: format!("{name}.outbound"),
                };
                fail(&self.bus, at, kept, format!("nack not delivered: {e}"));
            }
        }
    }
}

struct Takes(Loop, Flow);

impl Handler for Takes {
    fn handle<'a>(&'a self, payload: Payload, room: Pin<&'a mut Room>) -> impl Future<Output = ()> + Send + 'a {
        self.0.application_takes(self.1, payload, room)
    }
}

struct Sends(Loop, Publisher);

impl Handler for Sends {
    fn handle<'a>(&'a self, payload: Payload, room: Pin<&'a mut Room>) -> impl Future<Output = ()> + Send + 'a {
        self.0.transport_sends(&self.1, payload, room)
    }
}

pub(super) async fn consume_application(lp: Loop, consumer: Consumer, flow: Flow) {
    consumer.serve(&Takes(lp, flow)).await
}

pub(super) async fn consume_transport(lp: Loop, consumer: Consumer, events: Publisher) {
    consumer.serve(&Sends(lp, events)).await
}
