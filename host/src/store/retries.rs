//! Retries a transport has scheduled, kept in the store so that they survive a restart; a
//! process claims a due one before it sends it, so two processes never send the same retry.

use super::db::{Cell, Db, DbError, Value};

/// One scheduled retry.
#[derive(Debug, Clone, PartialEq)]
pub struct Scheduled {
    pub message_id: String,
    pub transport: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// Microseconds since 1970: the first attempt, and when the next is due.
    pub first_at: i64,
    pub due_at: i64,
    /// The last attempt's nack reason.
    pub reason: String,
    /// The message, as Vumi JSON.
    pub body: String,
}

/// Schedules (or reschedules) a retry.
pub fn put(db: &mut dyn Db, s: &Scheduled) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO retries (message_id, transport, attempts, first_at, due_at, claimed_until, reason, body)
         VALUES ($1, $2, $3, $4, $5, 0, $6, $7)
         ON CONFLICT (transport, message_id) DO UPDATE SET attempts = $3, due_at = $5, claimed_until = 0, reason = $6",
        &[
            Value::Text(&s.message_id),
            Value::Text(&s.transport),
            Value::Int(s.attempts),
            Value::Int(s.first_at),
            Value::Int(s.due_at),
            Value::Text(&s.reason),
            Value::Text(&s.body),
        ],
    )
    .map(|_| ())
}

/// Claims up to `limit` retries of `transport` due at `now`, for `hold` microseconds: each is
/// this process's to send until then (a process that dies holding one lets it go when its
/// claim runs out).
pub fn claim_due(
    db: &mut dyn Db,
    transport: &str,
    now: i64,
    hold: i64,
    limit: usize,
) -> Result<Vec<Scheduled>, DbError> {
    let rows = db.query(
        "SELECT message_id FROM retries WHERE transport = $1 AND due_at <= $2 AND claimed_until <= $2
         ORDER BY due_at LIMIT $3",
        &[Value::Text(transport), Value::Int(now), Value::Int(limit as i64)],
    )?;
    let mut out = Vec::new();
    for row in rows {
        let Some(id) = row.into_iter().next().and_then(Cell::into_text) else {
            continue;
        };
        let claimed = db.execute(
            "UPDATE retries SET claimed_until = $1 WHERE transport = $2 AND message_id = $3 AND claimed_until <= $4",
            &[
                Value::Int(now + hold),
                Value::Text(transport),
                Value::Text(&id),
                Value::Int(now),
            ],
        )?;
        if claimed == 1 {
            out.extend(get(db, transport, &id)?);
        }
    }
    Ok(out)
}

fn get(db: &mut dyn Db, transport: &str, id: &str) -> Result<Option<Scheduled>, DbError> {
    let rows = db.query(
        "SELECT message_id, transport, attempts, first_at, due_at, reason, body FROM retries
         WHERE transport = $1 AND message_id = $2",
        &[Value::Text(transport), Value::Text(id)],
    )?;
    Ok(rows.into_iter().next().map(|row| {
        let mut c = row.into_iter();
        let mut text = || c.next().and_then(Cell::into_text).unwrap_or_default();
        let (message_id, transport) = (text(), text());
        let (attempts, first_at, due_at) = (text(), text(), text());
        Scheduled {
            message_id,
            transport,
            attempts: attempts.parse().unwrap_or(0),
            first_at: first_at.parse().unwrap_or(0),
            due_at: due_at.parse().unwrap_or(0),
            reason: text(),
            body: text(),
        }
    }))
}

/// The retry was sent (or given up on): forgets it.
pub fn done(db: &mut dyn Db, transport: &str, id: &str) -> Result<(), DbError> {
    db.execute(
        "DELETE FROM retries WHERE transport = $1 AND message_id = $2",
        &[Value::Text(transport), Value::Text(id)],
    )
    .map(|_| ())
}

/// Every scheduled retry, as (transport, message id).
pub fn all_ids(db: &mut dyn Db) -> Result<Vec<(String, String)>, DbError> {
    let rows = db.query("SELECT transport, message_id FROM retries", &[])?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let mut c = row.into_iter();
            Some((c.next()?.into_text()?, c.next()?.into_text()?))
        })
        .collect())
}

/// Retries waiting, per transport.
pub fn count(db: &mut dyn Db, transport: &str) -> Result<i64, DbError> {
    let rows = db.query(
        "SELECT COUNT(*) FROM retries WHERE transport = $1",
        &[Value::Text(transport)],
    )?;
    Ok(rows.first().and_then(|r| r.first()).and_then(Cell::int).unwrap_or(0))
}
