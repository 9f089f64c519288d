//! Message stores for tests: a fresh SQLite file, or a fresh database on the machine's
//! PostgreSQL (127.0.0.1:5432, trust auth), dropped afterwards. A PostgreSQL that is not there
//! fails the test, loudly.

use crate::{ruvuma, text, TempDir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const POSTGRES: &str = "127.0.0.1:5432";

pub enum TestStore {
    Sqlite(PathBuf),
    /// The journal goes in a temporary folder of its own (a host on PostgreSQL would otherwise
    /// use `data/ruvuma.journal` in its working folder).
    Postgres {
        db: String,
        url: String,
        journal: PathBuf,
    },
}

fn psql(sql: &str) {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            "postgres",
            "-d",
            "test",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql (PostgreSQL's client) must be installed");
    assert!(
        out.status.success(),
        "PostgreSQL on {POSTGRES} must run for this test: psql -c {sql:?}: {}",
        text(&out.stderr)
    );
}

impl TestStore {
    pub fn sqlite(tmp: &TempDir) -> Self {
        Self::Sqlite(tmp.path().join("data").join("store.db"))
    }

    /// A new database on the local PostgreSQL, reached through `host_port` (a proxy, or
    /// [`POSTGRES`]).
    pub fn postgres(tag: &str, host_port: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let db = format!("ruvuma_{tag}_{}_{n}", std::process::id());
        psql(&format!("DROP DATABASE IF EXISTS {db}"));
        psql(&format!("CREATE DATABASE {db}"));
        let url = format!("postgres://postgres@{host_port}/{db}");
        let journal = std::env::temp_dir().join(format!("{db}.journal"));
        let _ = std::fs::remove_dir_all(&journal);
        Self::Postgres { db, url, journal }
    }

    /// The `store:` section for a config.
    pub fn yaml(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("store:\n  sqlite: {{path: \"{}\"}}\n", path.display()),
            Self::Postgres { url, journal, .. } => format!(
                "store:\n  postgres: {{url: \"{url}\"}}\n  journal: \"{}\"\n",
                journal.display()
            ),
        }
    }

    /// Runs `sql` with the database's own tool (`sqlite3`, `psql`): its output, trimmed.
    pub fn sql(&self, sql: &str) -> String {
        let out = match self {
            Self::Sqlite(path) => Command::new("sqlite3").arg(path).arg(sql).output(),
            Self::Postgres { db, .. } => Command::new("psql")
                .args(["-h", "127.0.0.1", "-U", "postgres", "-d", db, "-tAc", sql])
                .output(),
        }
        .expect("the database's command-line tool");
        assert!(out.status.success(), "{sql}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    }

    /// How many entries the memory bus's journal holds, as `messages stats` counts them.
    pub fn journal_entries(&self, config: &Path) -> u64 {
        let config = config.to_str().expect("utf-8 path");
        let out = ruvuma(&["messages", "stats", "-c", config, "--format", "json"]);
        assert!(out.status.success(), "messages stats: {}", text(&out.stderr));
        let json: Value = serde_json::from_slice(&out.stdout).expect("messages stats prints JSON");
        json["journal"]["waiting"].as_u64().expect("a journal.waiting count")
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Self::Postgres { db, journal, .. } = self {
            let _ = std::fs::remove_dir_all(journal);
            let _ = Command::new("psql")
                .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c"])
                .arg(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .output();
        }
    }
}

/// `ruvuma messages ARGS -c CONFIG`: exit code, stdout, stderr.
pub fn messages(config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["messages"];
    all.extend_from_slice(&args[..1.min(args.len())]);
    all.extend_from_slice(&["-c", config.to_str().expect("utf-8 path")]);
    all.extend_from_slice(&args[1.min(args.len())..]);
    let out = ruvuma(&all);
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// `messages list --format json --limit 0` with `filters`: every row.
pub fn listed(config: &Path, filters: &[&str]) -> Vec<Value> {
    let mut args = vec!["list", "--format", "json", "--limit", "0"];
    args.extend_from_slice(filters);
    let (code, out, err) = messages(config, &args);
    assert_eq!(code, Some(0), "messages list failed: {err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// `messages get ID`: the JSON, or `None` when it is not (yet) there.
pub fn get(config: &Path, id: &str) -> Option<Value> {
    let (code, out, err) = messages(config, &["get", id]);
    match code {
        Some(0) => Some(serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))),
        _ if err.contains("no message") => None,
        _ => panic!("messages get {id} failed: {err}"),
    }
}
