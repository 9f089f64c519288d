//! What the API remembers of a message it sent, so that its events reach the client the way the
//! client asked: kept in the state store under `t:<message_id>` for `track_ttl`, and for a
//! minute more once the message's fate is final. A message nobody asked to hear about is not
//! tracked at all.

use ruvuma_plugin_api::prelude::*;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dialect {
    #[serde(rename = "j")]
    Junebug,
    #[serde(rename = "k")]
    Kannel,
    #[serde(rename = "s")]
    Jasmin,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tracked {
    pub d: Dialect,
    /// The callback URL (event_url, dlr-url), as the client gave it.
    pub url: String,
    /// Junebug's event_auth_token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Kannel's dlr-mask.
    #[serde(default)]
    pub mask: u8,
    /// Jasmin's dlr-level, and whether its method is POST.
    #[serde(default)]
    pub level: u8,
    #[serde(default)]
    pub post: bool,
    pub user: String,
    pub ch: String,
    pub to: String,
    pub from: String,
    /// The message's ack (or nack) has been handled: its callbacks are on their way.
    #[serde(default, rename = "a")]
    pub acked: bool,
}

fn key(message_id: &str) -> String {
    format!("t:{message_id}")
}

pub async fn remember(ctx: &Context, message_id: &str, tracked: &Tracked, ttl: Duration) -> Result<(), String> {
    let text = serde_json::to_string(tracked).map_err(|e| e.to_string())?;
    ctx.state().set(&key(message_id), &text, ttl).await
}

pub async fn recall(ctx: &Context, message_id: &str) -> Result<Option<Tracked>, String> {
    match ctx.state().get(&key(message_id)).await? {
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("state key t:{message_id} holds what this version cannot read: {e}")),
        None => Ok(None),
    }
}

/// How long a message whose fate is final is still remembered: an event consumed out of order
/// (an ack overtaken by its receipt) still finds it.
const SETTLED: Duration = Duration::from_secs(60);

/// The message's fate is final: forget it, at once when no ack can still need it (its client
/// does not hear of acks, or the ack has been handled), else in a minute.
pub async fn settle(ctx: &Context, message_id: &str, tracked: &Tracked) -> Result<(), String> {
    if tracked.acked || !tracked.hears_of_the_ack() {
        return ctx.state().delete(&key(message_id)).await.map(|_| ());
    }
    remember(ctx, message_id, tracked, SETTLED).await
}

/// How long a receipt waits for its message's ack to be handled (a transport publishes the
/// ack first, but several workers consume events at once), and how often it looks.
const ACK_WAIT: Duration = Duration::from_millis(250);
const ACK_LOOK: Duration = Duration::from_millis(5);

/// The message's record once its ack has been handled (or after [`ACK_WAIT`]), so that a
/// receipt's callbacks never overtake the ack's.
pub async fn after_ack(ctx: &Context, message_id: &str, tracked: Tracked) -> Result<Tracked, String> {
    let deadline = std::time::Instant::now() + ACK_WAIT;
    let mut latest = tracked;
    while !latest.acked && std::time::Instant::now() < deadline {
        ruvuma_plugin_api::tokio::time::sleep(ACK_LOOK).await;
        match recall(ctx, message_id).await? {
            Some(t) => latest = t,
            None => break,
        }
    }
    Ok(latest)
}

impl Tracked {
    /// Whether the client hears of the message's ack (or nack): then its receipts' callbacks
    /// must come after that one.
    pub fn hears_of_the_ack(&self) -> bool {
        match self.d {
            Dialect::Junebug => true,
            Dialect::Kannel => self.mask & (8 | 16 | 2) != 0,
            Dialect::Jasmin => self.level != 2,
        }
    }
}

/// Whether nothing more is to come about the message after `event`.
pub fn is_final(event: &Event) -> bool {
    match &event.kind {
        EventKind::Ack { .. } => false,
        EventKind::Nack { .. } => true,
        EventKind::DeliveryReport { delivery_status } => *delivery_status != DeliveryStatus::Pending,
    }
}
