//! The `admin` and `observers` sections: the operator's web server and who is told of the
//! host's events.
//!
//! ```yaml
//! admin:
//!   bind: "127.0.0.1:8000"
//!   auth: {username: "${ADMIN_USER}", password: "${ADMIN_PASSWORD}"}   # or {token: "${ADMIN_TOKEN}"}
//! observers:
//!   ops_hook:
//!     plugin: webhook
//!     events: [status_changed, component_failed]      # every event when not given
//!     config: {url: "http://127.0.0.1:9000/events"}
//! ```

use super::reader::Reader;
use super::yaml;
use serde_json::Value as Json;
use serde_yaml_ng::{Mapping, Value as Yaml};
use std::net::SocketAddr;

/// How the admin server checks who asks.
#[derive(Clone, PartialEq)]
pub enum AdminAuth {
    /// HTTP basic authentication.
    Basic { username: String, password: String },
    /// `Authorization: Bearer <token>`.
    Token(String),
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { username, .. } => write!(f, "Basic {{ username: {username:?}, password: <redacted> }}"),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdminSpec {
    pub bind: SocketAddr,
    /// None only on a loopback address.
    pub auth: Option<AdminAuth>,
}

/// One entry of `observers:`: a built-in observer (`webhook`) or, later, a plugin's.
#[derive(Debug, Clone, PartialEq)]
pub struct ObserverSpec {
    pub name: String,
    pub plugin: String,
    pub config: Json,
    /// The events it wants (every one when not given).
    pub events: Option<Vec<String>>,
}

const ADMIN_KEYS: &str = "bind, auth";

/// `{bind, auth}`.
pub(super) fn read_admin(r: &mut Reader<'_>, value: &Yaml) -> Option<AdminSpec> {
    let Yaml::Mapping(m) = value else {
        let found = yaml::kind(value);
        r.problem(
            &["admin"],
            format!("config: key \"admin\": expected a map with bind and auth, found {found}"),
        );
        return None;
    };
    let mut bind = None;
    let mut auth = None;
    for (k, v) in yaml::entries(m) {
        let path = ["admin", k.as_str()];
        match k.as_str() {
            "bind" => bind = read_bind(r, v),
            "auth" => auth = read_auth(r, v),
            other => r.problem(
                &path,
                format!("config: key \"admin\": unknown key {other:?}; known keys: {ADMIN_KEYS}"),
            ),
        }
    }
    let Some(bind) = bind else {
        if !m.contains_key("bind") {
            r.problem(
                &["admin"],
                "config: key \"admin\": \"bind\" is missing (e.g. \"127.0.0.1:8000\")".into(),
            );
        }
        return None;
    };
    if auth.is_none() && !m.contains_key("auth") && !bind.ip().is_loopback() {
        r.problem(
            &["admin", "bind"],
            format!(
                "config: key \"admin.bind\": {bind} is not a loopback address, so \"admin.auth\" is required \
                 ({{username, password}} or {{token}}, from the environment)"
            ),
        );
        return None;
    }
    Some(AdminSpec { bind, auth })
}

fn read_bind(r: &mut Reader<'_>, v: &Yaml) -> Option<SocketAddr> {
    let text = r.string(&["admin", "bind"], "config", v)?;
    match text.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            r.problem(
                &["admin", "bind"],
                format!(
                    "config: key \"admin.bind\": expected an address and port like \"127.0.0.1:8000\", found {text:?}"
                ),
            );
            None
        }
    }
}

/// A secret: present and not empty.
fn secret(r: &mut Reader<'_>, m: &Mapping, key: &str) -> Option<String> {
    let path = ["admin", "auth", key];
    let v = m.get(key)?;
    let s = r.string(&path, "config", v)?;
    if s.is_empty() {
        r.problem(
            &path,
            format!("config: key \"admin.auth.{key}\": is empty; an empty secret is refused"),
        );
        return None;
    }
    Some(s)
}

fn read_auth(r: &mut Reader<'_>, v: &Yaml) -> Option<AdminAuth> {
    let shape = "expected {username, password} or {token}";
    let Yaml::Mapping(m) = v else {
        r.problem(
            &["admin", "auth"],
            format!("config: key \"admin.auth\": {shape}, found {}", yaml::kind(v)),
        );
        return None;
    };
    for (k, _) in yaml::entries(m) {
        if !matches!(k.as_str(), "username" | "password" | "token") {
            r.problem(
                &["admin", "auth", k.as_str()],
                format!("config: key \"admin.auth\": unknown key {k:?}; known keys: username, password, token"),
            );
        }
    }
    let has = |k: &str| m.contains_key(k);
    match (has("username") || has("password"), has("token")) {
        (true, false) => {
            let (u, p) = (secret(r, m, "username"), secret(r, m, "password"));
            if !(has("username") && has("password")) {
                r.problem(
                    &["admin", "auth"],
                    "config: key \"admin.auth\": basic authentication needs both username and password".into(),
                );
            }
            Some(AdminAuth::Basic {
                username: u?,
                password: p?,
            })
        }
        (false, true) => secret(r, m, "token").map(AdminAuth::Token),
        _ => {
            r.problem(&["admin", "auth"], format!("config: key \"admin.auth\": {shape}"));
            None
        }
    }
}

/// `{name: {plugin, config}}`.
pub(super) fn read_observers(r: &mut Reader<'_>, value: &Yaml) -> Vec<ObserverSpec> {
    let Yaml::Mapping(m) = value else {
        if !matches!(value, Yaml::Null) {
            let found = yaml::kind(value);
            r.problem(
                &["observers"],
                format!("config: key \"observers\": expected a map of names to observers, found {found}"),
            );
        }
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, spec) in yaml::entries(m) {
        let subject = format!("observer {name:?}");
        let Yaml::Mapping(fields) = spec else {
            r.problem(
                &["observers", &name],
                format!(
                    "{subject}: expected a map with plugin and config, found {}",
                    yaml::kind(spec)
                ),
            );
            continue;
        };
        let mut plugin = None;
        let mut config = Json::Object(Default::default());
        let mut events = None;
        for (k, v) in yaml::entries(fields) {
            let path = ["observers", name.as_str(), k.as_str()];
            match k.as_str() {
                "plugin" => plugin = r.string(&path, &subject, v),
                "config" => config = r.json(&path, &subject, v),
                "events" => events = Some(r.names(&path, &subject, v)),
                other => r.problem(
                    &path,
                    format!("{subject}: unknown key {other:?}; known keys: plugin, config, events"),
                ),
            }
        }
        match plugin {
            Some(plugin) => out.push(ObserverSpec {
                name,
                plugin,
                config,
                events,
            }),
            None if !fields.contains_key("plugin") => {
                r.problem(
                    &["observers", &name],
                    format!("{subject}: \"plugin\" is missing (the built-in one is \"webhook\")"),
                );
            }
            None => {}
        }
    }
    out
}
