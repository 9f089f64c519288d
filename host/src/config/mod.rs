//! Reading a YAML config into specs. Every problem is collected, not only the first, and each
//! names the file, line, component and key it is about. Every size, count and duration has a
//! range that is checked here.
//!
//! `problem.rs` finds lines, `yaml.rs` and `env.rs` read values, `reader.rs` checks them
//! against their ranges, and `sections.rs`, `components.rs` and `dispatcher.rs` read the
//! sections.

mod admin;
mod components;
mod dispatcher;
mod env;
mod problem;
mod reader;
mod retry;
mod sections;
mod store;
mod yaml;

pub use admin::{AdminAuth, AdminSpec, ObserverSpec};
pub use problem::{LineIndex, Problem};
pub use retry::RetrySpec;
pub use store::{Retention, StoreBackend, StoreSpec};

use reader::Reader;
use ruvuma_plugin_api::Flow;
use serde_json::{Map as JsonMap, Value as Json};
use serde_yaml_ng::{Mapping, Value as Yaml};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The keys the memory state store holds at most, unless `state: {memory: {max_keys}}` says.
pub const DEFAULT_STATE_KEYS: usize = 1_000_000;
/// The most `max_keys` may be.
pub const MAX_STATE_KEYS: u64 = 100_000_000;

/// The bounds on what a config may ask for.
pub struct Limits {
    /// The largest config file read.
    pub max_file_bytes: u64,
    /// Problems reported at most; the rest are counted.
    pub max_problems: usize,
    pub default_capacity: usize,
    pub max_capacity: u64,
    pub max_instances: u64,
    pub max_concurrency: u64,
    pub max_shutdown_timeout: Duration,
    /// Records the message store may hold in memory before publishers wait.
    pub default_store_buffer: u64,
    pub max_store_buffer: u64,
    /// The longest retention a store may be given.
    pub max_retention: Duration,
}

pub const LIMITS: Limits = Limits {
    max_file_bytes: 1024 * 1024,
    max_problems: 200,
    default_capacity: 1024,
    max_capacity: 1_000_000,
    max_instances: 1000,
    max_concurrency: 10_000,
    max_shutdown_timeout: Duration::from_secs(3600),
    default_store_buffer: 50_000,
    max_store_buffer: 1_000_000,
    max_retention: Duration::from_secs(100 * 365 * 86_400),
};

#[derive(Debug, Clone, PartialEq)]
pub enum BusSpec {
    Memory {
        capacity: usize,
    },
    /// RabbitMQ, Vumi's topology; several processes share it.
    Amqp {
        url: String,
        exchange: String,
        prefetch: u16,
    },
}

impl BusSpec {
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Amqp { .. })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StateSpec {
    /// At most `max_keys` keys at once (a new key past it is refused until some expire).
    Memory { max_keys: usize },
    /// Shared by every process that names the same server and prefix.
    Redis { url: String, key_prefix: String },
}

/// A transport or an application.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentSpec {
    pub name: String,
    pub plugin: String,
    /// The endpoint it publishes and consumes on (a transport's is its name).
    pub endpoint: String,
    pub config: Json,
    pub instances: usize,
    pub concurrency: usize,
    /// Whether the config set `concurrency:` (else the plugin may ask for more than one).
    pub concurrency_given: bool,
    pub middleware: Vec<MiddlewareSpec>,
    /// The prefix of its state-store keys (default: its name). Components that must see each
    /// other's state (an SMPP transmitter and receiver pair) give the same one.
    pub state_namespace: Option<String>,
    /// A transport whose being down makes the admin server's `/ready` fail.
    pub required: bool,
    /// A transport's policy for its temporary failures.
    pub retry: Option<RetrySpec>,
}

/// One entry of a component's `middleware:` list (Vumi's format).
#[derive(Debug, Clone, PartialEq)]
pub struct MiddlewareSpec {
    pub name: String,
    pub plugin: String,
    pub config: Json,
    pub consume_priority: i64,
    pub publish_priority: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DispatcherSpec {
    pub name: String,
    pub router_class: String,
    pub transport_names: Vec<String>,
    pub exposed_names: Vec<String>,
    /// Everything else under the dispatcher: the router's own config (Vumi keeps it beside).
    pub router_config: JsonMap<String, Json>,
    pub instances: usize,
    pub concurrency: usize,
    pub middleware: Vec<MiddlewareSpec>,
}

impl DispatcherSpec {
    /// The router's config: the dispatcher's own keys plus its endpoint lists, as Vumi passes
    /// them.
    pub fn router_config_json(&self) -> Json {
        let mut map = self.router_config.clone();
        map.insert("transport_names".into(), self.transport_names.clone().into());
        map.insert("exposed_names".into(), self.exposed_names.clone().into());
        Json::Object(map)
    }

    /// The queues it consumes: `.inbound` and `.event` of each transport, `.outbound` of each
    /// exposed endpoint.
    pub fn queues(&self) -> Vec<(Flow, String)> {
        let mut queues = Vec::new();
        for t in &self.transport_names {
            queues.push((Flow::Inbound, t.clone()));
            queues.push((Flow::Event, t.clone()));
        }
        for e in &self.exposed_names {
            queues.push((Flow::Outbound, e.clone()));
        }
        queues
    }
}

#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub system_alias: String,
    pub plugin_dirs: Vec<PathBuf>,
    pub bus: BusSpec,
    pub state: StateSpec,
    /// The message store (and the memory bus's journal), when the config asks for one.
    pub store: Option<StoreSpec>,
    /// The operator's web server (pages, `/api/`, `/metrics`, `/health`, `/ready`).
    pub admin: Option<AdminSpec>,
    /// Who is told of the host's events.
    pub observers: Vec<ObserverSpec>,
    pub shutdown_timeout: Duration,
    pub transports: Vec<ComponentSpec>,
    pub applications: Vec<ComponentSpec>,
    pub dispatchers: Vec<DispatcherSpec>,
    /// A Vumi dispatcher file (router_class at the top).
    pub vumi_dispatcher_file: bool,
    /// Where each key of the file is, to point later problems at their lines.
    pub lines: LineIndex,
    /// Keys a Vumi worker config may carry that ruvuma takes and does not use.
    pub unused_keys: Vec<String>,
}

impl ConfigFile {
    /// A problem about the key at `path` (`["transports", "telnet", "plugin"]`).
    pub fn problem(&self, path: &[&str], message: String) -> Problem {
        let path: Vec<&str> = if self.vumi_dispatcher_file && path.first() == Some(&"dispatchers") {
            path.iter().skip(2).copied().collect()
        } else {
            path.to_vec()
        };
        let file = self.path.display().to_string();
        match self.lines.line(&path) {
            Some(line) => Problem::new(format!("{file}:{line}"), message),
            None => Problem::new(file, message),
        }
    }

    /// An empty config of `path`, as a file with nothing in it would give.
    fn empty(path: &Path, lines: LineIndex, vumi_dispatcher_file: bool) -> Self {
        ConfigFile {
            path: path.to_path_buf(),
            system_alias: String::new(),
            plugin_dirs: Vec::new(),
            bus: BusSpec::Memory {
                capacity: LIMITS.default_capacity,
            },
            state: StateSpec::Memory {
                max_keys: DEFAULT_STATE_KEYS,
            },
            store: None,
            admin: None,
            observers: Vec::new(),
            shutdown_timeout: Duration::from_secs(30),
            transports: Vec::new(),
            applications: Vec::new(),
            dispatchers: Vec::new(),
            vumi_dispatcher_file,
            lines,
            unused_keys: Vec::new(),
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "system_alias",
    "plugin_dirs",
    "bus",
    "state",
    "store",
    "admin",
    "observers",
    "shutdown_timeout",
    "transports",
    "applications",
    "dispatchers",
];

/// Reads a config file of at most `LIMITS.max_file_bytes`.
pub fn read(path: &Path) -> Result<String, Problem> {
    let file = path.display().to_string();
    let cannot = |e: std::io::Error| Problem::new(file.clone(), format!("cannot read config: {e}"));
    let limit = LIMITS.max_file_bytes;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() as u64 > limit {
        return Err(Problem::new(file, format!("the config is larger than {limit} bytes")));
    }
    String::from_utf8(bytes).map_err(|e| Problem::new(file, format!("the config is not UTF-8 text: {e}")))
}

/// Reads and checks a config file's shape: the config, or every problem.
pub fn load(path: &Path) -> Result<ConfigFile, Vec<Problem>> {
    let text = read(path).map_err(|p| vec![p])?;
    parse(path, &text)
}

/// [`parse_all`], as a result.
pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, Vec<Problem>> {
    match parse_all(path, text) {
        (Some(cfg), problems) if problems.is_empty() => Ok(cfg),
        (_, problems) => Err(problems),
    }
}

/// The bad-YAML problem, at the line of a duplicate key when that is what is wrong.
fn bad_yaml(file: &str, lines: &LineIndex, e: &serde_yaml_ng::Error) -> Problem {
    let message = e.to_string();
    if let (true, Some((key, line))) = (message.contains("duplicate entry"), lines.duplicates.first()) {
        return Problem::new(
            format!("{file}:{line}"),
            format!("bad YAML: key {key:?} is given twice"),
        );
    }
    if message.contains("as u128") || message.contains("as i128") {
        let at = e
            .location()
            .map_or(file.to_owned(), |l| format!("{file}:{}:{}", l.line(), l.column()));
        return Problem::new(at, "bad YAML: a number is too large (at most 18446744073709551615)");
    }
    let location = match e.location() {
        Some(l) => format!("{file}:{}:{}", l.line(), l.column()),
        None => file.to_owned(),
    };
    Problem::new(location, format!("bad YAML: {message}"))
}

/// Reads a config's text: what could be read of it (when it is YAML at all), and every problem
/// found. Later passes run on what was read, so they can report their problems too.
pub fn parse_all(path: &Path, text: &str) -> (Option<ConfigFile>, Vec<Problem>) {
    let file = path.display().to_string();
    let lines = LineIndex::new(text);
    if let Some(line) = yaml::too_deep(text) {
        let message = format!("the config nests deeper than {} levels", yaml::MAX_DEPTH);
        return (None, vec![Problem::new(format!("{file}:{line}"), message)]);
    }
    let root: Yaml = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(e) => return (None, vec![bad_yaml(&file, &lines, &e)]),
    };
    let Yaml::Mapping(top) = root else {
        let found = yaml::kind(&root);
        return (
            None,
            vec![Problem::new(
                file,
                format!("the config must be a map of keys, found {found}"),
            )],
        );
    };
    let mut cfg = ConfigFile::empty(path, LineIndex::default(), top.contains_key("router_class"));
    let mut r = Reader {
        file,
        index: &lines,
        problems: Vec::new(),
    };
    if cfg.vumi_dispatcher_file {
        read_vumi_dispatcher_file(&mut r, &mut cfg, &top);
    } else {
        for (key, value) in yaml::entries(&top) {
            read_top_key(&mut r, &mut cfg, &key, value);
        }
    }
    let problems = r.problems;
    cfg.lines = lines;
    (Some(cfg), problems)
}

/// A Vumi dispatcher worker's file: the whole file is one dispatcher.
fn read_vumi_dispatcher_file(r: &mut Reader<'_>, cfg: &mut ConfigFile, top: &Mapping) {
    let stem = cfg.path.file_stem().and_then(|s| s.to_str());
    let default_name = stem.unwrap_or("dispatcher").to_lowercase();
    let name = match top.get("dispatcher_name") {
        Some(v) => r.string(&["dispatcher_name"], "dispatcher", v).unwrap_or(default_name),
        None => default_name,
    };
    let mut rest = top.clone();
    rest.remove("dispatcher_name");
    if let Some(d) = dispatcher::read_dispatcher(r, &[], &name, &rest, &mut cfg.unused_keys) {
        cfg.dispatchers.push(d);
    }
}

/// One key of a ruvuma config's top level.
fn read_top_key(r: &mut Reader<'_>, cfg: &mut ConfigFile, key: &str, value: &Yaml) {
    match key {
        "system_alias" => cfg.system_alias = r.string(&["system_alias"], "config", value).unwrap_or_default(),
        "plugin_dirs" => {
            let dirs = r.names(&["plugin_dirs"], "config", value);
            cfg.plugin_dirs = dirs.into_iter().map(PathBuf::from).collect()
        }
        "bus" => cfg.bus = sections::read_bus(r, value),
        "state" => cfg.state = sections::read_state(r, value),
        "store" => cfg.store = store::read_store(r, value),
        "admin" => cfg.admin = admin::read_admin(r, value),
        "observers" => cfg.observers = admin::read_observers(r, value),
        "shutdown_timeout" => {
            let max = LIMITS.max_shutdown_timeout;
            if let Some(d) = r.duration(&["shutdown_timeout"], "config", value, max) {
                cfg.shutdown_timeout = d;
            }
        }
        "transports" | "applications" => {
            for (name, spec) in section_entries(r, key, value, "components") {
                if let Some(c) = components::read_component(r, key, &name, spec) {
                    if key == "transports" {
                        cfg.transports.push(c);
                    } else {
                        cfg.applications.push(c);
                    }
                }
            }
        }
        "dispatchers" => {
            for (name, spec) in section_entries(r, key, value, "dispatchers") {
                let Yaml::Mapping(m) = spec else {
                    let found = yaml::kind(spec);
                    r.problem(&["dispatchers", &name], format!(
                        "dispatcher {name:?}: expected a map with router_class, transport_names and exposed_names, found {found}"
                    ));
                    continue;
                };
                let base = ["dispatchers", name.as_str()];
                if let Some(d) = dispatcher::read_dispatcher(r, &base, &name, m, &mut cfg.unused_keys) {
                    cfg.dispatchers.push(d);
                }
            }
        }
        other => r.problem(
            &[other],
            format!("config: unknown key {other:?}; known keys: {}", TOP_KEYS.join(", ")),
        ),
    }
}

/// The named entries of a section (`transports: {name: ...}`); empty when it is not a map.
fn section_entries<'v>(r: &mut Reader<'_>, key: &str, value: &'v Yaml, what: &str) -> Vec<(String, &'v Yaml)> {
    match value {
        Yaml::Mapping(items) => yaml::entries(items).collect(),
        Yaml::Null => Vec::new(),
        other => {
            let found = yaml::kind(other);
            r.problem(
                &[key],
                format!("config: key {key:?}: expected a map of names to {what}, found {found}"),
            );
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests;
