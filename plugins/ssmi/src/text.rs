//! Text on the line: the encoding both ways (Vumi's transport used ISO-8859-1), and peer text
//! made safe to show in a log.

use std::fmt;

/// How text is written on the SSMI line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// ISO-8859-1: one byte per character; characters beyond it are sent as `?`.
    Latin1,
    Utf8,
}

impl Encoding {
    pub fn from_config(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().replace('_', "-").as_str() {
            "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1" => Some(Self::Latin1),
            "utf-8" | "utf8" => Some(Self::Utf8),
            _ => None,
        }
    }

    pub fn decode(self, bytes: &[u8]) -> String {
        match self {
            Self::Latin1 => bytes.iter().map(|b| char::from(*b)).collect(),
            Self::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    /// The text as it goes on the line: `\r\n` and `\r` become `\n` (a `\r` would end the
    /// command early), and in Latin-1 what it cannot hold becomes `?`.
    pub fn encode(self, text: &str) -> Vec<u8> {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        match self {
            Self::Latin1 => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                .collect(),
            Self::Utf8 => text.into_bytes(),
        }
    }
}

/// The most characters of one peer-supplied text shown in a log line.
const MAX_SHOWN: usize = 120;

/// Displays peer bytes safely, in quotes: control characters, quotes and backslashes escaped (a
/// peer must not forge log lines or drive a terminal), long text cut short.
pub struct Shown<'a>(pub &'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = String::from_utf8_lossy(self.0);
        let mut chars = text.chars();
        write!(f, "\"")?;
        for c in chars.by_ref().take(MAX_SHOWN) {
            if c.is_control() || matches!(c, '"' | '\\' | '\u{2028}' | '\u{2029}') {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        write!(f, "\"")?;
        let rest = chars.count();
        if rest > 0 {
            write!(f, "…({rest} more characters)")?;
        }
        Ok(())
    }
}

/// A phone number as Vumi writes it (`normalize_msisdn`): `+` and the digits; `00` before the
/// country code counts as `+`. `None` when there are no digits.
pub fn normalize_msisdn(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let raw = raw.strip_prefix("00").unwrap_or(raw);
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_both_ways_and_line_ends_folded() {
        let l = Encoding::Latin1;
        assert_eq!(l.decode(&[b'f', 0xF6, 0xF3]), "föó");
        assert_eq!(l.encode("föó€"), [b'f', 0xF6, 0xF3, b'?']);
        assert_eq!(l.encode("a\r\nb\rc\nd"), b"a\nb\nc\nd");
        assert_eq!(Encoding::Utf8.encode("é"), "é".as_bytes());
        assert_eq!(Encoding::from_config("ISO-8859-1"), Some(Encoding::Latin1));
        assert_eq!(Encoding::from_config("utf_8"), Some(Encoding::Utf8));
        assert_eq!(Encoding::from_config("ebcdic"), None);
    }

    #[test]
    fn shown_escapes_and_cuts() {
        assert_eq!(Shown(b"a\nERROR \"x\x1b").to_string(), r#""a\nERROR \"x\u{1b}""#);
        let long = vec![b'x'; 130];
        assert!(Shown(&long).to_string().ends_with("…(10 more characters)"));
    }

    #[test]
    fn msisdns_as_vumi_writes_them() {
        assert_eq!(normalize_msisdn("27821234567").as_deref(), Some("+27821234567"));
        assert_eq!(normalize_msisdn("+27 82 123").as_deref(), Some("+2782123"));
        assert_eq!(normalize_msisdn("0027821").as_deref(), Some("+27821"));
        assert_eq!(normalize_msisdn("abc"), None);
    }
}
