//! End-to-end tests: the real `ruvuma` binary with the real plugin libraries, over TCP.

mod admin;
mod admin_browser;
mod browser;
mod hardening_host;
mod hardening_http;
mod hardening_smpp;
mod hardening_telnet;
mod http;
mod loading;
mod logging;
mod messaging_api;
mod middleware;
mod observers;
mod reload;
mod reload_triggers;
mod resilience;
mod retry;
mod roundtrip;
mod routers;
mod scale_out;
mod scale_out_sync;
mod smpp;
mod smpp_interop;
mod ssmi;
mod store;
mod validate;
