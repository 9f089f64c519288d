//! An application's own metrics (Vumi's `metrics.fire`: a name, a value and how values of it
//! add up), kept per component since the host started and shown on `/metrics`. Names and
//! aggregators are checked as Vumi checked them, and a component holds at most
//! [`MAX_APP_METRICS`] of them.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Distinct (name, aggregator) pairs one component may hold.
pub const MAX_APP_METRICS: usize = 256;
/// The longest metric name.
const MAX_NAME: usize = 100;

/// How the values of a metric add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Agg {
    Sum,
    Avg,
    Min,
    Max,
    Last,
}

impl Agg {
    fn parse(text: &str) -> Option<Agg> {
        Some(match text {
            "sum" => Agg::Sum,
            "avg" => Agg::Avg,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "last" => Agg::Last,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Agg::Sum => "sum",
            Agg::Avg => "avg",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Last => "last",
        }
    }
}

/// What is kept of one metric: its running value, and how many values made it.
#[derive(Debug, Clone, Copy)]
struct Acc {
    value: f64,
    count: u64,
}

/// One metric as read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppMetric {
    pub name: String,
    pub agg: Agg,
    /// The sum, mean, least, greatest or last value fired.
    pub value: f64,
    /// How many values were fired.
    pub count: u64,
}

#[derive(Default)]
pub struct AppMetrics(Mutex<BTreeMap<(String, Agg), Acc>>);

/// A name as Vumi's metrics resource takes it: a letter, then letters, digits, `.`, `_`, `-`.
fn check_name(name: &str) -> Result<(), String> {
    let named = name.len() <= MAX_NAME
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if named {
        Ok(())
    } else {
        Err(format!(
            "Invalid metric name: {:?} (a letter, then letters, digits, '.', '_' or '-'; at most {MAX_NAME})",
            name.chars().take(MAX_NAME + 1).collect::<String>()
        ))
    }
}

impl AppMetrics {
    /// Takes one value of `name`.
    pub fn fire(&self, name: &str, agg: &str, value: f64) -> Result<(), String> {
        check_name(name)?;
        let agg = Agg::parse(agg).ok_or_else(|| {
            format!(
                "Invalid metric aggregator {:?} (sum, avg, min, max or last)",
                agg.chars().take(20).collect::<String>()
            )
        })?;
        if !value.is_finite() {
            return Err("Invalid metric value: it must be a finite number".into());
        }
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let len = all.len();
        let acc = match all.get_mut(&(name.to_owned(), agg)) {
            Some(acc) => acc,
            None if len >= MAX_APP_METRICS => {
                return Err(format!(
                    "Too many metrics: this component holds {MAX_APP_METRICS} already"
                ))
            }
            None => all.entry((name.to_owned(), agg)).or_insert(Acc { value, count: 0 }),
        };
        acc.value = match agg {
            Agg::Sum if acc.count > 0 => acc.value + value,
            Agg::Avg => acc.value + (value - acc.value) / (acc.count + 1) as f64,
            Agg::Min => acc.value.min(value),
            Agg::Max => acc.value.max(value),
            _ => value,
        };
        acc.count += 1;
        Ok(())
    }

    pub fn read(&self) -> Vec<AppMetric> {
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .map(|((name, agg), acc)| AppMetric {
                name: name.clone(),
                agg: *agg,
                value: acc.value,
                count: acc.count,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(m: &AppMetrics, name: &str) -> (f64, u64) {
        let all = m.read();
        let found = all.iter().find(|a| a.name == name).expect(name);
        (found.value, found.count)
    }

    #[test]
    fn values_add_up_as_their_aggregator_says() {
        let m = AppMetrics::default();
        for v in [3.0, 1.0, 5.0] {
            for (name, agg) in [("s", "sum"), ("a", "avg"), ("lo", "min"), ("hi", "max"), ("l", "last")] {
                m.fire(name, agg, v).unwrap();
            }
        }
        assert_eq!(value(&m, "s"), (9.0, 3));
        assert_eq!(value(&m, "a"), (3.0, 3));
        assert_eq!(value(&m, "lo"), (1.0, 3));
        assert_eq!(value(&m, "hi"), (5.0, 3));
        assert_eq!(value(&m, "l"), (5.0, 3));
    }

    #[test]
    fn bad_names_aggregators_values_and_too_many_metrics_are_refused() {
        let m = AppMetrics::default();
        assert!(m.fire("1abc", "sum", 1.0).unwrap_err().contains("Invalid metric name"));
        assert!(m.fire("a b", "sum", 1.0).is_err());
        assert!(m.fire(&"a".repeat(101), "sum", 1.0).is_err());
        assert!(m.fire("a", "median", 1.0).unwrap_err().contains("aggregator"));
        assert!(m.fire("a", "sum", f64::NAN).unwrap_err().contains("finite"));
        for i in 0..MAX_APP_METRICS {
            m.fire(&format!("m{i}"), "sum", 1.0).unwrap();
        }
        assert!(m.fire("one.more", "sum", 1.0).unwrap_err().contains("Too many metrics"));
        m.fire("m0", "sum", 1.0).expect("one held already is still taken");
        assert_eq!(m.read().len(), MAX_APP_METRICS);
    }
}
