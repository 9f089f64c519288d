//! Dead letters in the store: what a component gave up on, its reason, and the routing key it
//! is replayed on. Listed newest first, replayed and purged by the admin server and
//! `ruvuma failures`.

use super::db::{Cell, Db, DbError, Row, Value};
use super::query::time;
use serde_json::{json, Value as Json};

/// One dead letter.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub failure_id: String,
    pub component: String,
    /// The routing key it came from: where a replay puts it back.
    pub origin: String,
    pub message_id: String,
    pub reason: String,
    /// Microseconds since 1970.
    pub failed_at: i64,
    /// The message or event, as Vumi JSON.
    pub body: String,
}

const COLUMNS: &str = "failure_id, component, origin, message_id, reason, failed_at, body";

impl DeadLetter {
    fn from_row(row: Row) -> Self {
        let mut c = row.into_iter();
        let mut text = || c.next().and_then(Cell::into_text).unwrap_or_default();
        let (failure_id, component, origin, message_id, reason) = (text(), text(), text(), text(), text());
        let failed_at = text().parse().unwrap_or(0);
        Self {
            failure_id,
            component,
            origin,
            message_id,
            reason,
            failed_at,
            body: text(),
        }
    }

    pub fn to_json(&self) -> Json {
        json!({
            "failure_id": self.failure_id,
            "component": self.component,
            "origin": self.origin,
            "message_id": self.message_id,
            "reason": self.reason,
            "failed_at": time(self.failed_at),
            "message": serde_json::from_str::<Json>(&self.body).unwrap_or_else(|_| Json::String(self.body.clone())),
        })
    }
}

pub fn insert(db: &mut dyn Db, f: &DeadLetter) -> Result<(), DbError> {
    db.execute(
        &format!("INSERT INTO failures ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING"),
        &[
            Value::Text(&f.failure_id),
            Value::Text(&f.component),
            Value::Text(&f.origin),
            Value::Text(&f.message_id),
            Value::Text(&f.reason),
            Value::Int(f.failed_at),
            Value::Text(&f.body),
        ],
    )
    .map(|_| ())
}

/// The newest `limit`, of one component when given.
pub fn list(db: &mut dyn Db, component: Option<&str>, limit: usize) -> Result<Vec<DeadLetter>, DbError> {
    let limit = limit.clamp(1, super::query::MAX_PAGE) as i64;
    let rows = match component {
        Some(c) => db.query(
            &format!(
                "SELECT {COLUMNS} FROM failures WHERE component = $1 ORDER BY failed_at DESC, failure_id LIMIT $2"
            ),
            &[Value::Text(c), Value::Int(limit)],
        )?,
        None => db.query(
            &format!("SELECT {COLUMNS} FROM failures ORDER BY failed_at DESC, failure_id LIMIT $1"),
            &[Value::Int(limit)],
        )?,
    };
    Ok(rows.into_iter().map(DeadLetter::from_row).collect())
}

pub fn get(db: &mut dyn Db, id: &str) -> Result<Option<DeadLetter>, DbError> {
    let rows = db.query(
        &format!("SELECT {COLUMNS} FROM failures WHERE failure_id = $1"),
        &[Value::Text(id)],
    )?;
    Ok(rows.into_iter().next().map(DeadLetter::from_row))
}

/// Forgets one; whether it was there.
pub fn delete(db: &mut dyn Db, id: &str) -> Result<bool, DbError> {
    db.execute("DELETE FROM failures WHERE failure_id = $1", &[Value::Text(id)])
        .map(|n| n > 0)
}

/// Forgets every one (of one component, when given); how many.
pub fn purge(db: &mut dyn Db, component: Option<&str>) -> Result<u64, DbError> {
    match component {
        Some(c) => db.execute("DELETE FROM failures WHERE component = $1", &[Value::Text(c)]),
        None => db.execute("DELETE FROM failures", &[]),
    }
}

/// How many there are, per component.
pub fn counts(db: &mut dyn Db) -> Result<Vec<(String, i64)>, DbError> {
    let rows = db.query(
        "SELECT component, COUNT(*) FROM failures GROUP BY component ORDER BY component",
        &[],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut c = r.into_iter();
            let name = c.next().and_then(Cell::into_text).unwrap_or_default();
            (name, c.next().and_then(|n| n.int()).unwrap_or(0))
        })
        .collect())
}
