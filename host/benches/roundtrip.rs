//! Round trips per second through the whole in-process path, side by side:
//!
//! * plugins: the `loadgen` transport plugin → dispatcher with the `simple` router plugin →
//!   the `echo` application plugin → router → transport, on the memory bus;
//! * closures: the same topology (same queues, same message type, same hops) built from plain
//!   Rust closures and channels, with no plugin boundary and no host machinery; its generator
//!   and counter do what `loadgen` does (message `i` says `ping i`, each reply is checked off
//!   in a bitset by the number it carries).
//!
//! Each run happens in a fresh child process so that its peak memory (VmHWM) is its own.
//! `cargo bench -p ruvuma --bench roundtrip` (env: BENCH_MESSAGES, BENCH_WINDOW, BENCH_RUNS; defaults 200000, 1000, 9).

mod common;

use common::*;
use ruvuma_plugin_api::{Message, Payload};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One run through the real plugins; returns elapsed time.
fn run_plugins(messages: u64, window: u64) -> Duration {
    run_topology(&format!(
        "{}applications:\n  echo:\n    plugin: echo\n    endpoint: echo_app\n\
         dispatchers:\n  main:\n    router_class: simple\n    transport_names: [bench]\n    exposed_names: [echo_app]\n    \
         route_mappings: {{bench: echo_app}}\n",
        loadgen(messages, window)
    ))
}

/// The same hops with closures and channels only.
fn run_closures(messages: u64, window: u64) -> Duration {
    type Chan = (async_channel::Sender<Payload>, async_channel::Receiver<Payload>);
    let q = || -> Chan { async_channel::bounded(1024) };
    let (t_in, t_out, a_in, a_out) = (q(), q(), q(), q());
    // The "router" and "application" as plain closures.
    let route_inbound = |msg: Message| -> Vec<(String, Message)> { vec![("echo_app".to_owned(), msg)] };
    let route_outbound = |msg: Message| -> Vec<(String, Message)> { vec![(msg.transport_name.to_string(), msg)] };
    let echo = |msg: &Message| -> Option<Message> { msg.content().map(|c| msg.reply(Some(c), true)) };
    runtime().block_on(async move {
        let window = Arc::new(tokio::sync::Semaphore::new(window as usize));
        let start = Instant::now();
        // dispatcher: transport inbound → app inbound
        let (rx, tx) = (t_in.1.clone(), a_in.0.clone());
        tokio::spawn(async move {
            while let Ok(Payload::Message(m)) = rx.recv().await {
                for (_, m) in route_inbound(m) {
                    let _ = tx.send(m.into()).await;
                }
            }
        });
        // application
        let (rx, tx) = (a_in.1.clone(), a_out.0.clone());
        tokio::spawn(async move {
            while let Ok(Payload::Message(m)) = rx.recv().await {
                if let Some(r) = echo(&m) {
                    let _ = tx.send(r.into()).await;
                }
            }
        });
        // dispatcher: app outbound → transport outbound
        let (rx, tx) = (a_out.1.clone(), t_out.0.clone());
        tokio::spawn(async move {
            while let Ok(Payload::Message(m)) = rx.recv().await {
                for (_, m) in route_outbound(m) {
                    let _ = tx.send(m.into()).await;
                }
            }
        });
        // transport: generator and reply counter
        let (gen_tx, gen_window) = (t_in.0.clone(), window.clone());
        tokio::spawn(async move {
            for i in 0..messages {
                let Ok(p) = gen_window.acquire().await else { return };
                p.forget();
                let from = format!("user{}", i % 1000);
                let content = format!("ping {i}");
                let _ = gen_tx
                    .send(Message::new(&from, "loadgen", Some(&content), "bench", "loadgen").into())
                    .await;
            }
        });
        // Counted as `loadgen` counts: each reply names its message, kept in a bitset.
        let rx = t_out.1.clone();
        let answered = std::sync::Mutex::new(vec![0u64; messages.div_ceil(64) as usize]);
        let mut n = 0;
        while n < messages {
            let Ok(Payload::Message(reply)) = rx.recv().await else {
                break;
            };
            let Some(number) = reply_number(&reply, messages) else {
                continue;
            };
            let mut bits = answered.lock().expect("bitset");
            let (word, bit) = ((number / 64) as usize, 1u64 << (number % 64));
            if bits[word] & bit == 0 {
                bits[word] |= bit;
                window.add_permits(1);
                n += 1;
            }
        }
        start.elapsed()
    })
}

/// The number of the message a reply answers (`ping 17` → 17), as `loadgen` reads it.
fn reply_number(reply: &Message, messages: u64) -> Option<u64> {
    reply
        .content()
        .and_then(|c| c.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| *n < messages)
}

fn main() {
    if let Ok(mode) = std::env::var("RUVUMA_BENCH_CHILD") {
        let elapsed = match mode.as_str() {
            "plugins" => run_plugins(messages(), window()),
            _ => run_closures(messages(), window()),
        };
        return report(&mode, elapsed);
    }
    build_plugins();
    let runs = runs();
    println!(
        "round trips: {} messages per run, window {}, {runs} runs per path, alternating",
        messages(),
        window()
    );
    let modes = ["plugins", "closures"];
    let mut rates: [(Vec<f64>, Vec<f64>); 2] = Default::default();
    for _ in 0..runs {
        for (i, mode) in modes.iter().enumerate() {
            let (rate, rss) = run_child(mode);
            rates[i].0.push(rate);
            rates[i].1.push(rss);
        }
    }
    // Runs alternate, so each plugin run has a closure run beside it under the same conditions.
    let pair_ratios: Vec<f64> = rates[0].0.iter().zip(&rates[1].0).map(|(p, c)| p / c).collect();
    println!("{:<9} {:>14} {:>16}", "path", "round trips/s", "peak RSS (MiB)");
    for (i, mode) in modes.iter().enumerate() {
        println!(
            "{mode:<9} {:>14.0} {:>16.1}   (runs: {:?})",
            median(&rates[i].0),
            median(&rates[i].1) / 1024.0,
            rates[i].0.iter().map(|r| *r as u64).collect::<Vec<_>>()
        );
    }
    println!(
        "ratio plugins/closures: median of per-pair ratios {:.2} (pairs: {:?})",
        median(&pair_ratios),
        rounded(&pair_ratios)
    );
}
