//! The names pass: lower-case, and unique across transports, application endpoints and
//! dispatchers (they share the bus's routing keys).

use super::Problems;
use crate::config::ConfigFile;
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Who owns each name so far.
struct Owners(BTreeMap<String, String>);

impl Owners {
    fn claim(&mut self, problems: &mut Problems<'_>, path: &[&str], name: &str, what: String) {
        if !valid_name(name) {
            problems.at(
                path,
                format!("{what}: name {name:?} must be lower-case letters, digits, '_' or '-'"),
            );
        }
        if let Some(prev) = self.0.get(name) {
            problems.at(path, format!("{what}: duplicate name {name:?}, already used by {prev}"));
        } else {
            self.0.insert(name.to_owned(), what);
        }
    }
}

pub(super) fn check(cfg: &ConfigFile, problems: &mut Problems<'_>) {
    let mut owners = Owners(BTreeMap::new());
    for t in &cfg.transports {
        owners.claim(
            problems,
            &["transports", &t.name],
            &t.name,
            format!("transport {:?}", t.name),
        );
    }
    // An application may share its endpoint with a transport: that wires the two directly.
    let transport_names: BTreeSet<&str> = cfg.transports.iter().map(|t| t.name.as_str()).collect();
    for a in &cfg.applications {
        if transport_names.contains(a.endpoint.as_str()) {
            continue; // two such applications are caught by the wiring pass
        }
        let what = format!("application {:?} (endpoint {:?})", a.name, a.endpoint);
        owners.claim(problems, &["applications", &a.name, "endpoint"], &a.endpoint, what);
    }
    for d in &cfg.dispatchers {
        owners.claim(
            problems,
            &["dispatchers", &d.name],
            &d.name,
            format!("dispatcher {:?}", d.name),
        );
    }
    let mut app_names = BTreeSet::new();
    for a in &cfg.applications {
        if !app_names.insert(a.name.clone()) {
            problems.at(
                &["applications", &a.name],
                format!("application {:?}: duplicate name", a.name),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names() {
        assert!(valid_name("echo_app"));
        assert!(valid_name("smpp-1"));
        assert!(!valid_name("Echo"));
        assert!(!valid_name("a.b"));
        assert!(!valid_name(""));
        assert!(!valid_name("_x"));
    }
}
