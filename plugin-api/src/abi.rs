#![allow(non_local_definitions)] // raised inside abi_stable's `sabi_trait` expansion
//! The types that cross the plugin boundary. Everything here is `#[repr(C)]` and `StableAbi`:
//! the host checks their layout when it loads a library.

use crate::message::Payload;
use crate::room::{RoomFuture, RoomSlot};
pub use crate::routed_name::RoutedName;
use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RArc, RBox, ROption, RResult, RStr, RString, RVec},
    StableAbi,
};
use async_ffi::FfiFuture;

/// The version of the plugin protocol. The host refuses a library that declares another one.
pub const ABI_VERSION: u32 = 7;

/// The three kinds of component a library can export.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Transport,
    Application,
    Router,
    /// Sees (and may change or drop) what a transport, application or dispatcher consumes and
    /// publishes.
    Middleware,
    /// Is told of the host's events (components started and stopped, status changes, messages
    /// finished or failed, failures dead-lettered).
    Observer,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transport => "transport",
            Self::Application => "application",
            Self::Router => "router",
            Self::Middleware => "middleware",
            Self::Observer => "observer",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way traffic moves; each is a routing-key suffix (`<endpoint>.<flow>`).
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flow {
    /// transport → application
    Inbound,
    /// application → transport
    Outbound,
    /// transport → application, about a message the application sent
    Event,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
            Self::Event => "event",
        }
    }
}

impl std::fmt::Display for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// One component in a library's catalogue.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct ComponentInfo {
    pub kind: Kind,
    pub name: RString,
    /// Other names that select it (Vumi's dotted class names, for instance).
    pub aliases: RVec<RString>,
    pub description: RString,
    /// The component's configuration keys, one per line: `key: meaning (default)`.
    pub config_doc: RString,
}

/// What a library says about itself.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct LibraryInfo {
    pub name: RString,
    pub version: RString,
    pub abi_version: u32,
    pub rustc_version: RString,
    pub target: RString,
    pub components: RVec<ComponentInfo>,
}

/// A message or event handed to a component.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct Delivery {
    pub flow: Flow,
    /// The endpoint it arrived from: a transport name for inbound and events, an application
    /// endpoint for outbound. Shared with the topology that owns the name.
    pub endpoint: EndpointName,
    pub payload: Payload,
    /// For events at a dispatcher: the application endpoint that sent the message the event is
    /// about, when the host remembers it.
    pub sender: ROption<RString>,
    /// For middleware: whether its component is consuming this or publishing it.
    pub direction: Direction,
}

/// An endpoint name as it crosses the boundary: owned by the topology, shared by reference count.
pub type EndpointName = RArc<RString>;

/// One problem a component finds in its own config: the dotted key path it is about (`""` for
/// the config as a whole; list items by index, `routes.0.to`) and what is wrong.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: RString,
    pub message: RString,
}

impl ConfigProblem {
    /// A problem with the value under `key` (a dotted path).
    pub fn at(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into().into(),
        }
    }

    /// A problem with the config as a whole.
    pub fn whole(message: impl Into<String>) -> Self {
        Self::at("", message)
    }
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "key {:?}: {}", self.key.as_str(), self.message)
        }
    }
}

/// Which way a delivery passes a middleware.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// On its way into the component (consume order: the middleware list in order).
    Consume,
    /// On its way out of the component (publish order: the list in reverse).
    Publish,
}

/// Where a router sends something: `<endpoint>.<flow>`.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Routed {
    pub flow: Flow,
    pub endpoint: RoutedName,
    pub payload: Payload,
}

pub type FfiResult<T> = RResult<T, RString>;

/// A running component, as the host sees it.
#[sabi_trait]
pub trait ComponentFfi: Send + Sync {
    /// Called once all consumers are ready; a transport starts taking input here.
    fn start(&self) -> FfiFuture<FfiResult<()>>;

    /// Handles one delivery. Routers return where it goes; others return an empty list. The
    /// future borrows the component, and is made in `room` when it fits there (see
    /// [`crate::room`]): the host awaits it where it holds both.
    fn consume(&self, delivery: Delivery, room: RoomSlot) -> RoomFuture<'_, FfiResult<RVec<Routed>>>;

    /// Stop taking new input (close listeners, stop reading); keep delivering replies.
    fn drain(&self) -> FfiFuture<()>;

    /// Release everything; nothing more will be delivered.
    fn stop(&self) -> FfiFuture<()>;

    /// An observer is told of one host event (its JSON); other kinds answer with an error.
    #[sabi(last_prefix_field)]
    fn observe(&self, event_json: RString) -> FfiFuture<FfiResult<()>>;
}

pub type ComponentBox = ComponentFfi_TO<'static, RBox<()>>;

/// The host's services to one component: publishing on its own endpoint, logging, the state
/// store, status reports. The host implements it; plugin code reaches it through `Context`.
#[sabi_trait]
pub trait ServicesFfi: Send + Sync + Clone {
    /// Publishes on the component's own endpoint: `<endpoint>.<flow>`.
    fn publish(&self, flow: Flow, payload: Payload) -> FfiFuture<FfiResult<()>>;

    /// Writes a log line into the host's output, tagged with the component name.
    fn log(&self, level: LogLevel, target: RStr<'_>, message: RStr<'_>);

    /// The most verbose level the host will print.
    fn max_log_level(&self) -> LogLevel;

    fn state_get(&self, key: RString) -> FfiFuture<FfiResult<ROption<RString>>>;

    /// Every key has a lifetime: `ttl_ms` must be positive.
    fn state_set(&self, key: RString, value: RString, ttl_ms: u64) -> FfiFuture<FfiResult<()>>;

    /// Adds `by` and returns the new value; a new key starts at 0 and gets `ttl_ms`.
    fn state_incr(&self, key: RString, by: i64, ttl_ms: u64) -> FfiFuture<FfiResult<i64>>;

    fn state_delete(&self, key: RString) -> FfiFuture<FfiResult<bool>>;

    /// Publishes a status report (Vumi JSON text) on `<endpoint>.status`.
    #[sabi(last_prefix_field)]
    fn publish_status(&self, status_json: RString) -> FfiFuture<FfiResult<()>>;

    /// A message and its events from the message store, as JSON (what `ruvuma messages get
    /// --json` prints), found by its id or by its transport's id for it; none when the store
    /// does not have it (yet: it is written in batches). An error when no store is configured.
    fn store_find(&self, id: RString) -> FfiFuture<FfiResult<ROption<RString>>>;

    /// Keeps what could not be handled on the component's `<name>.failures`, with the reason,
    /// and logs it.
    fn keep_failure(&self, payload: Payload, reason: RString);

    /// Takes a value of one of the component's own metrics (Vumi's `metrics.fire`): `agg` is
    /// `sum`, `avg`, `min`, `max` or `last`. The host shows it on `/metrics`; an error names a
    /// bad name or aggregator, or the host's bound on distinct metrics per component.
    fn fire_metric(&self, name: RStr<'_>, agg: RStr<'_>, value: f64) -> FfiResult<()>;

    /// What the message store holds for `endpoint` from `since_micros` (microseconds since
    /// 1970) on, counted, as JSON: `inbound`, `outbound`, `inbound_uniques`,
    /// `outbound_uniques` (distinct addresses) and `events` (the outbound messages' events by
    /// status). An error when no store is configured.
    fn store_counts(&self, endpoint: RString, since_micros: i64) -> FfiFuture<FfiResult<RString>>;
}

pub type ServicesBox = ServicesFfi_TO<'static, RArc<()>>;

/// Everything a constructor gets.
#[repr(C)]
#[derive(StableAbi)]
pub struct CreateArgs {
    pub kind: Kind,
    /// The component's name in the library's catalogue (`telnet`, `echo`, `simple`).
    pub component: RString,
    /// The name the config gives this instance (`telnet`, `echo`, `main`).
    pub instance_name: RString,
    /// The endpoint it publishes and consumes on.
    pub endpoint: RString,
    /// The component's own config, as JSON text.
    pub config_json: RString,
    pub services: ServicesBox,
}

/// The root module every ruvuma plugin library exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// Must equal the host's [`ABI_VERSION`].
    pub abi_version: u32,
    pub info: extern "C" fn() -> LibraryInfo,
    /// Checks a component's config without creating it; returns every problem found.
    pub validate: extern "C" fn(kind: Kind, component: RStr<'_>, config_json: RStr<'_>) -> RVec<ConfigProblem>,
    pub create: extern "C" fn(args: CreateArgs) -> FfiResult<ComponentBox>,
    /// The concurrency a component asks for when the config sets none (0: no preference).
    #[sabi(last_prefix_field)]
    pub concurrency: extern "C" fn(kind: Kind, component: RStr<'_>, config_json: RStr<'_>) -> u32,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "ruvuma_plugin";
    const NAME: &'static str = "ruvuma_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The symbol name abi_stable looks for in a library (see `export_plugin!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __lib_header_symbol {
    () => {
        "_1as_0lib_1header_0root_bmodule_bloader"
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_symbol_matches_abi_stable() {
        assert_eq!(__lib_header_symbol!(), abi_stable::library::ROOT_MODULE_LOADER_NAME);
    }
}
