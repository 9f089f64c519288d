//! Where plugin libraries are looked for.

use std::path::{Path, PathBuf};

/// Where to look for plugins: explicit folders if any were given, else the executable's folder.
pub fn plugin_dirs(from_config: &[PathBuf], from_cli: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = from_cli.to_vec();
    if let Some(env) = std::env::var_os("RUVUMA_PLUGIN_PATH") {
        dirs.extend(std::env::split_paths(&env).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs.extend(from_config.iter().cloned());
    if dirs.is_empty() {
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            dirs.push(dir);
        }
    }
    let mut seen = Vec::new();
    dirs.retain(|d| {
        let key = d.canonicalize().unwrap_or_else(|_| d.clone());
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
    dirs
}

pub(super) fn is_library(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    matches!(ext, "so" | "dylib" | "dll")
}
