//! The journal on disk: a folder of segment files, only ever appended to. An entry is a `put`
//! record (its number, routing key and Vumi JSON); a handled entry gets a `done` record. Each
//! record carries a CRC, so a record torn by a crash is found and cut off at the next start.
//!
//! A segment is closed once it has grown past [`SEGMENT_BYTES`]; the oldest segments are deleted
//! once nothing they hold is still waiting. An entry that waits for long (a queue nobody takes)
//! would keep every later segment alive, so while more than [`SEGMENTS_KEPT`] segments are on
//! disk the oldest one's waiting entries are written again at the end, and it is deleted: the
//! folder stays a few segments large whatever the traffic.
//!
//! A `lock` file, locked while the journal is open, keeps a second host off the same folder.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A segment is closed once it is this large.
pub const SEGMENT_BYTES: u64 = 32 << 20;
/// Segments on disk (the open one included) before the oldest is compacted away.
pub const SEGMENTS_KEPT: usize = 3;
/// Neither a routing key nor a body can be larger than this.
const MAX_KEY: usize = u16::MAX as usize;

const PUT: u8 = 1;
const DONE: u8 = 2;
/// kind, length, seq.
const HEAD: usize = 1 + 4 + 8;
const CRC: usize = 4;
const DONE_LEN: usize = HEAD + CRC;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {dir}: {what}: {error}")]
    Io {
        dir: String,
        what: String,
        error: io::Error,
    },
    #[error("journal {dir} is in use by another ruvuma process; each host on the memory bus needs a journal of its own (set store.journal)")]
    Locked { dir: String },
}

/// An entry still waiting, as read back at the start: (seq, routing key, Vumi JSON).
pub type Entry = (i64, String, String);

/// What the journal held when it was opened.
#[derive(Default)]
pub struct Recovered {
    /// The entries still waiting, in order.
    pub entries: Vec<Entry>,
    /// The highest entry number seen: new entries are numbered after it.
    pub last_seq: i64,
    /// Torn or damaged records found and cut off, one line each.
    pub damage: Vec<String>,
}

/// Where a waiting entry's `put` record is.
#[derive(Clone, Copy)]
struct Loc {
    segment: u64,
    offset: u64,
    len: u32,
}

struct Open {
    id: u64,
    file: File,
    /// Bytes written and committed.
    len: u64,
}

pub struct JournalFile {
    dir: PathBuf,
    /// [`SEGMENT_BYTES`], but for tests.
    segment_bytes: u64,
    _lock: File,
    open: Open,
    /// Waiting entries per segment, the open one included.
    segments: BTreeMap<u64, usize>,
    live: HashMap<i64, Loc>,
    /// Records not yet written, and where in them the entries they put are (by seq).
    buf: Vec<u8>,
    pending: HashMap<i64, (u64, u32)>,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.log"))
}

fn crc(bytes: &[u8]) -> [u8; 4] {
    crc32fast::hash(bytes).to_le_bytes()
}

impl JournalFile {
    /// Opens (making it when missing) the journal in `dir`, locks it, and reads back what waits.
    pub fn open(dir: &Path) -> Result<(Self, Recovered), JournalError> {
        let name = dir.display().to_string();
        let io = |what: &str| {
            let (name, what) = (name.clone(), what.to_owned());
            move |error| JournalError::Io { dir: name, what, error }
        };
        std::fs::create_dir_all(dir).map_err(io("cannot make the folder"))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .map_err(io("cannot open its lock file"))?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => JournalError::Locked { dir: name.clone() },
            std::fs::TryLockError::Error(e) => io("cannot lock it")(e),
        })?;
        let (ids, recovered, live) = read_all(dir, true).map_err(io("cannot read it"))?;
        // Every segment on disk, so that those nothing waits in are deleted below.
        let mut segments: BTreeMap<u64, usize> = ids.iter().map(|id| (*id, 0)).collect();
        for loc in live.values() {
            *segments.entry(loc.segment).or_insert(0) += 1;
        }
        let next = ids.last().map_or(1, |id| id + 1);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(segment_path(dir, next))
            .map_err(io("cannot start a segment"))?;
        segments.insert(next, 0);
        let mut journal = Self {
            dir: dir.to_owned(),
            segment_bytes: SEGMENT_BYTES,
            _lock: lock,
            open: Open { id: next, file, len: 0 },
            segments,
            live,
            buf: Vec::new(),
            pending: HashMap::new(),
        };
        journal.delete_handled();
        Ok((journal, recovered))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Entries waiting: written and not yet handled.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.live.len()
    }

    /// Adds an entry to the next write. A key or body past the record's limits is refused.
    pub fn put(&mut self, seq: i64, key: &str, body: &str) -> Result<(), String> {
        if key.len() > MAX_KEY || body.len() > u32::MAX as usize / 2 {
            return Err(format!("journal entry {seq} for {key:.64} is too large to keep"));
        }
        let start = self.buf.len();
        let len = HEAD + 2 + key.len() + body.len() + CRC;
        self.buf.push(PUT);
        self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        self.buf.extend_from_slice(&seq.to_le_bytes());
        self.buf.extend_from_slice(&(key.len() as u16).to_le_bytes());
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(body.as_bytes());
        let sum = crc(&self.buf[start..]);
        self.buf.extend_from_slice(&sum);
        self.pending.insert(seq, (start as u64, len as u32));
        Ok(())
    }

    /// Marks an entry handled in the next write (nothing, if it was never put).
    pub fn done(&mut self, seq: i64) {
        if let Some(loc) = self.live.remove(&seq) {
            if let Some(n) = self.segments.get_mut(&loc.segment) {
                *n = n.saturating_sub(1);
            }
        } else if self.pending.remove(&seq).is_none() {
            return;
        }
        let start = self.buf.len();
        self.buf.push(DONE);
        self.buf.extend_from_slice(&(DONE_LEN as u32).to_le_bytes());
        self.buf.extend_from_slice(&seq.to_le_bytes());
        let sum = crc(&self.buf[start..]);
        self.buf.extend_from_slice(&sum);
    }

    /// Writes what was added. On an error nothing counts as written and the same records are
    /// written again by the next call (whatever part of them reached the file is overwritten).
    pub fn commit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.write_buf()?;
        if self.open.len >= self.segment_bytes {
            self.rotate()?;
        }
        Ok(())
    }

    fn write_buf(&mut self) -> io::Result<()> {
        let at = self.open.len;
        // Cut off what a failed attempt may have left, then write at the committed end.
        self.open.file.set_len(at)?;
        self.open.file.write_all_at(&self.buf, at)?;
        self.open.len += self.buf.len() as u64;
        let segment = self.open.id;
        for (seq, (offset, len)) in self.pending.drain() {
            let loc = Loc {
                segment,
                offset: at + offset,
                len,
            };
            self.live.insert(seq, loc);
            *self.segments.entry(segment).or_insert(0) += 1;
        }
        self.buf.clear();
        Ok(())
    }

    /// Closes the open segment and starts the next; deletes what is no longer needed, and
    /// compacts the oldest segment away while too many are kept.
    fn rotate(&mut self) -> io::Result<()> {
        let id = self.open.id + 1;
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(segment_path(&self.dir, id))?;
        self.open = Open { id, file, len: 0 };
        self.segments.insert(id, 0);
        self.delete_handled();
        while self.segments.len() > SEGMENTS_KEPT {
            let Some((&oldest, _)) = self.segments.first_key_value() else {
                break;
            };
            self.carry_forward(oldest)?;
            self.write_buf()?;
            self.delete_handled();
        }
        Ok(())
    }

    /// Writes the waiting entries of segment `id` again at the end, so that it can go.
    fn carry_forward(&mut self, id: u64) -> io::Result<()> {
        let file = File::open(segment_path(&self.dir, id))?;
        let mut mine: Vec<(i64, Loc)> = self
            .live
            .iter()
            .filter(|(_, l)| l.segment == id)
            .map(|(s, l)| (*s, *l))
            .collect();
        mine.sort_by_key(|(s, _)| *s);
        for (seq, loc) in mine {
            let mut record = vec![0; loc.len as usize];
            file.read_exact_at(&mut record, loc.offset)?;
            let Some((_, key, body)) = parse_put(&record) else {
                return Err(io::Error::other(format!(
                    "entry {seq} in segment {id} cannot be read back"
                )));
            };
            self.live.remove(&seq);
            self.put(seq, &key, &body).map_err(io::Error::other)?;
        }
        self.segments.insert(id, 0);
        Ok(())
    }

    /// Deletes the oldest segments while nothing in them waits (never the open one). Only a
    /// prefix goes: a later segment may hold the `done` of an earlier one's entry.
    fn delete_handled(&mut self) {
        while let Some((&id, &waiting)) = self.segments.first_key_value() {
            if id == self.open.id || waiting > 0 {
                return;
            }
            let path = segment_path(&self.dir, id);
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(
                        "journal: cannot delete {}: {e}; it is read again at the next start",
                        path.display()
                    );
                }
            }
            self.segments.remove(&id);
        }
    }
}

/// (seq, key, body) of a whole `put` record whose CRC holds.
fn parse_put(record: &[u8]) -> Option<(i64, String, String)> {
    let (seq, payload) = check(record)?;
    let key_len = u16::from_le_bytes(payload.get(..2)?.try_into().ok()?) as usize;
    let key = std::str::from_utf8(payload.get(2..2 + key_len)?).ok()?;
    let body = std::str::from_utf8(payload.get(2 + key_len..)?).ok()?;
    Some((seq, key.to_owned(), body.to_owned()))
}

/// The seq and what follows the head, if the record's CRC holds.
fn check(record: &[u8]) -> Option<(i64, &[u8])> {
    let (data, sum) = record.split_at(record.len().checked_sub(CRC)?);
    if data.len() < HEAD || crc(data) != sum {
        return None;
    }
    let seq = i64::from_le_bytes(data[5..HEAD].try_into().ok()?);
    Some((seq, &data[HEAD..]))
}

/// The segment ids in the folder, in order.
fn segment_ids(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// What waits in the journal in `dir`, read without opening it: a host may be writing it (a
/// record it is writing just now is not counted).
pub fn peek(dir: &Path) -> io::Result<Vec<Entry>> {
    Ok(read_all(dir, false)?.1.entries)
}

/// Reads every segment in order: what still waits, and where. With `repair`, a segment ending
/// in a torn or damaged record is cut off there (the records after it cannot be trusted).
fn read_all(dir: &Path, repair: bool) -> io::Result<(Vec<u64>, Recovered, HashMap<i64, Loc>)> {
    let ids = segment_ids(dir)?;
    let mut recovered = Recovered::default();
    let mut waiting: BTreeMap<i64, (Loc, String, String)> = BTreeMap::new();
    for &id in &ids {
        let path = segment_path(dir, id);
        let mut bytes = Vec::new();
        File::open(&path)?.read_to_end(&mut bytes)?;
        let mut at = 0usize;
        while at < bytes.len() {
            match read_record(&bytes[at..]) {
                Some(Record::Put(seq, key, body, len)) => {
                    let loc = Loc {
                        segment: id,
                        offset: at as u64,
                        len,
                    };
                    recovered.last_seq = recovered.last_seq.max(seq);
                    waiting.insert(seq, (loc, key, body));
                    at += len as usize;
                }
                Some(Record::Done(seq)) => {
                    recovered.last_seq = recovered.last_seq.max(seq);
                    waiting.remove(&seq);
                    at += DONE_LEN;
                }
                None if !repair => break,
                None => {
                    recovered.damage.push(format!(
                        "{}: a torn or damaged record at byte {at} of {}; it and what follows it were cut off",
                        path.display(),
                        bytes.len()
                    ));
                    OpenOptions::new().write(true).open(&path)?.set_len(at as u64)?;
                    break;
                }
            }
        }
    }
    let mut live = HashMap::with_capacity(waiting.len());
    for (seq, (loc, key, body)) in waiting {
        live.insert(seq, loc);
        recovered.entries.push((seq, key, body));
    }
    Ok((ids, recovered, live))
}

enum Record {
    Put(i64, String, String, u32),
    Done(i64),
}

fn read_record(bytes: &[u8]) -> Option<Record> {
    let kind = *bytes.first()?;
    let len = u32::from_le_bytes(bytes.get(1..5)?.try_into().ok()?) as usize;
    let record = bytes.get(..len)?;
    match kind {
        PUT => parse_put(record).map(|(seq, key, body)| Record::Put(seq, key, body, len as u32)),
        DONE if len == DONE_LEN => check(record).map(|(seq, _)| Record::Done(seq)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
