//! The HTTP server's accept loop: at most `max_connections` connections at once (more are
//! closed as they come, and counted in a warning at most every ten seconds), a request head
//! within `header_timeout_ms` of a connection opening or falling idle, a pause after a failed
//! accept (out of file descriptors, say) instead of a spin.

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use ruvuma_plugin_api::prelude::Context;
use ruvuma_plugin_api::tally::{Backoff, Tally};
use ruvuma_plugin_api::tokio::{
    self,
    net::{TcpListener, TcpStream},
    sync::{watch, OwnedSemaphorePermit, Semaphore},
};
use ruvuma_plugin_api::tracing::{debug, info, warn};
use std::sync::Arc;
use std::time::Duration;

/// How often a recurring problem may be logged.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Resolves once the transport stops.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

impl Limits {
    pub fn new(max_connections: usize, header_timeout_ms: u64) -> Self {
        Self {
            max_connections,
            header_timeout: Duration::from_millis(header_timeout_ms),
        }
    }
}

pub struct Server {
    pub ctx: Context,
    pub app: axum::Router,
    pub limits: Limits,
    /// Set when the transport stops: no more connections, open ones finish and close.
    pub stop: watch::Receiver<bool>,
}

impl Server {
    /// Listens on `bind` and serves from a task of the component's; the address it got.
    pub async fn listen(self, bind: &str) -> Result<std::net::SocketAddr, String> {
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        self.ctx.clone().spawn(self.run(listener));
        Ok(local)
    }

    pub async fn run(self, listener: TcpListener) {
        let permits = Arc::new(Semaphore::new(self.limits.max_connections));
        let mut refused = Tally::new(REPORT_EVERY);
        let mut failed = Tally::new(REPORT_EVERY);
        let mut backoff = Backoff::new();
        let mut stop = self.stop.clone();
        loop {
            let accepted = tokio::select! {
                _ = stopped(&mut stop) => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _)) => {
                    backoff.reset();
                    match permits.clone().try_acquire_owned() {
                        Ok(permit) => self.serve(stream, permit),
                        Err(_) => {
                            drop(stream);
                            if let Some(n) = refused.note() {
                                warn!(
                                    "http: max_connections ({}) reached; closed {n} new connection(s) since the last report",
                                    self.limits.max_connections
                                );
                            }
                        }
                    }
                }
                Err(e) => {
                    let wait = backoff.step();
                    if let Some(n) = failed.note() {
                        warn!(
                            "http accept failed {n} time(s) since the last report: {e}; pausing {} ms",
                            wait.as_millis()
                        );
                    }
                    tokio::select! {
                        _ = stopped(&mut stop) => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        info!("http stops accepting connections");
    }

    fn serve(&self, stream: TcpStream, permit: OwnedSemaphorePermit) {
        let service = TowerToHyperService::new(self.app.clone());
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .keep_alive(true);
        let mut stop = self.stop.clone();
        self.ctx.spawn(async move {
            let _permit = permit;
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                debug!("http connection ended: {e}");
            }
        });
    }
}
