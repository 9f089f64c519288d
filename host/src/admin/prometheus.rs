//! `/metrics` in Prometheus's text format (0.0.4): counters per component, gauges of status,
//! queues and the store. Every label value comes from the config or a bounded set.

use super::{view, Admin};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;
use std::sync::Arc;

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Writes one metric family: its HELP and TYPE lines and its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", labels.join(","))
        };
        let _ = writeln!(self.out, "{name}{labels} {value}");
    }
}

/// The longest reload error shown as a label value.
const MAX_ERROR_LABEL: usize = 200;

/// `reloads_total` by result, and the last reload's outcome, error and time.
fn reloads(f: &mut Family<'_>, admin: &Admin) {
    let (applied, failed) = admin.reloads.totals();
    f.head(
        "ruvuma_reloads_total",
        "counter",
        "Config reloads asked for, by result (applied: in effect or nothing to change).",
    );
    f.sample("ruvuma_reloads_total", &[("result", "applied")], applied as f64);
    f.sample("ruvuma_reloads_total", &[("result", "failed")], failed as f64);
    let Some(last) = admin.reloads.last() else { return };
    f.head(
        "ruvuma_last_reload_info",
        "gauge",
        "The last reload: its outcome and error (empty when it went through).",
    );
    let error: String = last
        .error
        .as_deref()
        .unwrap_or("")
        .chars()
        .take(MAX_ERROR_LABEL)
        .collect();
    f.sample(
        "ruvuma_last_reload_info",
        &[("outcome", last.outcome.as_str()), ("error", &error)],
        1.0,
    );
    f.head(
        "ruvuma_last_reload_success",
        "gauge",
        "1 when the last reload went through, else 0.",
    );
    f.sample(
        "ruvuma_last_reload_success",
        &[],
        if last.error.is_none() { 1.0 } else { 0.0 },
    );
    f.head(
        "ruvuma_last_reload_timestamp_seconds",
        "gauge",
        "When the last reload was asked for (seconds since the epoch).",
    );
    f.sample("ruvuma_last_reload_timestamp_seconds", &[], last.at);
}

/// The whole exposition of a host.
pub async fn render(admin: &Admin) -> String {
    let depths = view::depths(admin).await.unwrap_or_default();
    let rows = view::components(admin, &depths);
    let mut out = String::with_capacity(4096 + rows.len() * 1024);
    let mut f = Family { out: &mut out };
    let m = &admin.events.metrics;
    f.head("ruvuma_build_info", "gauge", "The host's version and system alias.");
    f.sample(
        "ruvuma_build_info",
        &[("version", env!("CARGO_PKG_VERSION")), ("system_alias", &admin.alias)],
        1.0,
    );
    f.head("ruvuma_uptime_seconds", "gauge", "Seconds since the host started.");
    f.sample("ruvuma_uptime_seconds", &[], m.started.elapsed().as_secs_f64());
    reloads(&mut f, admin);

    type Read = fn(&crate::events::metrics::MeterView) -> u64;
    let counters: [(&str, &str, Read); 4] = [
        ("ruvuma_messages_in_total", "Messages into a component.", |v| {
            v.messages_in
        }),
        ("ruvuma_messages_out_total", "Messages out of a component.", |v| {
            v.messages_out
        }),
        ("ruvuma_acks_total", "Acks a transport published.", |v| v.acks),
        (
            "ruvuma_failures_total",
            "Messages a component gave up on (dead-lettered).",
            |v| v.failures,
        ),
    ];
    for (name, help, read) in counters {
        f.head(name, "counter", help);
        for r in &rows {
            if let Some(v) = &r.meter {
                f.sample(
                    name,
                    &[("component", &r.info.name), ("kind", r.info.kind)],
                    read(v) as f64,
                );
            }
        }
    }
    f.head(
        "ruvuma_nacks_total",
        "counter",
        "Nacks a transport published, by reason (SMPP status names).",
    );
    for r in rows.iter().filter(|r| r.info.kind == "transport") {
        for (reason, n) in r.meter.iter().flat_map(|v| v.nacks.iter()) {
            f.sample(
                "ruvuma_nacks_total",
                &[("component", &r.info.name), ("reason", reason)],
                *n as f64,
            );
        }
    }
    f.head(
        "ruvuma_delivery_reports_total",
        "counter",
        "Delivery reports a transport published, by status.",
    );
    for r in rows.iter().filter(|r| r.info.kind == "transport") {
        if let Some(v) = &r.meter {
            for (status, n) in [
                ("delivered", v.delivered),
                ("failed", v.undelivered),
                ("pending", v.pending),
            ] {
                let labels = [("component", r.info.name.as_str()), ("status", status)];
                f.sample("ruvuma_delivery_reports_total", &labels, n as f64);
            }
        }
    }
    status_gauges(&mut f, &rows);
    app_metrics(&mut f, &rows);
    queue_gauges(&mut f, &depths);
    store_and_observers(&mut f, admin);
    out
}

fn status_gauges(f: &mut Family<'_>, rows: &[view::ComponentRow]) {
    f.head(
        "ruvuma_component_status",
        "gauge",
        "1 for a component's current status (ok, degraded, down), 0 for the others; an SMPP transport's is its bind.",
    );
    for r in rows {
        for level in ["ok", "degraded", "down"] {
            let on = if r.status == level { 1.0 } else { 0.0 };
            f.sample(
                "ruvuma_component_status",
                &[("component", &r.info.name), ("status", level)],
                on,
            );
        }
    }
    f.head(
        "ruvuma_component_status_since_seconds",
        "gauge",
        "When a component's status last changed, in seconds since 1970.",
    );
    for r in rows {
        if let Some(s) = r.meter.as_ref().and_then(|m| m.status_report.as_ref()) {
            f.sample(
                "ruvuma_component_status_since_seconds",
                &[("component", &r.info.name)],
                s.since,
            );
        }
    }
}

/// Applications' own metrics (`metrics.fire`), since the host started: a sum, mean, least,
/// greatest or last value, by the aggregator the app named, and how many values it fired.
fn app_metrics(f: &mut Family<'_>, rows: &[view::ComponentRow]) {
    type Read = fn(&crate::events::app_metrics::AppMetric) -> f64;
    let families: [(&str, &str, &str, Read); 2] = [
        (
            "ruvuma_app_metric",
            "gauge",
            "An application's own metric (metrics.fire), aggregated since the host started as agg says.",
            |a| a.value,
        ),
        (
            "ruvuma_app_metric_fired_total",
            "counter",
            "Values an application fired for one of its metrics.",
            |a| a.count as f64,
        ),
    ];
    for (name, kind, help, read) in families {
        f.head(name, kind, help);
        for r in rows {
            for a in r.meter.iter().flat_map(|m| m.app_metrics.iter()) {
                let labels = [
                    ("component", r.info.name.as_str()),
                    ("metric", a.name.as_str()),
                    ("agg", a.agg.as_str()),
                ];
                f.sample(name, &labels, read(a));
            }
        }
    }
}

fn queue_gauges(f: &mut Family<'_>, depths: &[crate::bus::Depth]) {
    f.head(
        "ruvuma_queue_depth",
        "gauge",
        "Messages waiting on a queue this process consumes.",
    );
    for d in depths {
        f.sample("ruvuma_queue_depth", &[("queue", &d.key)], d.depth as f64);
    }
    f.head(
        "ruvuma_queue_oldest_age_seconds",
        "gauge",
        "How long the message at the head of a queue may have waited (an upper bound; memory bus only).",
    );
    for d in depths {
        if let Some(age) = d.oldest_age {
            f.sample("ruvuma_queue_oldest_age_seconds", &[("queue", &d.key)], age);
        }
    }
}

fn store_and_observers(f: &mut Family<'_>, admin: &Admin) {
    if let Some(store) = &admin.store {
        f.head("ruvuma_store_up", "gauge", "1 while the message store takes writes.");
        f.sample("ruvuma_store_up", &[], if store.health().is_down() { 0.0 } else { 1.0 });
        f.head(
            "ruvuma_store_pending_records",
            "gauge",
            "Records handed to the message store and not yet written (its lag).",
        );
        f.sample("ruvuma_store_pending_records", &[], store.pending() as f64);
        let (messages, events) = store.health().written_counts();
        f.head(
            "ruvuma_store_written_total",
            "counter",
            "Records the message store has written, by kind.",
        );
        f.sample("ruvuma_store_written_total", &[("record", "message")], messages as f64);
        f.sample("ruvuma_store_written_total", &[("record", "event")], events as f64);
    }
    let observers = admin.events.observers();
    f.head(
        "ruvuma_observer_queued",
        "gauge",
        "Events waiting in an observer's queue.",
    );
    for o in &observers {
        f.sample("ruvuma_observer_queued", &[("observer", &o.name)], o.queued as f64);
    }
    f.head(
        "ruvuma_observer_dropped_total",
        "counter",
        "Events an observer's full queue could not take.",
    );
    for o in &observers {
        f.sample(
            "ruvuma_observer_dropped_total",
            &[("observer", &o.name)],
            o.dropped as f64,
        );
    }
}

pub async fn metrics(State(admin): State<Arc<Admin>>) -> Response {
    let body = render(&admin).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}
