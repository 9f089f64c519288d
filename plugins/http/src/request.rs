//! From a raw HTTP request to the transport: the route (POST, and GET for form fields in the
//! query; anything else is a 405 naming what is allowed), the body read within
//! `body_timeout_ms` and `max_body`, and the error answers.

use crate::inbound::RequestFormat;
use crate::transport::Shared;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::Json;
use ruvuma_plugin_api::tokio::time::timeout;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Seconds a client is asked to wait before trying again after a 503.
const RETRY_AFTER: &str = "1";

pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// 503 with `Retry-After`: the request was not taken, and may be sent again.
pub fn unavailable(why: &str) -> Response {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, why);
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER));
    r
}

pub fn router(shared: Arc<Shared>) -> axum::Router {
    let methods = match shared.config.request_format {
        RequestFormat::Json => MethodFilter::POST,
        RequestFormat::Form => MethodFilter::POST.or(MethodFilter::GET),
    };
    axum::Router::new()
        .route(&shared.config.path, on(methods, handle))
        .with_state(shared)
}

/// Whether reading a body failed because it passed its length limit.
pub fn too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The whole body, or the answer explaining why not.
async fn read_body(shared: &Shared, body: Body) -> Result<axum::body::Bytes, Response> {
    let config = &shared.config;
    match timeout(
        Duration::from_millis(config.body_timeout_ms),
        to_bytes(body, config.max_body),
    )
    .await
    {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if too_large(&e) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than max_body ({} bytes)", config.max_body),
        )),
        Ok(Err(e)) => Err(error(StatusCode::BAD_REQUEST, format!("cannot read the body: {e}"))),
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within body_timeout_ms ({} ms)",
                config.body_timeout_ms
            ),
        )),
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Some(n) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    {
        if n > shared.config.max_body as u64 {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than max_body ({} bytes)", shared.config.max_body),
            );
        }
    }
    match read_body(&shared, body).await {
        Ok(body) => shared.receive(parts.uri.query(), &parts.headers, &body).await,
        Err(answer) => answer,
    }
}
