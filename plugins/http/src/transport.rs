//! The `http` transport. Inbound: an HTTP server that turns each request into a message —
//! answering at once (`mode: async`, 202 with the message id), or holding the request until the
//! application's reply arrives and returning it (`mode: sync`, for USSD), 504 after
//! `reply_timeout_ms`. Outbound: a message that answers no held request is POSTed as Vumi JSON to
//! `outbound_url`; 2xx acks it, retryable failures are retried with backoff, then it is nacked.

use crate::auth::Auth;
use crate::delivery::{client, post, RetryPolicy};
use crate::inbound::{parse_form, parse_json, FieldNames, RequestFormat};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Json;
use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::tokio::net::TcpListener;
use ruvuma_plugin_api::tokio::sync::{oneshot, watch};
use ruvuma_plugin_api::tokio::time::timeout;
use ruvuma_plugin_api::tracing::{info, warn};
use ruvuma_plugin_api::vumi_json::message_to_value;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Answer 202 at once; replies go to `outbound_url`.
    #[default]
    Async,
    /// Hold the request until the reply comes, and answer with it.
    Sync,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// `{"message_id", "in_reply_to", "content", "continue_session"}`
    #[default]
    Json,
    /// `CON <content>` while the session goes on, `END <content>` when it ends (plain text).
    Text,
}

fn default_bind() -> String {
    "127.0.0.1:9020".into()
}
fn default_path() -> String {
    "/".into()
}
fn default_reply_timeout() -> u64 {
    10_000
}
fn default_max_body() -> usize {
    64 * 1024
}
fn default_type() -> String {
    "http".into()
}
fn default_session_timeout() -> u64 {
    600
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_bind")]
    pub bind: String,
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub request_format: RequestFormat,
    #[serde(default)]
    pub fields: FieldNames,
    /// Form mode: the aggregator's session states → new, resume or close.
    #[serde(default)]
    pub session_events: HashMap<String, String>,
    #[serde(default)]
    pub response_format: ResponseFormat,
    #[serde(default = "default_reply_timeout")]
    pub reply_timeout_ms: u64,
    #[serde(default = "default_max_body")]
    pub max_body: usize,
    /// Required on inbound requests: `{username, password}` or `{token}`.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// to_addr when a request gives none.
    #[serde(default)]
    pub to_addr: Option<String>,
    #[serde(default = "default_type")]
    pub transport_type: String,
    #[serde(default)]
    pub outbound_url: Option<String>,
    #[serde(default)]
    pub outbound_auth: Option<Auth>,
    #[serde(default)]
    pub outbound: RetryPolicy,
    /// Form mode without a session state field: seconds a session id is remembered (600).
    #[serde(default = "default_session_timeout")]
    pub session_timeout: u64,
}

struct Reply {
    message_id: String,
    content: Option<String>,
    continue_session: bool,
}

struct Shared {
    ctx: Context,
    config: Config,
    session_events: HashMap<String, SessionEvent>,
    /// message id → the request waiting for its reply (sync mode)
    pending: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
}

pub struct HttpTransport {
    shared: Arc<Shared>,
    client: reqwest::Client,
    draining: watch::Sender<bool>,
}

fn session_events(config: &Config) -> Result<HashMap<String, SessionEvent>, ConfigProblem> {
    config
        .session_events
        .iter()
        .map(|(given, ours)| match SessionEvent::from_vumi(Some(ours)) {
            Ok(ev) if ev != SessionEvent::None => Ok((given.clone(), ev)),
            _ => Err(ConfigProblem::at(
                &format!("session_events.{given}"),
                format!("{ours:?} is not new, resume or close"),
            )),
        })
        .collect()
}

impl Component for HttpTransport {
    type Config = Config;
    const NAME: &'static str = "http";
    const DESCRIPTION: &'static str =
        "HTTP in (JSON or form, async or sync for USSD, with auth) and out (POST with retries, acks and nacks).";
    const CONFIG_DOC: &'static str = "bind (127.0.0.1:9020), path (/), mode: async|sync, request_format: json|form,\n\
        fields: {from_addr, to_addr, content, session_id, session_event} (form mode names),\n\
        session_events: {aggregator value: new|resume|close}, response_format: json|text (CON/END),\n\
        reply_timeout_ms (10000), max_body (65536), auth: {username, password} or {token}, to_addr,\n\
        transport_type (http), outbound_url, outbound_auth, outbound: {timeout_ms, retries, backoff_ms},\n\
        session_timeout (600)";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if config.bind.parse::<SocketAddr>().is_err() {
            problems.push(ConfigProblem::at(
                "bind",
                format!("{:?} is not an address like 127.0.0.1:9020", config.bind),
            ));
        }
        if !config.path.starts_with('/') {
            problems.push(ConfigProblem::at(
                "path",
                format!("{:?} must start with /", config.path),
            ));
        }
        if let Err(e) = session_events(config) {
            problems.push(e);
        }
        for (key, value) in [
            ("reply_timeout_ms", config.reply_timeout_ms),
            ("max_body", config.max_body as u64),
            ("session_timeout", config.session_timeout),
        ] {
            if value == 0 {
                problems.push(ConfigProblem::at(key, "must be positive"));
            }
        }
        if let Some(url) = &config.outbound_url {
            if reqwest::Url::parse(url).is_err() {
                problems.push(ConfigProblem::at("outbound_url", format!("{url:?} is not a URL")));
            }
        }
        problems
    }

    fn create(config: Config, ctx: Context) -> Result<Self, String> {
        let session_events = session_events(&config).map_err(|p| p.to_string())?;
        Ok(Self {
            shared: Arc::new(Shared {
                ctx,
                config,
                session_events,
                pending: Mutex::default(),
            }),
            client: client()?,
            draining: watch::channel(false).0,
        })
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

impl Shared {
    /// A session id seen for the first time opens a session (form mode without a state field).
    async fn track_session(&self, msg: &mut Message, session_id: Option<&str>) -> Result<(), String> {
        let (Some(id), RequestFormat::Form, None) = (
            session_id,
            self.config.request_format,
            &self.config.fields.session_event,
        ) else {
            return Ok(());
        };
        let key = format!("session:{id}");
        let ttl = Duration::from_secs(self.config.session_timeout);
        let state = self.ctx.state();
        msg.session_event = if state.get(&key).await?.is_some() {
            SessionEvent::Resume
        } else {
            SessionEvent::New
        };
        state.set(&key, "open", ttl).await
    }

    async fn receive(&self, query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Response {
        if let Some(auth) = &self.config.auth {
            if !auth.allows(headers) {
                let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong credentials");
                if let Ok(v) = auth.challenge().parse() {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                return r;
            }
        }
        let need_to = self.config.to_addr.is_none();
        let parsed = match self.config.request_format {
            RequestFormat::Json => parse_json(body, need_to),
            RequestFormat::Form => parse_form(query, body, &self.config.fields, &self.session_events, need_to),
        };
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        };
        let session_id = parsed.session_id.clone();
        let default_to = self.config.to_addr.as_deref().unwrap_or("");
        let mut msg = parsed.into_message(default_to, self.ctx.endpoint(), &self.config.transport_type);
        if msg.session_event == SessionEvent::None {
            if let Err(e) = self.track_session(&mut msg, session_id.as_deref()).await {
                return error(StatusCode::SERVICE_UNAVAILABLE, e);
            }
        }
        let id = msg.message_id.to_string();
        if self.config.mode == Mode::Async {
            return match self.ctx.publish_inbound(msg).await {
                Ok(()) => (StatusCode::ACCEPTED, Json(json!({"message_id": id}))).into_response(),
                Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
            };
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().map(|mut p| p.insert(id.clone(), tx)).ok();
        // However this request ends (answered, timed out, or the client hanging up and this future
        // being dropped), it no longer waits.
        struct Waiting<'a>(&'a Shared, &'a str);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.forget(self.1);
            }
        }
        let _waiting = Waiting(self, &id);
        if let Err(e) = self.ctx.publish_inbound(msg).await {
            return error(StatusCode::SERVICE_UNAVAILABLE, e);
        }
        match timeout(Duration::from_millis(self.config.reply_timeout_ms), rx).await {
            Ok(Ok(reply)) => self.respond(&id, reply),
            Ok(Err(_)) => error(StatusCode::SERVICE_UNAVAILABLE, "the transport is stopping"),
            Err(_) => {
                warn!("no reply to message {id} within {} ms", self.config.reply_timeout_ms);
                error(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("no reply within {} ms", self.config.reply_timeout_ms),
                )
            }
        }
    }

    fn forget(&self, id: &str) -> Option<oneshot::Sender<Reply>> {
        self.pending.lock().ok().and_then(|mut p| p.remove(id))
    }

    fn respond(&self, in_reply_to: &str, reply: Reply) -> Response {
        match self.config.response_format {
            ResponseFormat::Json => Json(json!({
                "message_id": reply.message_id,
                "in_reply_to": in_reply_to,
                "content": reply.content,
                "continue_session": reply.continue_session,
            }))
            .into_response(),
            ResponseFormat::Text => {
                let prefix = if reply.continue_session { "CON" } else { "END" };
                let body = format!("{prefix} {}", reply.content.unwrap_or_default());
                ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
            }
        }
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(body) => shared.receive(uri.query(), &headers, &body).await,
        Err(rejected) if rejected.status() == StatusCode::PAYLOAD_TOO_LARGE => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than max_body ({} bytes)", shared.config.max_body),
        ),
        Err(rejected) => error(rejected.status(), rejected.body_text()),
    }
}

impl Transport for HttpTransport {
    async fn start(&self) -> Result<(), String> {
        let config = &self.shared.config;
        let listener = TcpListener::bind(&config.bind)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let app = axum::Router::new()
            .route(&config.path, any(handle))
            .layer(DefaultBodyLimit::max(config.max_body))
            .with_state(self.shared.clone());
        let mut draining = self.draining.subscribe();
        info!(
            "http listening on http://{local}{} ({:?} mode)",
            config.path, config.mode
        );
        self.shared.ctx.spawn(async move {
            let stop = async move {
                let _ = draining.wait_for(|d| *d).await;
            };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
                warn!("http server stopped: {e}");
            }
        });
        Ok(())
    }

    async fn handle_outbound(&self, msg: Message) -> Result<(), String> {
        let shared = &self.shared;
        if let Some(question) = msg.in_reply_to.as_ref().map(|s| s.to_string()).into_option() {
            if let Some(waiting) = shared.forget(&question) {
                let reply = Reply {
                    message_id: msg.message_id.to_string(),
                    content: msg.content().map(str::to_owned),
                    continue_session: msg.session_event != SessionEvent::Close,
                };
                if waiting.send(reply).is_err() {
                    return Err(format!(
                        "the HTTP request for message {question} has gone (it timed out)"
                    ));
                }
                if msg.session_event == SessionEvent::Close {
                    if let Some(Value::String(id)) = msg.transport_metadata.get("session_id") {
                        shared.ctx.state().delete(&format!("session:{id}")).await?;
                    }
                }
                return shared.ctx.publish_event(Event::ack(&msg, &msg.message_id)).await;
            }
        }
        let Some(url) = &shared.config.outbound_url else {
            let why = match shared.config.mode {
                Mode::Sync => "the HTTP request it answers has gone (timed out, or the client hung up)",
                Mode::Async => "it answers no waiting request",
            };
            return Err(format!("{why}, and no outbound_url is configured"));
        };
        let body = message_to_value(&msg).to_string();
        let answer = post(
            &self.client,
            url,
            body,
            shared.config.outbound_auth.as_ref(),
            &shared.config.outbound,
        )
        .await?;
        let sent_id = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|v| v.get("message_id").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| msg.message_id.to_string());
        shared.ctx.publish_event(Event::ack(&msg, &sent_id)).await
    }

    async fn drain(&self) {
        self.draining.send_replace(true);
    }

    async fn stop(&self) {
        self.draining.send_replace(true);
        if let Ok(mut pending) = self.shared.pending.lock() {
            pending.clear();
        }
    }
}
