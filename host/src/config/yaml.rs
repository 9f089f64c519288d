//! Reading YAML values: what kind a value is, its text, map entries, and the conversion to the
//! JSON a plugin gets (with `${VAR}` expanded and nesting bounded).

use super::env;
use serde_json::{Map as JsonMap, Value as Json};
use serde_yaml_ng::{Mapping, Value as Yaml};

/// How deep values may nest inside a config.
pub const MAX_DEPTH: usize = 64;

pub fn kind(v: &Yaml) -> &'static str {
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

/// A short rendering of a value for messages.
pub fn text(v: &Yaml) -> String {
    match v {
        Yaml::Null => "nothing".into(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        Yaml::String(s) if s.chars().count() <= 60 => format!("{s:?}"),
        Yaml::String(_) => "a long string".into(),
        other => kind(other).into(),
    }
}

pub fn key(k: &Yaml) -> String {
    match k {
        Yaml::String(s) => s.clone(),
        other => text(other),
    }
}

pub fn entries(map: &Mapping) -> impl Iterator<Item = (String, &Yaml)> {
    map.iter().map(|(k, v)| (key(k), v))
}

fn number(n: &serde_yaml_ng::Number) -> Json {
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

/// The value as JSON, strings with `${VAR}` expanded; `path` names where it is, for errors.
pub fn to_json(v: &Yaml, path: &mut Vec<String>) -> Result<Json, String> {
    if path.len() > MAX_DEPTH {
        return Err(format!(
            "key {:?}: values nest deeper than {MAX_DEPTH} levels",
            path.join(".")
        ));
    }
    Ok(match v {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => number(n),
        Yaml::String(s) => Json::String(env::expand(s, path)?),
        Yaml::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                out.push(to_json(item, path)?);
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
                        let at = path.join(".");
                        return Err(format!("key {at:?}: map keys must be text, found {}", kind(other)));
                    }
                };
                path.push(key.clone());
                out.insert(key, to_json(item, path)?);
                path.pop();
            }
            Json::Object(out)
        }
        Yaml::Tagged(t) => to_json(&t.value, path)?,
    })
}

/// The text of a string value (numbers are taken as their text), `${VAR}` expanded.
pub fn string(v: &Yaml, path: &[String]) -> Result<String, String> {
    match v {
        Yaml::String(s) => env::expand(s, path),
        Yaml::Number(n) => Ok(n.to_string()),
        other => Err(format!("expected a string, found {}", kind(other))),
    }
}

/// The first line where the text nests deeper than [`MAX_DEPTH`], counting flow collections
/// (`[`, `{`), block list markers (`- `) and indentation (two columns a level). Looked at before
/// the YAML parser sees the text, whose time and stack grow with the nesting.
pub fn too_deep(text: &str) -> Option<usize> {
    let mut flow: usize = 0;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let dashes = trimmed.split_inclusive(' ').take_while(|w| w.trim() == "-").count();
        let mut quote: Option<char> = None;
        let mut deepest = flow;
        let mut previous = ' ';
        for c in trimmed.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') if previous == ' ' => break,
                (None, '[' | '{') => {
                    flow += 1;
                    deepest = deepest.max(flow);
                }
                (None, ']' | '}') => flow = flow.saturating_sub(1),
                _ => {}
            }
            previous = c;
        }
        let indent = (line.len() - trimmed.len()) / 2;
        if deepest + dashes + indent > MAX_DEPTH {
            return Some(number + 1);
        }
    }
    None
}
