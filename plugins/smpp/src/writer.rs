//! Writing to the SMSC: a bounded queue of PDUs and a writer that gives up on a stalled link.

use bytes::Bytes;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// PDUs waiting to be written, at most: past it the SMSC is not reading what it is sent, and the
/// link is dropped rather than the queue grown.
pub const OUT_QUEUE: usize = 4096;

/// Why a connection's serving ended.
pub enum Ended {
    /// The serving loop ended, for this reason.
    Loop(String),
    /// The writer gave up (a write failed or stalled), with its error.
    Writer(String),
}

/// Queues a PDU to write without waiting: an error when the SMSC has stopped reading.
pub fn queue(out: &mpsc::Sender<Bytes>, pdu: Bytes) -> Result<(), String> {
    out.try_send(pdu).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => {
            format!("the SMSC is not reading: {OUT_QUEUE} PDUs wait to be written to it")
        }
        mpsc::error::TrySendError::Closed(_) => "the writer to the SMSC has stopped".to_owned(),
    })
}

/// Writes what is queued, in batches, until the queue closes; a write that takes longer than
/// `timeout` ends it. Returns the error, or "" after a clean end.
pub async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut out_rx: mpsc::Receiver<Bytes>,
    timeout: Duration,
) -> String {
    let mut buf = Vec::with_capacity(64 * 1024);
    while let Some(first) = out_rx.recv().await {
        buf.clear();
        buf.extend_from_slice(&first);
        while buf.len() < 60 * 1024 {
            match out_rx.try_recv() {
                Ok(more) => buf.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        match tokio::time::timeout(timeout, wr.write_all(&buf)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return format!("writing to the SMSC: {e}"),
            Err(_) => return format!("a write to the SMSC stalled for {timeout:?}: it is not reading"),
        }
    }
    let _ = tokio::time::timeout(timeout, wr.shutdown()).await;
    String::new()
}
