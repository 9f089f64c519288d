//! The host's log output; plugin log lines arrive here through host services.

use ruvuma_plugin_api::abi::LogLevel;
use tracing_subscriber::EnvFilter;

/// Sets up logging from `--log-level` or, failing that, `RUST_LOG` (default `info`).
/// Returns the most verbose level in force, which plugins filter by before formatting.
pub fn init(level: Option<&str>) -> Result<LogLevel, String> {
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).map_err(|e| format!("--log-level {l:?}: {e}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let max = match filter.max_level_hint() {
        Some(h) if h >= tracing::level_filters::LevelFilter::TRACE => LogLevel::Trace,
        Some(h) if h >= tracing::level_filters::LevelFilter::DEBUG => LogLevel::Debug,
        Some(h) if h >= tracing::level_filters::LevelFilter::INFO => LogLevel::Info,
        Some(h) if h >= tracing::level_filters::LevelFilter::WARN => LogLevel::Warn,
        Some(_) => LogLevel::Error,
        None => LogLevel::Trace,
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init()
        .map_err(|e| format!("cannot set up logging: {e}"))?;
    Ok(max)
}
