//! Plugin logs reach the host: this library's copy of `tracing` gets a subscriber that formats
//! each event and hands it to the host, tagged with the component that is running.

use crate::abi::{LogLevel, ServicesBox};
use crate::scope::current_scope;
use abi_stable::std_types::RStr;
use std::fmt::Write as _;
use std::sync::OnceLock;
use tracing::{
    field::{Field, Visit},
    span, Event, Level, Metadata, Subscriber,
};

/// The services for log lines written outside any component's code (a library's own threads).
static FALLBACK: OnceLock<ServicesBox> = OnceLock::new();

/// Installs the forwarding subscriber once per library.
pub(crate) fn install(host: &ServicesBox) {
    if FALLBACK.set(host.clone()).is_ok() {
        let max = host.max_log_level();
        let _ = tracing::subscriber::set_global_default(Forwarder { max });
        tracing::callsite::rebuild_interest_cache();
    }
}

/// Sends one line to the host, from whichever component is running.
pub(crate) fn forward(level: LogLevel, target: &str, message: &str) {
    current_scope(|scope| {
        let host = match scope {
            Some(s) => &s.services,
            None => match FALLBACK.get() {
                Some(h) => h,
                None => return eprintln!("{target}: {message}"),
            },
        };
        host.log(level, RStr::from_str(target), RStr::from_str(message));
    })
}

fn to_level(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        Level::TRACE => LogLevel::Trace,
    }
}

struct Forwarder {
    max: LogLevel,
}

struct Line(String);

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for Forwarder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        to_level(metadata.level()) <= self.max
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(match self.max {
            LogLevel::Error => tracing::level_filters::LevelFilter::ERROR,
            LogLevel::Warn => tracing::level_filters::LevelFilter::WARN,
            LogLevel::Info => tracing::level_filters::LevelFilter::INFO,
            LogLevel::Debug => tracing::level_filters::LevelFilter::DEBUG,
            LogLevel::Trace => tracing::level_filters::LevelFilter::TRACE,
        })
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line(String::new());
        event.record(&mut line);
        forward(
            to_level(event.metadata().level()),
            event.metadata().target(),
            line.0.trim_start(),
        );
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}
