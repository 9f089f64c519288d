//! The operator's web server: pages readable without JavaScript, the JSON API under `/api/`
//! behind them, Prometheus `/metrics`, `/health` and `/ready`. Every route asks for the
//! configured credentials; every page and answer carries the `system_alias`.
//!
//! `server.rs` accepts connections within bounds, `auth.rs` checks who asks, `api.rs` answers
//! JSON, `pages.rs` renders HTML, `prometheus.rs` the metrics, `failures.rs` lists and replays
//! dead letters, `config_edit.rs` views, checks, saves and applies the config file, and
//! `config_page.rs` is its page.

mod api;
mod auth;
mod config_edit;
mod config_page;
mod failures;
mod pages;
mod prometheus;
mod server;
mod view;

use crate::bus::Bus;
use crate::compile::Plan;
use crate::config::AdminSpec;
use crate::events::Events;
use crate::plugins::Catalogue;
use crate::state::StateStore;
use crate::store::Store;
use axum::routing::{get, post};
use std::path::PathBuf;
use std::sync::Arc;

/// The largest request body taken (a config file is at most 1 MiB).
pub const MAX_BODY: usize = 1024 * 1024 + 4096;
/// Connections served at once; more are closed as they come.
pub const MAX_CONNECTIONS: usize = 256;

/// One configured component, as the pages list it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentInfo {
    pub kind: &'static str,
    pub name: String,
    pub plugin: String,
    /// The endpoint it consumes on (a dispatcher: its name).
    pub endpoint: String,
    /// Routing keys it consumes.
    pub queues: Vec<String>,
}

/// A plugin library the host loaded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LibraryInfo {
    pub path: String,
    pub name: String,
    pub version: String,
}

/// What the admin server reads: the running host's parts.
pub struct Admin {
    pub alias: String,
    pub config_path: PathBuf,
    pub extra_plugin_dirs: Vec<PathBuf>,
    pub bus: Arc<Bus>,
    pub state: Arc<StateStore>,
    pub store: Option<Arc<Store>>,
    pub events: Arc<Events>,
    /// What the running config is made of; a reload replaces it.
    pub shown: Arc<std::sync::RwLock<Arc<Shown>>>,
    /// Checks a config file as `ruvuma validate` does (given by the app, which prepares
    /// configs): every problem, or none.
    pub validate: Validate,
    /// This process's reloads.
    pub reloads: Arc<crate::reload::Reloads>,
    /// Where a reload is asked for (the host serves it).
    pub reload: tokio::sync::mpsc::Sender<ReloadAsk>,
}

/// The parts of the running config the pages show.
pub struct Shown {
    pub components: Vec<ComponentInfo>,
    pub libraries: Vec<LibraryInfo>,
    /// Transports whose being down makes `/ready` fail.
    pub required: Vec<String>,
    pub auth: Option<crate::config::AdminAuth>,
}

impl Shown {
    /// What the pages show of a plan and the libraries loaded for it.
    pub fn of(plan: &Plan, cat: &Catalogue) -> Self {
        let cfg = &plan.config;
        Self {
            components: components_of(plan),
            libraries: libraries_of(cat),
            required: cfg
                .transports
                .iter()
                .filter(|t| t.required)
                .map(|t| t.name.clone())
                .collect(),
            auth: cfg.admin.as_ref().and_then(|a| a.auth.clone()),
        }
    }
}

/// A reload asked for from the config page or the API, and where its report goes.
pub struct ReloadAsk {
    /// Whether a config that changes global keys restarts the whole process.
    pub full_restart: bool,
    pub reply: tokio::sync::oneshot::Sender<crate::reload::Report>,
}

impl Admin {
    /// The running config's parts, as of now.
    pub fn shown(&self) -> Arc<Shown> {
        self.shown.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Checks the config at a path, with the plugin folders given on the command line.
pub type Validate = fn(&std::path::Path, &[PathBuf]) -> Vec<crate::config::Problem>;

fn component(kind: &'static str, name: &str, plugin: &str, endpoint: &str, queues: Vec<String>) -> ComponentInfo {
    ComponentInfo {
        kind,
        name: name.to_owned(),
        plugin: plugin.to_owned(),
        endpoint: endpoint.to_owned(),
        queues,
    }
}

/// Every component of a plan, with the queues each consumes.
pub fn components_of(plan: &Plan) -> Vec<ComponentInfo> {
    let cfg = &plan.config;
    let mut out = Vec::new();
    for t in &cfg.transports {
        out.push(component(
            "transport",
            &t.name,
            &t.plugin,
            &t.name,
            vec![format!("{}.outbound", t.name)],
        ));
    }
    for a in &cfg.applications {
        let queues = vec![format!("{}.inbound", a.endpoint), format!("{}.event", a.endpoint)];
        out.push(component("application", &a.name, &a.plugin, &a.endpoint, queues));
    }
    for d in &cfg.dispatchers {
        let queues = d.queues().into_iter().map(|(flow, e)| format!("{e}.{flow}")).collect();
        out.push(component("dispatcher", &d.name, &d.router_class, &d.name, queues));
    }
    for o in &cfg.observers {
        out.push(component("observer", &o.name, &o.plugin, &o.name, Vec::new()));
    }
    for (owner, mws) in cfg
        .transports
        .iter()
        .chain(&cfg.applications)
        .map(|c| (&c.name, &c.middleware))
        .chain(cfg.dispatchers.iter().map(|d| (&d.name, &d.middleware)))
    {
        for m in mws {
            out.push(component(
                "middleware",
                &format!("{owner}.{}", m.name),
                &m.plugin,
                owner,
                Vec::new(),
            ));
        }
    }
    out
}

pub fn libraries_of(cat: &Catalogue) -> Vec<LibraryInfo> {
    cat.libraries
        .iter()
        .map(|l| LibraryInfo {
            path: l.path.display().to_string(),
            name: l.name.clone(),
            version: l.version.clone(),
        })
        .collect()
}

fn routes(admin: Arc<Admin>) -> axum::Router {
    axum::Router::new()
        .route("/", get(pages::overview))
        .route("/components", get(pages::components))
        .route("/messages", get(pages::messages))
        .route("/messages/{id}", get(pages::message))
        .route("/failures", get(pages::failures))
        .route("/failures/{id}/replay", post(pages::replay))
        .route("/failures/purge", post(pages::purge))
        .route("/config", get(config_page::config).post(config_page::config_save))
        .route("/logs", get(pages::logs))
        .route("/api/overview", get(api::overview))
        .route("/api/components", get(api::components))
        .route("/api/rates", get(api::rates))
        .route("/api/messages", get(api::messages))
        .route("/api/messages/{id}", get(api::message))
        .route("/api/failures", get(api::failures))
        .route("/api/failures/purge", post(api::purge))
        .route("/api/failures/{id}", get(api::failure))
        .route("/api/failures/{id}/replay", post(api::replay))
        .route("/api/config", get(api::config).put(api::config_save))
        .route("/api/config/validate", post(api::config_validate))
        .route("/api/config/apply", post(api::config_apply))
        .route("/api/logs", get(api::logs))
        .route("/api/observers", get(api::observers))
        .route("/metrics", get(prometheus::metrics))
        .route("/health", get(api::health))
        .route("/ready", get(api::ready))
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(admin.clone(), auth::check))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(admin)
}

/// Listens on the configured address and serves until `stop` turns true: the address bound,
/// and the server's task, which ends once its connections have finished answering.
pub async fn start(
    spec: &AdminSpec,
    admin: Arc<Admin>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>), String> {
    if spec.auth.is_none() {
        tracing::warn!(
            "admin: no auth configured; serving {} without credentials (allowed on a loopback address only)",
            spec.bind
        );
    }
    let listener = tokio::net::TcpListener::bind(spec.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", spec.bind))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let app = routes(admin);
    let task = tokio::spawn(server::run(listener, app, stop));
    tracing::info!("admin: serving http://{local}/");
    Ok((local, task))
}
