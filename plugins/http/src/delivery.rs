//! POSTing to a URL with a timeout, retrying what is worth retrying (connection errors,
//! timeouts, 5xx, 429) with exponential backoff, and giving up with a reason that says why.

use crate::auth::Auth;
use ruvuma_plugin_api::tokio::time::sleep;
use ruvuma_plugin_api::tracing::warn;
use serde::Deserialize;
use std::time::Duration;

fn default_timeout_ms() -> u64 {
    5000
}

fn default_retries() -> u32 {
    3
}

fn default_backoff_ms() -> u64 {
    200
}

/// How hard to try.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Milliseconds one attempt may take (5000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts after the first, for retryable failures (3).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry, doubled each time (200 ms).
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            timeout_ms: default_timeout_ms(),
            retries: default_retries(),
            backoff_ms: default_backoff_ms(),
        }
    }
}

/// What the far end answered.
pub struct Answer {
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// POSTs `json` to `url`; the 2xx answer, or why there was none.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    json: String,
    auth: Option<&Auth>,
    policy: &RetryPolicy,
) -> Result<Answer, String> {
    let mut attempt = 0;
    loop {
        let mut request = client
            .post(url)
            .timeout(Duration::from_millis(policy.timeout_ms))
            .header("content-type", "application/json; charset=utf-8")
            .body(json.clone());
        if let Some(auth) = auth {
            request = auth.apply(request);
        }
        let (retryable, reason) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                match response.bytes().await {
                    Ok(body) if (200..300).contains(&status) => {
                        return Ok(Answer {
                            headers,
                            body: body.to_vec(),
                        })
                    }
                    Ok(body) => {
                        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                        (
                            status >= 500 || status == 429,
                            format!("HTTP {status} from {url}: {text}"),
                        )
                    }
                    Err(e) => (true, format!("reading the answer from {url}: {e}")),
                }
            }
            Err(e) if e.is_timeout() => (true, format!("no answer from {url} within {} ms", policy.timeout_ms)),
            Err(e) => (true, format!("cannot reach {url}: {e}")),
        };
        if !retryable || attempt >= policy.retries {
            let tries = attempt + 1;
            return Err(format!(
                "{reason} (after {tries} attempt{})",
                if tries == 1 { "" } else { "s" }
            ));
        }
        let wait = Duration::from_millis(policy.backoff_ms.saturating_mul(1 << attempt.min(16)));
        warn!("{reason}; retrying in {} ms", wait.as_millis());
        sleep(wait).await;
        attempt += 1;
    }
}
