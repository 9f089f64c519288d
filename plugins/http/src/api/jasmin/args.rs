//! `/send`'s arguments: Jasmin's defaults filled in first, then every field checked against
//! Jasmin's patterns in Jasmin's order, with its error texts.

use super::{alphabet, bad};
use crate::api::sms::{unhex, utf16be, Alphabet, Body};
use axum::response::Response;

/// Whether a value matches a field's pattern.
type Pattern = fn(&str) -> bool;

/// (name, optional, pattern) in the order Jasmin checks them.
const FIELDS: [(&str, bool, Pattern); 16] = [
    ("to", false, |v| digits(v.strip_prefix('+').unwrap_or(v))),
    ("from", true, |_| true),
    ("coding", true, |v| {
        matches!(
            v,
            "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "10" | "13" | "14"
        )
    }),
    ("username", false, |v| {
        (1..=16).contains(&v.chars().count()) && !v.contains('\n')
    }),
    ("password", false, |v| {
        (1..=16).contains(&v.chars().count()) && !v.contains('\n')
    }),
    ("priority", true, |v| matches!(v, "0" | "1" | "2" | "3")),
    ("sdt", true, |v| {
        v.len() == 16 && digits(&v[..15]) && matches!(v.as_bytes()[15], b'+' | b'-' | b'R')
    }),
    ("validity-period", true, digits),
    ("dlr", false, |v| v == "yes" || v == "no"),
    ("dlr-url", true, |v| {
        v.starts_with("http://") || v.starts_with("https://")
    }),
    ("dlr-level", true, |v| matches!(v, "1" | "2" | "3")),
    ("dlr-method", true, |v| {
        v.eq_ignore_ascii_case("get") || v.eq_ignore_ascii_case("post")
    }),
    ("tags", true, |v| {
        v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ',')
    }),
    ("content", true, |_| true),
    ("hex-content", true, |_| true),
    ("custom_tlvs", true, |_| true),
];

fn digits(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

#[derive(Debug)]
pub struct Args {
    pub to: String,
    pub from: Option<String>,
    pub coding: u8,
    pub username: String,
    pub password: String,
    pub priority: Option<u8>,
    pub sdt: Option<String>,
    pub validity: Option<u32>,
    pub dlr: bool,
    pub dlr_url: Option<String>,
    pub dlr_level: u8,
    pub dlr_post: bool,
    pub content: Option<Vec<u8>>,
    pub hex_content: Option<String>,
}

/// A JSON body's keys as arguments: strings and numbers; lists and objects (custom TLVs) are
/// passed over.
pub fn from_json(body: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("The JSON body cannot be read: {e}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("The JSON body is not an object.".into());
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s.into_bytes())),
            serde_json::Value::Number(n) => Some((k, n.to_string().into_bytes())),
            serde_json::Value::Bool(b) => Some((k, b.to_string().into_bytes())),
            serde_json::Value::Object(m) if k == "custom_tlvs" && !m.is_empty() => Some((k, b"{...}".to_vec())),
            serde_json::Value::Array(a) if k == "custom_tlvs" && !a.is_empty() => Some((k, b"[...]".to_vec())),
            _ if k == "custom_tlvs" => Some((k, Vec::new())),
            _ => None,
        })
        .collect())
}

fn get<'a>(args: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    args.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// Jasmin's defaults, added after what the client gave.
fn defaults(args: &mut Vec<(String, Vec<u8>)>) {
    let has = |args: &Vec<(String, Vec<u8>)>, n: &str| args.iter().any(|(k, _)| k == n);
    if !has(args, "custom_tlvs") {
        args.push(("custom_tlvs".into(), Vec::new()));
    }
    if !has(args, "coding") {
        args.push(("coding".into(), b"0".to_vec()));
    }
    if has(args, "dlr-url") || has(args, "dlr-level") {
        args.retain(|(k, _)| k != "dlr");
        args.push(("dlr".into(), b"yes".to_vec()));
    }
    if !has(args, "dlr") {
        args.push(("dlr".into(), b"no".to_vec()));
    }
    if get(args, "dlr") == Some(b"yes") {
        if !has(args, "dlr-level") {
            args.push(("dlr-level".into(), b"1".to_vec()));
        }
        if !has(args, "dlr-method") {
            args.push(("dlr-method".into(), b"POST".to_vec()));
        }
    }
    for (k, v) in args.iter_mut() {
        if k == "dlr-method" {
            v.make_ascii_uppercase();
        }
    }
}

/// Every field against its pattern, in Jasmin's order.
fn check_fields(args: &[(String, Vec<u8>)]) -> Result<(), String> {
    for (name, optional, valid) in FIELDS {
        match get(args, name) {
            Some(v) if !valid(&text(v)) => {
                return Err(format!("Argument [{name}] has an invalid value: [{}].", text(v)));
            }
            Some(_) => {}
            None if !optional => return Err(format!("Mandatory argument [{name}] is not found.")),
            None => {}
        }
    }
    Ok(())
}

impl Args {
    pub fn validate(mut args: Vec<(String, Vec<u8>)>) -> Result<Self, String> {
        defaults(&mut args);
        let mut checked = false;
        for (name, _) in &args {
            if !FIELDS.iter().any(|(f, _, _)| f == name) {
                return Err(format!("Argument [{name}] is unknown."));
            }
            if !checked {
                check_fields(&args)?;
                checked = true;
            }
        }
        if get(&args, "dlr-url").is_some_and(|v| v.len() > crate::api::MAX_CALLBACK_FIELD) {
            let limit = crate::api::MAX_CALLBACK_FIELD;
            return Err(format!("Argument [dlr-url] is longer than {limit} characters."));
        }
        if get(&args, "custom_tlvs").is_some_and(|v| !v.is_empty()) {
            return Err("custom_tlvs are not sent by this gateway; send the message without them.".into());
        }
        let (content, hex) = (get(&args, "content"), get(&args, "hex-content"));
        match (content, hex) {
            (None, None) => return Err("content or hex-content not present.".into()),
            (Some(_), Some(_)) => return Err("content and hex-content cannot be used both in same request.".into()),
            _ => {}
        }
        let number = |n: &str| get(&args, n).and_then(|v| text(v).parse::<u32>().ok());
        Ok(Self {
            to: get(&args, "to").map(text).unwrap_or_default(),
            from: get(&args, "from").map(text),
            coding: number("coding").and_then(|c| u8::try_from(c).ok()).unwrap_or(0),
            username: get(&args, "username").map(text).unwrap_or_default(),
            password: get(&args, "password").map(text).unwrap_or_default(),
            priority: number("priority").and_then(|p| u8::try_from(p).ok()),
            sdt: get(&args, "sdt").map(text),
            validity: number("validity-period"),
            dlr: get(&args, "dlr") == Some(b"yes"),
            dlr_url: get(&args, "dlr-url").map(text),
            dlr_level: number("dlr-level").and_then(|l| u8::try_from(l).ok()).unwrap_or(1),
            dlr_post: get(&args, "dlr-method") != Some(b"GET"),
            content: content.map(<[u8]>::to_vec),
            hex_content: hex.map(text),
        })
    }

    /// The message's body in the coding asked for; octets the coding cannot read are refused.
    pub fn body(&self) -> Result<Body, Response> {
        let bytes = match (&self.content, &self.hex_content) {
            (Some(c), _) => c.clone(),
            (None, Some(h)) => {
                unhex(h.as_bytes()).ok_or_else(|| bad(&format!("Invalid hex-content data: 'b'{h}''")))?
            }
            (None, None) => Vec::new(),
        };
        let coding = self.coding;
        if matches!(coding, 2 | 4) {
            return Ok(Body::Binary(bytes));
        }
        let Some(alphabet) = alphabet(coding) else {
            return Err(bad(&format!(
                "Argument [coding] has a value this gateway cannot send: [{coding}]."
            )));
        };
        let text = match alphabet {
            Alphabet::Gsm7 if self.hex_content.is_some() => {
                return Err(bad("hex-content with coding 0 is not supported; use coding 8 or 4."))
            }
            Alphabet::Gsm7 | Alphabet::Ascii => String::from_utf8(bytes).ok(),
            Alphabet::Latin1 => Some(bytes.iter().map(|&b| char::from(b)).collect()),
            Alphabet::Ucs2 => utf16be(&bytes),
        };
        let Some(text) = text else {
            return Err(bad(&format!("Content cannot be read in coding {coding}.")));
        };
        if let Some(ch) = alphabet.cannot_carry(&text) {
            return Err(bad(&format!(
                "Content cannot be encoded in coding {coding}: character {ch:?} (U+{:04X}).",
                u32::from(ch)
            )));
        }
        Ok(Body::Text(text, Some(alphabet)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::body::pairs;

    fn check(query: &str) -> Result<Args, String> {
        Args::validate(pairs(query.as_bytes()))
    }

    #[test]
    fn errors_come_in_jasmins_order_and_words() {
        assert_eq!(check("").unwrap_err(), "Mandatory argument [to] is not found.");
        assert_eq!(check("foo=1&to=1").unwrap_err(), "Argument [foo] is unknown.");
        assert_eq!(
            check("username=u&foo=1").unwrap_err(),
            "Mandatory argument [to] is not found."
        );
        assert_eq!(check("to=").unwrap_err(), "Argument [to] has an invalid value: [].");
        assert_eq!(
            check("to=%2B336222172&username=foo&password=bar&coding=11&content=x").unwrap_err(),
            "Argument [coding] has an invalid value: [11]."
        );
        assert_eq!(
            check("to=1&username=foo&password=bar").unwrap_err(),
            "content or hex-content not present."
        );
        assert_eq!(
            check("to=1&username=foo&password=bar&content=a&hex-content=61").unwrap_err(),
            "content and hex-content cannot be used both in same request."
        );
    }

    #[test]
    fn custom_tlvs_are_refused_not_dropped() {
        let json =
            br#"{"username": "foo", "password": "bar", "to": "1", "content": "x", "custom_tlvs": {"0x1400": "17"}}"#;
        let args = from_json(json).expect("JSON");
        assert!(Args::validate(args).unwrap_err().contains("custom_tlvs are not sent"));
        let json = br#"{"username": "foo", "password": "bar", "to": "1", "content": "x", "custom_tlvs": {}}"#;
        assert!(Args::validate(from_json(json).expect("JSON")).is_ok());
    }

    #[test]
    fn a_dlr_url_turns_dlr_on_with_jasmins_defaults() {
        let a = check("to=1&username=foo&password=bar&content=a&dlr=no&dlr-url=http://h/").expect("valid");
        assert!(a.dlr);
        assert_eq!(a.dlr_level, 1);
        assert!(a.dlr_post);
        let a = check("to=1&username=foo&password=bar&content=a&dlr-level=3&dlr-method=get").expect("valid");
        assert!(a.dlr && !a.dlr_post && a.dlr_level == 3);
    }

    #[test]
    fn ucs2_content_is_read_as_utf16() {
        let a = check("to=1&username=foo&password=bar&hex-content=0623063106460628&coding=8").expect("valid");
        assert!(matches!(a.body(), Ok(Body::Text(t, Some(Alphabet::Ucs2))) if t == "\u{623}\u{631}\u{646}\u{628}"));
        let a = check("to=1&username=foo&password=bar&hex-content=zz&coding=8").expect("valid");
        assert!(a.body().is_err());
    }
}
