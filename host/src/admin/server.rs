//! The admin server's accept loop: at most [`MAX_CONNECTIONS`] at once (more are closed as
//! they come), a request head within 10 s, a pause after a failed accept instead of a spin.

use super::MAX_CONNECTIONS;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a stopping server waits for its connections to finish what they are answering (a
/// reload's report, the answer to a full restart) before the host goes on.
const FINISH_WAIT: Duration = Duration::from_secs(5);

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves until `stop`, then returns once every connection has finished (or after
/// [`FINISH_WAIT`]).
pub(super) async fn run(listener: TcpListener, app: axum::Router, mut stop: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = stopped(&mut stop) => break,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("admin: accept failed: {e}; pausing 100 ms");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!("admin: {MAX_CONNECTIONS} connections open; a new one is closed");
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => r,
                _ = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!("admin: connection ended: {e}");
            }
        });
    }
    // Each connection holds a permit until it has ended.
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    if tokio::time::timeout(FINISH_WAIT, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            "admin: connections still open {} s after stopping are cut",
            FINISH_WAIT.as_secs()
        );
    }
}
