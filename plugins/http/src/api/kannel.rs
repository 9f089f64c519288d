//! Kannel's sendsms (`/cgi-bin/sendsms`), answered as Kannel's smsbox answers: the same texts,
//! status codes and headers. GET reads the query; POST reads a `text/plain` or
//! `application/octet-stream` body with `X-Kannel-*` headers (Kannel's POST form), or, beyond
//! what Kannel does, a form-encoded body. Delivery reports call `dlr-url` with Kannel's escapes
//! expanded, for the kinds `dlr-mask` asks for.

use super::accounts::{self, Refusal};
use super::body::{self, pairs};
use super::sms::Sms;
use super::track::{Dialect, Tracked};
use super::{Outgoing, Shared};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{on, MethodFilter};
use ruvuma_plugin_api::tracing::warn;
use std::sync::Arc;

mod dlr;
mod params;

pub use dlr::dlr_callbacks;
use params::Params;

pub fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new().route(
        "/cgi-bin/sendsms",
        on(MethodFilter::GET.or(MethodFilter::POST).or(MethodFilter::HEAD), sendsms),
    )
}

/// Kannel's answer: bare text, `Content-type: text/html` and no caching.
fn answer(status: StatusCode, text: &str) -> Response {
    let mut r = body::text(status, "text/html", text.to_owned());
    let h = r.headers_mut();
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn rejected(text: &str) -> Response {
    answer(StatusCode::BAD_REQUEST, text)
}

async fn sendsms(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let params = if parts.method == axum::http::Method::POST {
        let bytes = match body::read(&shared, &parts.headers, body).await {
            Ok(b) => b,
            Err(body::Unread(status, why)) => return answer(status, &why),
        };
        match Params::from_post(&parts.headers, &bytes) {
            Ok(p) => p,
            Err(response) => return response,
        }
    } else {
        Params::from_query(&pairs(parts.uri.query().unwrap_or("").as_bytes()))
    };
    match handle(&shared, &params).await {
        Ok(n) => {
            ruvuma_plugin_api::tracing::debug!("sendsms: {n} message(s) accepted for user {:?}", params.user);
            answer(StatusCode::ACCEPTED, "0: Accepted for delivery")
        }
        Err(response) => response,
    }
}

/// Checks the request whole, then sends one message per receiver; how many were sent.
async fn handle(shared: &Shared, p: &Params) -> Result<usize, Response> {
    let account = shared.accounts.check(&p.user, &p.pass).map_err(|_| {
        warn!("sendsms: authorization failed for user {:?}", p.user);
        answer(StatusCode::FORBIDDEN, "Authorization failed for sendsms")
    })?;
    let to = match &p.to {
        None if p.post => return Err(rejected("Missing receiver(s) number(s), rejected")),
        None => return Err(rejected("Missing receiver number, rejected")),
        Some(to) if to.is_empty() => return Err(rejected("Empty receiver number not allowed, rejected")),
        Some(to) => to,
    };
    let receivers = receivers(to);
    if receivers.is_empty() {
        return Err(rejected("Number(s) has/have been denied by white- and/or black-lists."));
    }
    if receivers.len() > shared.config.max_recipients {
        return Err(rejected(&format!(
            "Too many receivers ({}; at most {}), rejected",
            receivers.len(),
            shared.config.max_recipients
        )));
    }
    p.check_fields()?;
    let channel = accounts::channel(&shared.config, Some(account), p.smsc.as_deref())
        .map_err(|_| answer(StatusCode::FORBIDDEN, "Not routable. Do not try again."))?;
    let body = p.body(shared.config.max_content)?;
    let from = p
        .from
        .clone()
        .filter(|f| !f.is_empty())
        .or_else(|| shared.config.default_sender.clone())
        .ok_or_else(|| rejected("Sender missing and no global set, rejected"))?;
    shared.accounts.pace(account, receivers.len()).await.map_err(|r| {
        if let Refusal::TooFast { mt_tps } = r {
            warn!("sendsms: user {:?} is over its mt_tps ({mt_tps})", p.user);
        }
        answer(StatusCode::SERVICE_UNAVAILABLE, "Temporal failure, try again later.")
    })?;
    let mask = u8::try_from(p.dlr_mask).unwrap_or(0) & 31;
    let url = p.dlr_url.clone().filter(|u| !u.is_empty());
    let batch: Vec<Outgoing> = receivers
        .iter()
        .map(|to| {
            let sms = Sms {
                channel: channel.to_owned(),
                from: Some(from.clone()),
                to: to.clone(),
                body: body.clone(),
                udh: p.udh.clone(),
                mclass: u8::try_from(p.mclass).ok(),
                priority: u8::try_from(p.priority).ok(),
                validity_minutes: u32::try_from(p.validity).ok(),
                deferred_minutes: u32::try_from(p.deferred).ok(),
                schedule: None,
                receipt: (url.is_some() && mask & 7 != 0).then_some(true),
            };
            let tracked = url.as_ref().filter(|_| mask != 0).map(|url| Tracked {
                d: Dialect::Kannel,
                url: url.clone(),
                token: None,
                mask,
                level: 0,
                post: false,
                user: p.user.clone(),
                ch: channel.to_owned(),
                to: to.clone(),
                from: from.clone(),
                acked: false,
            });
            Outgoing {
                msg: sms.message(),
                tracked,
            }
        })
        .collect();
    let n = batch.len();
    shared.submit(batch).await.map_err(|e| {
        warn!("sendsms: not accepted: {e}");
        answer(StatusCode::SERVICE_UNAVAILABLE, "Temporal failure, try again later.")
    })?;
    Ok(n)
}

/// Receivers split on blanks (a `+` in a URL is one), each once; a number with a character
/// outside `0123456789 +-` is denied, as Kannel's default `sendsms-chars` denies it.
fn receivers(to: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in to.split_ascii_whitespace() {
        let allowed = n.chars().all(|c| c.is_ascii_digit() || c == '+' || c == '-');
        if allowed && !out.iter().any(|o| o == n) {
            out.push(n.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_split_on_blanks_once_each_and_bad_numbers_are_denied() {
        assert_eq!(receivers("123 456\t123 +789 12ab"), vec!["123", "456", "+789"]);
        assert!(receivers("abc").is_empty());
    }
}
