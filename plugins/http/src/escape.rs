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

/// `url` with the password of its user part written as `***`, and control characters escaped:
/// a URL as it may appear in a log line or an error.
pub fn url_for_log(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return for_log(url);
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return for_log(url);
    };
    let user = &rest[..at];
    let user = match user.split_once(':') {
        Some((name, _)) => format!("{name}:***"),
        None => format!("{user}:***"),
    };
    for_log(&format!("{}://{user}{}", &url[..scheme_end], &rest[at..]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_leave_urls() {
        assert_eq!(
            super::url_for_log("https://ops:s3cret@relay.example/x?a=b@c"),
            "https://ops:***@relay.example/x?a=b@c"
        );
        assert_eq!(super::url_for_log("http://127.0.0.1:9/x"), "http://127.0.0.1:9/x");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(super::for_log("a\nERROR b\r\u{1b}[1m"), "a\\nERROR b\\r\\u{1b}[1m");
        assert_eq!(super::for_log("plain é"), "plain é");
    }
}
