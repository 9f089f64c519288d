//! `kv`: get, set, delete and incr in the host's state store (Redis when the host has one),
//! under the app's `sandbox_id`. Values are JSON. Every key and value is bounded in size, and
//! every key counts against `kv_keys`:
//!
//! - a key without an expiry counts until it is deleted;
//! - a key with one (at most `kv_expiry_max`) counts in the window of that length it was set
//!   in, and the window's count lives two windows, so it outlives every key it counted. The
//!   value carries its window (`e<window>:<json>`), so setting it again in the same window
//!   counts nothing more; one set again in a later window counts in both until the older count
//!   expires. The quota is checked against the count without expiry and the last two windows'.

use super::{ok, refused, text};
use crate::App;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

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

/// The count of keys without an expiry.
fn held_key(app: &App) -> String {
    format!("kvcount#{}", app.sandbox_id)
}

/// The count of keys with an expiry set in `window`.
fn window_key(app: &App, window: u64) -> String {
    format!("kvcount#{}#w{window}", app.sandbox_id)
}

/// The window of `kv_expiry_max` seconds it is now.
fn window_now(app: &App) -> u64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_secs() / app.config.kv_expiry_max
}

/// A stored value: how it lives (`None` without an expiry, else the window it was set in) and
/// its JSON text.
fn stored(text: &str) -> (Option<u64>, &str) {
    let tagged = text
        .strip_prefix('e')
        .and_then(|rest| rest.split_once(':'))
        .and_then(|(w, json)| w.parse().ok().map(|w| (Some(w), json)));
    tagged.unwrap_or((None, text))
}

async fn get(app: &App, req: &Value) -> Result<Value, String> {
    let key = key(app, req)?;
    let value = app.ctx.state().get(&key).await?;
    let value = value.map(|v| {
        let (_, text) = stored(&v);
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
    });
    Ok(ok(req, json!({ "value": value })))
}

/// `seconds`: a positive number up to `kv_expiry_max`, or null for no expiry.
fn expiry(app: &App, req: &Value) -> Result<Option<Duration>, String> {
    match req.get("seconds") {
        None | Some(Value::Null) => Ok(None),
        Some(s) => match s.as_f64() {
            Some(secs) if secs > 0.0 && secs <= app.config.kv_expiry_max as f64 => {
                Ok(Some(Duration::from_secs_f64(secs)))
            }
            _ => Err(format!(
                "seconds must be a positive number up to kv_expiry_max ({}), or null",
                app.config.kv_expiry_max
            )),
        },
    }
}

async fn set(app: &App, req: &Value) -> Result<Value, String> {
    let key = key(app, req)?;
    let json = req.get("value").cloned().unwrap_or(Value::Null).to_string();
    if json.len() > app.config.kv_value_max {
        return Err(format!(
            "a value of {} bytes, more than kv_value_max ({})",
            json.len(),
            app.config.kv_value_max
        ));
    }
    let ttl = expiry(app, req)?;
    let state = app.ctx.state();
    let old = state.get(&key).await?;
    let old = old.as_deref().map(|v| stored(v).0);
    let window = window_now(app);
    match (old, ttl) {
        (Some(None), None) => {}
        (Some(Some(w)), Some(_)) if w == window => {}
        (_, None) => count(app, &held_key(app), FOREVER).await?,
        (old, Some(_)) => {
            let span = Duration::from_secs(2 * app.config.kv_expiry_max);
            count(app, &window_key(app, window), span).await?;
            if old == Some(None) {
                uncount(app).await?;
            }
        }
    }
    let (text, ttl) = match ttl {
        None => (json, FOREVER),
        Some(ttl) => (format!("e{window}:{json}"), ttl),
    };
    state.set(&key, &text, ttl).await?;
    Ok(ok(req, json!({})))
}

/// Counts one more key in `counter` (made with `span` if new), unless that would take the app
/// past `kv_keys`.
async fn count(app: &App, counter: &str, span: Duration) -> Result<(), String> {
    let state = app.ctx.state();
    // The incremented count comes back with the incr; the others are read.
    let mut held = state.incr(counter, 1, span).await?.max(0);
    let window = window_now(app);
    for c in [
        held_key(app),
        window_key(app, window),
        window_key(app, window.saturating_sub(1)),
    ] {
        if c == counter {
            continue;
        }
        held += state
            .get(&c)
            .await?
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
            .max(0);
    }
    if held > app.config.kv_keys as i64 {
        state.incr(counter, -1, span).await?;
        return Err(format!("Too many keys (kv_keys {})", app.config.kv_keys));
    }
    Ok(())
}

/// One key without an expiry less; the count never goes below zero.
async fn uncount(app: &App) -> Result<(), String> {
    let state = app.ctx.state();
    if state.incr(&held_key(app), -1, FOREVER).await? < 0 {
        state.incr(&held_key(app), 1, FOREVER).await?;
    }
    Ok(())
}

async fn delete(app: &App, req: &Value) -> Result<Value, String> {
    let key = key(app, req)?;
    let state = app.ctx.state();
    let old = state.get(&key).await?;
    let existed = state.delete(&key).await?;
    // A key with an expiry stays counted in its window until the window's count expires.
    if existed && old.as_deref().is_some_and(|v| stored(v).0.is_none()) {
        uncount(app).await?;
    }
    Ok(ok(req, json!({ "existed": existed })))
}

async fn incr(app: &App, req: &Value) -> Result<Value, String> {
    let key = key(app, req)?;
    let amount = match req.get("amount") {
        None | Some(Value::Null) => 1,
        Some(a) => a.as_i64().ok_or("amount must be an integer")?,
    };
    let state = app.ctx.state();
    if state.get(&key).await?.is_none() {
        count(app, &held_key(app), FOREVER).await?;
    }
    let value = state.incr(&key, amount, FOREVER).await?;
    Ok(ok(req, json!({ "value": value })))
}

#[cfg(test)]
mod tests {
    use super::stored;

    #[test]
    fn a_value_says_how_it_lives() {
        assert_eq!(stored("{\"a\":1}"), (None, "{\"a\":1}"));
        assert_eq!(stored("e20423:\"x\""), (Some(20423), "\"x\""));
        assert_eq!(stored("12"), (None, "12"));
        assert_eq!(stored("emu"), (None, "emu"), "not a tag: no window");
    }
}
