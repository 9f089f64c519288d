//! The embedded backend: one SQLite file in WAL mode, readable with the ordinary `sqlite3` tool.

use super::db::{Cell, Db, DbError, Row, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

pub struct Sqlite {
    conn: Connection,
}

fn err(e: rusqlite::Error) -> DbError {
    DbError(e.to_string())
}

/// SQLite numbers its parameters `?1`; the store writes `$1`.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl Sqlite {
    /// Opens (or, when `create`, creates) the file, in WAL mode. `busy` is how long a statement
    /// waits for another connection's lock before it fails.
    pub fn open(path: &Path, create: bool, busy: Duration) -> Result<Self, DbError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| DbError(format!("cannot create the folder {}: {e}", dir.display())))?;
            }
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        } else if !path.exists() {
            return Err(DbError("no such file".into()));
        }
        let conn = Connection::open_with_flags(path, flags).map_err(err)?;
        conn.busy_timeout(busy).map_err(err)?;
        conn.set_prepared_statement_cache_capacity(64);
        let mut db = Self { conn };
        // A file that is not SQLite fails here, at its first read.
        let mode = db.query("PRAGMA journal_mode = WAL", &[])?;
        if mode.first().and_then(|r| r.first()).and_then(Cell::text) != Some("wal") {
            return Err(DbError("the file cannot be put in WAL mode".into()));
        }
        // WAL with synchronous NORMAL: a commit survives the process being killed (it is in the
        // operating system's cache); a power cut may lose the last commits, never corrupt.
        db.batch("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 10000")?;
        Ok(db)
    }

    fn bind<'s>(stmt: &mut rusqlite::Statement<'s>, params: &[Value<'_>]) -> Result<(), DbError> {
        for (i, p) in params.iter().enumerate() {
            stmt.raw_bind_parameter(i + 1, p).map_err(err)?;
        }
        Ok(())
    }
}

fn cell(v: ValueRef<'_>) -> Cell {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(n) => Cell::Int(n),
        ValueRef::Real(f) => Cell::Text(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
    }
}

impl Db for Sqlite {
    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<u64, DbError> {
        let mut stmt = self.conn.prepare_cached(&numbered(sql)).map_err(err)?;
        Self::bind(&mut stmt, params)?;
        stmt.raw_execute().map(|n| n as u64).map_err(err)
    }

    fn query(&mut self, sql: &str, params: &[Value<'_>]) -> Result<Vec<Row>, DbError> {
        let mut stmt = self.conn.prepare_cached(&numbered(sql)).map_err(err)?;
        Self::bind(&mut stmt, params)?;
        let width = stmt.column_count();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(err)? {
            out.push((0..width).map(|i| row.get_ref(i).map_or(Cell::Null, cell)).collect());
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.conn.execute_batch(sql).map_err(err)
    }

    fn tables(&mut self) -> Result<Vec<String>, DbError> {
        let rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", &[])?;
        Ok(rows.into_iter().filter_map(|mut r| r.pop()?.into_text()).collect())
    }

    fn recover(&mut self) -> Result<(), DbError> {
        if !self.conn.is_autocommit() {
            self.batch("ROLLBACK")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_parameters_become_numbered() {
        assert_eq!(numbered("a = $1 AND b IN ($2, $10)"), "a = ?1 AND b IN (?2, ?10)");
        assert_eq!(numbered("x = '$'"), "x = '$'");
    }
}
