//! What a peer sends (an answer's body, a header) may reach a log line; a newline in it would
//! start a forged line. Control characters are written as escapes instead.

/// `text` with every control character (newline, carriage return, escape, ...) escaped.
pub fn for_log(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(super::for_log("a\nERROR b\r\u{1b}[1m"), "a\\nERROR b\\r\\u{1b}[1m");
        assert_eq!(super::for_log("plain é"), "plain é");
    }
}
