//! The ruvuma host: loads plugin libraries, compiles a YAML config into a topology, and runs it
//! on a bus.

pub mod amqp;
pub mod bus;
pub mod cli;
pub mod compile;
pub mod config;
pub mod engine;
pub mod logging;
pub mod middleware;
pub mod plugins;
pub mod redis_state;
pub mod services;
pub mod state;
