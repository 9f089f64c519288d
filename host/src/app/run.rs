//! `ruvuma run`: a host that runs until SIGINT or SIGTERM, reloads its config on SIGHUP (and,
//! with `--watch`, when the file changes), and restarts itself when a reload asks for it.

use super::{prepare, Host};
use crate::error::HostError;
use crate::reload::Trigger;
use ruvuma_plugin_api::abi::LogLevel;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

/// How often `--watch` looks at the config file.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// What `run` does with the command line's options.
pub struct RunOptions<'a> {
    pub extra_plugin_dirs: &'a [PathBuf],
    pub max_level: LogLevel,
    /// Reload when the config file changes.
    pub watch: bool,
}

/// Why the host stopped.
enum Ended {
    Signal(&'static str),
    Restart,
}

/// Starts the config and runs it until a signal to stop (or a full restart).
pub async fn run(path: &Path, options: RunOptions<'_>) -> Result<(), HostError> {
    let prepared = prepare(path, options.extra_plugin_dirs).map_err(HostError::Config)?;
    let host = Host::start_with(prepared, options.max_level, options.extra_plugin_dirs).await?;
    tracing::info!(
        "{} running {} from {}",
        host.alias(),
        host.counts().await,
        host.config_path().display()
    );
    let ended = serve(&host, options.watch).await?;
    match ended {
        Ended::Signal(s) => tracing::info!("{s}: shutting down (no new input; finishing messages in flight)"),
        Ended::Restart => tracing::info!("full restart: stopping (no new input; finishing messages in flight)"),
    }
    let alias = host.alias().to_owned();
    let journaled = host.store().is_some() && !host.bus().is_shared();
    let stopped = host.stop().await;
    tracing::info!("{alias} stopped");
    match stopped.abandoned {
        0 => {}
        n if journaled => {
            tracing::warn!("{n} accepted messages were not finished by shutdown_timeout; the journal keeps them and the next start handles them");
        }
        n => return Err(HostError::Abandoned(n)),
    }
    match ended {
        Ended::Restart => Err(restart()),
        Ended::Signal(_) => Ok(()),
    }
}

/// Waits for SIGTERM or SIGINT, reloading on SIGHUP and file changes meanwhile.
async fn serve(host: &Host, watch: bool) -> Result<Ended, HostError> {
    let listen = |kind| signal(kind).map_err(|e| HostError::Signal(e.to_string()));
    let (mut term, mut int, mut hup) = (
        listen(SignalKind::terminate())?,
        listen(SignalKind::interrupt())?,
        listen(SignalKind::hangup())?,
    );
    let mut changed = match watch {
        true => watch_file(host.config_path()),
        false => mpsc::channel(1).1,
    };
    let mut restart = host.restart_asked();
    loop {
        let trigger = tokio::select! {
            _ = term.recv() => return Ok(Ended::Signal("SIGTERM")),
            _ = int.recv() => return Ok(Ended::Signal("SIGINT")),
            _ = restart.wait_for(|r| *r) => return Ok(Ended::Restart),
            _ = hup.recv() => Trigger::Sighup,
            Some(()) = changed.recv() => Trigger::Watch,
        };
        host.reload(trigger).await;
    }
}

/// Tells of each change of the file's contents (looked at every [`WATCH_EVERY`]).
fn watch_file(path: &Path) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    let path = path.to_path_buf();
    // No more than the largest config read: a file grown past it is a change, and the
    // reload names the problem.
    let read = |p: &Path| {
        use std::io::Read as _;
        let mut text = Vec::new();
        let file = std::fs::File::open(p).ok()?;
        file.take(crate::config::LIMITS.max_file_bytes + 1)
            .read_to_end(&mut text)
            .ok()?;
        Some(text)
    };
    let mut last = read(&path);
    tracing::info!("watching {} for changes", path.display());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            // A file being replaced may be missing for a moment: look again next time.
            let Some(now) = read(&path) else { continue };
            if last.as_ref() != Some(&now) {
                last = Some(now);
                if tx.send(()).await.is_err() {
                    break;
                }
            }
        }
    });
    rx
}

/// Replaces this process with a fresh start of the same command line; returns only on failure.
fn restart() -> HostError {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return HostError::Restart(e.to_string()),
    };
    tracing::info!("restarting {}", exe.display());
    let err = std::process::Command::new(exe).args(std::env::args_os().skip(1)).exec();
    HostError::Restart(err.to_string())
}
