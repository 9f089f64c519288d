//! The store's tables, created and migrated by ruvuma, with the version kept in `ruvuma_store`.
//! The same statements run on SQLite and PostgreSQL.

use super::db::{Db, DbError, Value};

/// The newest schema this build knows.
pub const VERSION: i64 = 3;

/// Each migration takes the schema from the version before it to its own.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE messages (
        message_id TEXT NOT NULL,
        direction TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        addr TEXT NOT NULL,
        batch TEXT,
        status TEXT NOT NULL,
        status_rank BIGINT NOT NULL,
        sent_message_id TEXT,
        stored_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (message_id, direction)
    );
    CREATE INDEX messages_stored ON messages (stored_at);
    CREATE INDEX messages_addr ON messages (addr, stored_at);
    CREATE INDEX messages_sent ON messages (sent_message_id, stored_at);
    CREATE TABLE events (
        event_id TEXT PRIMARY KEY,
        user_message_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        status TEXT NOT NULL,
        status_rank BIGINT NOT NULL,
        detail TEXT,
        endpoint TEXT NOT NULL,
        stored_at BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX events_message ON events (user_message_id);
    CREATE INDEX events_stored ON events (stored_at);",
    ),
    // Events keyed by their message: one index whose keys are random ids instead of two.
    (
        2,
        "CREATE TABLE events_v2 (
        event_id TEXT NOT NULL,
        user_message_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        status TEXT NOT NULL,
        status_rank BIGINT NOT NULL,
        detail TEXT,
        endpoint TEXT NOT NULL,
        stored_at BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (user_message_id, event_id)
    );
    INSERT INTO events_v2 (event_id, user_message_id, event_type, status, status_rank, detail, endpoint, stored_at, body)
        SELECT event_id, user_message_id, event_type, status, status_rank, detail, endpoint, stored_at, body FROM events;
    DROP TABLE events;
    ALTER TABLE events_v2 RENAME TO events;
    CREATE INDEX events_stored ON events (stored_at);",
    ),
    // Dead letters (what a component gave up on, with where to replay it), and the retries
    // transports have scheduled.
    (
        3,
        "CREATE TABLE failures (
        failure_id TEXT PRIMARY KEY,
        component TEXT NOT NULL,
        origin TEXT NOT NULL,
        message_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        failed_at BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX failures_at ON failures (failed_at);
    CREATE TABLE retries (
        message_id TEXT NOT NULL,
        transport TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        first_at BIGINT NOT NULL,
        due_at BIGINT NOT NULL,
        claimed_until BIGINT NOT NULL,
        reason TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (transport, message_id)
    );
    CREATE INDEX retries_due ON retries (transport, due_at);",
    ),
];

/// Why a database cannot be used as a store.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{where_} is not a ruvuma store: it holds other tables ({tables}) and no ruvuma_store table")]
    Foreign { where_: String, tables: String },
    #[error("{where_} holds a ruvuma store of schema version {found}; this ruvuma knows versions up to {known}: run a newer ruvuma")]
    Newer { where_: String, found: i64, known: i64 },
    #[error("{where_}: {error}")]
    Db { where_: String, error: DbError },
}

fn version(db: &mut dyn Db) -> Result<i64, DbError> {
    let rows = db.query("SELECT value FROM ruvuma_store WHERE name = 'schema_version'", &[])?;
    let found = rows.first().and_then(|r| r.first()).and_then(|c| c.int());
    found.ok_or_else(|| DbError("ruvuma_store has no readable schema_version".into()))
}

/// Checks the database is a ruvuma store (or empty), and brings its schema to [`VERSION`].
/// `where_` names it in errors: the file, or the redacted URL.
pub fn migrate(db: &mut dyn Db, where_: &str) -> Result<(), SchemaError> {
    let dberr = |error| SchemaError::Db {
        where_: where_.to_owned(),
        error,
    };
    // The common case in one query: a store of this version.
    if version(db).is_ok_and(|v| v == VERSION) {
        return Ok(());
    }
    let _ = db.recover();
    let tables = db.tables().map_err(dberr)?;
    if !tables.iter().any(|t| t == "ruvuma_store") {
        if !tables.is_empty() {
            return Err(SchemaError::Foreign {
                where_: where_.to_owned(),
                tables: tables.join(", "),
            });
        }
        db.batch(
            "BEGIN;
             CREATE TABLE IF NOT EXISTS ruvuma_store (name TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO ruvuma_store (name, value) VALUES ('schema_version', '0') ON CONFLICT DO NOTHING;
             COMMIT;",
        )
        .or_else(|e| {
            // Another process may have made it first.
            let _ = db.recover();
            version(db).map(|_| ()).map_err(|_| e)
        })
        .map_err(dberr)?;
    }
    let found = version(db).map_err(dberr)?;
    if found > VERSION {
        return Err(SchemaError::Newer {
            where_: where_.to_owned(),
            found,
            known: VERSION,
        });
    }
    for (to, ddl) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        let step = (|| {
            db.batch("BEGIN")?;
            db.batch(ddl)?;
            let v = to.to_string();
            db.execute(
                "UPDATE ruvuma_store SET value = $1 WHERE name = 'schema_version'",
                &[Value::Text(&v)],
            )?;
            db.batch("COMMIT")
        })();
        if let Err(e) = step {
            let _ = db.recover();
            // Another process sharing the database may have migrated it meanwhile.
            if version(db).is_ok_and(|v| v >= *to) {
                continue;
            }
            return Err(dberr(DbError(format!("migrating the schema to version {to}: {e}"))));
        }
    }
    Ok(())
}
