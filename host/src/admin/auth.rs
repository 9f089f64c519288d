//! Who may ask: HTTP basic authentication or a bearer token, compared in constant time, on
//! every route. A form POST from another site is refused (a browser sends the credentials it
//! remembers along with it).

use super::Admin;
use crate::config::AdminAuth;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use std::sync::Arc;

/// Equal bytes, in time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(!x));
    }
    diff == 0
}

fn allowed(auth: &AdminAuth, headers: &HeaderMap) -> bool {
    let Some(given) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    match auth {
        AdminAuth::Token(token) => given
            .strip_prefix("Bearer ")
            .is_some_and(|t| same(t.trim().as_bytes(), token.as_bytes())),
        AdminAuth::Basic { username, password } => {
            let Some(encoded) = given.strip_prefix("Basic ") else {
                return false;
            };
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
                return false;
            };
            let expected = format!("{username}:{password}");
            same(&decoded, expected.as_bytes())
        }
    }
}

/// Whether a state-changing request comes from this server's own pages (or from no browser).
fn same_origin(headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s == "cross-site" || s == "same-site")
    {
        return false;
    }
    let (Some(origin), Some(host)) = (headers.get(header::ORIGIN), headers.get(header::HOST)) else {
        return true;
    };
    let origin = origin.to_str().unwrap_or("");
    let host = host.to_str().unwrap_or("");
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        == Some(host)
}

pub(super) async fn check(State(admin): State<Arc<Admin>>, request: Request, next: Next) -> Response {
    if let Some(auth) = &admin.shown().auth {
        if !allowed(auth, request.headers()) {
            let challenge = match auth {
                AdminAuth::Basic { .. } => "Basic realm=\"ruvuma admin\", charset=\"UTF-8\"",
                AdminAuth::Token(_) => "Bearer realm=\"ruvuma admin\"",
            };
            let body = format!("{}: authentication required\n", admin.alias);
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)], body).into_response();
        }
    }
    if request.method() != Method::GET && request.method() != Method::HEAD && !same_origin(request.headers()) {
        let body = format!("{}: refused: the request comes from another site\n", admin.alias);
        return (StatusCode::FORBIDDEN, body).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn basic_and_token() {
        let basic = AdminAuth::Basic {
            username: "ops".into(),
            password: "s3cret".into(),
        };
        let good = base64::engine::general_purpose::STANDARD.encode("ops:s3cret");
        let bad = base64::engine::general_purpose::STANDARD.encode("ops:s3cre");
        assert!(allowed(
            &basic,
            &headers(&[("authorization", &format!("Basic {good}"))])
        ));
        assert!(!allowed(
            &basic,
            &headers(&[("authorization", &format!("Basic {bad}"))])
        ));
        assert!(!allowed(&basic, &headers(&[])));
        let token = AdminAuth::Token("tok".into());
        assert!(allowed(&token, &headers(&[("authorization", "Bearer tok")])));
        assert!(!allowed(&token, &headers(&[("authorization", "Bearer tok2")])));
        assert!(!allowed(&token, &headers(&[("authorization", "Basic tok")])));
    }

    #[test]
    fn cross_site_posts_are_refused() {
        assert!(same_origin(&headers(&[])));
        assert!(same_origin(&headers(&[
            ("origin", "http://127.0.0.1:8000"),
            ("host", "127.0.0.1:8000")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:8000")
        ])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
    }
}
