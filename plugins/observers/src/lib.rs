//! `event_log`: an observer that appends each host event as one JSON line to a file (an audit
//! trail of binds, status changes, failures and, when asked for, message outcomes). The file is
//! rotated to `<path>.1` when it reaches `max_bytes`.

use ruvuma_plugin_api::prelude::*;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

const MAX_BYTES: u64 = 10 * 1024 * 1024 * 1024;

fn default_max_bytes() -> u64 {
    100 * 1024 * 1024
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventLogConfig {
    path: PathBuf,
    #[serde(default = "default_max_bytes")]
    max_bytes: u64,
}

struct Open {
    file: File,
    written: u64,
}

pub struct EventLog {
    path: PathBuf,
    max_bytes: u64,
    open: Mutex<Option<Open>>,
}

impl Component for EventLog {
    type Config = EventLogConfig;
    const NAME: &'static str = "event_log";
    const DESCRIPTION: &'static str = "Appends each host event as a JSON line to a file, rotated at max_bytes.";
    const CONFIG_DOC: &'static str =
        "path: the file (made if missing); max_bytes: rotate to <path>.1 past this size (100 MiB)";

    fn check(config: &EventLogConfig) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if config.path.as_os_str().is_empty() {
            problems.push(ConfigProblem::at("path", "is empty"));
        }
        if !(1024..=MAX_BYTES).contains(&config.max_bytes) {
            problems.push(ConfigProblem::at(
                "max_bytes",
                format!("expected 1024 to {MAX_BYTES}, found {}", config.max_bytes),
            ));
        }
        problems
    }

    fn create(config: EventLogConfig, _ctx: Context) -> Result<Self, String> {
        Ok(Self {
            path: config.path,
            max_bytes: config.max_bytes,
            open: Mutex::new(None),
        })
    }
}

impl EventLog {
    fn open(&self) -> Result<Open, String> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| format!("cannot open {}: {e}", self.path.display()))?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Open { file, written })
    }

    /// Moves the full file to `<path>.1` and starts a new one.
    fn rotate(&self) -> Result<Open, String> {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        std::fs::rename(&self.path, &old).map_err(|e| format!("cannot rotate {}: {e}", self.path.display()))?;
        self.open()
    }

    fn append(&self, line: &[u8]) -> Result<(), String> {
        let mut slot = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mut open = match slot.take() {
            Some(o) if o.written + line.len() as u64 > self.max_bytes => self.rotate()?,
            Some(o) => o,
            None => self.open()?,
        };
        open.file
            .write_all(line)
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
        open.written += line.len() as u64;
        *slot = Some(open);
        Ok(())
    }
}

impl Observer for EventLog {
    async fn start(&self) -> Result<(), String> {
        let open = self.open()?;
        *self.open.lock().unwrap_or_else(|p| p.into_inner()) = Some(open);
        Ok(())
    }

    async fn observe(&self, event: serde_json::Value) -> Result<(), String> {
        let mut line = event.to_string().into_bytes();
        line.push(b'\n');
        self.append(&line)
    }
}

ruvuma_plugin_api::export_plugin!(observers: [EventLog]);
