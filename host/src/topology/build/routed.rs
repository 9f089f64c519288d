//! Building dispatchers (their routes to applications and transports) and plugin observers.

use super::{Builder, Instance};
use crate::compile::Resolved;
use crate::config::{DispatcherSpec, ObserverSpec};
use crate::events::Tally;
use crate::topology::dispatch::{consume_dispatcher, AppRoute, Dispatcher, TransportRoute};
use crate::topology::{Node, TopologyError};
use abi_stable::std_types::RString;
use rustc_hash::FxHashMap;
use ruvuma_plugin_api::Kind;
use std::sync::Arc;

impl Builder<'_> {
    /// Creates an observer from a plugin and attaches it to the host's events.
    pub(super) fn observer(&mut self, o: &Resolved<ObserverSpec>) -> Result<(), TopologyError> {
        let spec = &o.spec;
        let grants = self.grants(Kind::Observer, &spec.name, &spec.name, None);
        let what = Instance {
            library: o.library,
            kind: Kind::Observer,
            component: &o.component,
            name: &spec.name,
            endpoint: &spec.name,
            config: &spec.config,
        };
        let component = self.create(what, grants)?;
        let wants = crate::events::wanted(spec.events.as_deref()).map_err(|reason| TopologyError::Create {
            kind: Kind::Observer,
            name: spec.name.clone(),
            reason,
        })?;
        let observer = component.clone();
        let name = spec.name.clone();
        self.bus.events().attach(&spec.name, wants, move |event| {
            let observer = observer.clone();
            let name = name.clone();
            async move {
                let told = observer.observe(RString::from(event.to_string())).await;
                if let Err(e) = told.into_result() {
                    tracing::warn!("observer {name:?}: {e}");
                }
            }
        });
        self.nodes.push(Node {
            kind: Kind::Observer,
            name: spec.name.clone(),
            instances: vec![component],
        });
        Ok(())
    }

    fn routes(&mut self, spec: &DispatcherSpec) -> (FxHashMap<String, AppRoute>, FxHashMap<String, TransportRoute>) {
        let meter = self.meter(Kind::Router, &spec.name);
        let out = |key: String| self.bus.publisher(&key).metered(meter.clone(), Tally::Out, None);
        let mut apps = FxHashMap::default();
        for e in &spec.exposed_names {
            let route = AppRoute {
                name: self.name(e),
                inbound: out(format!("{e}.inbound")),
                event: out(format!("{e}.event")),
            };
            apps.insert(e.clone(), route);
        }
        let mut transports = FxHashMap::default();
        for t in &spec.transport_names {
            let route = TransportRoute {
                name: self.name(t),
                outbound: out(format!("{t}.outbound")),
            };
            transports.insert(t.clone(), route);
        }
        (apps, transports)
    }

    pub(super) fn dispatcher(&mut self, d: &Resolved<DispatcherSpec>) -> Result<(), TopologyError> {
        let spec = &d.spec;
        let config = d.router_config();
        let mut instances = Vec::new();
        for _ in 0..spec.instances {
            let stack = self.stack(d, &spec.name, &spec.name)?;
            let grants = self.grants(Kind::Router, &spec.name, &spec.name, None);
            let what = Instance {
                library: d.library,
                kind: Kind::Router,
                component: &d.component,
                name: &spec.name,
                endpoint: &spec.name,
                config: &config,
            };
            let router = self.create(what, grants)?;
            let (apps, transports) = self.routes(spec);
            let dispatcher = Arc::new(Dispatcher::new(
                spec,
                router.clone(),
                self.bus.clone(),
                self.state.clone(),
                apps,
                transports,
                stack,
            ));
            for (flow, endpoint) in spec.queues() {
                for consumer in self.consumers(&format!("{endpoint}.{flow}"), spec.concurrency) {
                    let consumer = consumer.metered(self.meter(Kind::Router, &spec.name), Tally::In);
                    let from = self.name(&endpoint);
                    self.consumers.push(tokio::spawn(consume_dispatcher(
                        dispatcher.clone(),
                        consumer,
                        flow,
                        from,
                    )));
                }
            }
            instances.push(router);
        }
        self.nodes.push(Node {
            kind: Kind::Router,
            name: spec.name.clone(),
            instances,
        });
        Ok(())
    }
}
