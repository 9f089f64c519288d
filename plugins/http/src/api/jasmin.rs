//! Jasmin's HTTP API: `/send` (GET or POST; a query, a form or a JSON body), answered
//! `Success "<id>"` or `Error "<why>"` with Jasmin's status codes and texts, checked in
//! Jasmin's order; `/ping`. Delivery reports are thrown as Jasmin throws them: level 1 when the
//! SMSC answers the submit, level 2 with the handset's receipt, both for level 3; by GET or
//! POST, form-encoded, and retried until the receiver answers `ACK/Jasmin`.

use super::accounts::{self, Refusal};
use super::body::{self, pairs};
use super::sms::{dashed, Alphabet, Body, Sms};
use super::track::{Dialect, Tracked};
use super::{Outgoing, Shared};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::{get, on, MethodFilter};
use ruvuma_plugin_api::tracing::warn;
use std::sync::Arc;

mod args;
mod dlr;

use args::Args;
pub use dlr::dlr_callbacks;

pub fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/send", on(MethodFilter::GET.or(MethodFilter::POST), send))
        .route("/ping", get(ping))
}

async fn ping() -> Response {
    body::text(StatusCode::OK, "text/html", "Jasmin/PONG".into())
}

fn error(status: StatusCode, why: &str) -> Response {
    body::text(status, "text/plain", format!("Error \"{why}\""))
}

fn bad(why: &str) -> Response {
    error(StatusCode::BAD_REQUEST, why)
}

async fn send(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut given = pairs(parts.uri.query().unwrap_or("").as_bytes());
    if parts.method == axum::http::Method::POST {
        let bytes = match body::read(&shared, &parts.headers, body).await {
            Ok(b) => b,
            Err(body::Unread(status, why)) => return error(status, &why),
        };
        let content_type = parts.headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes());
        if content_type == Some(b"application/json") {
            match args::from_json(&bytes) {
                Ok(more) => given.extend(more),
                Err(why) => return bad(&why),
            }
        } else {
            given.extend(pairs(&bytes));
        }
    }
    let args = match Args::validate(given) {
        Ok(a) => a,
        Err(why) => return bad(&why),
    };
    match handle(&shared, &args).await {
        Ok(id) => body::text(StatusCode::OK, "text/plain", format!("Success \"{}\"", dashed(&id))),
        Err(response) => response,
    }
}

async fn handle(shared: &Shared, a: &Args) -> Result<String, Response> {
    let body = a.body()?;
    if let Body::Text(text, _) = &body {
        if text.len() > shared.config.max_content {
            return Err(bad(&format!(
                "Content is longer than {} bytes.",
                shared.config.max_content
            )));
        }
    }
    let account = shared.accounts.check(&a.username, &a.password).map_err(|_| {
        warn!("jasmin /send: authentication failure for user {:?}", a.username);
        error(
            StatusCode::FORBIDDEN,
            &format!("Authentication failure for username:{}", a.username),
        )
    })?;
    let channel = accounts::channel(&shared.config, Some(account), None).map_err(|r| match r {
        Refusal::Forbidden { .. } | Refusal::NoChannel { .. } | Refusal::NoDefault => {
            error(StatusCode::PRECONDITION_FAILED, "No route found")
        }
        _ => error(StatusCode::INTERNAL_SERVER_ERROR, "Unknown error: routing"),
    })?;
    shared
        .accounts
        .pace(account, 1)
        .await
        .map_err(|_| error(StatusCode::FORBIDDEN, "User throughput exceeded"))?;
    let sender = a.from.clone().or_else(|| shared.config.default_sender.clone());
    let tracked = a.dlr_url.as_ref().filter(|_| a.dlr).map(|url| Tracked {
        d: Dialect::Jasmin,
        url: url.clone(),
        token: None,
        mask: 0,
        level: a.dlr_level,
        post: a.dlr_post,
        user: a.username.clone(),
        ch: channel.to_owned(),
        to: a.to.clone(),
        from: sender.clone().unwrap_or_default(),
        acked: false,
    });
    let sms = Sms {
        channel: channel.to_owned(),
        from: sender,
        to: a.to.clone(),
        body,
        udh: None,
        mclass: None,
        priority: a.priority,
        validity_minutes: a.validity,
        deferred_minutes: None,
        schedule: a.sdt.clone(),
        receipt: (a.dlr && a.dlr_level >= 2).then_some(true),
    };
    let msg = sms.message();
    let id = msg.message_id.to_string();
    shared.submit(vec![Outgoing { msg, tracked }]).await.map_err(|e| {
        warn!("jasmin /send: not accepted: {e}");
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot send submit_sm, check SMPPClientManagerPB log file for details",
        )
    })?;
    Ok(id)
}

/// What Jasmin's `coding` asks for, for text; `None` for the codings sent as octets.
fn alphabet(coding: u8) -> Option<Alphabet> {
    match coding {
        0 => Some(Alphabet::Gsm7),
        1 => Some(Alphabet::Ascii),
        3 => Some(Alphabet::Latin1),
        8 => Some(Alphabet::Ucs2),
        _ => None,
    }
}
