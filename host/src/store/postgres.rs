//! The backend for scale: a PostgreSQL database, shared by every process that names it.

use super::db::{Cell, Db, DbError, Row, Value};
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};
use std::collections::{HashMap, HashSet};
use std::error::Error;
use std::time::Duration;

pub struct Postgres {
    url: String,
    client: Client,
    statements: HashMap<String, Statement>,
    /// Statements run once already (without being prepared).
    seen: HashSet<String>,
}

/// The database's message, with its detail when it gave one (a connection error says why).
fn err(e: postgres::Error) -> DbError {
    let mut text = e.to_string();
    if let Some(db) = e.as_db_error() {
        text = format!("{}: {}", db.severity(), db.message());
    } else if let Some(source) = e.source() {
        text = format!("{text}: {source}");
    }
    DbError(text)
}

impl ToSql for Value<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => n.to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <i64 as ToSql>::accepts(ty) || <&str as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

/// A URL or key=value connection string with its password hidden, for logs and errors.
pub fn redact(url: &str) -> String {
    if url.contains("://") {
        return crate::text::redact_url(url);
    }
    url.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Postgres {
    pub fn connect(url: &str, timeout: Duration) -> Result<Self, DbError> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| DbError(format!("not a PostgreSQL URL: {e}")))?;
        config.connect_timeout(timeout);
        // A server that stops answering (a network cut without a reset) fails the statement
        // after a bounded time instead of holding the writer for ever.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        config.keepalives_interval(Duration::from_secs(5));
        config.keepalives_retries(3);
        config.tcp_user_timeout(Duration::from_secs(30));
        config.application_name("ruvuma");
        // A commit returns once PostgreSQL has it, not once it is on disk: it survives ruvuma
        // being killed (the server has it) but not the server's machine failing in the next
        // moments, the same promise an SQLite store in WAL mode with synchronous NORMAL makes.
        config.options("-c synchronous_commit=off");
        let client = config.connect(NoTls).map_err(err)?;
        Ok(Self {
            url: url.to_owned(),
            client,
            statements: HashMap::new(),
            seen: HashSet::new(),
        })
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(err)?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    /// Whether `sql` is run without preparing it: the first time it is seen (a statement run
    /// again is prepared, and kept), and only with typed parameters (a NULL's type is unknown).
    fn once(&mut self, sql: &str, params: &[Value<'_>]) -> bool {
        if self.statements.contains_key(sql) || params.iter().any(|p| matches!(p, Value::Null)) {
            return false;
        }
        self.seen.insert(sql.to_owned())
    }

    fn refs<'p>(params: &'p [Value<'_>]) -> Vec<&'p (dyn ToSql + Sync)> {
        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
    }
}

impl Db for Postgres {
    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<u64, DbError> {
        let stmt = self.statement(sql)?;
        self.client.execute(&stmt, &Self::refs(params)).map_err(err)
    }

    fn query(&mut self, sql: &str, params: &[Value<'_>]) -> Result<Vec<Row>, DbError> {
        let rows = if self.once(sql, params) {
            // Parsed, bound and run in one round trip: what a command that asks once wants.
            let typed: Vec<(&(dyn ToSql + Sync), Type)> = params
                .iter()
                .map(|p| {
                    let ty = if matches!(p, Value::Int(_)) {
                        Type::INT8
                    } else {
                        Type::TEXT
                    };
                    (p as &(dyn ToSql + Sync), ty)
                })
                .collect();
            self.client.query_typed(sql, &typed).map_err(err)?
        } else {
            let stmt = self.statement(sql)?;
            self.client.query(&stmt, &Self::refs(params)).map_err(err)?
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut cells = Vec::with_capacity(row.len());
            for (i, col) in row.columns().iter().enumerate() {
                let c = match *col.type_() {
                    Type::INT8 => row
                        .try_get::<_, Option<i64>>(i)
                        .map(|v| v.map_or(Cell::Null, Cell::Int)),
                    Type::INT4 => row
                        .try_get::<_, Option<i32>>(i)
                        .map(|v| v.map_or(Cell::Null, |n| Cell::Int(n.into()))),
                    _ => row
                        .try_get::<_, Option<String>>(i)
                        .map(|v| v.map_or(Cell::Null, Cell::Text)),
                };
                cells.push(c.map_err(err)?);
            }
            out.push(cells);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        self.client.batch_execute(sql).map_err(err)
    }

    fn tables(&mut self) -> Result<Vec<String>, DbError> {
        let rows = self.query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1",
            &[],
        )?;
        Ok(rows.into_iter().filter_map(|mut r| r.pop()?.into_text()).collect())
    }

    /// A close waits until the server has ended its backend (a few milliseconds); a process
    /// about to exit lets the kernel close the socket instead, which the server takes as a
    /// normal end outside a transaction.
    fn leave(self: Box<Self>) {
        std::mem::forget(self);
    }

    fn recover(&mut self) -> Result<(), DbError> {
        if self.client.is_closed() {
            *self = Self::connect(&self.url, Duration::from_secs(5))?;
            return Ok(());
        }
        // Outside a transaction this only warns.
        self.batch("ROLLBACK")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("host=h password=pw dbname=x"), "host=h password=*** dbname=x");
    }
}
