//! Reading a YAML config into component specs. Every problem is collected, not only the first,
//! and each names the file, line, component and key it is about.

use ruvuma_plugin_api::Flow;
use serde_json::{Map as JsonMap, Value as Json};
use serde_yaml_ng::{Mapping, Value as Yaml};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One thing wrong with a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `file:line`, when known.
    pub location: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

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
    Memory,
    /// Shared by every process that names the same server and prefix.
    Redis {
        url: String,
        key_prefix: String,
    },
}

/// A transport or an application.
#[derive(Debug, Clone)]
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
}

/// One entry of a component's `middleware:` list (Vumi's format).
#[derive(Debug, Clone)]
pub struct MiddlewareSpec {
    pub name: String,
    pub plugin: String,
    pub config: Json,
    pub consume_priority: i64,
    pub publish_priority: i64,
}

#[derive(Debug, Clone)]
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
    pub shutdown_timeout: Duration,
    pub transports: Vec<ComponentSpec>,
    pub applications: Vec<ComponentSpec>,
    pub dispatchers: Vec<DispatcherSpec>,
    /// A Vumi dispatcher file (router_class at the top).
    pub vumi_dispatcher_file: bool,
    /// The file's text, to point later problems at their lines.
    pub source: String,
    /// Keys a Vumi worker config may carry that ruvuma takes and does not use.
    pub unused_keys: Vec<String>,
}

impl ConfigFile {
    /// A problem about the key at `path` (`["transports", "telnet", "plugin"]`).
    pub fn problem(&self, path: &[&str], message: String) -> Problem {
        let lines = Lines {
            file: self.path.display().to_string(),
            text: &self.source,
        };
        let path: Vec<&str> = if self.vumi_dispatcher_file && path.first() == Some(&"dispatchers") {
            path.iter().skip(2).copied().collect()
        } else {
            path.to_vec()
        };
        Problem {
            location: lines.at(&path).or_else(|| Some(lines.file.clone())),
            message,
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "system_alias",
    "plugin_dirs",
    "bus",
    "state",
    "shutdown_timeout",
    "transports",
    "applications",
    "dispatchers",
];

/// Finds the line a key path sits on, by indentation (good enough for error messages).
struct Lines<'a> {
    file: String,
    text: &'a str,
}

impl Lines<'_> {
    fn find(&self, path: &[&str]) -> Option<usize> {
        let mut from = 0;
        let mut min_indent = 0;
        let mut found = None;
        let lines: Vec<&str> = self.text.lines().collect();
        for key in path {
            let mut hit = None;
            for (i, line) in lines.iter().enumerate().skip(from) {
                let trimmed = line.trim_start();
                let indent = line.len() - trimmed.len();
                if found.is_some() && indent < min_indent && !trimmed.is_empty() && !trimmed.starts_with('#') {
                    break;
                }
                let bare = trimmed.trim_start_matches("- ");
                let quoted = [format!("{key}:"), format!("\"{key}\":"), format!("'{key}':")];
                if quoted.iter().any(|q| bare.starts_with(q.as_str())) {
                    hit = Some((i, indent));
                    break;
                }
            }
            // A key inside a flow map ({a: 1}) is not on a line of its own: stay at the parent.
            let Some((i, indent)) = hit else { return found };
            found = Some(i + 1);
            from = i + 1;
            min_indent = indent + 1;
        }
        found
    }

    fn at(&self, path: &[&str]) -> Option<String> {
        self.find(path).map(|line| format!("{}:{line}", self.file))
    }
}

struct Reader<'a> {
    lines: Lines<'a>,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    fn problem(&mut self, path: &[&str], message: String) {
        let location = self.lines.at(path).or_else(|| Some(self.lines.file.clone()));
        self.problems.push(Problem { location, message });
    }

    fn string(&mut self, path: &[&str], subject: &str, value: &Yaml) -> Option<String> {
        match value {
            Yaml::String(s) => Some(s.clone()),
            Yaml::Number(n) => Some(n.to_string()),
            other => {
                let key = path.last().copied().unwrap_or("");
                self.problem(
                    path,
                    format!("{subject}: key {key:?}: expected a string, found {}", yaml_kind(other)),
                );
                None
            }
        }
    }

    fn names(&mut self, path: &[&str], subject: &str, value: &Yaml) -> Vec<String> {
        let key = path.last().copied().unwrap_or("");
        match value {
            Yaml::Sequence(items) => items
                .iter()
                .filter_map(|v| match v {
                    Yaml::String(s) => Some(s.clone()),
                    other => {
                        self.problem(
                            path,
                            format!("{subject}: key {key:?}: expected names, found {}", yaml_kind(other)),
                        );
                        None
                    }
                })
                .collect(),
            Yaml::String(s) => vec![s.clone()],
            other => {
                self.problem(
                    path,
                    format!(
                        "{subject}: key {key:?}: expected a list of names, found {}",
                        yaml_kind(other)
                    ),
                );
                Vec::new()
            }
        }
    }

    fn count(&mut self, path: &[&str], subject: &str, value: Option<&Yaml>) -> usize {
        let key = path.last().copied().unwrap_or("");
        match value {
            None => 1,
            Some(Yaml::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => n.as_u64().unwrap_or(1) as usize,
            Some(other) => {
                self.problem(
                    path,
                    format!(
                        "{subject}: key {key:?}: expected a whole number of at least 1, found {}",
                        yaml_text(other)
                    ),
                );
                1
            }
        }
    }

    fn json(&mut self, path: &[&str], subject: &str, value: &Yaml) -> Json {
        match yaml_to_json(value, &mut Vec::new()) {
            Ok(j) => j,
            Err(e) => {
                self.problem(path, format!("{subject}: {e}"));
                Json::Null
            }
        }
    }
}

fn yaml_kind(v: &Yaml) -> &'static str {
    match v {
        Yaml::Null => "nothing",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a map",
        Yaml::Tagged(_) => "a tagged value",
    }
}

fn yaml_text(v: &Yaml) -> String {
    serde_yaml_ng::to_string(v)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| yaml_kind(v).to_owned())
}

/// `${VAR}` and `${VAR:-default}` in a string value read the environment.
fn expand_env(text: &str, key_path: &[String]) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("key {:?}: unclosed \"${{\" in {text:?}", key_path.join(".")));
        };
        let spec = &after[..end];
        let (var, default) = match spec.split_once(":-") {
            Some((v, d)) => (v, Some(d)),
            None => (spec, None),
        };
        match (std::env::var(var), default) {
            (Ok(v), _) => out.push_str(&v),
            (Err(_), Some(d)) => out.push_str(d),
            (Err(_), None) => {
                return Err(format!(
                    "key {:?}: environment variable {var} is not set (write ${{{var}:-default}} for a default)",
                    key_path.join(".")
                ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn yaml_to_json(v: &Yaml, path: &mut Vec<String>) -> Result<Json, String> {
    Ok(match v {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Json::Number)
                    .unwrap_or(Json::Null)
            }
        }
        Yaml::String(s) => Json::String(expand_env(s, path)?),
        Yaml::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                out.push(yaml_to_json(item, path)?);
                path.pop();
            }
            Json::Array(out)
        }
        Yaml::Mapping(map) => {
            let mut out = JsonMap::new();
            for (k, item) in map {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    other => {
                        return Err(format!(
                            "key {:?}: map keys must be text, found {}",
                            path.join("."),
                            yaml_kind(other)
                        ))
                    }
                };
                path.push(key.clone());
                out.insert(key, yaml_to_json(item, path)?);
                path.pop();
            }
            Json::Object(out)
        }
        Yaml::Tagged(t) => yaml_to_json(&t.value, path)?,
    })
}

fn entries(map: &Mapping) -> impl Iterator<Item = (String, &Yaml)> {
    map.iter().map(|(k, v)| (yaml_key(k), v))
}

fn yaml_key(k: &Yaml) -> String {
    match k {
        Yaml::String(s) => s.clone(),
        other => yaml_text(other),
    }
}

fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" | "min" => n * 60.0,
        _ => return None,
    };
    (secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Reads and checks a config file's shape. Cross-references and plugin configs are checked by
/// the compiler; this stage only needs the file.
pub fn load(path: &Path) -> Result<ConfigFile, Vec<Problem>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Problem {
            location: Some(file.clone()),
            message: format!("cannot read config: {e}"),
        }]
    })?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, Vec<Problem>> {
    let file = path.display().to_string();
    let root: Yaml = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let location = match e.location() {
                Some(l) => format!("{file}:{}:{}", l.line(), l.column()),
                None => file.clone(),
            };
            return Err(vec![Problem {
                location: Some(location),
                message: format!("bad YAML: {e}"),
            }]);
        }
    };
    let mut r = Reader {
        lines: Lines {
            file: file.clone(),
            text,
        },
        problems: Vec::new(),
    };
    let Yaml::Mapping(top) = root else {
        return Err(vec![Problem {
            location: Some(file),
            message: format!("the config must be a map of keys, found {}", yaml_kind(&root)),
        }]);
    };
    let mut cfg = ConfigFile {
        path: path.to_path_buf(),
        system_alias: String::new(),
        plugin_dirs: Vec::new(),
        bus: BusSpec::Memory { capacity: 1024 },
        state: StateSpec::Memory,
        shutdown_timeout: Duration::from_secs(30),
        transports: Vec::new(),
        applications: Vec::new(),
        dispatchers: Vec::new(),
        vumi_dispatcher_file: top.contains_key("router_class"),
        source: text.to_owned(),
        unused_keys: Vec::new(),
    };

    if cfg.vumi_dispatcher_file {
        // A Vumi dispatcher worker's file: the whole file is one dispatcher.
        let default_name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("dispatcher")
            .to_lowercase();
        let name = match top.get("dispatcher_name") {
            Some(v) => r.string(&["dispatcher_name"], "dispatcher", v).unwrap_or(default_name),
            None => default_name,
        };
        let mut rest = top.clone();
        rest.remove("dispatcher_name");
        if let Some(d) = read_dispatcher(&mut r, &[], &name, &rest) {
            cfg.dispatchers.push(d);
        }
        return finish(cfg, r.problems);
    }

    for (key, value) in entries(&top) {
        match key.as_str() {
            "system_alias" => cfg.system_alias = r.string(&["system_alias"], "config", value).unwrap_or_default(),
            "plugin_dirs" => {
                cfg.plugin_dirs = r
                    .names(&["plugin_dirs"], "config", value)
                    .into_iter()
                    .map(PathBuf::from)
                    .collect()
            }
            "bus" => cfg.bus = read_bus(&mut r, value),
            "state" => cfg.state = read_state(&mut r, value),
            "shutdown_timeout" => match value {
                Yaml::Number(n) if n.as_f64().is_some_and(|f| f >= 0.0) => {
                    cfg.shutdown_timeout = Duration::from_secs_f64(n.as_f64().unwrap_or(30.0))
                }
                Yaml::String(s) if parse_duration(s).is_some() => {
                    cfg.shutdown_timeout = parse_duration(s).unwrap_or_default()
                }
                other => r.problem(
                    &["shutdown_timeout"],
                    format!(
                        "config: key \"shutdown_timeout\": expected seconds or a duration like \"30s\", found {}",
                        yaml_text(other)
                    ),
                ),
            },
            "transports" | "applications" => {
                let is_transport = key == "transports";
                let Yaml::Mapping(items) = value else {
                    if !value.is_null() {
                        r.problem(
                            &[&key],
                            format!(
                                "config: key {key:?}: expected a map of names to components, found {}",
                                yaml_kind(value)
                            ),
                        );
                    }
                    continue;
                };
                for (name, spec) in entries(items) {
                    if let Some(c) = read_component(&mut r, &key, &name, spec, is_transport) {
                        if is_transport {
                            cfg.transports.push(c);
                        } else {
                            cfg.applications.push(c);
                        }
                    }
                }
            }
            "dispatchers" => {
                let Yaml::Mapping(items) = value else {
                    if !value.is_null() {
                        r.problem(
                            &["dispatchers"],
                            format!(
                                "config: key \"dispatchers\": expected a map of names to dispatchers, found {}",
                                yaml_kind(value)
                            ),
                        );
                    }
                    continue;
                };
                for (name, spec) in entries(items) {
                    match spec {
                        Yaml::Mapping(m) => {
                            if let Some(d) = read_dispatcher(&mut r, &["dispatchers", &name], &name, m) {
                                cfg.dispatchers.push(d);
                            }
                        }
                        other => r.problem(&["dispatchers", &name], format!(
                            "dispatcher {name:?}: expected a map with router_class, transport_names and exposed_names, found {}",
                            yaml_kind(other)
                        )),
                    }
                }
            }
            other => r.problem(
                &[other],
                format!("config: unknown key {other:?}; known keys: {}", TOP_KEYS.join(", ")),
            ),
        }
    }
    finish(cfg, r.problems)
}

fn finish(cfg: ConfigFile, problems: Vec<Problem>) -> Result<ConfigFile, Vec<Problem>> {
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(problems)
    }
}

/// `memory`, `redis`, or `{redis: {url: ..., key_prefix: ...}}`.
fn read_state(r: &mut Reader<'_>, value: &Yaml) -> StateSpec {
    const URL: &str = "redis://127.0.0.1:6379";
    let redis = |url: &str, prefix: &str| StateSpec::Redis {
        url: url.to_owned(),
        key_prefix: prefix.to_owned(),
    };
    match value {
        Yaml::String(s) if s == "memory" => StateSpec::Memory,
        Yaml::String(s) if s == "redis" => redis(URL, "ruvuma"),
        Yaml::Mapping(m) if m.len() == 1 && m.contains_key("memory") => StateSpec::Memory,
        Yaml::Mapping(m) if m.len() == 1 && m.contains_key("redis") => {
            let mut out = redis(URL, "ruvuma");
            if let Some(Yaml::Mapping(opts)) = m.get("redis") {
                for (k, v) in entries(opts) {
                    let text = match yaml_to_json(v, &mut vec!["state".into(), "redis".into(), k.clone()]) {
                        Ok(serde_json::Value::String(t)) => t,
                        Ok(other) => {
                            r.problem(
                                &["state", k.as_str()],
                                format!("config: key \"state.redis.{k}\": expected text, found {other}"),
                            );
                            continue;
                        }
                        Err(e) => {
                            r.problem(&["state", k.as_str()], format!("config: {e}"));
                            continue;
                        }
                    };
                    match (&mut out, k.as_str()) {
                        (StateSpec::Redis { url, .. }, "url") => *url = text,
                        (StateSpec::Redis { key_prefix, .. }, "key_prefix") => *key_prefix = text,
                        (_, other) => r.problem(
                            &["state", other],
                            format!("config: key \"state.redis\": unknown key {other:?}; known keys: url, key_prefix"),
                        ),
                    }
                }
            }
            out
        }
        other => {
            r.problem(
                &["state"],
                format!(
                    "config: key \"state\": {} is not a state store this host has; use \"memory\" or {{redis: {{url: ...}}}}",
                    yaml_text(other)
                ),
            );
            StateSpec::Memory
        }
    }
}

fn read_bus(r: &mut Reader<'_>, value: &Yaml) -> BusSpec {
    let default = BusSpec::Memory { capacity: 1024 };
    let (kind, opts) = match value {
        Yaml::String(s) => (s.clone(), None),
        Yaml::Mapping(m) if m.len() == 1 => match m.iter().next() {
            Some((k, v)) => (yaml_key(k), Some(v)),
            None => (String::new(), None),
        },
        other => {
            r.problem(
                &["bus"],
                format!(
                    "config: key \"bus\": expected \"memory\" or {{memory: {{capacity: N}}}}, found {}",
                    yaml_text(other)
                ),
            );
            return default;
        }
    };
    match kind.as_str() {
        "memory" => {
            let mut capacity = 1024;
            if let Some(Yaml::Mapping(m)) = opts {
                for (k, v) in entries(m) {
                    match (k.as_str(), v) {
                        ("capacity", Yaml::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => {
                            capacity = n.as_u64().unwrap_or(1024) as usize
                        }
                        ("capacity", other) => r.problem(
                            &["bus", "capacity"],
                            format!(
                                "config: key \"bus.memory.capacity\": expected a whole number of at least 1, found {}",
                                yaml_text(other)
                            ),
                        ),
                        (other, _) => r.problem(
                            &["bus", other],
                            format!("config: key \"bus.memory\": unknown key {other:?}; known keys: capacity"),
                        ),
                    }
                }
            }
            BusSpec::Memory { capacity }
        }
        "amqp" => {
            let (mut url, mut exchange, mut prefetch) = (
                "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
                "vumi".to_owned(),
                20u16,
            );
            if let Some(Yaml::Mapping(m)) = opts {
                for (k, v) in entries(m) {
                    let text = yaml_to_json(v, &mut vec!["bus".into(), "amqp".into(), k.clone()]);
                    match (k.as_str(), text) {
                        ("url", Ok(serde_json::Value::String(t))) => url = t,
                        ("exchange", Ok(serde_json::Value::String(t))) => exchange = t,
                        ("prefetch", Ok(serde_json::Value::Number(n)))
                            if n.as_u64().is_some_and(|n| (1..=65535).contains(&n)) =>
                        {
                            prefetch = n.as_u64().unwrap_or(20) as u16
                        }
                        (key @ ("url" | "exchange" | "prefetch"), _) => r.problem(
                            &["bus", key],
                            format!(
                                "config: key \"bus.amqp.{key}\": expected {}",
                                if key == "prefetch" {
                                    "a number from 1 to 65535"
                                } else {
                                    "text"
                                }
                            ),
                        ),
                        (other, _) => r.problem(
                            &["bus", other],
                            format!(
                                "config: key \"bus.amqp\": unknown key {other:?}; known keys: url, exchange, prefetch"
                            ),
                        ),
                    }
                }
            }
            BusSpec::Amqp {
                url,
                exchange,
                prefetch,
            }
        }
        other => {
            r.problem(
                &["bus"],
                format!("config: key \"bus\": {other:?} is not a bus this host has; use \"memory\" or \"amqp\""),
            );
            default
        }
    }
}

fn read_component(
    r: &mut Reader<'_>,
    section: &str,
    name: &str,
    spec: &Yaml,
    is_transport: bool,
) -> Option<ComponentSpec> {
    let kind = if is_transport { "transport" } else { "application" };
    let subject = format!("{kind} {name:?}");
    let Yaml::Mapping(map) = spec else {
        r.problem(
            &[section, name],
            format!(
                "{subject}: expected a map with at least a \"plugin\" key, found {}",
                yaml_kind(spec)
            ),
        );
        return None;
    };
    let mut out = ComponentSpec {
        name: name.to_owned(),
        plugin: String::new(),
        endpoint: name.to_owned(),
        config: Json::Object(JsonMap::new()),
        instances: 1,
        concurrency: 1,
        concurrency_given: false,
        middleware: Vec::new(),
        state_namespace: None,
    };
    if let Some(list) = map.get("middleware") {
        out.middleware = read_middleware(r, &[section, name, "middleware"], &subject, list);
    }
    let known: &[&str] = if is_transport {
        &["plugin", "config", "instances", "concurrency", "state_namespace"]
    } else {
        &[
            "plugin",
            "endpoint",
            "config",
            "instances",
            "concurrency",
            "state_namespace",
        ]
    };
    for (key, value) in entries(map) {
        let path = [section, name, key.as_str()];
        match key.as_str() {
            "plugin" => out.plugin = r.string(&path, &subject, value).unwrap_or_default(),
            "endpoint" if !is_transport => out.endpoint = r.string(&path, &subject, value).unwrap_or_default(),
            "config" => {
                out.config = match value {
                    Yaml::Null => Json::Object(JsonMap::new()),
                    Yaml::Mapping(_) => r.json(&path, &subject, value),
                    other => {
                        r.problem(
                            &path,
                            format!("{subject}: key \"config\": expected a map, found {}", yaml_kind(other)),
                        );
                        Json::Null
                    }
                }
            }
            "instances" => out.instances = r.count(&path, &subject, Some(value)),
            "concurrency" => {
                out.concurrency = r.count(&path, &subject, Some(value));
                out.concurrency_given = true;
            }
            "state_namespace" => out.state_namespace = r.string(&path, &subject, value),
            "middleware" => {}
            other if out.middleware.iter().any(|m| m.name == other) => {
                let config = r.json(&path, &subject, value);
                set_middleware_config(&mut out.middleware, other, config);
            }
            other => r.problem(
                &path,
                format!(
                    "{subject}: unknown key {other:?}; known keys: {}, middleware",
                    known.join(", ")
                ),
            ),
        }
    }
    if out.plugin.is_empty() {
        r.problem(
            &[section, name],
            format!("{subject}: key \"plugin\" is missing (the plugin component to run, e.g. telnet)"),
        );
        return None;
    }
    Some(out)
}

fn set_middleware_config(list: &mut [MiddlewareSpec], name: &str, config: Json) {
    for m in list.iter_mut().filter(|m| m.name == name) {
        m.config = config.clone();
    }
}

/// Vumi's middleware list: `- name: plugin`, or `- name: {class: plugin, consume_priority: 1,
/// publish_priority: -1}`; a bare `- plugin` is named after its plugin. A middleware's config is
/// the key of its name beside the list, or `config:` in its entry.
fn read_middleware(r: &mut Reader<'_>, path: &[&str], subject: &str, value: &Yaml) -> Vec<MiddlewareSpec> {
    let Yaml::Sequence(items) = value else {
        r.problem(
            path,
            format!(
                "{subject}: key \"middleware\": expected a list, found {}",
                yaml_kind(value)
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let what = format!("{subject}: key \"middleware.{i}\"");
        let spec = |name: &str, plugin: &str| MiddlewareSpec {
            name: name.to_owned(),
            plugin: plugin.to_owned(),
            config: Json::Object(JsonMap::new()),
            consume_priority: 0,
            publish_priority: 0,
        };
        match item {
            Yaml::String(plugin) => out.push(spec(plugin, plugin)),
            Yaml::Mapping(m) if m.len() == 1 => {
                let Some((k, v)) = m.iter().next() else { continue };
                let name = yaml_key(k);
                match v {
                    Yaml::String(plugin) => out.push(spec(&name, plugin)),
                    Yaml::Mapping(opts) => {
                        let mut mw = spec(&name, "");
                        for (key, v) in entries(opts) {
                            match (key.as_str(), v) {
                                ("class" | "plugin", Yaml::String(p)) => mw.plugin = p.clone(),
                                ("consume_priority", Yaml::Number(n)) if n.as_i64().is_some() => {
                                    mw.consume_priority = n.as_i64().unwrap_or(0)
                                }
                                ("publish_priority", Yaml::Number(n)) if n.as_i64().is_some() => {
                                    mw.publish_priority = n.as_i64().unwrap_or(0)
                                }
                                ("config", Yaml::Mapping(_)) => mw.config = r.json(path, subject, v),
                                (key, v) => r.problem(
                                    path,
                                    format!(
                                        "{what}: {name:?}: key {key:?} with {} is not understood; \
                                         known keys: class (or plugin), consume_priority, publish_priority, config",
                                        yaml_text(v)
                                    ),
                                ),
                            }
                        }
                        if mw.plugin.is_empty() {
                            r.problem(path, format!("{what}: {name:?} names no class (the middleware plugin)"));
                        } else {
                            out.push(mw);
                        }
                    }
                    other => r.problem(
                        path,
                        format!(
                            "{what}: {name:?} must name a middleware plugin, found {}",
                            yaml_kind(other)
                        ),
                    ),
                }
            }
            other => r.problem(
                path,
                format!("{what}: expected `name: plugin` (one key), found {}", yaml_text(other)),
            ),
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in &out {
        if !seen.insert(m.name.clone()) {
            r.problem(
                path,
                format!("{subject}: key \"middleware\": the name {:?} is used twice", m.name),
            );
        }
    }
    out
}

fn read_dispatcher(r: &mut Reader<'_>, base: &[&str], name: &str, map: &Mapping) -> Option<DispatcherSpec> {
    let subject = format!("dispatcher {name:?}");
    let at = |key: &str| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(std::iter::once(key.to_owned()))
            .collect()
    };
    let mut out = DispatcherSpec {
        name: name.to_owned(),
        router_class: String::new(),
        transport_names: Vec::new(),
        exposed_names: Vec::new(),
        router_config: JsonMap::new(),
        instances: 1,
        concurrency: 1,
        middleware: Vec::new(),
    };
    let mut seen_transports = false;
    let mut seen_exposed = false;
    for (key, value) in entries(map) {
        let owned = at(&key);
        let path: Vec<&str> = owned.iter().map(String::as_str).collect();
        match key.as_str() {
            "router_class" => out.router_class = r.string(&path, &subject, value).unwrap_or_default(),
            "transport_names" => {
                seen_transports = true;
                out.transport_names = r.names(&path, &subject, value)
            }
            "exposed_names" => {
                seen_exposed = true;
                out.exposed_names = r.names(&path, &subject, value)
            }
            "instances" => out.instances = r.count(&path, &subject, Some(value)),
            "concurrency" => out.concurrency = r.count(&path, &subject, Some(value)),
            "middleware" => out.middleware = read_middleware(r, &path, &subject, value),
            _ => {
                let json = r.json(&path, &subject, value);
                out.router_config.insert(key, json);
            }
        }
    }
    // Each middleware's config sits beside the dispatcher's keys, under the middleware's name.
    let names: Vec<String> = out.middleware.iter().map(|m| m.name.clone()).collect();
    for name in names {
        if let Some(config) = out.router_config.remove(&name) {
            set_middleware_config(&mut out.middleware, &name, config);
        }
    }
    // Vumi's RoutingTableDispatcher names its endpoints differently.
    let alias = |key: &str| -> Option<Vec<String>> {
        out.router_config
            .get(key)?
            .as_array()?
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    if !seen_transports {
        if let Some(names) = alias("receive_inbound_connectors") {
            out.transport_names = names;
            seen_transports = true;
        }
    }
    if !seen_exposed {
        if let Some(names) = alias("receive_outbound_connectors") {
            out.exposed_names = names;
            seen_exposed = true;
        }
    }
    let here: Vec<&str> = base.to_vec();
    if out.router_class.is_empty() {
        r.problem(
            &here,
            format!("{subject}: key \"router_class\" is missing (a router plugin name, e.g. simple)"),
        );
    }
    if !seen_transports {
        r.problem(&here, format!("{subject}: key \"transport_names\" is missing"));
    }
    if !seen_exposed {
        r.problem(&here, format!("{subject}: key \"exposed_names\" is missing"));
    }
    (!out.router_class.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<ConfigFile, Vec<Problem>> {
        parse(Path::new("test.yaml"), text)
    }

    #[test]
    fn reads_a_full_config() {
        let cfg = parse_text(
            "system_alias: dev\ntransports:\n  telnet:\n    plugin: telnet\n    config: {bind: \"127.0.0.1:1\"}\n\
             applications:\n  echo: {plugin: echo, endpoint: echo_app, instances: 3}\n\
             dispatchers:\n  main:\n    router_class: simple\n    transport_names: [telnet]\n    exposed_names: [echo_app]\n    route_mappings: {telnet: echo_app}\n",
        )
        .unwrap();
        assert_eq!(cfg.system_alias, "dev");
        assert_eq!(cfg.transports[0].config["bind"], "127.0.0.1:1");
        assert_eq!(cfg.applications[0].endpoint, "echo_app");
        assert_eq!(cfg.applications[0].instances, 3);
        assert_eq!(cfg.dispatchers[0].router_config["route_mappings"]["telnet"], "echo_app");
    }

    #[test]
    fn collects_every_problem_with_lines() {
        let errs =
            parse_text("bogus: 1\ntransports:\n  t1:\n    config: {}\n  t2:\n    plugin: telnet\n    instances: 0\n")
                .unwrap_err();
        let text: Vec<String> = errs.iter().map(|p| p.to_string()).collect();
        assert_eq!(errs.len(), 3, "{text:#?}");
        assert!(
            text[0].starts_with("test.yaml:1: config: unknown key \"bogus\""),
            "{text:#?}"
        );
        assert!(
            text[1].contains("transport \"t1\": key \"plugin\" is missing") && text[1].starts_with("test.yaml:3:"),
            "{text:#?}"
        );
        assert!(
            text[2].starts_with("test.yaml:7: transport \"t2\": key \"instances\""),
            "{text:#?}"
        );
    }

    #[test]
    fn bad_yaml_names_line_and_column() {
        let errs = parse_text("transports:\n  telnet: {plugin: telnet\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        let loc = errs[0].location.clone().unwrap();
        assert!(loc.starts_with("test.yaml:"), "{loc}");
        assert!(errs[0].message.starts_with("bad YAML"), "{}", errs[0]);
    }

    #[test]
    fn environment_values() {
        std::env::set_var("RUVUMA_TEST_SECRET", "s3cret");
        let cfg = parse_text("transports:\n  t:\n    plugin: x\n    config: {password: \"${RUVUMA_TEST_SECRET}\", user: \"${RUVUMA_TEST_UNSET:-anon}\"}\n").unwrap();
        assert_eq!(cfg.transports[0].config["password"], "s3cret");
        assert_eq!(cfg.transports[0].config["user"], "anon");
        let errs = parse_text("transports:\n  t:\n    plugin: x\n    config: {password: \"${RUVUMA_TEST_UNSET}\"}\n")
            .unwrap_err();
        assert!(errs[0].message.contains("RUVUMA_TEST_UNSET is not set"), "{}", errs[0]);
        assert!(errs[0].message.contains("password"), "{}", errs[0]);
    }

    #[test]
    fn vumi_dispatcher_file() {
        let cfg = parse_text(
            "router_class: vumi.dispatchers.SimpleDispatchRouter\ntransport_names:\n  - smpp_transport\n  - xmpp_transport\n\
             exposed_names:\n  - my_application\nroute_mappings:\n  smpp_transport: my_application\n",
        )
        .unwrap();
        assert!(cfg.vumi_dispatcher_file);
        assert_eq!(cfg.dispatchers.len(), 1);
        assert_eq!(cfg.dispatchers[0].name, "test");
        assert_eq!(cfg.dispatchers[0].transport_names, ["smpp_transport", "xmpp_transport"]);
    }

    #[test]
    fn durations_and_buses() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("soon"), None);
        let errs = parse_text("bus: kafka\n").unwrap_err();
        assert!(errs[0].message.contains("\"kafka\""));
        let cfg = parse_text("bus: {memory: {capacity: 8}}\n").unwrap();
        assert_eq!(cfg.bus, BusSpec::Memory { capacity: 8 });
    }
}
