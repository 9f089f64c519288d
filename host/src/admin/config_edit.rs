//! The config file through the admin server: read it, check a new text as `ruvuma validate`
//! does (every problem, at its line), save it with a backup of what it replaces, and apply it
//! (a reload of the running host).

use super::Admin;
use crate::config::LIMITS;
use std::path::{Path, PathBuf};

/// Backups kept beside the config; older ones are removed.
const BACKUPS_KEPT: usize = 10;

/// One problem with a config text: its line (when known) and what is wrong.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Found {
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("the config is larger than {0} bytes")]
    TooLarge(u64),
    #[error("{what} {path}: {error}")]
    Io {
        what: &'static str,
        path: String,
        error: std::io::Error,
    },
    #[error("the check stopped: {0}")]
    Check(String),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EditError {
    let path = path.display().to_string();
    move |error| EditError::Io { what, path, error }
}

pub fn read(admin: &Admin) -> Result<String, EditError> {
    std::fs::read_to_string(&admin.config_path).map_err(io("cannot read", &admin.config_path))
}

/// The line in a problem's location `file:line[:column]`.
fn line_of(location: &str, file: &str) -> Option<usize> {
    let rest = location.strip_prefix(file)?.strip_prefix(':')?;
    rest.split(':').next()?.parse().ok()
}

/// A file beside the config (so relative paths in it mean the same), named for what it holds.
fn beside(config: &Path, tag: &str) -> PathBuf {
    let name = config
        .file_name()
        .map_or("config.yaml".into(), |n| n.to_string_lossy().into_owned());
    config.with_file_name(format!(".{name}.{tag}"))
}

/// Every problem `validate` finds in `text`, as if it were the config file.
pub async fn check(admin: &Admin, text: String) -> Result<Vec<Found>, EditError> {
    if text.len() as u64 > LIMITS.max_file_bytes {
        return Err(EditError::TooLarge(LIMITS.max_file_bytes));
    }
    let real = admin.config_path.clone();
    let dirs = admin.extra_plugin_dirs.clone();
    let validate = admin.validate;
    let checked = tokio::task::spawn_blocking(move || {
        let candidate = beside(&real, &format!("check-{}", std::process::id()));
        std::fs::write(&candidate, &text).map_err(io("cannot write", &candidate))?;
        let problems = validate(&candidate, &dirs);
        let _ = std::fs::remove_file(&candidate);
        let shown = candidate.display().to_string();
        let real_shown = real.display().to_string();
        Ok::<_, EditError>(
            problems
                .into_iter()
                .map(|p| {
                    let location = p.location.unwrap_or_default();
                    Found {
                        line: line_of(&location, &shown),
                        message: p.message.replace(&shown, &real_shown),
                    }
                })
                .collect(),
        )
    });
    checked.await.map_err(|e| EditError::Check(e.to_string()))?
}

/// What a save did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Saved {
    pub path: String,
    /// Where the text it replaced was kept.
    pub backup: String,
}

/// Saves `text` over the config (already checked), keeping the old one as a backup.
pub fn save(admin: &Admin, text: &str) -> Result<Saved, EditError> {
    let path = &admin.config_path;
    let stamp = chrono_stamp();
    let backup = beside(path, &format!("bak-{stamp}"));
    std::fs::copy(path, &backup).map_err(io("cannot back up", path))?;
    let next = beside(path, "new");
    std::fs::write(&next, text).map_err(io("cannot write", &next))?;
    std::fs::rename(&next, path).map_err(io("cannot replace", path))?;
    prune_backups(path);
    tracing::info!(
        "admin: config {} saved (the old one kept as {}); it applies when the host reloads",
        path.display(),
        backup.display()
    );
    Ok(Saved {
        path: path.display().to_string(),
        backup: backup.display().to_string(),
    })
}

/// Applies the saved config to the running host (a reload); what it did.
pub async fn apply(admin: &Admin, full_restart: bool) -> Result<crate::reload::Report, EditError> {
    let (reply, report) = tokio::sync::oneshot::channel();
    let ask = super::ReloadAsk { full_restart, reply };
    let stopping = || EditError::Check("the host is stopping".into());
    admin.reload.send(ask).await.map_err(|_| stopping())?;
    report.await.map_err(|_| stopping())
}

/// `20261203T010203.123456Z`-like, sortable, from the system clock.
fn chrono_stamp() -> String {
    let t = ruvuma_plugin_api::Timestamp::now().to_string();
    t.chars()
        .map(|c| if c.is_ascii_digit() || c == '.' { c } else { '-' })
        .collect()
}

/// Keeps the newest [`BACKUPS_KEPT`] backups of `path`.
fn prune_backups(path: &Path) {
    let Some(dir) = path.parent() else { return };
    let prefix = beside(path, "bak-")
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let Some(prefix) = prefix else { return };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut backups: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)))
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(BACKUPS_KEPT);
    for old in backups.into_iter().take(excess) {
        let _ = std::fs::remove_file(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_from_locations() {
        assert_eq!(line_of("/x/.c.yaml.check-1:12", "/x/.c.yaml.check-1"), Some(12));
        assert_eq!(line_of("/x/.c.yaml.check-1:3:7", "/x/.c.yaml.check-1"), Some(3));
        assert_eq!(line_of("/x/.c.yaml.check-1", "/x/.c.yaml.check-1"), None);
    }
}
