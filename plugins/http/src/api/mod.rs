//! `messaging_api`: the HTTP API clients send SMS through, in the dialects they already speak —
//! Junebug's JSON (`/channels/{channel}/messages`), Kannel's sendsms (`/cgi-bin/sendsms`) and
//! Jasmin's (`/send`, `/ping`) — on one server, in front of any transport. It is an application:
//! what it accepts goes out on the channel's transport (through a dispatcher's `simple` router
//! when there are several), the events of those messages come back to it and are turned into
//! each client's callbacks, and inbound messages are POSTed to the channel's `mo_url`.

mod accounts;
mod body;
mod callbacks;
mod config;
mod jasmin;
mod junebug;
mod kannel;
mod pyjson;
mod sms;
mod track;

use crate::server::{Limits, Server};
use accounts::Accounts;
use callbacks::Callbacks;
use config::Config;
use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::tokio::sync::watch;
use ruvuma_plugin_api::tokio::time::timeout;
use ruvuma_plugin_api::tracing::{debug, info};
use std::sync::Arc;
use std::time::Duration;
use track::{Dialect, Tracked};

/// The longest callback URL (dlr-url, event_url) or token a request may give: each is kept with
/// its message until the message's fate is known.
pub const MAX_CALLBACK_FIELD: usize = 2048;

/// One message to send, and what to remember of it for its callbacks.
pub struct Outgoing {
    pub msg: Message,
    pub tracked: Option<Tracked>,
}

pub struct Shared {
    pub ctx: Context,
    pub config: Config,
    pub accounts: Accounts,
    pub callbacks: Arc<Callbacks>,
}

impl Shared {
    /// Sends every message (their callbacks remembered first); the reason when the bus would
    /// not take one within `publish_timeout_ms`. Requests are checked whole before this, so a
    /// refusal never leaves part of one sent.
    pub async fn submit(&self, batch: Vec<Outgoing>) -> Result<(), String> {
        let ttl = Duration::from_secs(self.config.track_ttl);
        let wait = Duration::from_millis(self.config.publish_timeout_ms);
        if let Some(t) = batch.iter().find_map(|o| o.tracked.as_ref()) {
            self.callbacks.room_for(&t.url, wait).await?;
        }
        for Outgoing { msg, tracked } in batch {
            if let Some(t) = &tracked {
                track::remember(&self.ctx, &msg.message_id, t, ttl).await?;
            }
            match timeout(wait, self.ctx.publish_outbound(msg)).await {
                Ok(published) => published?,
                Err(_) => return Err(format!("the bus has no room (waited {} ms)", wait.as_millis())),
            }
        }
        Ok(())
    }
}

pub struct MessagingApi {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl Component for MessagingApi {
    type Config = Config;
    const NAME: &'static str = "messaging_api";
    const DESCRIPTION: &'static str =
        "Send SMS over HTTP as Junebug, Kannel (sendsms) and Jasmin clients do, with delivery-report callbacks.";
    const CONFIG_DOC: &'static str = config::CONFIG_DOC;

    fn check(config: &Config) -> Vec<ConfigProblem> {
        config::check(config)
    }

    /// Events are turned into callbacks that run on their own tasks; many at once keep up.
    fn concurrency(_config: &Config) -> Option<usize> {
        Some(64)
    }

    fn create(config: Config, ctx: Context) -> Result<Self, String> {
        let callbacks = Arc::new(Callbacks::new(ctx.clone(), &config.callbacks)?);
        Ok(Self {
            shared: Arc::new(Shared {
                accounts: Accounts::new(&config),
                ctx,
                config,
                callbacks,
            }),
            stop: watch::channel(false).0,
        })
    }
}

/// The routes of every dialect the config turns on.
fn router(shared: Arc<Shared>) -> axum::Router {
    let d = shared.config.dialects;
    let mut app = axum::Router::new();
    if d.junebug {
        app = app.merge(junebug::routes());
    }
    if d.kannel {
        app = app.merge(kannel::routes());
    }
    if d.jasmin {
        app = app.merge(jasmin::routes());
    }
    app.fallback(body::unknown_path).with_state(shared)
}

impl Application for MessagingApi {
    async fn start(&self) -> Result<(), String> {
        let config = &self.shared.config;
        let server = Server {
            ctx: self.shared.ctx.clone(),
            app: router(self.shared.clone()),
            limits: Limits::new(config.max_connections, config.header_timeout_ms),
            stop: self.stop.subscribe(),
        };
        let local = server.listen(&config.bind).await?;
        let d = config.dialects;
        let on: Vec<&str> = [("junebug", d.junebug), ("kannel", d.kannel), ("jasmin", d.jasmin)]
            .into_iter()
            .filter_map(|(n, on)| on.then_some(n))
            .collect();
        info!("messaging API listening on http://{local} ({})", on.join(", "));
        Ok(())
    }

    /// An inbound message: kept for Junebug's `reply_to`, and POSTed to its channel's `mo_url`.
    async fn consume_user_message(&self, msg: Message) -> Result<(), String> {
        let shared = &self.shared;
        if shared.config.dialects.junebug {
            junebug::keep_inbound(shared, &msg).await?;
        }
        let channel = shared.config.channels.get(msg.transport_name.as_str());
        match channel.and_then(|c| c.mo_url.as_deref()) {
            Some(url) => {
                let token = channel.and_then(|c| c.mo_auth_token.as_deref());
                shared.callbacks.send(junebug::mo_callback(&msg, url, token)).await;
            }
            None => {
                debug!(message_id = %msg.message_id, "inbound message on {:?}: no mo_url for it", msg.transport_name.as_str())
            }
        }
        Ok(())
    }

    /// An event about a message this API sent: the callbacks its client asked for, a receipt's
    /// after its message's ack's.
    async fn consume_event(&self, event: Event) -> Result<(), String> {
        let shared = &self.shared;
        let id = event.user_message_id.as_str();
        let Some(mut tracked) = track::recall(&shared.ctx, id).await? else {
            return Ok(());
        };
        let is_ack = matches!(event.kind, EventKind::Ack { .. });
        let is_receipt = matches!(event.kind, EventKind::DeliveryReport { .. });
        if is_receipt && tracked.hears_of_the_ack() && !tracked.acked {
            tracked = track::after_ack(&shared.ctx, id, tracked).await?;
        }
        let calls = match tracked.d {
            Dialect::Junebug => junebug::event_callbacks(&tracked, &event),
            Dialect::Kannel => kannel::dlr_callbacks(&tracked, &event),
            Dialect::Jasmin => jasmin::dlr_callbacks(&tracked, &event),
        };
        for call in calls {
            shared.callbacks.send(call).await;
        }
        if track::is_final(&event) {
            track::settle(&shared.ctx, id, &tracked).await?;
        } else if is_ack && tracked.hears_of_the_ack() {
            tracked.acked = true;
            track::remember(&shared.ctx, id, &tracked, Duration::from_secs(shared.config.track_ttl)).await?;
        }
        Ok(())
    }

    async fn stop(&self) {
        self.stop.send_replace(true);
    }
}
