//! The SSMI line protocol, as TruTeq's servers speak it (and python-ssmi and txssmi, which Vumi's
//! `TruteqTransport` used). Every command is one line ending in `\r`: `SSMI,<code>,<fields...>`,
//! fields separated by commas. The last field of a command carries the text and may hold commas
//! (and `\n`, which is how multi-line USSD menus travel); `\r` never appears inside a command.
//!
//! Client to server: `1` login (username, password), `2` send SMS (validity in minutes, msisdn,
//! text), `3` link check, `99` logout, `110` send USSD (msisdn, type, text).
//! Server to client: `100` sequence number of a sent SMS, `101` ack (`1` login OK, `2` link
//! check answered), `102` nack (`1` bad username or password, `2` unknown command, `3` could not
//! parse, `4` account suspended), `103` SMS MO (msisdn, sequence, text), `104` delivery report,
//! `105` free-form text, `106`/`108` binary MO, `107` premium-rated MO (msisdn, sequence,
//! destination, text), `110` USSD (msisdn, type, phase, text), `111` extended USSD (msisdn,
//! type, phase, genfields, text), `199` logged out by the server (the address that logged in).
//! USSD types: `1` new session, `2` response (session goes on), `3` end, `4` timeout.

use std::fmt;

pub const LOGIN_OK: &str = "1";
pub const LINK_CHECK_ANSWERED: &str = "2";

/// USSD message types.
pub const USSD_NEW: &str = "1";
pub const USSD_RESPONSE: &str = "2";
pub const USSD_END: &str = "3";
pub const USSD_TIMEOUT: &str = "4";

/// A command from the server, its text fields still raw bytes in the line's encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response<'a> {
    Seq {
        msisdn: &'a [u8],
        sequence: &'a [u8],
    },
    Ack {
        kind: &'a [u8],
    },
    Nack {
        kind: &'a [u8],
    },
    Mo(Mo<'a>),
    Report {
        msisdn: &'a [u8],
        sequence: &'a [u8],
        code: &'a [u8],
    },
    FreeForm {
        text: &'a [u8],
    },
    Ussd(Ussd<'a>),
    Logout {
        ip: &'a [u8],
    },
    /// A command this transport does not act on (binary MO, IMSI lookup replies).
    Other {
        code: &'a str,
    },
}

/// An SMS from a phone (`103`, or `107` with the number it was sent to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mo<'a> {
    pub msisdn: &'a [u8],
    pub sequence: &'a [u8],
    pub destination: Option<&'a [u8]>,
    pub text: &'a [u8],
}

/// A USSD message (`110`, or `111` with genfields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ussd<'a> {
    pub msisdn: &'a [u8],
    pub kind: &'a [u8],
    pub phase: &'a [u8],
    pub genfields: Option<&'a [u8]>,
    pub text: &'a [u8],
}

/// Why a line is not a command this transport understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    NoHeader,
    BadCode,
    TooFewFields {
        code: &'static str,
        expected: usize,
        found: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHeader => write!(f, "it does not start with \"SSMI,\""),
            Self::BadCode => write!(f, "its command code is not a number"),
            Self::TooFewFields { code, expected, found } => {
                write!(f, "command {code} needs {expected} fields, found {found}")
            }
        }
    }
}

/// Splits `rest` into exactly `N` fields, the last one taking what is left (commas and all).
fn fields<'a, const N: usize>(code: &'static str, rest: &'a [u8]) -> Result<[&'a [u8]; N], FrameError> {
    let mut out = [&rest[..0]; N];
    let mut found = 0;
    for (slot, part) in out.iter_mut().zip(rest.splitn(N, |b| *b == b',')) {
        *slot = part;
        found += 1;
    }
    if found < N {
        return Err(FrameError::TooFewFields {
            code,
            expected: N,
            found,
        });
    }
    Ok(out)
}

/// Reads one line (without its `\r`).
pub fn parse(line: &[u8]) -> Result<Response<'_>, FrameError> {
    let rest = line.strip_prefix(b"SSMI,").ok_or(FrameError::NoHeader)?;
    let (code, rest) = match rest.iter().position(|b| *b == b',') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    if code.is_empty() || !code.iter().all(u8::is_ascii_digit) {
        return Err(FrameError::BadCode);
    }
    let code = std::str::from_utf8(code).map_err(|_| FrameError::BadCode)?;
    Ok(match code {
        "100" => {
            let [msisdn, sequence] = fields("100", rest)?;
            Response::Seq { msisdn, sequence }
        }
        "101" => Response::Ack { kind: rest },
        "102" => Response::Nack { kind: rest },
        "103" => {
            let [msisdn, sequence, text] = fields("103", rest)?;
            Response::Mo(Mo {
                msisdn,
                sequence,
                destination: None,
                text,
            })
        }
        "104" => {
            let [msisdn, sequence, code] = fields("104", rest)?;
            Response::Report { msisdn, sequence, code }
        }
        "105" => Response::FreeForm { text: rest },
        "107" => {
            let [msisdn, sequence, destination, text] = fields("107", rest)?;
            Response::Mo(Mo {
                msisdn,
                sequence,
                destination: Some(destination),
                text,
            })
        }
        "110" => {
            let [msisdn, kind, phase, text] = fields("110", rest)?;
            Response::Ussd(Ussd {
                msisdn,
                kind,
                phase,
                genfields: None,
                text,
            })
        }
        "111" => {
            let [msisdn, kind, phase, genfields, text] = fields("111", rest)?;
            Response::Ussd(Ussd {
                msisdn,
                kind,
                phase,
                genfields: Some(genfields),
                text,
            })
        }
        "199" => Response::Logout { ip: rest },
        other => Response::Other { code: other },
    })
}

/// What a nack code means.
pub fn nack_reason(kind: &[u8]) -> &'static str {
    match kind {
        b"1" => "invalid username/password combination",
        b"2" => "invalid or unknown message type",
        b"3" => "could not parse message",
        b"4" => "account suspended",
        _ => "unknown nack code",
    }
}

/// A command to the server, with its line end.
pub fn login(username: &str, password: &str) -> Vec<u8> {
    format!("SSMI,1,{username},{password}\r").into_bytes()
}

pub fn link_check() -> Vec<u8> {
    b"SSMI,3\r".to_vec()
}

pub fn logout() -> Vec<u8> {
    b"SSMI,99\r".to_vec()
}

/// `text` must already be encoded and free of `\r`.
pub fn send_sms(validity: u32, msisdn: &str, text: &[u8]) -> Vec<u8> {
    let mut line = format!("SSMI,2,{validity},{msisdn},").into_bytes();
    line.extend_from_slice(text);
    line.push(b'\r');
    line
}

/// `text` must already be encoded and free of `\r`.
pub fn send_ussd(msisdn: &str, kind: &str, text: &[u8]) -> Vec<u8> {
    let mut line = format!("SSMI,110,{msisdn},{kind},").into_bytes();
    line.extend_from_slice(text);
    line.push(b'\r');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_command_and_keeps_commas_in_the_text() {
        assert_eq!(parse(b"SSMI,101,1"), Ok(Response::Ack { kind: b"1" }));
        assert_eq!(parse(b"SSMI,102,4"), Ok(Response::Nack { kind: b"4" }));
        let Ok(Response::Ussd(u)) = parse(b"SSMI,110,27821234567,2,0,foo, bar\nbaz") else {
            panic!("not USSD")
        };
        assert_eq!(
            (u.msisdn, u.kind, u.text),
            (&b"27821234567"[..], &b"2"[..], &b"foo, bar\nbaz"[..])
        );
        let Ok(Response::Ussd(x)) = parse(b"SSMI,111,2782,1,2,imsi::3,*120#") else {
            panic!("not extended USSD")
        };
        assert_eq!((x.genfields, x.text), (Some(&b"imsi::3"[..]), &b"*120#"[..]));
        let Ok(Response::Mo(mo)) = parse(b"SSMI,103,2782,7,hi, there") else {
            panic!("not MO")
        };
        assert_eq!(
            (mo.sequence, mo.text, mo.destination),
            (&b"7"[..], &b"hi, there"[..], None)
        );
        let Ok(Response::Mo(p)) = parse(b"SSMI,107,2782,8,31337,win") else {
            panic!("not premium MO")
        };
        assert_eq!(p.destination, Some(&b"31337"[..]));
        assert_eq!(parse(b"SSMI,199,10.0.0.1"), Ok(Response::Logout { ip: b"10.0.0.1" }));
        assert_eq!(parse(b"SSMI,600,1,2,3,4"), Ok(Response::Other { code: "600" }));
        assert_eq!(parse(b"SSMI,110,2782,1,0,"), parse(b"SSMI,110,2782,1,0,"));
    }

    #[test]
    fn names_what_is_wrong() {
        assert_eq!(parse(b"HELLO,101,1"), Err(FrameError::NoHeader));
        assert_eq!(parse(b"SSMI,abc,1"), Err(FrameError::BadCode));
        assert_eq!(parse(b"SSMI,"), Err(FrameError::BadCode));
        let short = parse(b"SSMI,110,2782,1").unwrap_err();
        assert_eq!(short.to_string(), "command 110 needs 4 fields, found 2");
    }

    #[test]
    fn writes_commands() {
        assert_eq!(login("u", "p"), b"SSMI,1,u,p\r");
        assert_eq!(send_sms(0, "2782", b"a, b"), b"SSMI,2,0,2782,a, b\r");
        assert_eq!(send_ussd("2782", USSD_END, b"bye"), b"SSMI,110,2782,3,bye\r");
        assert_eq!(link_check(), b"SSMI,3\r");
    }
}
