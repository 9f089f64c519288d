//! `telnet`: a line-based transport, handy for trying applications by hand (Vumi's
//! TelnetServerTransport). One connection is one user: connecting opens a session
//! (`session_event: new`), each line is a message, disconnecting closes the session.
//! Each connection has its own bounded queue of replies and its own writer, which writes all
//! that is queued in one go: a user who does not read loses their connection, and every other
//! user's replies carry on.

mod accept;
mod connection;
mod lines;

use accept::Acceptor;
use connection::{Connections, Outgoing};
use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::tokio::{net::TcpListener, sync::mpsc::error::TrySendError, sync::watch};
use ruvuma_plugin_api::tracing::{info, warn};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

fn default_bind() -> String {
    "127.0.0.1:9010".into()
}
fn default_max_line() -> usize {
    4096
}
fn default_max_connections() -> usize {
    1000
}
fn default_queue() -> usize {
    64
}
fn default_write_timeout() -> u64 {
    10_000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_bind")]
    pub bind: String,
    /// `to_addr` of inbound messages; default: the listening address.
    #[serde(default)]
    pub to_addr: Option<String>,
    /// Longest line in bytes (1..=65536); longer input is cut into pieces of this size.
    #[serde(default = "default_max_line")]
    pub max_line: usize,
    /// Connections held at once (1..=100000); more are closed as they come.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Replies waiting for one connection (1..=10000); a connection whose queue is full is closed.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Milliseconds one write may take (100..=600000): one reply, or the replies queued together
    /// (up to 64 KiB); then the connection is closed.
    #[serde(default = "default_write_timeout")]
    pub write_timeout_ms: u64,
}

pub struct Telnet {
    ctx: Context,
    config: Config,
    connections: Connections,
    draining: watch::Sender<bool>,
}

fn within(key: &str, value: u64, min: u64, max: u64) -> Option<ConfigProblem> {
    (value < min || value > max).then(|| ConfigProblem::at(key, format!("{value} is outside {min}..={max}")))
}

impl Component for Telnet {
    type Config = Config;
    const NAME: &'static str = "telnet";
    const ALIASES: &'static [&'static str] = &["vumi.transports.telnet.TelnetServerTransport"];
    const DESCRIPTION: &'static str = "Line-based TCP server: one connection per user, one line per message.";
    const CONFIG_DOC: &'static str = "bind: address to listen on (127.0.0.1:9010)\n\
        to_addr: to_addr of inbound messages (the listening address)\n\
        max_line: longest line in bytes (4096, 1..=65536)\n\
        max_connections: connections held at once (1000, 1..=100000)\n\
        queue: replies waiting for one connection (64, 1..=10000)\n\
        write_timeout_ms: time one write (a reply, or up to 64 KiB of queued replies) may take (10000, 100..=600000)";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if config.bind.parse::<SocketAddr>().is_err() {
            problems.push(ConfigProblem::at(
                "bind",
                format!("{:?} is not an address like 127.0.0.1:9010", config.bind),
            ));
        }
        problems.extend(
            [
                within("max_line", config.max_line as u64, 1, 65_536),
                within("max_connections", config.max_connections as u64, 1, 100_000),
                within("queue", config.queue as u64, 1, 10_000),
                within("write_timeout_ms", config.write_timeout_ms, 100, 600_000),
            ]
            .into_iter()
            .flatten(),
        );
        problems
    }

    /// One delivery at a time, on purpose: `handle_outbound` never waits on a socket (it only
    /// queues the reply on its connection, whose writer does the rest), so one loop keeps up,
    /// and it keeps each connection's replies in the order the application sent them. With
    /// several loops, two replies to one user can be queued the wrong way round (measured: about
    /// 0.7% of replies under pipelined load).
    fn concurrency(_config: &Config) -> Option<usize> {
        Some(1)
    }

    fn create(config: Config, ctx: Context) -> Result<Self, String> {
        Ok(Self {
            ctx,
            config,
            connections: Arc::default(),
            draining: watch::channel(false).0,
        })
    }
}

impl Transport for Telnet {
    async fn start(&self) -> Result<(), String> {
        let listener = TcpListener::bind(&self.config.bind)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", self.config.bind))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        info!("telnet listening on {local}");
        let accept = Acceptor {
            ctx: self.ctx.clone(),
            connections: self.connections.clone(),
            draining: self.draining.subscribe(),
            to_addr: self.config.to_addr.clone().unwrap_or_else(|| local.to_string()),
            max_line: self.config.max_line,
            max_connections: self.config.max_connections,
            queue: self.config.queue,
            write_timeout: Duration::from_millis(self.config.write_timeout_ms),
        };
        self.ctx.spawn(accept.run(listener));
        Ok(())
    }

    /// Queues the reply on its connection and returns: the connection's writer writes it (with
    /// whatever else is queued) and acks or nacks it.
    async fn handle_outbound(&self, msg: Message) -> Result<(), String> {
        let to = msg.to_addr().to_owned();
        let close = msg.session_event == SessionEvent::Close;
        let sent = {
            let table = self.connections.lock().map_err(|_| "connection table poisoned")?;
            let Some(conn) = table.get(&to) else {
                return Err(format!(
                    "no telnet connection for to_addr {to:?} (the user has disconnected)"
                ));
            };
            conn.replies
                .try_send(Outgoing { msg, close })
                .map_err(|e| (e, conn.closer.clone()))
        };
        match sent {
            Ok(()) => Ok(()),
            Err((TrySendError::Full(_), closer)) => {
                let why = format!(
                    "telnet connection {to} is not reading ({} replies waiting); it is closed",
                    self.config.queue
                );
                warn!("{why}");
                connection::forget(&self.connections, &to);
                closer.close(&why);
                Err(why)
            }
            Err((TrySendError::Closed(_), _)) => {
                Err(format!("telnet connection {to} closed before the reply was written"))
            }
        }
    }

    async fn drain(&self) {
        self.draining.send_replace(true);
    }

    async fn stop(&self) {
        self.draining.send_replace(true);
        if let Ok(mut table) = self.connections.lock() {
            table.clear();
        }
    }
}

ruvuma_plugin_api::export_plugin!(transports: [Telnet]);
