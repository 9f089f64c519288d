//! Request plumbing the dialects share: a body read within `max_body` and `body_timeout_ms`,
//! URL-encoded pairs read as bytes (the first of a repeated name wins, as Kannel reads them),
//! and plain-text answers.

use super::Shared;
use axum::body::{to_bytes, Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ruvuma_plugin_api::tokio::time::timeout;
use std::time::Duration;

/// Why a body could not be read: the status and the reason, for the dialect to word.
pub struct Unread(pub StatusCode, pub String);

pub async fn read(shared: &Shared, headers: &axum::http::HeaderMap, body: Body) -> Result<Bytes, Unread> {
    let max = shared.config.max_body;
    let too_big = || {
        Unread(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than max_body ({max} bytes)"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_big());
    }
    let wait = Duration::from_millis(shared.config.body_timeout_ms);
    match timeout(wait, to_bytes(body, max)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if crate::request::too_large(&e) => Err(too_big()),
        Ok(Err(e)) => Err(Unread(StatusCode::BAD_REQUEST, format!("cannot read the body: {e}"))),
        Err(_) => Err(Unread(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within body_timeout_ms ({} ms)",
                wait.as_millis()
            ),
        )),
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `%XX` and `+` decoded; a `%` not followed by two hex digits is kept as it is.
pub fn unescape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                text.get(i + 1).copied().and_then(hex),
                text.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// `a=1&b=2` as (name, value) pairs in order, both decoded; names as text.
pub fn pairs(text: &[u8]) -> Vec<(String, Vec<u8>)> {
    text.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = match p.iter().position(|&b| b == b'=') {
                Some(at) => (&p[..at], &p[at + 1..]),
                None => (p, &p[p.len()..]),
            };
            (String::from_utf8_lossy(&unescape(name)).into_owned(), unescape(value))
        })
        .collect()
}

/// The first value given for `name`.
pub fn first<'a>(pairs: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
}

/// A plain-text answer with the content type given.
pub fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub async fn unknown_path() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        "Unknown request.".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_decoded_in_order_and_bad_escapes_kept() {
        let p = pairs(b"to=123+456&text=caf%C3%A9%2&to=9&flag");
        assert_eq!(p[0], ("to".into(), b"123 456".to_vec()));
        assert_eq!(p[1], ("text".into(), b"caf\xc3\xa9%2".to_vec()));
        assert_eq!(first(&p, "to"), Some(&b"123 456"[..]));
        assert_eq!(first(&p, "flag"), Some(&b""[..]));
        assert_eq!(unescape(b"%"), b"%");
        assert_eq!(unescape(b"%4"), b"%4");
        assert_eq!(unescape(b"%41%zz"), b"A%zz");
    }
}
