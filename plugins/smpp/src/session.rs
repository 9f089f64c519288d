//! One bind to the SMSC, kept up for as long as the transport runs: connect, bind, keep the
//! window of submit_sm full within mt_tps, answer what the SMSC sends, and bind again when the
//! link goes.

use crate::config::{BindType, Settings};
use crate::wire::{self, Frame};
use bytes::Bytes;
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, SubmitSm};
use rusmpp::types::COctetString;
use rusmpp::values::{InterfaceVersion, Npi, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use ruvuma_plugin_api::{Context, Status, StatusLevel};
use std::collections::{BTreeMap, VecDeque};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
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

/// A PDU handed from the reader to whoever handles it (MO and receipts).
pub struct Inbound {
    pub command: Box<Command>,
    /// Where its response goes.
    pub reply: mpsc::UnboundedSender<Bytes>,
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
    pub async fn run(self: Arc<Self>, inbound: mpsc::UnboundedSender<Inbound>) {
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
    async fn serve(self: &Arc<Self>, stream: Box<dyn Io>, inbound: &mpsc::UnboundedSender<Inbound>) -> String {
        let (rd, mut wr) = tokio::io::split(stream);
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Bytes>();
        let writer = tokio::spawn(async move {
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
                if let Err(e) = wr.write_all(&buf).await {
                    return format!("writing to the SMSC: {e}");
                }
            }
            let _ = wr.shutdown().await;
            String::new()
        });
        let (frames_tx, mut frames) = mpsc::channel::<std::io::Result<Option<Frame>>>(1024);
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

        let reason = self.serve_loop(&mut frames, &window, &out_tx, inbound).await;

        if let Some(s) = submitter {
            s.abort();
            let _ = s.await;
        }
        drop(out_tx);
        reader.abort();
        let write_error = tokio::time::timeout(Duration::from_secs(1), writer)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
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
        if write_error.is_empty() {
            reason
        } else {
            format!("{reason} ({write_error})")
        }
    }

    async fn serve_loop(
        self: &Arc<Self>,
        frames: &mut mpsc::Receiver<std::io::Result<Option<Frame>>>,
        window: &Window,
        out: &mpsc::UnboundedSender<Bytes>,
        inbound: &mpsc::UnboundedSender<Inbound>,
    ) -> String {
        let mut stop = self.stop.subscribe();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_read = Instant::now();
        let mut enquiry: Option<(u32, Instant)> = None;
        let mut unbinding: Option<(u32, Instant)> = None;
        let send = |cmd: Command| out.send(wire::encode(&cmd)).is_ok();
        loop {
            tokio::select! {
                frame = frames.recv() => {
                    let frame = match frame {
                        Some(Ok(Some(frame))) => frame,
                        Some(Ok(None)) | None => return "the SMSC closed the connection".to_owned(),
                        Some(Err(e)) => return format!("reading from the SMSC: {e}"),
                    };
                    last_read = Instant::now();
                    let cmd = match frame {
                        Frame::Command(cmd) => cmd,
                        Frame::Undecodable { command_id, sequence, error } => {
                            tracing::warn!("undecodable PDU (command_id 0x{command_id:08X}, sequence {sequence}): {error}");
                            if command_id & 0x8000_0000 == 0 {
                                out.send(wire::generic_nack(sequence, wire::ESME_RSYSERR)).ok();
                            }
                            continue;
                        }
                    };
                    let seq = cmd.sequence_number();
                    match cmd.id() {
                        CommandId::SubmitSmResp => {
                            let id = match cmd.pdu() {
                                Some(Pdu::SubmitSmResp(r)) => r.message_id().to_string(),
                                _ => String::new(),
                            };
                            self.on_submit_resp(window, seq, cmd.status(), id).await;
                        }
                        CommandId::GenericNack => {
                            let known = window.lock().map(|w| w.contains_key(&seq)).unwrap_or(false);
                            if known {
                                self.on_submit_resp(window, seq, cmd.status(), String::new()).await;
                            } else {
                                tracing::warn!("generic_nack from the SMSC for sequence {seq}: {}", wire::status_name(cmd.status()));
                            }
                        }
                        CommandId::DeliverSm => {
                            let item = Inbound { command: cmd, reply: out.clone() };
                            if inbound.send(item).is_err() {
                                return "the transport is gone".to_owned();
                            }
                        }
                        CommandId::EnquireLink => {
                            send(Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLinkResp));
                        }
                        CommandId::EnquireLinkResp => {
                            if enquiry.is_some_and(|(s, _)| s == seq) {
                                enquiry = None;
                            }
                        }
                        CommandId::Unbind => {
                            send(Command::new(CommandStatus::EsmeRok, seq, Pdu::UnbindResp));
                            return "the SMSC unbound".to_owned();
                        }
                        CommandId::UnbindResp => return "unbound".to_owned(),
                        other => {
                            let is_request = u32::from(other) & 0x8000_0000 == 0;
                            tracing::warn!("unexpected {other:?} from the SMSC (sequence {seq})");
                            if is_request {
                                out.send(wire::generic_nack(seq, wire::ESME_RINVCMDID)).ok();
                            }
                        }
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    self.sweep(window, now);
                    let timeout = self.settings.response_timeout;
                    if let Some((_, at)) = enquiry {
                        if now.duration_since(at) > timeout {
                            return format!("no enquire_link_resp within {timeout:?}");
                        }
                    } else if now.duration_since(last_read) >= self.settings.enquire_link_interval {
                        let s = self.next_seq();
                        send(Command::new(CommandStatus::EsmeRok, s, Pdu::EnquireLink));
                        enquiry = Some((s, now));
                    }
                    if let Some((_, at)) = unbinding {
                        if now.duration_since(at) > timeout {
                            return format!("no unbind_resp within {timeout:?}");
                        }
                    }
                }
                _ = stop.changed(), if unbinding.is_none() => {
                    if self.stopping() {
                        let s = self.next_seq();
                        send(Command::new(CommandStatus::EsmeRok, s, Pdu::Unbind));
                        unbinding = Some((s, Instant::now()));
                    }
                }
            }
        }
    }

    /// Sends what the outbox holds as the window, mt_tps and throttling allow.
    async fn submit_loop(self: Arc<Self>, window: Window, permits: Arc<Semaphore>, out: mpsc::UnboundedSender<Bytes>) {
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
            if out.send(frame).is_err() {
                return;
            }
        }
    }

    fn throttled_until(&self) -> Option<Instant> {
        let until = self.throttle.lock().ok().and_then(|t| t.until)?;
        (until > Instant::now()).then_some(until)
    }

    async fn on_submit_resp(&self, window: &Window, seq: u32, status: CommandStatus, smsc_id: String) {
        let Some(sent) = window.lock().ok().and_then(|mut w| w.remove(&seq)) else {
            tracing::warn!("submit_sm_resp for sequence {seq}, which is not waiting (answered late?)");
            return;
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
    }

    /// Submits unanswered past submit_timeout: sent again, or failed after the last attempt.
    fn sweep(&self, window: &Window, now: Instant) {
        let timeout = self.settings.submit_timeout;
        let expired: Vec<Sent> = {
            let Ok(mut w) = window.lock() else { return };
            let late: Vec<u32> = w
                .iter()
                .filter(|(_, s)| now.duration_since(s.at) >= timeout)
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
