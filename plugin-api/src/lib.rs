//! The crate ruvuma plugin authors depend on.
//!
//! Write a plain struct, implement [`Component`] and one of [`Transport`], [`Application`] or
//! [`Router`], and export it with one line of [`export_plugin!`]. The library builds as a
//! `cdylib` that the `ruvuma` host loads from its plugin folders.
//!
//! ```no_run
//! use ruvuma_plugin_api::prelude::*;
//!
//! pub struct Shout { ctx: Context }
//!
//! impl Component for Shout {
//!     type Config = NoConfig;
//!     const NAME: &'static str = "shout";
//!     const DESCRIPTION: &'static str = "Replies with the message in capitals.";
//!     fn create(_: NoConfig, ctx: Context) -> Result<Self, String> { Ok(Self { ctx }) }
//! }
//!
//! impl Application for Shout {
//!     async fn consume_user_message(&self, msg: Message) -> Result<(), String> {
//!         let loud = msg.content().unwrap_or_default().to_uppercase();
//!         self.ctx.reply_to(&msg, Some(&loud), true).await
//!     }
//! }
//!
//! ruvuma_plugin_api::export_plugin!(applications: [Shout]);
//! ```

pub mod abi;
pub mod component;
pub mod config_values;
pub mod context;
#[doc(hidden)]
pub mod glue;
pub mod gsm;
mod logging;
pub mod message;
pub mod metadata;
pub mod room;
mod routed_name;
mod runtime;
mod scope;
pub mod status;
pub mod tally;
pub mod timestamp;
pub mod vumi_json;

pub use abi::{ConfigProblem, Direction, Flow, Kind, Routed, ABI_VERSION};
pub use component::{Application, Component, Middleware, Observer, Router, Transport};
pub use context::{Context, State};
pub use message::{DeliveryStatus, Event, EventData, EventKind, Message, MessageData, Payload, SessionEvent};
pub use metadata::JsonObject;
pub use runtime::runtime;
pub use status::{Status, StatusLevel};
pub use timestamp::Timestamp;

/// Re-exports for code that the export macro generates and for plugin authors.
#[doc(hidden)]
pub mod __private {
    pub use abi_stable;
    pub use async_ffi;
}
pub use abi_stable::std_types;
pub use serde;
pub use serde_json;
pub use tokio;
pub use tracing;

/// The config of a component that takes none (any keys given are an error).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// Everything a plugin usually needs.
pub mod prelude {
    pub use crate::{
        Application, Component, ConfigProblem, Context, DeliveryStatus, Direction, Event, EventKind, Flow, Message,
        Middleware, NoConfig, Observer, Payload, Routed, Router, SessionEvent, Transport,
    };
    pub use serde::Deserialize;
}

/// Exports a library's components. One call per library:
///
/// ```text
/// ruvuma_plugin_api::export_plugin!(transports: [Telnet], applications: [Echo], routers: [Simple]);
/// ```
/// Every section is optional; the order is transports, applications, routers, middleware,
/// observers.
#[macro_export]
macro_rules! export_plugin {
    (
        $(transports: [$($t:ty),* $(,)?] $(,)?)?
        $(applications: [$($a:ty),* $(,)?] $(,)?)?
        $(routers: [$($r:ty),* $(,)?] $(,)?)?
        $(middleware: [$($m:ty),* $(,)?] $(,)?)?
        $(observers: [$($o:ty),* $(,)?] $(,)?)?
    ) => {
        $crate::export_plugin!(@abi $crate::abi::ABI_VERSION;
            $($($crate::glue::Factory::<$t, $crate::glue::AsTransport>::NEW,)*)?
            $($($crate::glue::Factory::<$a, $crate::glue::AsApplication>::NEW,)*)?
            $($($crate::glue::Factory::<$r, $crate::glue::AsRouter>::NEW,)*)?
            $($($crate::glue::Factory::<$m, $crate::glue::AsMiddleware>::NEW,)*)?
            $($($crate::glue::Factory::<$o, $crate::glue::AsObserver>::NEW,)*)?
        );
    };
    (@abi $abi:expr; $($factory:expr),* $(,)?) => {
        #[doc(hidden)]
        static __RUVUMA_FACTORIES: &[&dyn $crate::glue::FactoryDyn] = &[$(&$factory),*];

        #[doc(hidden)]
        extern "C" fn __ruvuma_info() -> $crate::abi::LibraryInfo {
            $crate::glue::library_info(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), $abi, __RUVUMA_FACTORIES)
        }

        #[doc(hidden)]
        extern "C" fn __ruvuma_validate(
            kind: $crate::abi::Kind,
            component: $crate::std_types::RStr<'_>,
            config: $crate::std_types::RStr<'_>,
        ) -> $crate::std_types::RVec<$crate::abi::ConfigProblem> {
            $crate::glue::validate(__RUVUMA_FACTORIES, kind, component, config)
        }

        #[doc(hidden)]
        extern "C" fn __ruvuma_create(
            args: $crate::abi::CreateArgs,
        ) -> $crate::abi::FfiResult<$crate::abi::ComponentBox> {
            $crate::glue::create(__RUVUMA_FACTORIES, args)
        }

        #[doc(hidden)]
        extern "C" fn __ruvuma_concurrency(
            kind: $crate::abi::Kind,
            component: $crate::std_types::RStr<'_>,
            config: $crate::std_types::RStr<'_>,
        ) -> u32 {
            $crate::glue::concurrency(__RUVUMA_FACTORIES, kind, component, config)
        }

        #[doc(hidden)]
        fn __ruvuma_root_module() -> $crate::abi::PluginModRef {
            $crate::glue::root_module($abi, __ruvuma_info, __ruvuma_validate, __ruvuma_create, __ruvuma_concurrency)
        }

        /// The header the host finds this library by (abi_stable's root module loader).
        #[doc(hidden)]
        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        pub static __RUVUMA_LIB_HEADER: $crate::__private::abi_stable::library::LibHeader = {
            extern "C" fn erased() -> $crate::__private::abi_stable::library::RootModuleResult {
                $crate::__private::abi_stable::library::__call_root_module_loader(__ruvuma_root_module)
            }
            // SAFETY: `erased` returns the `PluginModRef` built by `__ruvuma_root_module`.
            unsafe {
                $crate::__private::abi_stable::library::LibHeader::from_constructor::<$crate::abi::PluginModRef>(
                    erased,
                    $crate::__private::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}
