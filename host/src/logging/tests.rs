use super::fields::Bounded;
use super::ring::{Ring, RingLayer};
use super::*;
use serde_json::Value;
use std::fmt::Write as _;
use std::io;
use std::sync::{Arc, Mutex};
use tracing::Level;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

/// A ring of `capacity` lines that lives for the whole test run, as the layer needs.
fn ring(capacity: usize) -> &'static Ring {
    Box::leak(Box::new(Ring::new(capacity)))
}

/// Runs `log` with `ring` filled by its layer.
fn logged_into(ring: &'static Ring, log: impl FnOnce()) {
    let subscriber = Registry::default().with(RingLayer::new(ring));
    tracing::subscriber::with_default(subscriber, log);
}

fn messages(lines: &[RecentLine]) -> Vec<&str> {
    lines.iter().map(|l| l.message.as_str()).collect()
}

#[test]
fn the_ring_keeps_only_the_newest_lines() {
    let ring = ring(3);
    logged_into(ring, || {
        for n in 0..5 {
            tracing::info!("line {n}");
        }
    });
    assert_eq!(messages(&ring.recent(10, None)), ["line 2", "line 3", "line 4"]);
}

#[test]
fn recent_lines_come_oldest_first_and_limit_takes_the_newest() {
    let ring = ring(10);
    logged_into(ring, || {
        for n in 0..4 {
            tracing::info!("line {n}");
        }
    });
    assert_eq!(messages(&ring.recent(2, None)), ["line 2", "line 3"]);
    assert!(ring.recent(0, None).is_empty());
}

#[test]
fn min_level_keeps_that_level_and_more_severe() {
    let ring = ring(10);
    logged_into(ring, || {
        tracing::debug!("debug");
        tracing::info!("info");
        tracing::warn!("warn");
        tracing::error!("error");
    });
    assert_eq!(messages(&ring.recent(10, Some(Level::WARN))), ["warn", "error"]);
    assert_eq!(messages(&ring.recent(1, Some(Level::INFO))), ["error"]);
    assert_eq!(ring.recent(10, None).len(), 4);
}

#[test]
fn a_line_has_its_time_level_target_and_component() {
    let ring = ring(10);
    logged_into(ring, || {
        tracing::warn!(target: "ruvuma::plugin", component = "telnet", plugin = "ruvuma_telnet", "listening");
        tracing::info!(message_id = "abc", "host line");
    });
    let lines = ring.recent(10, None);
    assert_eq!(lines[0].level, "WARN");
    assert_eq!(lines[0].target, "ruvuma::plugin");
    assert_eq!(lines[0].component, "telnet");
    assert_eq!(lines[0].message, "listening plugin=\"ruvuma_telnet\"");
    assert_eq!(lines[1].component, HOST_COMPONENT);
    assert_eq!(lines[1].message, "host line message_id=\"abc\"");
    assert!(
        lines[1].at.ends_with('Z') && lines[1].at.contains('T'),
        "{}",
        lines[1].at
    );
    let json = serde_json::to_value(&lines[1]).expect("serializes");
    for key in ["at", "level", "component", "target", "message"] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
}

#[test]
fn a_long_message_is_cut_on_a_char_boundary_with_a_marker() {
    let ring = ring(10);
    let long = "é".repeat(MAX_MESSAGE_BYTES);
    logged_into(ring, || tracing::info!("{long}"));
    let message = &ring.recent(1, None)[0].message;
    assert!(message.len() <= MAX_MESSAGE_BYTES, "{} bytes", message.len());
    assert!(message.ends_with(TRUNCATED));
    assert!(message.len() > MAX_MESSAGE_BYTES - TRUNCATED.len() - 2);
    assert!(message.trim_end_matches(TRUNCATED).chars().all(|c| c == 'é'));
}

#[test]
fn a_message_of_exactly_the_bound_is_kept_whole() {
    let ring = ring(10);
    let exact = "x".repeat(MAX_MESSAGE_BYTES);
    logged_into(ring, || tracing::info!("{exact}"));
    assert_eq!(ring.recent(1, None)[0].message, exact);
}

#[test]
fn fields_past_a_cut_message_are_dropped_and_the_marker_stays() {
    let ring = ring(10);
    let long = "y".repeat(MAX_MESSAGE_BYTES + 10);
    logged_into(ring, || tracing::info!(message_id = "abc", "{long}"));
    let message = &ring.recent(1, None)[0].message;
    assert_eq!(message.len(), MAX_MESSAGE_BYTES);
    assert!(message.ends_with(TRUNCATED));
    assert!(!message.contains("message_id"));
}

#[test]
fn bounded_text_drops_writes_after_a_cut() {
    let mut text = Bounded::new(5);
    let _ = text.write_str("abc");
    let _ = text.write_str("défg");
    let _ = text.write_str("h");
    assert_eq!(text.finish("~"), "abcd~");
    let mut text = Bounded::new(4);
    let _ = text.write_str("abcéé");
    assert_eq!(text.finish("~"), "abc~");
    let mut text = Bounded::new(5);
    let _ = text.write_str("abcde");
    assert_eq!(text.finish("~"), "abcde");
}

#[test]
fn a_zero_capacity_ring_keeps_nothing() {
    let ring = ring(0);
    logged_into(ring, || tracing::info!("gone"));
    assert!(ring.recent(10, None).is_empty());
}

/// A writer into a shared buffer, for reading what a fmt layer wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What `log` wrote through the JSON format, one parsed object per line.
fn json_lines(log: impl FnOnce()) -> Vec<Value> {
    let captured = Captured::default();
    let writer = captured.clone();
    let layer = tracing_subscriber::fmt::layer()
        .event_format(JsonFormat)
        .with_writer(move || writer.clone());
    tracing::subscriber::with_default(Registry::default().with(layer), log);
    let bytes = captured.0.lock().expect("buffer").clone();
    String::from_utf8(bytes)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect()
}

#[test]
fn json_lines_carry_the_fixed_keys_and_every_field() {
    let lines = json_lines(|| {
        tracing::info!(target: "ruvuma::plugin", component = "telnet", plugin = "ruvuma_telnet", "hello");
        tracing::warn!(message_id = "abc", count = 3_u64, ok = true, "host\nline");
    });
    assert_eq!(lines.len(), 2);
    let plugin = &lines[0];
    assert_eq!(plugin["component"], "telnet");
    assert_eq!(plugin["target"], "ruvuma::plugin");
    assert_eq!(plugin["plugin"], "ruvuma_telnet");
    assert_eq!(plugin["message"], "hello");
    assert_eq!(plugin["level"], "INFO");
    let host = &lines[1];
    assert_eq!(host["component"], HOST_COMPONENT);
    assert_eq!(host["message"], "host\nline");
    assert_eq!(host["message_id"], "abc");
    assert_eq!(host["count"], 3);
    assert_eq!(host["ok"], true);
    let at = host["timestamp"].as_str().expect("timestamp");
    assert!(at.len() >= 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T', "{at}");
}

#[test]
fn a_field_named_like_a_fixed_key_cannot_replace_it() {
    let lines = json_lines(|| tracing::info!(level = "forged", "x"));
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(lines[0]["field.level"], "forged");
}

#[test]
fn the_plugin_level_follows_the_filter() {
    use tracing::level_filters::LevelFilter;
    assert_eq!(max_level(Some(LevelFilter::WARN)), LogLevel::Warn);
    assert_eq!(max_level(Some(LevelFilter::DEBUG)), LogLevel::Debug);
    assert_eq!(max_level(Some(LevelFilter::OFF)), LogLevel::Error);
    assert_eq!(max_level(None), LogLevel::Trace);
}

#[test]
fn a_bad_filter_is_named() {
    let e = filter(Some("info,[")).expect_err("a bad filter");
    assert!(e.to_string().starts_with("--log-level \"info,[\":"), "{e}");
}
