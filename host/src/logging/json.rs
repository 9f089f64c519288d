//! `--log-format json`: one JSON object per log line.

use super::fields::JsonFields;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Writes each event as one JSON object on one line: `timestamp` (RFC 3339, UTC), `level`,
/// `target`, `component` (see [`super::HOST_COMPONENT`]), `message`, then every other field of
/// the event by its name.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonFormat;

/// The fixed part of a JSON line, followed by the event's other fields.
#[derive(Serialize)]
struct JsonLine<'a> {
    timestamp: &'a str,
    level: &'a str,
    target: &'a str,
    component: &'a str,
    message: &'a str,
    #[serde(flatten)]
    fields: &'a Map<String, Value>,
}

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        writeln!(writer, "{}", json_line(event, &super::now_rfc3339())?)
    }
}

/// `event` as one line of JSON (without the line end), stamped `timestamp`.
pub fn json_line(event: &Event<'_>, timestamp: &str) -> Result<String, fmt::Error> {
    let mut fields = JsonFields::default();
    event.record(&mut fields);
    let meta = event.metadata();
    let line = JsonLine {
        timestamp,
        level: meta.level().as_str(),
        target: meta.target(),
        component: fields.component(),
        message: &fields.message,
        fields: &fields.rest,
    };
    serde_json::to_string(&line).map_err(|_| fmt::Error)
}
