//! One logged-in connection: a reader that hands the server's USSD and SMS traffic to
//! `inbound`, and a writer that sends the queued messages (several per write when they pile up)
//! and a link check every `link_check_period` (the first at once, as Vumi). A message is acked
//! once its line is written; what is queued or being written when the link goes is nacked with
//! the reason. The link is dropped when the server closes it or logs the account out, when a
//! write takes longer than `write_timeout`, and when two link checks go unanswered.

use crate::frame::{self, Response, LINK_CHECK_ANSWERED};
use crate::lines::Read;
use crate::link::{until_true, Lines, Link, Out};
use crate::text::Shown;
use ruvuma_plugin_api::tally::Tally;
use ruvuma_plugin_api::{Event, Message};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// Most bytes and messages put into one write.
const BATCH_BYTES: usize = 64 * 1024;
const BATCH_MESSAGES: usize = 256;
/// Unanswered link checks after which the link is dropped (python-ssmi's rule).
const MAX_PENDING_CHECKS: u32 = 2;

/// What the reader and the writer of one connection share.
struct Shared {
    pending_checks: AtomicU32,
    /// Messages being written: nacked if the connection ends before the write finishes.
    in_flight: Mutex<Vec<Message>>,
    /// Bound the warnings the server's lines can cause: one a kind per 10 s, with a count.
    bad_lines: Mutex<Tally>,
    long_lines: Mutex<Tally>,
}

impl Link {
    /// Serves a logged-in connection until it ends; returns why it ended.
    pub(crate) async fn serve(&self, mut lines: Lines, mut writer: OwnedWriteHalf) -> String {
        let (tx, mut rx) = mpsc::channel(self.settings.raw.queue);
        self.set_outbox(Ok(tx));
        let shared = Shared {
            pending_checks: AtomicU32::new(0),
            in_flight: Mutex::default(),
            bad_lines: Mutex::new(Tally::new(Duration::from_secs(10))),
            long_lines: Mutex::new(Tally::new(Duration::from_secs(10))),
        };
        let mut stop = self.stop.subscribe();
        let reason = tokio::select! {
            r = self.read_loop(&mut lines, &shared) => r,
            r = self.write_loop(&mut writer, &mut rx, &shared) => r,
            _ = until_true(&mut stop) => "the transport stopped".to_owned(),
        };
        self.set_outbox(Err(reason.clone()));
        rx.close();
        let mut left: Vec<Out> = Vec::new();
        while let Ok(out) = rx.try_recv() {
            left.push(out);
        }
        let cut = std::mem::take(&mut *shared.in_flight.lock().unwrap_or_else(|p| p.into_inner()));
        for msg in cut {
            self.nack(msg, format!("the ssmi link went down while the message was being written (it may have reached the server): {reason}")).await;
        }
        if self.stopping() {
            self.flush_and_logout(&mut writer, left).await;
        } else {
            for out in left {
                self.nack(
                    out.msg,
                    format!("the ssmi link went down before the message was written: {reason}"),
                )
                .await;
            }
        }
        reason
    }

    async fn nack(&self, msg: Message, reason: String) {
        if let Err(e) = self.ctx.publish_event(Event::nack(&msg, &reason)).await {
            warn!(message_id = %msg.message_id, "ssmi: nack not published: {e}");
        }
    }

    /// Acks written messages on a task of their own, so that no ack is lost when the
    /// connection's futures are dropped.
    fn ack_all(&self, msgs: Vec<Message>) {
        let ctx = self.ctx.clone();
        self.ctx.spawn(async move {
            for msg in msgs {
                if let Err(e) = ctx.publish_event(Event::ack(&msg, &msg.message_id)).await {
                    warn!(message_id = %msg.message_id, "ssmi: ack not published: {e}");
                }
            }
        });
    }

    /// One write, within `write_timeout`.
    async fn write(&self, writer: &mut OwnedWriteHalf, bytes: &[u8]) -> Result<(), String> {
        let limit = self.settings.write_timeout;
        match tokio::time::timeout(limit, writer.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("writing to the server failed: {e}")),
            Err(_) => Err(format!(
                "a write to the server took longer than {limit:?} (it is not reading)"
            )),
        }
    }

    /// At stop: what is queued goes out, then a logout; acked or nacked as the write went.
    async fn flush_and_logout(&self, writer: &mut OwnedWriteHalf, left: Vec<Out>) {
        let mut bytes = Vec::new();
        let mut msgs = Vec::new();
        for out in left {
            bytes.extend_from_slice(&out.line);
            msgs.push(out.msg);
        }
        bytes.extend_from_slice(&frame::logout());
        match self.write(writer, &bytes).await {
            Ok(()) => self.ack_all(msgs),
            Err(e) => {
                for msg in msgs {
                    self.nack(msg, format!("the transport stopped and the last write failed: {e}"))
                        .await;
                }
            }
        }
        let _ = writer.shutdown().await;
    }

    async fn write_loop(&self, writer: &mut OwnedWriteHalf, rx: &mut mpsc::Receiver<Out>, shared: &Shared) -> String {
        let period = self.settings.link_check_period;
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    if shared.pending_checks.load(Ordering::Acquire) >= MAX_PENDING_CHECKS {
                        return format!("{MAX_PENDING_CHECKS} link checks went unanswered (link_check_period {period:?})");
                    }
                    shared.pending_checks.fetch_add(1, Ordering::AcqRel);
                    if let Err(e) = self.write(writer, &frame::link_check()).await {
                        return e;
                    }
                }
                got = rx.recv() => {
                    let Some(first) = got else { return "the outbound queue closed".to_owned() };
                    let mut bytes = first.line;
                    let mut msgs = vec![first.msg];
                    while bytes.len() < BATCH_BYTES && msgs.len() < BATCH_MESSAGES {
                        let Ok(next) = rx.try_recv() else { break };
                        bytes.extend_from_slice(&next.line);
                        msgs.push(next.msg);
                    }
                    if let Ok(mut f) = shared.in_flight.lock() {
                        f.extend(msgs);
                    }
                    if let Err(e) = self.write(writer, &bytes).await {
                        return e;
                    }
                    let written = shared.in_flight.lock().map(|mut f| std::mem::take(&mut *f)).unwrap_or_default();
                    self.ack_all(written);
                }
            }
        }
    }

    async fn read_loop(&self, lines: &mut Lines, shared: &Shared) -> String {
        let mut draining = self.draining.subscribe();
        loop {
            if *draining.borrow_and_update() {
                // Draining: nothing more is taken from the server until the transport stops.
                std::future::pending::<()>().await;
            }
            let read = tokio::select! {
                r = lines.next() => r,
                _ = until_true(&mut draining) => continue,
            };
            match read {
                Err(e) => return format!("reading from the server failed: {e}"),
                Ok(Read::End) => return "the server closed the connection".to_owned(),
                Ok(Read::TooLong { bytes }) => {
                    if let Some(n) = shared.long_lines.lock().ok().and_then(|mut t| t.note()) {
                        warn!(
                            "ssmi: a line of {bytes} bytes from the server skipped: longer than max_line ({}) ({n} such line(s) since the last report)",
                            self.settings.raw.max_line
                        );
                    }
                }
                Ok(Read::Line(line)) => {
                    if let Some(reason) = self.handle(&line, shared).await {
                        return reason;
                    }
                }
            }
        }
    }

    /// Acts on one line from the server; `Some(reason)` drops the link.
    async fn handle(&self, line: &[u8], shared: &Shared) -> Option<String> {
        let response = match frame::parse(line) {
            Ok(r) => r,
            Err(e) => {
                if let Some(n) = shared.bad_lines.lock().ok().and_then(|mut t| t.note()) {
                    warn!(
                        "ssmi: a line from the server skipped: {e}: {} ({n} such line(s) since the last report)",
                        Shown(line)
                    );
                }
                return None;
            }
        };
        match response {
            Response::Ussd(u) => self.inbound.ussd(u).await,
            Response::Mo(mo) => self.inbound.sms(mo).await,
            Response::Ack { kind } if kind == LINK_CHECK_ANSWERED.as_bytes() => {
                shared.pending_checks.store(0, Ordering::Release);
            }
            Response::Ack { kind } => debug!("ssmi: ack {} from the server", Shown(kind)),
            Response::Nack { kind } => warn!(
                "ssmi: the server refused a command: {} (nack {}; SSMI does not say which command)",
                frame::nack_reason(kind),
                Shown(kind)
            ),
            Response::Seq { msisdn, sequence } => {
                debug!("ssmi: SMS to {} has sequence number {}", Shown(msisdn), Shown(sequence))
            }
            Response::Report { msisdn, sequence, code } => info!(
                "ssmi: delivery report for the SMS to {} with sequence number {}: code {} (not matched to a message)",
                Shown(msisdn),
                Shown(sequence),
                Shown(code)
            ),
            Response::FreeForm { text } => info!("ssmi: the server says {}", Shown(text)),
            Response::Logout { ip } => {
                return Some(format!(
                    "the server logged this account out (logged in from {})",
                    Shown(ip)
                ))
            }
            Response::Other { code } => debug!("ssmi: command {code} from the server is not handled; skipped"),
        }
        None
    }
}
