//! Outbound messages as submit_sm, one per part, and what the SMSC made of all the parts.

use crate::config::{Config, Settings};
use crate::options::{self, Options};
use crate::session::{Job, Outcome};
use crate::text::{self, Part};
use rusmpp::pdus::SubmitSm;
use rusmpp::tlvs::MessageSubmissionRequestTlvValue;
use rusmpp::types::{AnyOctetString, COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, MessagePayload, Npi, PriorityFlag, RegisteredDelivery, Ton};
use ruvuma_plugin_api::prelude::*;
use std::str::FromStr;
use std::sync::atomic::{AtomicU16, Ordering};
use tokio::sync::oneshot;

/// The addresses, flags and times every part of one message shares.
struct Envelope {
    source_addr: COctetString<1, 21>,
    destination_addr: COctetString<1, 21>,
    registered: RegisteredDelivery,
    priority: u8,
    validity: EmptyOrFullCOctetString<17>,
    schedule: EmptyOrFullCOctetString<17>,
}

fn smpp_time(t: Option<&str>) -> Result<EmptyOrFullCOctetString<17>, String> {
    EmptyOrFullCOctetString::<17>::from_str(t.unwrap_or("")).map_err(|e| format!("{t:?} is not an SMPP time: {e}"))
}

/// The parts of a message: its text split as configured, or (with a UDH or a binary body of
/// its own) one part as given.
fn parts(s: &Settings, msg: &Message, opts: &Options, ref_nums: &AtomicU16) -> Result<Vec<Part>, String> {
    let content = msg.content().unwrap_or_default();
    let one = |data_coding: u8, data: Vec<u8>, limit: usize| -> Result<Vec<Part>, String> {
        let udh = opts.udh.clone().unwrap_or_default();
        if data.len() > limit {
            return Err(format!(
                "the message is {} octets; with its own UDH or binary body it must fit one part ({limit})",
                data.len()
            ));
        }
        Ok(vec![Part {
            data_coding,
            udhi: !udh.is_empty(),
            short_message: [udh, data].concat(),
            sar: None,
            payload: None,
        }])
    };
    let udh_len = opts.udh.as_ref().map_or(0, Vec::len);
    if let Some(bytes) = &opts.binary {
        return one(0x04, bytes.clone(), options::MAX_OCTETS - udh_len);
    }
    let coding = text::choose_coding(content, opts.coding.or(s.coding), s.raw.latin1_fallback)?;
    if opts.udh.is_some() {
        return one(
            coding.data_coding(),
            text::encode_text(content, coding)?,
            coding.udh_limit(udh_len),
        );
    }
    // 8-bit references: every handset reads them, and the 16-bit form costs a character.
    let ref_num = ref_nums.fetch_add(1, Ordering::Relaxed) & 0xFF;
    text::encode(content, coding, s.split, ref_num)
}

/// The submit_sm PDUs for a message, one per part (`ref_nums` gives its concatenation
/// reference), and whether they ask for a delivery receipt.
pub fn submit_pdus(s: &Settings, msg: &Message, ref_nums: &AtomicU16) -> Result<(Vec<SubmitSm>, bool), String> {
    let c = &s.raw;
    let to = msg.to_addr();
    if to.is_empty() {
        return Err("the message has no to_addr".into());
    }
    let from = match (msg.from_addr(), &c.default_source_addr) {
        ("", Some(default)) => default.as_str(),
        ("", None) => return Err("the message has no from_addr and no default_source_addr is set".into()),
        (from, _) => from,
    };
    let opts = Options::of(msg)?;
    let registered = opts.registered.unwrap_or(c.registered_delivery);
    let envelope = Envelope {
        destination_addr: COctetString::<1, 21>::from_str(to)
            .map_err(|e| format!("to_addr {to:?} cannot be sent over SMPP (at most 20 characters): {e}"))?,
        source_addr: COctetString::<1, 21>::from_str(from)
            .map_err(|e| format!("from_addr {from:?} cannot be sent over SMPP (at most 20 characters): {e}"))?,
        registered: RegisteredDelivery::from(u8::from(registered)),
        priority: opts.priority.unwrap_or(0),
        validity: smpp_time(opts.validity.as_deref())?,
        schedule: smpp_time(opts.schedule.as_deref())?,
    };
    let mut parts = parts(s, msg, &opts, ref_nums)?;
    for part in &mut parts {
        part.data_coding = opts.classed(part.data_coding)?;
    }
    let pdus = parts
        .into_iter()
        .map(|part| part_pdu(c, &envelope, part))
        .collect::<Result<_, _>>()?;
    Ok((pdus, registered))
}

/// The submit_sm for one part.
fn part_pdu(c: &Config, envelope: &Envelope, part: Part) -> Result<SubmitSm, String> {
    let Part {
        data_coding,
        short_message,
        udhi,
        sar,
        payload,
    } = part;
    let mut tlvs = Vec::new();
    if let Some((r, total, seq)) = sar {
        tlvs.push(MessageSubmissionRequestTlvValue::SarMsgRefNum(r));
        tlvs.push(MessageSubmissionRequestTlvValue::SarTotalSegments(total));
        tlvs.push(MessageSubmissionRequestTlvValue::SarSegmentSeqnum(seq));
    }
    if let Some(p) = payload {
        tlvs.push(MessageSubmissionRequestTlvValue::MessagePayload(MessagePayload::new(
            AnyOctetString::from_vec(p),
        )));
    }
    let len = short_message.len();
    let short_message = OctetString::<0, 255>::from_vec(short_message)
        .map_err(|e| format!("a part of {len} octets does not fit short_message: {e}"))?;
    Ok(SubmitSm::builder()
        .source_addr_ton(Ton::from(c.source_addr_ton))
        .source_addr_npi(Npi::from(c.source_addr_npi))
        .source_addr(envelope.source_addr.clone())
        .dest_addr_ton(Ton::from(c.dest_addr_ton))
        .dest_addr_npi(Npi::from(c.dest_addr_npi))
        .destination_addr(envelope.destination_addr.clone())
        .esm_class(EsmClass::from(if udhi { 0x40 } else { 0x00 }))
        .registered_delivery(envelope.registered)
        .priority_flag(PriorityFlag::from(envelope.priority))
        .validity_period(envelope.validity.clone())
        .schedule_delivery_time(envelope.schedule.clone())
        .data_coding(DataCoding::from(data_coding))
        .short_message(short_message)
        .tlvs(tlvs)
        .build())
}

/// A job for the outbox per PDU, and where each one's outcome will come.
pub fn jobs(pdus: Vec<SubmitSm>) -> (Vec<Job>, Vec<oneshot::Receiver<Outcome>>) {
    let mut waits = Vec::with_capacity(pdus.len());
    let mut jobs = Vec::with_capacity(pdus.len());
    for pdu in pdus {
        let (done, wait) = oneshot::channel();
        jobs.push(Job {
            pdu,
            unanswered: 0,
            done,
        });
        waits.push(wait);
    }
    (jobs, waits)
}

/// The SMSC's ids for every part, or why the message failed (for a multipart message, the
/// first part that failed).
pub async fn outcomes(waits: Vec<oneshot::Receiver<Outcome>>) -> Result<Vec<String>, String> {
    let total = waits.len();
    let mut ids = Vec::with_capacity(total);
    let mut failure = None;
    for (i, wait) in waits.into_iter().enumerate() {
        let outcome = wait
            .await
            .unwrap_or_else(|_| Err("the smpp transport stopped before the SMSC answered".into()));
        match outcome {
            Ok(id) => ids.push(id),
            Err(reason) if total == 1 => failure = Some(reason),
            Err(reason) => {
                failure.get_or_insert(format!("part {} of {total}: {reason}", i + 1));
            }
        }
    }
    match failure {
        Some(reason) => Err(reason),
        None => Ok(ids),
    }
}
