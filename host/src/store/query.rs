//! Reading the store: one message with its events, pages of messages newest first, and counts.
//! The command line prints these; the admin server serves the same.

use super::db::{Cell, Db, DbError, Row, Value};
use super::rows::normalize_id;
use serde_json::{json, Map, Value as Json};

/// Rows a page holds at most.
pub const MAX_PAGE: usize = 1000;

const COLUMNS: &str =
    "message_id, direction, endpoint, addr, status, batch, sent_message_id, stored_at, updated_at, body";

/// One stored message.
#[derive(Debug, Clone)]
pub struct Stored {
    pub message_id: String,
    pub direction: String,
    pub endpoint: String,
    pub addr: String,
    pub status: String,
    pub batch: Option<String>,
    pub sent_message_id: Option<String>,
    pub stored_at: i64,
    pub updated_at: i64,
    /// The message as Vumi JSON.
    pub body: String,
}

fn text(cells: &mut std::vec::IntoIter<Cell>) -> Option<String> {
    cells.next().and_then(Cell::into_text)
}

impl Stored {
    fn from_row(row: Row) -> Self {
        let mut c = row.into_iter();
        Self {
            message_id: text(&mut c).unwrap_or_default(),
            direction: text(&mut c).unwrap_or_default(),
            endpoint: text(&mut c).unwrap_or_default(),
            addr: text(&mut c).unwrap_or_default(),
            status: text(&mut c).unwrap_or_default(),
            batch: text(&mut c),
            sent_message_id: text(&mut c),
            stored_at: c.next().and_then(|v| v.int()).unwrap_or(0),
            updated_at: c.next().and_then(|v| v.int()).unwrap_or(0),
            body: text(&mut c).unwrap_or_default(),
        }
    }

    /// The message's own JSON (its text when that is not JSON, which the store never writes).
    pub fn message(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|_| Json::String(self.body.clone()))
    }

    pub fn to_json(&self) -> Json {
        json!({
            "message_id": self.message_id,
            "direction": self.direction,
            "endpoint": self.endpoint,
            "addr": self.addr,
            "status": self.status,
            "batch": self.batch,
            "sent_message_id": self.sent_message_id,
            "stored_at": time(self.stored_at),
            "updated_at": time(self.updated_at),
            "message": self.message(),
        })
    }
}

/// A time in Vumi's format.
pub fn time(micros: i64) -> String {
    ruvuma_plugin_api::Timestamp::from_micros(micros).to_string()
}

/// One stored event.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub detail: Option<String>,
    pub endpoint: String,
    pub stored_at: i64,
    pub body: String,
}

impl StoredEvent {
    pub fn to_json(&self) -> Json {
        json!({
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status,
            "detail": self.detail,
            "endpoint": self.endpoint,
            "stored_at": time(self.stored_at),
            "event": serde_json::from_str::<Json>(&self.body).unwrap_or(Json::Null),
        })
    }
}

/// A message with its events: what `messages get` prints.
#[derive(Debug, Clone)]
pub struct Found {
    pub message: Stored,
    pub events: Vec<StoredEvent>,
    /// The other direction's record of the same id (a message relayed between transports).
    pub also: Vec<Stored>,
}

impl Found {
    pub fn to_json(&self) -> Json {
        let mut out = self.message.to_json();
        if let Json::Object(map) = &mut out {
            map.insert("events".into(), self.events.iter().map(StoredEvent::to_json).collect());
            if !self.also.is_empty() {
                let also: Vec<Json> = self.also.iter().map(Stored::to_json).collect();
                map.insert("also".into(), Json::Array(also));
            }
        }
        out
    }
}

/// A message by its id, else by the id its transport was given for it (an SMSC's, normalised).
/// With two records of one id (relayed between transports), the outbound one leads. Both ways
/// are asked in one statement (one round trip to a server), the message id's answer first.
pub fn get(db: &mut dyn Db, id: &str) -> Result<Option<Found>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS}, by_sent FROM ( \
           SELECT {COLUMNS}, 0 AS by_sent FROM messages WHERE message_id = $1 \
           UNION ALL \
           SELECT {COLUMNS}, by_sent FROM (SELECT {COLUMNS}, 1 AS by_sent FROM messages \
             WHERE sent_message_id = $2 ORDER BY stored_at DESC LIMIT 10) s \
         ) m ORDER BY by_sent, direction DESC, stored_at DESC"
    );
    let rows = db.query(&sql, &[Value::Text(id), Value::Text(&normalize_id(id))])?;
    let by_id = |row: &Row| row.last().and_then(Cell::int) == Some(0);
    let any_by_id = rows.iter().any(by_id);
    let mut stored = rows
        .into_iter()
        .filter(|row| by_id(row) == any_by_id)
        .map(Stored::from_row);
    let Some(message) = stored.next() else { return Ok(None) };
    let events = events_of(db, &message.message_id)?;
    Ok(Some(Found {
        message,
        events,
        also: stored.collect(),
    }))
}

fn events_of(db: &mut dyn Db, message_id: &str) -> Result<Vec<StoredEvent>, DbError> {
    let rows = db.query(
        "SELECT event_id, event_type, status, detail, endpoint, stored_at, body FROM events \
         WHERE user_message_id = $1 ORDER BY stored_at, event_id",
        &[Value::Text(message_id)],
    )?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let mut c = row.into_iter();
            StoredEvent {
                event_id: text(&mut c).unwrap_or_default(),
                event_type: text(&mut c).unwrap_or_default(),
                status: text(&mut c).unwrap_or_default(),
                detail: text(&mut c),
                endpoint: text(&mut c).unwrap_or_default(),
                stored_at: c.next().and_then(|v| v.int()).unwrap_or(0),
                body: text(&mut c).unwrap_or_default(),
            }
        })
        .collect())
}

/// What `messages list` selects.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub endpoint: Option<String>,
    pub addr: Option<String>,
    /// `in` or `out`.
    pub direction: Option<String>,
    pub status: Option<String>,
    pub batch: Option<String>,
    /// Microseconds since 1970, inclusive.
    pub since: Option<i64>,
    /// Microseconds since 1970, exclusive.
    pub until: Option<i64>,
}

/// Where a page ends: the next page starts after it. Its text is `<stored_at>.<direction>.<id>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub stored_at: i64,
    pub message_id: String,
    pub direction: String,
}

impl Cursor {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = text.splitn(3, '.');
        let (Some(at), Some(direction), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("{text:?} is not a cursor (a list prints the next one)"));
        };
        let stored_at = at.parse().map_err(|_| format!("{text:?} is not a cursor"))?;
        Ok(Self {
            stored_at,
            message_id: id.to_owned(),
            direction: direction.to_owned(),
        })
    }

    pub fn after(s: &Stored) -> Self {
        Self {
            stored_at: s.stored_at,
            message_id: s.message_id.clone(),
            direction: s.direction.clone(),
        }
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.stored_at, self.direction, self.message_id)
    }
}

/// One page of messages, newest first, after `cursor`; at most [`MAX_PAGE`].
pub fn list(db: &mut dyn Db, filter: &Filter, cursor: Option<&Cursor>, limit: usize) -> Result<Vec<Stored>, DbError> {
    let mut conds: Vec<String> = Vec::new();
    let mut params: Vec<Value<'_>> = Vec::new();
    fn add<'v>(conds: &mut Vec<String>, params: &mut Vec<Value<'v>>, cond: &str, values: &[Value<'v>]) {
        let mut cond = cond.to_owned();
        for (i, _) in values.iter().enumerate() {
            cond = cond.replace(&format!("#{i}"), &format!("${}", params.len() + 1 + i));
        }
        conds.push(cond);
        params.extend_from_slice(values);
    }
    let text_filters = [
        ("endpoint = #0", &filter.endpoint),
        ("addr = #0", &filter.addr),
        ("direction = #0", &filter.direction),
        ("status = #0", &filter.status),
        ("batch = #0", &filter.batch),
    ];
    for (cond, value) in text_filters {
        if let Some(v) = value {
            add(&mut conds, &mut params, cond, &[Value::Text(v)]);
        }
    }
    if let Some(t) = filter.since {
        add(&mut conds, &mut params, "stored_at >= #0", &[Value::Int(t)]);
    }
    if let Some(t) = filter.until {
        add(&mut conds, &mut params, "stored_at < #0", &[Value::Int(t)]);
    }
    if let Some(c) = cursor {
        add(
            &mut conds,
            &mut params,
            "(stored_at < #0 OR (stored_at = #0 AND (message_id < #1 OR (message_id = #1 AND direction < #2))))",
            &[
                Value::Int(c.stored_at),
                Value::Text(&c.message_id),
                Value::Text(&c.direction),
            ],
        );
    }
    let limit = limit.clamp(1, MAX_PAGE) as i64;
    let where_ = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM messages {where_} ORDER BY stored_at DESC, message_id DESC, direction DESC LIMIT ${}",
        params.len() + 1
    );
    params.push(Value::Int(limit));
    Ok(db.query(&sql, &params)?.into_iter().map(Stored::from_row).collect())
}

/// How many messages share an endpoint, direction, status and batch.
#[derive(Debug, Clone)]
pub struct Group {
    pub endpoint: String,
    pub direction: String,
    pub status: String,
    pub batch: Option<String>,
    pub count: i64,
}

/// Counts of messages per endpoint, direction, status and batch, and of events per type.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub messages: Vec<Group>,
    /// (event_type, count)
    pub events: Vec<(String, i64)>,
}

pub fn stats(db: &mut dyn Db) -> Result<Stats, DbError> {
    let rows = db.query(
        "SELECT endpoint, direction, status, batch, COUNT(*) FROM messages \
         GROUP BY endpoint, direction, status, batch ORDER BY endpoint, direction, status, batch",
        &[],
    )?;
    let messages = rows
        .into_iter()
        .map(|row| {
            let mut c = row.into_iter();
            Group {
                endpoint: text(&mut c).unwrap_or_default(),
                direction: text(&mut c).unwrap_or_default(),
                status: text(&mut c).unwrap_or_default(),
                batch: text(&mut c),
                count: c.next().and_then(|v| v.int()).unwrap_or(0),
            }
        })
        .collect();
    let rows = db.query(
        "SELECT event_type, COUNT(*) FROM events GROUP BY event_type ORDER BY event_type",
        &[],
    )?;
    let events = rows
        .into_iter()
        .map(|row| {
            let mut c = row.into_iter();
            (
                text(&mut c).unwrap_or_default(),
                c.next().and_then(|v| v.int()).unwrap_or(0),
            )
        })
        .collect();
    Ok(Stats { messages, events })
}

impl Stats {
    pub fn to_json(&self) -> Json {
        let by = |pick: fn(&Group) -> String| {
            let mut map = Map::new();
            for g in &self.messages {
                let n = map.entry(pick(g)).or_insert(Json::from(0i64));
                *n = Json::from(n.as_i64().unwrap_or(0) + g.count);
            }
            Json::Object(map)
        };
        json!({
            "total": self.messages.iter().map(|g| g.count).sum::<i64>(),
            "by_endpoint": by(|g| g.endpoint.clone()),
            "by_direction": by(|g| g.direction.clone()),
            "by_status": by(|g| g.status.clone()),
            "by_batch": by(|g| g.batch.clone().unwrap_or_default()),
            "groups": self.messages.iter().map(|g| json!({
                "endpoint": g.endpoint, "direction": g.direction, "status": g.status, "batch": g.batch, "count": g.count,
            })).collect::<Vec<_>>(),
            "events": self.events.iter().map(|(t, n)| (t.clone(), Json::from(*n))).collect::<Map<_, _>>(),
        })
    }
}

/// A page of the journal after entry `after` up to entry `until`, in order: (seq, routing key,
/// body).
pub fn journal_page(
    db: &mut dyn Db,
    after: i64,
    until: i64,
    limit: i64,
) -> Result<Vec<(i64, String, String)>, DbError> {
    let rows = db.query(
        "SELECT seq, routing_key, body FROM journal WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
        &[Value::Int(after), Value::Int(until), Value::Int(limit)],
    )?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let mut c = row.into_iter();
            let seq = c.next().and_then(|v| v.int()).unwrap_or(0);
            (seq, text(&mut c).unwrap_or_default(), text(&mut c).unwrap_or_default())
        })
        .collect())
}
