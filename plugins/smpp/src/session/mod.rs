//! One bind to the SMSC, kept up for as long as the transport runs: connect, bind, keep the
//! window of submit_sm full within mt_tps, answer what the SMSC sends, and bind again when the
//! link goes.
//!
//! Binding is in `bind`, serving a bound connection (what the SMSC sends) in `serve`, sending
//! submits and settling their answers in `submit`; `outbox`, `pacer` (mt_tps) and `throttle`
//! hold the submits' flow, `warnings` bounds what the SMSC can make us log.

mod bind;
mod outbox;
mod pacer;
mod serve;
mod submit;
mod throttle;
mod warnings;

use crate::config::Settings;
use bytes::Bytes;
use pacer::Pacer;
use rusmpp::Command;
use ruvuma_plugin_api::{Context, Status, StatusLevel};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use throttle::Throttle;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use warnings::PeerWarnings;

pub use outbox::{Job, Outbox, Outcome};

/// The connection: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A PDU handed from the reader to whoever handles it (MO and receipts).
pub struct Inbound {
    pub command: Box<Command>,
    /// Where its response goes.
    pub reply: mpsc::Sender<Bytes>,
    /// One of the link's `mo_window` slots, given back when the response is on its way.
    pub slot: OwnedSemaphorePermit,
}

/// What the transport and the session share.
pub struct Link {
    pub ctx: Context,
    pub settings: Arc<Settings>,
    pub outbox: Outbox,
    pub stop: watch::Sender<bool>,
    pacer: Option<tokio::sync::Mutex<Pacer>>,
    throttle: Mutex<Throttle>,
    seq: AtomicU32,
    /// Submits sent and not yet answered, by sequence number (read by `stop` to wait for them).
    pub in_flight: AtomicU32,
    /// Deliver_sm read and not yet answered, at most `mo_window`.
    mo_slots: Arc<Semaphore>,
    /// Set by `drain`: new deliver_sm are refused with a temporary error.
    pub draining: AtomicBool,
    tls: Option<crate::tls::Tls>,
    /// Bounds the warnings the SMSC's PDUs cause.
    peer_warnings: PeerWarnings,
}

impl Link {
    pub fn new(ctx: Context, settings: Arc<Settings>) -> Result<Self, String> {
        let tls = if settings.raw.tls {
            Some(crate::tls::Tls::new(&settings.raw)?)
        } else {
            None
        };
        let settings_mo_window = settings.raw.mo_window.max(1);
        let pacer = settings.raw.mt_tps.map(|tps| tokio::sync::Mutex::new(Pacer::new(tps)));
        Ok(Self {
            tls,
            ctx,
            settings,
            outbox: Outbox::default(),
            stop: watch::channel(false).0,
            pacer,
            throttle: Mutex::default(),
            seq: AtomicU32::new(1),
            in_flight: AtomicU32::new(0),
            mo_slots: Arc::new(Semaphore::new(settings_mo_window)),
            draining: AtomicBool::new(false),
            peer_warnings: PeerWarnings::default(),
        })
    }

    fn next_seq(&self) -> u32 {
        // Sequence numbers run 1..=0x7FFFFFFF.
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        (n % 0x7FFF_FFFF) + 1
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    async fn status(&self, level: StatusLevel, kind: &str, message: String) {
        match level {
            StatusLevel::Ok => tracing::info!("{message}"),
            _ => tracing::warn!("{message}"),
        }
        let status = Status::new("smpp", level, kind, message)
            .detail("host", self.settings.raw.host.as_str())
            .detail("port", self.settings.raw.port)
            .detail("bind_type", self.settings.raw.bind_type.as_str());
        if let Err(e) = self.ctx.publish_status(&status).await {
            tracing::warn!("status report not published: {e}");
        }
    }

    /// Runs until the transport stops: bind, serve, and bind again with backoff.
    pub async fn run(self: Arc<Self>, inbound: mpsc::Sender<Inbound>) {
        let mut delay = self.settings.reconnect_delay;
        let mut stop = self.stop.subscribe();
        while !self.stopping() {
            match self.connect().await {
                Ok(stream) => {
                    delay = self.settings.reconnect_delay;
                    let c = &self.settings.raw;
                    self.status(
                        StatusLevel::Ok,
                        "bound",
                        format!("bound as {} to {}:{}", c.bind_type.as_str(), c.host, c.port),
                    )
                    .await;
                    let reason = self.serve(stream, &inbound).await;
                    if self.stopping() {
                        self.status(StatusLevel::Down, "unbound", format!("stopped: {reason}"))
                            .await;
                        break;
                    }
                    self.status(StatusLevel::Down, "connection_lost", reason).await;
                }
                Err(e) => self.status(StatusLevel::Down, "bind_failed", e).await,
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => {}
            }
            delay = (delay * 2).min(self.settings.reconnect_max_delay);
        }
    }
}
