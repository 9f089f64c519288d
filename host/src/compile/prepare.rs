//! Preparing a config to run: read, resolved against the plugins found, compiled.

use super::{compile, Plan};
use crate::config::{self, Problem};
use crate::events::Events;
use crate::plugins::{plugin_dirs, Catalogue};
use std::path::{Path, PathBuf};

/// A config checked against the plugins: ready to start.
pub struct Prepared {
    pub plan: Plan,
    pub catalogue: Catalogue,
}

/// Reads, resolves and checks a config: the plan and the catalogue, or every problem.
/// Plugin configs and the wiring are checked even when the file has problems of its own, so
/// that every problem is reported at once.
pub fn prepare(path: &Path, extra_plugin_dirs: &[PathBuf]) -> Result<Prepared, Vec<Problem>> {
    prepare_again(path, extra_plugin_dirs, None)
}

/// [`prepare`] for a reload: the libraries `before` loaded are reused while their files have
/// not changed.
pub fn prepare_again(
    path: &Path,
    extra_plugin_dirs: &[PathBuf],
    before: Option<&Catalogue>,
) -> Result<Prepared, Vec<Problem>> {
    let text = config::read(path).map_err(|p| vec![p])?;
    let (cfg, mut problems) = config::parse_all(path, &text);
    let Some(cfg) = cfg else { return Err(problems) };
    for (name, e) in Events::check(&cfg.observers) {
        problems.push(cfg.problem(&["observers", &name], e.to_string()));
    }
    let catalogue = Catalogue::load_again(plugin_dirs(&cfg.plugin_dirs, extra_plugin_dirs), before);
    for e in &catalogue.errors {
        tracing::warn!("skipping plugin file {e}");
    }
    match compile(cfg, &catalogue) {
        Ok(plan) if problems.is_empty() => Ok(Prepared { plan, catalogue }),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}
