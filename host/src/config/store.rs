//! The `store` section: where messages and events are kept (and the memory bus's journal).
//!
//! ```yaml
//! store:
//!   sqlite: {path: data/ruvuma.db}          # or postgres: {url: "${DATABASE_URL}"}
//!   retention: {inbound: 30d, outbound: 90d, events: 90d}
//!   batch: campaign-1                       # messages without a tag
//!   batches: {sms: sms-traffic}             # per transport, before `batch`
//!   buffer: 50000                           # records held while the database is slow or down
//!   journal: data/ruvuma.journal            # the memory bus's journal (a folder)
//! ```

use super::reader::Reader;
use super::yaml;
use super::LIMITS;
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

const KEYS: &str = "sqlite, postgres, retention, batch, batches, buffer, journal";

#[derive(Debug, Clone, PartialEq)]
pub enum StoreBackend {
    /// An embedded SQLite file (WAL mode).
    Sqlite { path: PathBuf },
    /// A PostgreSQL database; the URL may hold a password and is never logged whole.
    Postgres { url: String },
}

/// How long each kind of record is kept; `None` keeps it for ever.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Retention {
    pub inbound: Option<Duration>,
    pub outbound: Option<Duration>,
    pub events: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreSpec {
    pub backend: StoreBackend,
    pub retention: Retention,
    /// The batch of a message without a `helper_metadata.tag`, for every transport.
    pub batch: Option<String>,
    /// The batch per transport, before `batch`.
    pub batches: BTreeMap<String, String>,
    /// Records held in memory, not yet written, before publishers wait.
    pub buffer: usize,
    /// The memory bus's journal folder, when not the default (see `store::journal_dir`).
    pub journal: Option<PathBuf>,
}

/// `{sqlite: {path}}` or `{postgres: {url}}`, with the optional keys beside.
pub(super) fn read_store(r: &mut Reader<'_>, value: &Yaml) -> Option<StoreSpec> {
    let Yaml::Mapping(m) = value else {
        let found = yaml::kind(value);
        r.problem(
            &["store"],
            format!("config: key \"store\": expected {{sqlite: {{path: ...}}}} or {{postgres: {{url: ...}}}}, found {found}"),
        );
        return None;
    };
    let mut spec = StoreSpec {
        backend: StoreBackend::Sqlite { path: PathBuf::new() },
        retention: Retention::default(),
        batch: None,
        batches: BTreeMap::new(),
        buffer: LIMITS.default_store_buffer as usize,
        journal: None,
    };
    let mut backends = Vec::new();
    for (k, v) in yaml::entries(m) {
        let path = ["store", k.as_str()];
        match k.as_str() {
            "sqlite" | "postgres" => backends.push(k.clone()),
            "retention" => spec.retention = read_retention(r, v),
            "batch" => spec.batch = r.string(&path, "config: store", v),
            "journal" => match r.string(&path, "config: store", v) {
                Some(p) if p.trim().is_empty() => r.problem(&path, "config: store: key \"journal\" is empty".into()),
                p => spec.journal = p.map(PathBuf::from),
            },
            "batches" => spec.batches = read_batches(r, v),
            "buffer" => {
                let range = 1..=LIMITS.max_store_buffer;
                spec.buffer = r
                    .count(&path, "config: store", v, range)
                    .map_or(spec.buffer, |n| n as usize);
            }
            other => r.problem(
                &path,
                format!("config: key \"store\": unknown key {other:?}; known keys: {KEYS}"),
            ),
        }
    }
    match backends.as_slice() {
        [one] => spec.backend = read_backend(r, one, m.get(one.as_str()))?,
        [] => {
            r.problem(
                &["store"],
                "config: key \"store\": name a backend: {sqlite: {path: ...}} or {postgres: {url: ...}}".into(),
            );
            return None;
        }
        _ => {
            r.problem(
                &["store"],
                "config: key \"store\": give one backend, sqlite or postgres, not both".into(),
            );
            return None;
        }
    }
    Some(spec)
}

fn read_backend(r: &mut Reader<'_>, kind: &str, opts: Option<&Yaml>) -> Option<StoreBackend> {
    let (needed, known) = if kind == "sqlite" {
        ("path", "path")
    } else {
        ("url", "url")
    };
    let subject = format!("config: store.{kind}");
    let mut found = None;
    if let Some(Yaml::Mapping(opts)) = opts {
        for (k, v) in yaml::entries(opts) {
            let path = ["store", kind, k.as_str()];
            if k == needed {
                found = r.string(&path, &subject, v);
            } else {
                r.problem(&path, format!("{subject}: unknown key {k:?}; known keys: {known}"));
            }
        }
    }
    let value = match found {
        Some(v) if !v.trim().is_empty() => v,
        Some(_) => {
            r.problem(&["store", kind, needed], format!("{subject}: key {needed:?} is empty"));
            return None;
        }
        None => {
            r.problem(
                &["store", kind],
                format!("{subject}: give {{{needed}: ...}}, e.g. {}", example(kind)),
            );
            return None;
        }
    };
    Some(match kind {
        "sqlite" => StoreBackend::Sqlite { path: value.into() },
        _ => StoreBackend::Postgres { url: value },
    })
}

fn example(kind: &str) -> &'static str {
    match kind {
        "sqlite" => "{sqlite: {path: data/ruvuma.db}}",
        _ => "{postgres: {url: \"${DATABASE_URL}\"}}",
    }
}

fn read_retention(r: &mut Reader<'_>, value: &Yaml) -> Retention {
    let mut retention = Retention::default();
    let Yaml::Mapping(m) = value else {
        let found = yaml::kind(value);
        r.problem(
            &["store", "retention"],
            format!("config: store.retention: expected {{inbound: 30d, outbound: 90d, events: 90d}}, found {found}"),
        );
        return retention;
    };
    for (k, v) in yaml::entries(m) {
        let path = ["store", "retention", k.as_str()];
        let slot = match k.as_str() {
            "inbound" => &mut retention.inbound,
            "outbound" => &mut retention.outbound,
            "events" => &mut retention.events,
            other => {
                r.problem(
                    &path,
                    format!("config: store.retention: unknown key {other:?}; known keys: inbound, outbound, events"),
                );
                continue;
            }
        };
        match r.duration(&path, "config: store.retention", v, LIMITS.max_retention) {
            Some(d) if d.is_zero() => r.problem(
                &path,
                format!("config: store.retention: key {k:?}: a retention of 0 would keep nothing; leave the key out to keep everything"),
            ),
            found => *slot = found,
        }
    }
    retention
}

fn read_batches(r: &mut Reader<'_>, value: &Yaml) -> BTreeMap<String, String> {
    let Yaml::Mapping(m) = value else {
        let found = yaml::kind(value);
        r.problem(
            &["store", "batches"],
            format!("config: store.batches: expected a map of transport names to batch names, found {found}"),
        );
        return BTreeMap::new();
    };
    yaml::entries(m)
        .filter_map(|(k, v)| {
            let batch = r.string(&["store", "batches", k.as_str()], "config: store.batches", v)?;
            Some((k, batch))
        })
        .collect()
}
