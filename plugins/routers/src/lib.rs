//! Routers for dispatchers: where each inbound message, outbound message and event goes.

mod simple;

pub use simple::SimpleDispatchRouter;

ruvuma_plugin_api::export_plugin!(routers: [SimpleDispatchRouter]);
