//! `http_relay` (Vumi's HTTPRelayApplication): each inbound message is POSTed as Vumi JSON to
//! `url`; a reply in the answer — JSON with `content` (and `continue_session`), or the plain-text
//! body when the answer carries `reply_header: true` — is sent back as the reply. Events are
//! POSTed to `event_url`. Failures are retried, then logged; with `concurrency:` on the
//! application, a slow URL never holds up other messages.

use crate::auth::Auth;
use crate::delivery::{client, post, RetryPolicy, Target};
use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::tracing::error;
use ruvuma_plugin_api::vumi_json::encode;
use serde_json::Value;

fn default_header() -> String {
    "X-Vumi-HTTPRelay-Reply".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub url: String,
    #[serde(default)]
    pub event_url: Option<String>,
    /// Answers carrying this header set to `true` are a plain-text reply.
    #[serde(default = "default_header")]
    pub reply_header: String,
    #[serde(default)]
    pub auth: Option<Auth>,
    #[serde(default)]
    pub delivery: RetryPolicy,
}

pub struct HttpRelay {
    ctx: Context,
    config: Config,
    client: reqwest::Client,
    /// `url` and `event_url`, parsed.
    url: Target,
    event_url: Option<Target>,
}

impl Component for HttpRelay {
    type Config = Config;
    const NAME: &'static str = "http_relay";
    const ALIASES: &'static [&'static str] = &[
        "vumi.application.http_relay.HTTPRelayApplication",
        "HTTPRelayApplication",
    ];
    const DESCRIPTION: &'static str = "POSTs each message to a URL and sends back the reply it answers with.";
    const CONFIG_DOC: &'static str = "url (required), event_url, reply_header (X-Vumi-HTTPRelay-Reply),\n\
        auth: {username, password} or {token},\n\
        delivery: {timeout_ms, retries, backoff_ms, max_reply_body (1048576), follow_redirects (false)}";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        let mut problems: Vec<ConfigProblem> = [("url", Some(&config.url)), ("event_url", config.event_url.as_ref())]
            .into_iter()
            .filter_map(|(k, v)| {
                v.filter(|u| reqwest::Url::parse(u).is_err())
                    .map(|u| ConfigProblem::at(k, format!("{:?} is not a URL", crate::escape::url_for_log(u))))
            })
            .collect();
        if let Some(auth) = &config.auth {
            problems.extend(auth.check("auth"));
        }
        problems.extend(config.delivery.check("delivery"));
        problems
    }

    fn create(config: Config, ctx: Context) -> Result<Self, String> {
        let client = client(&config.delivery)?;
        let url = Target::parse("url", &config.url)?;
        let event_url = match &config.event_url {
            Some(u) => Some(Target::parse("event_url", u)?),
            None => None,
        };
        Ok(Self {
            ctx,
            config,
            client,
            url,
            event_url,
        })
    }
}

impl HttpRelay {
    /// The reply an answer carries, if any: (content, continue_session).
    fn reply_in(&self, answer: &crate::delivery::Answer) -> Result<Option<(String, bool)>, String> {
        let plain = answer
            .headers
            .get(self.config.reply_header.as_str())
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if plain {
            return Ok(Some((String::from_utf8_lossy(&answer.body).into_owned(), true)));
        }
        if answer.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        match serde_json::from_slice::<Value>(&answer.body) {
            Ok(Value::Object(map)) => match map.get("content") {
                Some(Value::String(c)) => {
                    let go_on = map.get("continue_session").and_then(Value::as_bool).unwrap_or(true);
                    Ok(Some((c.clone(), go_on)))
                }
                None | Some(Value::Null) => Ok(None),
                Some(_) => Err("the answer's \"content\" is not a string".into()),
            },
            _ => Err(format!(
                "the answer is neither JSON with \"content\" nor marked as a plain-text reply with {}: true",
                self.config.reply_header
            )),
        }
    }
}

impl Application for HttpRelay {
    async fn consume_user_message(&self, msg: Message) -> Result<(), String> {
        let body = encode(&Payload::Message(msg.clone()));
        let answer = post(
            &self.client,
            &self.url,
            body,
            self.config.auth.as_ref(),
            &self.config.delivery,
        )
        .await?;
        match self.reply_in(&answer)? {
            Some((content, go_on)) => self.ctx.reply_to(&msg, Some(&content), go_on).await,
            None => Ok(()),
        }
    }

    async fn consume_event(&self, event: Event) -> Result<(), String> {
        let Some(url) = &self.event_url else {
            return Ok(());
        };
        let body = encode(&Payload::Event(event.clone()));
        if let Err(e) = post(
            &self.client,
            url,
            body,
            self.config.auth.as_ref(),
            &self.config.delivery,
        )
        .await
        {
            error!(
                "event {} for message {} not delivered: {e}",
                event.event_id, event.user_message_id
            );
        }
        Ok(())
    }
}
