//! What the memory bus's journal kept from before the last stop, handed out again at a start.
//! An outbound message whose retry is scheduled in the store is left to that schedule: the
//! transport nacked it, and the schedule sends it once more.

use super::memory::Entry;
use crate::store::retries;
use crate::store::{Entry as JournalEntry, Store};
use ruvuma_plugin_api::message::Payload;
use ruvuma_plugin_api::vumi_json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The routing key suffix of a transport's outbound queue.
const OUTBOUND: &str = ".outbound";

/// Hands out again what the journal held at this start, to the queues someone consumes.
pub(super) async fn replay(
    journal: Arc<Store>,
    senders: HashMap<String, async_channel::Sender<Entry>>,
    in_flight: Arc<AtomicI64>,
) {
    let mut resumed = 0u64;
    let mut left: BTreeMap<String, u64> = BTreeMap::new();
    let recovered = journal.take_recovered();
    let scheduled = scheduled_retries(&journal, &recovered).await;
    for (seq, key, body) in recovered {
        let Some(tx) = senders.get(&key) else {
            *left.entry(key).or_default() += 1;
            continue;
        };
        match vumi_json::decode_payload(body.as_bytes()) {
            Ok(payload) if is_scheduled(&scheduled, &key, &payload) => {
                tracing::info!(
                    message_id = payload.message_id(),
                    "journal: {key} entry {seq} has a retry scheduled in the store, which sends it"
                );
                journal.forget(seq);
            }
            Ok(payload) => {
                in_flight.fetch_add(1, Ordering::AcqRel);
                if tx.send(Entry::recovered(seq, payload)).await.is_err() {
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                    return;
                }
                resumed += 1;
            }
            Err(e) => tracing::error!("journal entry {seq} for {key} cannot be read ({e}); it stays in the journal"),
        }
    }
    if resumed > 0 {
        tracing::info!("journal: {resumed} messages and events accepted before the last stop are handled again");
    }
    for (key, n) in left {
        tracing::warn!("journal: {n} entries for {key}, which nothing in this config takes, stay in the journal");
    }
}

/// The retries scheduled in the store, by (transport, message id), when the journal holds
/// outbound messages: a message whose retry is scheduled was nacked and is sent by the schedule,
/// so the journal does not hand it out a second time.
async fn scheduled_retries(journal: &Store, recovered: &[JournalEntry]) -> HashSet<(String, String)> {
    if !recovered.iter().any(|(_, key, _)| key.ends_with(OUTBOUND)) {
        return HashSet::new();
    }
    journal
        .with_db(retries::all_ids)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(
                "journal: the scheduled retries cannot be read ({e}); outbound messages are handed out again"
            );
            Vec::new()
        })
        .into_iter()
        .collect()
}

fn is_scheduled(scheduled: &HashSet<(String, String)>, key: &str, payload: &Payload) -> bool {
    let Some(transport) = key.strip_suffix(OUTBOUND) else {
        return false;
    };
    matches!(payload, Payload::Message(_))
        && scheduled.contains(&(transport.to_owned(), payload.message_id().to_owned()))
}
