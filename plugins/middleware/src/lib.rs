//! Built-in middleware, each configured as Vumi's is (its Vumi class path works as the plugin
//! name too).

mod address_translation;
mod logging;
mod provider;
mod session_length;

pub use address_translation::AddressTranslation;
pub use logging::Logging;
pub use provider::{AddressPrefixProvider, StaticProvider};
pub use session_length::SessionLength;

ruvuma_plugin_api::export_plugin!(middleware: [
    Logging,
    AddressTranslation,
    StaticProvider,
    AddressPrefixProvider,
    SessionLength,
]);
