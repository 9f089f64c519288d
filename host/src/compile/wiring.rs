//! The wiring pass: every endpoint a dispatcher names exists (or, on a shared bus, may live in
//! another process), and every queue something publishes to has exactly one kind of consumer.

use super::Problems;
use crate::config::ConfigFile;
use std::collections::{BTreeMap, BTreeSet};

/// Endpoints named and not defined here: other processes serve them on a shared bus.
pub(super) struct External {
    pub transports: BTreeSet<String>,
    pub applications: BTreeSet<String>,
}

/// Who consumes each queue, by endpoint name.
type Consumers<'a> = BTreeMap<&'a str, Vec<String>>;

pub(super) fn check(cfg: &ConfigFile, problems: &mut Problems<'_>) -> External {
    let mut external = External {
        transports: BTreeSet::new(),
        applications: BTreeSet::new(),
    };
    let mut transport_consumers = Consumers::new();
    let mut endpoint_consumers = Consumers::new();
    dispatchers(
        cfg,
        problems,
        &mut external,
        &mut transport_consumers,
        &mut endpoint_consumers,
    );
    // An application whose endpoint is a transport's name talks to it directly, as in Vumi.
    let transport_set: BTreeSet<&str> = cfg.transports.iter().map(|t| t.name.as_str()).collect();
    for a in &cfg.applications {
        if transport_set.contains(a.endpoint.as_str()) {
            let app = format!("application {:?}", a.name);
            transport_consumers.entry(&a.endpoint).or_default().push(app);
            let transport = format!("transport {:?}", a.endpoint);
            endpoint_consumers.entry(&a.endpoint).or_default().push(transport);
        }
    }
    if !cfg.bus.is_shared() {
        one_consumer_each(cfg, problems, &transport_consumers, &endpoint_consumers);
    }
    store_batches(cfg, problems, &transport_set);
    external
}

/// `store.batches` names transports (on a shared bus, ones other processes may run).
fn store_batches(cfg: &ConfigFile, problems: &mut Problems<'_>, transports: &BTreeSet<&str>) {
    let Some(store) = &cfg.store else { return };
    if cfg.bus.is_shared() {
        return;
    }
    for name in store.batches.keys().filter(|n| !transports.contains(n.as_str())) {
        let known: Vec<&str> = transports.iter().copied().collect();
        problems.at(
            &["store", "batches", name],
            format!(
                "config: store.batches: {name:?} is not a transport here; transports: {}",
                known.join(", ")
            ),
        );
    }
}

/// Every name in each dispatcher's `transport_names` and `exposed_names`.
fn dispatchers<'a>(
    cfg: &'a ConfigFile,
    problems: &mut Problems<'_>,
    external: &mut External,
    transport_consumers: &mut Consumers<'a>,
    endpoint_consumers: &mut Consumers<'a>,
) {
    // On a shared bus, endpoints this file does not define may live in other processes.
    let local = (!cfg.transports.is_empty() || !cfg.applications.is_empty()) && !cfg.bus.is_shared();
    let transport_set: BTreeSet<&str> = cfg.transports.iter().map(|t| t.name.as_str()).collect();
    let endpoint_set: BTreeSet<&str> = cfg.applications.iter().map(|a| a.endpoint.as_str()).collect();
    for d in &cfg.dispatchers {
        let subject = format!("dispatcher {:?}", d.name);
        let at = |key: &'static str| ["dispatchers", d.name.as_str(), key];
        if d.transport_names.is_empty() {
            let key = at("transport_names");
            problems.at(&key, format!("{subject}: key \"transport_names\" is empty"));
        }
        for t in &d.transport_names {
            if transport_set.contains(t.as_str()) {
                transport_consumers.entry(t).or_default().push(subject.clone());
            } else if local {
                let message = format!(
                    "{subject}: key \"transport_names\": unknown endpoint {t:?}: no transport of that name is defined"
                );
                problems.at(&at("transport_names"), message);
            } else {
                external.transports.insert(t.clone());
            }
        }
        for e in &d.exposed_names {
            if endpoint_set.contains(e.as_str()) {
                endpoint_consumers.entry(e).or_default().push(subject.clone());
            } else if local {
                let message = format!(
                    "{subject}: key \"exposed_names\": unknown endpoint {e:?}: no application has that endpoint"
                );
                problems.at(&at("exposed_names"), message);
            } else {
                external.applications.insert(e.clone());
            }
        }
    }
}

fn one_consumer_each(
    cfg: &ConfigFile,
    problems: &mut Problems<'_>,
    transports: &Consumers<'_>,
    endpoints: &Consumers<'_>,
) {
    for t in &cfg.transports {
        let path = ["transports", t.name.as_str()];
        match transports.get(t.name.as_str()).map(Vec::as_slice) {
            None | Some([]) => problems.at(
                &path,
                format!(
                    "transport {:?}: nothing consumes {0}.inbound: list it in a dispatcher's transport_names or give an application endpoint {0:?}",
                    t.name
                ),
            ),
            Some([_]) => {}
            Some(many) => problems.at(
                &path,
                format!(
                    "transport {:?}: {} all consume {0}.inbound and would split its messages between them",
                    t.name,
                    many.join(" and ")
                ),
            ),
        }
    }
    for a in &cfg.applications {
        let path = ["applications", a.name.as_str()];
        match endpoints.get(a.endpoint.as_str()).map(Vec::as_slice) {
            None | Some([]) => problems.at(
                &path,
                format!(
                    "application {:?}: nothing consumes {}.outbound (its replies): list {1:?} in a dispatcher's exposed_names",
                    a.name, a.endpoint
                ),
            ),
            Some([_]) => {}
            Some(many) => problems.at(
                &path,
                format!("application {:?}: {} all consume {}.outbound", a.name, many.join(" and "), a.endpoint),
            ),
        }
    }
}
