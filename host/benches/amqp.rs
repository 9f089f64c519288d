//! Round trips per second through RabbitMQ, side by side in one run:
//!
//! * ruvuma: the `loadgen` transport (in this process) → dispatcher host (a `ruvuma` process) →
//!   echo application host (another) → dispatcher → `loadgen`, every hop a durable queue with
//!   persistent messages, publisher confirms and acks;
//! * raw: the same four hops as plain lapin relays (consume, publish with a confirm, ack) with
//!   the same message body and window, and no ruvuma at all.
//!
//! Needs RabbitMQ on 127.0.0.1:5672. `cargo bench -p ruvuma --bench amqp`
//! (env: BENCH_MESSAGES (5000), BENCH_WINDOW (200), BENCH_RUNS (3)).

mod common;

use common::{env_num, median, rounded, run_loadgen};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use ruvuma_plugin_api::{vumi_json, Message, Payload};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn bus() -> String {
    format!("bus: {{amqp: {{url: \"{URL}\", exchange: vumi, prefetch: 20}}}}\n")
}

fn spawn_host(dir: &Path, name: &str, yaml: &str) -> Child {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).expect("config");
    Command::new(root.join("target/release/ruvuma"))
        .args(["run", "-c", path.to_str().expect("path")])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ruvuma")
}

/// One ruvuma run: the time for `messages` round trips.
fn ruvuma_run(id: &str, messages: u64, window: u64) -> Duration {
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
            "{}transports:\n  {transport}:\n    plugin: loadgen\n    config: {{messages: {messages}, window: {window}}}\n",
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

async fn publish(channel: &Channel, queue: &str, body: &[u8]) {
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into());
    let confirm = channel
        .basic_publish("vumi".into(), queue.into(), BasicPublishOptions::default(), body, props)
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert!(confirm.is_ack());
}

/// The same four hops with lapin alone.
fn raw_run(id: &str, messages: u64, window: u64) -> Duration {
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
        let queues: Vec<String> = (0..5).map(|i| format!("raw_{id}_{i}")).collect();
        for q in &queues {
            declare(&setup, q).await;
        }
        // Four relays: queue i → queue i+1.
        for i in 0..4 {
            let (from, to) = (queues[i].clone(), queues[i + 1].clone());
            let channel = conn.create_channel().await.expect("channel");
            channel.basic_qos(20, BasicQosOptions::default()).await.expect("qos");
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .expect("confirms");
            let mut consumer = channel
                .basic_consume(
                    from.as_str().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("consume");
            tokio::spawn(async move {
                while let Some(Ok(d)) = consumer.next().await {
                    publish(&channel, &to, &d.data).await;
                    d.acker.ack(BasicAckOptions::default()).await.expect("ack");
                }
            });
        }
        let body = vumi_json::encode(&Payload::from(Message::new(
            "user1",
            "loadgen",
            Some("ping"),
            "bench",
            "loadgen",
        )));
        let body = Arc::new(body.into_bytes());
        let window_sem = Arc::new(tokio::sync::Semaphore::new(window as usize));
        let start = Instant::now();
        let (first, last) = (queues[0].clone(), queues[4].clone());
        let (pub_channel, sem, b) = (
            conn.create_channel().await.expect("channel"),
            window_sem.clone(),
            body.clone(),
        );
        pub_channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirms");
        tokio::spawn(async move {
            for _ in 0..messages {
                sem.acquire().await.expect("window").forget();
                publish(&pub_channel, &first, &b).await;
            }
        });
        let back = conn.create_channel().await.expect("channel");
        back.basic_qos(20, BasicQosOptions::default()).await.expect("qos");
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
    if let Ok(mode) = std::env::var("RUVUMA_BENCH_CHILD") {
        let (messages, window) = (env_num("BENCH_MESSAGES", 5000), env_num("BENCH_WINDOW", 200));
        let id = format!("{}_{}", std::process::id(), Instant::now().elapsed().as_nanos());
        let elapsed = if mode == "raw" {
            raw_run(&id, messages, window)
        } else {
            ruvuma_run(&id, messages, window)
        };
        println!("RESULT {mode} {:.0} 0", messages as f64 / elapsed.as_secs_f64());
        return;
    }
    common::build_release(&["ruvuma", "ruvuma-echo", "ruvuma-routers", "ruvuma-fixture-testkit"]);
    let runs = env_num("BENCH_RUNS", 3);
    println!(
        "round trips through RabbitMQ: {} messages per run, window {}, {runs} runs per path, alternating",
        env_num("BENCH_MESSAGES", 5000),
        env_num("BENCH_WINDOW", 200)
    );
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        ours.push(common::run_child("ruvuma").0);
        raw.push(common::run_child("raw").0);
    }
    let ratios: Vec<f64> = ours.iter().zip(&raw).map(|(o, r)| o / r).collect();
    println!(
        "ruvuma (transport → dispatcher host → app host → back): {:.0} round trips/s  (runs: {:?})",
        median(&ours),
        rounded(&ours)
    );
    println!(
        "raw lapin, same four hops:                               {:.0} round trips/s  (runs: {:?})",
        median(&raw),
        rounded(&raw)
    );
    println!(
        "ratio ruvuma/raw: median of per-pair ratios {:.2} (pairs: {:?})",
        median(&ratios),
        rounded(&ratios)
    );
}
