//! `xmpp`: a client (c2s) connection to an XMPP server (Vumi's `XMPPTransport`). The transport
//! logs in as `username` (a JID) with STARTTLS, binds a resource, shows its presence, keeps the
//! stream alive with XEP-0199 pings and connects again, with doubling delays, when it goes.
//!
//! Inbound `<message type="chat">` bodies become messages (`transport_type: xmpp`, `from_addr`
//! the sender's bare JID, the resource in `transport_metadata`); outbound messages go as chat
//! stanzas, a reply to the full JID the question came from, and are acked once written to the
//! stream. Subscription requests are accepted, refused or checked against an allow list.
//!
//! `wire` is the byte stream (TCP, TLS, the stanza budget), `login` the way to a bound session,
//! `link` the stream's life (reconnects, status, the outbound queue), `conn` a bound session,
//! `inbound` and `outbound` what crosses it.

pub mod config;
mod conn;
mod inbound;
mod link;
mod login;
mod outbound;
mod wire;

use config::{Config, StartTls};
use link::{Link, Out};
use ruvuma_plugin_api::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Xmpp {
    link: Arc<Link>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Component for Xmpp {
    type Config = Config;
    const NAME: &'static str = "xmpp";
    const ALIASES: &'static [&'static str] = &[
        "vumi.transports.xmpp.XMPPTransport",
        "vumi.transports.xmpp.xmpp.XMPPTransport",
    ];
    const DESCRIPTION: &'static str =
        "XMPP client: chat messages in and out through an XMPP server, with STARTTLS, pings and reconnects.";
    const CONFIG_DOC: &'static str = config::CONFIG_DOC;

    fn check(config: &Config) -> Vec<ConfigProblem> {
        config.problems()
    }

    /// One delivery at a time: `handle_outbound` only queues the stanza for the session's
    /// writer (which acks or nacks it), so one loop keeps up, and a user's replies stay in the
    /// order the application sent them.
    fn concurrency(_config: &Config) -> Option<usize> {
        Some(1)
    }

    fn create(config: Config, ctx: Context) -> Result<Self, String> {
        let settings = Arc::new(config.settings()?);
        let tls = match settings.raw.starttls {
            StartTls::Off => None,
            _ => Some(wire::Tls::new(&settings)?),
        };
        Ok(Self {
            link: Arc::new(Link::new(ctx, settings, tls)),
            task: Mutex::default(),
        })
    }
}

impl Transport for Xmpp {
    /// Starts the stream in the background: a server that is down is retried, not an error.
    async fn start(&self) -> Result<(), String> {
        let handle = self.link.ctx.spawn(self.link.clone().run());
        if let Ok(mut task) = self.task.lock() {
            *task = Some(handle);
        }
        Ok(())
    }

    async fn handle_outbound(&self, msg: Message) -> Result<(), String> {
        let chat = outbound::stanza(&msg)?;
        self.link
            .send(Out {
                chat,
                msg,
                queued: Instant::now(),
            })
            .await
    }

    /// Shows the account as unavailable, so that the server keeps new chats for the next
    /// session; outbound messages still go until `stop`.
    async fn drain(&self) {
        self.link.draining.send_replace(true);
    }

    /// Writes what is queued, ends the stream and closes the connection.
    async fn stop(&self) {
        self.link.stop.send_replace(true);
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(mut task) = task {
            let limit = self.link.settings.write_timeout * 2 + Duration::from_secs(1);
            if tokio::time::timeout(limit, &mut task).await.is_err() {
                tracing::warn!("xmpp: the stream did not close within {limit:?}; it is cut");
                task.abort();
            }
        }
    }
}

ruvuma_plugin_api::export_plugin!(transports: [Xmpp]);
