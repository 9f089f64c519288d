//! The host's log output; plugin log lines arrive here through host services.
//!
//! Lines go to stderr as text (the default) or as one JSON object per line (`--log-format json`),
//! and the most recent ones are kept in memory for the admin page ([`recent`]).
//! Every line names a component: a line's `component` field (host services set it on every
//! plugin line) or, on lines without one, [`HOST_COMPONENT`].

mod fields;
mod json;
mod ring;
#[cfg(test)]
mod tests;

pub use fields::HOST_COMPONENT;
pub use json::JsonFormat;
pub use ring::{recent, RecentLine, MAX_LINES, MAX_MESSAGE_BYTES, TRUNCATED};

use ruvuma_plugin_api::abi::LogLevel;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `<timestamp> <LEVEL> <target>: <message> <field>=<value>...`, one line per event.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `component`, `message` and
    /// every field of the event.
    Json,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("--log-level {filter:?}: {source}")]
    Filter {
        filter: String,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("cannot set up logging: {0}")]
    Install(#[from] tracing_subscriber::util::TryInitError),
}

/// Sets up logging from `--log-level` or, failing that, `RUST_LOG` (default `info`), written in
/// `format` and kept in the ring that [`recent`] reads. Returns the most verbose level in force,
/// which plugins filter by before formatting.
pub fn init(level: Option<&str>, format: LogFormat) -> Result<LogLevel, LogError> {
    let filter = filter(level)?;
    let max = max_level(filter.max_level_hint());
    tracing_subscriber::registry()
        .with(filter)
        .with(ring::global_layer())
        .with(output(format))
        .try_init()?;
    Ok(max)
}

/// The filter from `--log-level`, else `RUST_LOG`, else `info`.
fn filter(level: Option<&str>) -> Result<EnvFilter, LogError> {
    match level {
        Some(l) => EnvFilter::try_new(l).map_err(|source| LogError::Filter {
            filter: l.to_owned(),
            source,
        }),
        None => Ok(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))),
    }
}

/// The plugin log level matching a filter's most verbose level.
fn max_level(hint: Option<LevelFilter>) -> LogLevel {
    match hint {
        Some(h) if h >= LevelFilter::TRACE => LogLevel::Trace,
        Some(h) if h >= LevelFilter::DEBUG => LogLevel::Debug,
        Some(h) if h >= LevelFilter::INFO => LogLevel::Info,
        Some(h) if h >= LevelFilter::WARN => LogLevel::Warn,
        Some(_) => LogLevel::Error,
        None => LogLevel::Trace,
    }
}

/// The layer that writes lines to stderr in `format`.
fn output<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let layer = fmt::layer().with_writer(std::io::stderr).with_ansi(false);
    match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer.event_format(JsonFormat).boxed(),
    }
}

/// Now, as RFC 3339 in UTC with microseconds (`2024-05-01T12:00:00.123456Z`).
fn now_rfc3339() -> String {
    use tracing_subscriber::fmt::time::FormatTime;
    let mut at = String::with_capacity(27);
    // Writing to a String cannot fail.
    let _ = fmt::time::SystemTime.format_time(&mut fmt::format::Writer::new(&mut at));
    at
}
