//! The built-in observer: each event it wants is POSTed as JSON to a URL, in order, retried
//! with doubling delays, from a bounded queue of its own.
//!
//! ```yaml
//! observers:
//!   ops: {plugin: webhook, config: {url: "http://127.0.0.1:9000/events", events: [status_changed],
//!         token: "${HOOK_TOKEN}", timeout_ms: 5000, retries: 3, backoff_ms: 500, queue: 1000}}
//! ```

use super::{wanted, ObserverError};
use crate::config::ObserverSpec;
use crate::text::redact_url;
use serde::Deserialize;
use serde_json::Value as Json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const MAX_QUEUE: usize = 100_000;
const MAX_RETRIES: u32 = 20;
const MAX_TIMEOUT_MS: u64 = 60_000;
const MAX_BACKOFF_MS: u64 = 60_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookConfig {
    url: String,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
    #[serde(default = "default_retries")]
    retries: u32,
    #[serde(default = "default_backoff")]
    backoff_ms: u64,
    #[serde(default = "default_queue")]
    queue: usize,
}

fn default_timeout() -> u64 {
    5000
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> u64 {
    500
}
fn default_queue() -> usize {
    1000
}

fn check(name: &str, c: &WebhookConfig, spec_events: Option<&[String]>) -> Result<Vec<&'static str>, ObserverError> {
    let bad = |reason: String| ObserverError::Config {
        name: name.to_owned(),
        reason,
    };
    let url = reqwest::Url::parse(&c.url).map_err(|e| bad(format!("key \"url\": {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!(
            "key \"url\": {} is not an http(s) URL",
            redact_url(&c.url)
        )));
    }
    let within = |key: &str, n: u64, lo: u64, hi: u64| {
        (lo..=hi)
            .contains(&n)
            .then_some(())
            .ok_or_else(|| bad(format!("key {key:?}: expected {lo} to {hi}, found {n}")))
    };
    within("timeout_ms", c.timeout_ms, 1, MAX_TIMEOUT_MS)?;
    within("retries", c.retries.into(), 0, MAX_RETRIES.into())?;
    within("backoff_ms", c.backoff_ms, 1, MAX_BACKOFF_MS)?;
    within("queue", c.queue as u64, 1, MAX_QUEUE as u64)?;
    if c.token.as_deref() == Some("") {
        return Err(bad("key \"token\": is empty; an empty secret is refused".into()));
    }
    let list = spec_events.or(c.events.as_deref());
    wanted(list).map_err(bad)
}

fn read(spec: &ObserverSpec) -> Result<(WebhookConfig, Vec<&'static str>), ObserverError> {
    let config: WebhookConfig = serde_json::from_value(spec.config.clone()).map_err(|e| ObserverError::Config {
        name: spec.name.clone(),
        reason: e.to_string(),
    })?;
    let wants = check(&spec.name, &config, spec.events.as_deref())?;
    Ok((config, wants))
}

/// Checks an observer's config without starting it (`validate`).
pub fn validate(spec: &ObserverSpec) -> Result<(), ObserverError> {
    read(spec).map(|_| ())
}

/// Reads an observer's config and starts its sender: what it wants, and its queue.
pub(super) fn start(
    spec: &ObserverSpec,
    unsent: Arc<AtomicU64>,
) -> Result<(Vec<&'static str>, mpsc::Sender<Arc<Json>>), ObserverError> {
    let (config, wants) = read(spec)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ObserverError::Config {
            name: spec.name.clone(),
            reason: format!("cannot make an HTTP client: {e}"),
        })?;
    let (tx, rx) = mpsc::channel(config.queue);
    tokio::spawn(run(spec.name.clone(), client, config, rx, unsent));
    Ok((wants, tx))
}

async fn run(
    name: String,
    client: reqwest::Client,
    config: WebhookConfig,
    mut rx: mpsc::Receiver<Arc<Json>>,
    unsent: Arc<AtomicU64>,
) {
    let shown = redact_url(&config.url);
    while let Some(event) = rx.recv().await {
        post(&name, &client, &config, &shown, &event).await;
        unsent.fetch_sub(1, Ordering::AcqRel);
    }
}

/// POSTs one event, retrying as the config says.
async fn post(name: &str, client: &reqwest::Client, config: &WebhookConfig, shown: &str, event: &Json) {
    let mut delay = Duration::from_millis(config.backoff_ms);
    let mut attempt = 0;
    loop {
        let mut request = client.post(&config.url).json(event);
        if let Some(t) = &config.token {
            request = request.bearer_auth(t);
        }
        let outcome = match request.send().await {
            Ok(r) if r.status().is_success() => break,
            Ok(r) => format!("answered {}", r.status()),
            Err(e) => format!("failed: {}", crate::text::escape_control(&e.without_url().to_string())),
        };
        if attempt >= config.retries {
            tracing::warn!(
                "observer {name:?}: POST to {shown} {outcome}; event dropped after {} attempts",
                attempt + 1
            );
            break;
        }
        attempt += 1;
        tracing::debug!("observer {name:?}: POST to {shown} {outcome}; retry {attempt} in {delay:?}");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(MAX_BACKOFF_MS));
    }
}
