//! The host's side of the services each component gets (`ServicesFfi`): what it may publish,
//! its log lines, its state keys, its status reports.

use super::middleware::{Passed, Stack};
use crate::bus::{Bus, Publisher};
use crate::events::{HostEvent, Meter};
use crate::state::StateStore;
use crate::store::Store;
use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, ROption, RResult, RStr, RString},
};
use async_ffi::{FfiFuture, FutureExt};
use ruvuma_plugin_api::abi::{EndpointName, FfiResult, LogLevel, ServicesBox, ServicesFfi, ServicesFfi_TO};
use ruvuma_plugin_api::{Event, EventKind, Flow, Kind, Payload};
use std::sync::Arc;

/// What one component is granted: its publishers, middleware, state scope and log level.
pub struct Grants {
    pub component: String,
    pub kind: Kind,
    /// The endpoint it publishes on, as its middleware sees it.
    pub connector: EndpointName,
    /// Its middleware: what it publishes passes them in publish order.
    pub stack: Option<Arc<Stack>>,
    pub inbound: Option<Publisher>,
    pub outbound: Option<Publisher>,
    pub event: Option<Publisher>,
    /// `<endpoint>.status`, for transports.
    pub status: Option<Publisher>,
    pub state: Arc<StateStore>,
    /// The prefix of its state keys: its name, unless the config shares one between components.
    pub state_scope: String,
    /// The host's runtime: host futures enter it on every poll (the plugin polls them inside its own).
    pub runtime: tokio::runtime::Handle,
    pub max_level: LogLevel,
    /// Where its failures are kept (`<component>.failures`).
    pub bus: Arc<Bus>,
    /// The message store, for lookups; none when the config has no `store:`.
    pub store: Option<Arc<Store>>,
    /// Its counts and last status, for the admin pages and `/metrics`.
    pub meter: Arc<Meter>,
    /// A transport's retry policy at work: its events pass it first.
    pub retry: Option<Arc<super::retry::Retrier>>,
}

impl Grants {
    /// Takes a status report (Vumi JSON) as the component's status; a change is a host event.
    fn note_status(&self, json: &str) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
            return;
        };
        let field = |k: &str| v.get(k).and_then(|s| s.as_str()).unwrap_or("").to_owned();
        let (level, kind, message) = (field("status"), field("type"), field("message"));
        let details = v.get("details").cloned().unwrap_or_default();
        if self.meter.set_status(&level, &kind, &message, details) {
            self.bus.events().emit(HostEvent::StatusChanged {
                component: self.component.clone(),
                status: level,
                kind,
                message,
            });
        }
    }
}

/// Why a store lookup cannot be made.
const NO_STORE: &str =
    "no message store: the config has no `store:` section (add `store: {sqlite: {path: data/ruvuma.db}}`)";

/// The services one component gets; handed across the boundary as a `ServicesBox`.
#[derive(Clone)]
pub struct Services(Arc<Grants>);

impl Services {
    pub fn new(grants: Grants) -> Self {
        Self(Arc::new(grants))
    }

    pub fn into_box(self) -> ServicesBox {
        ServicesFfi_TO::from_ptr(RArc::new(self), TD_Opaque)
    }
}

impl Grants {
    fn publisher(&self, flow: Flow) -> Option<&Publisher> {
        match flow {
            Flow::Inbound => self.inbound.as_ref(),
            Flow::Outbound => self.outbound.as_ref(),
            Flow::Event => self.event.as_ref(),
        }
    }

    /// Passes `payload` through the publish stack, then onto the bus. An outbound message a
    /// middleware drops is nacked back to the application.
    async fn send(&self, flow: Flow, payload: Payload) -> Result<(), String> {
        let publisher = self.publisher(flow).ok_or("no publisher")?;
        let Some(payload) = self.retried(flow, payload) else {
            return Ok(());
        };
        let Some(stack) = &self.stack else {
            return publisher.publish(payload).await.map_err(|e| e.to_string());
        };
        let kept = payload.clone();
        match stack.publish(flow, &self.connector, payload).await {
            Passed::On(payload) => publisher.publish(payload).await.map_err(|e| e.to_string()),
            Passed::Dropped(reason) => {
                tracing::info!(
                    message_id = kept.message_id(),
                    "{} {:?}: {flow} {reason}",
                    self.kind,
                    self.component
                );
                match (&kept, &self.event) {
                    (Payload::Message(m), Some(events)) if flow == Flow::Outbound => {
                        let nack = Event::new(
                            &m.message_id,
                            EventKind::Nack {
                                nack_reason: reason.as_str().into(),
                            },
                            &m.transport_name,
                        );
                        events.publish(nack.into()).await.map_err(|e| e.to_string())
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// An event passes the transport's retry policy first; `None` when it keeps it.
    fn retried(&self, flow: Flow, payload: Payload) -> Option<Payload> {
        match (&self.retry, flow) {
            (Some(r), Flow::Event) => r.on_event(payload),
            _ => Some(payload),
        }
    }

    /// Publishes with no middleware on the way and no wait when the bus can take it at once;
    /// otherwise a future that waits as [`Grants::send`] does.
    fn send_now(self: &Arc<Self>, flow: Flow, payload: Payload) -> FfiFuture<FfiResult<()>> {
        let Some(publisher) = self.publisher(flow) else {
            return ready(RResult::RErr("no publisher".into()));
        };
        let Some(payload) = self.retried(flow, payload) else {
            return sent();
        };
        match publisher.try_publish(payload) {
            Ok(Ok(())) => sent(),
            Ok(Err(e)) => ready(RResult::RErr(e.to_string().into())),
            Err(unqueued) => {
                let grants = self.clone();
                async move {
                    let result = match grants.publisher(flow) {
                        Some(p) => p.finish(unqueued).await.map_err(|e| e.to_string()),
                        None => Err("no publisher".to_owned()),
                    };
                    RResult::from(result.map_err(RString::from))
                }
                .into_ffi()
            }
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.state_scope)
    }
}

/// A host future for a plugin to await: every poll enters the host's runtime, so that the
/// host's copy of tokio finds its timers and sockets.
fn hosted<T, F>(runtime: &tokio::runtime::Handle, fut: F) -> FfiFuture<FfiResult<T>>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, String>> + Send + 'static,
{
    struct Entered<F> {
        runtime: tokio::runtime::Handle,
        fut: std::pin::Pin<Box<F>>,
    }
    impl<F: std::future::Future> std::future::Future for Entered<F> {
        type Output = F::Output;
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
            let _entered = self.runtime.enter();
            self.fut.as_mut().poll(cx)
        }
    }
    Entered {
        runtime: runtime.clone(),
        fut: Box::pin(async move { RResult::from(fut.await.map_err(RString::from)) }),
    }
    .into_ffi()
}

/// A state store's answer, as a plugin reads it.
fn answered<T>(result: Result<T, crate::state::StateError>) -> FfiResult<T> {
    RResult::from(result.map_err(|e| RString::from(e.to_string())))
}

fn ready<T: Send + 'static>(value: FfiResult<T>) -> FfiFuture<FfiResult<T>> {
    async move { value }.into_ffi()
}

/// A publish that is done: a future of no size, so handing it over allocates nothing.
fn sent() -> FfiFuture<FfiResult<()>> {
    struct Sent;
    impl std::future::Future for Sent {
        type Output = FfiResult<()>;
        fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
            std::task::Poll::Ready(RResult::ROk(()))
        }
    }
    Sent.into_ffi()
}

impl ServicesFfi for Services {
    fn publish(&self, flow: Flow, payload: Payload) -> FfiFuture<FfiResult<()>> {
        let allowed = match self.0.kind {
            Kind::Transport => matches!(flow, Flow::Inbound | Flow::Event),
            Kind::Application => flow == Flow::Outbound,
            Kind::Router | Kind::Middleware | Kind::Observer => false,
        };
        if !allowed || self.0.publisher(flow).is_none() {
            let may = match self.0.kind {
                Kind::Transport => "inbound and event",
                Kind::Application => "outbound",
                Kind::Router => "nothing (routers return where things go)",
                Kind::Middleware => "nothing (middleware return what passes on)",
                Kind::Observer => "nothing (observers are told of events)",
            };
            return ready(RResult::RErr(
                format!(
                    "{} {:?} cannot publish {flow}: a {} publishes {may}",
                    self.0.kind, self.0.component, self.0.kind
                )
                .into(),
            ));
        }
        let on_memory = self.0.publisher(flow).is_some_and(Publisher::is_in_process);
        if on_memory && self.0.stack.is_none() {
            // Most publishes on the memory bus are queued here and then, with no future to box.
            return self.0.send_now(flow, payload);
        }
        let services = self.0.clone();
        if on_memory {
            // The memory bus needs no runtime: skip entering the host's on every poll.
            async move { RResult::from(services.send(flow, payload).await.map_err(RString::from)) }.into_ffi()
        } else {
            hosted(&self.0.runtime, async move { services.send(flow, payload).await })
        }
    }

    fn log(&self, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
        let component = self.0.component.as_str();
        let target = target.as_str();
        // Plugin text may carry what a peer sent: no line of it may pass for a line of ours.
        let message = crate::text::escape_control(message.as_str());
        match level {
            LogLevel::Error => {
                tracing::error!(target: "ruvuma::plugin", component, plugin = target, "{message}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "ruvuma::plugin", component, plugin = target, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "ruvuma::plugin", component, plugin = target, "{message}")
            }
            LogLevel::Debug => {
                tracing::debug!(target: "ruvuma::plugin", component, plugin = target, "{message}")
            }
            LogLevel::Trace => {
                tracing::trace!(target: "ruvuma::plugin", component, plugin = target, "{message}")
            }
        }
    }

    fn max_log_level(&self) -> LogLevel {
        self.0.max_level
    }

    fn state_get(&self, key: RString) -> FfiFuture<FfiResult<ROption<RString>>> {
        if let StateStore::Memory(m) = &*self.0.state {
            // In this process and at once: no host future to build and enter.
            return ready(RResult::ROk(m.get(&self.0.key(&key)).map(RString::from).into()));
        }
        let services = self.0.clone();
        hosted(&self.0.runtime, async move {
            let value = services
                .state
                .get(&services.key(&key))
                .await
                .map_err(|e| e.to_string())?;
            Ok(value.map(RString::from).into())
        })
    }

    fn state_set(&self, key: RString, value: RString, ttl_ms: u64) -> FfiFuture<FfiResult<()>> {
        if let StateStore::Memory(m) = &*self.0.state {
            return ready(answered(m.set(&self.0.key(&key), &value, ttl_ms)));
        }
        let services = self.0.clone();
        hosted(&self.0.runtime, async move {
            let key = services.key(&key);
            services
                .state
                .set(&key, &value, ttl_ms)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn state_incr(&self, key: RString, by: i64, ttl_ms: u64) -> FfiFuture<FfiResult<i64>> {
        if let StateStore::Memory(m) = &*self.0.state {
            return ready(answered(m.incr(&self.0.key(&key), by, ttl_ms)));
        }
        let services = self.0.clone();
        hosted(&self.0.runtime, async move {
            let key = services.key(&key);
            services.state.incr(&key, by, ttl_ms).await.map_err(|e| e.to_string())
        })
    }

    fn state_delete(&self, key: RString) -> FfiFuture<FfiResult<bool>> {
        if let StateStore::Memory(m) = &*self.0.state {
            return ready(RResult::ROk(m.delete(&self.0.key(&key))));
        }
        let services = self.0.clone();
        hosted(&self.0.runtime, async move {
            let key = services.key(&key);
            services.state.delete(&key).await.map_err(|e| e.to_string())
        })
    }

    fn publish_status(&self, status_json: RString) -> FfiFuture<FfiResult<()>> {
        let Some(publisher) = self.0.status.clone() else {
            return ready(RResult::RErr(
                format!(
                    "{} {:?} cannot publish a status: only transports do",
                    self.0.kind, self.0.component
                )
                .into(),
            ));
        };
        self.0.note_status(&status_json);
        hosted(&self.0.runtime, async move {
            publisher
                .publish_status(status_json.into())
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn store_find(&self, id: RString) -> FfiFuture<FfiResult<ROption<RString>>> {
        let Some(store) = self.0.store.clone() else {
            return ready(RResult::RErr(NO_STORE.into()));
        };
        hosted(&self.0.runtime, async move {
            let found = store.find(&id).await.map_err(|e| e.to_string())?;
            Ok(found.map(|f| RString::from(f.to_json().to_string())).into())
        })
    }

    fn store_counts(&self, endpoint: RString, since_micros: i64) -> FfiFuture<FfiResult<RString>> {
        let Some(store) = self.0.store.clone() else {
            return ready(RResult::RErr(NO_STORE.into()));
        };
        hosted(&self.0.runtime, async move {
            let counts = store.counts(&endpoint, since_micros).await.map_err(|e| e.to_string())?;
            Ok(RString::from(counts.to_string()))
        })
    }

    fn fire_metric(&self, name: RStr<'_>, agg: RStr<'_>, value: f64) -> FfiResult<()> {
        self.0
            .meter
            .app
            .fire(name.as_str(), agg.as_str(), value)
            .map_err(RString::from)
            .into()
    }

    fn keep_failure(&self, payload: Payload, reason: RString) {
        let flow = match payload {
            Payload::Event(_) => Flow::Event,
            Payload::Message(_) if self.0.kind == Kind::Transport => Flow::Outbound,
            Payload::Message(_) => Flow::Inbound,
        };
        let at = super::consume::At {
            name: &self.0.component,
            endpoint: &self.0.connector,
            origin: format!("{}.{flow}", self.0.connector),
        };
        super::consume::fail(&self.0.bus, at, payload, reason.into());
    }
}
