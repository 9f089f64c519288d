//! The test SMSC in a process of its own, for benchmarks.
//!
//! `smsc-sim [--receipts] [--receipt-delay-ms MS] [--system-id ID] [--password PW]` prints `port <n>`, then reads commands
//! on stdin, one a line: `count` prints the number of submit_sm received; `bound` prints the
//! number of bound sessions; `blast <count> <window>` sends that many MO deliver_sm and prints
//! `done <answered OK>` (or `error <why>`); `quit` (or the end of stdin) exits.

use std::io::{BufRead, Write};

use ruvuma_tests::smsc::{Smsc, SmscConfig};

fn main() {
    let mut config = SmscConfig {
        record: false,
        receipts: false,
        ..Default::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--receipts" => config.receipts = true,
            "--receipt-delay-ms" => {
                let ms = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--receipt-delay-ms needs a number");
                config.receipt_delay = std::time::Duration::from_millis(ms);
            }
            "--system-id" => config.system_id = args.next().expect("--system-id needs a value"),
            "--password" => config.password = args.next().expect("--password needs a value"),
            other => {
                eprintln!("smsc-sim: unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let smsc = Smsc::start(config);
    let mut out = std::io::stdout();
    let mut say = |line: String| {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    say(format!("port {}", smsc.port()));
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["count"] => say(smsc.submit_count().to_string()),
            ["bound"] => say(smsc.bound_sessions().to_string()),
            ["blast", count, window] => match (count.parse(), window.parse()) {
                (Ok(count), Ok(window)) => {
                    match smsc.blast_deliver_sm(count, window, "447700900123", "12345", "load test") {
                        Ok(ok) => say(format!("done {ok}")),
                        Err(e) => say(format!("error {e}")),
                    }
                }
                _ => say("error usage: blast <count> <window>".into()),
            },
            ["quit"] => break,
            [] => {}
            _ => say(format!("error unknown command {line:?}")),
        }
    }
}
