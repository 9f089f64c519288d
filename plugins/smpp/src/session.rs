//! One bind to the SMSC, kept up for as long as the transport runs: connect, bind, keep the
//! window of submit_sm full within mt_tps, answer what the SMSC sends, and bind again when the
//! link goes.

use crate::config::{BindType, Settings};
use crate::liveness::{Check, Liveness};
use crate::shown::Shown;
use crate::wire::{self, Frame};
use crate::writer::{queue, write_loop, Ended};
use bytes::Bytes;
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, SubmitSm};
use rusmpp::types::COctetString;
use rusmpp::values::{InterfaceVersion, Npi, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use ruvuma_plugin_api::{Context, Status, StatusLevel};
use std::collections::{BTreeMap, VecDeque};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch, Notify, OwnedSemaphorePermit, Semaphore};

/// What became of one submit_sm: the SMSC's message id, or why it was refused.
pub type Outcome = Result<String, String>;

/// One submit_sm waiting to be sent (again).
pub struct Job {
    pub pdu: SubmitSm,
    /// Sends so far that went unanswered.
    pub unanswered: u32,
    pub done: oneshot::Sender<Outcome>,
}

/// Submits waiting for the window, in order; those sent again go to the front.
#[derive(Default)]
pub struct Outbox {
    queue: Mutex<VecDeque<Job>>,
    notify: Notify,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Job>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, jobs: impl IntoIterator<Item = Job>) {
        self.lock().extend(jobs);
        self.notify.notify_one();
    }

    fn push_front(&self, jobs: Vec<Job>) {
        let mut q = self.lock();
        for job in jobs.into_iter().rev() {
            q.push_front(job);
        }
        drop(q);
        self.notify.notify_one();
    }

    async fn pop(&self) -> Job {
        loop {
            if let Some(job) = self.lock().pop_front() {
                return job;
            }
            self.notify.notified().await;
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Ends every waiting submit with `reason`.
    pub fn fail_all(&self, reason: &str) {
        for job in self.lock().drain(..) {
            let _ = job.done.send(Err(reason.to_owned()));
        }
    }
}

/// At most `limit` submits in any one-second span.
struct Pacer {
    limit: usize,
    sent: VecDeque<Instant>,
}

impl Pacer {
    /// Waits until one more submit keeps every one-second span within the limit.
    async fn wait(&mut self) {
        while self.sent.len() >= self.limit {
            let Some(&oldest) = self.sent.front() else { return };
            let free_at = oldest + Duration::from_secs(1);
            if free_at <= Instant::now() {
                self.sent.pop_front();
            } else {
                tokio::time::sleep_until(free_at.into()).await;
            }
        }
    }

    fn record(&mut self, at: Instant) {
        self.sent.push_back(at);
    }
}

/// Pauses after ESME_RTHROTTLED / ESME_RMSGQFUL, doubling while they go on.
#[derive(Default)]
struct Throttle {
    until: Option<Instant>,
    delay: Option<Duration>,
}

/// The connection: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

use crate::writer::OUT_QUEUE;
/// PDUs read and not yet handled, at most (each is up to 64 KiB).
const READ_AHEAD: usize = 8;

/// A PDU handed from the reader to whoever handles it (MO and receipts).
pub struct Inbound {
    pub command: Box<Command>,
    /// Where its response goes.
    pub reply: mpsc::Sender<Bytes>,
    /// One of the link's `mo_window` slots, given back when the response is on its way.
    pub slot: OwnedSemaphorePermit,
}

/// What the transport and the session share.
pub struct Link {
    pub ctx: Context,
    pub settings: Arc<Settings>,
    pub outbox: Outbox,
    pub stop: watch::Sender<bool>,
    pacer: Option<tokio::sync::Mutex<Pacer>>,
    throttle: Mutex<Throttle>,
    seq: AtomicU32,
    /// Submits sent and not yet answered, by sequence number (read by `stop` to wait for them).
    pub in_flight: AtomicU32,
    /// Deliver_sm read and not yet answered, at most `mo_window`.
    mo_slots: Arc<Semaphore>,
    /// Set by `drain`: new deliver_sm are refused with a temporary error.
    pub draining: AtomicBool,
    tls: Option<crate::tls::Tls>,
}

struct Sent {
    job: Job,
    at: Instant,
    _permit: OwnedSemaphorePermit,
}

type Window = Arc<Mutex<BTreeMap<u32, Sent>>>;

impl Link {
    pub fn new(ctx: Context, settings: Arc<Settings>) -> Result<Self, String> {
        let tls = if settings.raw.tls {
            Some(crate::tls::Tls::new(&settings.raw)?)
        } else {
            None
        };
        let settings_mo_window = settings.raw.mo_window.max(1);
        let pacer = settings.raw.mt_tps.map(|tps| {
            tokio::sync::Mutex::new(Pacer {
                limit: tps as usize,
                sent: VecDeque::with_capacity(tps as usize),
            })
        });
        Ok(Self {
            tls,
            ctx,
            settings,
            outbox: Outbox::default(),
            stop: watch::channel(false).0,
            pacer,
            throttle: Mutex::default(),
            seq: AtomicU32::new(1),
            in_flight: AtomicU32::new(0),
            mo_slots: Arc::new(Semaphore::new(settings_mo_window)),
            draining: AtomicBool::new(false),
        })
    }

    fn next_seq(&self) -> u32 {
        // Sequence numbers run 1..=0x7FFFFFFF.
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        (n % 0x7FFF_FFFF) + 1
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    async fn status(&self, level: StatusLevel, kind: &str, message: String) {
        match level {
            StatusLevel::Ok => tracing::info!("{message}"),
            _ => tracing::warn!("{message}"),
        }
        let status = Status::new("smpp", level, kind, message)
            .detail("host", self.settings.raw.host.as_str())
            .detail("port", self.settings.raw.port)
            .detail("bind_type", self.settings.raw.bind_type.as_str());
        if let Err(e) = self.ctx.publish_status(&status).await {
            tracing::warn!("status report not published: {e}");
        }
    }

    fn c_string<const MIN: usize, const MAX: usize>(text: &str) -> Result<COctetString<MIN, MAX>, String> {
        COctetString::from_str(text).map_err(|e| format!("{text:?}: {e}"))
    }

    fn bind_command(&self, seq: u32) -> Result<Command, String> {
        let c = &self.settings.raw;
        macro_rules! bind {
            ($t:ident) => {
                Pdu::from($t {
                    system_id: Self::c_string(&c.system_id)?,
                    password: Self::c_string(&c.password)?,
                    system_type: Self::c_string(&c.system_type)?,
                    interface_version: InterfaceVersion::from(c.interface_version),
                    addr_ton: Ton::from(c.addr_ton),
                    addr_npi: Npi::from(c.addr_npi),
                    address_range: Self::c_string(&c.address_range)?,
                })
            };
        }
        let pdu = match c.bind_type {
            BindType::Transceiver => bind!(BindTransceiver),
            BindType::Transmitter => bind!(BindTransmitter),
            BindType::Receiver => bind!(BindReceiver),
        };
        Ok(Command::new(CommandStatus::EsmeRok, seq, pdu))
    }

    /// Connects and binds; the stream is ready for traffic.
    async fn connect(&self) -> Result<Box<dyn Io>, String> {
        let c = &self.settings.raw;
        let timeout = self.settings.response_timeout;
        let addr = format!("{}:{}", c.host, c.port);
        let stream = tokio::time::timeout(timeout, TcpStream::connect(&addr))
            .await
            .map_err(|_| format!("connecting to {addr} took longer than {timeout:?}"))?
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        stream.set_nodelay(true).ok();
        let mut stream: Box<dyn Io> = match &self.tls {
            Some(tls) => Box::new(
                tokio::time::timeout(timeout, tls.connect(stream))
                    .await
                    .map_err(|_| format!("TLS handshake with {addr} took longer than {timeout:?}"))??,
            ),
            None => Box::new(stream),
        };
        let seq = self.next_seq();
        let bind = wire::encode(&self.bind_command(seq)?);
        stream
            .write_all(&bind)
            .await
            .map_err(|e| format!("sending bind_{} to {addr}: {e}", c.bind_type.as_str()))?;
        let answer = async {
            loop {
                match wire::read_frame(&mut stream).await {
                    Ok(Some(Frame::Command(cmd))) if cmd.sequence_number() == seq => return Ok(cmd),
                    Ok(Some(_)) => continue,
                    Ok(None) => return Err("the SMSC closed the connection before answering the bind".to_owned()),
                    Err(e) => return Err(format!("reading the bind response: {e}")),
                }
            }
        };
        let resp = tokio::time::timeout(timeout, answer).await.map_err(|_| {
            format!(
                "no answer to bind_{} from {addr} within {timeout:?}",
                c.bind_type.as_str()
            )
        })??;
        if resp.status() != CommandStatus::EsmeRok {
            return Err(format!(
                "bind_{} refused by {addr}: {}",
                c.bind_type.as_str(),
                wire::status_name(resp.status())
            ));
        }
        Ok(stream)
    }

    /// Runs until the transport stops: bind, serve, and bind again with backoff.
    pub async fn run(self: Arc<Self>, inbound: mpsc::Sender<Inbound>) {
        let mut delay = self.settings.reconnect_delay;
        let mut stop = self.stop.subscribe();
        while !self.stopping() {
            match self.connect().await {
                Ok(stream) => {
                    delay = self.settings.reconnect_delay;
                    let c = &self.settings.raw;
                    self.status(
                        StatusLevel::Ok,
                        "bound",
                        format!("bound as {} to {}:{}", c.bind_type.as_str(), c.host, c.port),
                    )
                    .await;
                    let reason = self.serve(stream, &inbound).await;
                    if self.stopping() {
                        self.status(StatusLevel::Down, "unbound", format!("stopped: {reason}"))
                            .await;
                        break;
                    }
                    self.status(StatusLevel::Down, "connection_lost", reason).await;
                }
                Err(e) => self.status(StatusLevel::Down, "bind_failed", e).await,
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => {}
            }
            delay = (delay * 2).min(self.settings.reconnect_max_delay);
        }
    }

    /// Serves one bound connection; returns why it ended. Submits still unanswered go back
    /// to the front of the outbox.
    async fn serve(self: &Arc<Self>, stream: Box<dyn Io>, inbound: &mpsc::Sender<Inbound>) -> String {
        let (rd, wr) = tokio::io::split(stream);
        let (out_tx, out_rx) = mpsc::channel::<Bytes>(OUT_QUEUE);
        let mut writer = tokio::spawn(write_loop(wr, out_rx, self.settings.response_timeout));
        let (frames_tx, mut frames) = mpsc::channel::<std::io::Result<Option<Frame>>>(READ_AHEAD);
        let reader = tokio::spawn(async move {
            let mut rd = BufReader::with_capacity(64 * 1024, rd);
            loop {
                let frame = wire::read_frame(&mut rd).await;
                let end = !matches!(frame, Ok(Some(_)));
                if frames_tx.send(frame).await.is_err() || end {
                    break;
                }
            }
        });
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
        self.requeue_unanswered(&window);
        if write_error.is_empty() {
            reason
        } else {
            format!("{reason} ({write_error})")
        }
    }

    /// Submits without a response when a link ended go to the front of the outbox.
    fn requeue_unanswered(&self, window: &Window) {
        let unanswered: Vec<Job> = {
            let mut w = window.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *w).into_values().map(|s| s.job).collect()
        };
        self.in_flight.fetch_sub(unanswered.len() as u32, Ordering::AcqRel);
        if !unanswered.is_empty() {
            tracing::info!(
                count = unanswered.len(),
                "submit_sm without a response when the link ended; they will be sent again after the next bind"
            );
            self.outbox.push_front(unanswered);
        }
    }

    async fn serve_loop(
        self: &Arc<Self>,
        frames: &mut mpsc::Receiver<std::io::Result<Option<Frame>>>,
        window: &Window,
        out: &mpsc::Sender<Bytes>,
        inbound: &mpsc::Sender<Inbound>,
        writer: &mut tokio::task::JoinHandle<String>,
    ) -> Ended {
        let mut stop = self.stop.subscribe();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut live = Liveness::new(Instant::now());
        let mut unbinding: Option<(u32, Instant)> = None;
        // A slot for the next deliver_sm: nothing is read while none is free.
        let mut slot: Option<OwnedSemaphorePermit> = None;
        let send = |cmd: Command| -> Result<(), String> { queue(out, wire::encode(&cmd)) };
        loop {
            tokio::select! {
                free = self.mo_slots.clone().acquire_owned(), if slot.is_none() => {
                    slot = free.ok();
                    live.reading_again(Instant::now());
                }
                frame = frames.recv(), if slot.is_some() => {
                    let frame = match frame {
                        Some(Ok(Some(frame))) => frame,
                        Some(Ok(None)) | None => return Ended::Loop("the SMSC closed the connection".to_owned()),
                        Some(Err(e)) => return Ended::Loop(format!("reading from the SMSC: {e}")),
                    };
                    let cmd = match frame {
                        Frame::Command(cmd) => cmd,
                        Frame::Undecodable { command_id, sequence, error } => {
                            tracing::warn!("undecodable PDU (command_id 0x{command_id:08X}, sequence {sequence}): {}", Shown(&error));
                            if command_id & 0x8000_0000 == 0 {
                                if let Err(e) = queue(out, wire::generic_nack(sequence, wire::ESME_RSYSERR)) {
                                    return Ended::Loop(e);
                                }
                            }
                            continue;
                        }
                    };
                    let done = self
                        .on_command(cmd, window, out, inbound, &mut slot, &mut live)
                        .await;
                    match done {
                        Ok(None) => {}
                        Ok(Some(reason)) | Err(reason) => return Ended::Loop(reason),
                    }
                    if slot.is_none() {
                        live.stopped_reading();
                    }
                }
                written = &mut *writer => {
                    return Ended::Writer(written.unwrap_or_else(|e| format!("the writer failed: {e}")));
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    if slot.is_some() {
                        self.sweep(window, now, live.clock_from);
                    }
                    let timeout = self.settings.response_timeout;
                    match live.check(now, slot.is_some(), self.settings.enquire_link_interval, timeout) {
                        Check::Fine => {}
                        Check::Dead => return Ended::Loop(format!("no enquire_link_resp within {timeout:?}")),
                        Check::Enquire => {
                            let s = self.next_seq();
                            if let Err(e) = send(Command::new(CommandStatus::EsmeRok, s, Pdu::EnquireLink)) {
                                return Ended::Loop(e);
                            }
                            live.enquiry = Some((s, now));
                        }
                    }
                    if let Some((_, at)) = unbinding {
                        if now.duration_since(at) > timeout {
                            return Ended::Loop(format!("no unbind_resp within {timeout:?}"));
                        }
                    }
                }
                _ = stop.changed(), if unbinding.is_none() => {
                    if self.stopping() {
                        let s = self.next_seq();
                        if let Err(e) = send(Command::new(CommandStatus::EsmeRok, s, Pdu::Unbind)) {
                            return Ended::Loop(e);
                        }
                        unbinding = Some((s, Instant::now()));
                    }
                }
            }
        }
    }

    /// Handles one PDU from the SMSC: `Ok(Some(reason))` when the link ends with it.
    async fn on_command(
        &self,
        cmd: Box<Command>,
        window: &Window,
        out: &mpsc::Sender<Bytes>,
        inbound: &mpsc::Sender<Inbound>,
        slot: &mut Option<OwnedSemaphorePermit>,
        live: &mut Liveness,
    ) -> Result<Option<String>, String> {
        let seq = cmd.sequence_number();
        let send = |cmd: Command| queue(out, wire::encode(&cmd));
        match cmd.id() {
            CommandId::SubmitSmResp => {
                let id = match cmd.pdu() {
                    Some(Pdu::SubmitSmResp(r)) => r.message_id().to_string(),
                    _ => String::new(),
                };
                if self.on_submit_resp(window, seq, cmd.status(), id).await {
                    live.answered(Instant::now());
                }
            }
            CommandId::GenericNack => {
                let known = window.lock().map(|w| w.contains_key(&seq)).unwrap_or(false);
                if known {
                    self.on_submit_resp(window, seq, cmd.status(), String::new()).await;
                    live.answered(Instant::now());
                } else {
                    tracing::warn!(
                        "generic_nack from the SMSC for sequence {seq}: {}",
                        wire::status_name(cmd.status())
                    );
                }
            }
            CommandId::DeliverSm if self.draining.load(Ordering::Acquire) => {
                // Shutting down: the SMSC keeps it and delivers it again later.
                send(Command::new(
                    CommandStatus::from(wire::ESME_RX_T_APPN),
                    seq,
                    rusmpp::pdus::DeliverSmResp::default(),
                ))?;
            }
            CommandId::DeliverSm => {
                let Some(taken) = slot.take() else {
                    return Err("a deliver_sm read without a free slot".to_owned());
                };
                let item = Inbound {
                    command: cmd,
                    reply: out.clone(),
                    slot: taken,
                };
                if inbound.send(item).await.is_err() {
                    return Ok(Some("the transport is gone".to_owned()));
                }
            }
            CommandId::EnquireLink => {
                send(Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLinkResp))?;
            }
            CommandId::EnquireLinkResp => {
                if live.enquiry.is_some_and(|(s, _)| s == seq) {
                    live.enquiry = None;
                    live.answered(Instant::now());
                }
            }
            CommandId::Unbind => {
                send(Command::new(CommandStatus::EsmeRok, seq, Pdu::UnbindResp))?;
                return Ok(Some("the SMSC unbound".to_owned()));
            }
            CommandId::UnbindResp => return Ok(Some("unbound".to_owned())),
            other => {
                let is_request = u32::from(other) & 0x8000_0000 == 0;
                tracing::warn!("unexpected {other:?} from the SMSC (sequence {seq})");
                if is_request {
                    queue(out, wire::generic_nack(seq, wire::ESME_RINVCMDID))?;
                }
            }
        }
        Ok(None)
    }

    /// Sends what the outbox holds as the window, mt_tps and throttling allow.
    async fn submit_loop(self: Arc<Self>, window: Window, permits: Arc<Semaphore>, out: mpsc::Sender<Bytes>) {
        let mut pacer = match &self.pacer {
            Some(p) => Some(p.lock().await),
            None => None,
        };
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let job = loop {
                while let Some(until) = self.throttled_until() {
                    tokio::time::sleep_until(until.into()).await;
                }
                if let Some(p) = pacer.as_mut() {
                    p.wait().await;
                }
                // No await from here to the send: a job taken is always in the window.
                let job = self.outbox.pop().await;
                if self.stopping() {
                    self.outbox.push_front(vec![job]);
                    return;
                }
                if self.throttled_until().is_some() {
                    // Throttled while this waited for work: it waits out the pause first.
                    self.outbox.push_front(vec![job]);
                    continue;
                }
                break job;
            };
            let seq = self.next_seq();
            let now = Instant::now();
            if let Some(p) = pacer.as_mut() {
                p.record(now);
            }
            let frame = wire::encode(&Command::new(CommandStatus::EsmeRok, seq, job.pdu.clone()));
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            if let Ok(mut w) = window.lock() {
                w.insert(
                    seq,
                    Sent {
                        job,
                        at: now,
                        _permit: permit,
                    },
                );
            }
            if out.send(frame).await.is_err() {
                return;
            }
        }
    }

    fn throttled_until(&self) -> Option<Instant> {
        let until = self.throttle.lock().ok().and_then(|t| t.until)?;
        (until > Instant::now()).then_some(until)
    }

    /// Settles the submit answered; false when none was waiting under `seq`.
    async fn on_submit_resp(&self, window: &Window, seq: u32, status: CommandStatus, smsc_id: String) -> bool {
        let Some(sent) = window.lock().ok().and_then(|mut w| w.remove(&seq)) else {
            tracing::warn!("submit_sm_resp for sequence {seq}, which is not waiting (answered late?)");
            return false;
        };
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        let code = u32::from(status);
        match code {
            wire::ESME_ROK => {
                let recovered = self
                    .throttle
                    .lock()
                    .map(|mut t| {
                        let was = t.delay.is_some();
                        *t = Throttle::default();
                        was
                    })
                    .unwrap_or(false);
                let _ = sent.job.done.send(Ok(smsc_id));
                if recovered {
                    self.status(
                        StatusLevel::Ok,
                        "throttle_end",
                        "the SMSC accepts messages again".into(),
                    )
                    .await;
                }
            }
            wire::ESME_RTHROTTLED | wire::ESME_RMSGQFUL => {
                let (delay, first) = {
                    let mut t = self.throttle.lock().unwrap_or_else(|e| e.into_inner());
                    let first = t.delay.is_none();
                    let delay = match t.delay {
                        Some(d) if t.until.is_some_and(|u| u > Instant::now()) => d,
                        Some(d) => (d * 2).min(self.settings.throttle_max_delay),
                        None => self.settings.throttle_delay,
                    };
                    t.delay = Some(delay);
                    t.until = Some(Instant::now() + delay);
                    (delay, first)
                };
                self.outbox.push_front(vec![sent.job]);
                if first {
                    self.status(
                        StatusLevel::Degraded,
                        "throttled",
                        format!("{}: pausing submits for {delay:?}", wire::status_name(status)),
                    )
                    .await;
                }
            }
            _ => {
                let _ = sent.job.done.send(Err(wire::status_name(status)));
            }
        }
        true
    }

    /// Submits unanswered past submit_timeout: sent again, or failed after the last attempt.
    /// Time before `clock_from` (while the link was not reading) does not count.
    fn sweep(&self, window: &Window, now: Instant, clock_from: Instant) {
        let timeout = self.settings.submit_timeout;
        let expired: Vec<Sent> = {
            let Ok(mut w) = window.lock() else { return };
            let late: Vec<u32> = w
                .iter()
                .filter(|(_, s)| now.duration_since(s.at.max(clock_from)) >= timeout)
                .map(|(seq, _)| *seq)
                .collect();
            late.into_iter().filter_map(|seq| w.remove(&seq)).collect()
        };
        if expired.is_empty() {
            return;
        }
        self.in_flight.fetch_sub(expired.len() as u32, Ordering::AcqRel);
        let attempts = self.settings.raw.submit_attempts;
        let mut again = Vec::new();
        for mut sent in expired {
            sent.job.unanswered += 1;
            if sent.job.unanswered >= attempts {
                let _ = sent.job.done.send(Err(format!(
                    "no submit_sm_resp within {timeout:?}, {attempts} attempt(s)"
                )));
            } else {
                tracing::warn!("no submit_sm_resp within {timeout:?}; sending again");
                again.push(sent.job);
            }
        }
        self.outbox.push_front(again);
    }
}
