//! sendsms's parameters, read from a query (GET), from `X-Kannel-*` headers with the text as
//! the body (POST), or from a form-encoded body; checked in the order Kannel checks them, with
//! its words.

use super::rejected;
use crate::api::body::{first, pairs};
use crate::api::sms::{unhex, utf16be, Alphabet, Body};
use axum::http::{header, HeaderMap};
use axum::response::Response;

/// Kannel's "not given" for numbers.
const UNSET: i64 = -1;

#[derive(Debug, Default)]
pub struct Params {
    pub post: bool,
    pub user: String,
    pub pass: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub text: Vec<u8>,
    pub charset: Option<String>,
    pub udh: Option<Vec<u8>>,
    pub smsc: Option<String>,
    pub account: Option<String>,
    pub dlr_url: Option<String>,
    pub dlr_mask: i64,
    pub mclass: i64,
    pub pid: i64,
    pub rpi: i64,
    pub alt_dcs: i64,
    pub mwi: i64,
    pub coding: i64,
    pub compress: i64,
    pub validity: i64,
    pub deferred: i64,
    pub priority: i64,
}

/// A number as C's `sscanf("%d")` reads it: leading blanks, a sign, digits; else unset.
fn int(v: Option<&[u8]>) -> i64 {
    let Some(v) = v else { return UNSET };
    let s = String::from_utf8_lossy(v);
    let s = s.trim_start();
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).take(12).collect();
    digits.parse::<i64>().map(|n| sign * n).unwrap_or(UNSET)
}

fn text(v: Option<&[u8]>) -> Option<String> {
    v.map(|b| String::from_utf8_lossy(b).into_owned())
}

const NUMBERS: [&str; 11] = [
    "dlr-mask", "mclass", "pid", "rpi", "alt-dcs", "mwi", "coding", "compress", "validity", "deferred", "priority",
];

impl Params {
    /// From name/value pairs (a query or a form); `get` finds a name.
    fn from_named(get: impl Fn(&str) -> Option<Vec<u8>>) -> Self {
        let either = |a: &str, b: &str| get(a).or_else(|| get(b));
        let n: Vec<i64> = NUMBERS.iter().map(|k| int(get(k).as_deref())).collect();
        let mut p = Self {
            user: text(either("username", "user").as_deref()).unwrap_or_default(),
            pass: text(either("password", "pass").as_deref()).unwrap_or_default(),
            from: text(get("from").as_deref()),
            to: text(get("to").as_deref()),
            text: get("text").unwrap_or_default(),
            charset: text(get("charset").as_deref()),
            udh: get("udh"),
            smsc: text(get("smsc").as_deref()),
            account: text(get("account").as_deref()),
            dlr_url: text(either("dlr-url", "dlrurl").as_deref()),
            ..Self::default()
        };
        if get("dlr-mask").is_none() {
            p.dlr_mask = int(get("dlrmask").as_deref());
        } else {
            p.dlr_mask = n[0];
        }
        [
            p.mclass, p.pid, p.rpi, p.alt_dcs, p.mwi, p.coding, p.compress, p.validity, p.deferred, p.priority,
        ] = [n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9], n[10]];
        p
    }

    pub fn from_query(pairs: &[(String, Vec<u8>)]) -> Self {
        Self::from_named(|name| first(pairs, name).map(<[u8]>::to_vec))
    }

    /// A POST: `X-Kannel-*` headers and the text as the body, or a form-encoded body.
    pub fn from_post(headers: &HeaderMap, body: &[u8]) -> Result<Self, Response> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_ascii_lowercase();
        let mime = content_type.split(';').next().unwrap_or("").trim().to_owned();
        let charset = content_type
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("charset="))
            .next()
            .map(|c| c.trim_matches('"').to_owned());
        if mime == "application/x-www-form-urlencoded" {
            let form = pairs(body);
            let mut p = Self::from_query(&form);
            p.post = true;
            return Ok(p);
        }
        if mime != "text/plain" && mime != "application/octet-stream" {
            return Err(rejected("Invalid content-type"));
        }
        let get = |name: &str| -> Option<Vec<u8>> {
            let h = format!("x-kannel-{name}");
            headers.get(h.as_str()).map(|v| v.as_bytes().trim_ascii().to_vec())
        };
        let mut p = Self::from_named(|name| match name {
            "username" | "password" | "from" | "to" | "smsc" | "account" | "coding" | "pid" | "mwi" | "mclass"
            | "alt-dcs" | "compress" | "validity" | "deferred" | "dlr-mask" | "rpi" | "priority" => get(name),
            "dlr-url" => get("dlr-url"),
            _ => None,
        });
        p.post = true;
        p.text = body.to_vec();
        p.udh = get("udh").map(|u| unhex(&u).unwrap_or_else(|| crate::api::body::unescape(&u)));
        if mime == "text/plain" {
            if p.coding == UNSET {
                p.coding = 0;
            }
            p.charset = Some(charset.unwrap_or_else(|| "iso-8859-1".into()));
        } else if p.coding == UNSET {
            p.coding = 1;
        }
        Ok(p)
    }

    /// Every field in range, as Kannel checks them (in its order).
    pub fn check_fields(&self) -> Result<(), Response> {
        if let Some(udh) = &self.udh {
            if udh.is_empty() || udh.len() != usize::from(udh[0]) + 1 {
                return Err(rejected("UDH field misformed, rejected"));
            }
            if udh.len() > 140 {
                return Err(rejected("UDH field is too long, rejected"));
            }
        }
        if let Some(a) = &self.account {
            if a.len() > 64 || a.contains(['[', ']', '\n', '\r']) {
                return Err(rejected("Account field misformed or too long, rejected"));
            }
        }
        if let Some(url) = self.dlr_url.as_deref().filter(|u| !u.is_empty()) {
            let lower = url.to_ascii_lowercase();
            let schemed = lower.starts_with("http://") || lower.starts_with("https://");
            if url.len() < 8 || url.len() > crate::api::MAX_CALLBACK_FIELD || !schemed {
                return Err(rejected("DLR-URL field misformed, rejected"));
            }
        }
        let ranges: [(i64, i64, i64, &str); 8] = [
            (self.dlr_mask, -1, 63, "DLR-Mask field misformed, rejected"),
            (self.mclass, -1, 3, "MClass field misformed, rejected"),
            (self.pid, -1, 255, "PID field misformed, rejected"),
            (self.rpi, -1, 2, "RPI field misformed, rejected"),
            (self.alt_dcs, -1, 1, "Alt-DCS field misformed, rejected"),
            (self.mwi, -1, 7, "MWI field misformed, rejected"),
            (self.coding, -1, 2, "Coding field misformed, rejected"),
            (self.compress, -1, 1, "Compress field misformed, rejected"),
        ];
        for (value, min, max, why) in ranges {
            if value < min || value > max {
                return Err(rejected(why));
            }
        }
        // Minutes from now, at most a year: a longer wait is no validity an SMSC takes.
        if self.validity < -1 || self.validity > 525_600 {
            return Err(rejected("Validity field misformed, rejected"));
        }
        if self.deferred < -1 || self.deferred > 525_600 {
            return Err(rejected("Deferred field misformed, rejected"));
        }
        if self.priority != UNSET && !(0..=3).contains(&self.priority) {
            return Err(rejected("Priority field misformed, rejected"));
        }
        Ok(())
    }

    /// The text in the coding asked for (8-bit when a UDH comes without one, 7-bit else),
    /// converted from `charset`; text the coding cannot carry is refused, not mangled.
    pub fn body(&self, max: usize) -> Result<Body, Response> {
        if self.text.len() > max {
            return Err(rejected(&format!(
                "Text too long ({} bytes; at most {max}), rejected",
                self.text.len()
            )));
        }
        let coding = match self.coding {
            UNSET if self.udh.is_some() => 1,
            UNSET => 0,
            c => c,
        };
        if coding == 1 {
            return Ok(Body::Binary(self.text.clone()));
        }
        let misformed = || rejected("Charset or body misformed, rejected");
        let charset = self.charset.as_deref().map(str::to_ascii_lowercase);
        let text = match (charset.as_deref(), coding) {
            (None | Some("utf-8" | "utf8"), 0) | (Some("utf-8" | "utf8"), 2) => {
                String::from_utf8(self.text.clone()).map_err(|_| misformed())?
            }
            (None | Some("utf-16be" | "ucs-2" | "ucs2"), 2) => utf16be(&self.text).ok_or_else(misformed)?,
            (Some("iso-8859-1" | "latin1" | "iso8859-1"), _) => self.text.iter().map(|&b| char::from(b)).collect(),
            _ => return Err(misformed()),
        };
        let alphabet = if coding == 2 { Alphabet::Ucs2 } else { Alphabet::Gsm7 };
        if alphabet.cannot_carry(&text).is_some() {
            return Err(misformed());
        }
        Ok(Body::Text(text, Some(alphabet)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_sscanf_reads_them() {
        assert_eq!(int(Some(b"12abc")), 12);
        assert_eq!(int(Some(b" -3")), -3);
        assert_eq!(int(Some(b"abc")), UNSET);
        assert_eq!(int(None), UNSET);
    }

    #[test]
    fn text_that_gsm_cannot_carry_is_refused() {
        let p = Params::from_query(&pairs("text=na%C3%AFve&coding=0".as_bytes()));
        assert!(p.body(100).is_err());
        let p = Params::from_query(&pairs("text=na%C3%AFve&coding=2&charset=utf-8".as_bytes()));
        assert!(matches!(p.body(100), Ok(Body::Text(t, Some(Alphabet::Ucs2))) if t == "naïve"));
        let p = Params::from_query(&pairs("text=%00H%00i&coding=2".as_bytes()));
        assert!(matches!(p.body(100), Ok(Body::Text(t, _)) if t == "Hi"));
    }
}
