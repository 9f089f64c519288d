//! Vumi's timestamp format: `%Y-%m-%d %H:%M:%S.%f`, always UTC.

use abi_stable::StableAbi;
use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};
use std::fmt;

/// The format Vumi writes timestamps in (microseconds, no time zone, UTC implied).
pub const VUMI_DATE_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

/// A UTC instant with microsecond precision, as Vumi stores it.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    micros: i64,
}

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
    }

    pub fn from_micros(micros: i64) -> Self {
        Self { micros }
    }

    pub fn micros(self) -> i64 {
        self.micros
    }

    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        Self {
            micros: dt.timestamp_micros(),
        }
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros).unwrap_or_default()
    }

    /// Parses Vumi's format; the fractional part may be absent or shorter than six digits.
    pub fn parse(text: &str) -> Result<Self, String> {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
            .map(|naive| Self::from_datetime(naive.and_utc()))
            .map_err(|e| format!("{text:?} is not a timestamp in the form \"YYYY-MM-DD HH:MM:SS.ffffff\": {e}"))
    }
}

impl fmt::Display for Timestamp {
    /// [`VUMI_DATE_FORMAT`], written field by field (a format string is parsed at every call).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.to_datetime();
        if !(0..=9999).contains(&t.year()) {
            return write!(f, "{}", t.format(VUMI_DATE_FORMAT));
        }
        let micros = t.timestamp_subsec_micros().min(999_999);
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{micros:06}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_the_format_string_writes() {
        let mut micros: i64 = -62_135_596_800_000_000 - 1_000_000; // before year 1
        while micros < 253_402_300_800_000_000 + 10_000_000 {
            let ts = Timestamp::from_micros(micros);
            assert_eq!(ts.to_string(), ts.to_datetime().format(VUMI_DATE_FORMAT).to_string());
            micros += 7_919_876_543_211_337 / 13 + micros.rem_euclid(1_000_003);
        }
    }

    #[test]
    fn formats_like_vumi() {
        let ts = Timestamp::parse("2011-09-21 14:05:06.123456").unwrap();
        assert_eq!(ts.to_string(), "2011-09-21 14:05:06.123456");
        assert_eq!(ts.micros() % 1_000_000, 123_456);
    }

    #[test]
    fn accepts_missing_or_short_fraction() {
        assert_eq!(
            Timestamp::parse("2020-01-02 03:04:05").unwrap().to_string(),
            "2020-01-02 03:04:05.000000"
        );
        assert_eq!(
            Timestamp::parse("2020-01-02 03:04:05.5").unwrap().to_string(),
            "2020-01-02 03:04:05.500000"
        );
    }

    #[test]
    fn rejects_other_shapes_with_the_text_named() {
        let err = Timestamp::parse("yesterday").unwrap_err();
        assert!(err.contains("\"yesterday\""), "{err}");
        assert!(Timestamp::parse("2020-13-02 03:04:05").is_err());
    }

    #[test]
    fn now_round_trips() {
        let ts = Timestamp::now();
        assert_eq!(Timestamp::parse(&ts.to_string()).unwrap(), ts);
    }
}
