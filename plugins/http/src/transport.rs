//! The `http` transport. Inbound: an HTTP server that turns each request into a message —
//! answering at once (`mode: async`, 202 with the message id), or holding the request until the
//! application's reply arrives and returning it (`mode: sync`, for USSD), 504 after
//! `reply_timeout_ms`. A request the bus has no room for within `publish_timeout_ms`, or that
//! comes once the transport drains, is answered 503 with `Retry-After`. Outbound: a message
//! that answers no held request is POSTed as Vumi JSON to `outbound_url`; 2xx acks it,
//! retryable failures are retried with backoff, then it is nacked. Each POST waits on the far
//! end, so the transport takes [`OUTBOUND_CONCURRENCY`] messages at once unless its
//! `concurrency:` says otherwise.

use crate::config::{self, Config, Mode, ResponseFormat};
use crate::delivery::{client, post, Answer, Target};
use crate::inbound::{parse_form, parse_json, RequestFormat};
use crate::request::{self, error, unavailable};
use crate::server::{Limits, Server};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::tokio::sync::{oneshot, watch, RwLock};
use ruvuma_plugin_api::tokio::time::timeout;
use ruvuma_plugin_api::tracing::{info, warn};
use ruvuma_plugin_api::vumi_json::encode;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Outbound messages handled at once when the config gives no `concurrency:`.
pub const OUTBOUND_CONCURRENCY: usize = 64;

struct Reply {
    message_id: String,
    content: Option<String>,
    continue_session: bool,
}

pub struct Shared {
    ctx: Context,
    pub config: Config,
    session_events: HashMap<String, SessionEvent>,
    /// message id → the request waiting for its reply (sync mode)
    pending: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    /// `true` once the transport drains. A request holds it for reading while it publishes, so
    /// that drain returns only when nothing more can be published.
    draining: RwLock<bool>,
}

pub struct HttpTransport {
    shared: Arc<Shared>,
    client: reqwest::Client,
    /// `outbound_url`, parsed.
    outbound: Option<Target>,
    stop: watch::Sender<bool>,
}

impl Component for HttpTransport {
    type Config = Config;
    const NAME: &'static str = "http";
    const DESCRIPTION: &'static str =
        "HTTP in (JSON or form, async or sync for USSD, with auth) and out (POST with retries, acks and nacks).";
    const CONFIG_DOC: &'static str = config::CONFIG_DOC;

    fn check(config: &Config) -> Vec<ConfigProblem> {
        config::check(config)
    }

    /// Each POST to `outbound_url` waits for its answer: many at once keep up with the far end.
    fn concurrency(_config: &Config) -> Option<usize> {
        Some(OUTBOUND_CONCURRENCY)
    }

    fn create(config: Config, ctx: Context) -> Result<Self, String> {
        let session_events = config::session_events(&config).map_err(|p| p.to_string())?;
        let client = client(&config.outbound)?;
        let outbound = match &config.outbound_url {
            Some(url) => Some(Target::parse("outbound_url", url)?),
            None => None,
        };
        Ok(Self {
            shared: Arc::new(Shared {
                ctx,
                config,
                session_events,
                pending: Mutex::default(),
                draining: RwLock::new(false),
            }),
            client,
            outbound,
            stop: watch::channel(false).0,
        })
    }
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

    /// Publishes unless the transport drains or the bus has no room in time; the answer to
    /// give instead otherwise.
    async fn publish(&self, msg: Message) -> Result<(), Response> {
        let draining = self.draining.read().await;
        if *draining {
            return Err(unavailable("the transport is shutting down"));
        }
        let wait = Duration::from_millis(self.config.publish_timeout_ms);
        match timeout(wait, self.ctx.publish_inbound(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(unavailable(&e)),
            Err(_) => Err(unavailable(&format!(
                "the bus has no room (waited {} ms)",
                self.config.publish_timeout_ms
            ))),
        }
    }

    pub async fn receive(&self, query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Response {
        if *self.draining.read().await {
            return unavailable("the transport is shutting down");
        }
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
                return unavailable(&e);
            }
        }
        let id = msg.message_id.to_string();
        if self.config.mode == Mode::Async {
            return match self.publish(msg).await {
                Ok(()) => (StatusCode::ACCEPTED, Json(json!({"message_id": id}))).into_response(),
                Err(refused) => refused,
            };
        }
        self.hold(msg, id).await
    }

    /// Sync mode: publishes and waits for the reply.
    async fn hold(&self, msg: Message, id: String) -> Response {
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
        if let Err(refused) = self.publish(msg).await {
            return refused;
        }
        match timeout(Duration::from_millis(self.config.reply_timeout_ms), rx).await {
            Ok(Ok(reply)) => self.respond(&id, reply),
            Ok(Err(_)) => unavailable("the transport is stopping"),
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

/// The `message_id` a JSON answer gives the message it took, if any.
fn sent_message_id(answer: &Answer) -> Option<String> {
    if answer.body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    match serde_json::from_slice::<Value>(&answer.body) {
        Ok(Value::Object(mut map)) => match map.remove("message_id") {
            Some(Value::String(id)) => Some(id),
            _ => None,
        },
        _ => None,
    }
}

impl Transport for HttpTransport {
    async fn start(&self) -> Result<(), String> {
        let config = &self.shared.config;
        let server = Server {
            ctx: self.shared.ctx.clone(),
            app: request::router(self.shared.clone()),
            limits: Limits::new(config.max_connections, config.header_timeout_ms),
            stop: self.stop.subscribe(),
        };
        let local = server.listen(&config.bind).await?;
        info!(
            "http listening on http://{local}{} ({:?} mode)",
            config.path, config.mode
        );
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
        let Some(target) = &self.outbound else {
            let why = match shared.config.mode {
                Mode::Sync => "the HTTP request it answers has gone (timed out, or the client hung up)",
                Mode::Async => "it answers no waiting request",
            };
            return Err(format!("{why}, and no outbound_url is configured"));
        };
        let body = encode(&Payload::Message(msg.clone()));
        let answer = post(
            &self.client,
            target,
            body,
            shared.config.outbound_auth.as_ref(),
            &shared.config.outbound,
        )
        .await?;
        let sent_id = sent_message_id(&answer);
        let ack = Event::ack(&msg, sent_id.as_deref().unwrap_or(msg.message_id.as_str()));
        shared.ctx.publish_event(ack).await
    }

    /// New requests are answered 503 from now on; returns once no request is publishing.
    async fn drain(&self) {
        *self.shared.draining.write().await = true;
        info!("http draining: new requests are answered 503");
    }

    async fn stop(&self) {
        *self.shared.draining.write().await = true;
        self.stop.send_replace(true);
        if let Ok(mut pending) = self.shared.pending.lock() {
            pending.clear();
        }
    }
}
