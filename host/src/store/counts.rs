//! What the store holds for one endpoint, counted: messages each way and the distinct addresses
//! among them, and the events of its outbound messages by status. The sandbox's `messagestore`
//! resource answers Vumi Go's counts with it.

use super::db::{Db, DbError, Value};
use serde_json::{json, Map, Value as Json};

/// The counts for `endpoint`, of messages stored from `since` (microseconds since 1970) on.
pub fn for_endpoint(db: &mut dyn Db, endpoint: &str, since: i64) -> Result<Json, DbError> {
    let params = [Value::Text(endpoint), Value::Int(since)];
    let rows = db.query(
        "SELECT direction, COUNT(*), COUNT(DISTINCT addr) FROM messages \
         WHERE endpoint = $1 AND stored_at >= $2 GROUP BY direction",
        &params,
    )?;
    let mut out = json!({"inbound": 0, "outbound": 0, "inbound_uniques": 0, "outbound_uniques": 0});
    for row in rows {
        let mut c = row.into_iter();
        let direction = c.next().and_then(|v| v.into_text()).unwrap_or_default();
        let count = c.next().and_then(|v| v.int()).unwrap_or(0);
        let uniques = c.next().and_then(|v| v.int()).unwrap_or(0);
        let (total, distinct) = match direction.as_str() {
            "in" => ("inbound", "inbound_uniques"),
            _ => ("outbound", "outbound_uniques"),
        };
        out[total] = count.into();
        out[distinct] = uniques.into();
    }
    let rows = db.query(
        "SELECT e.status, COUNT(*) FROM events e JOIN messages m \
         ON m.message_id = e.user_message_id AND m.direction = 'out' \
         WHERE m.endpoint = $1 AND m.stored_at >= $2 GROUP BY e.status",
        &params,
    )?;
    let mut events = Map::new();
    for row in rows {
        let mut c = row.into_iter();
        let status = c.next().and_then(|v| v.into_text()).unwrap_or_default();
        events.insert(status, c.next().and_then(|v| v.int()).unwrap_or(0).into());
    }
    out["events"] = Json::Object(events);
    Ok(out)
}
