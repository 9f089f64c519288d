//! The resources an app reaches through `api.request`, with Vumi's command names and reply
//! shapes: `log`, `config`, `metrics`, `kv`, `outbound`, `http` and `messagestore`. Every reply carries
//! `success`; a refusal carries `reason`.

mod http;
mod kv;
mod messagestore;
mod outbound;

pub use http::client as http_client;
pub use messagestore::Cache as StoreCache;

use crate::App;
use ruvuma_plugin_api::Message;
use serde_json::{json, Map, Value};

/// The reply to `req`: its `cmd`, `cmd_id` and `job`, `reply: true`, and `fields`.
pub fn reply(req: &Value, fields: Value) -> Value {
    let mut out = Map::new();
    for key in ["cmd", "cmd_id", "job"] {
        out.insert(key.into(), req.get(key).cloned().unwrap_or(Value::Null));
    }
    out.insert("reply".into(), Value::Bool(true));
    if let Value::Object(more) = fields {
        out.extend(more);
    }
    Value::Object(out)
}

pub fn ok(req: &Value, fields: Value) -> Value {
    let mut r = reply(req, fields);
    r["success"] = Value::Bool(true);
    r
}

pub fn refused(req: &Value, reason: impl Into<String>) -> Value {
    reply(req, json!({"success": false, "reason": reason.into()}))
}

/// A string field of the request, or the refusal that names it.
pub fn text<'r>(req: &'r Value, key: &str) -> Result<&'r str, String> {
    req.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("'{key}' must be given, as a string"))
}

/// Answers one request of the app's, about `inbound` (the message or event being handled).
pub async fn handle(app: &App, inbound: Option<&Message>, req: &Value) -> Value {
    let cmd = req.get("cmd").and_then(Value::as_str).unwrap_or("");
    let (resource, command) = cmd.split_once('.').unwrap_or((cmd, ""));
    match resource {
        "log" => log(app, req, command),
        "config" if command == "get" => config_get(app, req),
        "metrics" if command == "fire" => metrics_fire(app, req),
        "kv" => kv::handle(app, req, command).await,
        "outbound" => outbound::handle(app, inbound, req, command).await,
        "http" => http::handle(app, req, command).await,
        "messagestore" => messagestore::handle(app, req, command).await,
        _ => {
            tracing::warn!("sandbox {}: unknown command {cmd:?}", app.name());
            refused(req, format!("unknown command {cmd:?}"))
        }
    }
}

/// `log.<level>` (`msg`) or `log.log` (`msg`, `level` as Python's 10..50), into the host's log.
fn log(app: &App, req: &Value, command: &str) -> Value {
    let level = match command {
        "debug" => 0,
        "info" => 1,
        "warning" => 2,
        "error" => 3,
        "critical" => 4,
        "log" => (req.get("level").and_then(Value::as_u64).unwrap_or(20) / 10).clamp(1, 5) as usize - 1,
        _ => return refused(req, format!("unknown command \"log.{command}\"")),
    };
    let text = match req.get("msg") {
        None | Some(Value::Null) => return refused(req, "Value expected for msg"),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if level >= app.config.log_floor() {
        let text: String = text.chars().take(2000).collect();
        let app = app.name();
        match level {
            0 => tracing::debug!(app, "{text}"),
            1 => tracing::info!(app, "{text}"),
            2 => tracing::warn!(app, "{text}"),
            _ => tracing::error!(app, "{text}"),
        }
    }
    ok(req, json!({}))
}

/// `config.get` (`key`): the app's config as JSON text for `config`, the value given in
/// `config_keys` for another key (text as it is, anything else as JSON), or null. The worker
/// answers these itself from the same values ([`crate::config::Config::config_values`]); what
/// reaches the host is a request it could not answer, such as one without a string `key`.
fn config_get(app: &App, req: &Value) -> Value {
    let key = match text(req, "key") {
        Ok(k) => k,
        Err(why) => return refused(req, why),
    };
    let value = app.config.config_values().remove(key).unwrap_or(Value::Null);
    ok(req, json!({ "value": value }))
}

/// `metrics.fire` (`metric`, `value`, `agg`): into the host's metrics (`/metrics`), checked
/// as Vumi's metrics resource checks it.
fn metrics_fire(app: &App, req: &Value) -> Value {
    let metric = req.get("metric").and_then(Value::as_str).unwrap_or("");
    let agg = req.get("agg").and_then(Value::as_str).unwrap_or("");
    let Some(value) = req.get("value").and_then(Value::as_f64) else {
        return refused(req, "Invalid metric value");
    };
    match app.ctx.fire_metric(metric, agg, value) {
        Ok(()) => ok(req, json!({})),
        Err(why) => refused(req, why),
    }
}
