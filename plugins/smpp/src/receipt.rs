//! Delivery receipts: reading them, and the message ids they carry.

use ruvuma_plugin_api::DeliveryStatus;

/// What a delivery receipt says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The SMSC's id of the message, as the receipt writes it.
    pub id: String,
    /// The final state word (`DELIVRD`, `UNDELIV`, ...).
    pub stat: String,
    pub err: Option<String>,
    /// The receipt's text as the SMSC wrote it (at most [`MAX_TEXT`] characters).
    pub text: String,
}

/// The longest message id SMPP 3.4 carries (message_id is a C-Octet String of up to 65).
pub const MAX_ID: usize = 64;
/// The longest `stat:` or `err:` word kept (SMPP 3.4 appendix B uses 7 and 3).
pub const MAX_WORD: usize = 16;
/// The most of a receipt's text passed on with its delivery report.
pub const MAX_TEXT: usize = 255;

impl Receipt {
    pub fn status(&self) -> DeliveryStatus {
        stat_status(&self.stat)
    }

    /// Whether its id and words are short enough to file in the state store: a peer must not
    /// make us write keys of any length it likes.
    pub fn within_bounds(&self) -> bool {
        !self.id.trim().is_empty()
            && self.id.len() <= MAX_ID
            && self.stat.len() <= MAX_WORD
            && self.err.as_ref().is_none_or(|e| e.len() <= MAX_WORD)
    }
}

/// Vumi's delivery status for a receipt's `stat:` word.
pub fn stat_status(stat: &str) -> DeliveryStatus {
    match stat.to_ascii_uppercase().as_str() {
        "DELIVRD" | "DELIVERED" => DeliveryStatus::Delivered,
        "EXPIRED" | "DELETED" | "UNDELIV" | "UNDELIVERABLE" | "REJECTD" | "REJECTED" | "SKIPPED" => {
            DeliveryStatus::Failed
        }
        // ACCEPTD, ENROUTE, UNKNOWN and anything else an SMSC invents: not final.
        _ => DeliveryStatus::Pending,
    }
}

/// The `stat:` word for a message_state TLV value (SMPP 3.4 section 5.2.28).
pub fn message_state_stat(state: u8) -> Option<&'static str> {
    Some(match state {
        1 => "ENROUTE",
        2 => "DELIVRD",
        3 => "EXPIRED",
        4 => "DELETED",
        5 => "UNDELIV",
        6 => "ACCEPTD",
        7 => "UNKNOWN",
        8 => "REJECTD",
        9 => "SKIPPED",
        _ => return None,
    })
}

/// Reads a receipt from its text (`id:... sub:... stat:... err:...`) and TLVs; the TLVs win
/// where both are present. `None` when neither says which message it is about and how it went.
pub fn parse(text: &str, receipted_message_id: Option<&str>, message_state: Option<u8>) -> Option<Receipt> {
    let field = |name: &str| -> Option<String> {
        let lower = text.to_ascii_lowercase();
        let mut from = 0;
        while let Some(pos) = lower[from..].find(name) {
            let start = from + pos;
            let boundary = start == 0 || lower.as_bytes()[start - 1].is_ascii_whitespace();
            if boundary && lower[start + name.len()..].starts_with(':') {
                let value = &text[start + name.len() + 1..];
                let end = value.find(char::is_whitespace).unwrap_or(value.len());
                return Some(value[..end].to_owned());
            }
            from = start + name.len();
        }
        None
    };
    let id = receipted_message_id
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
        .or_else(|| field("id"))?;
    let stat = message_state
        .and_then(message_state_stat)
        .map(str::to_owned)
        .or_else(|| field("stat"))?;
    Some(Receipt {
        id,
        stat,
        err: field("err"),
        text: text.chars().take(MAX_TEXT).collect(),
    })
}

/// The form an id is filed under: trimmed, lower case, without leading zeros (the message
/// store looks ids up the same way).
pub use ruvuma_plugin_api::message::normalize_id as normalize;

/// The other readings of an id: as hex written in decimal, and as decimal written in hex. Each
/// reading of a (normalized) id has that id among its own readings, so a receipt may look for
/// its message under its readings rather than each message being filed under all of its own.
pub fn alternates(id: &str) -> Vec<String> {
    let norm = normalize(id);
    let mut out = Vec::new();
    if norm.len() <= 16 {
        if let Ok(v) = u64::from_str_radix(&norm, 16) {
            out.push(v.to_string());
        }
    }
    if norm.len() <= 20 && norm.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(v) = norm.parse::<u64>() {
            out.push(format!("{v:x}"));
        }
    }
    out.retain(|alt| *alt != norm);
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_appendix_b_text() {
        let text =
            "id:0012AB sub:001 dlvrd:001 submit date:2611231200 done date:2611231201 stat:DELIVRD err:000 text:hi id:x";
        let r = parse(text, None, None).unwrap();
        assert_eq!(r.id, "0012AB");
        assert_eq!(r.stat, "DELIVRD");
        assert_eq!(r.err.as_deref(), Some("000"));
        assert_eq!(r.status(), DeliveryStatus::Delivered);
    }

    #[test]
    fn tlvs_win_over_text() {
        let r = parse("id:1 stat:ENROUTE", Some("abc"), Some(5)).unwrap();
        assert_eq!((r.id.as_str(), r.stat.as_str()), ("abc", "UNDELIV"));
        assert_eq!(r.status(), DeliveryStatus::Failed);
        assert!(parse("hello there", None, None).is_none());
        assert!(parse("id:12 sub:001", None, None).is_none(), "no stat");
    }

    #[test]
    fn stat_words_map_to_vumi() {
        for (stat, want) in [
            ("DELIVRD", DeliveryStatus::Delivered),
            ("EXPIRED", DeliveryStatus::Failed),
            ("DELETED", DeliveryStatus::Failed),
            ("UNDELIV", DeliveryStatus::Failed),
            ("REJECTD", DeliveryStatus::Failed),
            ("ACCEPTD", DeliveryStatus::Pending),
            ("ENROUTE", DeliveryStatus::Pending),
            ("UNKNOWN", DeliveryStatus::Pending),
        ] {
            assert_eq!(stat_status(stat), want, "{stat}");
        }
    }

    #[test]
    fn ids_normalize_and_have_alternates() {
        assert_eq!(normalize(" 000ABc\0"), "abc");
        assert_eq!(normalize("0000"), "0");
        assert_eq!(alternates("10000"), vec!["65536".to_owned(), "2710".to_owned()]);
        assert_eq!(alternates("0x"), Vec::<String>::new());
        assert_eq!(alternates("ff"), vec!["255".to_owned()]);
        assert_eq!(alternates("2587"), vec!["9607".to_owned(), "a1b".to_owned()]);
        assert_eq!(alternates("99999999999999999999"), Vec::<String>::new(), "past u64");
    }

    #[test]
    fn each_reading_of_an_id_reads_back_as_the_id() {
        let ids = [
            "0",
            "7",
            "10",
            "ff",
            "2587",
            "a1b",
            "10000",
            "65536",
            "123456789",
            "ffffffffffffffff",
            "18446744073709551615",
            "8000000000000000",
            "9223372036854775808",
            "10000000000000000000",
            "deadbeef",
            "0000000000001f",
            "00000000042",
        ];
        for id in ids {
            let norm = normalize(id);
            for alt in alternates(id) {
                assert!(
                    alternates(&alt).contains(&norm),
                    "{alt}, a reading of {id}, reads back as {norm}"
                );
            }
        }
    }
}
