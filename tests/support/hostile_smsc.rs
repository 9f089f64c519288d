//! A misbehaving SMSC on raw TCP, for abuse tests: each connection follows a [`Plan`] (flood
//! while never reading, chatter while never answering, or answer politely while the test floods
//! it with deliveries), and it counts what the host did, including how many deliver_sm the host
//! had taken off the socket without answering (from the kernel's queues in /proc/net/tcp).

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ENQUIRE_LINK: u32 = 0x0000_0015;
pub const DELIVER_SM: u32 = 0x0000_0005;
pub const DELIVER_SM_RESP: u32 = 0x8000_0005;

/// What the SMSC does with one connection, after answering its bind.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Never reads again; writes enquire_link as fast as it can for this long, then closes.
    DeafFlood(Duration),
    /// Reads everything and answers nothing; sends an enquire_link every millisecond.
    Ignores,
    /// Answers enquire_link, submit_sm and unbind, and records every deliver_sm_resp.
    Polite,
}

#[derive(Default)]
struct Shared {
    plans: Mutex<VecDeque<Plan>>,
    binds: AtomicUsize,
    /// The write side of the newest polite connection, and the host's end of it.
    polite: Mutex<Option<(Arc<Mutex<TcpStream>>, SocketAddr)>>,
    /// Bytes written on polite connections.
    written: AtomicU64,
    /// deliver_sm_resp by sequence number: the status.
    answers: Mutex<HashMap<u32, u32>>,
    answered: AtomicU64,
    seq: AtomicU32,
    stop: AtomicBool,
}

pub struct HostileSmsc {
    port: u16,
    shared: Arc<Shared>,
}

impl HostileSmsc {
    /// Listens on a free port; connections take `plans` in order, then are polite.
    pub fn start(plans: impl IntoIterator<Item = Plan>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the hostile SMSC");
        let port = listener.local_addr().expect("address").port();
        let shared = Arc::new(Shared {
            plans: Mutex::new(plans.into_iter().collect()),
            seq: AtomicU32::new(1),
            ..Shared::default()
        });
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if accepting.stop.load(SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let shared = accepting.clone();
                std::thread::spawn(move || serve(conn, shared));
            }
        });
        Self { port, shared }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Binds answered so far.
    pub fn binds(&self) -> usize {
        self.shared.binds.load(SeqCst)
    }

    /// Whether a polite connection is up.
    pub fn polite_bound(&self) -> bool {
        self.shared.polite.lock().expect("polite").is_some()
    }

    pub fn next_seq(&self) -> u32 {
        self.shared.seq.fetch_add(1, SeqCst)
    }

    /// Writes one PDU on the newest polite connection.
    pub fn send(&self, pdu: &[u8]) -> Result<(), String> {
        let (stream, _) = self
            .shared
            .polite
            .lock()
            .expect("polite")
            .clone()
            .ok_or("no polite connection")?;
        let mut s = stream.lock().expect("stream");
        s.write_all(pdu).map_err(|e| e.to_string())?;
        self.shared.written.fetch_add(pdu.len() as u64, SeqCst);
        Ok(())
    }

    /// Writes `pdus` on the newest polite connection from another thread, one after another as
    /// fast as the host takes them; the thread ends at the first failed write.
    pub fn flood(&self, pdus: Vec<Vec<u8>>) -> std::thread::JoinHandle<usize> {
        let shared = self.shared.clone();
        std::thread::spawn(move || {
            let Some((stream, _)) = shared.polite.lock().expect("polite").clone() else {
                return 0;
            };
            let mut sent = 0;
            for pdu in pdus {
                if stream.lock().expect("stream").write_all(&pdu).is_err() {
                    break;
                }
                shared.written.fetch_add(pdu.len() as u64, SeqCst);
                sent += 1;
            }
            sent
        })
    }

    /// deliver_sm_resp received so far, any status.
    pub fn answered(&self) -> u64 {
        self.shared.answered.load(SeqCst)
    }

    /// deliver_sm_resp received, by the deliver_sm's sequence number.
    pub fn answers(&self) -> HashMap<u32, u32> {
        self.shared.answers.lock().expect("answers").clone()
    }

    /// Deliver_sm the host has read off the socket and not answered (all of `pdu_len` bytes):
    /// what was written, less what waits in the kernel on either side, less the answers (and
    /// the answers still on their way back, 17 bytes each).
    pub fn taken_unanswered(&self, pdu_len: u64) -> Option<i64> {
        let host = self.shared.polite.lock().expect("polite").as_ref().map(|(_, a)| *a)?;
        let answered = self.answered() as i64;
        let written = self.shared.written.load(SeqCst);
        let ours = tcp_queues(self.port, host.port())?;
        let theirs = tcp_queues(host.port(), self.port)?;
        let taken = written.saturating_sub(ours.0 + theirs.1) / pdu_len;
        let coming_back = (ours.1 + theirs.0) / 17;
        Some(taken as i64 - answered - coming_back as i64)
    }
}

impl Drop for HostileSmsc {
    fn drop(&mut self) {
        self.shared.stop.store(true, SeqCst);
        if let Some((s, _)) = self.shared.polite.lock().expect("polite").take() {
            let _ = s.lock().map(|s| s.shutdown(std::net::Shutdown::Both));
        }
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// (tx_queue, rx_queue) of the loopback TCP socket from `local` to `remote`, from /proc/net/tcp.
fn tcp_queues(local: u16, remote: u16) -> Option<(u64, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let (want_local, want_remote) = (format!("0100007F:{local:04X}"), format!("0100007F:{remote:04X}"));
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || f[1] != want_local || f[2] != want_remote {
            return None;
        }
        let (tx, rx) = f[4].split_once(':')?;
        Some((u64::from_str_radix(tx, 16).ok()?, u64::from_str_radix(rx, 16).ok()?))
    })
}

/// One PDU: (command_id, command_status, sequence, body).
fn read_pdu(r: &mut impl Read) -> Option<(u32, u32, u32, Vec<u8>)> {
    let mut head = [0u8; 16];
    r.read_exact(&mut head).ok()?;
    let word = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let len = word(0) as usize;
    let mut body = vec![0u8; len.checked_sub(16)?];
    r.read_exact(&mut body).ok()?;
    Some((word(4), word(8), word(12), body))
}

/// A PDU from its parts.
pub fn pdu(command_id: u32, status: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut out = ((16 + body.len()) as u32).to_be_bytes().to_vec();
    for w in [command_id, status, seq] {
        out.extend_from_slice(&w.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// A deliver_sm: `short_message` and TLVs as (tag, value), addresses as given (any bytes).
pub fn deliver_sm(seq: u32, source: &str, esm_class: u8, short_message: &[u8], tlvs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut b = vec![0u8]; // service_type ""
    b.extend_from_slice(&[1, 1]);
    b.extend_from_slice(source.as_bytes());
    b.push(0);
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(b"1234\0");
    b.extend_from_slice(&[esm_class, 0, 0, 0, 0, 0, 0, 0, 0]);
    // ^ protocol_id, priority, schedule "" , validity "", registered_delivery, replace, data_coding, sm_default_msg_id
    b.push(short_message.len() as u8);
    b.extend_from_slice(short_message);
    for (tag, value) in tlvs {
        b.extend_from_slice(&tag.to_be_bytes());
        b.extend_from_slice(&(value.len() as u16).to_be_bytes());
        b.extend_from_slice(value);
    }
    pdu(DELIVER_SM, 0, seq, &b)
}

/// `n` PDUs the host cannot use, four kinds in turn: a submit_sm_resp and a generic_nack for
/// nothing it sent, a deliver_sm cut short in source_addr (undecodable) and a request with an
/// unknown command_id. The last two are requests, answered with a generic_nack; when `n` is a
/// multiple of four the last PDU is one of them.
pub fn malformed_pdus(smsc: &HostileSmsc, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let seq = smsc.next_seq();
            match i % 4 {
                0 => pdu(0x8000_0004, 0, seq, b"stray\0"),
                1 => pdu(0x8000_0000, 0x58, seq, &[]),
                2 => pdu(DELIVER_SM, 0, seq, b"\0\x01\x0127"),
                _ => pdu(0x0000_00FF, 0, seq, &[]),
            }
        })
        .collect()
}

fn serve(mut conn: TcpStream, shared: Arc<Shared>) {
    let Some((id, _, seq, _)) = read_pdu(&mut conn) else {
        return;
    };
    if !matches!(id, 1 | 2 | 9) {
        return;
    }
    if conn.write_all(&pdu(id | 0x8000_0000, 0, seq, b"hostile\0")).is_err() {
        return;
    }
    shared.binds.fetch_add(1, SeqCst);
    let plan = shared.plans.lock().expect("plans").pop_front().unwrap_or(Plan::Polite);
    match plan {
        Plan::DeafFlood(limit) => {
            let until = Instant::now() + limit;
            let batch: Vec<u8> = (0..256).flat_map(|i| pdu(ENQUIRE_LINK, 0, 1 + i, &[])).collect();
            while Instant::now() < until && !shared.stop.load(SeqCst) {
                if conn.write_all(&batch).is_err() {
                    break;
                }
            }
        }
        Plan::Ignores => {
            let mut reader = match conn.try_clone() {
                Ok(r) => r,
                Err(_) => return,
            };
            std::thread::spawn(move || while read_pdu(&mut reader).is_some() {});
            let mut n = 1;
            while !shared.stop.load(SeqCst) && conn.write_all(&pdu(ENQUIRE_LINK, 0, n, &[])).is_ok() {
                n += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Plan::Polite => polite(conn, shared),
    }
}

fn polite(conn: TcpStream, shared: Arc<Shared>) {
    let (Ok(mut reader), Ok(host)) = (conn.try_clone(), conn.peer_addr()) else {
        return;
    };
    let writer = Arc::new(Mutex::new(conn));
    *shared.polite.lock().expect("polite") = Some((writer.clone(), host));
    let mut ids = 0u64;
    while let Some((id, status, seq, _)) = read_pdu(&mut reader) {
        let answer = match id {
            ENQUIRE_LINK => Some(pdu(0x8000_0015, 0, seq, &[])),
            0x0000_0004 => {
                ids += 1;
                Some(pdu(0x8000_0004, 0, seq, format!("h{ids}\0").as_bytes()))
            }
            0x0000_0006 => Some(pdu(0x8000_0006, 0, seq, &[])),
            DELIVER_SM_RESP | 0x8000_0000 => {
                shared.answers.lock().expect("answers").insert(seq, status);
                shared.answered.fetch_add(1, SeqCst);
                None
            }
            _ => None,
        };
        if let Some(a) = answer {
            if writer.lock().expect("stream").write_all(&a).is_err() {
                break;
            }
            shared.written.fetch_add(a.len() as u64, SeqCst);
        }
        if id == 0x0000_0006 {
            break;
        }
    }
    let mut current = shared.polite.lock().expect("polite");
    if current.as_ref().is_some_and(|(w, _)| Arc::ptr_eq(w, &writer)) {
        *current = None;
    }
}
