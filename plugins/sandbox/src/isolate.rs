//! How a worker is started, and what it may not do. Node runs with its permission model: it
//! reads only the bootstrap, the app's folder and the folders in `allow_read`, and writes no
//! file, starts no process and loads no native addon. Its JavaScript heap is capped
//! (`max_memory_mb`), core dumps and file writes are refused by rlimits, its open files are
//! capped, and with `isolate_network` it runs in a user and network namespace of its own, where
//! there is no network at all: it reaches the outside only through the host's resources.

use crate::config::Config;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

/// The bootstrap each worker runs.
const BOOTSTRAP: &str = include_str!("../js/bootstrap.js");

/// Everything a worker is started with, resolved from the config once.
pub struct Spec {
    pub executable: String,
    pub bootstrap: PathBuf,
    pub javascript: String,
    /// The app's file (for inline code, a name in the working folder): `require` resolves from
    /// it, and errors name it.
    pub filename: String,
    pub app_context: Option<String>,
    pub read: Vec<PathBuf>,
    pub slots: usize,
    pub timeout: Duration,
    pub max_memory_mb: u32,
    pub young_space_mb: u32,
    /// The lowest log level the host passes on (an index into `config::LEVELS`): the bootstrap
    /// answers lower ones itself.
    pub log_floor: usize,
    /// `config.get`'s answers, which the worker gives without asking the host.
    pub config_values: serde_json::Map<String, serde_json::Value>,
    /// The time one message may spend running the app's code (`cpu_time`).
    pub cpu_time: Duration,
    pub max_line: usize,
    /// Bytes of requests one message may send, counted as the worker's lines are read.
    pub max_output: usize,
    pub max_open_files: u32,
    pub isolate_network: bool,
    /// `--permission` (Node 23.5 and later) or `--experimental-permission` (Node 20 to 23).
    pub permission_flag: &'static str,
}

impl Spec {
    /// Reads the app, writes the bootstrap to a private folder, and finds Node's version.
    pub fn prepare(config: &Config, name: &str) -> Result<Spec, String> {
        let (javascript, filename) = match (&config.javascript_file, &config.javascript) {
            (Some(path), _) => {
                let path =
                    std::fs::canonicalize(path).map_err(|e| format!("javascript_file {}: {e}", path.display()))?;
                let text =
                    std::fs::read_to_string(&path).map_err(|e| format!("javascript_file {}: {e}", path.display()))?;
                (text, path)
            }
            (None, Some(text)) => {
                let here = std::env::current_dir().map_err(|e| format!("the working folder: {e}"))?;
                (text.clone(), here.join(format!("{name}.inline.js")))
            }
            (None, None) => return Err("give javascript_file or javascript".into()),
        };
        let folder = std::env::temp_dir().join(format!("ruvuma-sandbox-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        let bootstrap = folder.join("bootstrap.js");
        std::fs::write(&bootstrap, BOOTSTRAP).map_err(|e| format!("{}: {e}", bootstrap.display()))?;
        let app_folder = filename.parent().unwrap_or(Path::new("/")).to_path_buf();
        let mut read = vec![bootstrap.clone(), app_folder];
        read.extend(config.allow_read.iter().cloned());
        Ok(Spec {
            permission_flag: permission_flag(&config.executable)?,
            executable: config.executable.clone(),
            bootstrap,
            javascript,
            filename: filename.to_string_lossy().into_owned(),
            app_context: config.app_context.clone(),
            read,
            slots: config.slots,
            timeout: config.timeout(),
            max_memory_mb: config.max_memory_mb,
            young_space_mb: config.young_space(),
            log_floor: config.log_floor(),
            config_values: config.config_values(),
            cpu_time: config.cpu_time(),
            max_line: config.max_line,
            max_output: config.max_output,
            max_open_files: config.max_open_files,
            isolate_network: config.isolate_network,
        })
    }
}

/// Node's permission flag, by its version; Node before 20 has no permission model and is refused.
fn permission_flag(executable: &str) -> Result<&'static str, String> {
    let out = std::process::Command::new(executable)
        .arg("--version")
        .output()
        .map_err(|e| format!("executable {executable:?}: {e} (install Node.js 20 or later)"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version: Vec<u32> = text
        .trim()
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    match version.as_slice() {
        [major, minor, ..] if (*major, *minor) >= (23, 5) => Ok("--permission"),
        [major, ..] if *major >= 20 => Ok("--experimental-permission"),
        _ => Err(format!(
            "executable {executable:?} is Node.js {}: the sandbox needs 20 or later (its permission model)",
            text.trim()
        )),
    }
}

/// The command that starts one worker.
pub fn command(spec: &Spec) -> Command {
    let mut cmd = Command::new(&spec.executable);
    cmd.arg(spec.permission_flag)
        .arg("--no-warnings")
        .arg(format!("--max-old-space-size={}", spec.max_memory_mb))
        .arg(format!("--max-semi-space-size={}", spec.young_space_mb))
        // Workers are the unit of parallelism: V8's helper threads for collecting garbage would
        // only contend with the other workers (and the host) for the same cores.
        .arg("--single-threaded-gc")
        // A toolkit message's objects outlive a young collection whenever one falls while the
        // message waits on the host; V8 then allocates those sites' objects in the old
        // generation, where, dead, they hold what they point to through every young collection
        // until a full one: pauses of 30 to 50 ms instead of a few (BENCHMARKS.md).
        .arg("--no-allocation-site-pretenuring");
    for path in &spec.read {
        cmd.arg(format!("--allow-fs-read={}", path.display()));
    }
    cmd.arg(&spec.bootstrap)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let (files, network) = (u64::from(spec.max_open_files), spec.isolate_network);
    // SAFETY: the closure runs in the forked child before exec and calls only async-signal-safe
    // functions (setrlimit, unshare), touching no memory shared with the parent.
    unsafe {
        cmd.pre_exec(move || limits(files, network));
    }
    cmd
}

fn limits(files: u64, network: bool) -> std::io::Result<()> {
    let set = |resource, value: u64| {
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: setrlimit with a valid rlimit on this (child) process.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    set(libc::RLIMIT_NOFILE, files)?;
    set(libc::RLIMIT_CORE, 0)?;
    set(libc::RLIMIT_FSIZE, 0)?;
    // SAFETY: unshare on this (child) process before exec; it is single-threaded here.
    // No allocation here (the child of a threaded parent): the caller words the error.
    if network && unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
