//! `echo`: replies to every message with its own content (Vumi's EchoWorker).

use ruvuma_plugin_api::prelude::*;

pub struct Echo {
    ctx: Context,
}

impl Component for Echo {
    type Config = NoConfig;
    const NAME: &'static str = "echo";
    const ALIASES: &'static [&'static str] = &["vumi.demos.words.EchoWorker", "vumi.application.EchoWorker"];
    const DESCRIPTION: &'static str =
        "Replies to each message with its content; a session opened without content gets no reply.";

    fn create(_config: NoConfig, ctx: Context) -> Result<Self, String> {
        Ok(Self { ctx })
    }
}

impl Application for Echo {
    async fn consume_user_message(&self, msg: Message) -> Result<(), String> {
        let Some(content) = msg.content() else {
            return Ok(());
        };
        let closing = msg.session_event == SessionEvent::Close;
        if closing {
            return Ok(());
        }
        self.ctx.reply_to(&msg, Some(content), true).await
    }
}

ruvuma_plugin_api::export_plugin!(applications: [Echo]);
