//! The topology in-process: a config written here, components compiled into this test (no
//! shared library), messages put on the bus, and assertions on what came out of it: what the
//! transport was asked to send, what the application got, what failed.

use ruvuma::app::{Host, Prepared};
use ruvuma::bus::Received;
use ruvuma::{compile::compile, config, plugins::Catalogue};
use ruvuma_plugin_api::abi::LogLevel;
use ruvuma_plugin_api::prelude::*;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the probe transports were asked to send: (transport name, message).
static SENT: Mutex<Vec<(String, Message)>> = Mutex::new(Vec::new());
/// What the recorder applications got: (application name, event).
static EVENTS: Mutex<Vec<(String, Event)>> = Mutex::new(Vec::new());

/// A transport that sends nothing anywhere: it records what it is asked to send and acks it,
/// and refuses content `REFUSE` (the loud answer to `refuse`).
pub struct Probe {
    ctx: Context,
}

impl Component for Probe {
    type Config = NoConfig;
    const NAME: &'static str = "probe";
    const DESCRIPTION: &'static str = "Test transport: records outbound messages and acks them.";
    fn create(_: NoConfig, ctx: Context) -> Result<Self, String> {
        Ok(Self { ctx })
    }
}

impl Transport for Probe {
    async fn handle_outbound(&self, msg: Message) -> Result<(), String> {
        if msg.content() == Some("REFUSE") {
            return Err("refused by the probe".into());
        }
        let ack = EventKind::Ack {
            sent_message_id: msg.message_id.clone(),
        };
        let event = Event::new(&msg.message_id, ack, self.ctx.name());
        SENT.lock().unwrap().push((self.ctx.name().to_owned(), msg));
        self.ctx.publish_event(event).await
    }
}

/// An application that answers in capitals, records its events, and panics on `boom`.
pub struct Loud {
    ctx: Context,
}

impl Component for Loud {
    type Config = NoConfig;
    const NAME: &'static str = "loud";
    const DESCRIPTION: &'static str = "Test application: replies in capitals; panics on boom.";
    fn create(_: NoConfig, ctx: Context) -> Result<Self, String> {
        Ok(Self { ctx })
    }
}

impl Application for Loud {
    async fn consume_user_message(&self, msg: Message) -> Result<(), String> {
        let text = msg.content().unwrap_or_default().to_uppercase();
        if text == "BOOM" {
            panic!("the loud application was asked to go boom");
        }
        self.ctx.reply_to(&msg, Some(&text), true).await
    }

    async fn consume_event(&self, event: Event) -> Result<(), String> {
        EVENTS.lock().unwrap().push((self.ctx.name().to_owned(), event));
        Ok(())
    }
}

/// A router that sends every inbound message to the first exposed endpoint and every outbound
/// one to the transport it names.
pub struct First {
    app: String,
}

#[derive(Deserialize)]
#[serde(crate = "ruvuma_plugin_api::serde")]
pub struct FirstConfig {
    exposed_names: Vec<String>,
    #[allow(dead_code)]
    transport_names: Vec<String>,
}

impl Component for First {
    type Config = FirstConfig;
    const NAME: &'static str = "first";
    const DESCRIPTION: &'static str = "Test router: inbound to the first exposed name.";
    fn create(config: FirstConfig, _: Context) -> Result<Self, String> {
        let app = config.exposed_names.first().cloned().ok_or("no exposed name")?;
        Ok(Self { app })
    }
}

impl Router for First {
    async fn dispatch_inbound(&self, msg: Message, _from: &str) -> Result<Vec<Routed>, String> {
        Ok(vec![Routed::inbound(&self.app, msg)])
    }

    async fn dispatch_outbound(&self, msg: Message, _from: &str) -> Result<Vec<Routed>, String> {
        let transport = msg.transport_name.to_string();
        Ok(vec![Routed::outbound(&transport, msg)])
    }
}

ruvuma_plugin_api::export_plugin!(transports: [Probe], applications: [Loud], routers: [First]);

/// A topology of probe transport `name`, a dispatcher and a loud application `<name>_app`.
fn yaml(name: &str) -> String {
    format!(
        "transports:\n  {name}: {{plugin: probe}}\n\
         applications:\n  {name}_app: {{plugin: loud}}\n\
         dispatchers:\n  {name}_d:\n    router_class: first\n    transport_names: [{name}]\n    exposed_names: [{name}_app]\n\
         shutdown_timeout: 5s\n"
    )
}

async fn start(yaml: &str) -> Host {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let catalogue = Catalogue::linked("topology-test", __ruvuma_root_module());
    let cfg = config::parse(Path::new("test.yaml"), yaml).expect("a valid config");
    let plan = compile(cfg, &catalogue).unwrap_or_else(|p| panic!("{p:?}"));
    Host::start(Prepared { plan, catalogue }, LogLevel::Warn)
        .await
        .expect("the host starts")
}

/// Waits (bounded) until `check` holds; panics with `what` when it does not.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn sent_by(transport: &str) -> Vec<Message> {
    let sent = SENT.lock().unwrap();
    sent.iter()
        .filter(|(t, _)| t == transport)
        .map(|(_, m)| m.clone())
        .collect()
}

fn events_of(app: &str) -> Vec<Event> {
    let events = EVENTS.lock().unwrap();
    events
        .iter()
        .filter(|(a, _)| a == app)
        .map(|(_, e)| e.clone())
        .collect()
}

async fn inbound(host: &Host, transport: &str, content: &str) -> Message {
    let msg = Message::new("+27831234567", "*120#", Some(content), transport, "test");
    let publisher = host.bus().publisher(&format!("{transport}.inbound"));
    publisher.publish(msg.clone().into()).await.expect("published");
    msg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_goes_back_through_the_dispatcher_and_its_ack_reaches_the_application() {
    let host = start(&yaml("t1")).await;
    let question = inbound(&host, "t1", "hello").await;
    until("the reply is sent", || sent_by("t1").len() == 1).await;
    let reply = &sent_by("t1")[0];
    assert_eq!(reply.content(), Some("HELLO"));
    assert_eq!(
        reply.in_reply_to.as_ref().map(|r| r.as_str()).into_option(),
        Some(question.message_id.as_str())
    );
    assert_eq!(reply.to_addr(), "+27831234567");
    until("the ack reaches the application", || events_of("t1_app").len() == 1).await;
    assert_eq!(
        events_of("t1_app")[0].user_message_id.as_str(),
        reply.message_id.as_str()
    );
    assert_eq!(host.stop().await.abandoned, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_transport_refuses_is_nacked_back_to_its_application() {
    let host = start(&yaml("t2")).await;
    inbound(&host, "t2", "refuse").await;
    until("the nack reaches the application", || !events_of("t2_app").is_empty()).await;
    let event = &events_of("t2_app")[0];
    match &event.kind {
        EventKind::Nack { nack_reason } => assert!(nack_reason.contains("refused by the probe"), "{nack_reason}"),
        other => panic!("expected a nack, got {other:?}"),
    }
    assert!(sent_by("t2").is_empty());
    assert_eq!(host.stop().await.abandoned, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_application_fails_one_message_and_the_next_is_answered() {
    let host = start(&yaml("t3")).await;
    inbound(&host, "t3", "boom").await;
    inbound(&host, "t3", "after").await;
    until("the next message is answered", || sent_by("t3").len() == 1).await;
    assert_eq!(sent_by("t3")[0].content(), Some("AFTER"));
    let ruvuma::bus::Backend::Memory(memory) = host.bus().backend() else {
        panic!("the memory bus")
    };
    until("the failure is kept", || !memory.failures().is_empty()).await;
    let failure = &memory.failures()[0];
    assert_eq!(failure.routing_key(), "t3_app.failures");
    assert_eq!(failure.origin, "t3_app.inbound");
    assert!(failure.reason.contains("panicked"), "{}", failure.reason);
    assert_eq!(host.stop().await.abandoned, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_counts_what_it_abandons() {
    let host = start(&yaml("t4").replace("shutdown_timeout: 5s", "shutdown_timeout: 100ms")).await;
    // A delivery taken off its queue and held: the in-flight count cannot drop to zero.
    let consumer = host.bus().consumer("held.inbound");
    let publisher = host.bus().publisher("held.inbound");
    publisher
        .publish(Message::new("a", "b", Some("x"), "held", "test").into())
        .await
        .unwrap();
    let held: Received<'_> = consumer.recv().await.expect("a delivery");
    let stopped = host.stop().await;
    assert_eq!(stopped.abandoned, 1, "the held delivery is counted as abandoned");
    held.ack();
}
