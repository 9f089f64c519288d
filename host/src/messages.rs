//! `ruvuma messages get|list|stats`: what the store holds, from the command line. The queries are
//! the store's own (`store::query`), which the admin server serves too.

use crate::config::{self, StoreSpec};
use crate::store::query::{self, Cursor, Filter, Stored};
use crate::store::{self as store, Db};
use clap::{Args, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Way {
    In,
    Out,
}

#[derive(Args)]
pub struct StoreArgs {
    /// The config whose `store:` to read.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Subcommand)]
pub enum MessagesCommand {
    /// One message (by its id, or the id its transport was given, an SMSC's), its status and
    /// events, as JSON.
    Get {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Messages, newest first; `--limit 0` streams them all.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        endpoint: Option<String>,
        /// The far end's address: the sender of an inbound message, the recipient of an outbound one.
        #[arg(long)]
        addr: Option<String>,
        #[arg(long, value_enum)]
        direction: Option<Way>,
        /// accepted, acked, nacked, pending, delivered, failed (outbound); received (inbound).
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        batch: Option<String>,
        /// From this time on: `2026-12-01`, `2026-12-01 10:00:00`, or an age like `1h`, `30m`, `2d`.
        #[arg(long)]
        since: Option<String>,
        /// Before this time (same forms as --since).
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Go on after a previous page: the cursor it printed.
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Counts per endpoint, direction, status and batch, and events per type.
    Stats {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

fn fail(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

/// The store section of a config, or why there is none.
fn store_spec(path: &Path) -> Result<StoreSpec, String> {
    let cfg = config::load(path).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        format!("the config has problems:\n{}", lines.join("\n"))
    })?;
    cfg.store.ok_or_else(|| {
        format!(
            "{} has no store: section, so nothing is kept; add e.g. store: {{sqlite: {{path: data/ruvuma.db}}}}",
            path.display()
        )
    })
}

fn open(args: &StoreArgs) -> Result<Box<dyn Db>, String> {
    let spec = store_spec(&args.config)?;
    store::connect(&spec.backend, false).map_err(|e| e.to_string())
}

pub fn run(command: MessagesCommand) -> ExitCode {
    let result = match command {
        MessagesCommand::Get { id, store } => get(&store, &id),
        MessagesCommand::Stats { store, format } => stats(&store, format),
        MessagesCommand::List {
            store,
            endpoint,
            addr,
            direction,
            status,
            batch,
            since,
            until,
            limit,
            cursor,
            format,
        } => (|| {
            let filter = Filter {
                endpoint,
                addr,
                direction: direction.map(|d| match d {
                    Way::In => "in".to_owned(),
                    Way::Out => "out".to_owned(),
                }),
                status,
                batch,
                since: since.as_deref().map(parse_time).transpose()?,
                until: until.as_deref().map(parse_time).transpose()?,
            };
            let cursor = cursor.as_deref().map(Cursor::parse).transpose()?;
            list(&store, &filter, cursor, limit, format)
        })(),
    };
    match result {
        Ok(code) => code,
        Err(message) => fail(message),
    }
}

/// Writes to stdout; a reader that went away (`| head`) ends the output quietly.
fn emit(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("cannot write: {e}")),
        _ => Ok(()),
    }
}

fn get(args: &StoreArgs, id: &str) -> Result<ExitCode, String> {
    let mut db = open(args)?;
    let found = query::get(db.as_mut(), id);
    db.leave();
    match found.map_err(|e| e.to_string())? {
        Some(found) => {
            emit(&serde_json::to_string_pretty(&found.to_json()).unwrap_or_default())?;
            Ok(ExitCode::SUCCESS)
        }
        None => Err(format!(
            "no message {id:?} in the store (by message id or the transport's id)"
        )),
    }
}

/// A time: Vumi's `YYYY-MM-DD HH:MM:SS[.ffffff]`, a date, RFC 3339 (`T`, `Z`), or an age.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let age = t
        .strip_suffix('s')
        .map(|n| (n, 1))
        .or_else(|| t.strip_suffix('m').map(|n| (n, 60)))
        .or_else(|| t.strip_suffix('h').map(|n| (n, 3600)))
        .or_else(|| t.strip_suffix('d').map(|n| (n, 86_400)));
    if let Some((n, unit)) = age {
        if let Ok(n) = n.parse::<i64>() {
            let now = ruvuma_plugin_api::Timestamp::now().micros();
            return Ok(now - n.saturating_mul(unit).saturating_mul(1_000_000));
        }
    }
    let mut norm = t.replacen('T', " ", 1);
    if norm.ends_with('Z') {
        norm.pop();
    }
    if norm.len() == 10 {
        norm.push_str(" 00:00:00");
    }
    ruvuma_plugin_api::Timestamp::parse(&norm)
        .map(|ts| ts.micros())
        .map_err(|_| {
            format!("{text:?} is not a time: use 2026-12-01, \"2026-12-01 10:00:00\" or an age like 1h, 30m, 2d")
        })
}

fn content(s: &Stored) -> String {
    let msg = s.message();
    let text = msg.get("content").and_then(|c| c.as_str()).unwrap_or("");
    crate::text::escape_control(text).into_owned()
}

fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_owned()
    }
}

fn print_row(out: &mut impl Write, s: &Stored, format: Format) -> std::io::Result<()> {
    match format {
        Format::Json => writeln!(out, "{}", s.to_json()),
        Format::Csv => {
            let time = query::time(s.stored_at);
            let fields = [
                time.as_str(),
                &s.direction,
                &s.endpoint,
                &s.addr,
                &s.status,
                s.batch.as_deref().unwrap_or(""),
                &s.message_id,
                s.sent_message_id.as_deref().unwrap_or(""),
                &content(s),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            writeln!(out, "{}", line.join(","))
        }
        Format::Table => {
            let mut text = content(s);
            if text.chars().count() > 40 {
                text = text.chars().take(39).collect::<String>() + "…";
            }
            writeln!(
                out,
                "{:<26}  {:<3}  {:<12}  {:<16}  {:<9}  {:<32}  {}",
                query::time(s.stored_at),
                s.direction,
                crate::text::escape_control(&s.endpoint),
                crate::text::escape_control(&s.addr),
                s.status,
                s.message_id,
                text
            )
        }
    }
}

fn list(
    args: &StoreArgs,
    filter: &Filter,
    cursor: Option<Cursor>,
    limit: usize,
    format: Format,
) -> Result<ExitCode, String> {
    let mut db = open(args)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match write_pages(db.as_mut(), &mut out, filter, cursor, limit, format) {
        Err(Written::Io(e)) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("cannot write: {e}")),
        Err(Written::Db(e)) => Err(e),
        _ => Ok(ExitCode::SUCCESS),
    }
}

enum Written {
    Io(std::io::Error),
    Db(String),
}

fn write_pages(
    db: &mut dyn Db,
    out: &mut impl Write,
    filter: &Filter,
    mut cursor: Option<Cursor>,
    limit: usize,
    format: Format,
) -> Result<(), Written> {
    let io = Written::Io;
    match format {
        Format::Csv => writeln!(
            out,
            "stored_at,direction,endpoint,addr,status,batch,message_id,sent_message_id,content"
        )
        .map_err(io)?,
        Format::Table => writeln!(
            out,
            "{:<26}  {:<3}  {:<12}  {:<16}  {:<9}  {:<32}  content",
            "stored_at", "dir", "endpoint", "addr", "status", "message_id"
        )
        .map_err(io)?,
        Format::Json => {}
    }
    let mut left = if limit == 0 { usize::MAX } else { limit };
    loop {
        let want = left.min(query::MAX_PAGE);
        // One more than wanted tells whether there is a next page.
        let page = query::list(db, filter, cursor.as_ref(), (want + 1).min(query::MAX_PAGE))
            .map_err(|e| Written::Db(e.to_string()))?;
        let more = page.len() > want || page.len() == query::MAX_PAGE;
        for s in page.iter().take(want) {
            print_row(out, s, format).map_err(io)?;
        }
        left -= want.min(page.len());
        cursor = page[..want.min(page.len())].last().map(Cursor::after);
        if !more || cursor.is_none() {
            break;
        }
        if left == 0 {
            out.flush().map_err(io)?;
            if let Some(c) = &cursor {
                eprintln!("more: --cursor {c}");
            }
            break;
        }
    }
    out.flush().map_err(io)
}

/// Entries waiting in the memory bus's journal, per routing key (none without a journal).
fn journal_counts(spec: &StoreSpec) -> Result<BTreeMap<String, u64>, String> {
    let dir = store::journal_dir(spec);
    let mut counts = BTreeMap::new();
    if dir.is_dir() {
        let entries = store::peek_journal(&dir).map_err(|e| format!("journal {}: {e}", dir.display()))?;
        for (_, key, _) in entries {
            *counts.entry(key).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

fn stats(args: &StoreArgs, format: Format) -> Result<ExitCode, String> {
    let spec = store_spec(&args.config)?;
    let mut db = store::connect(&spec.backend, false).map_err(|e| e.to_string())?;
    let stats = query::stats(db.as_mut()).map_err(|e| e.to_string())?;
    let journal = journal_counts(&spec)?;
    let text = match format {
        Format::Json => {
            let mut json = stats.to_json();
            json["journal"] = serde_json::json!({
                "waiting": journal.values().sum::<u64>(),
                "by_key": journal,
            });
            serde_json::to_string_pretty(&json).unwrap_or_default()
        }
        Format::Table | Format::Csv => {
            let mut lines = vec![format!(
                "{:<16}  {:<3}  {:<10}  {:<16}  {:>10}",
                "endpoint", "dir", "status", "batch", "count"
            )];
            for g in &stats.messages {
                let batch = g.batch.as_deref().unwrap_or("-");
                let endpoint = crate::text::escape_control(&g.endpoint);
                let (direction, status, n) = (&g.direction, &g.status, g.count);
                lines.push(format!(
                    "{endpoint:<16}  {direction:<3}  {status:<10}  {batch:<16}  {n:>10}"
                ));
            }
            let total: i64 = stats.messages.iter().map(|g| g.count).sum();
            lines.push(format!("{:<52}  {total:>10}", "messages"));
            for (t, n) in &stats.events {
                lines.push(format!("{:<52}  {n:>10}", format!("events: {t}")));
            }
            for (key, n) in &journal {
                let key = crate::text::escape_control(key);
                lines.push(format!("{:<52}  {n:>10}", format!("journal: {key}")));
            }
            lines.join("\n")
        }
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}
