//! Finding the message a delivery receipt is about, through the state store.
//!
//! Keys (all with lifetimes, under the transport's state namespace):
//! - `id:<id>`: the SMSC's id → `{"m": message_id, "p": parts}`; with `receipt_id_match: auto`
//!   a receipt whose id is not filed looks under its other readings (hex read as decimal and
//!   the reverse, see `receipt::alternates`: each reading is one of the other's)
//! - `rcpt:<id>:<stat>`: a receipt already seen, for a message of several parts or one not known
//!   yet (a one-part message's report marker drops a repeat on its own)
//! - `early:<id>:<status>`: a receipt that came before its submit_sm_resp, and `early:<id>` for
//!   each reading of its id → `at:<id>`, where `remember` finds it
//! - `final:<message_id>`, `pend:<message_id>`: a report already published for the message
//! - `dlvd:<message_id>`: delivered parts of a multipart message

use crate::config::{IdMatch, Settings};
use crate::receipt::{alternates, normalize, Receipt};
use crate::shown::Shown;
use ruvuma_plugin_api::serde_json::{self, json, Value};
use ruvuma_plugin_api::{Context, DeliveryStatus, Event, EventKind};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STATUSES: [DeliveryStatus; 3] = [
    DeliveryStatus::Pending,
    DeliveryStatus::Delivered,
    DeliveryStatus::Failed,
];

/// How an `early:<id>` marker names the id its receipts are kept under.
const KEPT_AT: &str = "at:";

/// The id whose `early:<id>:<status>` keys a marker found under `early:<form>` leads to (a
/// marker written before markers named it leads to its own form).
fn kept_under<'a>(marker: &'a str, form: &'a str) -> &'a str {
    marker.strip_prefix(KEPT_AT).unwrap_or(form)
}

/// A sent message, as a receipt finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub message_id: String,
    pub parts: u32,
}

/// Kept receipts waiting to be looked at again, at most.
const MAX_CHECKS: usize = 100_000;

/// A receipt kept before its message was known, to be looked at again when `due`.
struct KeptReceipt {
    due: Instant,
    key: String,
    smsc_id: String,
    stat: String,
}

#[derive(Clone)]
pub struct Correlator {
    ctx: Context,
    settings: Arc<Settings>,
    /// In the order they fall due (they all wait the same time).
    kept: Arc<Mutex<VecDeque<KeptReceipt>>>,
}

impl Correlator {
    pub fn new(ctx: Context, settings: Arc<Settings>) -> Self {
        Self {
            ctx,
            settings,
            kept: Arc::default(),
        }
    }

    /// Files the SMSC's ids of a message's parts, then publishes any receipt that beat them here.
    pub async fn remember(&self, smsc_ids: &[String], message_id: &str) -> Result<(), String> {
        let sent = Sent {
            message_id: message_id.to_owned(),
            parts: smsc_ids.len() as u32,
        };
        let value = json!({"m": sent.message_id, "p": sent.parts}).to_string();
        let state = self.ctx.state();
        let ttl = self.settings.dlr_ttl;
        for id in smsc_ids {
            let norm = normalize(id);
            state.set(&format!("id:{norm}"), &value, ttl).await?;
            // A receipt kept before this was filed marked every reading of its id.
            if let Some(marker) = state.get(&format!("early:{norm}")).await? {
                self.replay_early(kept_under(&marker, &norm), &sent).await?;
            }
        }
        Ok(())
    }

    fn auto(&self) -> bool {
        self.settings.raw.receipt_id_match == IdMatch::Auto
    }

    async fn lookup(&self, norm: &str) -> Result<Option<Sent>, String> {
        let state = self.ctx.state();
        let mut found = state.get(&format!("id:{norm}")).await?;
        if found.is_none() && self.auto() {
            for alt in alternates(norm) {
                found = state.get(&format!("id:{alt}")).await?;
                if found.is_some() {
                    break;
                }
            }
        }
        let Some(text) = found else { return Ok(None) };
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("state key id:{norm}: {e}"))?;
        Ok(Some(Sent {
            message_id: v["m"].as_str().unwrap_or_default().to_owned(),
            parts: v["p"].as_u64().unwrap_or(1) as u32,
        }))
    }

    /// Handles one receipt: publishes the delivery report it leads to, if any.
    pub async fn on_receipt(&self, receipt: &Receipt) -> Result<(), String> {
        let state = self.ctx.state();
        let ttl = self.settings.dlr_ttl;
        let norm = normalize(&receipt.id);
        let found = self.lookup(&norm).await?;
        if let Some(sent) = found.as_ref().filter(|s| s.parts == 1) {
            // Its report's own marker drops a repeat.
            return self.report(sent, receipt).await;
        }
        let stat = receipt.stat.to_ascii_uppercase();
        let seen = format!("rcpt:{norm}:{stat}");
        if state.incr(&seen, 1, ttl).await? > 1 {
            tracing::debug!(smsc_id = %Shown(&receipt.id), stat, "duplicate receipt dropped");
            return Ok(());
        }
        let handled = match found {
            Some(sent) => self.report(&sent, receipt).await,
            None => self.keep_early(receipt, &norm).await,
        };
        if handled.is_err() {
            // The SMSC will deliver it again: it must not then pass for a duplicate.
            let _ = state.delete(&seen).await;
        }
        handled
    }

    /// A receipt for a message not found yet.
    async fn keep_early(&self, receipt: &Receipt, norm: &str) -> Result<(), String> {
        let state = self.ctx.state();
        let stat = receipt.stat.to_ascii_uppercase();
        // Before its submit_sm_resp (or from another process that has not filed it yet): keep
        // it where `remember` looks, then look once more in case it was filed meanwhile.
        let early_ttl = self.settings.early_receipt_ttl;
        let record =
            json!({"id": receipt.id, "stat": receipt.stat, "err": receipt.err, "text": receipt.text}).to_string();
        let status = receipt.status().as_vumi();
        state.set(&format!("early:{norm}:{status}"), &record, early_ttl).await?;
        let marker = format!("{KEPT_AT}{norm}");
        state.set(&format!("early:{norm}"), &marker, early_ttl).await?;
        if self.auto() {
            for alt in alternates(norm) {
                state.set(&format!("early:{alt}"), &marker, early_ttl).await?;
            }
        }
        match self.lookup(norm).await? {
            Some(sent) => self.replay_early(norm, &sent).await,
            None => {
                tracing::debug!(smsc_id = %Shown(&receipt.id), stat, "receipt for a message not known yet; kept until its submit_sm_resp");
                self.warn_if_never_matched(format!("early:{norm}:{status}"), receipt.id.clone(), stat);
                Ok(())
            }
        }
    }

    /// Notes a kept receipt to be looked at again near the end of its lifetime.
    fn warn_if_never_matched(&self, key: String, smsc_id: String, stat: String) {
        let due = Instant::now() + self.check_after();
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < MAX_CHECKS {
            kept.push_back(KeptReceipt {
                due,
                key,
                smsc_id,
                stat,
            });
        }
    }

    /// How long after it was kept a receipt is looked at again: a little before its key expires.
    fn check_after(&self) -> Duration {
        let ttl = self.settings.early_receipt_ttl;
        ttl.saturating_sub((ttl / 10).max(Duration::from_secs(2)))
    }

    /// Runs for as long as the transport does: a receipt still kept near the end of its lifetime
    /// matched no message, which is worth an operator's look (a wrong `receipt_id_match`, or a
    /// message this gateway never sent), so it is logged before its key expires. Best effort: a
    /// restart forgets the checks, and at most [`MAX_CHECKS`] wait at once.
    pub async fn watch_kept_receipts(&self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let state = self.ctx.state();
        loop {
            tick.tick().await;
            let now = Instant::now();
            loop {
                let next = {
                    let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
                    match kept.front() {
                        Some(k) if k.due <= now => kept.pop_front(),
                        _ => None,
                    }
                };
                let Some(k) = next else { break };
                if let Ok(Some(_)) = state.get(&k.key).await {
                    tracing::warn!(
                        smsc_id = %Shown(&k.smsc_id),
                        stat = %Shown(&k.stat),
                        "a delivery receipt matched no message sent within {:?}; it is dropped when its \
                         early_receipt_ttl ends (check receipt_id_match, and that this transport sent it)",
                        self.check_after()
                    );
                }
            }
        }
    }

    /// Publishes the receipts kept for `norm`; whoever deletes a kept one publishes it.
    async fn replay_early(&self, norm: &str, sent: &Sent) -> Result<(), String> {
        let state = self.ctx.state();
        for status in STATUSES {
            let key = format!("early:{norm}:{}", status.as_vumi());
            let Some(text) = state.get(&key).await? else { continue };
            if !state.delete(&key).await? {
                continue;
            }
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("state key {key}: {e}"))?;
            let receipt = Receipt {
                id: v["id"].as_str().unwrap_or_default().to_owned(),
                stat: v["stat"].as_str().unwrap_or_default().to_owned(),
                err: v["err"].as_str().map(str::to_owned),
                text: v["text"].as_str().unwrap_or_default().to_owned(),
            };
            self.report(sent, &receipt).await?;
        }
        Ok(())
    }

    /// Publishes a delivery report for `sent`, once per outcome: one final report (delivered
    /// when every part is, failed when any part fails), and a pending one only before it.
    async fn report(&self, sent: &Sent, receipt: &Receipt) -> Result<(), String> {
        let state = self.ctx.state();
        let ttl = self.settings.dlr_ttl;
        let mid = &sent.message_id;
        let status = receipt.status();
        let marker = match status {
            DeliveryStatus::Pending => format!("pend:{mid}"),
            _ => format!("final:{mid}"),
        };
        match status {
            DeliveryStatus::Pending => {
                if state.get(&format!("final:{mid}")).await?.is_some() || state.incr(&marker, 1, ttl).await? > 1 {
                    return Ok(());
                }
            }
            DeliveryStatus::Delivered | DeliveryStatus::Failed => {
                if status == DeliveryStatus::Delivered
                    && sent.parts > 1
                    && state.incr(&format!("dlvd:{mid}"), 1, ttl).await? < i64::from(sent.parts)
                {
                    return Ok(());
                }
                if state.incr(&marker, 1, ttl).await? > 1 {
                    return Ok(());
                }
            }
        }
        let mut event = Event::new(
            mid,
            EventKind::DeliveryReport {
                delivery_status: status,
            },
            self.ctx.name(),
        );
        event.transport_metadata.insert(
            "smpp",
            json!({"smsc_message_id": receipt.id, "stat": receipt.stat, "err": receipt.err, "text": receipt.text}),
        );
        let published = self.ctx.publish_event(event).await;
        if published.is_err() {
            // Not reported after all: the receipt delivered again must get through.
            let _ = state.delete(&marker).await;
        }
        published
    }
}
