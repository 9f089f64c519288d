//! GSM 03.38, Latin-1 and UCS2 text, and splitting long messages.
//!
//! Outbound text is encoded with [`encode`], which also splits it into [`Part`]s when it is too long for one
//! short_message. Inbound short_message bytes are turned back into text with [`decode`], after any user data
//! header has been taken off with [`split_udh`].
//!
//! GSM text is carried unpacked, one septet per octet, as SMPP expects; the SMSC packs it for the air interface.
//! All lengths below are therefore counted in octets of the encoded text: a GSM septet, an ASCII or Latin-1
//! character, or half a UTF-16 unit.

use ruvuma_plugin_api::gsm::{
    basic_code as gsm_basic_code, extension_char as gsm_extension_char, extension_code as gsm_extension_code, ESC,
    GSM_BASIC,
};

/// Most octets the message_payload TLV can hold.
const MAX_PAYLOAD: usize = u16::MAX as usize;

/// Most parts a concatenated message can have.
const MAX_PARTS: usize = u8::MAX as usize;

/// Which alphabet a message is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// GSM 03.38 default alphabet with the extension table, one septet per octet (unpacked), data_coding 0x00.
    Gsm7,
    /// IA5/ASCII, data_coding 0x01.
    Ascii,
    /// ISO-8859-1, data_coding 0x03.
    Latin1,
    /// UCS2 (UTF-16BE; characters outside the BMP as surrogate pairs), data_coding 0x08.
    Ucs2,
}

impl Coding {
    /// The SMPP data_coding value for this alphabet.
    pub fn data_coding(self) -> u8 {
        match self {
            Coding::Gsm7 => 0x00,
            Coding::Ascii => 0x01,
            Coding::Latin1 => 0x03,
            Coding::Ucs2 => 0x08,
        }
    }

    /// For config values: "gsm7" | "ascii" | "latin1" | "ucs2"; error text names the allowed values.
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "gsm7" => Ok(Coding::Gsm7),
            "ascii" => Ok(Coding::Ascii),
            "latin1" => Ok(Coding::Latin1),
            "ucs2" => Ok(Coding::Ucs2),
            _ => Err(format!("unknown coding {name:?}; expected gsm7, ascii, latin1 or ucs2")),
        }
    }

    /// The config name, as accepted by [`Coding::from_name`].
    fn name(self) -> &'static str {
        match self {
            Coding::Gsm7 => "gsm7",
            Coding::Ascii => "ascii",
            Coding::Latin1 => "latin1",
            Coding::Ucs2 => "ucs2",
        }
    }

    /// Whether `ch` can be written in this alphabet.
    fn can_send(self, ch: char) -> bool {
        match self {
            Coding::Gsm7 => gsm_basic_code(ch).is_some() || gsm_extension_code(ch).is_some(),
            Coding::Ascii => ch.is_ascii(),
            Coding::Latin1 => u32::from(ch) <= 0xFF,
            Coding::Ucs2 => true,
        }
    }

    /// Most octets of encoded text that fit one short_message without a UDH.
    fn single_limit(self) -> usize {
        match self {
            Coding::Gsm7 | Coding::Ascii => 160,
            Coding::Latin1 | Coding::Ucs2 => 140,
        }
    }

    /// Most octets of encoded text that fit one short_message after a UDH of `udh_len` octets.
    ///
    /// GSM and ASCII parts take the UDH out of the 160-septet budget, rounded up to whole septets; Latin-1 and
    /// UCS2 parts take it out of the 140-octet budget, UCS2 keeping whole UTF-16 units.
    pub fn udh_limit(self, udh_len: usize) -> usize {
        match self {
            Coding::Gsm7 | Coding::Ascii => 160 - (udh_len * 8).div_ceil(7),
            Coding::Latin1 => 140 - udh_len,
            Coding::Ucs2 => (140 - udh_len) / 2 * 2,
        }
    }
}

/// How a message too long for one short_message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Several submit_sm, each with a concatenation UDH in the short_message.
    Udh,
    /// Several submit_sm, numbered by the sar_* TLVs.
    Sar,
    /// One submit_sm carrying the whole text in the message_payload TLV.
    Payload,
}

impl Split {
    /// For config values: "udh" | "sar" | "message_payload"; error text names the allowed values.
    pub fn from_name(name: &str) -> Result<Self, String> {
        match name {
            "udh" => Ok(Split::Udh),
            "sar" => Ok(Split::Sar),
            "message_payload" => Ok(Split::Payload),
            _ => Err(format!("unknown split {name:?}; expected udh, sar or message_payload")),
        }
    }
}

/// One submit_sm's worth of user data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The data_coding of the text.
    pub data_coding: u8,
    /// short_message bytes (including the UDH when `udhi` is set); empty when `payload` is set.
    pub short_message: Vec<u8>,
    /// esm_class UDHI bit (0x40) must be set.
    pub udhi: bool,
    /// SAR TLVs: (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum).
    pub sar: Option<(u16, u8, u8)>,
    /// The whole encoded text, for the message_payload TLV.
    pub payload: Option<Vec<u8>>,
}

impl Part {
    /// A part that carries `short_message` as it is, with no UDH, SAR or payload.
    fn plain(coding: Coding, short_message: Vec<u8>) -> Self {
        Part {
            data_coding: coding.data_coding(),
            short_message,
            udhi: false,
            sar: None,
            payload: None,
        }
    }
}

/// A concatenation header found in a UDH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concat {
    /// The reference shared by all parts of one message.
    pub ref_num: u16,
    /// How many parts the message has.
    pub total: u8,
    /// This part's number, from 1.
    pub seq: u8,
}

impl Concat {
    /// Whether the numbering makes sense; 3GPP TS 23.040 has a receiver ignore the IE when it does not.
    fn is_valid(self) -> bool {
        self.total != 0 && self.seq != 0 && self.seq <= self.total
    }
}

/// Picks the coding: `preferred = None` means automatic: Gsm7 if every char is in the GSM 03.38 basic or
/// extension table, else Latin1 if `allow_latin1` and every char is in ISO-8859-1, else Ucs2. `Some(c)` forces
/// `c`; if the text cannot be represented in `c`, the error names the first character that does not fit.
pub fn choose_coding(text: &str, preferred: Option<Coding>, allow_latin1: bool) -> Result<Coding, String> {
    match preferred {
        Some(coding) => match text.chars().find(|&ch| !coding.can_send(ch)) {
            Some(ch) => Err(cannot_send(ch, coding)),
            None => Ok(coding),
        },
        None if text.chars().all(|ch| Coding::Gsm7.can_send(ch)) => Ok(Coding::Gsm7),
        None if allow_latin1 && text.chars().all(|ch| Coding::Latin1.can_send(ch)) => Ok(Coding::Latin1),
        None => Ok(Coding::Ucs2),
    }
}

/// Encodes `text` in `coding` and splits it into the parts to submit.
///
/// Text that fits one short_message (160 GSM septets, 160 ASCII characters, 140 Latin-1 octets or 70 UTF-16
/// units) is always one plain part. Longer text is split as `split` says: with a concatenation UDH (the 8-bit
/// reference IE when `ref_num` fits a byte, else the 16-bit one), with SAR TLVs and full-length parts, or as one
/// part with the whole text in message_payload. A GSM escape pair or a UTF-16 surrogate pair is never split
/// across parts. Fails when the text does not fit `coding`, needs more than 255 parts, or is too long for
/// message_payload.
pub fn encode(text: &str, coding: Coding, split: Split, ref_num: u16) -> Result<Vec<Part>, String> {
    let data = encode_text(text, coding)?;
    if data.len() <= coding.single_limit() {
        return Ok(vec![Part::plain(coding, data)]);
    }
    match split {
        Split::Payload => {
            if data.len() > MAX_PAYLOAD {
                return Err(format!(
                    "message is {} octets; message_payload holds at most {MAX_PAYLOAD}",
                    data.len()
                ));
            }
            Ok(vec![Part {
                payload: Some(data),
                ..Part::plain(coding, Vec::new())
            }])
        }
        Split::Sar => {
            let chunks = chunk(coding, &data, coding.single_limit());
            let total = part_count(chunks.len())?;
            let parts = chunks
                .into_iter()
                .zip(1..=total)
                .map(|(chunk, seq)| Part {
                    sar: Some((ref_num, total, seq)),
                    ..Part::plain(coding, chunk.to_vec())
                })
                .collect();
            Ok(parts)
        }
        Split::Udh => {
            let udh_len = udh(ref_num, 0, 0).len();
            let chunks = chunk(coding, &data, coding.udh_limit(udh_len));
            let total = part_count(chunks.len())?;
            let parts = chunks
                .into_iter()
                .zip(1..=total)
                .map(|(chunk, seq)| {
                    let mut short_message = udh(ref_num, total, seq);
                    short_message.extend_from_slice(chunk);
                    Part {
                        udhi: true,
                        ..Part::plain(coding, short_message)
                    }
                })
                .collect();
            Ok(parts)
        }
    }
}

/// Decodes short_message bytes (after any UDH was removed) by data_coding.
///
/// The SMPP values 0x00 (GSM 03.38, unpacked), 0x01 (ASCII), 0x03 (Latin-1) and 0x08 (UCS2) are text; 0x02 and
/// 0x04 are binary. Other values are read as 3GPP TS 23.038 data coding groups where they name GSM 7-bit or
/// UCS2 text: the uncompressed general and automatic-deletion groups (0x10-0x1F, 0x40-0x5F) by their alphabet
/// bits, the message waiting groups (0xC0-0xEF), and the message class group (0xF0-0xFF) by bit 2.
///
/// In GSM text an escape followed by a septet the extension table lacks decodes as that septet's basic
/// character, as 23.038 asks. An escape followed by another escape (reserved for a further extension table) and
/// a lone escape at the end both decode as a space. Octets above 0x7F are errors.
pub fn decode(data_coding: u8, bytes: &[u8]) -> Result<String, String> {
    match text_coding(data_coding)? {
        Coding::Gsm7 => decode_gsm(bytes),
        Coding::Ascii => decode_ascii(bytes),
        Coding::Latin1 => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        Coding::Ucs2 => decode_ucs2(bytes),
    }
}

/// Splits a short_message that starts with a UDH (esm_class UDHI set) into the concatenation IE, if any, and
/// the user data after the header.
///
/// IE 0x00 (8-bit reference) and IE 0x08 (16-bit reference) are concatenation IEs; other IEs are skipped. When
/// several concatenation IEs appear the last one counts, and one numbered 0 or past its total is ignored, as
/// 3GPP TS 23.040 asks. Fails when the header runs past the data, an IE is truncated, or a concatenation IE has
/// the wrong length.
pub fn split_udh(short_message: &[u8]) -> Result<(Option<Concat>, &[u8]), String> {
    let (&udh_len, rest) = short_message
        .split_first()
        .ok_or("short_message is empty; expected a UDH length octet")?;
    let udh_len = usize::from(udh_len);
    if udh_len > rest.len() {
        return Err(format!(
            "UDH length {udh_len} runs past the end of the short_message ({} octets follow it)",
            rest.len()
        ));
    }
    let (mut header, data) = rest.split_at(udh_len);
    let mut concat = None;
    while let Some((&iei, rest)) = header.split_first() {
        let Some((&len, rest)) = rest.split_first() else {
            return Err(format!(
                "UDH information element 0x{iei:02X} is truncated: its length octet is missing"
            ));
        };
        let len = usize::from(len);
        if len > rest.len() {
            return Err(format!(
                "UDH information element 0x{iei:02X} is truncated: length {len}, but {} octets are left",
                rest.len()
            ));
        }
        let (value, rest) = rest.split_at(len);
        let found = match (iei, value) {
            (0x00, &[ref_num, total, seq]) => Some(Concat {
                ref_num: u16::from(ref_num),
                total,
                seq,
            }),
            (0x08, &[ref_hi, ref_lo, total, seq]) => Some(Concat {
                ref_num: u16::from_be_bytes([ref_hi, ref_lo]),
                total,
                seq,
            }),
            (0x00, _) => return Err(format!("UDH concatenation IE 0x00 has length {len}; expected 3")),
            (0x08, _) => return Err(format!("UDH concatenation IE 0x08 has length {len}; expected 4")),
            _ => None,
        };
        if let Some(found) = found.filter(|c| c.is_valid()) {
            concat = Some(found);
        }
        header = rest;
    }
    Ok((concat, data))
}

/// The error for a character that `coding` cannot carry.
fn cannot_send(ch: char, coding: Coding) -> String {
    format!(
        "character {ch:?} (U+{:04X}) cannot be sent in {}",
        u32::from(ch),
        coding.name()
    )
}

/// Encodes the whole of `text` in `coding`, failing on the first character it cannot carry.
pub fn encode_text(text: &str, coding: Coding) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    for ch in text.chars() {
        match coding {
            Coding::Gsm7 => match (gsm_basic_code(ch), gsm_extension_code(ch)) {
                (Some(code), _) => out.push(code),
                (None, Some(code)) => out.extend([ESC, code]),
                (None, None) => return Err(cannot_send(ch, coding)),
            },
            Coding::Ascii | Coding::Latin1 => match u8::try_from(ch) {
                Ok(byte) if coding.can_send(ch) => out.push(byte),
                _ => return Err(cannot_send(ch, coding)),
            },
            Coding::Ucs2 => {
                for unit in ch.encode_utf16(&mut [0; 2]) {
                    out.extend(unit.to_be_bytes());
                }
            }
        }
    }
    Ok(out)
}

/// Cuts encoded text into pieces of at most `limit` octets, never inside a GSM escape pair or a UTF-16
/// surrogate pair.
fn chunk(coding: Coding, data: &[u8], limit: usize) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (head, tail) = rest.split_at(cut_point(coding, rest, limit));
        chunks.push(head);
        rest = tail;
    }
    chunks
}

/// Where to end the next piece of `rest`: at `limit`, or just before it when that would split a pair.
///
/// Text encoded here only has escapes in front of an extension septet, and high surrogates at even offsets,
/// so looking at the octet or unit just before the cut is enough.
fn cut_point(coding: Coding, rest: &[u8], limit: usize) -> usize {
    if rest.len() <= limit {
        return rest.len();
    }
    match coding {
        Coding::Gsm7 if rest[limit - 1] == ESC => limit - 1,
        Coding::Ucs2 if (0xD8..=0xDB).contains(&rest[limit - 2]) => limit - 2,
        _ => limit,
    }
}

/// The number of parts as a `u8`, or the error when a message needs more than can be concatenated.
fn part_count(parts: usize) -> Result<u8, String> {
    u8::try_from(parts).map_err(|_| format!("message needs {parts} parts; at most {MAX_PARTS} can be concatenated"))
}

/// The concatenation UDH for part `seq` of `total`: IE 0x00 when `ref_num` fits a byte, else IE 0x08.
fn udh(ref_num: u16, total: u8, seq: u8) -> Vec<u8> {
    match u8::try_from(ref_num) {
        Ok(ref_num) => vec![0x05, 0x00, 0x03, ref_num, total, seq],
        Err(_) => {
            let [ref_hi, ref_lo] = ref_num.to_be_bytes();
            vec![0x06, 0x08, 0x04, ref_hi, ref_lo, total, seq]
        }
    }
}

/// The alphabet a data_coding value carries text in, or why it carries none that can be read.
fn text_coding(data_coding: u8) -> Result<Coding, String> {
    let binary = || Err(format!("binary data_coding 0x{data_coding:02X} has no text"));
    match data_coding {
        0x00 => Ok(Coding::Gsm7),
        0x01 => Ok(Coding::Ascii),
        0x03 => Ok(Coding::Latin1),
        0x08 => Ok(Coding::Ucs2),
        0x02 | 0x04 => binary(),
        0x10..=0x1F | 0x40..=0x5F => match (data_coding >> 2) & 0b11 {
            0b00 => Ok(Coding::Gsm7),
            0b01 => binary(),
            0b10 => Ok(Coding::Ucs2),
            _ => Err(format!("data_coding 0x{data_coding:02X} names a reserved alphabet")),
        },
        0x20..=0x3F | 0x60..=0x7F => Err(format!(
            "data_coding 0x{data_coding:02X} marks compressed text, which is not supported"
        )),
        0xC0..=0xDF => Ok(Coding::Gsm7),
        0xE0..=0xEF => Ok(Coding::Ucs2),
        0xF0..=0xFF if data_coding & 0x04 == 0 => Ok(Coding::Gsm7),
        0xF0..=0xFF => binary(),
        _ => Err(format!("data_coding 0x{data_coding:02X} is not supported")),
    }
}

/// Decodes unpacked GSM 03.38 septets.
fn decode_gsm(bytes: &[u8]) -> Result<String, String> {
    let septet = |offset: usize, byte: u8| {
        if byte <= 0x7F {
            Ok(byte)
        } else {
            Err(format!(
                "octet 0x{byte:02X} at offset {offset} is not a GSM 7-bit septet"
            ))
        }
    };
    let mut text = String::with_capacity(bytes.len());
    let mut octets = bytes.iter().copied().enumerate();
    while let Some((offset, byte)) = octets.next() {
        let code = septet(offset, byte)?;
        if code != ESC {
            text.push(GSM_BASIC[usize::from(code)]);
            continue;
        }
        let ch = match octets.next() {
            None => ' ',
            Some((offset, byte)) => match septet(offset, byte)? {
                ESC => ' ',
                code => gsm_extension_char(code).unwrap_or(GSM_BASIC[usize::from(code)]),
            },
        };
        text.push(ch);
    }
    Ok(text)
}

/// Decodes IA5/ASCII, failing on any octet above 0x7F.
fn decode_ascii(bytes: &[u8]) -> Result<String, String> {
    bytes
        .iter()
        .enumerate()
        .map(|(offset, &byte)| {
            if byte.is_ascii() {
                Ok(char::from(byte))
            } else {
                Err(format!("octet 0x{byte:02X} at offset {offset} is not ASCII"))
            }
        })
        .collect()
}

/// Decodes UTF-16BE, failing on an odd length or an unpaired surrogate.
fn decode_ucs2(bytes: &[u8]) -> Result<String, String> {
    let pairs = bytes.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(format!("UCS2 text has an odd number of octets ({})", bytes.len()));
    }
    let units = pairs.map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    char::decode_utf16(units)
        .map(|unit| unit.map_err(|e| format!("UCS2 text has an unpaired surrogate 0x{:04X}", e.unpaired_surrogate())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoded text of a part, without its UDH.
    fn user_data(part: &Part) -> &[u8] {
        if part.udhi {
            split_udh(&part.short_message).unwrap().1
        } else {
            &part.short_message
        }
    }

    /// Decodes and joins the text of all parts.
    fn rejoin(parts: &[Part]) -> String {
        parts
            .iter()
            .map(|part| {
                let data = part.payload.as_deref().unwrap_or_else(|| user_data(part));
                decode(part.data_coding, data).unwrap()
            })
            .collect()
    }

    #[test]
    fn basic_table_round_trips() {
        let text: String = (0u8..128)
            .filter(|&c| c != ESC)
            .map(|c| GSM_BASIC[usize::from(c)])
            .collect();
        let expected: Vec<u8> = (0u8..128).filter(|&c| c != ESC).collect();
        let parts = encode(&text, Coding::Gsm7, Split::Udh, 1).unwrap();
        assert_eq!(parts, vec![Part::plain(Coding::Gsm7, expected.clone())]);
        assert_eq!(decode(0x00, &expected).unwrap(), text);
        assert_eq!(choose_coding(&text, None, true), Ok(Coding::Gsm7));
    }

    #[test]
    fn basic_table_entries() {
        let expected = [
            (0x00, '@'),
            (0x01, '\u{A3}'),
            (0x03, '\u{A5}'),
            (0x09, '\u{C7}'),
            (0x0A, '\n'),
            (0x0D, '\r'),
            (0x10, '\u{394}'),
            (0x11, '_'),
            (0x12, '\u{3A6}'),
            (0x13, '\u{393}'),
            (0x14, '\u{39B}'),
            (0x15, '\u{3A9}'),
            (0x16, '\u{3A0}'),
            (0x17, '\u{3A8}'),
            (0x18, '\u{3A3}'),
            (0x19, '\u{398}'),
            (0x1A, '\u{39E}'),
            (0x1C, '\u{C6}'),
            (0x1E, '\u{DF}'),
            (0x1F, '\u{C9}'),
            (0x24, '\u{A4}'),
            (0x40, '\u{A1}'),
            (0x5B, '\u{C4}'),
            (0x5F, '\u{A7}'),
            (0x60, '\u{BF}'),
            (0x7B, '\u{E4}'),
            (0x7F, '\u{E0}'),
        ];
        for (code, ch) in expected {
            assert_eq!(GSM_BASIC[code], ch, "septet 0x{code:02X}");
        }
        for (code, &ch) in GSM_BASIC.iter().enumerate() {
            if code != usize::from(ESC) {
                assert_eq!(
                    GSM_BASIC.iter().position(|&c| c == ch),
                    Some(code),
                    "{ch:?} appears twice"
                );
            }
        }
        assert_eq!(gsm_basic_code('\u{1B}'), None);
    }

    #[test]
    fn extension_table_round_trips() {
        let text = "\u{0C}^{}\\[~]|€";
        let expected = [
            ESC, 0x0A, ESC, 0x14, ESC, 0x28, ESC, 0x29, ESC, 0x2F, ESC, 0x3C, ESC, 0x3D, ESC, 0x3E, ESC, 0x40, ESC,
            0x65,
        ];
        let parts = encode(text, Coding::Gsm7, Split::Udh, 1).unwrap();
        assert_eq!(parts, vec![Part::plain(Coding::Gsm7, expected.to_vec())]);
        assert_eq!(decode(0x00, &expected).unwrap(), text);
    }

    #[test]
    fn names() {
        assert_eq!(Coding::from_name("latin1"), Ok(Coding::Latin1));
        assert_eq!(Coding::from_name("gsm7").map(Coding::data_coding), Ok(0x00));
        assert_eq!(Coding::Ascii.data_coding(), 0x01);
        assert_eq!(Coding::Ucs2.data_coding(), 0x08);
        let err = Coding::from_name("utf8").unwrap_err();
        assert!(err.contains("gsm7, ascii, latin1 or ucs2"), "{err}");
        assert_eq!(Split::from_name("message_payload"), Ok(Split::Payload));
        assert_eq!(Split::from_name("sar"), Ok(Split::Sar));
        assert_eq!(Split::from_name("udh"), Ok(Split::Udh));
        let err = Split::from_name("payload").unwrap_err();
        assert!(err.contains("udh, sar or message_payload"), "{err}");
    }

    #[test]
    fn automatic_coding() {
        assert_eq!(choose_coding("Hello, world! {1}", None, true), Ok(Coding::Gsm7));
        assert_eq!(choose_coding("café 5€", None, true), Ok(Coding::Gsm7));
        assert_eq!(choose_coding("naïve café", None, true), Ok(Coding::Latin1));
        assert_eq!(choose_coding("naïve café", None, false), Ok(Coding::Ucs2));
        assert_eq!(choose_coding("Привет", None, true), Ok(Coding::Ucs2));
        assert_eq!(choose_coding("😀", None, true), Ok(Coding::Ucs2));
        assert_eq!(choose_coding("", None, true), Ok(Coding::Gsm7));
    }

    #[test]
    fn forced_coding() {
        assert_eq!(choose_coding("naïve", Some(Coding::Latin1), false), Ok(Coding::Latin1));
        assert_eq!(choose_coding("Привет", Some(Coding::Ucs2), true), Ok(Coding::Ucs2));
        assert_eq!(
            choose_coding("5 €", Some(Coding::Latin1), true),
            Err("character '€' (U+20AC) cannot be sent in latin1".to_string())
        );
        assert_eq!(
            choose_coding("naïve", Some(Coding::Gsm7), true),
            Err("character 'ï' (U+00EF) cannot be sent in gsm7".to_string())
        );
        assert_eq!(
            choose_coding("café", Some(Coding::Ascii), true),
            Err("character 'é' (U+00E9) cannot be sent in ascii".to_string())
        );
        let err = encode("x€", Coding::Latin1, Split::Udh, 1).unwrap_err();
        assert_eq!(err, "character '€' (U+20AC) cannot be sent in latin1");
    }

    #[test]
    fn empty_text_is_one_empty_part() {
        for split in [Split::Udh, Split::Sar, Split::Payload] {
            assert_eq!(
                encode("", Coding::Ucs2, split, 1).unwrap(),
                vec![Part::plain(Coding::Ucs2, Vec::new())]
            );
        }
    }

    #[test]
    fn gsm_boundaries() {
        let parts = encode(&"a".repeat(160), Coding::Gsm7, Split::Udh, 7).unwrap();
        assert_eq!(parts.len(), 1);
        assert!(!parts[0].udhi);
        assert_eq!(parts[0].short_message.len(), 160);

        let parts = encode(&"a".repeat(161), Coding::Gsm7, Split::Udh, 7).unwrap();
        let lengths: Vec<usize> = parts.iter().map(|p| user_data(p).len()).collect();
        assert_eq!(lengths, [153, 8]);

        let parts = encode(&"a".repeat(153 * 2), Coding::Gsm7, Split::Udh, 7).unwrap();
        assert_eq!(parts.len(), 2);
        let parts = encode(&"a".repeat(153 * 2 + 1), Coding::Gsm7, Split::Udh, 7).unwrap();
        assert_eq!(parts.len(), 3);

        // An extension character costs two septets.
        assert_eq!(encode(&"€".repeat(80), Coding::Gsm7, Split::Udh, 7).unwrap().len(), 1);
        assert_eq!(encode(&"€".repeat(81), Coding::Gsm7, Split::Udh, 7).unwrap().len(), 2);
    }

    #[test]
    fn sixteen_bit_reference_shrinks_parts() {
        let text = "a".repeat(161);
        let parts = encode(&text, Coding::Gsm7, Split::Udh, 300).unwrap();
        let lengths: Vec<usize> = parts.iter().map(|p| user_data(p).len()).collect();
        assert_eq!(lengths, [152, 9]);
        assert_eq!(rejoin(&parts), text);
    }

    #[test]
    fn other_coding_boundaries() {
        let cases = [
            (Coding::Ascii, "a", 160, 153, 152),
            (Coding::Latin1, "ï", 140, 134, 133),
            (Coding::Ucs2, "Ж", 140, 134, 132),
        ];
        for (coding, unit, single, udh8, udh16) in cases {
            let units = single / if coding == Coding::Ucs2 { 2 } else { 1 };
            let parts = encode(&unit.repeat(units), coding, Split::Udh, 1).unwrap();
            assert_eq!(parts.len(), 1, "{coding:?}");
            assert_eq!(parts[0].short_message.len(), single, "{coding:?}");

            let text = unit.repeat(units + 1);
            let parts = encode(&text, coding, Split::Udh, 1).unwrap();
            assert_eq!(parts.len(), 2, "{coding:?}");
            assert_eq!(user_data(&parts[0]).len(), udh8, "{coding:?}");
            assert_eq!(rejoin(&parts), text, "{coding:?}");

            let parts = encode(&text, coding, Split::Udh, 256).unwrap();
            assert_eq!(user_data(&parts[0]).len(), udh16, "{coding:?}");
            assert_eq!(rejoin(&parts), text, "{coding:?}");
        }
    }

    #[test]
    fn ucs2_boundaries() {
        let parts = encode(&"Ж".repeat(70), Coding::Ucs2, Split::Udh, 1).unwrap();
        assert_eq!(parts.len(), 1);
        let parts = encode(&"Ж".repeat(71), Coding::Ucs2, Split::Udh, 1).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(user_data(&parts[0]).len(), 67 * 2);
        assert_eq!(user_data(&parts[1]).len(), 4 * 2);
        assert_eq!(parts[0].data_coding, 0x08);
    }

    #[test]
    fn escape_pair_is_not_split() {
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let parts = encode(&text, Coding::Gsm7, Split::Udh, 1).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(user_data(&parts[0]), "a".repeat(152).as_bytes());
        assert_eq!(&user_data(&parts[1])[..2], &[ESC, 0x65]);
        assert_eq!(user_data(&parts[1]).len(), 12);
        assert_eq!(rejoin(&parts), text);
    }

    #[test]
    fn surrogate_pair_is_not_split() {
        let text = format!("{}😀{}", "Ж".repeat(66), "Ж".repeat(10));
        let parts = encode(&text, Coding::Ucs2, Split::Udh, 1).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(user_data(&parts[0]).len(), 66 * 2);
        assert_eq!(&user_data(&parts[1])[..4], &[0xD8, 0x3D, 0xDE, 0x00]);
        assert_eq!(rejoin(&parts), text);

        let text = format!("{}😀{}", "Ж".repeat(69), "Ж".repeat(10));
        let parts = encode(&text, Coding::Ucs2, Split::Sar, 1).unwrap();
        assert_eq!(parts[0].short_message.len(), 69 * 2);
        assert_eq!(rejoin(&parts), text);
    }

    #[test]
    fn udh_bytes() {
        let parts = encode(&"a".repeat(200), Coding::Gsm7, Split::Udh, 0x2A).unwrap();
        assert_eq!(&parts[0].short_message[..6], &[0x05, 0x00, 0x03, 0x2A, 2, 1]);
        assert_eq!(&parts[1].short_message[..6], &[0x05, 0x00, 0x03, 0x2A, 2, 2]);
        assert!(parts.iter().all(|p| p.udhi && p.sar.is_none() && p.payload.is_none()));

        let parts = encode(&"a".repeat(200), Coding::Gsm7, Split::Udh, 0x1234).unwrap();
        assert_eq!(&parts[0].short_message[..7], &[0x06, 0x08, 0x04, 0x12, 0x34, 2, 1]);
        assert_eq!(&parts[1].short_message[..7], &[0x06, 0x08, 0x04, 0x12, 0x34, 2, 2]);
    }

    #[test]
    fn sar_parts() {
        let text = "a".repeat(161);
        let parts = encode(&text, Coding::Gsm7, Split::Sar, 0x1234).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].short_message, vec![b'a'; 160]);
        assert_eq!(parts[1].short_message, vec![b'a'; 1]);
        assert_eq!(parts[0].sar, Some((0x1234, 2, 1)));
        assert_eq!(parts[1].sar, Some((0x1234, 2, 2)));
        assert!(parts.iter().all(|p| !p.udhi && p.payload.is_none()));
        assert_eq!(rejoin(&parts), text);
    }

    #[test]
    fn payload_part() {
        let text = "Ж".repeat(100);
        let parts = encode(&text, Coding::Ucs2, Split::Payload, 1).unwrap();
        assert_eq!(parts.len(), 1);
        let part = &parts[0];
        assert!(part.short_message.is_empty() && !part.udhi && part.sar.is_none());
        assert_eq!(part.payload.as_ref().map(Vec::len), Some(200));
        assert_eq!(rejoin(&parts), text);

        let short = encode("hi", Coding::Gsm7, Split::Payload, 1).unwrap();
        assert_eq!(short, vec![Part::plain(Coding::Gsm7, b"hi".to_vec())]);

        let err = encode(&"a".repeat(MAX_PAYLOAD + 1), Coding::Latin1, Split::Payload, 1).unwrap_err();
        assert!(err.contains("message_payload holds at most 65535"), "{err}");
    }

    #[test]
    fn too_many_parts() {
        assert_eq!(
            encode(&"a".repeat(153 * 255), Coding::Gsm7, Split::Udh, 1)
                .unwrap()
                .len(),
            255
        );
        assert_eq!(
            encode(&"a".repeat(153 * 255 + 1), Coding::Gsm7, Split::Udh, 1),
            Err("message needs 256 parts; at most 255 can be concatenated".to_string())
        );
        assert!(encode(&"a".repeat(160 * 256), Coding::Gsm7, Split::Sar, 1).is_err());
    }

    #[test]
    fn decode_gsm_escapes() {
        assert_eq!(decode(0x00, b"Hi\x1B\x65!").unwrap(), "Hi€!");
        // An escape the extension table lacks falls back to the basic character.
        assert_eq!(decode(0x00, &[ESC, 0x41]).unwrap(), "A");
        assert_eq!(decode(0x00, &[ESC, 0x00]).unwrap(), "@");
        // A doubled escape and a lone trailing escape read as spaces.
        assert_eq!(decode(0x00, &[b'a', ESC, ESC, b'b']).unwrap(), "a b");
        assert_eq!(decode(0x00, &[b'a', ESC]).unwrap(), "a ");
        let err = decode(0x00, &[b'a', 0x80]).unwrap_err();
        assert_eq!(err, "octet 0x80 at offset 1 is not a GSM 7-bit septet");
        assert!(decode(0x00, &[ESC, 0xE5]).is_err());
    }

    #[test]
    fn decode_each_coding() {
        assert_eq!(decode(0x01, b"plain {text}").unwrap(), "plain {text}");
        assert_eq!(
            decode(0x01, &[b'a', 0xE9]),
            Err("octet 0xE9 at offset 1 is not ASCII".to_string())
        );
        assert_eq!(decode(0x03, &[b'c', b'a', b'f', 0xE9, 0xA4]).unwrap(), "café¤");
        assert_eq!(decode(0x08, &[0x04, 0x16, 0xD8, 0x3D, 0xDE, 0x00]).unwrap(), "Ж😀");
        assert!(decode(0x08, &[0x04, 0x16, 0x00])
            .unwrap_err()
            .contains("odd number of octets"));
        assert!(decode(0x08, &[0xD8, 0x3D, 0x00, 0x41])
            .unwrap_err()
            .contains("unpaired surrogate 0xD83D"));
        assert!(decode(0x08, &[0xDE, 0x00])
            .unwrap_err()
            .contains("unpaired surrogate 0xDE00"));
        assert_eq!(
            decode(0x04, b"\x01\x02"),
            Err("binary data_coding 0x04 has no text".to_string())
        );
        assert_eq!(
            decode(0x02, b""),
            Err("binary data_coding 0x02 has no text".to_string())
        );
    }

    #[test]
    fn decode_gsm_data_coding_groups() {
        for data_coding in [0x10, 0x11, 0x40, 0xC0, 0xD8, 0xF0, 0xF1, 0xF3] {
            assert_eq!(decode(data_coding, &[0x00, 0x65]).unwrap(), "@e", "0x{data_coding:02X}");
        }
        for data_coding in [0x18, 0x19, 0x48, 0xE0] {
            assert_eq!(decode(data_coding, &[0x04, 0x16]).unwrap(), "Ж", "0x{data_coding:02X}");
        }
        assert_eq!(
            decode(0xF4, b"x"),
            Err("binary data_coding 0xF4 has no text".to_string())
        );
        assert_eq!(
            decode(0x15, b"x"),
            Err("binary data_coding 0x15 has no text".to_string())
        );
        for data_coding in [0x05, 0x09, 0x0E, 0x1C, 0x20, 0x80, 0xBF] {
            let err = decode(data_coding, b"x").unwrap_err();
            assert!(err.contains(&format!("data_coding 0x{data_coding:02X}")), "{err}");
        }
    }

    #[test]
    fn udh_with_8_bit_reference() {
        let message = [0x05, 0x00, 0x03, 0x2A, 3, 2, b'h', b'i'];
        let (concat, data) = split_udh(&message).unwrap();
        assert_eq!(
            concat,
            Some(Concat {
                ref_num: 0x2A,
                total: 3,
                seq: 2
            })
        );
        assert_eq!(data, b"hi");
    }

    #[test]
    fn udh_with_16_bit_reference() {
        let message = [0x06, 0x08, 0x04, 0x12, 0x34, 2, 1, b'x'];
        let (concat, data) = split_udh(&message).unwrap();
        assert_eq!(
            concat,
            Some(Concat {
                ref_num: 0x1234,
                total: 2,
                seq: 1
            })
        );
        assert_eq!(data, b"x");
    }

    #[test]
    fn udh_skips_other_elements() {
        // A port addressing IE (0x05) comes before the concatenation IE.
        let message = [0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x07, 2, 2, 0xAB];
        let (concat, data) = split_udh(&message).unwrap();
        assert_eq!(
            concat,
            Some(Concat {
                ref_num: 7,
                total: 2,
                seq: 2
            })
        );
        assert_eq!(data, &[0xAB]);

        let (concat, data) = split_udh(&[0x04, 0x05, 0x02, 0x0B, 0x84, b'z']).unwrap();
        assert_eq!(concat, None);
        assert_eq!(data, b"z");

        let (concat, data) = split_udh(&[0x00, b'z']).unwrap();
        assert_eq!(concat, None);
        assert_eq!(data, b"z");
    }

    #[test]
    fn udh_ignores_bad_numbering() {
        assert_eq!(split_udh(&[0x05, 0x00, 0x03, 1, 2, 0]).unwrap().0, None);
        assert_eq!(split_udh(&[0x05, 0x00, 0x03, 1, 2, 3]).unwrap().0, None);
        assert_eq!(split_udh(&[0x05, 0x00, 0x03, 1, 0, 0]).unwrap().0, None);
    }

    #[test]
    fn udh_errors() {
        assert!(split_udh(&[]).unwrap_err().contains("empty"));
        let err = split_udh(&[0x05, 0x00, 0x03, 0x01]).unwrap_err();
        assert!(err.contains("UDH length 5 runs past"), "{err}");
        let err = split_udh(&[0x04, 0x00, 0x03, 0x01, 0x02]).unwrap_err();
        assert!(err.contains("0x00 is truncated"), "{err}");
        let err = split_udh(&[0x03, 0x05, 0x04, 0x0B, 0x84]).unwrap_err();
        assert!(err.contains("0x05 is truncated"), "{err}");
        let err = split_udh(&[0x01, 0x00]).unwrap_err();
        assert!(err.contains("length octet is missing"), "{err}");
        let err = split_udh(&[0x04, 0x00, 0x02, 0x01, 0x02]).unwrap_err();
        assert!(err.contains("expected 3"), "{err}");
    }

    #[test]
    fn udh_from_encode_round_trips() {
        let text = "x".repeat(400);
        let parts = encode(&text, Coding::Gsm7, Split::Udh, 0xBEEF).unwrap();
        for (part, seq) in parts.iter().zip(1u8..) {
            let (concat, _) = split_udh(&part.short_message).unwrap();
            assert_eq!(
                concat,
                Some(Concat {
                    ref_num: 0xBEEF,
                    total: 3,
                    seq
                })
            );
        }
        assert_eq!(rejoin(&parts), text);
    }
}
