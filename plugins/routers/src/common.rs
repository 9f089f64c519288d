//! Pieces every router shares: name lists, config checks, fan-out, outbound by transport name.

use ruvuma_plugin_api::prelude::*;
use serde::de::{self, Deserializer};
use std::collections::BTreeMap;

/// A map by endpoint or transport name. FxHash, not SipHash: the keys are names from the
/// config, and a lookup is on every message's path.
pub type NameMap<V> = rustc_hash::FxHashMap<String, V>;

/// A list of names, or one name on its own (Vumi accepts both).
#[derive(Debug, Clone, Default)]
pub struct Names(pub Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        match OneOrMany::deserialize(d) {
            Ok(OneOrMany::One(s)) => Ok(Names(vec![s])),
            Ok(OneOrMany::Many(v)) => Ok(Names(v)),
            Err(_) => Err(de::Error::custom("expected a name or a list of names")),
        }
    }
}

/// The endpoint lists every dispatcher has (`transport_names`, `exposed_names`), for checks.
pub struct Endpoints<'a> {
    pub transport_names: &'a [String],
    pub exposed_names: &'a [String],
}

impl Endpoints<'_> {
    /// A problem for each of `names` (found under `key`) that is not a transport name.
    pub fn check_transports<'a>(
        &self,
        key: &str,
        names: impl IntoIterator<Item = &'a String>,
        problems: &mut Vec<ConfigProblem>,
    ) {
        check(key, names, self.transport_names, "transport_names", problems)
    }

    /// A problem for each of `names` (found under `key`) that is not an exposed name.
    pub fn check_exposed<'a>(
        &self,
        key: &str,
        names: impl IntoIterator<Item = &'a String>,
        problems: &mut Vec<ConfigProblem>,
    ) {
        check(key, names, self.exposed_names, "exposed_names", problems)
    }
}

fn check<'a>(
    key: &str,
    names: impl IntoIterator<Item = &'a String>,
    allowed: &[String],
    list: &str,
    problems: &mut Vec<ConfigProblem>,
) {
    for name in names {
        if !allowed.contains(name) {
            problems.push(ConfigProblem::at(
                key,
                format!("unknown endpoint {name:?}: not one of {list} {allowed:?}"),
            ));
        }
    }
}

/// One copy of `payload` per endpoint, the last taking the original.
pub fn fan_out<T: Clone>(endpoints: &[String], payload: T, route: impl Fn(&str, T) -> Routed) -> Vec<Routed> {
    match endpoints.split_last() {
        None => Vec::new(),
        Some((last, rest)) => {
            let mut out = Vec::with_capacity(endpoints.len());
            out.extend(rest.iter().map(|e| route(e, payload.clone())));
            out.push(route(last, payload));
            out
        }
    }
}

/// Vumi's outbound rule: the transport the message names (`transport_name`, so a reply goes back
/// where its question came from), renamed through `transport_mappings`.
pub fn outbound_by_name(msg: Message, from: &str, mappings: &NameMap<String>) -> Result<Vec<Routed>, String> {
    let name = msg.transport_name.as_str();
    if name.is_empty() {
        return Err(format!("outbound message from {from:?} names no transport_name"));
    }
    // The name is copied before the message moves, and once (inline when it is short).
    Ok(vec![Routed {
        flow: Flow::Outbound,
        endpoint: mappings.get(name).map_or(name, String::as_str).into(),
        payload: msg.into(),
    }])
}

pub fn to_map<V>(map: BTreeMap<String, V>) -> NameMap<V> {
    map.into_iter().collect()
}

/// The key a router's state lives under: one namespace per purpose.
pub fn key(parts: &[&str]) -> String {
    parts.join(":")
}
