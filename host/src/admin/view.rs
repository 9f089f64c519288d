//! What the pages, the API and `/metrics` show, gathered once from the running host.

use super::{Admin, ComponentInfo};
use crate::bus::Depth;
use crate::events::metrics::{unix_now, MeterView};
use serde_json::{json, Value as Json};

/// One component with its figures and the queues it consumes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentRow {
    #[serde(flatten)]
    pub info: ComponentInfo,
    /// ok, degraded or down: its last status report's, else ok.
    pub status: String,
    #[serde(flatten)]
    pub meter: Option<MeterView>,
    /// Messages waiting on the queues it consumes.
    pub queue_depth: u64,
    /// Seconds the oldest of them may have waited (an upper bound); none where unknown.
    pub oldest_age: Option<f64>,
}

/// The host's parts and their state.
pub fn overview(admin: &Admin) -> Json {
    let metrics = &admin.events.metrics;
    let store = admin.store.as_ref().map(|s| {
        let h = s.health();
        json!({
            "name": s.name(),
            "down": h.is_down(),
            "last_error": h.last_error(),
            "pending_records": s.pending(),
        })
    });
    json!({
        "system_alias": admin.alias,
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": metrics.started_unix,
        "uptime_seconds": metrics.started.elapsed().as_secs_f64(),
        "config_file": admin.config_path.display().to_string(),
        "bus": admin.bus.kind(),
        "state": admin.state.kind(),
        "store": store,
        "plugin_libraries": admin.shown().libraries,
        "observers": admin.events.observers(),
        "reloads": {
            "applied": admin.reloads.totals().0,
            "failed": admin.reloads.totals().1,
            "last": admin.reloads.last(),
        },
        "now": unix_now(),
    })
}

/// Every queue this process consumes, or why the bus could not say.
pub async fn depths(admin: &Admin) -> Result<Vec<Depth>, String> {
    admin.bus.depths().await.map_err(|e| e.to_string())
}

/// Every component, with its status, figures and queues.
pub fn components(admin: &Admin, depths: &[Depth]) -> Vec<ComponentRow> {
    let meters = admin.events.metrics.meters();
    admin
        .shown()
        .components
        .iter()
        .map(|info| {
            let meter = meters
                .iter()
                .find(|m| m.name == info.name && crate::events::metrics::kind_name(m.kind) == info.kind)
                .map(|m| m.view());
            let status = meter
                .as_ref()
                .and_then(|m| m.status_report.as_ref())
                .map_or("ok".to_owned(), |s| s.level.clone());
            let mine: Vec<&Depth> = depths.iter().filter(|d| info.queues.contains(&d.key)).collect();
            let oldest_age = mine.iter().filter_map(|d| d.oldest_age).reduce(f64::max);
            ComponentRow {
                info: info.clone(),
                status,
                meter,
                queue_depth: mine.iter().map(|d| d.depth).sum(),
                oldest_age,
            }
        })
        .collect()
}

/// What keeps the host from being ready: the bus, the state store, the message store, a
/// required transport. Empty when it is ready.
pub async fn not_ready(admin: &Admin) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = admin.bus.depths().await {
        problems.push(format!("bus ({}): {e}", admin.bus.kind()));
    }
    if let Err(e) = admin.state.ping().await {
        problems.push(format!("state store ({}): {e}", admin.state.kind()));
    }
    if let Some(store) = &admin.store {
        if store.health().is_down() {
            let why = store.health().last_error().unwrap_or_default();
            problems.push(format!("message store {}: down: {why}", store.name()));
        }
    }
    for name in &admin.shown().required {
        let status = admin.events.metrics.find(name).and_then(|m| m.status());
        match status {
            Some(s) if s.level == "ok" => {}
            Some(s) => problems.push(format!("transport {name:?} is {}: {}", s.level, s.message)),
            None => problems.push(format!("transport {name:?} has reported no status yet")),
        }
    }
    problems
}
