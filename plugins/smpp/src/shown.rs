//! Text from the SMSC as it may appear in a log: control characters escaped (a peer must not
//! forge log lines or drive a terminal) and long text cut short.

use std::fmt;

/// The most characters of one peer-supplied text shown in a log line.
const MAX_SHOWN: usize = 200;

/// Displays peer text safely: `\n`, `\r`, ESC and every other control character escaped.
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(MAX_SHOWN) {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        let rest = chars.count();
        if rest > 0 {
            write!(f, "…({rest} more characters)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_text_cut() {
        let shown = Shown("id1\nERROR forged\r\x1b[31m").to_string();
        assert_eq!(shown, "id1\\nERROR forged\\r\\u{1b}[31m");
        assert!(!shown.contains('\n'));
        let long = "x".repeat(250);
        assert_eq!(
            Shown(&long).to_string(),
            format!("{}…(50 more characters)", "x".repeat(200))
        );
        assert_eq!(Shown("naïve ok").to_string(), "naïve ok");
    }
}
