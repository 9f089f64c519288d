//! Finding and loading plugin libraries, and the catalogue of the components they export.

use abi_stable::library::{lib_header_from_path, LibraryError};
use ruvuma_plugin_api::abi::{ComponentInfo, PluginModRef, ABI_VERSION};
use ruvuma_plugin_api::Kind;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A loaded plugin library. Libraries are never unloaded.
pub struct Library {
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    pub abi_version: u32,
    pub rustc_version: String,
    pub target: String,
    pub components: Vec<ComponentInfo>,
    pub module: PluginModRef,
}

/// A file that could not be loaded, and why.
#[derive(Debug, Clone)]
pub struct LoadError {
    pub path: PathBuf,
    pub reason: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// Every library found, every file that failed, and the components by kind and name.
#[derive(Default)]
pub struct Catalogue {
    pub dirs: Vec<PathBuf>,
    pub libraries: Vec<Library>,
    pub errors: Vec<LoadError>,
    /// (kind, name or alias) → (library index, component index); first library wins.
    index: BTreeMap<(Kind, String), (usize, usize)>,
    /// Components exported by more than one library: a configuration error if used.
    pub duplicates: Vec<String>,
}

/// A component found in the catalogue.
pub struct Found<'a> {
    pub library: &'a Library,
    pub info: &'a ComponentInfo,
}

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

fn is_library(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    matches!(ext, "so" | "dylib" | "dll")
}

fn explain(err: LibraryError, plugin_api: Option<String>) -> String {
    let theirs = plugin_api.map_or_else(|| "an unknown version".to_owned(), |v| format!("ruvuma-plugin-api {v}"));
    match err {
        LibraryError::OpenError { err, .. } => format!("not a loadable shared library: {err}"),
        LibraryError::GetSymbolError { .. } => {
            "not a ruvuma plugin: it has no ruvuma plugin header (plugins export one with ruvuma_plugin_api::export_plugin!)"
                .into()
        }
        LibraryError::ParseVersionError(e) => format!("not a ruvuma plugin: unreadable version: {e}"),
        LibraryError::IncompatibleVersionNumber { library_name, expected_version, actual_version } => format!(
            "plugin ABI mismatch: built against {library_name} {actual_version}, this host uses {expected_version}; \
             rebuild the plugin against ruvuma-plugin-api {}",
            env!("CARGO_PKG_VERSION")
        ),
        LibraryError::AbiInstability(e) => format!(
            "plugin layout mismatch: the plugin was built against {theirs}, this host uses ruvuma-plugin-api {} \
             (plugin ABI {ABI_VERSION}), and the types that cross between them differ; rebuild the plugin against \
             the host's ruvuma-plugin-api. Details: {e}",
            env!("CARGO_PKG_VERSION")
        ),
        LibraryError::InvalidAbiHeader(h) => {
            format!("not a ruvuma plugin: its abi_stable header {h:?} is not one this host understands")
        }
        LibraryError::InvalidCAbi { expected, found } => {
            format!("plugin ABI mismatch: C ABI {found:?}, this host expects {expected:?}")
        }
        LibraryError::RootModule { err, module_name, version } => {
            format!("plugin {module_name} {version} failed to initialise: {err}")
        }
        other => format!("cannot load: {other}"),
    }
}

/// Loads one file as a ruvuma plugin library.
pub fn load_library(path: &Path) -> Result<Library, String> {
    let header = lib_header_from_path(path).map_err(|e| explain(e, None))?;
    let module = header
        .init_root_module::<PluginModRef>()
        .map_err(|e| explain(e, Some(header.version_strings().version.to_string())))?;
    let abi = module.abi_version();
    if abi != ABI_VERSION {
        return Err(format!(
            "plugin ABI mismatch: the library declares plugin ABI {abi}, this host speaks plugin ABI {ABI_VERSION}; \
             rebuild it against ruvuma-plugin-api {}",
            env!("CARGO_PKG_VERSION")
        ));
    }
    let info = (module.info())();
    Ok(Library {
        path: path.to_path_buf(),
        name: info.name.into(),
        version: info.version.into(),
        abi_version: info.abi_version,
        rustc_version: info.rustc_version.into(),
        target: info.target.into(),
        components: info.components.into_iter().collect(),
        module,
    })
}

impl Catalogue {
    /// Loads every library in `dirs`. Failures are kept, not fatal: a broken file only matters
    /// when a config needs what it would have provided.
    pub fn load(dirs: Vec<PathBuf>) -> Self {
        let mut cat = Catalogue {
            dirs: dirs.clone(),
            ..Default::default()
        };
        let mut seen = Vec::new();
        for dir in &dirs {
            let entries = match std::fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) => {
                    cat.errors.push(LoadError {
                        path: dir.clone(),
                        reason: format!("cannot read plugin folder: {e}"),
                    });
                    continue;
                }
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_library(p))
                .collect();
            files.sort();
            for path in files {
                let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
                if seen.contains(&canonical) {
                    continue;
                }
                seen.push(canonical);
                match load_library(&path) {
                    Ok(lib) => cat.add(lib),
                    Err(reason) => cat.errors.push(LoadError { path, reason }),
                }
            }
        }
        cat
    }

    fn add(&mut self, lib: Library) {
        let li = self.libraries.len();
        for (ci, info) in lib.components.iter().enumerate() {
            let names = std::iter::once(info.name.as_str()).chain(info.aliases.iter().map(|a| a.as_str()));
            for name in names {
                let key = (info.kind, name.to_owned());
                if let Some(&(other, _)) = self.index.get(&key) {
                    self.duplicates.push(format!(
                        "{} {name:?} is exported by both {} and {}",
                        info.kind,
                        self.libraries[other].path.display(),
                        lib.path.display()
                    ));
                } else {
                    self.index.insert(key, (li, ci));
                }
            }
        }
        self.libraries.push(lib);
    }

    /// The component a config names, or an error that says what is there instead.
    pub fn find(&self, kind: Kind, name: &str) -> Result<Found<'_>, String> {
        if let Some(dup) = self
            .duplicates
            .iter()
            .find(|d| d.starts_with(&format!("{kind} {name:?} ")))
        {
            return Err(format!("ambiguous {kind} {name:?}: {dup}; remove one of the libraries"));
        }
        if let Some(&(li, ci)) = self.index.get(&(kind, name.to_owned())) {
            let library = &self.libraries[li];
            return Ok(Found {
                library,
                info: &library.components[ci],
            });
        }
        let known: Vec<&str> = self
            .libraries
            .iter()
            .flat_map(|l| l.components.iter())
            .filter(|c| c.kind == kind)
            .map(|c| c.name.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut msg = format!(
            "unknown {kind} plugin {name:?}; known {kind}s: {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
        if !self.errors.is_empty() {
            let failed: Vec<String> = self.errors.iter().map(|e| e.to_string()).collect();
            msg.push_str(&format!("; these files failed to load: {}", failed.join("; ")));
        }
        if self.libraries.is_empty() && self.errors.is_empty() {
            let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
            msg.push_str(&format!("; no plugin libraries were found in {}", dirs.join(", ")));
        }
        Err(msg)
    }
}
