//! The `config:` of a `sandbox` application: Vumi's `JsSandbox` keys (`javascript`,
//! `javascript_file`, `app_context`, `sandbox_id`, `executable`, `timeout`) with the app's own
//! config, and the bounds of a worker pool that runs code the operator did not write.

use ruvuma_plugin_api::config_values::{all_or_nothing, duration, out_of, seconds};
use ruvuma_plugin_api::serde::{self, Deserialize};
use ruvuma_plugin_api::ConfigProblem;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub const CONFIG_DOC: &str = "\
javascript_file: the app's script; packages installed beside it (node_modules) can be required
javascript: the app's script inline, instead of javascript_file
app_context: a JavaScript expression whose keys the app sees as globals (Vumi's app_context)
config: the app's config, handed to it as JSON by config.get \"config\" (it needs a \"name\")
config_keys: more config.get keys and their values (e.g. translation.fr)
sandbox_id: the namespace of the app's kv keys (the component's name)
executable: the Node binary (node)
workers: Node processes (2, 1..=64); one user's messages always go to the same one, in order
slots: messages one worker handles at once (8, 1..=256)
cpu_time: seconds one message may spend running the app's code, its waits on resources apart (5, 0.1..=600, or 0 for no limit but timeout); past it the message fails and the worker goes on
timeout: seconds a message may take (10, 0.1..=600); past it the message fails and the worker is replaced if it does not let go
max_memory_mb: a worker's JavaScript heap (128, 16..=8192); past it the worker dies, its messages fail, a new one starts
young_space_mb: V8's semi-space for new objects (32, or a quarter of max_memory_mb when that is less; 1..=256, at most a quarter of max_memory_mb); the toolkit makes much short-lived garbage, and a larger one halves the time spent collecting it, but one near the heap's size makes V8 collect the whole heap again and again
max_output: bytes of requests one message may send (1048576, 4096..=67108864); max_line: longest line (262144)
max_open_files: a worker's open files (64, 16..=4096)
isolate_network: run workers in a network namespace of their own, without network (true)
allow_read: more folders a worker may read (the app's folder always)
log_level: lowest level of the app's log lines passed to the host's log (info)
kv_keys: keys the app may hold, with or without an expiry (100000, 1..=100000000); kv_value_max: bytes of one value (65536); kv_key_max: of one key (256)
kv_expiry_max: the longest expiry (seconds) a key may be set with (2592000: 30 days; 60..=31536000)
endpoints: endpoints besides default that outbound.send_to may name; the message leaves with routing_metadata.endpoint_name set, for a routing_table dispatcher (none)
store_endpoints: endpoints besides the app's own whose messages messagestore may count and look up (conversation_key) (none)
http_allow: hosts the http resource may reach, as host or host:port (none)
http_timeout: seconds an HTTP request may take (10, 0.1..=120); http_body_limit: bytes of a response body (131072)";

fn default_executable() -> String {
    "node".into()
}
fn two() -> usize {
    2
}
fn eight() -> usize {
    8
}
fn five() -> f64 {
    5.0
}
fn ten() -> f64 {
    10.0
}
fn default_memory() -> u32 {
    128
}
fn default_output() -> usize {
    1 << 20
}
fn default_line() -> usize {
    256 << 10
}
fn default_files() -> u32 {
    64
}
fn yes() -> bool {
    true
}
fn default_level() -> String {
    "info".into()
}
fn default_keys() -> u64 {
    100_000
}
fn default_value_max() -> usize {
    65_536
}
fn default_expiry_max() -> u64 {
    30 * 86_400
}
fn default_key_max() -> usize {
    256
}
fn default_body_limit() -> usize {
    128 << 10
}

#[derive(Clone, Deserialize)]
#[serde(crate = "self::serde", deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub javascript_file: Option<PathBuf>,
    #[serde(default)]
    pub javascript: Option<String>,
    #[serde(default)]
    pub app_context: Option<String>,
    #[serde(default)]
    pub config: Option<serde_json::Value>,
    #[serde(default)]
    pub config_keys: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub sandbox_id: Option<String>,
    #[serde(default = "default_executable")]
    pub executable: String,
    #[serde(default = "two")]
    pub workers: usize,
    #[serde(default = "eight")]
    pub slots: usize,
    #[serde(default = "ten")]
    pub timeout: f64,
    #[serde(default = "five")]
    pub cpu_time: f64,
    #[serde(default = "default_memory")]
    pub max_memory_mb: u32,
    /// None: [`Config::young_space`] picks it.
    #[serde(default)]
    pub young_space_mb: Option<u32>,
    #[serde(default = "default_output")]
    pub max_output: usize,
    #[serde(default = "default_line")]
    pub max_line: usize,
    #[serde(default = "default_files")]
    pub max_open_files: u32,
    #[serde(default = "yes")]
    pub isolate_network: bool,
    #[serde(default)]
    pub allow_read: Vec<PathBuf>,
    #[serde(default = "default_level")]
    pub log_level: String,
    #[serde(default = "default_keys")]
    pub kv_keys: u64,
    #[serde(default = "default_value_max")]
    pub kv_value_max: usize,
    #[serde(default = "default_expiry_max")]
    pub kv_expiry_max: u64,
    #[serde(default = "default_key_max")]
    pub kv_key_max: usize,
    #[serde(default)]
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub store_endpoints: Vec<String>,
    #[serde(default)]
    pub http_allow: Vec<String>,
    #[serde(default = "ten")]
    pub http_timeout: f64,
    #[serde(default = "default_body_limit")]
    pub http_body_limit: usize,
}

/// Vumi's log levels, lowest first.
pub const LEVELS: [&str; 5] = ["debug", "info", "warning", "error", "critical"];

impl Config {
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut p: Vec<ConfigProblem> = [
            out_of("workers", self.workers, 1, 64),
            out_of("slots", self.slots, 1, 256),
            seconds("timeout", self.timeout, 600.0),
            (self.cpu_time != 0.0)
                .then(|| seconds("cpu_time", self.cpu_time, 600.0))
                .flatten(),
            out_of("max_memory_mb", self.max_memory_mb, 16, 8192),
            out_of("young_space_mb", self.young_space(), 1, 256),
            out_of("max_output", self.max_output, 4096, 64 << 20),
            out_of("max_line", self.max_line, 1024, 16 << 20),
            out_of("max_open_files", self.max_open_files, 16, 4096),
            out_of("kv_keys", self.kv_keys, 1, 100_000_000),
            out_of("kv_value_max", self.kv_value_max, 16, 16 << 20),
            out_of("kv_key_max", self.kv_key_max, 8, 4096),
            out_of("kv_expiry_max", self.kv_expiry_max, 60, 365 * 86_400),
            seconds("http_timeout", self.http_timeout, 120.0),
            out_of("http_body_limit", self.http_body_limit, 1024, 64 << 20),
        ]
        .into_iter()
        .flatten()
        .collect();
        match (&self.javascript_file, &self.javascript) {
            (None, None) => p.push(ConfigProblem::whole("give javascript_file or javascript")),
            (Some(_), Some(_)) => p.push(ConfigProblem::at(
                "javascript",
                "give javascript_file or javascript, not both",
            )),
            _ => {}
        }
        if !LEVELS.contains(&self.log_level.as_str()) {
            p.push(ConfigProblem::at("log_level", format!("one of {}", LEVELS.join(", "))));
        }
        if let Some(bad) = self.endpoints.iter().find(|e| e.is_empty() || e.len() > 64) {
            p.push(ConfigProblem::at(
                "endpoints",
                format!("{bad:?}: a name of 1 to 64 bytes"),
            ));
        }
        if let Some(young) = self.young_space_mb.filter(|y| y.saturating_mul(4) > self.max_memory_mb) {
            p.push(ConfigProblem::at(
                "young_space_mb",
                format!(
                    "{young} is more than a quarter of max_memory_mb ({}): the heap would be collected whole over and over",
                    self.max_memory_mb
                ),
            ));
        }
        if self.max_line > self.max_output {
            p.push(ConfigProblem::at("max_line", "must be at most max_output"));
        }
        p
    }

    pub fn check(&self) -> Result<(), String> {
        all_or_nothing(&self.problems())
    }

    pub fn timeout(&self) -> Duration {
        duration(self.timeout)
    }

    pub fn cpu_time(&self) -> Duration {
        duration(self.cpu_time)
    }

    pub fn http_timeout(&self) -> Duration {
        duration(self.http_timeout)
    }

    /// V8's semi-space in MiB: as given, or 32 and at most a quarter of the heap.
    pub fn young_space(&self) -> u32 {
        self.young_space_mb.unwrap_or((self.max_memory_mb / 4).clamp(1, 32))
    }

    /// What `config.get` answers for each key it knows: `config` as JSON text (null when not
    /// given), and each of `config_keys`, text as it is and anything else as JSON.
    pub fn config_values(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        let mut values: serde_json::Map<String, Value> = self
            .config_keys
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), Value::String(text))
            })
            .collect();
        let config = self
            .config
            .as_ref()
            .map_or(Value::Null, |c| Value::String(c.to_string()));
        values.insert("config".into(), config);
        values
    }

    /// The lowest level passed on, as an index into [`LEVELS`].
    pub fn log_floor(&self) -> usize {
        LEVELS.iter().position(|l| *l == self.log_level).unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: serde_json::Value) -> Config {
        serde_json::from_value(yaml).unwrap()
    }

    #[test]
    fn every_bound_is_named() {
        let c = parse(serde_json::json!({"workers": 0, "slots": 1000, "timeout": 0, "max_memory_mb": 1}));
        let text = c.check().unwrap_err();
        for key in [
            "workers",
            "slots",
            "timeout",
            "max_memory_mb",
            "javascript_file or javascript",
        ] {
            assert!(text.contains(key), "{key} in {text}");
        }
        let c = parse(serde_json::json!({"javascript": "x", "javascript_file": "a.js", "log_level": "loud"}));
        let text = c.check().unwrap_err();
        assert!(text.contains("not both") && text.contains("log_level"), "{text}");
        assert!(parse(serde_json::json!({"javascript": "x"})).check().is_ok());
    }

    #[test]
    fn a_young_space_near_the_heap_is_refused() {
        let c = parse(serde_json::json!({"javascript": "x", "young_space_mb": 64}));
        let text = c.check().unwrap_err();
        assert!(
            text.contains("young_space_mb") && text.contains("64 is more than a quarter of max_memory_mb (128)"),
            "{text}"
        );
        let c = parse(serde_json::json!({"javascript": "x", "young_space_mb": 64, "max_memory_mb": 256}));
        assert!(c.check().is_ok());
        let small = parse(serde_json::json!({"javascript": "x", "max_memory_mb": 32}));
        assert!(small.check().is_ok());
        assert_eq!((small.young_space(), c.young_space()), (8, 64));
        assert_eq!(parse(serde_json::json!({"javascript": "x"})).young_space(), 32);
    }
}
