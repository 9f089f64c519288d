//! Junebug's JSON API: `POST /channels/{channel}/messages/` sends (or replies, with
//! `reply_to`), `GET /channels/{channel}/messages/{id}` reads a message's events from the
//! message store. Answers carry Junebug's envelope (`status`, `code`, `description`,
//! `result`) written as Junebug writes it. Inbound messages are POSTed to the channel's
//! `mo_url`, events to the message's `event_url` (with `Authorization: Token ...`).
//! With `users:` configured, requests must carry one's credentials (HTTP basic auth).

use super::accounts::{self, Refusal};
use super::body;
use super::pyjson::Py;
use super::track::{Dialect, Tracked};
use super::{Outgoing, Shared};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::tracing::warn;
use ruvuma_plugin_api::vumi_json;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

mod request;
mod shapes;

use shapes::{api_from_event, api_from_message};
pub use shapes::{event_callbacks, mo_callback};

pub fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/channels/{channel}/messages", post(send))
        .route("/channels/{channel}/messages/", post(send))
        .route("/channels/{channel}/messages/{id}", get(status))
}

/// Junebug's envelope around `result`.
fn envelope(status: StatusCode, description: &str, result: Py) -> Response {
    let text = Py::Obj(vec![
        ("status", json!(status.as_u16()).into()),
        ("code", Py::str(status.canonical_reason().unwrap_or(""))),
        ("description", Py::str(description)),
        ("result", result),
    ])
    .dumps();
    body::text(status, "application/json", text)
}

/// An error answer with one `{message, type}` item.
fn failed(status: StatusCode, description: &str, kind: &str, message: &str) -> Response {
    let item = Py::Obj(vec![("message", Py::str(message)), ("type", Py::str(kind))]);
    envelope(status, description, Py::Obj(vec![("errors", Py::List(vec![item]))]))
}

fn usage(message: &str) -> Response {
    failed(StatusCode::BAD_REQUEST, "api usage error", "ApiUsageError", message)
}

/// The account a request's basic credentials name, when the config has users.
fn who<'a>(shared: &'a Shared, headers: &HeaderMap) -> Result<Option<&'a accounts::Account>, Response> {
    if shared.accounts.is_empty() {
        return Ok(None);
    }
    let refused = |user: &str| {
        warn!("junebug API: authentication failed for user {user:?}");
        failed(
            StatusCode::UNAUTHORIZED,
            "authentication failed",
            "AuthenticationFailed",
            "a user's credentials are needed (HTTP basic auth)",
        )
    };
    let Some((user, password)) = crate::auth::basic_credentials(headers) else {
        return Err(refused(""));
    };
    shared
        .accounts
        .check(&user, &password)
        .map(Some)
        .map_err(|_| refused(&user))
}

/// The channel from the path, known and allowed.
fn channel<'a>(shared: &'a Shared, account: Option<&accounts::Account>, named: &'a str) -> Result<&'a str, Response> {
    accounts::channel(&shared.config, account, Some(named)).map_err(|r| match r {
        Refusal::Forbidden { channel } => failed(
            StatusCode::FORBIDDEN,
            "channel not allowed",
            "Forbidden",
            &format!("this user may not send through channel {channel:?}"),
        ),
        _ => failed(StatusCode::NOT_FOUND, "channel not found", "ChannelNotFound", ""),
    })
}

async fn send(State(shared): State<Arc<Shared>>, Path(named): Path<String>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match body::read(&shared, &parts.headers, body).await {
        Ok(b) => b,
        Err(body::Unread(status, why)) => return failed(status, "request body refused", "BodyRefused", &why),
    };
    match send_checked(&shared, &parts.headers, &named, &bytes).await {
        Ok(r) | Err(r) => r,
    }
}

async fn send_checked(shared: &Shared, headers: &HeaderMap, named: &str, bytes: &[u8]) -> Result<Response, Response> {
    let given = request::parse(bytes)?;
    let account = who(shared, headers)?;
    let channel = channel(shared, account, named)?;
    let msg = match &given.reply_to {
        Some(id) => {
            let Some(inbound) = find_inbound(shared, id).await? else {
                return Err(failed(
                    StatusCode::BAD_REQUEST,
                    "message not found",
                    "MessageNotFound",
                    &format!("Inbound message with id {id} not found"),
                ));
            };
            given.reply(&inbound)
        }
        None if given.to.is_some() => given.message(channel),
        None => return Err(usage("Either \"to\" or \"reply_to\" must be specified")),
    };
    let mut msg = msg;
    if given.event_url.is_some() {
        // A client that wants events wants the delivery receipts they come from.
        msg.transport_metadata.update(|m| {
            let smpp = m.entry("smpp").or_insert_with(|| json!({}));
            if let Some(o) = smpp.as_object_mut() {
                o.insert("registered_delivery".into(), json!(true));
            }
        });
    }
    if let (Some(limit), Some(content)) = (shared.config.channels[channel].character_limit, msg.content()) {
        let count = content.chars().count();
        if count > limit {
            return Err(failed(
                StatusCode::BAD_REQUEST,
                "message too long",
                "MessageTooLong",
                &format!("Message content {content:?} is of length {count}, which is greater than the character limit of {limit}"),
            ));
        }
    }
    if let Some(a) = account {
        shared.accounts.pace(a, 1).await.map_err(|_| {
            failed(
                StatusCode::TOO_MANY_REQUESTS,
                "rate limit exceeded",
                "TooManyRequests",
                "over this user's mt_tps",
            )
        })?;
    }
    let tracked = given.event_url.clone().map(|url| Tracked {
        d: Dialect::Junebug,
        url,
        token: given.event_auth_token.clone(),
        mask: 0,
        level: 0,
        post: true,
        user: account.map(|a| a.username.clone()).unwrap_or_default(),
        ch: channel.to_owned(),
        to: msg.to_addr().to_owned(),
        from: msg.from_addr().to_owned(),
        acked: false,
    });
    let result = api_from_message(&msg);
    shared.submit(vec![Outgoing { msg, tracked }]).await.map_err(|e| {
        warn!("junebug API: not accepted: {e}");
        failed(
            StatusCode::SERVICE_UNAVAILABLE,
            "service unavailable",
            "Unavailable",
            &e,
        )
    })?;
    Ok(envelope(StatusCode::CREATED, "message submitted", result))
}

/// Inbound messages are kept this long for replies, under `in:<message_id>`.
pub async fn keep_inbound(shared: &Shared, msg: &Message) -> Result<(), String> {
    let ttl = Duration::from_secs(shared.config.inbound_ttl);
    let text = vumi_json::encode(&Payload::from(msg.clone()));
    shared
        .ctx
        .state()
        .set(&format!("in:{}", msg.message_id), &text, ttl)
        .await
}

/// An inbound message by id: kept for replies, else from the message store.
async fn find_inbound(shared: &Shared, id: &str) -> Result<Option<Message>, Response> {
    let unavailable = |e: String| {
        failed(
            StatusCode::SERVICE_UNAVAILABLE,
            "service unavailable",
            "Unavailable",
            &e,
        )
    };
    if let Some(text) = shared.ctx.state().get(&format!("in:{id}")).await.map_err(unavailable)? {
        if let Ok(m) = vumi_json::decode_message(text.as_bytes()) {
            return Ok(Some(m));
        }
    }
    match shared.ctx.find_message(id).await {
        Ok(Some(found)) if found["direction"] == "inbound" && found["message_id"] == id => {
            let text = found["message"].to_string();
            Ok(vumi_json::decode_message(text.as_bytes()).ok())
        }
        Ok(_) | Err(_) => Ok(None),
    }
}

async fn status(
    State(shared): State<Arc<Shared>>,
    Path((named, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let answer = async {
        let account = who(&shared, &headers)?;
        let channel = channel(&shared, account, &named)?;
        let found = match shared.ctx.find_message(&id).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Err(failed(
                    StatusCode::NOT_FOUND,
                    "message not found",
                    "MessageNotFound",
                    &format!("Message with id {id} not found"),
                ))
            }
            Err(e) => {
                return Err(failed(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no message store",
                    "StoreUnavailable",
                    &e,
                ))
            }
        };
        let mut events: Vec<(String, Py, String)> = found["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| vumi_json::decode_event(e["event"].to_string().as_bytes()).ok())
            .map(|e| {
                let (kind, _) = shapes::event_type(&e);
                (
                    e.timestamp.to_string(),
                    api_from_event(channel, &e),
                    kind.unwrap_or("").to_owned(),
                )
            })
            .collect();
        events.sort_by(|a, b| a.0.cmp(&b.0));
        let last = events.last().map(|(at, _, kind)| (at.clone(), kind.clone()));
        let result = Py::Obj(vec![
            ("events", Py::List(events.into_iter().map(|(_, e, _)| e).collect())),
            ("last_event_timestamp", Py::opt(last.as_ref().map(|l| l.0.as_str()))),
            ("id", Py::str(id.as_str())),
            ("last_event_type", Py::opt(last.as_ref().map(|l| l.1.as_str()))),
        ]);
        Ok(envelope(StatusCode::OK, "message status", result))
    };
    match answer.await {
        Ok(r) | Err(r) => r,
    }
}
