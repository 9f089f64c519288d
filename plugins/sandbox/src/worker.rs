//! One Node worker: a long-lived process running `js/bootstrap.js`, which runs the app's code
//! for many messages, each in a context slot of its own. Lines from the worker are read with a
//! bound and handed to the job (message) they name; when the process dies, every job it held
//! fails with the reason (a heap that ran out is named as such).

use crate::isolate::{self, Spec};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

/// What a job hears from its worker.
pub enum Heard {
    /// A request of the app's, or its `done` / `error` / `abandoned`.
    Line(Value),
    /// The worker is gone, and why.
    Gone(String),
}

/// A job's way to hear its lines, and the bytes its message has sent so far.
struct Listener {
    tx: mpsc::UnboundedSender<Heard>,
    sent: usize,
}

type Jobs = HashMap<u64, Listener>;

pub struct Worker {
    to_node: mpsc::UnboundedSender<String>,
    jobs: Arc<Mutex<Jobs>>,
    slots: Arc<Semaphore>,
    free: Mutex<Vec<usize>>,
    alive: Arc<AtomicBool>,
    pid: Option<u32>,
    next_job: AtomicU64,
}

/// A slot held for one job; given back when dropped.
pub struct Slot<'w> {
    worker: &'w Worker,
    pub index: usize,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        lock(&self.worker.free).push(self.index);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Worker {
    /// Starts a worker and loads the app into it: ready, or why the app does not load.
    pub async fn start(spec: &Arc<Spec>, index: usize) -> Result<Arc<Worker>, String> {
        let mut child = isolate::command(spec)
            .spawn()
            .map_err(|e| {
                let hint = if spec.isolate_network {
                    " (with isolate_network, the kernel must allow user namespaces; set isolate_network: false to run without)"
                } else {
                    ""
                };
                format!("cannot start {:?}: {e}{hint}", spec.executable)
            })?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut stderr = child.stderr.take().ok_or("no stderr")?;
        let (to_node, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let worker = Arc::new(Worker {
            to_node,
            jobs: Arc::default(),
            slots: Arc::new(Semaphore::new(spec.slots)),
            free: Mutex::new((0..spec.slots).rev().collect()),
            alive: Arc::new(AtomicBool::new(true)),
            pid: child.id(),
            next_job: AtomicU64::new(1),
        });
        tokio::spawn(write_lines(stdin, rx));
        let reader = tokio::spawn(read_lines(
            stdout,
            worker.jobs.clone(),
            Bounds {
                line: spec.max_line,
                output: spec.max_output,
            },
            ready_tx,
            worker.pid,
        ));
        let (jobs, alive, pid) = (worker.jobs.clone(), worker.alive.clone(), worker.pid);
        let memory = spec.max_memory_mb;
        tokio::spawn(async move {
            let tail = drain_tail(&mut stderr).await;
            let status = child.wait().await;
            let _ = reader.await;
            alive.store(false, Ordering::Release);
            let why = death(&status, &String::from_utf8_lossy(&tail), memory);
            tracing::warn!(pid, "sandbox worker {index} ended: {why}");
            for (_, job) in lock(&jobs).drain() {
                let _ = job.tx.send(Heard::Gone(why.clone()));
            }
        });
        worker.send(&serde_json::json!({
            "cmd": "initialize",
            "javascript": spec.javascript,
            "filename": spec.filename,
            "app_context": spec.app_context,
            "log_floor": spec.log_floor,
            "config": spec.config_values,
            "cpu_ms": spec.cpu_time.as_millis() as u64,
        }));
        let answer = tokio::time::timeout(spec.timeout * 3, ready_rx).await;
        match answer {
            Ok(Ok(Ok(()))) => Ok(worker),
            Ok(Ok(Err(reason))) => {
                worker.kill();
                Err(reason)
            }
            Ok(Err(_)) => Err("the worker ended while loading the app (is node installed?)".into()),
            Err(_) => {
                worker.kill();
                Err(format!("the app did not load within {:?}", spec.timeout * 3))
            }
        }
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Slots not held now.
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    pub fn send(&self, line: &Value) {
        let _ = self.to_node.send(line.to_string());
    }

    /// Waits for a free slot.
    pub async fn slot(&self) -> Slot<'_> {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the slots are never closed");
        let index = lock(&self.free).pop().unwrap_or(0);
        Slot {
            worker: self,
            index,
            _permit: permit,
        }
    }

    /// A new job: its number and what it will hear. A worker that is gone already says so.
    pub fn open_job(&self) -> (u64, mpsc::UnboundedReceiver<Heard>) {
        let id = self.next_job.fetch_add(1, Ordering::AcqRel);
        let (tx, rx) = mpsc::unbounded_channel();
        if self.is_alive() {
            lock(&self.jobs).insert(id, Listener { tx, sent: 0 });
        } else {
            let _ = tx.send(Heard::Gone("the worker has ended".into()));
        }
        (id, rx)
    }

    pub fn close_job(&self, id: u64) {
        lock(&self.jobs).remove(&id);
    }

    /// Stops the process at once (SIGKILL); its jobs fail when it is reaped.
    pub fn kill(&self) {
        if self.is_alive() {
            kill(self.pid);
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn kill(pid: Option<u32>) {
    if let Some(pid) = pid {
        // SAFETY: kill(2) on the pid of a child this worker started; it is reaped only by the
        // task that waits for it, after which no one calls this.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

/// Reads stderr to its end (a worker that writes much must not block on it), keeping the
/// last 8 KiB.
async fn drain_tail(stderr: &mut tokio::process::ChildStderr) -> Vec<u8> {
    const KEEP: usize = 8 << 10;
    let (mut tail, mut chunk) = (Vec::with_capacity(2 * KEEP), vec![0u8; KEEP]);
    while let Ok(n) = stderr.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&chunk[..n]);
        if tail.len() > 2 * KEEP {
            tail.drain(..tail.len() - KEEP);
        }
    }
    tail
}

/// Why a worker ended, from its exit status and the end of its stderr.
fn death(status: &std::io::Result<std::process::ExitStatus>, stderr: &str, memory: u32) -> String {
    use std::os::unix::process::ExitStatusExt;
    if stderr.contains("heap out of memory") || stderr.contains("Reached heap limit") {
        return format!("the app ran out of memory (max_memory_mb {memory})");
    }
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let how = match status {
        Ok(s) if s.signal() == Some(libc::SIGKILL) => "killed".to_string(),
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exited with status {c}"),
            (_, Some(sig)) => format!("ended by signal {sig}"),
            _ => "ended".into(),
        },
        Err(e) => format!("could not be waited for: {e}"),
    };
    if last.is_empty() {
        how
    } else {
        format!("{how}: {}", last.chars().take(300).collect::<String>())
    }
}

/// Writes what the jobs send, several lines to a write when they queue up.
async fn write_lines(mut stdin: ChildStdin, mut rx: mpsc::UnboundedReceiver<String>) {
    let mut buf = Vec::with_capacity(8192);
    while let Some(line) = rx.recv().await {
        buf.clear();
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        while buf.len() < 64 << 10 {
            let Ok(more) = rx.try_recv() else { break };
            buf.extend_from_slice(more.as_bytes());
            buf.push(b'\n');
        }
        if stdin.write_all(&buf).await.is_err() {
            return;
        }
    }
}

/// What the reader holds a worker to.
struct Bounds {
    /// Bytes of one line.
    line: usize,
    /// Bytes of all the lines one job's message sends.
    output: usize,
}

/// Reads the worker's lines, at most `bounds.line` bytes each, and hands each to its job. The
/// first `ready` or `load-error` answers the start. A line too long or not JSON ends the worker,
/// and so does a job whose lines pass `bounds.output`: they are counted here, as they are read,
/// so an app cannot queue more than that in the host while its message waits on a resource.
async fn read_lines(
    stdout: ChildStdout,
    jobs: Arc<Mutex<Jobs>>,
    bounds: Bounds,
    ready: oneshot::Sender<Result<(), String>>,
    pid: Option<u32>,
) {
    let mut ready = Some(ready);
    let mut reader = BufReader::with_capacity(64 << 10, stdout);
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        let read = (&mut reader)
            .take(bounds.line as u64 + 1)
            .read_until(b'\n', &mut line)
            .await;
        match read {
            Ok(0) | Err(_) => return,
            Ok(n) if n > bounds.line => {
                tracing::error!(
                    "a sandbox worker sent a line of more than {} bytes (max_line); it is stopped",
                    bounds.line
                );
                return kill(pid);
            }
            Ok(_) => {}
        }
        let value: Value = match serde_json::from_slice(&line) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!("a sandbox worker sent a line that is not JSON ({e}); it is stopped");
                return kill(pid);
            }
        };
        if let Err(why) = hand_over(value, line.len(), &jobs, &bounds, &mut ready) {
            tracing::warn!(pid, "{why}");
            return kill(pid);
        }
    }
}

/// Answers the start, or hands a line to its job; an error when the job has sent too much.
fn hand_over(
    value: Value,
    size: usize,
    jobs: &Mutex<Jobs>,
    bounds: &Bounds,
    ready: &mut Option<oneshot::Sender<Result<(), String>>>,
) -> Result<(), String> {
    match value.get("cmd").and_then(Value::as_str) {
        Some("ready") => {
            ready.take().map(|r| r.send(Ok(())));
            return Ok(());
        }
        Some("load-error") => {
            let reason = value["reason"].as_str().unwrap_or("the app does not load").to_owned();
            ready.take().map(|r| r.send(Err(reason)));
            return Ok(());
        }
        Some("worker-error") => {
            tracing::error!("sandbox worker: {}", value["reason"].as_str().unwrap_or("?"));
            return Ok(());
        }
        _ => {}
    }
    let Some(id) = value.get("job").and_then(Value::as_u64) else {
        tracing::warn!(
            "a sandbox worker sent a line that names no job: {}",
            crate::short(&value)
        );
        return Ok(());
    };
    let mut jobs = lock(jobs);
    let Some(job) = jobs.get_mut(&id) else {
        return Ok(());
    };
    job.sent += size;
    if job.sent <= bounds.output {
        let _ = job.tx.send(Heard::Line(value));
        return Ok(());
    }
    let why = format!(
        "the app sent more than {} bytes for one message (max_output); its worker was stopped",
        bounds.output
    );
    if let Some(job) = jobs.remove(&id) {
        let _ = job.tx.send(Heard::Gone(why.clone()));
    }
    Err(format!("sandbox job {id}: {why}"))
}
