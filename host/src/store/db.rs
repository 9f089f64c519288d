//! What the store asks of a database: statements with `$1`-style parameters, rows of plain
//! values, and transactions. The SQL is the same on every backend; each backend adapts it.

/// A parameter.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Text(s)
    }
}

impl From<i64> for Value<'_> {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(s: Option<&'a str>) -> Self {
        s.map_or(Value::Null, Value::Text)
    }
}

/// A value read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    pub fn text(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Cell::Int(n) => Some(*n),
            Cell::Text(s) => s.parse().ok(),
            Cell::Null => None,
        }
    }

    pub fn into_text(self) -> Option<String> {
        match self {
            Cell::Text(s) => Some(s),
            Cell::Int(n) => Some(n.to_string()),
            Cell::Null => None,
        }
    }
}

pub type Row = Vec<Cell>;

/// Why a statement failed, as the database said it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DbError(pub String);

/// A connection to a store's database.
pub trait Db: Send {
    /// Runs one statement; how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value<'_>]) -> Result<u64, DbError>;
    fn query(&mut self, sql: &str, params: &[Value<'_>]) -> Result<Vec<Row>, DbError>;
    /// Runs statements without parameters (schema, BEGIN, COMMIT).
    fn batch(&mut self, sql: &str) -> Result<(), DbError>;
    /// The tables the database holds, to tell a ruvuma store from anything else.
    fn tables(&mut self) -> Result<Vec<String>, DbError>;
    /// After a failure: roll back what was begun and reconnect when the connection is gone.
    fn recover(&mut self) -> Result<(), DbError>;
    /// Lets go of the connection in a process about to exit, without waiting for the server
    /// to close it (by default, an ordinary close).
    fn leave(self: Box<Self>) {}
}

/// `(…), (…)` for `rows` rows of `width` parameters each, numbered from `$first`.
pub fn value_rows(rows: usize, width: usize, first: usize) -> String {
    let mut out = String::with_capacity(rows * width * 5);
    let mut n = first;
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..width {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&n.to_string());
            n += 1;
        }
        out.push(')');
    }
    out
}

/// `$first, …` for `count` parameters.
pub fn params_list(count: usize, first: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits `n` rows into statement sizes from a few fixed ones, so that each backend prepares
/// a handful of statements and reuses them.
pub fn chunks(mut n: usize) -> Vec<usize> {
    const SIZES: [usize; 4] = [256, 32, 8, 1];
    let mut out = Vec::new();
    for size in SIZES {
        while n >= size {
            out.push(size);
            n -= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_chunks() {
        assert_eq!(value_rows(2, 2, 3), "($3, $4), ($5, $6)");
        assert_eq!(params_list(3, 2), "$2, $3, $4");
        assert_eq!(chunks(300), vec![256, 32, 8, 1, 1, 1, 1]);
        assert_eq!(chunks(0), Vec::<usize>::new());
        assert_eq!(chunks(300).iter().sum::<usize>(), 300);
    }
}
