//! What a message or event becomes in the store: its columns, the status it gives its message,
//! and the statements that write a batch of them.

use super::db::{chunks, params_list, value_rows, Db, DbError, Value};
use ruvuma_plugin_api::message::{DeliveryStatus, EventKind};
use ruvuma_plugin_api::vumi_json;
use ruvuma_plugin_api::{Flow, Payload};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A message or event that passed a transport's endpoint.
pub struct Record {
    pub flow: Flow,
    pub endpoint: Arc<str>,
    pub kept: Kept,
    /// When the host saw it, in microseconds since 1970.
    pub at: i64,
}

/// A message or event as the store keeps it: its Vumi JSON, written once and shared by its
/// journal entry and its record (and by the record of what a consumer took off the queue), with
/// the columns taken from it. Cheap to clone.
#[derive(Clone)]
pub struct Kept(Arc<Taken>);

struct Taken {
    body: String,
    what: What,
}

enum What {
    Message {
        id: String,
        from_addr: String,
        to_addr: String,
        /// `helper_metadata.tag`, a list joined with `:`.
        tag: Option<String>,
    },
    Event(EventFields),
}

/// An event's columns, but for where and when it was kept.
#[derive(Clone)]
struct EventFields {
    id: String,
    message_id: String,
    event_type: &'static str,
    status: &'static str,
    rank: i64,
    detail: String,
}

impl Kept {
    pub fn of(payload: &Payload) -> Self {
        let what = match payload {
            Payload::Message(m) => What::Message {
                id: m.message_id.to_string(),
                from_addr: m.from_addr().to_owned(),
                to_addr: m.to_addr().to_owned(),
                tag: tag_of(&m.helper_metadata),
            },
            Payload::Event(e) => {
                let (status, rank, detail) = event_status(&e.kind);
                What::Event(EventFields {
                    id: e.event_id.to_string(),
                    message_id: e.user_message_id.to_string(),
                    event_type: e.kind.name(),
                    status,
                    rank,
                    detail,
                })
            }
        };
        Kept(Arc::new(Taken {
            body: vumi_json::encode(payload),
            what,
        }))
    }

    /// The Vumi JSON.
    pub fn body(&self) -> &str {
        &self.0.body
    }
}

/// `helper_metadata.tag`: a string, or a list whose parts are joined with `:`.
fn tag_of(helper_metadata: &ruvuma_plugin_api::metadata::JsonObject) -> Option<String> {
    if !helper_metadata.as_str().contains("\"tag\"") {
        return None;
    }
    match helper_metadata.get("tag") {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Array(parts)) => {
            let parts: Vec<String> = parts
                .iter()
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                .collect();
            Some(parts.join(":"))
        }
        _ => None,
    }
}

/// Which batch a message belongs to: its `helper_metadata.tag`, else its transport's configured
/// batch, else the store's.
#[derive(Debug, Clone, Default)]
pub struct Batching {
    pub default: Option<String>,
    pub per_endpoint: BTreeMap<String, String>,
}

impl Batching {
    fn of(&self, endpoint: &str, tag: Option<&str>) -> Option<String> {
        tag.or(self.per_endpoint.get(endpoint).map(String::as_str))
            .or(self.default.as_deref())
            .map(str::to_owned)
    }
}

/// The form an SMSC's message id is filed under, as the SMPP transport files it.
pub use ruvuma_plugin_api::message::normalize_id;

/// The status an event gives its message, its rank (a status never goes to a lower rank), and
/// the event's detail: the SMSC id of an ack, a nack's reason, a report's delivery status.
pub fn event_status(kind: &EventKind) -> (&'static str, i64, String) {
    match kind {
        EventKind::Ack { sent_message_id } => ("acked", 1, normalize_id(sent_message_id)),
        EventKind::DeliveryReport {
            delivery_status: DeliveryStatus::Pending,
        } => ("pending", 2, "pending".into()),
        EventKind::Nack { nack_reason } => ("nacked", 3, nack_reason.to_string()),
        EventKind::DeliveryReport {
            delivery_status: DeliveryStatus::Failed,
        } => ("failed", 4, "failed".into()),
        EventKind::DeliveryReport {
            delivery_status: DeliveryStatus::Delivered,
        } => ("delivered", 4, "delivered".into()),
    }
}

struct MessageRow {
    id: String,
    direction: &'static str,
    endpoint: Arc<str>,
    addr: String,
    batch: Option<String>,
    status: &'static str,
    rank: i64,
    sent_message_id: Option<String>,
    /// Whether events of this batch gave it its status (else the database's may).
    settled: bool,
    at: i64,
    body: Kept,
}

struct EventRow {
    e: EventFields,
    endpoint: Arc<str>,
    at: i64,
    body: Kept,
}

/// The records one transaction writes.
#[derive(Default)]
pub struct Batch {
    messages: Vec<MessageRow>,
    events: Vec<EventRow>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.events.is_empty()
    }

    pub fn len(&self) -> usize {
        self.messages.len() + self.events.len()
    }

    pub fn record(&mut self, r: Record, batching: &Batching) {
        match &r.kept.0.what {
            What::Message {
                id,
                from_addr,
                to_addr,
                tag,
            } => {
                let inbound = r.flow == Flow::Inbound;
                self.messages.push(MessageRow {
                    id: id.clone(),
                    direction: if inbound { "in" } else { "out" },
                    addr: if inbound { from_addr } else { to_addr }.clone(),
                    batch: batching.of(&r.endpoint, tag.as_deref()),
                    endpoint: r.endpoint,
                    status: if inbound { "received" } else { "accepted" },
                    rank: 0,
                    sent_message_id: None,
                    settled: false,
                    at: r.at,
                    body: r.kept.clone(),
                });
            }
            What::Event(e) => self.events.push(EventRow {
                e: e.clone(),
                endpoint: r.endpoint,
                at: r.at,
                body: r.kept.clone(),
            }),
        }
    }

    /// Messages and events in it.
    pub fn counts(&self) -> (usize, usize) {
        (self.messages.len(), self.events.len())
    }

    /// Gives the outbound messages of this batch the status their events in this batch give
    /// them (an ack usually comes within the batch of its message), so that they are written
    /// as they are and need no update.
    pub fn settle(&mut self) {
        if self.events.is_empty() {
            return;
        }
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, m) in self.messages.iter().enumerate() {
            if m.direction == "out" {
                index.insert(m.id.as_str(), i);
            }
        }
        let mut found: Vec<(usize, &EventRow)> = Vec::new();
        for e in &self.events {
            if let Some(&i) = index.get(e.e.message_id.as_str()) {
                found.push((i, e));
            }
        }
        let updates: Vec<(usize, &'static str, i64, Option<String>)> = found
            .into_iter()
            .map(|(i, e)| {
                let sent = (e.e.event_type == "ack").then(|| e.e.detail.clone());
                (i, e.e.status, e.e.rank, sent)
            })
            .collect();
        for (i, status, rank, sent) in updates {
            let m = &mut self.messages[i];
            m.settled = true;
            // The first event of the highest rank decides, as in the database.
            if rank > m.rank {
                m.status = status;
                m.rank = rank;
            }
            if m.sent_message_id.is_none() {
                m.sent_message_id = sent;
            }
        }
    }

    /// Writes it: the caller holds the transaction.
    pub fn write(&self, db: &mut dyn Db, sql: &mut Statements, now: i64) -> Result<(), DbError> {
        let mut at = 0;
        for n in chunks(self.messages.len()) {
            let rows = &self.messages[at..at + n];
            at += n;
            let mut params = Vec::with_capacity(n * 11);
            for m in rows {
                params.extend([
                    Value::Text(&m.id),
                    Value::Text(m.direction),
                    Value::Text(&m.endpoint),
                    Value::Text(&m.addr),
                    m.batch.as_deref().into(),
                    Value::Text(m.status),
                    Value::Int(m.rank),
                    m.sent_message_id.as_deref().into(),
                    Value::Int(m.at),
                    Value::Int(m.at),
                    Value::Text(m.body.body()),
                ]);
            }
            db.execute(sql.get(Stmt::Messages, n), &params)?;
        }
        let mut at = 0;
        for n in chunks(self.events.len()) {
            let rows = &self.events[at..at + n];
            at += n;
            let mut params = Vec::with_capacity(n * 9);
            for e in rows {
                params.extend([
                    Value::Text(&e.e.id),
                    Value::Text(&e.e.message_id),
                    Value::Text(e.e.event_type),
                    Value::Text(e.e.status),
                    Value::Int(e.e.rank),
                    Value::Text(&e.e.detail),
                    Value::Text(&e.endpoint),
                    Value::Int(e.at),
                    Value::Text(e.body.body()),
                ]);
            }
            db.execute(sql.get(Stmt::Events, n), &params)?;
        }
        self.refresh_statuses(db, sql, now)
    }

    /// Brings the status of every outbound message this batch touched up to date with its events.
    /// Those settled by [`Batch::settle`] are left out: their events are all in this batch,
    /// unless another process kept one before the message itself, which is not looked for.
    fn refresh_statuses(&self, db: &mut dyn Db, sql: &mut Statements, now: i64) -> Result<(), DbError> {
        let settled: std::collections::HashSet<&str> = self
            .messages
            .iter()
            .filter(|m| m.settled)
            .map(|m| m.id.as_str())
            .collect();
        let mut ids: Vec<&str> = self
            .events
            .iter()
            .map(|e| e.e.message_id.as_str())
            .filter(|id| !settled.contains(id))
            .collect();
        ids.extend(
            self.messages
                .iter()
                .filter(|m| m.direction == "out" && !m.settled)
                .map(|m| m.id.as_str()),
        );
        ids.sort_unstable();
        ids.dedup();
        let mut at = 0;
        for n in chunks(ids.len()) {
            let mut params = Vec::with_capacity(n + 1);
            params.push(Value::Int(now));
            params.extend(ids[at..at + n].iter().map(|id| Value::Text(id)));
            at += n;
            db.execute(sql.get(Stmt::Status, n), &params)?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stmt {
    Messages,
    Events,
    Status,
}

/// The write statements, by kind and number of rows, built once.
#[derive(Default)]
pub struct Statements(HashMap<(Stmt, usize), String>);

impl Statements {
    pub fn get(&mut self, stmt: Stmt, n: usize) -> &str {
        self.0.entry((stmt, n)).or_insert_with(|| statement(stmt, n))
    }
}

fn statement(stmt: Stmt, n: usize) -> String {
    match stmt {
        Stmt::Messages => format!(
            "INSERT INTO messages (message_id, direction, endpoint, addr, batch, status, status_rank, \
             sent_message_id, stored_at, updated_at, body) VALUES {} ON CONFLICT (message_id, direction) DO NOTHING",
            value_rows(n, 11, 1)
        ),
        Stmt::Events => format!(
            "INSERT INTO events (event_id, user_message_id, event_type, status, status_rank, detail, \
             endpoint, stored_at, body) VALUES {} ON CONFLICT (user_message_id, event_id) DO NOTHING",
            value_rows(n, 9, 1)
        ),
        Stmt::Status => format!(
            "UPDATE messages SET \
               status = (SELECT e.status FROM events e WHERE e.user_message_id = messages.message_id \
                         ORDER BY e.status_rank DESC, e.stored_at ASC LIMIT 1), \
               status_rank = (SELECT MAX(e.status_rank) FROM events e WHERE e.user_message_id = messages.message_id), \
               sent_message_id = COALESCE(sent_message_id, (SELECT e.detail FROM events e \
                 WHERE e.user_message_id = messages.message_id AND e.event_type = 'ack' \
                 ORDER BY e.stored_at ASC LIMIT 1)), \
               updated_at = $1 \
             WHERE direction = 'out' AND message_id IN ({}) \
               AND EXISTS (SELECT 1 FROM events e WHERE e.user_message_id = messages.message_id)",
            params_list(n, 2)
        ),
    }
}
