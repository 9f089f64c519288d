//! `messagestore`: Vumi Go's counts of a conversation's messages, from the host's message store
//! (`store:` in the host's config), and a lookup of one message with its events. A
//! conversation is an endpoint: the app's own, or one the config's `store_endpoints` names
//! (`conversation_key`). Answers are kept for [`FRESH`], so an app that asks in a loop costs
//! the database one query per kind every few seconds.

use super::{ok, refused, text};
use crate::App;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// How long a count is served again without asking the store.
const FRESH: Duration = Duration::from_secs(5);
/// Counts kept at once (per endpoint and look-back); past it the cache starts over.
const KEPT: usize = 64;
/// The longest look-back of a throughput, in seconds (thirty days).
const MAX_SAMPLE: u64 = 30 * 86_400;

/// Counts asked for lately, by (endpoint, look-back in seconds; 0 for all).
#[derive(Default)]
pub struct Cache(Mutex<HashMap<(String, u64), (Instant, Value)>>);

pub async fn handle(app: &App, req: &Value, command: &str) -> Value {
    let answer = match command {
        "get" => get(app, req).await,
        _ => counted(app, req, command).await,
    };
    answer.unwrap_or_else(|why| refused(req, why))
}

/// The endpoint the command is about: its `conversation_key`, if the app may read that one.
fn endpoint<'a>(app: &'a App, req: &'a Value) -> Result<&'a str, String> {
    match req.get("conversation_key") {
        None | Some(Value::Null) => Ok(app.ctx.endpoint()),
        Some(Value::String(key)) if key == app.ctx.endpoint() || app.config.store_endpoints.contains(key) => Ok(key),
        Some(_) => Err("Invalid conversation_key".into()),
    }
}

async fn counted(app: &App, req: &Value, command: &str) -> Result<Value, String> {
    let endpoint = endpoint(app, req)?;
    let sample = match command {
        "inbound_throughput" | "outbound_throughput" => sample_time(req)?,
        _ => 0,
    };
    let c = counts(app, endpoint, sample).await?;
    let n = |key: &str| c[key].as_i64().unwrap_or(0);
    let per_minute = |key: &str| n(key) as f64 / (sample as f64 / 60.0);
    Ok(match command {
        "count_replies" => ok(req, json!({ "count": n("inbound") })),
        "count_sent_messages" => ok(req, json!({ "count": n("outbound") })),
        "count_inbound_uniques" => ok(req, json!({ "count": n("inbound_uniques") })),
        "count_outbound_uniques" => ok(req, json!({ "count": n("outbound_uniques") })),
        "inbound_throughput" => ok(req, json!({ "throughput": per_minute("inbound") })),
        "outbound_throughput" => ok(req, json!({ "throughput": per_minute("outbound") })),
        "progress_status" => ok(req, json!({ "progress_status": progress(&c) })),
        _ => return Err(format!("unknown command \"messagestore.{command}\"")),
    })
}

/// `sample_time`: seconds to look back (300 unless given).
fn sample_time(req: &Value) -> Result<u64, String> {
    match req.get("sample_time") {
        None | Some(Value::Null) => Ok(300),
        Some(v) => v
            .as_u64()
            .filter(|s| (1..=MAX_SAMPLE).contains(s))
            .ok_or_else(|| format!("sample_time must be whole seconds, 1 to {MAX_SAMPLE}")),
    }
}

/// Vumi Go's progress status of a conversation's sent messages, from their events.
fn progress(c: &Value) -> Value {
    let e = |status: &str| c["events"][status].as_i64().unwrap_or(0);
    json!({
        "sent": c["outbound"].as_i64().unwrap_or(0),
        "ack": e("acked"),
        "nack": e("nacked"),
        "delivery_report": e("delivered") + e("failed") + e("pending"),
        "delivery_report_delivered": e("delivered"),
        "delivery_report_failed": e("failed"),
        "delivery_report_pending": e("pending"),
    })
}

/// The store's counts for `endpoint` over the last `sample` seconds (all of them for 0), fresh
/// from the cache when it has them.
async fn counts(app: &App, endpoint: &str, sample: u64) -> Result<Value, String> {
    let key = (endpoint.to_owned(), sample);
    if let Some((at, value)) = app.store_cache.0.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        if at.elapsed() < FRESH {
            return Ok(value.clone());
        }
    }
    let since = if sample == 0 {
        0
    } else {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        now.saturating_sub(Duration::from_secs(sample)).as_micros() as i64
    };
    let value = app.ctx.store_counts(endpoint, since).await?;
    let mut cache = app.store_cache.0.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= KEPT {
        cache.clear();
    }
    cache.insert(key, (Instant::now(), value.clone()));
    Ok(value)
}

/// `get` (`message_id`): the message as the store keeps it (`message`) and its `events`, if it
/// went through an endpoint the app may read.
async fn get(app: &App, req: &Value) -> Result<Value, String> {
    let id = text(req, "message_id")?;
    let found = app.ctx.find_message(id).await?;
    let readable = |f: &Value| {
        let at = f["endpoint"].as_str().unwrap_or("");
        at == app.ctx.endpoint() || app.config.store_endpoints.iter().any(|e| e == at)
    };
    match found.filter(readable) {
        Some(f) => Ok(ok(
            req,
            json!({"message": f["message"], "status": f["status"], "events": f["events"]}),
        )),
        None => Err(format!("no message {id:?} among this app's")),
    }
}
