//! The plain traits a plugin author implements. `export_plugin!` turns them into the ABI.

use crate::abi::{ConfigProblem, Direction, Flow};
use crate::context::Context;
use crate::message::{Event, Message, Payload};
use serde::de::DeserializeOwned;
use std::future::Future;

/// What every component has: a name, a description, a config type and a constructor.
pub trait Component: Sized + Send + Sync + 'static {
    /// The config under the component's `config:` key (routers: the dispatcher's own keys).
    type Config: DeserializeOwned + Send;
    /// The name configs use to pick this component (`plugin: telnet`, `router_class: simple`).
    const NAME: &'static str;
    /// Other names that pick it too (e.g. Vumi's dotted class names).
    const ALIASES: &'static [&'static str] = &[];
    const DESCRIPTION: &'static str;
    /// The config keys, one per line: `key: meaning (default)`.
    const CONFIG_DOC: &'static str = "";

    /// Checks that go beyond the config's types (the types are checked before this): each
    /// problem names the key it is about, so that `ruvuma validate` points at its line.
    fn check(_config: &Self::Config) -> Vec<ConfigProblem> {
        Vec::new()
    }

    /// How many deliveries the host hands it at once when the config gives no `concurrency:`
    /// (`None`: one). For components whose handler waits on a far end, e.g. a window.
    fn concurrency(_config: &Self::Config) -> Option<usize> {
        None
    }

    fn create(config: Self::Config, ctx: Context) -> Result<Self, String>;
}

/// Speaks to the outside world: publishes inbound messages and events, sends outbound messages.
pub trait Transport: Component {
    /// Start taking input (bind sockets, connect).
    fn start(&self) -> impl Future<Output = Result<(), String>> + Send {
        async { Ok(()) }
    }

    /// Send a message out. An error becomes a nack for it.
    fn handle_outbound(&self, msg: Message) -> impl Future<Output = Result<(), String>> + Send;

    /// Stop taking input; outbound messages may still arrive until `stop`.
    fn drain(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    fn stop(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Answers messages.
pub trait Application: Component {
    fn start(&self) -> impl Future<Output = Result<(), String>> + Send {
        async { Ok(()) }
    }

    fn consume_user_message(&self, msg: Message) -> impl Future<Output = Result<(), String>> + Send;

    fn consume_event(&self, _event: Event) -> impl Future<Output = Result<(), String>> + Send {
        async { Ok(()) }
    }

    fn stop(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Decides where traffic goes inside a dispatcher.
///
/// An `Err` means the message cannot be routed: the host logs it with the reason, keeps it on
/// `<dispatcher>.failures`, and nacks an outbound message back to its application. A message
/// routed nowhere (`Ok` with no destination) is treated the same; only an event may be discarded
/// that way on purpose.
pub trait Router: Component {
    /// A message from transport `from`; return the application endpoints it goes to.
    fn dispatch_inbound(&self, msg: Message, from: &str) -> impl Future<Output = Result<Vec<Routed>, String>> + Send;

    /// A message from application endpoint `from`; return the transports it goes to.
    fn dispatch_outbound(&self, msg: Message, from: &str) -> impl Future<Output = Result<Vec<Routed>, String>> + Send;

    /// An event from transport `from`. By default it goes to the application that sent the
    /// message, which the host remembers (`sender`).
    fn dispatch_event(
        &self,
        event: Event,
        _from: &str,
        sender: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Routed>, String>> + Send {
        let routed = match sender {
            Some(app) => Ok(vec![Routed::event(app, event)]),
            None => Err(format!(
                "no application is known to have sent message {}",
                event.user_message_id
            )),
        };
        async move { routed }
    }
}

/// Sees what a component consumes and publishes, and may change or drop it (Vumi's middleware).
/// Each handler gets the connector (endpoint) name and the direction; return `Ok(None)` to drop
/// the message (an outbound one is then nacked with the reason) and `Err` when it fails.
pub trait Middleware: Component {
    fn handle_inbound(
        &self,
        msg: Message,
        _connector: &str,
        _direction: Direction,
    ) -> impl Future<Output = Result<Option<Message>, String>> + Send {
        async { Ok(Some(msg)) }
    }

    fn handle_outbound(
        &self,
        msg: Message,
        _connector: &str,
        _direction: Direction,
    ) -> impl Future<Output = Result<Option<Message>, String>> + Send {
        async { Ok(Some(msg)) }
    }

    fn handle_event(
        &self,
        event: Event,
        _connector: &str,
        _direction: Direction,
    ) -> impl Future<Output = Result<Option<Event>, String>> + Send {
        async { Ok(Some(event)) }
    }
}

/// Is told of the host's events, each as the JSON the built-in webhook observer POSTs
/// (`event`, `system_alias`, `at` and the event's own fields). Events come one at a time, in
/// order, from a bounded queue the host drops from when the observer falls behind.
pub trait Observer: Component {
    fn start(&self) -> impl Future<Output = Result<(), String>> + Send {
        async { Ok(()) }
    }

    fn observe(&self, event: serde_json::Value) -> impl Future<Output = Result<(), String>> + Send;

    fn stop(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

pub use crate::abi::Routed;

impl Routed {
    pub fn new(flow: Flow, endpoint: &str, payload: impl Into<Payload>) -> Self {
        Self {
            flow,
            endpoint: endpoint.into(),
            payload: payload.into(),
        }
    }

    /// To application endpoint `endpoint`.
    pub fn inbound(endpoint: &str, msg: Message) -> Self {
        Self::new(Flow::Inbound, endpoint, msg)
    }

    /// Out through transport `endpoint`.
    pub fn outbound(endpoint: &str, msg: Message) -> Self {
        Self::new(Flow::Outbound, endpoint, msg)
    }

    /// To application endpoint `endpoint`.
    pub fn event(endpoint: &str, event: Event) -> Self {
        Self::new(Flow::Event, endpoint, event)
    }
}
