//! `sandbox`: runs an application written for Vumi's JavaScript sandbox (`JsSandbox`,
//! `JsFileSandbox`; apps built with vumigo_v02) in long-lived Node workers. Each message or
//! event is handed to the app with the global `api` Vumi's sandbox gave it, and the app's
//! requests are answered by the host's resources (`resources`). Workers are bounded and
//! isolated (`isolate`); a message that fails (the app threw, ran out of time or memory, or its
//! worker died) fails with the reason, and the host keeps it on `<name>.failures`.

mod config;
mod isolate;
mod job;
mod pool;
mod resources;
mod worker;

use config::Config;
use pool::Pool;
use ruvuma_plugin_api::prelude::*;
use ruvuma_plugin_api::vumi_json;
use std::sync::OnceLock;

pub struct App {
    ctx: Context,
    config: Config,
    sandbox_id: String,
    http: reqwest::Client,
    store_cache: resources::StoreCache,
    spec: std::sync::Mutex<Option<isolate::Spec>>,
    pool: OnceLock<Pool>,
}

/// A value for a log line, cut short.
pub(crate) fn short(v: &serde_json::Value) -> String {
    v.to_string().chars().take(200).collect()
}

impl App {
    pub(crate) fn name(&self) -> &str {
        self.ctx.name()
    }

    fn pool(&self) -> Result<&Pool, String> {
        self.pool.get().ok_or_else(|| "the sandbox has not started".to_string())
    }

    async fn hand(&self, key: &str, cmd: &str, payload: Payload, inbound: Option<&Message>) -> Result<(), String> {
        let pool = self.pool()?;
        let msg = vumi_json::payload_to_value(&payload);
        pool.in_order(key, async {
            let worker = pool.worker().await?;
            job::run(self, &worker, cmd, msg, inbound).await
        })
        .await
        .map_err(|why| format!("sandbox {}: {why}", self.name()))
    }
}

impl Component for App {
    type Config = Config;
    const NAME: &'static str = "sandbox";
    const ALIASES: &'static [&'static str] = &[
        "vumi.application.sandbox.JsSandbox",
        "vumi.application.sandbox.JsFileSandbox",
        "vumi.application.JsSandbox",
        "vxsandbox.JsSandbox",
        "vxsandbox.JsFileSandbox",
        "vxsandbox.worker.JsSandbox",
        "vxsandbox.worker.JsFileSandbox",
    ];
    const DESCRIPTION: &'static str =
        "Runs an app written for Vumi's JavaScript sandbox (vumigo_v02) in bounded, isolated Node workers.";
    const CONFIG_DOC: &'static str = config::CONFIG_DOC;

    fn check(config: &Config) -> Vec<ConfigProblem> {
        config.problems()
    }

    fn concurrency(config: &Config) -> Option<usize> {
        Some(config.workers * config.slots)
    }

    fn create(config: Config, ctx: Context) -> Result<Self, String> {
        config.check()?;
        let spec = isolate::Spec::prepare(&config, ctx.name())?;
        Ok(Self {
            sandbox_id: config.sandbox_id.clone().unwrap_or_else(|| ctx.name().to_owned()),
            http: resources::http_client(&config)?,
            store_cache: Default::default(),
            spec: std::sync::Mutex::new(Some(spec)),
            pool: OnceLock::new(),
            config,
            ctx,
        })
    }
}

impl Application for App {
    async fn start(&self) -> Result<(), String> {
        let spec = self
            .spec
            .lock()
            .map_err(|_| "poisoned")?
            .take()
            .ok_or("the sandbox has started already")?;
        let pool = Pool::start(spec, self.config.workers).await?;
        let _ = self.pool.set(pool);
        Ok(())
    }

    async fn consume_user_message(&self, msg: Message) -> Result<(), String> {
        let user = msg.from_addr().to_owned();
        let payload: Payload = msg.clone().into();
        self.hand(&user, "inbound-message", payload, Some(&msg)).await
    }

    async fn consume_event(&self, event: Event) -> Result<(), String> {
        let key = event.user_message_id.to_string();
        self.hand(&key, "inbound-event", event.into(), None).await
    }

    async fn stop(&self) {
        if let Some(pool) = self.pool.get() {
            pool.stop();
        }
    }
}

ruvuma_plugin_api::export_plugin!(applications: [App]);
