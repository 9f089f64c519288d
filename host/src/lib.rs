//! The ruvuma host: loads plugin libraries, compiles a YAML config into a topology, and runs it
//! on a bus. The folders follow the data: `config` → `compile` → `plugins` → `topology` →
//! `bus` and `state`; `app` starts a host, `reload` replaces its config while it runs, `cli` is
//! the command line.

pub mod admin;
pub mod app;
pub mod bus;
pub mod cli;
pub mod compile;
pub mod config;
pub mod error;
pub mod events;
pub mod failures;
pub mod logging;
pub mod messages;
pub mod plugins;
pub mod reload;
pub mod state;
pub mod store;
pub mod text;
pub mod topology;
