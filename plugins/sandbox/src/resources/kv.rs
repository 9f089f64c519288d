//! `kv`: get, set, delete and incr in the host's state store (Redis when the host has one),
//! under the app's `sandbox_id`. Values are JSON. Keys set without an expiry count against
//! `kv_keys` (keys with one go on their own); every key and value is bounded in size.

use super::{ok, refused, text};
use crate::App;
use serde_json::{json, Value};
use std::time::Duration;

/// "No expiry": the state store wants one, so a century.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);

pub async fn handle(app: &App, req: &Value, command: &str) -> Value {
    let answer = match command {
        "get" => get(app, req).await,
        "set" => set(app, req).await,
        "delete" => delete(app, req).await,
        "incr" => incr(app, req).await,
        _ => Err(format!("unknown command \"kv.{command}\"")),
    };
    answer.unwrap_or_else(|why| refused(req, why))
}

/// The store's key for the app's `key`, checked.
fn key(app: &App, req: &Value) -> Result<String, String> {
    let key = text(req, "key")?;
    if key.len() > app.config.kv_key_max {
        return Err(format!(
            "a key of {} bytes, more than kv_key_max ({})",
            key.len(),
            app.config.kv_key_max
        ));
    }
    Ok(format!("kv#{}#{key}", app.sandbox_id))
}

fn count_key(app: &App) -> String {
    format!("kvcount#{}", app.sandbox_id)
}

async fn get(app: &App, req: &Value) -> Result<Value, String> {
    let key = key(app, req)?;
    let value = app.ctx.state().get(&key).await?;
    let value = value.map(|v| serde_json::from_str(&v).unwrap_or(Value::String(v)));
    Ok(ok(req, json!({ "value": value })))
}

async fn set(app: &App, req: &Value) -> Result<Value, String> {
    let key = key(app, req)?;
    let value = req.get("value").cloned().unwrap_or(Value::Null).to_string();
    if value.len() > app.config.kv_value_max {
        return Err(format!(
            "a value of {} bytes, more than kv_value_max ({})",
            value.len(),
            app.config.kv_value_max
        ));
    }
    let ttl = match req.get("seconds") {
        None | Some(Value::Null) => None,
        Some(s) => match s.as_f64() {
            Some(secs) if secs > 0.0 && secs <= FOREVER.as_secs_f64() => Some(Duration::from_secs_f64(secs)),
            _ => return Err("seconds must be a positive number or null".into()),
        },
    };
    let state = app.ctx.state();
    if ttl.is_none() && state.get(&key).await?.is_none() {
        let held = state.incr(&count_key(app), 1, FOREVER).await?;
        if held > app.config.kv_keys as i64 {
            state.incr(&count_key(app), -1, FOREVER).await?;
            return Err(format!("Too many keys (kv_keys {})", app.config.kv_keys));
        }
    }
    state.set(&key, &value, ttl.unwrap_or(FOREVER)).await?;
    Ok(ok(req, json!({})))
}

async fn delete(app: &App, req: &Value) -> Result<Value, String> {
    let key = key(app, req)?;
    let state = app.ctx.state();
    let existed = state.delete(&key).await?;
    if existed {
        // Whether it counted is not known; the count never goes below zero.
        if state.incr(&count_key(app), -1, FOREVER).await? < 0 {
            state.incr(&count_key(app), 1, FOREVER).await?;
        }
    }
    Ok(ok(req, json!({ "existed": existed })))
}

async fn incr(app: &App, req: &Value) -> Result<Value, String> {
    let key = key(app, req)?;
    let amount = match req.get("amount") {
        None | Some(Value::Null) => 1,
        Some(a) => a.as_i64().ok_or("amount must be an integer")?,
    };
    let value = app.ctx.state().incr(&key, amount, FOREVER).await?;
    Ok(ok(req, json!({ "value": value })))
}
