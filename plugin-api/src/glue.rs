//! What `export_plugin!` expands to calls into here: the catalogue, config checks, constructors,
//! and the adapters from the plain traits to the ABI's trait object.

use crate::abi::{
    ComponentBox, ComponentFfi, ComponentFfi_TO, ComponentInfo, ConfigProblem, CreateArgs, Delivery, EndpointName,
    FfiResult, Flow, Kind, LibraryInfo, PluginMod, PluginModRef, Routed,
};
use crate::component::{Application, Component, Middleware, Observer, Router, Transport};
use crate::context::Context;
use crate::message::Payload;
use crate::room::{RoomFuture, RoomSlot};
use crate::runtime::{guard_sync, Guarded};
use crate::scope::Scope;
use abi_stable::{
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RBox, RResult, RStr, RString, RVec},
};
use async_ffi::{FfiFuture, FutureExt};
use std::{future::Future, marker::PhantomData, sync::Arc};

/// One entry of a library's catalogue.
pub trait FactoryDyn: Sync {
    fn info(&self) -> ComponentInfo;
    fn answers_to(&self, kind: Kind, name: &str) -> bool;
    fn validate(&self, config_json: &str) -> Vec<ConfigProblem>;
    fn concurrency(&self, config_json: &str) -> Option<usize>;
    fn create(&self, args: CreateArgs) -> Result<ComponentBox, String>;
}

/// How a component of one kind is wrapped into the ABI's trait object.
pub trait Wrap<T: Component> {
    const KIND: Kind;
    fn wrap(inner: Arc<T>, ctx: Context) -> ComponentBox;
}

pub struct AsTransport;
pub struct AsApplication;
pub struct AsRouter;
pub struct AsMiddleware;
pub struct AsObserver;

/// A catalogue entry for component `T` of the kind `K` says.
pub struct Factory<T, K>(PhantomData<fn() -> (T, K)>);

impl<T, K> Factory<T, K> {
    pub const NEW: Self = Self(PhantomData);
}

fn parse_config<T: Component>(config_json: &str) -> Result<T::Config, ConfigProblem> {
    let text = match config_json.trim() {
        "" | "null" => "{}",
        other => other,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let inner = match inner.rfind(" at line ") {
            Some(at) => inner[..at].to_owned(),
            None => inner,
        };
        if path == "." || path.is_empty() {
            ConfigProblem::whole(inner)
        } else {
            ConfigProblem::at(&path, inner)
        }
    })
}

impl<T: Component, K: Wrap<T>> FactoryDyn for Factory<T, K> {
    fn info(&self) -> ComponentInfo {
        ComponentInfo {
            kind: K::KIND,
            name: T::NAME.into(),
            aliases: T::ALIASES.iter().map(|a| RString::from(*a)).collect(),
            description: T::DESCRIPTION.into(),
            config_doc: T::CONFIG_DOC.into(),
        }
    }

    fn answers_to(&self, kind: Kind, name: &str) -> bool {
        kind == K::KIND && (name == T::NAME || T::ALIASES.contains(&name))
    }

    fn validate(&self, config_json: &str) -> Vec<ConfigProblem> {
        match parse_config::<T>(config_json) {
            Ok(config) => T::check(&config),
            Err(e) => vec![e],
        }
    }

    fn concurrency(&self, config_json: &str) -> Option<usize> {
        parse_config::<T>(config_json).ok().and_then(|c| T::concurrency(&c))
    }

    fn create(&self, args: CreateArgs) -> Result<ComponentBox, String> {
        crate::logging::install(&args.services);
        let ctx = Context::new(K::KIND, &args.instance_name, &args.endpoint, args.services);
        let config = parse_config::<T>(&args.config_json).map_err(|p| p.to_string())?;
        let problems = T::check(&config);
        if !problems.is_empty() {
            let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
            return Err(problems.join("; "));
        }
        let scope = ctx.scope().clone();
        let inner = guard_sync(Some(&scope), || T::create(config, ctx.clone()))??;
        Ok(K::wrap(Arc::new(inner), ctx))
    }
}

fn guarded<T, F>(scope: &Arc<Scope>, fut: F) -> FfiFuture<FfiResult<T>>
where
    T: Send + 'static,
    F: Future<Output = Result<T, String>> + Send + 'static,
{
    Guarded::new(
        scope.clone(),
        async move { RResult::from(fut.await.map_err(RString::from)) },
        |m| RResult::RErr(m.into()),
    )
    .into_ffi()
}

/// [`guarded`] for a future that borrows its component (a delivery being consumed), made in
/// the host's room when it fits. `make` makes the component's future at the first poll, in
/// place, so that only what it captured is moved on the way there.
fn guarded_ref<'a, T, F, M>(room: RoomSlot, scope: &'a Scope, make: M) -> RoomFuture<'a, FfiResult<T>>
where
    T: Send + 'static,
    F: Future<Output = Result<T, String>> + Send + 'a,
    M: FnOnce() -> F + Send + 'a,
{
    RoomFuture::lodge_with(room, move || {
        Guarded::new(
            scope,
            async move { RResult::from(make().await.map_err(RString::from)) },
            |m| RResult::RErr(m.into()),
        )
    })
}

fn guarded_unit<F>(scope: &Arc<Scope>, fut: F) -> FfiFuture<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    Guarded::new(scope.clone(), fut, |_| ()).into_ffi()
}

/// The answer to a host event given to a component that is not an observer.
fn not_an_observer(ctx: &Context) -> FfiFuture<FfiResult<()>> {
    let error = format!("{} {:?} is not an observer", ctx.kind(), ctx.name());
    guarded(ctx.scope(), async move { Err(error) })
}

/// The answer to a delivery this kind of component never takes.
fn unexpected(ctx: &Context, delivery: Delivery, room: RoomSlot) -> RoomFuture<'_, FfiResult<RVec<Routed>>> {
    let what = match delivery.payload {
        Payload::Message(_) => "a message",
        Payload::Event(_) => "an event",
    };
    let error = format!(
        "{} {:?} cannot take {what} on {}.{}",
        ctx.kind(),
        ctx.name(),
        delivery.endpoint,
        delivery.flow
    );
    guarded_ref(room, ctx.scope(), move || async move { Err(error) })
}

struct Adapter<T, K> {
    inner: Arc<T>,
    ctx: Context,
    _kind: PhantomData<fn() -> K>,
}

impl<T: Component, K> Adapter<T, K> {
    fn boxed(inner: Arc<T>, ctx: Context) -> ComponentBox
    where
        Self: ComponentFfi,
        K: 'static,
    {
        ComponentFfi_TO::from_ptr(
            RBox::new(Self {
                inner,
                ctx,
                _kind: PhantomData,
            }),
            TD_Opaque,
        )
    }
}

impl<T: Transport> Wrap<T> for AsTransport {
    const KIND: Kind = Kind::Transport;
    fn wrap(inner: Arc<T>, ctx: Context) -> ComponentBox {
        Adapter::<T, Self>::boxed(inner, ctx)
    }
}

impl<T: Transport> ComponentFfi for Adapter<T, AsTransport> {
    fn start(&self) -> FfiFuture<FfiResult<()>> {
        let t = self.inner.clone();
        guarded(self.ctx.scope(), async move { t.start().await })
    }

    fn consume(&self, delivery: Delivery, room: RoomSlot) -> RoomFuture<'_, FfiResult<RVec<Routed>>> {
        let t = &*self.inner;
        match (delivery.flow, delivery.payload) {
            (Flow::Outbound, Payload::Message(msg)) => guarded_ref(room, self.ctx.scope(), move || async move {
                t.handle_outbound(msg).await.map(|()| RVec::new())
            }),
            (flow, payload) => unexpected(
                &self.ctx,
                Delivery {
                    flow,
                    payload,
                    ..delivery
                },
                room,
            ),
        }
    }

    fn drain(&self) -> FfiFuture<()> {
        let t = self.inner.clone();
        guarded_unit(self.ctx.scope(), async move { t.drain().await })
    }

    fn stop(&self) -> FfiFuture<()> {
        let t = self.inner.clone();
        guarded_unit(self.ctx.scope(), async move { t.stop().await })
    }

    fn observe(&self, _event_json: RString) -> FfiFuture<FfiResult<()>> {
        not_an_observer(&self.ctx)
    }
}

impl<T: Application> Wrap<T> for AsApplication {
    const KIND: Kind = Kind::Application;
    fn wrap(inner: Arc<T>, ctx: Context) -> ComponentBox {
        Adapter::<T, Self>::boxed(inner, ctx)
    }
}

impl<T: Application> ComponentFfi for Adapter<T, AsApplication> {
    fn start(&self) -> FfiFuture<FfiResult<()>> {
        let t = self.inner.clone();
        guarded(self.ctx.scope(), async move { t.start().await })
    }

    fn consume(&self, delivery: Delivery, room: RoomSlot) -> RoomFuture<'_, FfiResult<RVec<Routed>>> {
        let t = &*self.inner;
        match (delivery.flow, delivery.payload) {
            (Flow::Inbound, Payload::Message(msg)) => guarded_ref(room, self.ctx.scope(), move || async move {
                t.consume_user_message(msg).await.map(|()| RVec::new())
            }),
            (Flow::Event, Payload::Event(ev)) => guarded_ref(room, self.ctx.scope(), move || async move {
                t.consume_event(ev).await.map(|()| RVec::new())
            }),
            (flow, payload) => unexpected(
                &self.ctx,
                Delivery {
                    flow,
                    payload,
                    ..delivery
                },
                room,
            ),
        }
    }

    fn drain(&self) -> FfiFuture<()> {
        guarded_unit(self.ctx.scope(), async {})
    }

    fn stop(&self) -> FfiFuture<()> {
        let t = self.inner.clone();
        guarded_unit(self.ctx.scope(), async move { t.stop().await })
    }

    fn observe(&self, _event_json: RString) -> FfiFuture<FfiResult<()>> {
        not_an_observer(&self.ctx)
    }
}

impl<T: Router> Wrap<T> for AsRouter {
    const KIND: Kind = Kind::Router;
    fn wrap(inner: Arc<T>, ctx: Context) -> ComponentBox {
        Adapter::<T, Self>::boxed(inner, ctx)
    }
}

impl<T: Router> ComponentFfi for Adapter<T, AsRouter> {
    fn start(&self) -> FfiFuture<FfiResult<()>> {
        guarded(self.ctx.scope(), async { Ok(()) })
    }

    fn consume(&self, delivery: Delivery, room: RoomSlot) -> RoomFuture<'_, FfiResult<RVec<Routed>>> {
        let t = &*self.inner;
        let Delivery {
            flow,
            endpoint,
            payload,
            sender,
            direction,
        } = delivery;
        match (flow, payload) {
            (Flow::Inbound, Payload::Message(msg)) => guarded_ref(room, self.ctx.scope(), move || async move {
                t.dispatch_inbound(msg, &endpoint).await.map(RVec::from)
            }),
            (Flow::Outbound, Payload::Message(msg)) => guarded_ref(room, self.ctx.scope(), move || async move {
                t.dispatch_outbound(msg, &endpoint).await.map(RVec::from)
            }),
            (Flow::Event, Payload::Event(ev)) => guarded_ref(room, self.ctx.scope(), move || async move {
                let sender = sender.as_ref().map(|s| s.as_str());
                t.dispatch_event(ev, &endpoint, sender.into()).await.map(RVec::from)
            }),
            (flow, payload) => unexpected(
                &self.ctx,
                Delivery {
                    flow,
                    endpoint,
                    payload,
                    sender,
                    direction,
                },
                room,
            ),
        }
    }

    fn drain(&self) -> FfiFuture<()> {
        guarded_unit(self.ctx.scope(), async {})
    }

    fn stop(&self) -> FfiFuture<()> {
        guarded_unit(self.ctx.scope(), async {})
    }

    fn observe(&self, _event_json: RString) -> FfiFuture<FfiResult<()>> {
        not_an_observer(&self.ctx)
    }
}

impl<T: Middleware> Wrap<T> for AsMiddleware {
    const KIND: Kind = Kind::Middleware;
    fn wrap(inner: Arc<T>, ctx: Context) -> ComponentBox {
        Adapter::<T, Self>::boxed(inner, ctx)
    }
}

/// What passes on: the payload again on the same flow and endpoint, or nothing (dropped).
fn passed<P: Into<Payload>>(flow: Flow, endpoint: &EndpointName, kept: Option<P>) -> RVec<Routed> {
    match kept {
        Some(p) => RVec::from(vec![Routed {
            flow,
            endpoint: endpoint.as_str().into(),
            payload: p.into(),
        }]),
        None => RVec::new(),
    }
}

impl<T: Middleware> ComponentFfi for Adapter<T, AsMiddleware> {
    fn start(&self) -> FfiFuture<FfiResult<()>> {
        guarded(self.ctx.scope(), async { Ok(()) })
    }

    fn consume(&self, delivery: Delivery, room: RoomSlot) -> RoomFuture<'_, FfiResult<RVec<Routed>>> {
        let t = &*self.inner;
        let Delivery {
            flow,
            endpoint,
            payload,
            direction,
            ..
        } = delivery;
        guarded_ref(room, self.ctx.scope(), move || async move {
            match (flow, payload) {
                (Flow::Inbound, Payload::Message(m)) => t
                    .handle_inbound(m, &endpoint, direction)
                    .await
                    .map(|k| passed(flow, &endpoint, k)),
                (Flow::Outbound, Payload::Message(m)) => t
                    .handle_outbound(m, &endpoint, direction)
                    .await
                    .map(|k| passed(flow, &endpoint, k)),
                (Flow::Event, Payload::Event(e)) => t
                    .handle_event(e, &endpoint, direction)
                    .await
                    .map(|k| passed(flow, &endpoint, k)),
                (flow, _) => Err(format!("a {flow} delivery with the wrong payload kind")),
            }
        })
    }

    fn drain(&self) -> FfiFuture<()> {
        guarded_unit(self.ctx.scope(), async {})
    }

    fn stop(&self) -> FfiFuture<()> {
        guarded_unit(self.ctx.scope(), async {})
    }

    fn observe(&self, _event_json: RString) -> FfiFuture<FfiResult<()>> {
        not_an_observer(&self.ctx)
    }
}

/// The library's self-description.
pub fn library_info(name: &str, version: &str, abi_version: u32, factories: &[&dyn FactoryDyn]) -> LibraryInfo {
    LibraryInfo {
        name: name.into(),
        version: version.into(),
        abi_version,
        rustc_version: env!("RUVUMA_BUILD_RUSTC").into(),
        target: env!("RUVUMA_BUILD_TARGET").into(),
        components: factories.iter().map(|f| f.info()).collect(),
    }
}

fn find<'a>(factories: &[&'a dyn FactoryDyn], kind: Kind, name: &str) -> Result<&'a dyn FactoryDyn, String> {
    factories
        .iter()
        .copied()
        .find(|f| f.answers_to(kind, name))
        .ok_or_else(|| format!("this library has no {kind} named {name:?}"))
}

pub fn validate(
    factories: &[&dyn FactoryDyn],
    kind: Kind,
    name: RStr<'_>,
    config_json: RStr<'_>,
) -> RVec<ConfigProblem> {
    let result = guard_sync(None, || match find(factories, kind, name.as_str()) {
        Ok(f) => f.validate(config_json.as_str()),
        Err(e) => vec![ConfigProblem::whole(e)],
    });
    match result {
        Ok(problems) => problems.into_iter().collect(),
        Err(panic) => RVec::from(vec![ConfigProblem::whole(format!("config check {panic}"))]),
    }
}

pub fn concurrency(factories: &[&dyn FactoryDyn], kind: Kind, name: RStr<'_>, config_json: RStr<'_>) -> u32 {
    let asked = guard_sync(None, || {
        find(factories, kind, name.as_str())
            .ok()
            .and_then(|f| f.concurrency(config_json.as_str()))
    });
    asked.ok().flatten().map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

pub fn create(factories: &[&dyn FactoryDyn], args: CreateArgs) -> FfiResult<ComponentBox> {
    let result = guard_sync(None, || {
        let f = find(factories, args.kind, &args.component)?;
        f.create(args)
    });
    match result {
        Ok(Ok(component)) => RResult::ROk(component),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(panic) => RResult::RErr(format!("constructor {panic}").into()),
    }
}

pub type InfoFn = extern "C" fn() -> LibraryInfo;
pub type ValidateFn = extern "C" fn(Kind, RStr<'_>, RStr<'_>) -> RVec<ConfigProblem>;
pub type CreateFn = extern "C" fn(CreateArgs) -> FfiResult<ComponentBox>;
pub type ConcurrencyFn = extern "C" fn(Kind, RStr<'_>, RStr<'_>) -> u32;

pub fn root_module(
    abi_version: u32,
    info: InfoFn,
    validate: ValidateFn,
    create: CreateFn,
    concurrency: ConcurrencyFn,
) -> PluginModRef {
    PluginMod {
        abi_version,
        info,
        validate,
        create,
        concurrency,
    }
    .leak_into_prefix()
}

impl<T: Observer> Wrap<T> for AsObserver {
    const KIND: Kind = Kind::Observer;
    fn wrap(inner: Arc<T>, ctx: Context) -> ComponentBox {
        Adapter::<T, Self>::boxed(inner, ctx)
    }
}

impl<T: Observer> ComponentFfi for Adapter<T, AsObserver> {
    fn start(&self) -> FfiFuture<FfiResult<()>> {
        let t = self.inner.clone();
        guarded(self.ctx.scope(), async move { t.start().await })
    }

    fn consume(&self, delivery: Delivery, room: RoomSlot) -> RoomFuture<'_, FfiResult<RVec<Routed>>> {
        unexpected(&self.ctx, delivery, room)
    }

    fn drain(&self) -> FfiFuture<()> {
        guarded_unit(self.ctx.scope(), async {})
    }

    fn stop(&self) -> FfiFuture<()> {
        let t = self.inner.clone();
        guarded_unit(self.ctx.scope(), async move { t.stop().await })
    }

    fn observe(&self, event_json: RString) -> FfiFuture<FfiResult<()>> {
        let t = self.inner.clone();
        guarded(self.ctx.scope(), async move {
            let event = serde_json::from_str(&event_json).map_err(|e| format!("a host event that is not JSON: {e}"))?;
            t.observe(event).await
        })
    }
}
