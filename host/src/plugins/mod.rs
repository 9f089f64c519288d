//! Finding and loading plugin libraries, and the catalogue of the components they export.

mod load;
mod search;

pub use load::{load_library, Fingerprint};
pub use search::plugin_dirs;

use ruvuma_plugin_api::abi::{ComponentInfo, PluginModRef};
use ruvuma_plugin_api::Kind;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

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
    /// The file as it was when it was loaded: a reload loads it again when this changes.
    pub fingerprint: Option<Fingerprint>,
}

impl Library {
    /// Whether two libraries are the same code loaded once: a library loaded again (a new
    /// version of its file) is not.
    pub fn same_code(&self, other: &Library) -> bool {
        std::ptr::eq(self.module.0.to_raw_ptr(), other.module.0.to_raw_ptr())
    }
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
    /// Shared with the catalogue of the next reload while the file does not change.
    pub libraries: Vec<Arc<Library>>,
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

impl Catalogue {
    /// Loads every library in `dirs`. Failures are kept, not fatal: a broken file only matters
    /// when a config needs what it would have provided.
    pub fn load(dirs: Vec<PathBuf>) -> Self {
        Self::load_again(dirs, None)
    }

    /// [`Catalogue::load`] for a reload: a library whose file has not changed since `before`
    /// loaded it is the same library; one that changed is loaded anew (a private copy, as the
    /// loader would otherwise hand back the one already mapped at that path). Libraries are
    /// never unloaded: the old one stays for whatever still uses it.
    pub fn load_again(dirs: Vec<PathBuf>, before: Option<&Catalogue>) -> Self {
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
                .filter(|p| search::is_library(p))
                .collect();
            files.sort();
            for path in files {
                let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
                if seen.contains(&canonical) {
                    continue;
                }
                seen.push(canonical);
                let known = before.and_then(|b| b.libraries.iter().find(|l| l.path == path));
                let now = Fingerprint::of(&path);
                let loaded = match known {
                    Some(lib) if lib.fingerprint.is_some() && lib.fingerprint == now => Ok(lib.clone()),
                    Some(_) => load::load_changed(&path).map(Arc::new),
                    None => load_library(&path).map(Arc::new),
                };
                match loaded {
                    Ok(lib) => cat.add(lib),
                    Err(reason) => cat.errors.push(LoadError { path, reason }),
                }
            }
        }
        cat
    }

    /// A catalogue of one library linked into this process (its components compiled in), for
    /// running topologies in-process with test components.
    pub fn linked(name: &str, module: PluginModRef) -> Self {
        let mut cat = Catalogue::default();
        cat.add(Arc::new(Library::from_module(std::path::Path::new(name), module)));
        cat
    }

    fn add(&mut self, lib: Arc<Library>) {
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

    /// A Vumi class by another of its dotted paths: Vumi's own code and tests name a class both
    /// by its package (`vumi.dispatchers.SimpleDispatchRouter`) and by its module
    /// (`vumi.dispatchers.base.SimpleDispatchRouter`). The same area and class name is the
    /// same class.
    fn vumi_path(&self, kind: Kind, name: &str) -> Option<&(usize, usize)> {
        let (area, class) = vumi_area_and_class(name)?;
        self.index
            .iter()
            .find(|((k, alias), _)| *k == kind && vumi_area_and_class(alias) == Some((area, class)))
            .map(|(_, at)| at)
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
        if let Some(&(li, ci)) = self
            .index
            .get(&(kind, name.to_owned()))
            .or_else(|| self.vumi_path(kind, name))
        {
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

/// `("dispatchers", "SimpleDispatchRouter")` for `vumi.dispatchers.base.SimpleDispatchRouter`.
fn vumi_area_and_class(path: &str) -> Option<(&str, &str)> {
    let mut parts = path.split('.');
    if parts.next()? != "vumi" {
        return None;
    }
    let area = parts.next()?;
    let class = parts.next_back()?;
    Some((area, class))
}

#[cfg(test)]
mod tests {
    use super::vumi_area_and_class;

    #[test]
    fn vumi_paths_name_an_area_and_a_class() {
        let simple = Some(("dispatchers", "SimpleDispatchRouter"));
        assert_eq!(vumi_area_and_class("vumi.dispatchers.SimpleDispatchRouter"), simple);
        assert_eq!(
            vumi_area_and_class("vumi.dispatchers.base.SimpleDispatchRouter"),
            simple
        );
        assert_eq!(
            vumi_area_and_class("vumi.transports.smpp.smpp_transport.SmppTransceiverTransport"),
            Some(("transports", "SmppTransceiverTransport"))
        );
        assert_eq!(vumi_area_and_class("simple"), None);
        assert_eq!(vumi_area_and_class("vumi.x"), None);
    }
}
