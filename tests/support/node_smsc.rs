//! The SMSC from the npm `smpp` package (tests/interop/node-smsc), for interop tests: started
//! with node, driven over stdin, watched through the JSON lines it prints.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct NodeSmsc {
    child: Child,
    stdin: ChildStdin,
    pub port: u16,
    lines: Arc<Mutex<Vec<Value>>>,
}

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/node-smsc")
}

/// Installs the package from its lockfile when it is not there yet (a fresh clone).
fn installed() -> PathBuf {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let dir = folder();
    ONCE.call_once(|| {
        if !dir.join("node_modules/smpp").exists() {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--silent"])
                .current_dir(&dir)
                .status()
                .expect("run npm (node and npm are needed for the SMPP interop tests)");
            assert!(status.success(), "npm ci in {} failed: {status}", dir.display());
        }
    });
    dir
}

impl NodeSmsc {
    pub fn start(system_id: &str, password: &str) -> Self {
        let dir = installed();
        let mut child = Command::new("node")
            .arg(dir.join("smsc.js"))
            .args(["--system-id", system_id, "--password", password])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node smsc.js");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout.read_line(&mut first).expect("read the listening line");
        let port = first
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("node smsc did not say where it listens: {first:?}"));
        let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                match serde_json::from_str(&line) {
                    Ok(v) => sink.lock().unwrap().push(v),
                    Err(e) => eprintln!("node smsc printed something that is not JSON ({e}): {line}"),
                }
            }
        });
        Self {
            child,
            stdin,
            port,
            lines,
        }
    }

    pub fn command(&mut self, cmd: Value) {
        writeln!(self.stdin, "{cmd}").expect("write to node smsc");
        self.stdin.flush().expect("flush");
    }

    pub fn events(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a printed event that `pick` accepts, and returns it.
    pub fn wait_event(&self, what: &str, limit: Duration, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(v) = self.events().into_iter().find(|v| pick(v)) {
                return v;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("node smsc: no {what} within {limit:?}; it printed {:#?}", self.events());
    }
}

impl Drop for NodeSmsc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
