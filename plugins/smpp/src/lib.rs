//! The `smpp` transport: binds to an SMSC over SMPP 3.4 and carries MT messages (submit_sm),
//! MO messages and delivery receipts (deliver_sm).

pub mod config;
mod dlr;
mod mo;
pub mod receipt;
mod session;
pub mod text;
mod tls;
/// PDU framing; public for the fuzz targets, not part of the plugin's interface.
#[doc(hidden)]
pub mod wire;

use config::Config;
use dlr::Correlator;
use mo::{PartKey, Reassembler};
use rusmpp::pdus::{DeliverSm, DeliverSmResp, SubmitSm};
use rusmpp::tlvs::{MessageSubmissionRequestTlvValue, TlvValue};
use rusmpp::types::{AnyOctetString, COctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, MessagePayload, Npi, RegisteredDelivery, Ton};
use rusmpp::{Command, CommandStatus, Pdu};
use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::serde_json::{json, Value};
use session::{Inbound, Job, Link};
use std::str::FromStr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use text::{Concat, Part};
use tokio::sync::{mpsc, oneshot};

pub struct Smpp {
    link: Arc<Link>,
    correlator: Correlator,
    reassembler: Arc<Reassembler>,
    ref_num: AtomicU16,
    inbound: Mutex<Option<mpsc::UnboundedReceiver<Inbound>>>,
    inbound_tx: mpsc::UnboundedSender<Inbound>,
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
        let (inbound_tx, inbound) = mpsc::unbounded_channel();
        Ok(Self {
            correlator: Correlator::new(ctx.clone(), settings.clone()),
            reassembler: Arc::new(Reassembler::new(settings.multipart_timeout)),
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
            let handler = Deliveries {
                link: self.link.clone(),
                correlator: self.correlator.clone(),
                reassembler: self.reassembler.clone(),
            };
            let spawner = ctx.clone();
            tasks.push(ctx.spawn(async move {
                while let Some(item) = inbound.recv().await {
                    let handler = handler.clone();
                    spawner.spawn(async move { handler.handle(item).await });
                }
            }));
        }
        let handler = Deliveries {
            link: self.link.clone(),
            correlator: self.correlator.clone(),
            reassembler: self.reassembler.clone(),
        };
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
        let pdus = self.submit_pdus(&msg)?;
        let mut waits = Vec::with_capacity(pdus.len());
        let mut jobs = Vec::with_capacity(pdus.len());
        for pdu in pdus {
            let (done, wait) = oneshot::channel();
            jobs.push(Job {
                pdu,
                unanswered: 0,
                done,
            });
            waits.push(wait);
        }
        self.link.outbox.push(jobs);
        let total = waits.len();
        let mut ids = Vec::with_capacity(total);
        let mut failure = None;
        for (i, wait) in waits.into_iter().enumerate() {
            let outcome = wait
                .await
                .unwrap_or_else(|_| Err("the smpp transport stopped before the SMSC answered".into()));
            match outcome {
                Ok(id) => ids.push(id),
                Err(reason) if total == 1 => failure = Some(reason),
                Err(reason) => {
                    failure.get_or_insert(format!("part {} of {total}: {reason}", i + 1));
                }
            }
        }
        if let Some(reason) = failure {
            return Err(reason);
        }
        let mut ack = Event::ack(&msg, &ids[0]);
        if ids.len() > 1 {
            ack.transport_metadata
                .insert("smpp", json!({ "smsc_message_ids": ids }));
        }
        // The ack goes out before the ids are filed: a receipt that came early is kept until
        // `remember` replays it, so no delivery report overtakes its message's ack.
        let acked = self.link.ctx.publish_event(ack).await;
        if settings.raw.registered_delivery {
            if let Err(e) = self.correlator.remember(&ids, &msg.message_id).await {
                tracing::error!(
                    message_id = %msg.message_id,
                    "delivery receipts for this message will not be matched: {e}"
                );
            }
        }
        acked
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
    /// The submit_sm PDUs for a message: one per part.
    fn submit_pdus(&self, msg: &Message) -> Result<Vec<SubmitSm>, String> {
        let s = &self.link.settings;
        let c = &s.raw;
        let to = msg.to_addr();
        if to.is_empty() {
            return Err("the message has no to_addr".into());
        }
        let from = match (msg.from_addr(), &c.default_source_addr) {
            ("", Some(default)) => default.as_str(),
            ("", None) => return Err("the message has no from_addr and no default_source_addr is set".into()),
            (from, _) => from,
        };
        let destination_addr = COctetString::<1, 21>::from_str(to)
            .map_err(|e| format!("to_addr {to:?} cannot be sent over SMPP (at most 20 characters): {e}"))?;
        let source_addr = COctetString::<1, 21>::from_str(from)
            .map_err(|e| format!("from_addr {from:?} cannot be sent over SMPP (at most 20 characters): {e}"))?;
        let content = msg.content().unwrap_or_default();
        let coding = text::choose_coding(content, s.coding, c.latin1_fallback)?;
        // 8-bit references: every handset reads them, and the 16-bit form costs a character.
        let ref_num = self.ref_num.fetch_add(1, Ordering::Relaxed) & 0xFF;
        let parts = text::encode(content, coding, s.split, ref_num)?;
        let registered = RegisteredDelivery::from(u8::from(c.registered_delivery));
        parts
            .into_iter()
            .map(|part| {
                let Part {
                    data_coding,
                    short_message,
                    udhi,
                    sar,
                    payload,
                } = part;
                let mut tlvs = Vec::new();
                if let Some((r, total, seq)) = sar {
                    tlvs.push(MessageSubmissionRequestTlvValue::SarMsgRefNum(r));
                    tlvs.push(MessageSubmissionRequestTlvValue::SarTotalSegments(total));
                    tlvs.push(MessageSubmissionRequestTlvValue::SarSegmentSeqnum(seq));
                }
                if let Some(p) = payload {
                    tlvs.push(MessageSubmissionRequestTlvValue::MessagePayload(MessagePayload::new(
                        AnyOctetString::from_vec(p),
                    )));
                }
                let len = short_message.len();
                let short_message = OctetString::<0, 255>::from_vec(short_message)
                    .map_err(|e| format!("a part of {len} octets does not fit short_message: {e}"))?;
                Ok(SubmitSm::builder()
                    .source_addr_ton(Ton::from(c.source_addr_ton))
                    .source_addr_npi(Npi::from(c.source_addr_npi))
                    .source_addr(source_addr.clone())
                    .dest_addr_ton(Ton::from(c.dest_addr_ton))
                    .dest_addr_npi(Npi::from(c.dest_addr_npi))
                    .destination_addr(destination_addr.clone())
                    .esm_class(EsmClass::from(if udhi { 0x40 } else { 0x00 }))
                    .registered_delivery(registered)
                    .data_coding(DataCoding::from(data_coding))
                    .short_message(short_message)
                    .tlvs(tlvs)
                    .build())
            })
            .collect()
    }
}

/// Handles what the SMSC delivers: MO messages and receipts.
#[derive(Clone)]
struct Deliveries {
    link: Arc<Link>,
    correlator: Correlator,
    reassembler: Arc<Reassembler>,
}

/// The TLVs of a deliver_sm that matter here.
#[derive(Default)]
struct DeliverTlvs {
    receipted_message_id: Option<String>,
    message_state: Option<u8>,
    sar: (Option<u16>, Option<u8>, Option<u8>),
    payload: Option<Vec<u8>>,
}

impl DeliverTlvs {
    fn read(pdu: &DeliverSm) -> Self {
        let mut out = Self::default();
        for tlv in pdu.tlvs() {
            match tlv.value() {
                Some(TlvValue::ReceiptedMessageId(id)) => out.receipted_message_id = Some(id.to_string()),
                Some(TlvValue::MessageState(state)) => out.message_state = Some(u8::from(*state)),
                Some(TlvValue::SarMsgRefNum(r)) => out.sar.0 = Some(*r),
                Some(TlvValue::SarTotalSegments(t)) => out.sar.1 = Some(*t),
                Some(TlvValue::SarSegmentSeqnum(s)) => out.sar.2 = Some(*s),
                Some(TlvValue::MessagePayload(p)) => out.payload = Some(p.value.as_ref().to_vec()),
                _ => {}
            }
        }
        out
    }
}

impl Deliveries {
    async fn handle(&self, item: Inbound) {
        let seq = item.command.sequence_number();
        let status = match item.command.pdu() {
            Some(Pdu::DeliverSm(pdu)) => self.deliver(pdu).await,
            _ => wire::ESME_RSYSERR,
        };
        let resp = Command::new(CommandStatus::from(status), seq, DeliverSmResp::default());
        let _ = item.reply.send(wire::encode(&resp));
    }

    /// Handles one deliver_sm; returns the command_status to answer with.
    async fn deliver(&self, pdu: &DeliverSm) -> u32 {
        let tlvs = DeliverTlvs::read(pdu);
        let esm = u8::from(pdu.esm_class);
        let message_type = esm & 0x3C;
        let data: &[u8] = match &tlvs.payload {
            Some(p) => p,
            None => pdu.short_message().as_ref(),
        };
        let is_receipt = matches!(message_type, 0x04 | 0x08 | 0x10 | 0x20) || tlvs.receipted_message_id.is_some();
        let result = if is_receipt {
            self.receipt(pdu, &tlvs, data).await
        } else {
            self.mo(pdu, &tlvs, esm, data).await
        };
        match result {
            Ok(()) => wire::ESME_ROK,
            Err(e) => {
                tracing::error!("deliver_sm not taken, the SMSC will deliver it again: {e}");
                wire::ESME_RX_T_APPN
            }
        }
    }

    async fn receipt(&self, pdu: &DeliverSm, tlvs: &DeliverTlvs, data: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(data);
        match receipt::parse(&text, tlvs.receipted_message_id.as_deref(), tlvs.message_state) {
            Some(r) => self.correlator.on_receipt(&r).await,
            None => {
                tracing::warn!(
                    source_addr = %pdu.source_addr,
                    "delivery receipt without a message id or state, nothing to match: {text:?}"
                );
                Ok(())
            }
        }
    }

    async fn mo(&self, pdu: &DeliverSm, tlvs: &DeliverTlvs, esm: u8, data: &[u8]) -> Result<(), String> {
        let dc = u8::from(pdu.data_coding);
        let from = pdu.source_addr.to_string();
        let to = pdu.destination_addr.to_string();
        let (concat, user_data) = if esm & 0x40 != 0 {
            match text::split_udh(data) {
                Ok(split) => split,
                Err(e) => return self.publish_undecodable(&from, &to, dc, esm, data, &e).await,
            }
        } else {
            let concat = match tlvs.sar {
                (Some(ref_num), Some(total), Some(seq)) => Some(Concat { ref_num, total, seq }),
                _ => None,
            };
            (concat, data)
        };
        let content = match text::decode(dc, user_data) {
            Ok(t) => t,
            Err(e) => return self.publish_undecodable(&from, &to, dc, esm, data, &e).await,
        };
        let meta = json!({"data_coding": dc, "esm_class": esm});
        match concat {
            Some(c) if c.total > 1 => {
                let key = PartKey {
                    from,
                    to,
                    ref_num: c.ref_num,
                    total: c.total,
                };
                if let Some(joined) = self.reassembler.add(key, c.seq, content) {
                    self.publish_joined(joined).await;
                }
                Ok(())
            }
            _ => self.publish_mo(&from, &to, Some(&content), meta).await,
        }
    }

    async fn publish_mo(&self, from: &str, to: &str, content: Option<&str>, meta: Value) -> Result<(), String> {
        let ctx = &self.link.ctx;
        let mut msg = Message::new(from, to, content, ctx.name(), "sms");
        msg.transport_metadata.insert("smpp", meta);
        ctx.publish_inbound(msg).await
    }

    /// A message whose text cannot be read still goes on, with its bytes and the reason.
    async fn publish_undecodable(
        &self,
        from: &str,
        to: &str,
        dc: u8,
        esm: u8,
        data: &[u8],
        error: &str,
    ) -> Result<(), String> {
        tracing::warn!(
            from_addr = from,
            "MO text cannot be decoded ({error}); passed on without content"
        );
        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
        let meta = json!({"data_coding": dc, "esm_class": esm, "short_message_hex": hex, "decode_error": error});
        self.publish_mo(from, to, None, meta).await
    }

    /// Publishes a multipart message put back together (or what came of it, on timeout). Its
    /// parts were answered when they came; a failure here is logged.
    async fn publish_joined(&self, joined: mo::Joined) {
        let mut meta = json!({
            "multipart": {"ref_num": joined.key.ref_num, "total": joined.key.total, "received": joined.received},
        });
        if !joined.complete {
            meta["multipart_incomplete"] = true.into();
            tracing::warn!(
                from_addr = %joined.key.from,
                "multipart message incomplete after multipart_timeout: parts {:?} of {}",
                joined.received,
                joined.key.total
            );
        }
        if let Err(e) = self
            .publish_mo(&joined.key.from, &joined.key.to, Some(&joined.text), meta)
            .await
        {
            tracing::error!(from_addr = %joined.key.from, "multipart message lost: {e}");
        }
    }
}

ruvuma_plugin_api::export_plugin!(transports: [Smpp]);
