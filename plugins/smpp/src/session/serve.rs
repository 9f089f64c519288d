//! Serving one bound connection: a reader and a writer task, the submitter, and a loop that
//! answers what the SMSC sends, keeps the link alive and unbinds when the transport stops.

use super::submit::Window;
use super::{Inbound, Link};
use crate::liveness::{Check, Liveness};
use crate::shown::Shown;
use crate::wire::{self, Frame};
use crate::writer::{queue, write_loop, Ended, OUT_QUEUE};
use bytes::Bytes;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, BufReader};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// PDUs read and not yet handled, at most (each is up to 64 KiB).
const READ_AHEAD: usize = 8;

/// What the reader hands on: a PDU, the end of the stream, or why reading failed.
type Read = std::io::Result<Option<Frame>>;

impl Link {
    /// Serves one bound connection; returns why it ended. Submits still unanswered go back
    /// to the front of the outbox.
    pub(super) async fn serve(self: &Arc<Self>, stream: Box<dyn super::Io>, inbound: &mpsc::Sender<Inbound>) -> String {
        let (rd, wr) = tokio::io::split(stream);
        let (out_tx, out_rx) = mpsc::channel::<Bytes>(OUT_QUEUE);
        let mut writer = tokio::spawn(write_loop(wr, out_rx, self.settings.response_timeout));
        let (frames_tx, mut frames) = mpsc::channel::<Read>(READ_AHEAD);
        let reader = tokio::spawn(read_loop(rd, frames_tx));
        let window: Window = Arc::default();
        let permits = Arc::new(Semaphore::new(self.settings.raw.window));
        let submitter = self.settings.raw.bind_type.sends().then(|| {
            tokio::spawn(
                self.clone()
                    .submit_loop(window.clone(), permits.clone(), out_tx.clone()),
            )
        });

        let ended = self
            .serve_loop(&mut frames, &window, &out_tx, inbound, &mut writer)
            .await;

        if let Some(s) = submitter {
            s.abort();
            let _ = s.await;
        }
        drop(out_tx);
        reader.abort();
        let reason = why_ended(ended, writer).await;
        self.requeue_unanswered(&window);
        reason
    }

    /// Answers what the SMSC sends, keeps the link alive, and unbinds when the transport stops.
    async fn serve_loop(
        self: &Arc<Self>,
        frames: &mut mpsc::Receiver<Read>,
        window: &Window,
        out: &mpsc::Sender<Bytes>,
        inbound: &mpsc::Sender<Inbound>,
        writer: &mut JoinHandle<String>,
    ) -> Ended {
        let mut stop = self.stop.subscribe();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut s = Serving {
            link: self,
            window,
            out,
            inbound,
            live: Liveness::new(Instant::now()),
            unbinding: None,
            slot: None,
        };
        loop {
            let step = tokio::select! {
                free = self.mo_slots.clone().acquire_owned(), if s.slot.is_none() => {
                    s.slot_free(free.ok());
                    Ok(())
                }
                frame = frames.recv(), if s.slot.is_some() => s.on_read(frame).await,
                written = &mut *writer => {
                    return Ended::Writer(written.unwrap_or_else(|e| format!("the writer failed: {e}")));
                }
                _ = tick.tick() => s.on_tick(Instant::now()),
                _ = stop.changed(), if s.unbinding.is_none() => s.on_stop(),
            };
            if let Err(reason) = step {
                return Ended::Loop(reason);
            }
        }
    }
}

/// Reads PDUs into `frames` until the stream ends or fails (that, too, is handed on).
async fn read_loop<R: AsyncRead + Unpin>(rd: R, frames: mpsc::Sender<Read>) {
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    loop {
        let frame = wire::read_frame(&mut rd).await;
        let end = !matches!(frame, Ok(Some(_)));
        if frames.send(frame).await.is_err() || end {
            break;
        }
    }
}

/// Why serving ended, with the writer's error when it had one.
async fn why_ended(ended: Ended, writer: JoinHandle<String>) -> String {
    let (reason, write_error) = match ended {
        Ended::Writer(e) => ("the link to the SMSC was dropped".to_owned(), e),
        Ended::Loop(r) => {
            let e = tokio::time::timeout(Duration::from_secs(1), writer)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            (r, e)
        }
    };
    if write_error.is_empty() {
        reason
    } else {
        format!("{reason} ({write_error})")
    }
}

/// One bound connection while it is served. Each step returns `Err(reason)` when the link ends.
struct Serving<'a> {
    link: &'a Arc<Link>,
    window: &'a Window,
    out: &'a mpsc::Sender<Bytes>,
    inbound: &'a mpsc::Sender<Inbound>,
    live: Liveness,
    /// Our unbind awaiting its response: (sequence, sent at).
    unbinding: Option<(u32, Instant)>,
    /// A slot for the next deliver_sm: nothing is read while none is free.
    slot: Option<OwnedSemaphorePermit>,
}

impl Serving<'_> {
    fn send(&self, cmd: Command) -> Result<(), String> {
        queue(self.out, wire::encode(&cmd))
    }

    /// A deliver_sm slot is free again: reading goes on.
    fn slot_free(&mut self, slot: Option<OwnedSemaphorePermit>) {
        self.slot = slot;
        self.live.reading_again(Instant::now());
    }

    /// One read from the SMSC: a PDU to handle, or the end of the link.
    async fn on_read(&mut self, read: Option<Read>) -> Result<(), String> {
        let frame = match read {
            Some(Ok(Some(frame))) => frame,
            Some(Ok(None)) | None => return Err("the SMSC closed the connection".to_owned()),
            Some(Err(e)) => return Err(format!("reading from the SMSC: {e}")),
        };
        let cmd = match frame {
            Frame::Command(cmd) => cmd,
            Frame::Undecodable {
                command_id,
                sequence,
                error,
            } => return self.on_undecodable(command_id, sequence, &error),
        };
        if let Some(reason) = self.on_command(cmd).await? {
            return Err(reason);
        }
        if self.slot.is_none() {
            self.live.stopped_reading();
        }
        Ok(())
    }

    /// A PDU that could not be decoded: a request gets a generic_nack, and the link stays.
    fn on_undecodable(&self, command_id: u32, sequence: u32, error: &str) -> Result<(), String> {
        self.link.warn_peer(|| {
            format!(
                "undecodable PDU (command_id 0x{command_id:08X}, sequence {sequence}): {}",
                Shown(error)
            )
        });
        if command_id & 0x8000_0000 == 0 {
            queue(self.out, wire::generic_nack(sequence, wire::ESME_RSYSERR))?;
        }
        Ok(())
    }

    /// Every 100 ms: submits past their time, the link's liveness, the unbind's answer, and
    /// the count of warnings held back.
    fn on_tick(&mut self, now: Instant) -> Result<(), String> {
        let link = self.link;
        if self.slot.is_some() {
            link.sweep(self.window, now, self.live.clock_from);
        }
        let timeout = link.settings.response_timeout;
        match self
            .live
            .check(now, self.slot.is_some(), link.settings.enquire_link_interval, timeout)
        {
            Check::Fine => {}
            Check::Dead => return Err(format!("no enquire_link_resp within {timeout:?}")),
            Check::Enquire => {
                let s = link.next_seq();
                self.send(Command::new(CommandStatus::EsmeRok, s, Pdu::EnquireLink))?;
                self.live.enquiry = Some((s, now));
            }
        }
        if let Some((_, at)) = self.unbinding {
            if now.duration_since(at) > timeout {
                return Err(format!("no unbind_resp within {timeout:?}"));
            }
        }
        link.report_held_warnings(now);
        Ok(())
    }

    /// The transport is stopping: unbind.
    fn on_stop(&mut self) -> Result<(), String> {
        if self.link.stopping() {
            let s = self.link.next_seq();
            self.send(Command::new(CommandStatus::EsmeRok, s, Pdu::Unbind))?;
            self.unbinding = Some((s, Instant::now()));
        }
        Ok(())
    }

    /// Handles one PDU from the SMSC: `Ok(Some(reason))` when the link ends with it.
    async fn on_command(&mut self, cmd: Box<Command>) -> Result<Option<String>, String> {
        let seq = cmd.sequence_number();
        match cmd.id() {
            CommandId::SubmitSmResp => {
                let id = match cmd.pdu() {
                    Some(Pdu::SubmitSmResp(r)) => r.message_id().to_string(),
                    _ => String::new(),
                };
                if self.link.on_submit_resp(self.window, seq, cmd.status(), id).await {
                    self.live.answered(Instant::now());
                }
            }
            CommandId::GenericNack => self.on_generic_nack(seq, cmd.status()).await,
            CommandId::DeliverSm if self.link.draining.load(Ordering::Acquire) => {
                // Shutting down: the SMSC keeps it and delivers it again later.
                self.send(Command::new(
                    CommandStatus::from(wire::ESME_RX_T_APPN),
                    seq,
                    rusmpp::pdus::DeliverSmResp::default(),
                ))?;
            }
            CommandId::DeliverSm => return self.on_deliver_sm(cmd).await,
            CommandId::EnquireLink => {
                self.send(Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLinkResp))?;
            }
            CommandId::EnquireLinkResp => {
                if self.live.enquiry.is_some_and(|(s, _)| s == seq) {
                    self.live.enquiry = None;
                    self.live.answered(Instant::now());
                }
            }
            CommandId::Unbind => {
                self.send(Command::new(CommandStatus::EsmeRok, seq, Pdu::UnbindResp))?;
                return Ok(Some("the SMSC unbound".to_owned()));
            }
            CommandId::UnbindResp => return Ok(Some("unbound".to_owned())),
            other => self.on_unexpected(other, seq)?,
        }
        Ok(None)
    }

    /// A generic_nack: for a submit waiting under `seq`, its answer; otherwise a warning.
    async fn on_generic_nack(&mut self, seq: u32, status: CommandStatus) {
        let known = self.window.lock().map(|w| w.contains_key(&seq)).unwrap_or(false);
        if known {
            self.link.on_submit_resp(self.window, seq, status, String::new()).await;
            self.live.answered(Instant::now());
        } else {
            self.link.warn_peer(|| {
                format!(
                    "generic_nack from the SMSC for sequence {seq}: {}",
                    wire::status_name(status)
                )
            });
        }
    }

    /// A deliver_sm goes to the transport with the slot it was read under.
    async fn on_deliver_sm(&mut self, cmd: Box<Command>) -> Result<Option<String>, String> {
        let Some(taken) = self.slot.take() else {
            return Err("a deliver_sm read without a free slot".to_owned());
        };
        let item = Inbound {
            command: cmd,
            reply: self.out.clone(),
            slot: taken,
        };
        if self.inbound.send(item).await.is_err() {
            return Ok(Some("the transport is gone".to_owned()));
        }
        Ok(None)
    }

    /// A PDU the transport does not handle: a request gets a generic_nack.
    fn on_unexpected(&self, id: CommandId, seq: u32) -> Result<(), String> {
        self.link
            .warn_peer(|| format!("unexpected {id:?} from the SMSC (sequence {seq})"));
        if u32::from(id) & 0x8000_0000 == 0 {
            queue(self.out, wire::generic_nack(seq, wire::ESME_RINVCMDID))?;
        }
        Ok(())
    }
}
