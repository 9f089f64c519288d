//! `telnet`: a line-based transport, handy for trying applications by hand (Vumi's
//! TelnetServerTransport). One connection is one user: connecting opens a session
//! (`session_event: new`), each line is a message, disconnecting closes the session.

mod lines;

use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::tokio::{
    self,
    io::{AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::{mpsc, oneshot, watch},
};
use ruvuma_plugin_api::tracing::{debug, info, warn};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

fn default_bind() -> String {
    "127.0.0.1:9010".into()
}

fn default_max_line() -> usize {
    4096
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
    /// Longest line in bytes; longer input is cut into pieces of this size.
    #[serde(default = "default_max_line")]
    pub max_line: usize,
}

struct Outgoing {
    text: String,
    close: bool,
    done: oneshot::Sender<Result<(), String>>,
}

type Connections = Arc<Mutex<HashMap<String, mpsc::Sender<Outgoing>>>>;

pub struct Telnet {
    ctx: Context,
    config: Config,
    connections: Connections,
    draining: watch::Sender<bool>,
}

impl Component for Telnet {
    type Config = Config;
    const NAME: &'static str = "telnet";
    const ALIASES: &'static [&'static str] = &["vumi.transports.telnet.TelnetServerTransport"];
    const DESCRIPTION: &'static str = "Line-based TCP server: one connection per user, one line per message.";
    const CONFIG_DOC: &'static str = "bind: address to listen on (127.0.0.1:9010)\n\
        to_addr: to_addr of inbound messages (the listening address)\n\
        max_line: longest line in bytes (4096)";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if config.bind.parse::<SocketAddr>().is_err() {
            problems.push(ConfigProblem::at(
                "bind",
                format!("{:?} is not an address like 127.0.0.1:9010", config.bind),
            ));
        }
        if config.max_line == 0 {
            problems.push(ConfigProblem::at("max_line", "must be at least 1"));
        }
        problems
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
        let to_addr = self.config.to_addr.clone().unwrap_or_else(|| local.to_string());
        let accept = Acceptor {
            ctx: self.ctx.clone(),
            connections: self.connections.clone(),
            draining: self.draining.subscribe(),
            to_addr,
            max_line: self.config.max_line,
        };
        self.ctx.spawn(accept.run(listener));
        Ok(())
    }

    async fn handle_outbound(&self, msg: Message) -> Result<(), String> {
        let to = msg.to_addr();
        let sender = self
            .connections
            .lock()
            .map_err(|_| "connection table poisoned")?
            .get(to)
            .cloned();
        let Some(sender) = sender else {
            return Err(format!(
                "no telnet connection for to_addr {to:?} (the user has disconnected)"
            ));
        };
        let (done, result) = oneshot::channel();
        let out = Outgoing {
            text: msg.content().unwrap_or_default().to_owned(),
            close: msg.session_event == SessionEvent::Close,
            done,
        };
        sender
            .send(out)
            .await
            .map_err(|_| format!("telnet connection {to} closed before the reply was written"))?;
        result
            .await
            .map_err(|_| format!("telnet connection {to} closed before the reply was written"))??;
        self.ctx.publish_event(Event::ack(&msg, &msg.message_id)).await
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

struct Acceptor {
    ctx: Context,
    connections: Connections,
    draining: watch::Receiver<bool>,
    to_addr: String,
    max_line: usize,
}

impl Acceptor {
    async fn run(self, listener: TcpListener) {
        let mut draining = self.draining.clone();
        loop {
            tokio::select! {
                _ = draining.wait_for(|d| *d) => {
                    info!("telnet stops accepting connections");
                    return;
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => self.open(stream, peer),
                    Err(e) => warn!("telnet accept failed: {e}"),
                }
            }
        }
    }

    fn open(&self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (tx, rx) = mpsc::channel(64);
        let from = peer.to_string();
        if let Ok(mut table) = self.connections.lock() {
            table.insert(from.clone(), tx);
        }
        self.ctx.spawn(write_loop(write, rx, from.clone()));
        let session = Session {
            ctx: self.ctx.clone(),
            connections: self.connections.clone(),
            from,
            to: self.to_addr.clone(),
            draining: self.draining.clone(),
            max_line: self.max_line,
        };
        self.ctx.spawn(session.run(read));
    }
}

async fn write_loop(mut write: tokio::net::tcp::OwnedWriteHalf, mut rx: mpsc::Receiver<Outgoing>, peer: String) {
    while let Some(out) = rx.recv().await {
        let mut bytes = out.text.into_bytes();
        bytes.push(b'\n');
        let result = write
            .write_all(&bytes)
            .await
            .map_err(|e| format!("writing to {peer}: {e}"));
        let failed = result.is_err();
        let _ = out.done.send(result);
        if failed || out.close {
            let _ = write.shutdown().await;
            break;
        }
    }
    debug!("telnet writer for {peer} ends");
}

struct Session {
    ctx: Context,
    connections: Connections,
    from: String,
    to: String,
    draining: watch::Receiver<bool>,
    max_line: usize,
}

impl Session {
    fn message(&self, content: Option<&str>, event: SessionEvent) -> Message {
        Message::new(&self.from, &self.to, content, self.ctx.endpoint(), "telnet").with_session_event(event)
    }

    async fn publish(&self, content: Option<&str>, event: SessionEvent) -> bool {
        match self.ctx.publish_inbound(self.message(content, event)).await {
            Ok(()) => true,
            Err(e) => {
                warn!("telnet {}: cannot publish: {e}", self.from);
                false
            }
        }
    }

    async fn run(self, read: tokio::net::tcp::OwnedReadHalf) {
        if !self.publish(None, SessionEvent::New).await {
            return;
        }
        let mut reader = BufReader::new(read);
        let mut buf = Vec::with_capacity(256);
        let mut draining = self.draining.clone();
        loop {
            buf.clear();
            let line = tokio::select! {
                _ = draining.wait_for(|d| *d) => return,
                line = lines::read_line(&mut reader, &mut buf, self.max_line) => line,
            };
            match line {
                Ok(Some(text)) => {
                    if !self.publish(Some(&text), SessionEvent::Resume).await {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    debug!("telnet {}: read error: {e}", self.from);
                    break;
                }
            }
        }
        let open = self
            .connections
            .lock()
            .map(|mut t| t.remove(&self.from).is_some())
            .unwrap_or(false);
        if open && !*self.draining.borrow() {
            self.publish(None, SessionEvent::Close).await;
        }
    }
}

ruvuma_plugin_api::export_plugin!(transports: [Telnet]);
