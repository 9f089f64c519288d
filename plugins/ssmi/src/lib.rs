//! `ssmi`: TruTeq's SSMI, USSD and SMS over one TCP line protocol (Vumi's `TruteqTransport`,
//! which spoke it through python-ssmi and later txssmi). The transport is the client: it
//! connects to `host`:`port`, logs in with `username` and `password`, sends a link check every
//! `link_check_period` seconds and connects again, with doubling delays, when the link goes.
//!
//! Inbound USSD messages become messages with `transport_type: ussd` and a `session_event`
//! (new, resume, close, as Vumi maps SSMI's types), SMS MO messages ones with
//! `transport_type: sms`. Replies to USSD go back as USSD (continue, or end when they close
//! the session); everything else goes out as SMS MT. A message is acked once it is written to
//! the server; while the link is down it is nacked with the reason at once.
//!
//! `frame` is the protocol, `lines` its framing, `text` the encoding, `link` the connection's
//! life (connect, login, reconnect, status), `conn` a logged-in connection (reader, writer,
//! link checks), `inbound` and `sessions` what the server sends, `outbound` what goes to it.

pub mod config;
mod conn;
pub mod frame;
mod inbound;
mod lines;
mod link;
mod outbound;
mod sessions;
pub mod text;

use config::Config;
use link::{Link, Out};
use ruvuma_plugin_api::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Ssmi {
    link: Arc<Link>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Component for Ssmi {
    type Config = Config;
    const NAME: &'static str = "ssmi";
    const ALIASES: &'static [&'static str] = &["vumi.transports.truteq.TruteqTransport"];
    const DESCRIPTION: &'static str =
        "TruTeq SSMI client: USSD sessions and SMS over one TCP line protocol, with link checks and reconnects.";
    const CONFIG_DOC: &'static str = config::CONFIG_DOC;

    fn check(config: &Config) -> Vec<ConfigProblem> {
        config.problems()
    }

    /// One delivery at a time: `handle_outbound` never waits on the socket (it queues the line
    /// for the connection's writer, which acks or nacks it), so one loop keeps up, and a user's
    /// replies stay in the order the application sent them.
    fn concurrency(_config: &Config) -> Option<usize> {
        Some(1)
    }

    fn create(config: Config, ctx: Context) -> Result<Self, String> {
        let settings = Arc::new(config.settings()?);
        Ok(Self {
            link: Arc::new(Link::new(ctx, settings)),
            task: Mutex::default(),
        })
    }
}

impl Transport for Ssmi {
    /// Starts the link in the background: a server that is down is retried, not an error.
    async fn start(&self) -> Result<(), String> {
        let handle = self.link.ctx.spawn(self.link.clone().run());
        if let Ok(mut task) = self.task.lock() {
            *task = Some(handle);
        }
        Ok(())
    }

    async fn handle_outbound(&self, msg: Message) -> Result<(), String> {
        let line = outbound::line(&self.link.settings, &msg)?;
        self.link.send(Out { line, msg })
    }

    /// Takes nothing more from the server; outbound messages still go until `stop`.
    async fn drain(&self) {
        self.link.draining.send_replace(true);
    }

    /// Writes what is queued, logs out and closes the link.
    async fn stop(&self) {
        self.link.stop.send_replace(true);
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(mut task) = task {
            let limit = self.link.settings.write_timeout + Duration::from_secs(1);
            if tokio::time::timeout(limit, &mut task).await.is_err() {
                tracing::warn!("ssmi: the link did not close within {limit:?}; it is cut");
                task.abort();
            }
        }
    }
}

ruvuma_plugin_api::export_plugin!(transports: [Ssmi]);
