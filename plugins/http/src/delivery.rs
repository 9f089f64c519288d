//! POSTing to a URL with a timeout, retrying what is worth retrying (connection errors,
//! timeouts, 5xx, 429) with exponential backoff, and giving up with a reason that says why.
//! An answer's body is read up to `max_reply_body` and no further; redirects are followed only
//! when `follow_redirects` says so.

use crate::auth::Auth;
use crate::bounds::within;
use crate::escape::{for_log, url_for_log};
use axum::body::Bytes;
use ruvuma_plugin_api::prelude::ConfigProblem;
use ruvuma_plugin_api::tokio::time::sleep;
use ruvuma_plugin_api::tracing::warn;
use serde::Deserialize;
use std::time::Duration;

pub fn default_timeout_ms() -> u64 {
    5000
}

pub fn default_retries() -> u32 {
    3
}

fn default_backoff_ms() -> u64 {
    200
}

fn default_max_reply_body() -> u64 {
    1024 * 1024
}

/// The longest wait between two attempts, however many retries came before.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How many redirects are followed when `follow_redirects` is on.
const MAX_REDIRECTS: usize = 5;

/// How hard to try, and how much to take.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Milliseconds one attempt may take (5000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts after the first, for retryable failures (3).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry, doubled each time (200 ms), at most a minute.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// Largest answer body read, in bytes (1 MiB); a larger one fails the message.
    #[serde(default = "default_max_reply_body")]
    pub max_reply_body: u64,
    /// Follow up to 5 redirects (false: a 3xx answer fails the message).
    #[serde(default)]
    pub follow_redirects: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            timeout_ms: default_timeout_ms(),
            retries: default_retries(),
            backoff_ms: default_backoff_ms(),
            max_reply_body: default_max_reply_body(),
            follow_redirects: false,
        }
    }
}

impl RetryPolicy {
    /// Every value out of range, named under `prefix` (`outbound`, `delivery`).
    pub fn check(&self, prefix: &str) -> Vec<ConfigProblem> {
        [
            within(&format!("{prefix}.timeout_ms"), self.timeout_ms, 1, 300_000),
            within(&format!("{prefix}.retries"), self.retries.into(), 0, 20),
            within(&format!("{prefix}.backoff_ms"), self.backoff_ms, 1, 60_000),
            within(
                &format!("{prefix}.max_reply_body"),
                self.max_reply_body,
                1,
                64 * 1024 * 1024,
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// What the far end answered.
pub struct Answer {
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

pub fn client(policy: &RetryPolicy) -> Result<reqwest::Client, String> {
    let redirects = if policy.follow_redirects {
        reqwest::redirect::Policy::limited(MAX_REDIRECTS)
    } else {
        reqwest::redirect::Policy::none()
    };
    reqwest::Client::builder()
        .redirect(redirects)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// Reads at most `max` bytes of an answer's body; more is an error that says so.
async fn read_body(response: &mut reqwest::Response, url: &str, max: u64) -> Result<Vec<u8>, (bool, String)> {
    let too_big = || {
        (
            false,
            format!(
                "the answer from {} is larger than max_reply_body ({max} bytes)",
                url_for_log(url)
            ),
        )
    };
    if response.content_length().is_some_and(|n| n > max) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if (body.len() + chunk.len()) as u64 > max {
                    return Err(too_big());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                let url = url_for_log(url);
                return Err((true, format!("reading the answer from {url}: {}", e.without_url())));
            }
        }
    }
}

/// One attempt: the 2xx answer, or (worth retrying, why not). `url` is written into a reason
/// only as [`url_for_log`] shows it.
async fn attempt(request: reqwest::RequestBuilder, url: &str, policy: &RetryPolicy) -> Result<Answer, (bool, String)> {
    let mut response = match request.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            let shown = url_for_log(url);
            return Err((true, format!("no answer from {shown} within {} ms", policy.timeout_ms)));
        }
        Err(e) => return Err((true, format!("cannot reach {}: {}", url_for_log(url), e.without_url()))),
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    if (300..400).contains(&status) {
        let to = headers
            .get(reqwest::header::LOCATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        return judge(status, headers, Vec::new(), to.as_deref(), url);
    }
    let body = read_body(&mut response, url, policy.max_reply_body).await?;
    judge(status, headers, body, None, url)
}

/// A whole answer, as the caller takes it: a 2xx is the answer; a 3xx (with where it points),
/// 4xx or 5xx is a failure, worth retrying for a 5xx and a 429.
pub fn judge(
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
    location: Option<&str>,
    url: &str,
) -> Result<Answer, (bool, String)> {
    if (200..300).contains(&status) {
        return Ok(Answer { headers, body });
    }
    if (300..400).contains(&status) {
        let to = for_log(location.unwrap_or_default());
        let url = url_for_log(url);
        return Err((
            false,
            format!("HTTP {status} from {url} (a redirect to {to:?}; follow_redirects is off)"),
        ));
    }
    let text = for_log(&String::from_utf8_lossy(&body[..body.len().min(200)]));
    Err((
        status >= 500 || status == 429,
        format!("HTTP {status} from {}: {text}", url_for_log(url)),
    ))
}

/// Sends what `build` makes until an answer passes `accept` (a 2xx answer, for a start) or
/// the policy gives up; the accepted answer, or why there was none. `accept` says whether a
/// refusal is worth trying again.
pub async fn deliver(
    build: impl Fn() -> reqwest::RequestBuilder,
    url: &str,
    policy: &RetryPolicy,
    accept: impl Fn(Answer) -> Result<Answer, (bool, String)>,
) -> Result<Answer, String> {
    let timeout = Duration::from_millis(policy.timeout_ms);
    let once = || attempt(build().timeout(timeout), url, policy);
    deliver_with(once, policy, accept).await
}

/// Makes attempts (`once`) until an answer passes `accept` or `policy` gives up.
pub async fn deliver_with<F, Fut>(
    once: F,
    policy: &RetryPolicy,
    accept: impl Fn(Answer) -> Result<Answer, (bool, String)>,
) -> Result<Answer, String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Answer, (bool, String)>>,
{
    let mut tries: u32 = 0;
    loop {
        tries += 1;
        let (retryable, reason) = match once().await.and_then(&accept) {
            Ok(answer) => return Ok(answer),
            Err(failed) => failed,
        };
        if !retryable || tries > policy.retries {
            return Err(format!(
                "{reason} (after {tries} attempt{})",
                if tries == 1 { "" } else { "s" }
            ));
        }
        let wait = Duration::from_millis(policy.backoff_ms.saturating_mul(1 << (tries - 1).min(16))).min(MAX_BACKOFF);
        warn!("{reason}; retrying in {} ms", wait.as_millis());
        sleep(wait).await;
    }
}

/// A URL a config gives: parsed once for every request to it, and shown in reasons as given.
pub struct Target {
    url: reqwest::Url,
    given: String,
}

impl Target {
    /// `url` parsed; `key` names it in the error.
    pub fn parse(key: &str, url: &str) -> Result<Self, String> {
        match reqwest::Url::parse(url) {
            Ok(parsed) => Ok(Self {
                url: parsed,
                given: url.to_owned(),
            }),
            Err(e) => Err(format!("{key}: {:?} is not a URL: {e}", url_for_log(url))),
        }
    }
}

/// POSTs `json` to `target`; the 2xx answer, or why there was none.
pub async fn post(
    client: &reqwest::Client,
    target: &Target,
    json: String,
    auth: Option<&Auth>,
    policy: &RetryPolicy,
) -> Result<Answer, String> {
    // Each attempt sends the same bytes without copying them.
    let json = Bytes::from(json);
    let build = || {
        let request = client
            .post(target.url.clone())
            .header("content-type", "application/json; charset=utf-8")
            .body(json.clone());
        match auth {
            Some(auth) => auth.apply(request),
            None => request,
        }
    };
    deliver(build, &target.given, policy, Ok).await
}
