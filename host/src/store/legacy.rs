//! The journal as ruvuma kept it before it had files of its own: a `journal` table, in the
//! store's database on PostgreSQL and in `<store>.journal.db` beside an SQLite store. Read once
//! at the start, moved into the journal's files, then dropped.

use super::journal_file::Entry;
use super::{connect, name_of, query, sqlite, StoreError, BUSY_WAIT};
use crate::config::StoreBackend;
use std::path::PathBuf;

fn sqlite_file(path: &std::path::Path) -> PathBuf {
    path.with_extension("journal.db")
}

/// Where the old journal is (for messages) and what it holds, in order; None if there is none.
pub fn read(backend: &StoreBackend) -> Result<Option<(String, Vec<Entry>)>, StoreError> {
    let (name, mut db) = match backend {
        StoreBackend::Sqlite { path } => {
            let file = sqlite_file(path);
            let name = file.display().to_string();
            if !file.exists() {
                return Ok(None);
            }
            let db = sqlite::Sqlite::open(&file, false, BUSY_WAIT).map_err(|reason| StoreError::Open {
                name: name.clone(),
                reason,
            })?;
            (name, Box::new(db) as Box<dyn super::Db>)
        }
        StoreBackend::Postgres { .. } => (name_of(backend), connect(backend, false)?),
    };
    let failed = |reason| StoreError::Query {
        name: name.clone(),
        reason,
    };
    if !db.tables().map_err(failed)?.iter().any(|t| t == "journal") {
        return Ok(None);
    }
    let entries = query::journal_page(db.as_mut(), 0, i64::MAX, i64::MAX).map_err(failed)?;
    Ok(Some((name, entries)))
}

/// Drops the old journal once its entries are in the new one (a failure is logged: the
/// entries would be moved again, and handled twice, at the next start).
pub fn remove(backend: &StoreBackend) {
    match backend {
        StoreBackend::Sqlite { path } => {
            let file = sqlite_file(path);
            for suffix in ["", "-wal", "-shm"] {
                let mut name = file.clone().into_os_string();
                name.push(suffix);
                match std::fs::remove_file(&name) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        tracing::error!("cannot delete the old journal {}: {e}", PathBuf::from(name).display())
                    }
                    _ => {}
                }
            }
        }
        StoreBackend::Postgres { .. } => {
            if let Err(e) = connect(backend, false).and_then(|mut db| {
                db.batch("DROP TABLE IF EXISTS journal")
                    .map_err(|reason| StoreError::Query {
                        name: name_of(backend),
                        reason,
                    })
            }) {
                tracing::error!("cannot drop the old journal table: {e}");
            }
        }
    }
}
