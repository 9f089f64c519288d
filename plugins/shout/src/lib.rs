//! A complete minimal ruvuma plugin: an application that answers in capitals.

use ruvuma_plugin_api::prelude::*;

/// The plugin's config: `config: {exclaim: true}` in the YAML.
#[derive(Deserialize)]
#[serde(crate = "ruvuma_plugin_api::serde", deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    exclaim: bool,
}

pub struct Shout {
    ctx: Context,
    exclaim: bool,
}

impl Component for Shout {
    type Config = Config;
    const NAME: &'static str = "shout";
    const DESCRIPTION: &'static str = "Replies with the message in capitals.";
    const CONFIG_DOC: &'static str = "exclaim: add \"!\" to every reply (false)";

    fn create(config: Config, ctx: Context) -> Result<Self, String> {
        Ok(Self {
            ctx,
            exclaim: config.exclaim,
        })
    }
}

impl Application for Shout {
    async fn consume_user_message(&self, msg: Message) -> Result<(), String> {
        let Some(text) = msg.content() else { return Ok(()) };
        let mut loud = text.to_uppercase();
        if self.exclaim {
            loud.push('!');
        }
        self.ctx.reply_to(&msg, Some(&loud), true).await
    }
}

ruvuma_plugin_api::export_plugin!(applications: [Shout]);
