//! The host's side of `HostFfi`: what a component may publish, its log lines, its state keys.

use crate::bus::Publisher;
use crate::state::MemoryState;
use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RArc, ROption, RResult, RStr, RString},
};
use async_ffi::{FfiFuture, FutureExt};
use ruvuma_plugin_api::abi::{FfiResult, HostBox, HostFfi, HostFfi_TO, LogLevel};
use ruvuma_plugin_api::{Flow, Kind, Payload};
use std::sync::Arc;

pub struct Services {
    pub component: String,
    pub kind: Kind,
    pub inbound: Option<Publisher>,
    pub outbound: Option<Publisher>,
    pub event: Option<Publisher>,
    pub state: Arc<MemoryState>,
    pub max_level: LogLevel,
}

#[derive(Clone)]
struct Handle(Arc<Services>);

impl Services {
    pub fn into_host_box(self) -> HostBox {
        HostFfi_TO::from_ptr(RArc::new(Handle(Arc::new(self))), TD_Opaque)
    }

    fn publisher(&self, flow: Flow) -> Option<&Publisher> {
        match flow {
            Flow::Inbound => self.inbound.as_ref(),
            Flow::Outbound => self.outbound.as_ref(),
            Flow::Event => self.event.as_ref(),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.component)
    }
}

fn ready<T: Send + 'static>(value: FfiResult<T>) -> FfiFuture<FfiResult<T>> {
    async move { value }.into_ffi()
}

impl HostFfi for Handle {
    fn publish(&self, flow: Flow, payload: Payload) -> FfiFuture<FfiResult<()>> {
        if self.0.publisher(flow).is_none() {
            let allowed = match self.0.kind {
                Kind::Transport => "inbound and event",
                Kind::Application => "outbound",
                Kind::Router => "nothing (routers return where things go)",
            };
            return ready(RResult::RErr(
                format!(
                    "{} {:?} cannot publish {flow}: a {} publishes {allowed}",
                    self.0.kind, self.0.component, self.0.kind
                )
                .into(),
            ));
        }
        let services = self.0.clone();
        async move {
            let publisher = services.publisher(flow).expect("checked above");
            RResult::from(publisher.publish(payload).await.map_err(RString::from))
        }
        .into_ffi()
    }

    fn log(&self, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
        let component = self.0.component.as_str();
        let target = target.as_str();
        let message = message.as_str();
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
        let value = self.0.state.get(&self.0.key(&key));
        ready(RResult::ROk(value.map(RString::from).into()))
    }

    fn state_set(&self, key: RString, value: RString, ttl_ms: u64) -> FfiFuture<FfiResult<()>> {
        ready(
            self.0
                .state
                .set(&self.0.key(&key), &value, ttl_ms)
                .map_err(RString::from)
                .into(),
        )
    }

    fn state_incr(&self, key: RString, by: i64, ttl_ms: u64) -> FfiFuture<FfiResult<i64>> {
        ready(
            self.0
                .state
                .incr(&self.0.key(&key), by, ttl_ms)
                .map_err(RString::from)
                .into(),
        )
    }

    fn state_delete(&self, key: RString) -> FfiFuture<FfiResult<bool>> {
        ready(RResult::ROk(self.0.state.delete(&self.0.key(&key))))
    }
}
