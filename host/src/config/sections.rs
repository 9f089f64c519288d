//! The host's own sections: `bus` and `state`.

use super::reader::Reader;
use super::yaml;
use super::{BusSpec, StateSpec, DEFAULT_STATE_KEYS, LIMITS, MAX_STATE_KEYS};
use serde_yaml_ng::Value as Yaml;

const REDIS_URL: &str = "redis://127.0.0.1:6379";
const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn read_memory_state(r: &mut Reader<'_>, opts: Option<&Yaml>) -> StateSpec {
    let mut max_keys = DEFAULT_STATE_KEYS;
    if let Some(Yaml::Mapping(m)) = opts {
        for (k, v) in yaml::entries(m) {
            let path = ["state", "memory", k.as_str()];
            match k.as_str() {
                "max_keys" => {
                    let got = r.count(&path, "config: state.memory", v, 1_000..=MAX_STATE_KEYS);
                    max_keys = got.map_or(max_keys, |n| n as usize);
                }
                other => r.problem(
                    &path,
                    format!("config: key \"state.memory\": unknown key {other:?}; known keys: max_keys"),
                ),
            }
        }
    }
    StateSpec::Memory { max_keys }
}

/// `memory`, `{memory: {max_keys: N}}`, `redis`, or `{redis: {url: ..., key_prefix: ...}}`.
pub(super) fn read_state(r: &mut Reader<'_>, value: &Yaml) -> StateSpec {
    let (kind, opts) = match value {
        Yaml::String(s) => (s.as_str(), None),
        Yaml::Mapping(m) if m.len() == 1 && (m.contains_key("memory") || m.contains_key("redis")) => {
            match m.get("memory") {
                Some(opts) => ("memory", Some(opts)),
                None => ("redis", m.get("redis")),
            }
        }
        _ => ("", None),
    };
    match kind {
        "memory" => read_memory_state(r, opts),
        "redis" => {
            let (mut url, mut key_prefix) = (REDIS_URL.to_owned(), "ruvuma".to_owned());
            if let Some(Yaml::Mapping(opts)) = opts {
                for (k, v) in yaml::entries(opts) {
                    let path = ["state", "redis", k.as_str()];
                    match k.as_str() {
                        "url" => url = r.string(&path, "config", v).unwrap_or(url),
                        "key_prefix" => key_prefix = r.string(&path, "config", v).unwrap_or(key_prefix),
                        other => r.problem(
                            &path,
                            format!("config: key \"state.redis\": unknown key {other:?}; known keys: url, key_prefix"),
                        ),
                    }
                }
            }
            StateSpec::Redis { url, key_prefix }
        }
        _ => {
            r.problem(
                &["state"],
                format!(
                    "config: key \"state\": {} is not a state store this host has; use \"memory\" or {{redis: {{url: ...}}}}",
                    yaml::text(value)
                ),
            );
            StateSpec::Memory {
                max_keys: DEFAULT_STATE_KEYS,
            }
        }
    }
}

fn read_memory_bus(r: &mut Reader<'_>, opts: Option<&Yaml>) -> BusSpec {
    let mut capacity = LIMITS.default_capacity;
    if let Some(Yaml::Mapping(m)) = opts {
        for (k, v) in yaml::entries(m) {
            let path = ["bus", "memory", k.as_str()];
            match k.as_str() {
                "capacity" => {
                    let got = r.count(&path, "config: bus.memory", v, 1..=LIMITS.max_capacity);
                    capacity = got.map_or(capacity, |n| n as usize);
                }
                other => r.problem(
                    &path,
                    format!("config: key \"bus.memory\": unknown key {other:?}; known keys: capacity"),
                ),
            }
        }
    }
    BusSpec::Memory { capacity }
}

fn read_amqp_bus(r: &mut Reader<'_>, opts: Option<&Yaml>) -> BusSpec {
    let (mut url, mut exchange, mut prefetch) = (AMQP_URL.to_owned(), "vumi".to_owned(), 20u16);
    if let Some(Yaml::Mapping(m)) = opts {
        for (k, v) in yaml::entries(m) {
            let path = ["bus", "amqp", k.as_str()];
            let subject = "config: bus.amqp";
            match k.as_str() {
                "url" => url = r.string(&path, subject, v).unwrap_or(url),
                "exchange" => exchange = r.string(&path, subject, v).unwrap_or(exchange),
                "prefetch" => {
                    let got = r.count(&path, subject, v, 1..=u64::from(u16::MAX));
                    prefetch = got.and_then(|n| u16::try_from(n).ok()).unwrap_or(prefetch);
                }
                other => r.problem(
                    &path,
                    format!("config: key \"bus.amqp\": unknown key {other:?}; known keys: url, exchange, prefetch"),
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

/// `memory`, `amqp`, `{memory: {capacity: N}}` or `{amqp: {url, exchange, prefetch}}`.
pub(super) fn read_bus(r: &mut Reader<'_>, value: &Yaml) -> BusSpec {
    let (kind, opts) = match value {
        Yaml::String(s) => (s.clone(), None),
        Yaml::Mapping(m) if m.len() == 1 => match m.iter().next() {
            Some((k, v)) => (yaml::key(k), Some(v)),
            None => (String::new(), None),
        },
        other => {
            r.problem(
                &["bus"],
                format!(
                    "config: key \"bus\": expected \"memory\" or {{memory: {{capacity: N}}}}, found {}",
                    yaml::text(other)
                ),
            );
            return BusSpec::Memory {
                capacity: LIMITS.default_capacity,
            };
        }
    };
    match kind.as_str() {
        "memory" => read_memory_bus(r, opts),
        "amqp" => read_amqp_bus(r, opts),
        other => {
            r.problem(
                &["bus"],
                format!("config: key \"bus\": {other:?} is not a bus this host has; use \"memory\" or \"amqp\""),
            );
            BusSpec::Memory {
                capacity: LIMITS.default_capacity,
            }
        }
    }
}
