//! The `smpp` transport: binds to an SMSC over SMPP 3.4 and carries MT messages (submit_sm),
//! MO messages and delivery receipts (deliver_sm).

pub mod config;
mod deliveries;
mod dlr;
mod liveness;
mod mo;
mod options;
mod outbound;
pub mod receipt;
mod session;
mod shown;
pub mod text;
mod tls;
/// PDU framing; public for the fuzz targets, not part of the plugin's interface.
#[doc(hidden)]
pub mod wire;
mod writer;

use config::Config;
use deliveries::Deliveries;
use dlr::Correlator;
use mo::Reassembler;
use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::serde_json::json;
use session::{Inbound, Link};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub struct Smpp {
    link: Arc<Link>,
    correlator: Correlator,
    reassembler: Arc<Reassembler>,
    ref_num: AtomicU16,
    inbound: Mutex<Option<mpsc::Receiver<Inbound>>>,
    inbound_tx: mpsc::Sender<Inbound>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Component for Smpp {
    type Config = Config;
    const NAME: &'static str = "smpp";
    const ALIASES: &'static [&'static str] = &["vumi.transports.smpp.SmppTransceiverTransport"];
    const DESCRIPTION: &'static str =
        "SMPP 3.4 client: binds to an SMSC and carries MT, MO and delivery reports, with a window, mt_tps and reconnects.";
    const CONFIG_DOC: &'static str = config::CONFIG_DOC;

    fn check(config: &Config) -> Vec<ConfigProblem> {
        config.problems()
    }

    /// Each outbound message is held until the SMSC answers it: as many at once as the window.
    fn concurrency(config: &Config) -> Option<usize> {
        Some(config.window.max(1))
    }

    fn create(config: Config, ctx: Context) -> Result<Self, String> {
        let settings = Arc::new(config.settings()?);
        // Each deliver_sm passed on holds one of the link's mo_window slots.
        let (inbound_tx, inbound) = mpsc::channel(settings.raw.mo_window.max(1));
        Ok(Self {
            correlator: Correlator::new(ctx.clone(), settings.clone()),
            reassembler: Arc::new(Reassembler::new(
                settings.multipart_timeout,
                settings.raw.multipart_max_pending,
            )),
            link: Arc::new(Link::new(ctx, settings)?),
            ref_num: AtomicU16::new(rand_seed()),
            inbound: Mutex::new(Some(inbound)),
            inbound_tx,
            tasks: Mutex::default(),
        })
    }
}

/// A starting point for concatenation references, so that restarts do not reuse them at once.
fn rand_seed() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos >> 8) as u16
}

impl Transport for Smpp {
    async fn start(&self) -> Result<(), String> {
        let ctx = &self.link.ctx;
        let mut tasks = Vec::new();
        tasks.push(ctx.spawn(self.link.clone().run(self.inbound_tx.clone())));
        if let Some(mut inbound) = self.inbound.lock().ok().and_then(|mut i| i.take()) {
            let handler = self.deliveries();
            let spawner = ctx.clone();
            tasks.push(ctx.spawn(async move {
                while let Some(item) = inbound.recv().await {
                    let handler = handler.clone();
                    spawner.spawn(async move { handler.handle(item).await });
                }
            }));
        }
        let handler = self.deliveries();
        let correlator = self.correlator.clone();
        tasks.push(ctx.spawn(async move { correlator.watch_kept_receipts().await }));
        tasks.push(ctx.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tick.tick().await;
                for joined in handler.reassembler.expired() {
                    handler.publish_joined(joined).await;
                }
            }
        }));
        if let Ok(mut t) = self.tasks.lock() {
            t.extend(tasks);
        }
        Ok(())
    }

    async fn handle_outbound(&self, msg: Message) -> Result<(), String> {
        let settings = &self.link.settings;
        if !settings.raw.bind_type.sends() {
            return Err(
                "this smpp transport is bound as a receiver and sends nothing; route outbound \
                 messages to a transmitter or transceiver"
                    .into(),
            );
        }
        let (pdus, wants_receipt) = outbound::submit_pdus(settings, &msg, &self.ref_num)?;
        let (jobs, waits) = outbound::jobs(pdus);
        self.link.outbox.push(jobs);
        let ids = outbound::outcomes(waits).await?;
        let mut ack = Event::ack(&msg, &ids[0]);
        if ids.len() > 1 {
            ack.transport_metadata
                .insert("smpp", json!({ "smsc_message_ids": ids }));
        }
        // The ack goes out before the ids are filed: a receipt that came early is kept until
        // `remember` replays it, so no delivery report overtakes its message's ack.
        let acked = self.link.ctx.publish_event(ack).await;
        if wants_receipt {
            if let Err(e) = self.correlator.remember(&ids, &msg.message_id).await {
                tracing::error!(
                    message_id = %msg.message_id,
                    "delivery receipts for this message will not be matched: {e}"
                );
            }
        }
        acked
    }

    /// Takes no more deliver_sm (they are refused with ESME_RX_T_APPN, so the SMSC keeps them),
    /// and passes on the parts of multipart messages that were answered and are still waiting.
    async fn drain(&self) {
        self.link.draining.store(true, Ordering::Release);
        let handler = self.deliveries();
        for joined in self.reassembler.take_all() {
            handler.publish_joined(joined).await;
        }
    }

    async fn stop(&self) {
        let link = &self.link;
        let deadline = Instant::now() + link.settings.response_timeout;
        while (link.outbox.len() > 0 || link.in_flight.load(Ordering::Acquire) > 0) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        link.stop.send_replace(true);
        let tasks: Vec<_> = self
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        let mut tasks = tasks.into_iter();
        if let Some(run) = tasks.next() {
            let _ = tokio::time::timeout(link.settings.response_timeout + Duration::from_secs(1), run).await;
        }
        for t in tasks {
            t.abort();
        }
        link.outbox
            .fail_all("the smpp transport stopped before the message could be sent");
    }
}

impl Smpp {
    /// The handler of what the SMSC delivers.
    fn deliveries(&self) -> Deliveries {
        Deliveries {
            link: self.link.clone(),
            correlator: self.correlator.clone(),
            reassembler: self.reassembler.clone(),
        }
    }
}

ruvuma_plugin_api::export_plugin!(transports: [Smpp]);
