//! Serving reloads, one at a time, whoever asks: SIGHUP, `--watch`, the admin server.

use crate::admin::{ReloadAsk, Shown};
use crate::compile::{prepare_again, Prepared};
use crate::reload::{Outcome, Reloads, Report, Running, Trigger};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, watch, Mutex};

/// The running config, and what reloads it.
#[derive(Clone)]
pub(super) struct Reloader {
    /// None once the host has stopped.
    pub running: Arc<Mutex<Option<Running>>>,
    pub reloads: Arc<Reloads>,
    extra_dirs: Vec<PathBuf>,
    /// What the admin pages show of the running config.
    shown: Arc<RwLock<Arc<Shown>>>,
    /// Turned true when a reload asked for a full restart.
    pub restart: Arc<watch::Sender<bool>>,
}

impl Reloader {
    pub fn new(running: Running, extra_dirs: &[PathBuf], shown: Arc<RwLock<Arc<Shown>>>) -> Self {
        Self {
            running: Arc::new(Mutex::new(Some(running))),
            reloads: Arc::default(),
            extra_dirs: extra_dirs.to_vec(),
            shown,
            restart: Arc::new(watch::channel(false).0),
        }
    }

    /// Reads the config file again and applies it; with `full_restart`, a config that changes
    /// global keys asks for a restart of the whole process instead of being refused.
    pub async fn reload(&self, trigger: Trigger, full_restart: bool) -> Report {
        self.apply(None, trigger, full_restart).await
    }

    /// Applies `new` (none: the config file read again, with the running libraries reused
    /// while their files have not changed).
    pub async fn apply(&self, new: Option<Prepared>, trigger: Trigger, full_restart: bool) -> Report {
        let began = std::time::Instant::now();
        let mut guard = self.running.lock().await;
        let Some(running) = guard.as_mut() else {
            return Report::stopping(trigger);
        };
        let new = new.map(Ok).unwrap_or_else(|| {
            let path = running.prepared.plan.config.path.clone();
            prepare_again(&path, &self.extra_dirs, Some(&running.prepared.catalogue))
        });
        let report = running.reload(new, trigger, full_restart, &self.reloads, began).await;
        if report.outcome == Outcome::Restarting {
            self.restart.send_replace(true);
        }
        let shown = Shown::of(&running.prepared.plan, &running.prepared.catalogue);
        *self.shown.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(shown);
        report
    }

    /// Answers the admin server's reloads until `stop`.
    pub fn serve(&self, mut asked: mpsc::Receiver<ReloadAsk>, mut stop: watch::Receiver<bool>) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let ask = tokio::select! {
                    ask = asked.recv() => ask,
                    _ = stop.wait_for(|s| *s) => None,
                };
                let Some(ask) = ask else { break };
                let report = me.reload(Trigger::Admin, ask.full_restart).await;
                let _ = ask.reply.send(report);
            }
        });
    }

    /// What runs, taken to be stopped.
    pub async fn take(&self) -> Option<Running> {
        self.running.lock().await.take()
    }
}
