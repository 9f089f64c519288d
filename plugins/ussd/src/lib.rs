//! `ussd_menu`: Richmond's FooBar USSD example. A new session is asked "foo?"; answering "bar"
//! (or "0", for phones that cannot type letters) ends it with "Clever. Bye!"; anything else gets
//! "Say bar ..." and the session goes on. Sessions live in the state store with an idle
//! `timeout`; a session idle past it is closed and logged, and so is one the user ends.

use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::tokio::time::{interval, MissedTickBehavior};
use ruvuma_plugin_api::tracing::info;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn default_timeout() -> u64 {
    60
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Seconds a session may stay idle (60).
    #[serde(default = "default_timeout")]
    pub timeout: u64,
}

type Sessions = Arc<Mutex<HashMap<String, Instant>>>;

pub struct UssdMenu {
    ctx: Context,
    timeout: Duration,
    /// The sessions this instance has seen, for timing them out.
    seen: Sessions,
}

fn session_key(user: &str) -> String {
    format!("session:{user}")
}

impl Component for UssdMenu {
    type Config = Config;
    const NAME: &'static str = "ussd_menu";
    const DESCRIPTION: &'static str = "Richmond's FooBar USSD menu: foo? / bar ends it / anything else goes on.";
    const CONFIG_DOC: &'static str = "timeout: seconds a session may stay idle (60)";

    fn check(config: &Config) -> Vec<ConfigProblem> {
        if config.timeout == 0 {
            vec![ConfigProblem::at("timeout", "must be at least 1 second")]
        } else {
            Vec::new()
        }
    }

    fn create(config: Config, ctx: Context) -> Result<Self, String> {
        Ok(Self {
            ctx,
            timeout: Duration::from_secs(config.timeout),
            seen: Arc::default(),
        })
    }
}

impl UssdMenu {
    fn touch(&self, user: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(user.to_owned(), Instant::now());
        }
    }

    fn forget(&self, user: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.remove(user);
        }
    }

    async fn open(&self, msg: &Message) -> Result<(), String> {
        let user = msg.from_addr();
        self.ctx.state().set(&session_key(user), "open", self.timeout).await?;
        self.touch(user);
        self.ctx.reply_to(msg, Some("foo?"), true).await
    }
}

impl Application for UssdMenu {
    async fn start(&self) -> Result<(), String> {
        let (ctx, seen, timeout) = (self.ctx.clone(), self.seen.clone(), self.timeout);
        self.ctx.spawn(async move {
            let mut tick = interval((timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5)));
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let expired: Vec<String> = match seen.lock() {
                    Ok(mut seen) => {
                        let old: Vec<String> = seen
                            .iter()
                            .filter(|(_, t)| t.elapsed() >= timeout)
                            .map(|(u, _)| u.clone())
                            .collect();
                        for u in &old {
                            seen.remove(u);
                        }
                        old
                    }
                    Err(_) => Vec::new(),
                };
                for user in expired {
                    let _ = ctx.state().delete(&session_key(&user)).await;
                    info!("{user} timed out");
                }
            }
        });
        Ok(())
    }

    async fn consume_user_message(&self, msg: Message) -> Result<(), String> {
        let user = msg.from_addr().to_owned();
        match msg.session_event {
            SessionEvent::Close => {
                self.ctx.state().delete(&session_key(&user)).await?;
                self.forget(&user);
                info!("{user} ended session");
                Ok(())
            }
            SessionEvent::New => self.open(&msg).await,
            SessionEvent::Resume | SessionEvent::None => {
                if self.ctx.state().get(&session_key(&user)).await?.is_none() {
                    info!("{user} had no open session; starting a new one");
                    return self.open(&msg).await;
                }
                let answer = msg.content().unwrap_or("").trim();
                if answer == "bar" || answer == "0" {
                    self.ctx.state().delete(&session_key(&user)).await?;
                    self.forget(&user);
                    self.ctx.reply_to(&msg, Some("Clever. Bye!"), false).await
                } else {
                    self.ctx.state().set(&session_key(&user), "open", self.timeout).await?;
                    self.touch(&user);
                    self.ctx.reply_to(&msg, Some("Say bar ..."), true).await
                }
            }
        }
    }
}

ruvuma_plugin_api::export_plugin!(applications: [UssdMenu]);
