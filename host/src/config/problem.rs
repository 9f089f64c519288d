//! A problem found in a config, and where it is: the line of a key path, found through an index
//! of the file's keys made in one pass.

use std::collections::HashMap;
use std::fmt;

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

impl Problem {
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            location: Some(location.into()),
            message: message.into(),
        }
    }
}

/// The line of every block-style key in a file, by its path of keys (list items add no part).
/// Keys inside flow maps (`{a: 1}`) are not on lines of their own: a lookup falls back to the
/// nearest ancestor that is.
#[derive(Debug, Clone, Default)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
    /// Keys given twice in one map: (path, line of the second).
    pub duplicates: Vec<(String, usize)>,
}

/// The key a line starts with (after any `- ` list markers), if it has one.
fn line_key(trimmed: &str) -> Option<(&str, usize)> {
    let mut rest = trimmed;
    let mut shift = 0;
    while let Some(r) = rest.strip_prefix("- ") {
        rest = r.trim_start();
        shift = trimmed.len() - rest.len();
    }
    let (key, after) = if let Some(r) = rest.strip_prefix('"') {
        let end = r.find('"')?;
        (&r[..end], &r[end + 1..])
    } else if let Some(r) = rest.strip_prefix('\'') {
        let end = r.find('\'')?;
        (&r[..end], &r[end + 1..])
    } else {
        let end = rest.find(':')?;
        (&rest[..end], &rest[end..])
    };
    let after = after.strip_prefix(':')?;
    (after.is_empty() || after.starts_with([' ', '\t'])).then_some((key.trim(), shift))
}

/// `parent` and `key` as one path.
fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}\u{0}{key}")
    }
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut index = LineIndex::default();
        let mut seen = std::collections::HashSet::new();
        // (indent, path for lookups, path that tells list items apart) of the enclosing keys.
        let mut stack: Vec<(usize, String, String)> = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
                continue;
            }
            let Some((key, shift)) = line_key(trimmed) else {
                continue;
            };
            let raw_indent = line.len() - trimmed.len();
            let indent = raw_indent + shift;
            // A list item opens a frame of its own, so that keys of two items are told apart.
            let item_level = if shift > 0 { raw_indent + 1 } else { indent };
            while stack.last().is_some_and(|(i, _, _)| *i >= item_level) {
                stack.pop();
            }
            let (parent, unique_parent) = stack
                .last()
                .map_or((String::new(), String::new()), |(_, p, u)| (p.clone(), u.clone()));
            let unique_parent = if shift > 0 {
                let item = join(&unique_parent, &format!("#{number}"));
                stack.push((item_level, parent.clone(), item.clone()));
                item
            } else {
                unique_parent
            };
            let path = join(&parent, key);
            let unique = join(&unique_parent, key);
            if !seen.insert(unique.clone()) {
                index.duplicates.push((path.replace('\u{0}', "."), number + 1));
            }
            index.lines.entry(path.clone()).or_insert(number + 1);
            stack.push((indent, path, unique));
        }
        index
    }

    /// The line of `path`, or of its nearest ancestor on a line of its own.
    pub fn line(&self, path: &[&str]) -> Option<usize> {
        (1..=path.len())
            .rev()
            .find_map(|n| self.lines.get(&path[..n].join("\u{0}")).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_lists_and_flow_maps() {
        let text = "transports:\n  telnet:\n    plugin: telnet\n    config: {bind: x}\n\
                    dispatchers:\n  main:\n    middleware:\n      - log: logging\n    \"router_class\": simple\n";
        let index = LineIndex::new(text);
        assert_eq!(index.line(&["transports", "telnet", "plugin"]), Some(3));
        assert_eq!(index.line(&["transports", "telnet", "config", "bind"]), Some(4));
        assert_eq!(index.line(&["dispatchers", "main", "middleware", "log"]), Some(8));
        assert_eq!(index.line(&["dispatchers", "main", "router_class"]), Some(9));
        assert_eq!(index.line(&["nowhere"]), None);
    }

    #[test]
    fn duplicates_are_found_at_their_own_line() {
        let index = LineIndex::new("a:\n  b: 1\n  c: 2\n  b: 3\nb: 4\n");
        assert_eq!(index.duplicates, [("a.b".to_owned(), 4)]);
        let items = LineIndex::new("m:\n  - a: x\n    b: 1\n  - a: y\n    b: 2\n");
        assert!(items.duplicates.is_empty(), "{:?}", items.duplicates);
    }
}
