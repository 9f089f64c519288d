//! `outbound`: reply_to and reply_to_group (to the message being handled), send_to and
//! send_to_endpoint (a new message to an address, on the app's endpoint, with Vumi's routing
//! endpoint: `default` or one the config's `endpoints` names).

use super::{ok, refused};
use crate::App;
use ruvuma_plugin_api::Message;
use serde_json::{json, Value};

pub async fn handle(app: &App, inbound: Option<&Message>, req: &Value, command: &str) -> Value {
    let answer = match command {
        "reply_to" => reply(app, inbound, req, false).await,
        "reply_to_group" => reply(app, inbound, req, true).await,
        "send_to" | "send_to_endpoint" => send(app, req).await,
        _ => Err(format!("unknown command \"outbound.{command}\"")),
    };
    answer.map_or_else(|why| refused(req, why), |()| ok(req, json!({})))
}

/// `content`: a string, or null (a reply that only ends a session).
fn content(req: &Value) -> Result<Option<&str>, String> {
    match req.get("content") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err("'content' must be a string or null".into()),
    }
}

/// Only empty `helper_metadata` is taken, as Vumi's outbound resource does by default.
fn no_metadata(req: &Value) -> Result<(), String> {
    match req.get("helper_metadata") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(m)) if m.is_empty() => Ok(()),
        Some(_) => Err("'helper_metadata' is not allowed".into()),
    }
}

async fn reply(app: &App, inbound: Option<&Message>, req: &Value, to_group: bool) -> Result<(), String> {
    let content = content(req)?;
    no_metadata(req)?;
    let id = req
        .get("in_reply_to")
        .and_then(Value::as_str)
        .ok_or("'in_reply_to' must be given.")?;
    let Some(msg) = inbound.filter(|m| m.message_id.as_str() == id) else {
        return Err(format!("Could not find original message with id: {id:?}"));
    };
    let continue_session = req.get("continue_session").and_then(Value::as_bool).unwrap_or(true);
    let mut out = msg.reply(content, continue_session);
    if to_group {
        let Some(group) = msg.group.clone().into_option() else {
            return Err("the message has no group to reply to".into());
        };
        out.to_addr = Some(group).into();
    }
    app.ctx.publish_outbound(out).await
}

async fn send(app: &App, req: &Value) -> Result<(), String> {
    let content = content(req)?;
    no_metadata(req)?;
    let to = req
        .get("to_addr")
        .and_then(Value::as_str)
        .ok_or("'to_addr' must be given.")?;
    let endpoint = match req.get("endpoint") {
        None | Some(Value::Null) => "default",
        Some(Value::String(e)) => e,
        Some(_) => return Err("'endpoint' must be a string".into()),
    };
    if endpoint != "default" && !app.config.endpoints.iter().any(|e| e == endpoint) {
        return Err(format!("Endpoint {endpoint:?} not configured"));
    }
    let mut msg = Message::new("", to, content, "", "");
    msg.routing_metadata
        .insert("endpoint_name", Value::String(endpoint.to_owned()));
    app.ctx.publish_outbound(msg).await
}
