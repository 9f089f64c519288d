//! What the SMSC delivers (deliver_sm): MO messages, put back together when they come in
//! parts, and delivery receipts, each answered once it is handled.

use crate::dlr::Correlator;
use crate::mo::{self, PartKey, Reassembler};
use crate::receipt;
use crate::session::{Inbound, Link};
use crate::shown::Shown;
use crate::text::{self, Concat};
use crate::wire;
use rusmpp::pdus::{DeliverSm, DeliverSmResp};
use rusmpp::tlvs::TlvValue;
use rusmpp::{Command, CommandStatus, Pdu};
use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::serde_json::{json, Value};
use std::sync::Arc;

/// Handles what the SMSC delivers: MO messages and receipts.
#[derive(Clone)]
pub(crate) struct Deliveries {
    pub link: Arc<Link>,
    pub correlator: Correlator,
    pub reassembler: Arc<Reassembler>,
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
    pub async fn handle(&self, item: Inbound) {
        let seq = item.command.sequence_number();
        let status = match item.command.pdu() {
            Some(Pdu::DeliverSm(pdu)) => self.deliver(pdu).await,
            _ => wire::ESME_RSYSERR,
        };
        let resp = Command::new(CommandStatus::from(status), seq, DeliverSmResp::default());
        // Waits while the writer is busy; if the link went meanwhile, the SMSC delivers it again.
        let _ = item.reply.send(wire::encode(&resp)).await;
        drop(item.slot);
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
                tracing::error!("deliver_sm not taken, the SMSC will deliver it again: {}", Shown(&e));
                wire::ESME_RX_T_APPN
            }
        }
    }

    async fn receipt(&self, pdu: &DeliverSm, tlvs: &DeliverTlvs, data: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(data);
        match receipt::parse(&text, tlvs.receipted_message_id.as_deref(), tlvs.message_state) {
            Some(r) if r.within_bounds() => self.correlator.on_receipt(&r).await,
            Some(r) => {
                tracing::warn!(
                    source_addr = %Shown(&pdu.source_addr.to_string()),
                    "delivery receipt with an id or state longer than SMPP allows, dropped: id {}, stat {}",
                    Shown(&r.id),
                    Shown(&r.stat)
                );
                Ok(())
            }
            None => {
                tracing::warn!(
                    source_addr = %Shown(&pdu.source_addr.to_string()),
                    "delivery receipt without a message id or state, nothing to match: {}",
                    Shown(&text)
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
                let from_shown = from.clone();
                let key = PartKey {
                    from,
                    to,
                    ref_num: c.ref_num,
                    total: c.total,
                };
                match self.reassembler.add(key, c.seq, content) {
                    Ok(ready) => {
                        for joined in ready {
                            self.publish_joined(joined).await;
                        }
                    }
                    // Answered, so that the SMSC does not send it again: it can never fit.
                    Err(e) => tracing::warn!(from_addr = %Shown(&from_shown), "multipart part dropped: {e}"),
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
            from_addr = %Shown(from),
            "MO text cannot be decoded ({}); passed on without content",
            Shown(error)
        );
        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
        let meta = json!({"data_coding": dc, "esm_class": esm, "short_message_hex": hex, "decode_error": error});
        self.publish_mo(from, to, None, meta).await
    }

    /// Publishes a multipart message put back together (or what came of it, on timeout). Its
    /// parts were answered when they came; a failure here is logged.
    pub async fn publish_joined(&self, joined: mo::Joined) {
        let mut meta = json!({
            "multipart": {"ref_num": joined.key.ref_num, "total": joined.key.total, "received": joined.received},
        });
        if !joined.complete {
            meta["multipart_incomplete"] = true.into();
            tracing::warn!(
                from_addr = %Shown(&joined.key.from),
                "multipart message passed on incomplete (multipart_timeout, multipart_max_pending or shutdown): parts {:?} of {}",
                joined.received,
                joined.key.total
            );
        }
        if let Err(e) = self
            .publish_mo(&joined.key.from, &joined.key.to, Some(&joined.text), meta)
            .await
        {
            tracing::error!(from_addr = %Shown(&joined.key.from), "multipart message lost: {}", Shown(&e));
        }
    }
}
