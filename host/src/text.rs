//! Text that is safe to log: secrets taken out of URLs, and control characters from a peer
//! escaped so that nobody can forge a log line.

use std::borrow::Cow;

/// `url` with the password of its user part replaced by `***`
/// (`amqp://guest:***@host:5672/%2f`). Text that is not a URL with a user part is unchanged.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let user = &authority[..at];
    let user = match user.find(':') {
        Some(colon) => format!("{}:***", &user[..colon]),
        None if user.is_empty() => String::new(),
        None => format!("{user}:***"),
    };
    format!(
        "{}://{user}@{}{}",
        &url[..scheme_end],
        &authority[at + 1..],
        &rest[authority_end..]
    )
}

/// `text` with every control character written as an escape (`\n`, `\u{1b}`), for logging what
/// a peer sent.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Text made safe for a URL's path or query: every byte but letters, digits and `-_.~`
/// percent-encoded.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_urls() {
        assert_eq!(
            redact_url("amqp://guest:wrong@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact_url("redis://:s3cret@host:6379/0"), "redis://:***@host:6379/0");
        assert_eq!(redact_url("redis://token@host"), "redis://token:***@host");
        assert_eq!(redact_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact_url("amqp://u:p@h/v?x=a@b"), "amqp://u:***@h/v?x=a@b");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_control("plain"), "plain");
        assert_eq!(escape_control("a\nERROR forged"), "a\\nERROR forged");
        assert_eq!(escape_control("\u{1b}[31mred\r"), "\\u{1b}[31mred\\r");
    }
}
