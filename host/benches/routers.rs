//! Round trips per second through each router, in the same topology: the `loadgen` transport
//! plugin → dispatcher with the router → `echo` → router → `loadgen` (the transport-to-transport
//! router relays straight back, with no application). Runs alternate between routers, each in a
//! fresh child process; the cost of a router is the simple router's rate over its rate, from
//! runs side by side.
//!
//! `cargo bench -p ruvuma --bench routers` (env: BENCH_MESSAGES, BENCH_WINDOW, BENCH_RUNS).

mod common;

use common::*;

/// Each router's part of the topology (what follows `transport_names`/`exposed_names`).
const ROUTERS: &[(&str, &str)] = &[
    ("simple", "route_mappings: {bench: echo_app}"),
    ("to_addr", "toaddr_mappings: {echo_app: 'load'}"),
    ("from_addr_multiplex", "fromaddr_mappings: {loadgen: bench}"),
    ("user_grouping", "group_mappings: {group1: echo_app}"),
    ("content_keyword", "rules: [{app: echo_app, keyword: PING}]"),
    (
        "redirect",
        "redirect_inbound: {bench: echo_app}\n    redirect_outbound: {echo_app: bench}",
    ),
    ("load_balancing", "reply_affinity: true"), // with a second, idle transport: affinity at work
    (
        "routing_table",
        "routing_table: {bench: {default: [echo_app, default]}, echo_app: {default: [bench, default]}}",
    ),
    ("transport_to_transport", "route_mappings: {bench: bench}"),
];

fn topology(router: &str) -> String {
    let keys = ROUTERS
        .iter()
        .find(|(r, _)| *r == router)
        .map(|(_, k)| *k)
        .expect("known router");
    let relay = router == "transport_to_transport";
    let app = if relay {
        ""
    } else {
        "applications:\n  echo:\n    plugin: echo\n    endpoint: echo_app\n"
    };
    let exposed = if relay { "[]" } else { "[echo_app]" };
    format!(
        "{}{app}dispatchers:\n  main:\n    router_class: {router}\n    transport_names: [bench]\n    exposed_names: {exposed}\n    {keys}\n",
        loadgen(messages(), window())
    )
}

fn main() {
    if let Ok(router) = std::env::var("RUVUMA_BENCH_CHILD") {
        return report(&router, run_topology(&topology(&router)));
    }
    build_plugins();
    let runs = runs();
    println!(
        "round trips per router: {} messages per run, window {}, {runs} runs each, alternating",
        messages(),
        window()
    );
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); ROUTERS.len()];
    for _ in 0..runs {
        for (i, (router, _)) in ROUTERS.iter().enumerate() {
            rates[i].push(run_child(router).0);
        }
    }
    println!(
        "{:<24} {:>14} {:>22}",
        "router", "round trips/s", "cost vs simple (median)"
    );
    for (i, (router, _)) in ROUTERS.iter().enumerate() {
        // Within each round the routers ran one after another: compare run by run.
        let costs: Vec<f64> = rates[0]
            .iter()
            .zip(&rates[i])
            .map(|(simple, this)| simple / this)
            .collect();
        println!(
            "{router:<24} {:>14.0} {:>21.2}x   (costs: {:?})",
            median(&rates[i]),
            median(&costs),
            rounded(&costs)
        );
    }
}
