//! Hot reload in-process: configs applied to a running host with components compiled into this
//! test; what the diff names, what keeps running, and the rollback of a start that fails.

use ruvuma::app::{Host, Prepared};
use ruvuma::reload::Trigger;
use ruvuma::{compile::compile, config, plugins::Catalogue};
use ruvuma_plugin_api::abi::LogLevel;
use ruvuma_plugin_api::prelude::*;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the transports were asked to send: (transport, content).
static SENT: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
/// Transports created in this process.
static CREATED: AtomicUsize = AtomicUsize::new(0);
/// One test at a time: they count what this process creates.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Deserialize, Default)]
#[serde(crate = "ruvuma_plugin_api::serde")]
pub struct SinkConfig {
    #[serde(default)]
    fail_start: bool,
}

/// A transport that records what it is asked to send; it refuses to start when told to.
pub struct Sink {
    ctx: Context,
    fail_start: bool,
}

impl Component for Sink {
    type Config = SinkConfig;
    const NAME: &'static str = "sink";
    const DESCRIPTION: &'static str = "Test transport: records outbound messages.";
    fn create(config: SinkConfig, ctx: Context) -> Result<Self, String> {
        CREATED.fetch_add(1, Ordering::SeqCst);
        Ok(Self {
            ctx,
            fail_start: config.fail_start,
        })
    }
}

impl Transport for Sink {
    async fn start(&self) -> Result<(), String> {
        match self.fail_start {
            true => Err("told to fail its start".into()),
            false => Ok(()),
        }
    }

    async fn handle_outbound(&self, msg: Message) -> Result<(), String> {
        let content = msg.content().unwrap_or_default().to_owned();
        SENT.lock().unwrap().push((self.ctx.name().to_owned(), content));
        Ok(())
    }
}

#[derive(Deserialize, Default)]
#[serde(crate = "ruvuma_plugin_api::serde")]
pub struct SayConfig {
    #[serde(default)]
    suffix: String,
}

/// An application that answers with its content and its configured suffix.
pub struct Say {
    ctx: Context,
    suffix: String,
}

impl Component for Say {
    type Config = SayConfig;
    const NAME: &'static str = "say";
    const DESCRIPTION: &'static str = "Test application: replies with a suffix.";
    fn create(config: SayConfig, ctx: Context) -> Result<Self, String> {
        Ok(Self {
            ctx,
            suffix: config.suffix,
        })
    }
}

impl Application for Say {
    async fn consume_user_message(&self, msg: Message) -> Result<(), String> {
        let text = format!("{}{}", msg.content().unwrap_or_default(), self.suffix);
        self.ctx.reply_to(&msg, Some(&text), true).await
    }
}

/// What the observers were told: (the observer's tag, event name, outcome).
static TOLD: Mutex<Vec<(String, String, String)>> = Mutex::new(Vec::new());

#[derive(Deserialize, Default)]
#[serde(crate = "ruvuma_plugin_api::serde")]
pub struct TellConfig {
    #[serde(default)]
    tag: String,
}

/// An observer that records the events it is told, under its config's tag.
pub struct Tell {
    tag: String,
}

impl Component for Tell {
    type Config = TellConfig;
    const NAME: &'static str = "tell";
    const DESCRIPTION: &'static str = "Test observer: records events.";
    fn create(config: TellConfig, _: Context) -> Result<Self, String> {
        Ok(Self { tag: config.tag })
    }
}

impl Observer for Tell {
    async fn observe(&self, event: serde_json::Value) -> Result<(), String> {
        let field = |k: &str| event[k].as_str().unwrap_or_default().to_owned();
        TOLD.lock()
            .unwrap()
            .push((self.tag.clone(), field("event"), field("outcome")));
        Ok(())
    }
}

ruvuma_plugin_api::export_plugin!(transports: [Sink], applications: [Say], observers: [Tell]);

/// The components compiled into this test: one root module, as a library loaded once has.
fn catalogue() -> Catalogue {
    static MODULE: std::sync::OnceLock<ruvuma_plugin_api::abi::PluginModRef> = std::sync::OnceLock::new();
    Catalogue::linked("reload-test", *MODULE.get_or_init(__ruvuma_root_module))
}

fn prepared(yaml: &str, catalogue: Catalogue) -> Prepared {
    let cfg = config::parse(Path::new("reload.yaml"), yaml).expect("a valid config");
    let plan = compile(cfg, &catalogue).unwrap_or_else(|p| panic!("{p:?}"));
    Prepared { plan, catalogue }
}

/// Transport `t` with application `a` on its endpoint (`app`: a's extra keys, `t_extra`: t's),
/// and when `second`, transport `u` (its extra keys) with application `b`.
fn yaml(app: &str, t_extra: &str, second: Option<&str>) -> String {
    let mut y = format!(
        "shutdown_timeout: 5s\ntransports:\n  t: {{plugin: sink{t_extra}}}\n\
         applications:\n  a: {{plugin: say, endpoint: t{app}}}\n"
    );
    if let Some(extra) = second {
        y = y.replace("applications:", &format!("  u: {{plugin: sink{extra}}}\napplications:"));
        y.push_str("  b: {plugin: say, endpoint: u}\n");
    }
    y
}

async fn say(host: &Host, endpoint: &str, text: &str) -> String {
    let before = SENT.lock().unwrap().len();
    let msg = Message::new("user", "service", Some(text), endpoint, "test");
    host.bus()
        .publisher(&format!("{endpoint}.inbound"))
        .publish(msg.into())
        .await
        .expect("publish");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some((_, c)) = SENT.lock().unwrap()[before..].iter().find(|(t, _)| t == endpoint) {
            return c.clone();
        }
        assert!(Instant::now() < deadline, "{text:?} was not answered on {endpoint}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_changed_is_replaced_and_a_failed_start_rolls_back() {
    let _serial = SERIAL.lock().await;
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let host = Host::start(prepared(&yaml("", "", None), catalogue()), LogLevel::Warn)
        .await
        .expect("the host starts");
    assert_eq!(say(&host, "t", "hi").await, "hi");
    let created = CREATED.load(Ordering::SeqCst);

    // The application's config: only it is replaced; the transport is the same instance.
    let report = host
        .apply(
            prepared(&yaml(", config: {suffix: '!'}", "", None), catalogue()),
            Trigger::Sighup,
        )
        .await;
    assert_eq!(report.outcome, "applied", "{report:?}");
    assert_eq!(report.changed, vec!["application \"a\" (config)".to_owned()]);
    assert_eq!(report.unchanged, 1, "{report:?}");
    assert_eq!(say(&host, "t", "hi").await, "hi!");
    assert_eq!(
        CREATED.load(Ordering::SeqCst),
        created,
        "the transport was not made again"
    );

    // Instances and concurrency are changes too.
    let more = yaml(", config: {suffix: '!'}, instances: 2, concurrency: 3", "", None);
    let report = host.apply(prepared(&more, catalogue()), Trigger::Sighup).await;
    assert_eq!(
        report.changed,
        vec!["application \"a\" (instances, concurrency)".to_owned()]
    );
    assert_eq!(say(&host, "t", "two").await, "two!");

    // The same config again changes nothing.
    let report = host.apply(prepared(&more, catalogue()), Trigger::Sighup).await;
    assert_eq!(report.outcome, "unchanged", "{report:?}");

    // A transport that cannot start: the ones started stop, the old config runs again.
    let failing = yaml(", config: {suffix: '?'}", "", Some(", config: {fail_start: true}"));
    let report = host.apply(prepared(&failing, catalogue()), Trigger::Sighup).await;
    assert_eq!(report.outcome, "rolled_back", "{report:?}");
    let error = report.error.clone().unwrap_or_default();
    assert!(
        error.contains("transport \"u\": failed to start: told to fail its start"),
        "{error}"
    );
    assert!(error.ends_with("the previous config runs again"), "{error}");
    assert_eq!(say(&host, "t", "back").await, "back!", "the old application answers");

    // A transport added, then removed.
    let report = host
        .apply(
            prepared(&yaml(", config: {suffix: '!'}", "", Some("")), catalogue()),
            Trigger::Sighup,
        )
        .await;
    let added = vec!["application \"b\"".to_owned(), "transport \"u\"".to_owned()];
    assert_eq!(report.added, added, "{report:?}");
    assert_eq!(say(&host, "u", "second").await, "second");
    let report = host
        .apply(
            prepared(&yaml(", config: {suffix: '!'}", "", None), catalogue()),
            Trigger::Sighup,
        )
        .await;
    assert_eq!(report.removed.len(), 2, "{report:?}");
    assert_eq!(say(&host, "t", "still").await, "still!");

    // A global key is refused by name.
    let stateful = format!(
        "state: {{memory: {{max_keys: 5000}}}}\n{}",
        yaml(", config: {suffix: '!'}", "", None)
    );
    let report = host.apply(prepared(&stateful, catalogue()), Trigger::Sighup).await;
    assert_eq!(report.outcome, "refused", "{report:?}");
    assert!(report.error.unwrap_or_default().starts_with("state cannot change"));
    assert_eq!(
        host.reloads().totals(),
        (5, 2),
        "applied and unchanged; rolled back and refused"
    );
    host.stop().await;
}

/// The `config_reloaded` events observer `tag` was told, by outcome.
async fn told(tag: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let outcomes: Vec<String> = TOLD
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, e, _)| t == tag && e == "config_reloaded")
            .map(|(_, _, o)| o.clone())
            .collect();
        if outcomes.len() >= count {
            return outcomes;
        }
        assert!(
            Instant::now() < deadline,
            "observer {tag} was told {outcomes:?}, not {count} reloads"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_changed_by_a_reload_is_replaced_and_told_from_then_on() {
    let _serial = SERIAL.lock().await;
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let observer =
        |tag: &str| format!("observers:\n  o: {{plugin: tell, events: [config_reloaded], config: {{tag: {tag}}}}}\n");
    let base = yaml("", "", None);
    let host = Host::start(
        prepared(&format!("{base}{}", observer("first")), catalogue()),
        LogLevel::Warn,
    )
    .await
    .expect("the host starts");

    // A reload that leaves the observer alone is told to it.
    let changed_app = yaml(", config: {suffix: '.'}", "", None);
    let report = host
        .apply(
            prepared(&format!("{changed_app}{}", observer("first")), catalogue()),
            Trigger::Sighup,
        )
        .await;
    assert_eq!(report.outcome, "applied", "{report:?}");
    assert_eq!(told("first", 1).await, vec!["applied".to_owned()]);

    // The observer's config changes: the old one is let go, the new one hears what follows.
    let report = host
        .apply(
            prepared(&format!("{changed_app}{}", observer("second")), catalogue()),
            Trigger::Sighup,
        )
        .await;
    assert_eq!(report.changed, vec!["observer \"o\" (config)".to_owned()], "{report:?}");
    assert_eq!(
        told("second", 1).await,
        vec!["applied".to_owned()],
        "the new observer hears its own reload"
    );
    let report = host.apply(prepared(&changed_app, catalogue()), Trigger::Sighup).await;
    assert_eq!(report.removed, vec!["observer \"o\"".to_owned()], "{report:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        told("first", 1).await.len(),
        1,
        "the replaced observer heard nothing more"
    );
    assert_eq!(
        told("second", 1).await.len(),
        1,
        "a removed observer hears nothing more"
    );
    host.stop().await;
}
