//! Loading one file as a ruvuma plugin library. The file is checked before it is opened: a
//! regular file of bounded size, an ELF shared library whose segments all lie inside it (a
//! truncated library would otherwise kill the process with SIGBUS when it is mapped).

use super::Library;
use abi_stable::library::{lib_header_from_path, LibraryError};
use ruvuma_plugin_api::abi::{PluginModRef, ABI_VERSION};
use std::io::Read as _;
use std::path::Path;

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

/// How much of a library's start is read to check its headers.
const HEADERS_READ: u64 = 1024 * 1024;

/// The largest file taken for a plugin library.
const MAX_LIBRARY_BYTES: u64 = 512 * 1024 * 1024;

/// Checks that `path` can be mapped without harm: a regular file (not a FIFO, which would block
/// the reader for ever), not too large, an ELF file whose every loaded segment lies inside it.
fn check_file(path: &Path) -> Result<(), String> {
    use object::read::elf::{FileHeader, ProgramHeader};
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file (a FIFO, a device or a folder named like a library)".into());
    }
    if meta.len() > MAX_LIBRARY_BYTES {
        return Err(format!(
            "{} bytes is larger than any plugin library this host loads ({MAX_LIBRARY_BYTES})",
            meta.len()
        ));
    }
    // The headers sit at the start of the file: read no more than needed to find them.
    let mut data = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| std::io::Read::take(f, HEADERS_READ).read_to_end(&mut data))
        .map_err(|e| format!("cannot read it: {e}"))?;
    let not_elf = |e: object::read::Error| format!("not a loadable shared library: not an ELF file ({e})");
    let header = object::elf::FileHeader64::<object::Endianness>::parse(&*data).map_err(not_elf)?;
    let endian = header.endian().map_err(not_elf)?;
    let segments = header.program_headers(endian, &*data).map_err(not_elf)?;
    let len = meta.len();
    for segment in segments {
        let end = segment.p_offset(endian).checked_add(segment.p_filesz(endian));
        if end.is_none_or(|end| end > len) {
            return Err(format!(
                "a truncated or damaged library: a segment ends past the end of the file ({len} bytes)"
            ));
        }
    }
    Ok(())
}

/// What identifies one version of a library file: a file written anew (or renamed over it)
/// has another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    dev: u64,
    ino: u64,
    len: u64,
    modified_ns: i128,
}

impl Fingerprint {
    pub fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Self {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            modified_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

/// Loads one file as a ruvuma plugin library.
pub fn load_library(path: &Path) -> Result<Library, String> {
    let fingerprint = Fingerprint::of(path);
    let mut lib = load_from(path, path)?;
    lib.fingerprint = fingerprint;
    Ok(lib)
}

/// Loads a new version of a library already loaded from `path`: from a private copy, since
/// the dynamic loader hands back the library it already has for a path it has seen. The copy
/// is removed once mapped.
pub fn load_changed(path: &Path) -> Result<Library, String> {
    static COPIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let fingerprint = Fingerprint::of(path);
    let dir = std::env::temp_dir().join(format!("ruvuma-{}-libraries", std::process::id()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .create(&dir)
        .map_err(|e| format!("cannot make a private copy in {}: {e}", dir.display()))?;
    let n = COPIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let copy = dir.join(format!("{n}-{name}"));
    std::fs::copy(path, &copy).map_err(|e| format!("cannot make a private copy: {e}"))?;
    let loaded = load_from(&copy, path);
    let _ = std::fs::remove_file(&copy);
    let _ = std::fs::remove_dir(&dir);
    let mut lib = loaded?;
    lib.fingerprint = fingerprint;
    Ok(lib)
}

/// Loads the file at `file` as the library known by `path`.
fn load_from(file: &Path, path: &Path) -> Result<Library, String> {
    check_file(file)?;
    let header = lib_header_from_path(file).map_err(|e| explain(e, None))?;
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
    Ok(Library::from_module(path, module))
}

impl Library {
    /// A library whose root module is at hand: loaded from `path`, or linked into this process
    /// (the in-process tests' components).
    pub fn from_module(path: &Path, module: PluginModRef) -> Self {
        let info = (module.info())();
        Library {
            path: path.to_path_buf(),
            name: info.name.into(),
            version: info.version.into(),
            abi_version: info.abi_version,
            rustc_version: info.rustc_version.into(),
            target: info.target.into(),
            components: info.components.into_iter().collect(),
            module,
            fingerprint: None,
        }
    }
}
