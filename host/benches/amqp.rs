//! Round trips per second through RabbitMQ, side by side in one run:
//!
//! * ruvuma: the `loadgen` transport (in this process) → dispatcher host (a `ruvuma` process) →
//!   echo application host (another) → dispatcher → `loadgen`, every hop a durable queue with
//!   persistent messages, publisher confirms and acks;
//! * raw: plain lapin on the same path: four queues, so the same four persistent, confirmed
//!   publishes per round trip, relays that ack a delivery once what it produced is confirmed
//!   and meanwhile take the next (pipelined), the same prefetch, window and message body;
//! * serial: the same raw path with each relay confirming, then acking, before it takes the
//!   next delivery (a fifth of the messages), for the record.
//!
//! Needs RabbitMQ on 127.0.0.1:5672. `cargo bench -p ruvuma --bench amqp`
//! (env: BENCH_MESSAGES (20000), BENCH_WINDOW (400), BENCH_PREFETCH (100), BENCH_RUNS (3)).

mod common;

use common::{env_num, median, rounded, run_loadgen, spawn_host};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind, PublisherConfirm};
use ruvuma_plugin_api::{vumi_json, Message, Payload};
use std::sync::Arc;
use std::time::{Duration, Instant};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn bus(prefetch: u16) -> String {
    format!("bus: {{amqp: {{url: \"{URL}\", exchange: vumi, prefetch: {prefetch}}}}}\n")
}

/// One ruvuma run: the time for `messages` round trips.
fn ruvuma_run(id: &str, messages: u64, window: u64, prefetch: u16) -> Duration {
    let bus = || bus(prefetch);
    let dir = std::env::temp_dir().join(format!("ruvuma-amqp-bench-{id}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut hosts = vec![
        spawn_host(&dir, "app", &format!("{}applications:\n  echo: {{plugin: echo, endpoint: app_{id}}}\n", bus())),
        spawn_host(
            &dir,
            "dispatcher",
            &format!(
                "{}dispatchers:\n  main:\n    router_class: simple\n    transport_names: [lg_{id}]\n    exposed_names: [app_{id}]\n    \
                 route_mappings: {{lg_{id}: app_{id}}}\n",
                bus()
            ),
        ),
    ];
    std::thread::sleep(Duration::from_millis(1500));
    let transport = format!("lg_{id}");
    let elapsed = run_loadgen(
        &format!(
            "{}transports:\n  {transport}:\n    plugin: loadgen\n    config: {{messages: {messages}, window: {window}, publishers: 64}}\n",
            bus()
        ),
        &transport,
    );
    for h in &mut hosts {
        let _ = h.kill();
        let _ = h.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    elapsed
}

async fn declare(channel: &Channel, queue: &str) {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.into(), durable, FieldTable::default())
        .await
        .expect("declare");
    channel
        .queue_bind(
            queue.into(),
            "vumi".into(),
            queue.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
}

fn properties() -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
}

/// Sends one persistent message; the broker's confirm is still to come.
async fn send(channel: &Channel, queue: &str, body: &[u8]) -> PublisherConfirm {
    channel
        .basic_publish(
            "vumi".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            properties(),
        )
        .await
        .expect("publish")
}

async fn confirmed(confirm: PublisherConfirm) {
    assert!(confirm.await.expect("confirm").is_ack(), "the broker refused a publish");
}

/// A relay `from` → `to` on a consuming channel and a publishing one of its own. Serial: each
/// delivery's publish is confirmed, then the delivery acked, before the next is taken.
/// Pipelined: the publish is sent, and a settler acks each delivery once its publish is
/// confirmed (in order) while the relay takes the next, up to the prefetch.
async fn relay(conn: &Connection, from: String, to: String, prefetch: u16, pipelined: bool) {
    let consuming = conn.create_channel().await.expect("channel");
    consuming
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .expect("qos");
    let publishing = conn.create_channel().await.expect("channel");
    publishing
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let mut consumer = consuming
        .basic_consume(
            from.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let (settle, mut settling) = tokio::sync::mpsc::unbounded_channel::<(PublisherConfirm, lapin::Acker)>();
    tokio::spawn(async move {
        while let Some((confirm, acker)) = settling.recv().await {
            confirmed(confirm).await;
            acker.ack(BasicAckOptions::default()).await.expect("ack");
        }
    });
    tokio::spawn(async move {
        let _consuming = consuming;
        while let Some(Ok(d)) = consumer.next().await {
            let confirm = send(&publishing, &to, &d.data).await;
            if pipelined {
                settle.send((confirm, d.acker)).expect("settler");
            } else {
                confirmed(confirm).await;
                d.acker.ack(BasicAckOptions::default()).await.expect("ack");
            }
        }
    });
}

/// Raw lapin on the path ruvuma takes: four queues, so four persistent, confirmed publishes per
/// round trip (the sender's, then three relays'), and the sender reading the last queue.
fn raw_run(id: &str, messages: u64, window: u64, prefetch: u16, pipelined: bool) -> Duration {
    common::runtime().block_on(async move {
        let conn = Connection::connect(URL, ConnectionProperties::default())
            .await
            .expect("connect");
        let setup = conn.create_channel().await.expect("channel");
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        setup
            .exchange_declare("vumi".into(), ExchangeKind::Direct, durable, FieldTable::default())
            .await
            .expect("exchange");
        let queues: Vec<String> = (0..4).map(|i| format!("raw_{id}_{i}")).collect();
        for q in &queues {
            declare(&setup, q).await;
        }
        for i in 0..3 {
            relay(&conn, queues[i].clone(), queues[i + 1].clone(), prefetch, pipelined).await;
        }
        let body = vumi_json::encode(&Payload::from(Message::new(
            "user1",
            "loadgen",
            Some("ping"),
            "bench",
            "loadgen",
        )));
        let window_sem = Arc::new(tokio::sync::Semaphore::new(window as usize));
        let start = Instant::now();
        let (first, last) = (queues[0].clone(), queues[3].clone());
        let (pub_channel, sem) = (conn.create_channel().await.expect("channel"), window_sem.clone());
        pub_channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirms");
        tokio::spawn(async move {
            for _ in 0..messages {
                sem.acquire().await.expect("window").forget();
                let confirm = send(&pub_channel, &first, body.as_bytes()).await;
                if pipelined {
                    tokio::spawn(confirmed(confirm));
                } else {
                    confirmed(confirm).await;
                }
            }
        });
        let back = conn.create_channel().await.expect("channel");
        back.basic_qos(prefetch, BasicQosOptions::default()).await.expect("qos");
        let mut consumer = back
            .basic_consume(
                last.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let mut n = 0;
        while n < messages {
            let d = consumer.next().await.expect("delivery").expect("delivery");
            d.acker.ack(BasicAckOptions::default()).await.expect("ack");
            window_sem.add_permits(1);
            n += 1;
        }
        let elapsed = start.elapsed();
        for q in &queues {
            let _ = setup
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        elapsed
    })
}

fn main() {
    let (messages, window) = (env_num("BENCH_MESSAGES", 20_000), env_num("BENCH_WINDOW", 400));
    let prefetch = u16::try_from(env_num("BENCH_PREFETCH", 100)).expect("BENCH_PREFETCH fits u16");
    if let Ok(mode) = std::env::var("RUVUMA_BENCH_CHILD") {
        let id = format!("{}_{}", std::process::id(), Instant::now().elapsed().as_nanos());
        let elapsed = match mode.as_str() {
            "raw" => raw_run(&id, messages, window, prefetch, true),
            "serial" => raw_run(&id, messages / 5, window, prefetch, false),
            _ => ruvuma_run(&id, messages, window, prefetch),
        };
        let done = if mode == "serial" { messages / 5 } else { messages };
        println!("RESULT {mode} {:.0} 0", done as f64 / elapsed.as_secs_f64());
        return;
    }
    common::build_release(&["ruvuma", "ruvuma-echo", "ruvuma-routers", "ruvuma-fixture-testkit"]);
    let runs = env_num("BENCH_RUNS", 3);
    println!(
        "round trips through RabbitMQ: {messages} messages per run, window {window}, prefetch {prefetch}, \
         {runs} runs per path, alternating"
    );
    let (mut ours, mut raw, mut serial) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        ours.push(common::run_child("ruvuma").0);
        raw.push(common::run_child("raw").0);
        serial.push(common::run_child("serial").0);
    }
    let ratios: Vec<f64> = ours.iter().zip(&raw).map(|(o, r)| o / r).collect();
    println!(
        "ruvuma (transport → dispatcher host → app host → back): {:.0} round trips/s  (runs: {:?})",
        median(&ours),
        rounded(&ours)
    );
    println!(
        "raw lapin, pipelined, same four publishes:              {:.0} round trips/s  (runs: {:?})",
        median(&raw),
        rounded(&raw)
    );
    println!(
        "raw lapin, serial (confirm, then ack, then the next):   {:.0} round trips/s  (runs: {:?})",
        median(&serial),
        rounded(&serial)
    );
    println!(
        "ratio ruvuma/raw pipelined: median of per-pair ratios {:.2} (pairs: {:?})",
        median(&ratios),
        rounded(&ratios)
    );
}
