//! Ranges for every number a config gives, checked by `validate` with the key named.

use ruvuma_plugin_api::prelude::ConfigProblem;

/// A problem when `value` lies outside `min..=max`.
pub fn within(key: &str, value: u64, min: u64, max: u64) -> Option<ConfigProblem> {
    (value < min || value > max).then(|| ConfigProblem::at(key, format!("{value} is outside {min}..={max}")))
}
