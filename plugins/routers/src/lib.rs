//! Routers for dispatchers: where each inbound message, outbound message and event goes.
//! Each accepts its Vumi dotted class name as `router_class` as well as a short name.

mod common;
mod from_addr;
mod keyword;
mod load_balancing;
mod redirect;
mod routing_table;
mod simple;
mod to_addr;
mod transport_to_transport;
mod user_grouping;

pub use from_addr::FromAddrMultiplexRouter;
pub use keyword::ContentKeywordRouter;
pub use load_balancing::LoadBalancingRouter;
pub use redirect::RedirectRouter;
pub use routing_table::RoutingTableDispatcher;
pub use simple::SimpleDispatchRouter;
pub use to_addr::ToAddrRouter;
pub use transport_to_transport::TransportToTransportRouter;
pub use user_grouping::UserGroupingRouter;

ruvuma_plugin_api::export_plugin!(routers: [
    SimpleDispatchRouter,
    TransportToTransportRouter,
    ToAddrRouter,
    FromAddrMultiplexRouter,
    UserGroupingRouter,
    ContentKeywordRouter,
    RedirectRouter,
    LoadBalancingRouter,
    RoutingTableDispatcher,
]);
