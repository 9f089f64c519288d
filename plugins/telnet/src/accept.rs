//! Accepting telnet connections: at most `max_connections` at once (more are closed as they
//! come), and after a failed accept (out of file descriptors, say) a pause of 100 ms doubling to
//! a second instead of a spin. Either problem is logged at most every ten seconds, with a count.

use crate::connection::{Conn, Connections, Session, Writer};
use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::tally::{Backoff, Tally};
use ruvuma_plugin_api::tokio::{
    self,
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore},
};
use ruvuma_plugin_api::tracing::{info, warn};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const REPORT_EVERY: Duration = Duration::from_secs(10);

pub struct Acceptor {
    pub ctx: Context,
    pub connections: Connections,
    pub draining: watch::Receiver<bool>,
    pub to_addr: String,
    pub max_line: usize,
    pub max_connections: usize,
    pub queue: usize,
    pub write_timeout: Duration,
}

async fn drained(draining: &mut watch::Receiver<bool>) {
    let _ = draining.wait_for(|d| *d).await;
}

impl Acceptor {
    pub async fn run(self, listener: TcpListener) {
        let permits = Arc::new(Semaphore::new(self.max_connections));
        let mut refused = Tally::new(REPORT_EVERY);
        let mut failed = Tally::new(REPORT_EVERY);
        let mut backoff = Backoff::new();
        let mut draining = self.draining.clone();
        loop {
            let accepted = tokio::select! {
                _ = drained(&mut draining) => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff.reset();
                    match permits.clone().try_acquire_owned() {
                        Ok(permit) => self.open(stream, peer, permit),
                        Err(_) => {
                            drop(stream);
                            if let Some(n) = refused.note() {
                                warn!(
                                    "telnet: max_connections ({}) reached; closed {n} new connection(s) since the last report",
                                    self.max_connections
                                );
                            }
                        }
                    }
                }
                Err(e) => {
                    let wait = backoff.step();
                    if let Some(n) = failed.note() {
                        warn!(
                            "telnet accept failed {n} time(s) since the last report: {e}; pausing {} ms",
                            wait.as_millis()
                        );
                    }
                    tokio::select! {
                        _ = drained(&mut draining) => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        info!("telnet stops accepting connections");
    }

    fn open(&self, stream: TcpStream, peer: SocketAddr, permit: OwnedSemaphorePermit) {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (tx, rx) = mpsc::channel(self.queue);
        let from = peer.to_string();
        let conn = Conn::new(tx);
        if let Ok(mut table) = self.connections.lock() {
            table.insert(from.clone(), conn.clone());
        }
        let writer = Writer {
            ctx: self.ctx.clone(),
            peer: from.clone(),
            closer: conn.closer.clone(),
            write_timeout: self.write_timeout,
        };
        self.ctx.spawn(writer.run(write, rx));
        let session = Session {
            ctx: self.ctx.clone(),
            connections: self.connections.clone(),
            conn,
            from,
            to: self.to_addr.clone(),
            draining: self.draining.clone(),
            max_line: self.max_line,
            permit,
        };
        self.ctx.spawn(session.run(read));
    }
}
