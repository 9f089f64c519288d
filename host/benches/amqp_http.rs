//! Sync HTTP over RabbitMQ with two transport processes: five release `ruvuma` processes on one
//! broker (two `http` transports in sync mode on two ports, a dispatcher, two echo
//! applications), loaded by two wrk runs at once, one per transport port. Every request is held
//! by the process it reached, and its reply comes back to that process through the instance's
//! reply queue. Requests/s (the two summed) and the p50/p99 wrk reports (the worse of the two),
//! with medians across runs.
//!
//! Needs RabbitMQ on 127.0.0.1:5672 and wrk. `cargo bench -p ruvuma --bench amqp_http`
//! (env: BENCH_CONNECTIONS per port (32), BENCH_SECONDS (10), BENCH_RUNS (3), BENCH_PREFETCH (100)).

mod common;

use common::{env_num, median, spawn_host, wrk};
use std::path::Path;
use std::process::Child;
use std::time::Duration;

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// The five processes; the two transport ports.
fn gateway(dir: &Path, id: &str, prefetch: u64) -> (Vec<Child>, [u16; 2]) {
    let bus = format!("bus: {{amqp: {{url: \"{URL}\", exchange: vumi, prefetch: {prefetch}}}}}\n");
    let app = format!("{bus}applications:\n  echo: {{plugin: echo, endpoint: app_{id}}}\n");
    let dispatcher = format!(
        "{bus}dispatchers:\n  main:\n    router_class: simple\n    transport_names: [web_{id}]\n    exposed_names: [app_{id}]\n    \
         route_mappings: {{web_{id}: app_{id}}}\n"
    );
    let ports = [free_port(), free_port()];
    let mut hosts = vec![
        spawn_host(dir, "app1", &app),
        spawn_host(dir, "app2", &app),
        spawn_host(dir, "dispatcher", &dispatcher),
    ];
    for (i, port) in ports.iter().enumerate() {
        let web = format!(
            "{bus}transports:\n  web_{id}:\n    plugin: http\n    config: {{bind: \"127.0.0.1:{port}\", mode: sync}}\n"
        );
        hosts.push(spawn_host(dir, &format!("web{i}"), &web));
    }
    for port in ports {
        wrk::wait_for_port(port);
    }
    std::thread::sleep(Duration::from_millis(1000));
    (hosts, ports)
}

fn main() {
    wrk::require();
    common::build_release(&["ruvuma", "ruvuma-http", "ruvuma-echo", "ruvuma-routers"]);
    let (connections, seconds) = (env_num("BENCH_CONNECTIONS", 32), env_num("BENCH_SECONDS", 10));
    let (runs, prefetch) = (env_num("BENCH_RUNS", 3), env_num("BENCH_PREFETCH", 100));
    let id = format!("{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("ruvuma-amqp-http-bench-{id}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (mut hosts, ports) = gateway(&dir, &id, prefetch);
    let script = wrk::post_script(&dir);
    println!(
        "sync HTTP over RabbitMQ, two transport processes: wrk -t1 -c{connections} -d{seconds}s on each port at once, \
         prefetch {prefetch}, {runs} runs"
    );
    // A first, unmeasured load: the processes' first deliveries (subscriptions, declares) are
    // not what is measured.
    let warm: Vec<Child> = ports
        .iter()
        .map(|p| wrk::spawn(&script, *p, 1, connections, 3))
        .collect();
    warm.into_iter().for_each(|w| drop(wrk::finish(w)));
    let (mut rates, mut p50s, mut p99s) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let loads: Vec<Child> = ports
            .iter()
            .map(|p| wrk::spawn(&script, *p, 1, connections, seconds))
            .collect();
        let results: Vec<wrk::Wrk> = loads.into_iter().map(wrk::finish).collect();
        let rate: f64 = results.iter().map(|w| w.rate).sum();
        let p50 = results.iter().map(|w| w.p50_ms).fold(0.0, f64::max);
        let p99 = results.iter().map(|w| w.p99_ms).fold(0.0, f64::max);
        let errors: Vec<&str> = results.iter().map(|w| w.errors.as_str()).collect();
        println!(
            "run {}: {rate:.0} requests/s ({:.0} + {:.0}), p50 {p50:.2} ms, p99 {p99:.2} ms, errors: {errors:?}",
            run + 1,
            results[0].rate,
            results[1].rate
        );
        rates.push(rate);
        p50s.push(p50);
        p99s.push(p99);
    }
    for h in &mut hosts {
        let _ = h.kill();
        let _ = h.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "median: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms",
        median(&rates),
        median(&p50s),
        median(&p99s)
    );
}
