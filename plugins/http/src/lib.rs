//! HTTP for ruvuma: the `http` transport (aggregators that speak HTTP, in async or sync/USSD
//! mode) and the `http_relay` application (applications written in any language behind a URL).

// Handlers answer a refused request with its HTTP response, built once per refusal.
#[allow(clippy::result_large_err)]
mod api;
mod auth;
mod bounds;
mod config;
mod delivery;
mod escape;
mod inbound;
mod pipelined;
mod relay;
mod request;
mod server;
mod transport;

pub use api::MessagingApi;
pub use relay::HttpRelay;
pub use transport::HttpTransport;

ruvuma_plugin_api::export_plugin!(transports: [HttpTransport], applications: [HttpRelay, MessagingApi]);
