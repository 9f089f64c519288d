//! A test SMSC: an SMPP 3.4 server that binds ESMEs, answers submit_sm (by default with a new
//! message id and, when asked for, a delivery receipt), follows a script of special answers, and
//! sends mobile-originated messages and receipts on demand.
//!
//! It runs on its own tokio runtime and offers a blocking API, so that synchronous tests can
//! drive it. Each connection has one reader task and one writer task joined by a channel of
//! encoded PDUs; the writer sends everything queued in one write, so a window of submits costs
//! a handful of syscalls, not one per PDU.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{
    AtomicU32, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use rusmpp::decode::DecodeWithLength;
use rusmpp::encode::{Encode, Length};
use rusmpp::pdus::{BindReceiverResp, BindTransceiverResp, BindTransmitterResp, DeliverSm, SubmitSm, SubmitSmResp};
use rusmpp::tlvs::{MessageDeliveryRequestTlvValue, TlvTag, TlvValue};
use rusmpp::types::{AnyOctetString, COctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, InterfaceVersion, MessagePayload, MessageState, Npi, Ton};
use rusmpp::{Command, CommandStatus, Pdu};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

/// Command status values the simulator uses or that tests commonly script.
pub mod status {
    pub const ESME_ROK: u32 = 0x00;
    pub const ESME_RINVMSGLEN: u32 = 0x01;
    pub const ESME_RINVCMDLEN: u32 = 0x02;
    pub const ESME_RINVCMDID: u32 = 0x03;
    pub const ESME_RINVBNDSTS: u32 = 0x04;
    pub const ESME_RALYBND: u32 = 0x05;
    pub const ESME_RSYSERR: u32 = 0x08;
    pub const ESME_RINVDSTADR: u32 = 0x0B;
    pub const ESME_RBINDFAIL: u32 = 0x0D;
    pub const ESME_RINVPASWD: u32 = 0x0E;
    pub const ESME_RMSGQFUL: u32 = 0x14;
    pub const ESME_RTHROTTLED: u32 = 0x58;
    pub const ESME_RX_T_APPN: u32 = 0x64;
    pub const ESME_RX_P_APPN: u32 = 0x65;
}
use status::*;

const BIND_RECEIVER: u32 = 0x0000_0001;
const BIND_TRANSMITTER: u32 = 0x0000_0002;
const QUERY_SM: u32 = 0x0000_0003;
const SUBMIT_SM: u32 = 0x0000_0004;
const DELIVER_SM: u32 = 0x0000_0005;
const UNBIND: u32 = 0x0000_0006;
const REPLACE_SM: u32 = 0x0000_0007;
const CANCEL_SM: u32 = 0x0000_0008;
const BIND_TRANSCEIVER: u32 = 0x0000_0009;
const ENQUIRE_LINK: u32 = 0x0000_0015;
const SUBMIT_MULTI: u32 = 0x0000_0021;
const DATA_SM: u32 = 0x0000_0103;
const RESP: u32 = 0x8000_0000;
const GENERIC_NACK: u32 = RESP;
const DELIVER_SM_RESP: u32 = RESP | DELIVER_SM;
const UNBIND_RESP: u32 = RESP | UNBIND;

const TAG_SAR_MSG_REF_NUM: u16 = 0x020C;
const TAG_SAR_TOTAL_SEGMENTS: u16 = 0x020E;
const TAG_SAR_SEGMENT_SEQNUM: u16 = 0x020F;
const TAG_MESSAGE_PAYLOAD: u16 = 0x0424;

/// The system_id sent in bind responses.
pub const SMSC_SYSTEM_ID: &str = "ruvumasim";
/// Message ids are numbers from this counter, so that their hex and decimal texts differ.
pub const FIRST_MESSAGE_ID: u64 = 0x10000;

const MAX_PDU: usize = 128 * 1024;
const MAX_BATCH: usize = 256 * 1024;
const RETRY_AFTER: Duration = Duration::from_millis(100);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
const UNBIND_GRACE: Duration = Duration::from_secs(2);

/// How message ids are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdFormat {
    /// Lowercase hex without padding (65536 → `10000`).
    Hex,
    /// Decimal (`65536`).
    Decimal,
    /// Decimal, zero padded to this width (at most 64).
    DecimalZeroPadded(usize),
}

impl IdFormat {
    pub fn format(self, n: u64) -> String {
        match self {
            IdFormat::Hex => format!("{n:x}"),
            IdFormat::Decimal => n.to_string(),
            IdFormat::DecimalZeroPadded(width) => format!("{n:0width$}", width = width.min(64)),
        }
    }

    pub fn parse(self, text: &str) -> Option<u64> {
        match self {
            IdFormat::Hex => u64::from_str_radix(text, 16).ok(),
            IdFormat::Decimal | IdFormat::DecimalZeroPadded(_) => text.parse().ok(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SmscConfig {
    /// Expected credentials; a bind with other ones gets ESME_RINVPASWD.
    pub system_id: String,
    pub password: String,
    /// Keep every received submit_sm for [`Smsc::submits`].
    pub record: bool,
    /// Send a delivery receipt after the submit_sm_resp when registered_delivery bit 0 is set.
    pub receipts: bool,
    /// How message ids look in submit_sm_resp.
    pub id_format: IdFormat,
    /// How the same ids are written in receipts (text `id:` field and receipted_message_id).
    pub receipt_id_format: IdFormat,
    /// How long after the submit_sm_resp a receipt is sent (as a handset takes a while).
    pub receipt_delay: Duration,
}

impl Default for SmscConfig {
    fn default() -> Self {
        SmscConfig {
            system_id: "test".into(),
            password: "secret".into(),
            record: true,
            receipts: true,
            id_format: IdFormat::Hex,
            receipt_id_format: IdFormat::Hex,
            receipt_delay: Duration::ZERO,
        }
    }
}

/// What to do with one submit_sm. Scripted actions are consumed in order; with an empty script
/// every submit gets [`Action::Ok`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Respond OK with a new message id, and a receipt if registered_delivery asks for one.
    Ok,
    /// Respond with this command_status and no message id.
    Status(u32),
    /// Answer with a generic_nack carrying the submit's sequence number and this status.
    GenericNack(u32),
    /// Do not answer.
    NoResponse,
    /// Respond OK; send the receipt before the submit_sm_resp.
    ReceiptFirst,
    /// Respond OK and send the receipt this many times.
    DuplicateReceipt(u32),
    /// Respond OK; send a receipt with this stat (`UNDELIV`, `ENROUTE`, `EXPIRED`, ...).
    ReceiptStat(String),
    /// Close the connection without answering (responses already queued are still sent).
    Disconnect,
}

/// One received submit_sm.
#[derive(Debug, Clone)]
pub struct Submit {
    pub seq: u32,
    pub source_addr: String,
    pub destination_addr: String,
    pub esm_class: u8,
    pub data_coding: u8,
    pub registered_delivery: u8,
    pub short_message: Vec<u8>,
    /// (reference, total, sequence) from the sar_* TLVs.
    pub sar: Option<(u16, u8, u8)>,
    pub message_payload: Option<Vec<u8>>,
    /// The id it was given, if answered OK.
    pub message_id: Option<String>,
    /// When it was read.
    pub at: Instant,
    /// Which bind it came on ([`BindInfo::id`]).
    pub bind: u64,
}

/// One successful bind.
#[derive(Debug, Clone)]
pub struct BindInfo {
    /// `transmitter`, `receiver` or `transceiver`.
    pub kind: &'static str,
    pub system_id: String,
    pub system_type: String,
    pub interface_version: u8,
    pub addr_ton: u8,
    pub addr_npi: u8,
    pub address_range: String,
    /// Counter per successful bind, from 1.
    pub id: u64,
    pub at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BindKind {
    Transmitter,
    Receiver,
    Transceiver,
}

impl BindKind {
    fn name(self) -> &'static str {
        match self {
            BindKind::Transmitter => "transmitter",
            BindKind::Receiver => "receiver",
            BindKind::Transceiver => "transceiver",
        }
    }

    fn can_send(self) -> bool {
        self != BindKind::Receiver
    }

    fn can_receive(self) -> bool {
        self != BindKind::Transmitter
    }
}

struct BindState {
    kind: BindKind,
    id: u64,
    system_id: String,
}

enum Out {
    Frame(Vec<u8>),
    /// Send what is queued, then close.
    Close,
}

/// A deliver_sm sent by the SMSC and not yet answered with status 0.
struct DeliverJob {
    /// The whole PDU; its sequence number is set at each sending.
    frame: Bytes,
    retried: bool,
    /// Receipts go back to the queue when their session closes before an OK answer.
    receipt: bool,
    /// Told the status of the first answer.
    first: Option<oneshot::Sender<u32>>,
    ticket: Option<BlastTicket>,
}

impl DeliverJob {
    fn new(frame: Bytes, receipt: bool) -> Self {
        DeliverJob {
            frame,
            retried: false,
            receipt,
            first: None,
            ticket: None,
        }
    }
}

/// Holds one slot of a blast window until its deliver_sm is finished (or dropped).
struct BlastTicket {
    ok: Arc<AtomicU64>,
    _permit: OwnedSemaphorePermit,
}

enum Pending {
    Deliver(DeliverJob),
    Unbind,
}

#[derive(Default)]
struct ConnState {
    closed: bool,
    pending: HashMap<u32, Pending>,
}

struct Conn {
    id: u64,
    tx: mpsc::UnboundedSender<Out>,
    kill: watch::Sender<bool>,
    bind: OnceLock<BindState>,
    next_seq: AtomicU32,
    state: Mutex<ConnState>,
}

impl Conn {
    fn send(&self, frame: Vec<u8>) {
        let _ = self.tx.send(Out::Frame(frame));
    }

    fn seq(&self) -> u32 {
        (self.next_seq.fetch_add(1, Relaxed) % 0x7FFF_FFFF) + 1
    }

    fn state(&self) -> MutexGuard<'_, ConnState> {
        lock(&self.state)
    }

    /// Sends a deliver_sm and remembers it until answered; gives it back if the session is closed.
    fn send_request(&self, job: DeliverJob) -> Result<(), DeliverJob> {
        let mut state = self.state();
        if state.closed {
            return Err(job);
        }
        let seq = self.seq();
        let mut frame = job.frame.to_vec();
        frame[12..16].copy_from_slice(&seq.to_be_bytes());
        state.pending.insert(seq, Pending::Deliver(job));
        if self.tx.send(Out::Frame(frame)).is_err() {
            if let Some(Pending::Deliver(job)) = state.pending.remove(&seq) {
                return Err(job);
            }
        }
        Ok(())
    }

    fn kill(&self) {
        self.kill.send_replace(true);
    }
}

struct Shared {
    config: SmscConfig,
    script: Mutex<VecDeque<Action>>,
    refusals: Mutex<VecDeque<u32>>,
    submits: Mutex<Vec<Submit>>,
    submit_count: AtomicU64,
    binds: Mutex<Vec<BindInfo>>,
    enquire_links: AtomicU64,
    unbinds: AtomicU64,
    deliver_responses: Mutex<Vec<u32>>,
    /// (sequence number, command_status) of every generic_nack received.
    generic_nacks: Mutex<Vec<(u32, u32)>>,
    next_message_id: AtomicU64,
    next_bind_id: AtomicU64,
    next_conn_id: AtomicU64,
    conns: Mutex<Vec<Arc<Conn>>>,
    /// Receipts waiting for a session that can receive them, by system_id.
    queued: Mutex<Vec<(String, DeliverJob)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The simulator. Dropping it shuts its runtime down and closes every connection.
pub struct Smsc {
    shared: Arc<Shared>,
    rt: Option<Runtime>,
    port: u16,
}

impl Smsc {
    /// Listens on 127.0.0.1 (a free port) on a runtime of its own with 2 worker threads.
    pub fn start(config: SmscConfig) -> Smsc {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("smsc-sim")
            .enable_all()
            .build()
            .expect("smsc runtime");
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("smsc listen");
        let port = listener.local_addr().expect("smsc address").port();
        let shared = Arc::new(Shared {
            config,
            script: Mutex::default(),
            refusals: Mutex::default(),
            submits: Mutex::default(),
            submit_count: AtomicU64::new(0),
            binds: Mutex::default(),
            enquire_links: AtomicU64::new(0),
            unbinds: AtomicU64::new(0),
            deliver_responses: Mutex::default(),
            generic_nacks: Mutex::default(),
            next_message_id: AtomicU64::new(FIRST_MESSAGE_ID),
            next_bind_id: AtomicU64::new(1),
            next_conn_id: AtomicU64::new(1),
            conns: Mutex::default(),
            queued: Mutex::default(),
        });
        rt.spawn(accept_loop(shared.clone(), listener));
        Smsc {
            shared,
            rt: Some(rt),
            port,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn rt(&self) -> &Runtime {
        self.rt.as_ref().expect("smsc runtime")
    }

    pub fn config(&self) -> &SmscConfig {
        &self.shared.config
    }

    /// Appends to the script of answers to submit_sm.
    pub fn script(&self, actions: impl IntoIterator<Item = Action>) {
        lock(&self.shared.script).extend(actions);
    }

    /// Scripted actions not used yet.
    pub fn script_left(&self) -> usize {
        lock(&self.shared.script).len()
    }

    /// The next `n` bind attempts get `status`.
    pub fn refuse_binds(&self, n: usize, status: u32) {
        lock(&self.shared.refusals).extend(std::iter::repeat_n(status, n));
    }

    /// The submit_sm recorded so far (only with `record`).
    pub fn submits(&self) -> Vec<Submit> {
        lock(&self.shared.submits).clone()
    }

    /// Every submit_sm accepted for processing (on a session bound to send), recorded or not.
    pub fn submit_count(&self) -> u64 {
        self.shared.submit_count.load(Acquire)
    }

    /// Every successful bind, in order.
    pub fn binds(&self) -> Vec<BindInfo> {
        lock(&self.shared.binds).clone()
    }

    /// Connections currently bound.
    pub fn bound_sessions(&self) -> usize {
        lock(&self.shared.conns)
            .iter()
            .filter(|c| c.bind.get().is_some())
            .count()
    }

    /// enquire_link PDUs received.
    pub fn enquire_links(&self) -> u64 {
        self.shared.enquire_links.load(Relaxed)
    }

    pub fn unbinds_received(&self) -> u64 {
        self.shared.unbinds.load(Relaxed)
    }

    /// Drops every connection now, without flushing.
    pub fn disconnect_all(&self) {
        let conns = lock(&self.shared.conns).clone();
        for conn in conns {
            conn.kill();
            self.shared.close(&conn);
        }
    }

    /// Sends unbind on every bound session; each closes when its unbind_resp comes (or after 2 s).
    pub fn send_unbind(&self) {
        let conns = lock(&self.shared.conns).clone();
        for conn in conns.into_iter().filter(|c| c.bind.get().is_some()) {
            {
                let mut state = conn.state();
                if state.closed {
                    continue;
                }
                let seq = conn.seq();
                state.pending.insert(seq, Pending::Unbind);
                conn.send(header(UNBIND, 0, seq));
            }
            let shared = self.shared.clone();
            self.rt().spawn(async move {
                tokio::time::sleep(UNBIND_GRACE).await;
                conn.kill();
                shared.close(&conn);
            });
        }
    }

    /// Writes `bytes` as they are on the newest bound session that can receive (for PDUs no
    /// well-behaved SMSC would send).
    pub fn send_raw(&self, bytes: &[u8]) -> Result<(), String> {
        let conn = self
            .shared
            .newest_receiver(None)
            .ok_or("no bound session can receive")?;
        conn.send(bytes.to_vec());
        Ok(())
    }

    /// (sequence number, command_status) of every generic_nack received from the client.
    pub fn generic_nacks(&self) -> Vec<(u32, u32)> {
        lock(&self.shared.generic_nacks).clone()
    }

    /// Sends an MO deliver_sm on the newest bound session that can receive and returns the
    /// command_status of its deliver_sm_resp. A non-zero status is retried once after 100 ms in
    /// the background (see [`Smsc::deliver_responses`]); this returns the first answer.
    pub fn send_deliver_sm(
        &self,
        source: &str,
        dest: &str,
        esm_class: u8,
        data_coding: u8,
        short_message: &[u8],
        tlvs: &[(u16, Vec<u8>)],
    ) -> Result<u32, String> {
        let tlvs = tlvs
            .iter()
            .map(|(tag, value)| MessageDeliveryRequestTlvValue::Other {
                tag: TlvTag::from(*tag),
                value: AnyOctetString::from_slice(value),
            })
            .collect();
        let frame = deliver_frame(
            &Address::guess(source),
            &Address::guess(dest),
            esm_class,
            data_coding,
            short_message,
            tlvs,
        )?;
        self.deliver_and_wait(frame, false)
    }

    /// Sends `count` MO messages (`text`, GSM default alphabet if ASCII else UCS-2, in
    /// message_payload when too long for short_message) on the newest session that can receive,
    /// keeping at most `window` unanswered, and returns when all are answered (a non-zero answer
    /// is retried once) with the number that ended with status 0.
    pub fn blast_deliver_sm(
        &self,
        count: u64,
        window: usize,
        source: &str,
        dest: &str,
        text: &str,
    ) -> Result<u64, String> {
        let (data_coding, bytes) = if text.is_ascii() {
            (0u8, text.as_bytes().to_vec())
        } else {
            (8u8, text.encode_utf16().flat_map(u16::to_be_bytes).collect())
        };
        let (short_message, tlvs) = if bytes.len() > 254 {
            let payload = MessagePayload::new(AnyOctetString::from_vec(bytes));
            (
                Vec::new(),
                vec![MessageDeliveryRequestTlvValue::MessagePayload(payload)],
            )
        } else {
            (bytes, Vec::new())
        };
        let frame = deliver_frame(
            &Address::guess(source),
            &Address::guess(dest),
            0,
            data_coding,
            &short_message,
            tlvs,
        )?;
        let conn = self
            .shared
            .newest_receiver(None)
            .ok_or("no bound session can receive")?;
        let window = window.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        let task = async move {
            let slots = Arc::new(Semaphore::new(window));
            let ok = Arc::new(AtomicU64::new(0));
            for sent in 0..count {
                let permit = match tokio::time::timeout(RESPONSE_TIMEOUT, slots.clone().acquire_owned()).await {
                    Ok(permit) => permit.expect("semaphore open"),
                    Err(_) => return Err(format!("no deliver_sm_resp for {RESPONSE_TIMEOUT:?} after {sent} sent")),
                };
                let mut job = DeliverJob::new(frame.clone(), false);
                job.ticket = Some(BlastTicket {
                    ok: ok.clone(),
                    _permit: permit,
                });
                if conn.send_request(job).is_err() {
                    return Err(format!("the session closed after {sent} of {count} sent"));
                }
            }
            let all_back = tokio::time::timeout(RESPONSE_TIMEOUT, slots.acquire_many(window as u32)).await;
            match all_back {
                Ok(_) => Ok(ok.load(Relaxed)),
                Err(_) => Err(format!(
                    "deliver_sm still unanswered {RESPONSE_TIMEOUT:?} after the last was sent"
                )),
            }
        };
        let handle = self.rt().spawn(task);
        self.rt()
            .block_on(handle)
            .map_err(|e| format!("blast task failed: {e}"))?
    }

    /// Sends a delivery receipt for `id_text` with `stat` on the newest session that can receive
    /// and returns the status of its deliver_sm_resp. The addresses are those of the recorded
    /// submit that got this id, if any.
    pub fn send_receipt(&self, id_text: &str, stat: &str, with_tlvs: bool) -> Result<u32, String> {
        let (source, dest, submitted) = self.find_submit(id_text).map_or_else(
            || (Address::default(), Address::default(), SystemTime::now()),
            |s| {
                let submitted = SystemTime::now()
                    .checked_sub(s.at.elapsed())
                    .unwrap_or_else(SystemTime::now);
                (
                    Address::guess(&s.destination_addr),
                    Address::guess(&s.source_addr),
                    submitted,
                )
            },
        );
        let frame = receipt_frame(id_text, stat, submitted, &source, &dest, with_tlvs)?;
        self.deliver_and_wait(frame, true)
    }

    /// Sends a deliver_sm on the newest session that can receive and waits for its first answer.
    fn deliver_and_wait(&self, frame: Bytes, receipt: bool) -> Result<u32, String> {
        let conn = self
            .shared
            .newest_receiver(None)
            .ok_or("no bound session can receive")?;
        let (tx, rx) = oneshot::channel();
        let mut job = DeliverJob::new(frame, receipt);
        job.first = Some(tx);
        conn.send_request(job).map_err(|_| "the session closed".to_string())?;
        match self
            .rt()
            .block_on(async { tokio::time::timeout(RESPONSE_TIMEOUT, rx).await })
        {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(_)) => Err("the session closed before the deliver_sm_resp".into()),
            Err(_) => Err(format!("no deliver_sm_resp within {RESPONSE_TIMEOUT:?}")),
        }
    }

    fn find_submit(&self, id_text: &str) -> Option<Submit> {
        let config = &self.shared.config;
        let wanted = config.receipt_id_format.parse(id_text);
        lock(&self.shared.submits)
            .iter()
            .rev()
            .find(|s| {
                s.message_id
                    .as_deref()
                    .is_some_and(|id| id == id_text || (wanted.is_some() && config.id_format.parse(id) == wanted))
            })
            .cloned()
    }

    /// Statuses of every deliver_sm_resp received (MO and receipts), in order.
    pub fn deliver_responses(&self) -> Vec<u32> {
        lock(&self.shared.deliver_responses).clone()
    }

    /// Receipts waiting for a session that can receive them.
    pub fn queued_receipts(&self) -> usize {
        lock(&self.shared.queued).len()
    }

    /// Polls `cond` every 10 ms; panics naming `what` if it is still false after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, cond: impl Fn(&Smsc) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return;
            }
            if Instant::now() >= deadline {
                panic!("SMSC simulator: timed out after {timeout:?} waiting for {what}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Smsc {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Shared {
    fn close(&self, conn: &Arc<Conn>) {
        let pending = {
            let mut state = conn.state();
            if state.closed {
                return;
            }
            state.closed = true;
            std::mem::take(&mut state.pending)
        };
        lock(&self.conns).retain(|c| c.id != conn.id);
        let Some(bind) = conn.bind.get() else { return };
        for pending in pending.into_values() {
            if let Pending::Deliver(mut job) = pending {
                if job.receipt {
                    job.first = None;
                    self.route_receipt(&bind.system_id, job, None);
                }
            }
        }
    }

    /// The newest bound session that can receive, with this system_id if given.
    fn newest_receiver(&self, system_id: Option<&str>) -> Option<Arc<Conn>> {
        lock(&self.conns)
            .iter()
            .filter_map(|c| c.bind.get().map(|b| (c, b)))
            .filter(|(_, b)| b.kind.can_receive() && system_id.is_none_or(|s| s == b.system_id))
            .max_by_key(|(_, b)| b.id)
            .map(|(c, _)| c.clone())
    }

    /// Sends a receipt on `prefer`, else on the newest session of `system_id` that can receive,
    /// else queues it until one binds.
    fn route_receipt(&self, system_id: &str, mut job: DeliverJob, prefer: Option<&Arc<Conn>>) {
        if let Some(conn) = prefer {
            match conn.send_request(job) {
                Ok(()) => return,
                Err(back) => job = back,
            }
        }
        for _ in 0..8 {
            let target = {
                let mut queued = lock(&self.queued);
                match self.newest_receiver(Some(system_id)) {
                    Some(conn) => conn,
                    None => {
                        queued.push((system_id.to_string(), job));
                        return;
                    }
                }
            };
            match target.send_request(job) {
                Ok(()) => return,
                Err(back) => {
                    job = back;
                    self.close(&target);
                }
            }
        }
        lock(&self.queued).push((system_id.to_string(), job));
    }

    fn next_action(&self) -> Option<Action> {
        lock(&self.script).pop_front()
    }

    fn record_deliver_response(&self, status: u32) {
        lock(&self.deliver_responses).push(status);
    }

    fn deliver_answered(self: &Arc<Self>, conn: &Arc<Conn>, mut job: DeliverJob, status: u32) {
        if let Some(first) = job.first.take() {
            let _ = first.send(status);
        }
        if status == ESME_ROK {
            if let Some(ticket) = &job.ticket {
                ticket.ok.fetch_add(1, Relaxed);
            }
            return;
        }
        if job.retried {
            return;
        }
        job.retried = true;
        let shared = self.clone();
        let conn = conn.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RETRY_AFTER).await;
            if let Err(job) = conn.send_request(job) {
                if job.receipt {
                    if let Some(bind) = conn.bind.get() {
                        shared.route_receipt(&bind.system_id, job, None);
                    }
                }
            }
        });
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (tx, rx) = mpsc::unbounded_channel();
        let (kill, _) = watch::channel(false);
        let conn = Arc::new(Conn {
            id: shared.next_conn_id.fetch_add(1, Relaxed),
            tx,
            kill,
            bind: OnceLock::new(),
            next_seq: AtomicU32::new(0),
            state: Mutex::default(),
        });
        lock(&shared.conns).push(conn.clone());
        tokio::spawn(run_conn(shared.clone(), conn, stream, rx));
    }
}

async fn run_conn(shared: Arc<Shared>, conn: Arc<Conn>, stream: TcpStream, rx: mpsc::UnboundedReceiver<Out>) {
    let (rd, wr) = stream.into_split();
    tokio::spawn(write_loop(conn.clone(), wr, rx));
    read_loop(&shared, &conn, rd).await;
    let _ = conn.tx.send(Out::Close);
    shared.close(&conn);
}

async fn write_loop(conn: Arc<Conn>, mut wr: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Out>) {
    let mut kill = conn.kill.subscribe();
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        let first = tokio::select! {
            biased;
            _ = kill.wait_for(|k| *k) => return,
            out = rx.recv() => out,
        };
        let mut closing = false;
        match first {
            Some(Out::Frame(frame)) => buf.extend_from_slice(&frame),
            Some(Out::Close) | None => closing = true,
        }
        while !closing && buf.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Out::Frame(frame)) => buf.extend_from_slice(&frame),
                Ok(Out::Close) => closing = true,
                Err(_) => break,
            }
        }
        if !buf.is_empty() {
            let written = tokio::select! {
                biased;
                _ = kill.wait_for(|k| *k) => return,
                r = wr.write_all(&buf) => r,
            };
            buf.clear();
            if written.is_err() {
                conn.kill();
                return;
            }
        }
        if closing {
            let _ = wr.shutdown().await;
            conn.kill();
            return;
        }
    }
}

enum Flow {
    Continue,
    Close,
}

async fn read_loop(shared: &Arc<Shared>, conn: &Arc<Conn>, mut rd: OwnedReadHalf) {
    let mut kill = conn.kill.subscribe();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        while buf.len() >= 4 {
            let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            if !(16..=MAX_PDU).contains(&len) {
                let seq = if buf.len() >= 16 { u32_at(&buf, 12) } else { 0 };
                conn.send(header(GENERIC_NACK, ESME_RINVCMDLEN, seq));
                return;
            }
            if buf.len() < len {
                buf.reserve(len - buf.len());
                break;
            }
            let frame = buf.split_to(len);
            if let Flow::Close = handle_frame(shared, conn, frame) {
                return;
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        let read = tokio::select! {
            biased;
            _ = kill.wait_for(|k| *k) => return,
            r = rd.read_buf(&mut buf) => r,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn header(id: u32, status: u32, seq: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&16u32.to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// Encodes a whole PDU, command_length included.
fn encode(command: &Command) -> Vec<u8> {
    let len = 4 + command.length();
    let mut out = vec![0u8; len];
    out[..4].copy_from_slice(&(len as u32).to_be_bytes());
    command.encode(&mut out[4..]);
    out
}

struct BindRequest {
    system_id: String,
    password: String,
    system_type: String,
    interface_version: u8,
    addr_ton: u8,
    addr_npi: u8,
    address_range: String,
}

macro_rules! bind_request {
    ($b:expr) => {
        BindRequest {
            system_id: $b.system_id.to_string(),
            password: $b.password.to_string(),
            system_type: $b.system_type.to_string(),
            interface_version: u8::from($b.interface_version),
            addr_ton: u8::from($b.addr_ton),
            addr_npi: u8::from($b.addr_npi),
            address_range: $b.address_range.to_string(),
        }
    };
}

fn handle_frame(shared: &Arc<Shared>, conn: &Arc<Conn>, frame: BytesMut) -> Flow {
    let id = u32_at(&frame, 4);
    let status = u32_at(&frame, 8);
    let seq = u32_at(&frame, 12);
    if id & RESP != 0 {
        return handle_response(shared, conn, id, status, seq);
    }
    let bound = conn.bind.get();
    match id {
        BIND_RECEIVER | BIND_TRANSMITTER | BIND_TRANSCEIVER | SUBMIT_SM | ENQUIRE_LINK | UNBIND => {}
        QUERY_SM | DELIVER_SM | REPLACE_SM | CANCEL_SM | SUBMIT_MULTI | DATA_SM => {
            let status = if bound.is_some() {
                ESME_RINVCMDID
            } else {
                ESME_RINVBNDSTS
            };
            conn.send(header(id | RESP, status, seq));
            return Flow::Continue;
        }
        _ => {
            conn.send(header(GENERIC_NACK, ESME_RINVCMDID, seq));
            return Flow::Continue;
        }
    }
    match id {
        ENQUIRE_LINK => {
            shared.enquire_links.fetch_add(1, Relaxed);
            let status = if bound.is_some() { ESME_ROK } else { ESME_RINVBNDSTS };
            conn.send(header(id | RESP, status, seq));
            return Flow::Continue;
        }
        UNBIND => {
            shared.unbinds.fetch_add(1, Relaxed);
            if bound.is_none() {
                conn.send(header(UNBIND_RESP, ESME_RINVBNDSTS, seq));
                return Flow::Continue;
            }
            conn.send(header(UNBIND_RESP, ESME_ROK, seq));
            return Flow::Close;
        }
        SUBMIT_SM if bound.is_none() => {
            conn.send(header(id | RESP, ESME_RINVBNDSTS, seq));
            return Flow::Continue;
        }
        _ => {}
    }
    let at = Instant::now();
    let mut body = frame;
    body.advance(4);
    let len = body.len();
    let command = match Command::decode(&mut body, len) {
        Ok((command, _)) => command,
        Err(_) => {
            conn.send(header(GENERIC_NACK, ESME_RSYSERR, seq));
            return Flow::Continue;
        }
    };
    match (command.pdu(), bound) {
        (Some(Pdu::SubmitSm(sm)), Some(bind)) => on_submit(shared, conn, bind, seq, sm, at),
        (Some(Pdu::BindTransmitter(b)), _) => on_bind(shared, conn, BindKind::Transmitter, seq, &bind_request!(b)),
        (Some(Pdu::BindReceiver(b)), _) => on_bind(shared, conn, BindKind::Receiver, seq, &bind_request!(b)),
        (Some(Pdu::BindTransceiver(b)), _) => on_bind(shared, conn, BindKind::Transceiver, seq, &bind_request!(b)),
        _ => {
            conn.send(header(GENERIC_NACK, ESME_RSYSERR, seq));
            Flow::Continue
        }
    }
}

fn handle_response(shared: &Arc<Shared>, conn: &Arc<Conn>, id: u32, status: u32, seq: u32) -> Flow {
    if id == GENERIC_NACK {
        lock(&shared.generic_nacks).push((seq, status));
    }
    if id != DELIVER_SM_RESP && id != GENERIC_NACK && id != UNBIND_RESP {
        return Flow::Continue;
    }
    let pending = conn.state().pending.remove(&seq);
    match pending {
        Some(Pending::Deliver(job)) => {
            shared.record_deliver_response(status);
            shared.deliver_answered(conn, job, status);
            Flow::Continue
        }
        Some(Pending::Unbind) => Flow::Close,
        None => {
            if id == DELIVER_SM_RESP {
                shared.record_deliver_response(status);
            }
            Flow::Continue
        }
    }
}

fn on_bind(shared: &Arc<Shared>, conn: &Arc<Conn>, kind: BindKind, seq: u32, req: &BindRequest) -> Flow {
    let resp_id = RESP | kind_command(kind);
    let refused = lock(&shared.refusals).pop_front();
    let status = if conn.bind.get().is_some() {
        ESME_RALYBND
    } else if let Some(status) = refused {
        status
    } else if req.system_id != shared.config.system_id || req.password != shared.config.password {
        ESME_RINVPASWD
    } else {
        ESME_ROK
    };
    if status != ESME_ROK {
        conn.send(header(resp_id, status, seq));
        return Flow::Continue;
    }
    let system_id = COctetString::from_static_slice(b"ruvumasim\0").expect("valid system_id");
    let version = (req.interface_version >= 0x34).then_some(InterfaceVersion::Smpp3_4);
    let resp: Pdu = match kind {
        BindKind::Transmitter => BindTransmitterResp::new(system_id, version).into(),
        BindKind::Receiver => BindReceiverResp::new(system_id, version).into(),
        BindKind::Transceiver => BindTransceiverResp::new(system_id, version).into(),
    };
    let bind_id = shared.next_bind_id.fetch_add(1, Relaxed);
    lock(&shared.binds).push(BindInfo {
        kind: kind.name(),
        system_id: req.system_id.clone(),
        system_type: req.system_type.clone(),
        interface_version: req.interface_version,
        addr_ton: req.addr_ton,
        addr_npi: req.addr_npi,
        address_range: req.address_range.clone(),
        id: bind_id,
        at: Instant::now(),
    });
    conn.send(encode(&Command::new(CommandStatus::EsmeRok, seq, resp)));
    let waiting = {
        let mut queued = lock(&shared.queued);
        let _ = conn.bind.set(BindState {
            kind,
            id: bind_id,
            system_id: req.system_id.clone(),
        });
        if kind.can_receive() {
            let (mine, others) = std::mem::take(&mut *queued)
                .into_iter()
                .partition(|(s, _)| *s == req.system_id);
            *queued = others;
            mine
        } else {
            Vec::new()
        }
    };
    for (system_id, job) in waiting {
        shared.route_receipt(&system_id, job, Some(conn));
    }
    Flow::Continue
}

fn kind_command(kind: BindKind) -> u32 {
    match kind {
        BindKind::Transmitter => BIND_TRANSMITTER,
        BindKind::Receiver => BIND_RECEIVER,
        BindKind::Transceiver => BIND_TRANSCEIVER,
    }
}

fn on_submit(shared: &Arc<Shared>, conn: &Arc<Conn>, bind: &BindState, seq: u32, sm: &SubmitSm, at: Instant) -> Flow {
    if !bind.kind.can_send() {
        conn.send(header(RESP | SUBMIT_SM, ESME_RINVBNDSTS, seq));
        return Flow::Continue;
    }
    let config = &shared.config;
    let registered_delivery = u8::from(sm.registered_delivery);
    let asked = config.receipts && registered_delivery & 1 == 1;
    let mut receipts = 0;
    let mut receipt_first = false;
    let mut stat = None;
    let mut answer_ok = false;
    let action = shared.next_action().unwrap_or(Action::Ok);
    match &action {
        Action::Ok => {
            answer_ok = true;
            receipts = u32::from(asked);
        }
        Action::ReceiptFirst => {
            answer_ok = true;
            receipts = 1;
            receipt_first = true;
        }
        Action::DuplicateReceipt(n) => {
            answer_ok = true;
            receipts = *n;
        }
        Action::ReceiptStat(s) => {
            answer_ok = true;
            receipts = 1;
            stat = Some(s.as_str());
        }
        Action::Status(_) | Action::GenericNack(_) | Action::NoResponse | Action::Disconnect => {}
    }
    let number = answer_ok.then(|| shared.next_message_id.fetch_add(1, Relaxed));
    let message_id = number.map(|n| config.id_format.format(n));
    if config.record {
        lock(&shared.submits).push(submit_record(sm, seq, message_id.clone(), at, bind.id));
    }
    // Counted once recorded, so a caller that sees the count also sees the record.
    shared.submit_count.fetch_add(1, Release);
    let receipt = match number {
        Some(n) if receipts > 0 => {
            let id = config.receipt_id_format.format(n);
            let source = Address::new(
                u8::from(sm.dest_addr_ton),
                u8::from(sm.dest_addr_npi),
                &sm.destination_addr,
            );
            let dest = Address::new(
                u8::from(sm.source_addr_ton),
                u8::from(sm.source_addr_npi),
                &sm.source_addr,
            );
            receipt_frame(&id, stat.unwrap_or("DELIVRD"), SystemTime::now(), &source, &dest, true).ok()
        }
        _ => None,
    };
    let send_receipts = |frame: &Bytes| {
        let prefer = (bind.kind == BindKind::Transceiver).then_some(conn);
        for _ in 0..receipts {
            shared.route_receipt(&bind.system_id, DeliverJob::new(frame.clone(), true), prefer);
        }
    };
    if receipt_first {
        if let Some(frame) = &receipt {
            send_receipts(frame);
        }
    }
    match action {
        Action::Status(status) => conn.send(header(RESP | SUBMIT_SM, status, seq)),
        Action::GenericNack(status) => conn.send(header(GENERIC_NACK, status, seq)),
        Action::NoResponse => {}
        Action::Disconnect => return Flow::Close,
        Action::Ok | Action::ReceiptFirst | Action::DuplicateReceipt(_) | Action::ReceiptStat(_) => {
            let id = message_id.unwrap_or_default();
            let id = COctetString::from_string(id).unwrap_or_default();
            conn.send(encode(&Command::new(
                CommandStatus::EsmeRok,
                seq,
                SubmitSmResp::new(id, Vec::new()),
            )));
        }
    }
    match receipt {
        Some(frame) if !receipt_first && !config.receipt_delay.is_zero() => {
            let (shared, conn, system_id) = (shared.clone(), conn.clone(), bind.system_id.clone());
            let transceiver = bind.kind == BindKind::Transceiver;
            let delay = config.receipt_delay;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                for _ in 0..receipts {
                    let job = DeliverJob::new(frame.clone(), true);
                    shared.route_receipt(&system_id, job, transceiver.then_some(&conn));
                }
            });
        }
        Some(frame) if !receipt_first => send_receipts(&frame),
        _ => {}
    }
    Flow::Continue
}

fn submit_record(sm: &SubmitSm, seq: u32, message_id: Option<String>, at: Instant, bind: u64) -> Submit {
    let (mut reference, mut total, mut part) = (None, None, None);
    let mut message_payload = None;
    for tlv in sm.tlvs() {
        match tlv.value() {
            Some(TlvValue::SarMsgRefNum(v)) => reference = Some(*v),
            Some(TlvValue::SarTotalSegments(v)) => total = Some(*v),
            Some(TlvValue::SarSegmentSeqnum(v)) => part = Some(*v),
            Some(TlvValue::MessagePayload(p)) => message_payload = Some(p.value.to_vec()),
            Some(TlvValue::Other { tag, value }) => match u16::from(*tag) {
                TAG_SAR_MSG_REF_NUM if value.len() == 2 => reference = Some(u16::from_be_bytes([value[0], value[1]])),
                TAG_SAR_TOTAL_SEGMENTS if value.len() == 1 => total = Some(value[0]),
                TAG_SAR_SEGMENT_SEQNUM if value.len() == 1 => part = Some(value[0]),
                TAG_MESSAGE_PAYLOAD => message_payload = Some(value.to_vec()),
                _ => {}
            },
            _ => {}
        }
    }
    let sar = match (reference, total, part) {
        (Some(r), Some(t), Some(p)) => Some((r, t, p)),
        _ => None,
    };
    Submit {
        seq,
        source_addr: sm.source_addr.to_string(),
        destination_addr: sm.destination_addr.to_string(),
        esm_class: u8::from(sm.esm_class),
        data_coding: u8::from(sm.data_coding),
        registered_delivery: u8::from(sm.registered_delivery),
        short_message: sm.short_message().to_vec(),
        sar,
        message_payload,
        message_id,
        at,
        bind,
    }
}

#[derive(Debug, Clone, Default)]
struct Address {
    ton: u8,
    npi: u8,
    addr: String,
}

impl Address {
    fn new(ton: u8, npi: u8, addr: &impl ToString) -> Self {
        Address {
            ton,
            npi,
            addr: addr.to_string(),
        }
    }

    /// International/ISDN for numbers, alphanumeric otherwise.
    fn guess(addr: &str) -> Self {
        let digits = addr.strip_prefix('+').unwrap_or(addr);
        let (ton, npi) = if addr.is_empty() {
            (0, 0)
        } else if digits.bytes().all(|b| b.is_ascii_digit()) {
            (1, 1)
        } else {
            (5, 0)
        };
        Address {
            ton,
            npi,
            addr: addr.to_string(),
        }
    }

    fn c_string(&self) -> Result<COctetString<1, 21>, String> {
        COctetString::from_string(self.addr.clone()).map_err(|e| format!("address {:?}: {e}", self.addr))
    }
}

/// Encodes a deliver_sm with sequence number 0 (set when sent).
fn deliver_frame(
    source: &Address,
    dest: &Address,
    esm_class: u8,
    data_coding: u8,
    short_message: &[u8],
    tlvs: Vec<MessageDeliveryRequestTlvValue>,
) -> Result<Bytes, String> {
    let short_message = OctetString::from_slice(short_message).map_err(|e| format!("short_message: {e}"))?;
    let pdu = DeliverSm::builder()
        .source_addr_ton(Ton::from(source.ton))
        .source_addr_npi(Npi::from(source.npi))
        .source_addr(source.c_string()?)
        .dest_addr_ton(Ton::from(dest.ton))
        .dest_addr_npi(Npi::from(dest.npi))
        .destination_addr(dest.c_string()?)
        .esm_class(EsmClass::from(esm_class))
        .data_coding(DataCoding::from(data_coding))
        .short_message(short_message)
        .tlvs(tlvs)
        .build();
    Ok(Bytes::from(encode(&Command::new(CommandStatus::EsmeRok, 0, pdu))))
}

/// message_state for a receipt stat.
pub fn message_state(stat: &str) -> u8 {
    match stat {
        "ENROUTE" => 1,
        "DELIVRD" => 2,
        "EXPIRED" => 3,
        "DELETED" => 4,
        "UNDELIV" => 5,
        "ACCEPTD" => 6,
        "REJECTD" => 8,
        _ => 7,
    }
}

/// The SMPP 3.4 Appendix B receipt text.
pub fn receipt_text(id: &str, stat: &str, submitted: SystemTime, done: SystemTime) -> String {
    let delivered = if stat == "DELIVRD" { "001" } else { "000" };
    format!(
        "id:{id} sub:001 dlvrd:{delivered} submit date:{} done date:{} stat:{stat} err:000 text:",
        smpp_date(submitted),
        smpp_date(done)
    )
}

fn receipt_frame(
    id: &str,
    stat: &str,
    submitted: SystemTime,
    source: &Address,
    dest: &Address,
    with_tlvs: bool,
) -> Result<Bytes, String> {
    let text = receipt_text(id, stat, submitted, SystemTime::now());
    let tlvs = if with_tlvs {
        let receipted = COctetString::from_string(id.to_string()).map_err(|e| format!("message id {id:?}: {e}"))?;
        vec![
            MessageDeliveryRequestTlvValue::ReceiptedMessageId(receipted),
            MessageDeliveryRequestTlvValue::MessageState(MessageState::from(message_state(stat))),
        ]
    } else {
        Vec::new()
    };
    deliver_frame(source, dest, 0x04, 0, text.as_bytes(), tlvs)
}

/// `YYMMDDhhmm` in UTC.
fn smpp_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{:02}{month:02}{day:02}{:02}{:02}",
        year % 100,
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufWriter, Read, Write};
    use std::net::TcpStream as StdStream;

    use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter, DeliverSmResp};
    use rusmpp::values::RegisteredDelivery;
    use rusmpp::CommandId;

    /// A minimal blocking ESME written directly on rusmpp.
    struct Esme {
        stream: StdStream,
        seq: u32,
    }

    struct Frame {
        id: u32,
        status: u32,
        seq: u32,
        command: Command,
    }

    impl Esme {
        fn connect(smsc: &Smsc) -> Esme {
            let stream = StdStream::connect(("127.0.0.1", smsc.port())).expect("connect");
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            stream.set_nodelay(true).unwrap();
            Esme { stream, seq: 0 }
        }

        fn next_seq(&mut self) -> u32 {
            self.seq += 1;
            self.seq
        }

        fn send(&mut self, pdu: impl Into<Pdu>) -> u32 {
            let seq = self.next_seq();
            let bytes = encode(&Command::new(CommandStatus::EsmeRok, seq, pdu));
            self.stream.write_all(&bytes).unwrap();
            seq
        }

        fn send_resp(&mut self, status: u32, seq: u32, pdu: impl Into<Pdu>) {
            let bytes = encode(&Command::new(CommandStatus::from(status), seq, pdu));
            self.stream.write_all(&bytes).unwrap();
        }

        fn raw(&mut self, bytes: &[u8]) {
            self.stream.write_all(bytes).unwrap();
        }

        fn read(&mut self) -> Frame {
            self.try_read().expect("a PDU from the SMSC")
        }

        fn try_read(&mut self) -> Option<Frame> {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).ok()?;
            let len = u32::from_be_bytes(len) as usize;
            let mut rest = vec![0u8; len - 4];
            self.stream.read_exact(&mut rest).unwrap();
            let (id, status, seq) = (u32_at(&rest, 0), u32_at(&rest, 4), u32_at(&rest, 8));
            let mut buf = BytesMut::from(&rest[..]);
            let (command, _) = Command::decode(&mut buf, len - 4).expect("decodable PDU");
            Some(Frame {
                id,
                status,
                seq,
                command,
            })
        }

        fn closed(&mut self) -> bool {
            let mut byte = [0u8; 1];
            matches!(self.stream.read(&mut byte), Ok(0) | Err(_))
        }

        fn bind_as(&mut self, kind: BindKind, system_id: &str, password: &str) -> Frame {
            let system_id = COctetString::from_string(system_id.into()).unwrap();
            let password = COctetString::from_string(password.into()).unwrap();
            let system_type = COctetString::from_string("SIMTEST".into()).unwrap();
            let range = COctetString::from_string("^44".into()).unwrap();
            let v = InterfaceVersion::Smpp3_4;
            let (ton, npi) = (Ton::International, Npi::Isdn);
            match kind {
                BindKind::Transmitter => self.send(BindTransmitter::new(
                    system_id,
                    password,
                    system_type,
                    v,
                    ton,
                    npi,
                    range,
                )),
                BindKind::Receiver => {
                    self.send(BindReceiver::new(system_id, password, system_type, v, ton, npi, range))
                }
                BindKind::Transceiver => self.send(BindTransceiver::new(
                    system_id,
                    password,
                    system_type,
                    v,
                    ton,
                    npi,
                    range,
                )),
            };
            self.read()
        }

        fn bind(smsc: &Smsc, kind: BindKind) -> Esme {
            let mut esme = Esme::connect(smsc);
            let resp = esme.bind_as(kind, "test", "secret");
            assert_eq!(resp.status, 0, "bind failed");
            esme
        }

        fn submit(&mut self, text: &str, registered_delivery: u8) -> u32 {
            let sm = submit_sm(text, registered_delivery, Vec::new());
            self.send(sm)
        }

        fn ack(&mut self, deliver: &Frame, status: u32) {
            self.send_resp(status, deliver.seq, DeliverSmResp::default());
        }
    }

    fn submit_sm(
        text: &str,
        registered_delivery: u8,
        tlvs: Vec<rusmpp::tlvs::MessageSubmissionRequestTlvValue>,
    ) -> SubmitSm {
        SubmitSm::builder()
            .source_addr_ton(Ton::Alphanumeric)
            .source_addr(COctetString::from_string("Ruvuma".into()).unwrap())
            .dest_addr_ton(Ton::International)
            .dest_addr_npi(Npi::Isdn)
            .destination_addr(COctetString::from_string("447700900123".into()).unwrap())
            .registered_delivery(RegisteredDelivery::from(registered_delivery))
            .short_message(OctetString::from_slice(text.as_bytes()).unwrap())
            .tlvs(tlvs)
            .build()
    }

    fn deliver_of(frame: &Frame) -> &DeliverSm {
        match frame.command.pdu() {
            Some(Pdu::DeliverSm(d)) => d,
            other => panic!("expected deliver_sm, got {other:?}"),
        }
    }

    fn message_id_of(frame: &Frame) -> String {
        assert_eq!(frame.id, RESP | SUBMIT_SM);
        match frame.command.pdu() {
            Some(Pdu::SubmitSmResp(r)) => r.message_id().to_string(),
            other => panic!("expected submit_sm_resp, got {other:?}"),
        }
    }

    fn receipt_fields(frame: &Frame) -> (String, Option<String>, Option<u8>) {
        let d = deliver_of(frame);
        assert_eq!(u8::from(d.esm_class), 0x04);
        let text = String::from_utf8(d.short_message().to_vec()).unwrap();
        let mut receipted = None;
        let mut state = None;
        for tlv in d.tlvs() {
            match tlv.value() {
                Some(TlvValue::ReceiptedMessageId(id)) => receipted = Some(id.to_string()),
                Some(TlvValue::MessageState(s)) => state = Some(u8::from(*s)),
                _ => {}
            }
        }
        (text, receipted, state)
    }

    fn assert_receipt_format(text: &str, id: &str, stat: &str) {
        let rest = text
            .strip_prefix(&format!("id:{id} sub:001 dlvrd:"))
            .unwrap_or_else(|| panic!("{text}"));
        let date = |s: &str| s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit());
        let (_, rest) = rest.split_once(" submit date:").unwrap();
        let (submitted, rest) = rest.split_once(" done date:").unwrap();
        let (done, rest) = rest.split_once(" stat:").unwrap();
        assert!(date(submitted) && date(done), "{text}");
        assert_eq!(rest, format!("{stat} err:000 text:"));
    }

    #[test]
    fn bind_and_refusals() {
        let smsc = Smsc::start(SmscConfig::default());
        let mut esme = Esme::connect(&smsc);
        let resp = esme.bind_as(BindKind::Transceiver, "test", "secret");
        assert_eq!((resp.id, resp.status), (RESP | BIND_TRANSCEIVER, 0));
        match resp.command.pdu() {
            Some(Pdu::BindTransceiverResp(r)) => assert_eq!(r.system_id.to_string(), SMSC_SYSTEM_ID),
            other => panic!("{other:?}"),
        }
        let again = esme.bind_as(BindKind::Transceiver, "test", "secret");
        assert_eq!(again.status, ESME_RALYBND);
        let binds = smsc.binds();
        assert_eq!(binds.len(), 1);
        let b = &binds[0];
        assert_eq!(
            (b.kind, b.system_id.as_str(), b.system_type.as_str()),
            ("transceiver", "test", "SIMTEST")
        );
        assert_eq!(
            (b.interface_version, b.addr_ton, b.addr_npi, b.address_range.as_str()),
            (0x34, 1, 1, "^44")
        );
        assert_eq!(b.id, 1);
        assert_eq!(smsc.bound_sessions(), 1);

        let mut wrong = Esme::connect(&smsc);
        assert_eq!(
            wrong.bind_as(BindKind::Transmitter, "test", "nope").status,
            ESME_RINVPASWD
        );
        assert_eq!(
            wrong.bind_as(BindKind::Transmitter, "other", "secret").status,
            ESME_RINVPASWD
        );

        smsc.refuse_binds(2, ESME_RBINDFAIL);
        let mut refused = Esme::connect(&smsc);
        let r = refused.bind_as(BindKind::Receiver, "test", "secret");
        assert_eq!((r.id, r.status), (RESP | BIND_RECEIVER, ESME_RBINDFAIL));
        assert_eq!(
            refused.bind_as(BindKind::Receiver, "test", "secret").status,
            ESME_RBINDFAIL
        );
        assert_eq!(refused.bind_as(BindKind::Receiver, "test", "secret").status, 0);
        assert_eq!(smsc.binds().last().unwrap().id, 2);
        assert_eq!(smsc.bound_sessions(), 2);

        let mut early = Esme::connect(&smsc);
        early.submit("too early", 0);
        let r = early.read();
        assert_eq!((r.id, r.status), (RESP | SUBMIT_SM, ESME_RINVBNDSTS));
        early.raw(&header(ENQUIRE_LINK, 0, 9));
        let r = early.read();
        assert_eq!((r.id, r.status, r.seq), (RESP | ENQUIRE_LINK, ESME_RINVBNDSTS, 9));

        refused.submit("receiver cannot submit", 0);
        assert_eq!(refused.read().status, ESME_RINVBNDSTS);
        assert_eq!(smsc.submit_count(), 0);
    }

    #[test]
    fn submit_gets_id_and_receipt() {
        let smsc = Smsc::start(SmscConfig::default());
        let mut esme = Esme::bind(&smsc, BindKind::Transceiver);
        let seq = esme.submit("hello", 1);
        let resp = esme.read();
        assert_eq!((resp.seq, resp.status), (seq, 0));
        assert_eq!(message_id_of(&resp), "10000");
        let receipt = esme.read();
        assert_eq!(receipt.id, DELIVER_SM);
        let (text, receipted, state) = receipt_fields(&receipt);
        assert_receipt_format(&text, "10000", "DELIVRD");
        assert!(text.contains(" dlvrd:001 "), "{text}");
        assert_eq!(receipted.as_deref(), Some("10000"));
        assert_eq!(state, Some(2));
        let d = deliver_of(&receipt);
        assert_eq!(d.source_addr.to_string(), "447700900123");
        assert_eq!(d.destination_addr.to_string(), "Ruvuma");
        esme.ack(&receipt, 0);
        smsc.wait_for("the receipt's answer", Duration::from_secs(5), |s| {
            s.deliver_responses() == [0]
        });

        let seq2 = esme.submit("no receipt wanted", 0);
        let resp = esme.read();
        assert_eq!((resp.seq, message_id_of(&resp).as_str()), (seq2, "10001"));

        let tlvs = vec![
            rusmpp::tlvs::MessageSubmissionRequestTlvValue::SarMsgRefNum(0x1234),
            rusmpp::tlvs::MessageSubmissionRequestTlvValue::SarTotalSegments(3),
            rusmpp::tlvs::MessageSubmissionRequestTlvValue::SarSegmentSeqnum(2),
            rusmpp::tlvs::MessageSubmissionRequestTlvValue::MessagePayload(MessagePayload::new(
                AnyOctetString::from_static_slice(b"payload"),
            )),
        ];
        let mut sm = submit_sm("", 0, tlvs);
        sm.esm_class = EsmClass::from(0x40);
        sm.data_coding = DataCoding::from(8);
        esme.send(sm);
        assert_eq!(esme.read().status, 0);

        let submits = smsc.submits();
        assert_eq!(submits.len(), 3);
        let first = &submits[0];
        assert_eq!(
            (first.seq, first.source_addr.as_str(), first.destination_addr.as_str()),
            (seq, "Ruvuma", "447700900123")
        );
        assert_eq!(
            (first.registered_delivery, first.short_message.as_slice()),
            (1, &b"hello"[..])
        );
        assert_eq!((first.message_id.as_deref(), first.bind), (Some("10000"), 1));
        let third = &submits[2];
        assert_eq!((third.esm_class, third.data_coding), (0x40, 8));
        assert_eq!(third.sar, Some((0x1234, 3, 2)));
        assert_eq!(third.message_payload.as_deref(), Some(&b"payload"[..]));
        assert_eq!(smsc.submit_count(), 3);
    }

    #[test]
    fn id_formats_can_differ_in_receipts() {
        let config = SmscConfig {
            id_format: IdFormat::Hex,
            receipt_id_format: IdFormat::DecimalZeroPadded(10),
            ..Default::default()
        };
        let smsc = Smsc::start(config);
        let mut esme = Esme::bind(&smsc, BindKind::Transceiver);
        esme.submit("hi", 1);
        assert_eq!(message_id_of(&esme.read()), "10000");
        let receipt = esme.read();
        let (text, receipted, _) = receipt_fields(&receipt);
        assert_receipt_format(&text, "0000065536", "DELIVRD");
        assert_eq!(receipted.as_deref(), Some("0000065536"));
        esme.ack(&receipt, 0);
        assert_eq!(IdFormat::Decimal.format(FIRST_MESSAGE_ID), "65536");
        assert_eq!(IdFormat::Decimal.parse("65536"), IdFormat::Hex.parse("10000"));
    }

    #[test]
    fn scripted_actions() {
        let smsc = Smsc::start(SmscConfig::default());
        let mut esme = Esme::bind(&smsc, BindKind::Transceiver);
        smsc.script([
            Action::Status(ESME_RTHROTTLED),
            Action::GenericNack(ESME_RMSGQFUL),
            Action::NoResponse,
            Action::ReceiptFirst,
            Action::DuplicateReceipt(2),
            Action::ReceiptStat("UNDELIV".into()),
            Action::Ok,
        ]);

        let s = esme.submit("throttled", 1);
        let r = esme.read();
        assert_eq!((r.id, r.status, r.seq), (RESP | SUBMIT_SM, ESME_RTHROTTLED, s));
        assert!(r.command.pdu().is_none(), "no message id on error");

        let s = esme.submit("nacked", 1);
        let r = esme.read();
        assert_eq!((r.id, r.status, r.seq), (GENERIC_NACK, ESME_RMSGQFUL, s));

        esme.submit("swallowed", 1);
        let s = esme.submit("receipt first", 1);
        let receipt = esme.read();
        assert_eq!(
            receipt.id, DELIVER_SM,
            "the swallowed submit got no answer; the receipt comes first"
        );
        let resp = esme.read();
        assert_eq!(resp.seq, s);
        let id = message_id_of(&resp);
        assert_eq!(receipt_fields(&receipt).1.as_deref(), Some(id.as_str()));
        esme.ack(&receipt, 0);

        esme.submit("twice", 1);
        let id = message_id_of(&esme.read());
        for _ in 0..2 {
            let receipt = esme.read();
            assert_eq!(receipt_fields(&receipt).1.as_deref(), Some(id.as_str()));
            esme.ack(&receipt, 0);
        }

        esme.submit("undeliverable", 1);
        let id = message_id_of(&esme.read());
        let receipt = esme.read();
        let (text, receipted, state) = receipt_fields(&receipt);
        assert_receipt_format(&text, &id, "UNDELIV");
        assert!(text.contains(" dlvrd:000 "), "{text}");
        assert_eq!((receipted.as_deref(), state), (Some(id.as_str()), Some(5)));
        esme.ack(&receipt, 0);

        esme.submit("back to normal", 0);
        assert_eq!(esme.read().status, 0);
        assert_eq!(smsc.script_left(), 0);

        smsc.script([Action::Disconnect]);
        esme.submit("cut", 1);
        assert!(esme.closed(), "the SMSC should close the connection");
        smsc.wait_for("the session to go", Duration::from_secs(5), |s| s.bound_sessions() == 0);
        assert_eq!(smsc.submit_count(), 8);
        let submits = smsc.submits();
        let ids: Vec<_> = submits.iter().map(|s| s.message_id.is_some()).collect();
        assert_eq!(ids, [false, false, false, true, true, true, true, false]);
        assert_eq!(smsc.deliver_responses(), [0, 0, 0, 0]);
    }

    #[test]
    fn enquire_link_unbind_and_garbage() {
        let smsc = Smsc::start(SmscConfig::default());
        let mut esme = Esme::bind(&smsc, BindKind::Transmitter);
        esme.raw(&header(ENQUIRE_LINK, 0, 77));
        let r = esme.read();
        assert_eq!((r.id, r.status, r.seq), (RESP | ENQUIRE_LINK, 0, 77));
        assert_eq!(r.command.id(), CommandId::EnquireLinkResp);
        assert_eq!(smsc.enquire_links(), 1);

        let mut unknown = header(0xFF, 0, 78);
        unknown.extend_from_slice(b"junk");
        unknown[..4].copy_from_slice(&20u32.to_be_bytes());
        esme.raw(&unknown);
        let r = esme.read();
        assert_eq!((r.id, r.status, r.seq), (GENERIC_NACK, ESME_RINVCMDID, 78));

        let mut broken = header(SUBMIT_SM, 0, 79);
        broken.extend_from_slice(&[0, 1, 1, b'4', b'4']);
        broken[..4].copy_from_slice(&21u32.to_be_bytes());
        esme.raw(&broken);
        let r = esme.read();
        assert_eq!((r.id, r.status, r.seq), (GENERIC_NACK, ESME_RSYSERR, 79));

        esme.raw(&header(QUERY_SM, 0, 80));
        let r = esme.read();
        assert_eq!((r.id, r.status, r.seq), (RESP | QUERY_SM, ESME_RINVCMDID, 80));

        esme.submit("still alive", 0);
        assert_eq!(esme.read().status, 0);

        esme.raw(&header(UNBIND, 0, 81));
        let r = esme.read();
        assert_eq!((r.id, r.status, r.seq), (UNBIND_RESP, 0, 81));
        assert!(esme.closed());
        assert_eq!(smsc.unbinds_received(), 1);
        smsc.wait_for("no session", Duration::from_secs(5), |s| s.bound_sessions() == 0);

        let mut bad_length = Esme::bind(&smsc, BindKind::Transmitter);
        bad_length.raw(&[0, 0, 0, 8, 0, 0, 0, 0x15]);
        let r = bad_length.read();
        assert_eq!((r.id, r.status), (GENERIC_NACK, ESME_RINVCMDLEN));
        assert!(bad_length.closed());
    }

    #[test]
    fn receipts_go_to_a_receiver_and_wait_for_one() {
        let smsc = Smsc::start(SmscConfig::default());
        let mut tx = Esme::bind(&smsc, BindKind::Transmitter);
        tx.submit("one", 1);
        let id = message_id_of(&tx.read());
        smsc.wait_for("a queued receipt", Duration::from_secs(5), |s| s.queued_receipts() == 1);

        let mut rx = Esme::bind(&smsc, BindKind::Receiver);
        let receipt = rx.read();
        assert_eq!(receipt_fields(&receipt).1.as_deref(), Some(id.as_str()));
        rx.ack(&receipt, ESME_RX_T_APPN);
        let again = rx.read();
        assert_eq!(receipt_fields(&again).1.as_deref(), Some(id.as_str()), "retried once");
        assert_ne!(again.seq, receipt.seq);
        rx.ack(&again, 0);
        smsc.wait_for("two answers", Duration::from_secs(5), |s| {
            s.deliver_responses() == [ESME_RX_T_APPN, 0]
        });

        tx.submit("two", 1);
        let id = message_id_of(&tx.read());
        let receipt = rx.read();
        assert_eq!(receipt_fields(&receipt).1.as_deref(), Some(id.as_str()));
        drop(rx);
        smsc.wait_for(
            "the unanswered receipt to be queued again",
            Duration::from_secs(5),
            |s| s.queued_receipts() == 1 && s.bound_sessions() == 1,
        );
        let mut rx = Esme::bind(&smsc, BindKind::Receiver);
        let receipt = rx.read();
        assert_eq!(receipt_fields(&receipt).1.as_deref(), Some(id.as_str()));
        rx.ack(&receipt, 0);
        tx.submit("three", 0);
        assert_eq!(tx.read().status, 0);
    }

    #[test]
    fn mo_and_receipts_on_demand() {
        let smsc = Arc::new(Smsc::start(SmscConfig::default()));
        let mut esme = Esme::bind(&smsc, BindKind::Transceiver);

        let handle = {
            let smsc = smsc.clone();
            std::thread::spawn(move || {
                let tlvs = [(0x020C, vec![0, 7]), (0x020E, vec![2]), (0x020F, vec![1])];
                smsc.send_deliver_sm("447700900123", "12345", 0x40, 8, &[0, 0x48], &tlvs)
            })
        };
        let mo = esme.read();
        let d = deliver_of(&mo);
        assert_eq!(
            (d.source_addr.to_string(), d.destination_addr.to_string()),
            ("447700900123".into(), "12345".into())
        );
        assert_eq!((u8::from(d.esm_class), u8::from(d.data_coding)), (0x40, 8));
        assert_eq!(d.short_message().to_vec(), vec![0, 0x48]);
        let sar: Vec<_> = d.tlvs().iter().map(|t| u16::from(t.tag())).collect();
        assert_eq!(sar, [0x020C, 0x020E, 0x020F]);
        esme.ack(&mo, ESME_RX_T_APPN);
        assert_eq!(handle.join().unwrap(), Ok(ESME_RX_T_APPN));
        let retry = esme.read();
        assert_eq!(retry.id, DELIVER_SM);
        esme.ack(&retry, 0);
        smsc.wait_for("two answers", Duration::from_secs(5), |s| {
            s.deliver_responses() == [ESME_RX_T_APPN, 0]
        });

        let handle = {
            let smsc = smsc.clone();
            std::thread::spawn(move || smsc.send_receipt("abc123", "EXPIRED", true))
        };
        let receipt = esme.read();
        let (text, receipted, state) = receipt_fields(&receipt);
        assert_receipt_format(&text, "abc123", "EXPIRED");
        assert_eq!((receipted.as_deref(), state), (Some("abc123"), Some(3)));
        esme.ack(&receipt, 0);
        assert_eq!(handle.join().unwrap(), Ok(0));

        let handle = {
            let smsc = smsc.clone();
            std::thread::spawn(move || smsc.send_receipt("abc124", "DELIVRD", false))
        };
        let receipt = esme.read();
        let (text, receipted, state) = receipt_fields(&receipt);
        assert_receipt_format(&text, "abc124", "DELIVRD");
        assert_eq!((receipted, state), (None, None));
        esme.ack(&receipt, 0);
        assert_eq!(handle.join().unwrap(), Ok(0));
    }

    #[test]
    fn unbind_and_disconnect_from_the_smsc() {
        let smsc = Smsc::start(SmscConfig::default());
        let mut a = Esme::bind(&smsc, BindKind::Transceiver);
        smsc.send_unbind();
        let unbind = a.read();
        assert_eq!(unbind.id, UNBIND);
        a.raw(&header(UNBIND_RESP, 0, unbind.seq));
        assert!(a.closed());
        smsc.wait_for("no session", Duration::from_secs(5), |s| s.bound_sessions() == 0);

        let mut b = Esme::bind(&smsc, BindKind::Transceiver);
        let mut c = Esme::bind(&smsc, BindKind::Receiver);
        assert_eq!(smsc.bound_sessions(), 2);
        smsc.disconnect_all();
        assert_eq!(smsc.bound_sessions(), 0);
        assert!(b.closed() && c.closed());
        assert_eq!(
            smsc.send_deliver_sm("1", "2", 0, 0, b"x", &[]),
            Err("no bound session can receive".into())
        );
    }

    #[test]
    fn throughput() {
        const N: u64 = 20_000;
        const WINDOW: u64 = 64;
        let smsc = Arc::new(Smsc::start(SmscConfig {
            record: false,
            ..Default::default()
        }));
        let esme = Esme::bind(&smsc, BindKind::Transceiver);
        let frame = encode(&Command::new(
            CommandStatus::EsmeRok,
            0,
            submit_sm("load", 0, Vec::new()),
        ));
        let (acks, acked) = std::sync::mpsc::channel::<()>();
        let mut reader = esme.stream.try_clone().unwrap();
        let started = Instant::now();
        let reading = std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut have = 0usize;
            let mut answered = 0u64;
            while answered < N {
                let n = reader.read(&mut buf[have..]).expect("read");
                assert!(n > 0, "closed");
                have += n;
                let mut at = 0;
                while have - at >= 4 {
                    let len = u32_at(&buf, at) as usize;
                    if have - at < len {
                        break;
                    }
                    assert_eq!((u32_at(&buf, at + 4), u32_at(&buf, at + 8)), (RESP | SUBMIT_SM, 0));
                    answered += 1;
                    let _ = acks.send(());
                    at += len;
                }
                buf.copy_within(at..have, 0);
                have -= at;
            }
        });
        let mut out = BufWriter::new(esme.stream.try_clone().unwrap());
        for i in 0..N {
            if i >= WINDOW {
                match acked.try_recv() {
                    Ok(()) => {}
                    Err(_) => {
                        out.flush().unwrap();
                        acked.recv().unwrap();
                    }
                }
            }
            let mut f = frame.clone();
            f[12..16].copy_from_slice(&((i + 1) as u32).to_be_bytes());
            out.write_all(&f).unwrap();
        }
        out.flush().unwrap();
        reading.join().unwrap();
        let elapsed = started.elapsed();
        assert_eq!(smsc.submit_count(), N);
        eprintln!(
            "submit_sm: {N} in {elapsed:?}, {:.0}/s (window {WINDOW})",
            N as f64 / elapsed.as_secs_f64()
        );

        let mut esme = esme;
        let answering = std::thread::spawn(move || {
            let mut answered = 0u64;
            while answered < N {
                let d = esme.read();
                assert_eq!(d.id, DELIVER_SM);
                esme.raw(&{
                    let mut r = header(DELIVER_SM_RESP, 0, d.seq);
                    r.push(0);
                    r[..4].copy_from_slice(&17u32.to_be_bytes());
                    r
                });
                answered += 1;
            }
        });
        let started = Instant::now();
        let ok = smsc.blast_deliver_sm(N, 64, "447700900123", "12345", "load").unwrap();
        let elapsed = started.elapsed();
        answering.join().unwrap();
        assert_eq!(ok, N);
        eprintln!(
            "deliver_sm: {N} in {elapsed:?}, {:.0}/s (window 64)",
            N as f64 / elapsed.as_secs_f64()
        );
    }

    #[test]
    fn dates() {
        assert_eq!(smpp_date(UNIX_EPOCH), "7001010000");
        assert_eq!(smpp_date(UNIX_EPOCH + Duration::from_secs(1_709_210_096)), "2402291234");
        assert_eq!(message_state("REJECTD"), 8);
    }
}
