//! One message or event through the app: a slot on the worker that holds its user, the app's
//! requests answered in the order it sends them, and an end: `done`, an error the app threw, the
//! worker's death, or the time limit. Past the limit the worker is asked to let the message go;
//! one that does not answer within a second (a loop that never yields) is killed, and the next
//! message gets a new one.

use crate::worker::{Heard, Worker};
use crate::{resources, App};
use ruvuma_plugin_api::Message;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

/// How long a worker has to let go of a message that ran out of time.
const LET_GO: Duration = Duration::from_secs(1);

/// Runs `cmd` (`inbound-message` or `inbound-event`) with `msg` on `worker`.
pub async fn run(app: &App, worker: &Worker, cmd: &str, msg: Value, inbound: Option<&Message>) -> Result<(), String> {
    let slot = worker.slot().await;
    let (id, mut heard) = worker.open_job();
    worker.send(&json!({"cmd": cmd, "job": id, "slot": slot.index, "msg": msg}));
    let deadline = Instant::now() + app.config.timeout();
    let result = loop {
        let next = tokio::time::timeout_at(deadline, heard.recv()).await;
        let line = match next {
            Err(_) => break Err(let_go(app, worker, id, &mut heard).await),
            Ok(None) => break Err("the worker has ended".into()),
            Ok(Some(Heard::Gone(why))) => break Err(format!("the worker ended: {why}")),
            Ok(Some(Heard::Line(line))) => line,
        };
        tracing::debug!(job = id, "sandbox: {}", crate::short(&line));
        match line.get("cmd").and_then(Value::as_str) {
            Some("done") => break Ok(()),
            Some("error") => break Err(line["reason"].as_str().unwrap_or("the app failed").to_owned()),
            Some("abandoned") => {}
            _ => worker.send(&resources::handle(app, inbound, &line).await),
        }
    };
    worker.close_job(id);
    drop(slot);
    result
}

/// The message ran out of time: the worker is asked to let it go, and killed if it cannot.
async fn let_go(
    app: &App,
    worker: &Worker,
    id: u64,
    heard: &mut tokio::sync::mpsc::UnboundedReceiver<Heard>,
) -> String {
    let limit = app.config.timeout();
    worker.send(&json!({"cmd": "abandon", "job": id}));
    let answered = tokio::time::timeout(LET_GO, async {
        while let Some(h) = heard.recv().await {
            match h {
                Heard::Line(line) if line["cmd"] == "abandoned" => return true,
                Heard::Line(..) => {}
                Heard::Gone(_) => return false,
            }
        }
        false
    })
    .await;
    if answered == Ok(true) {
        format!("the app did not finish within {limit:?} (timeout)")
    } else {
        worker.kill();
        format!(
            "the app did not finish within {limit:?} (timeout) and its worker did not let go; the worker was replaced"
        )
    }
}
