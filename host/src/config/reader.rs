//! Typed reads of config values, each with its range: a wrong value becomes a problem that
//! names the key and what it should be, and reading goes on.

use super::problem::{LineIndex, Problem};
use super::yaml;
use super::LIMITS;
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;
use std::ops::RangeInclusive;
use std::time::Duration;

pub(super) struct Reader<'a> {
    pub file: String,
    pub index: &'a LineIndex,
    pub problems: Vec<Problem>,
}

fn owned(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| s.to_string()).collect()
}

/// Seconds in a duration's text: `30`, `30s`, `250ms`, `5m`, `1.5min`, `2h`, `30d`.
fn seconds(text: &str) -> Option<f64> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-')) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let n: f64 = num.parse().ok()?;
    match unit {
        "ms" => Some(n / 1000.0),
        "s" | "" => Some(n),
        "m" | "min" => Some(n * 60.0),
        "h" => Some(n * 3600.0),
        "d" => Some(n * 86_400.0),
        _ => None,
    }
}

/// A duration from seconds, if it is a finite, non-negative number of at most `max`.
pub(super) fn duration_within(secs: f64, max: Duration) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0 && secs <= max.as_secs_f64()).then(|| Duration::from_secs_f64(secs))
}

impl Reader<'_> {
    pub fn problem(&mut self, path: &[&str], message: String) {
        let location = match self.index.line(path) {
            Some(line) => format!("{}:{line}", self.file),
            None => self.file.clone(),
        };
        self.problems.push(Problem::new(location, message));
    }

    fn key<'p>(path: &[&'p str]) -> &'p str {
        path.last().copied().unwrap_or("")
    }

    pub fn string(&mut self, path: &[&str], subject: &str, value: &Yaml) -> Option<String> {
        match yaml::string(value, &owned(path)) {
            Ok(s) => Some(s),
            Err(e) if e.starts_with("key ") => {
                self.problem(path, format!("{subject}: {e}"));
                None
            }
            Err(e) => {
                self.problem(path, format!("{subject}: key {:?}: {e}", Self::key(path)));
                None
            }
        }
    }

    pub fn names(&mut self, path: &[&str], subject: &str, value: &Yaml) -> Vec<String> {
        let key = Self::key(path);
        match value {
            Yaml::Sequence(items) => items.iter().filter_map(|v| self.string(path, subject, v)).collect(),
            Yaml::String(s) => vec![s.clone()],
            other => {
                let found = yaml::kind(other);
                self.problem(
                    path,
                    format!("{subject}: key {key:?}: expected a list of names, found {found}"),
                );
                Vec::new()
            }
        }
    }

    /// A whole number within `range`.
    pub fn count(&mut self, path: &[&str], subject: &str, value: &Yaml, range: RangeInclusive<u64>) -> Option<u64> {
        match value {
            Yaml::Number(n) if n.as_u64().is_some_and(|n| range.contains(&n)) => n.as_u64(),
            other => {
                let (lo, hi) = (range.start(), range.end());
                let found = yaml::text(other);
                let key = Self::key(path);
                self.problem(
                    path,
                    format!("{subject}: key {key:?}: expected a whole number from {lo} to {hi}, found {found}"),
                );
                None
            }
        }
    }

    /// `instances` (1 to `LIMITS.max_instances`; 1 when wrong).
    pub fn instances(&mut self, path: &[&str], subject: &str, value: &Yaml) -> usize {
        let n = self.count(path, subject, value, 1..=LIMITS.max_instances);
        n.map_or(1, |n| n as usize)
    }

    /// `concurrency` (1 to `LIMITS.max_concurrency`; 1 when wrong).
    pub fn concurrency(&mut self, path: &[&str], subject: &str, value: &Yaml) -> usize {
        let n = self.count(path, subject, value, 1..=LIMITS.max_concurrency);
        n.map_or(1, |n| n as usize)
    }

    /// Seconds, or a duration like `"30s"`, `"250ms"`, `"5m"`, of at most `max`.
    pub fn duration(&mut self, path: &[&str], subject: &str, value: &Yaml, max: Duration) -> Option<Duration> {
        let secs = match value {
            Yaml::Number(n) => n.as_f64(),
            Yaml::String(s) => seconds(s),
            _ => None,
        };
        let found = secs.and_then(|s| duration_within(s, max));
        if found.is_none() {
            let key = Self::key(path);
            self.problem(
                path,
                format!(
                    "{subject}: key {key:?}: expected seconds or a duration like \"30s\", from 0 to {} s, found {}",
                    max.as_secs(),
                    yaml::text(value)
                ),
            );
        }
        found
    }

    pub fn json(&mut self, path: &[&str], subject: &str, value: &Yaml) -> Json {
        match yaml::to_json(value, &mut owned(path)) {
            Ok(j) => j,
            Err(e) => {
                self.problem(path, format!("{subject}: {e}"));
                Json::Null
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let day = Duration::from_secs(86_400);
        let within = |t: &str| seconds(t).and_then(|s| duration_within(s, day));
        assert_eq!(within("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(within("2"), Some(Duration::from_secs(2)));
        assert_eq!(within("1m"), Some(Duration::from_secs(60)));
        assert_eq!(within("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(within("1d"), Some(day));
        assert_eq!(within("2d"), None, "over the maximum");
        assert_eq!(within("soon"), None);
        assert_eq!(within("99999999999999999999999s"), None);
        assert_eq!(within("1e300"), None);
        assert_eq!(within("-1"), None);
        assert_eq!(duration_within(f64::INFINITY, day), None);
        assert_eq!(duration_within(f64::NAN, day), None);
        assert_eq!(duration_within(1.0e19, day), None);
    }
}
