//! The SMPP transport's PDU framing, as it reads an SMSC's byte stream, and the readers an MO or a
//! delivery receipt goes through after it (UDH, data coding, receipt text).
//!
//! The input is the stream. Frames are read until a clean end, an error, or a frame that cannot be
//! decoded (the session answers those with generic_nack and reads on, as this does). Nothing may
//! panic; a decoded command the transport exchanges encodes back to a frame that, when rusmpp
//! can read it, decodes to the same command (the same header, for a body-less command that came
//! with a body).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rusmpp::{Command, CommandId, Pdu};
use ruvuma_smpp::wire::{encode, read_frame, status_name, Frame};
use ruvuma_smpp::{receipt, text};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Runs a future over an in-memory reader, which never waits.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("reading from a slice should not wait"),
    }
}

fn read_one(bytes: &mut &[u8]) -> std::io::Result<Option<Frame>> {
    now(read_frame(bytes))
}

fuzz_target!(|data: &[u8]| {
    let mut stream = data;
    // Each frame consumes at least 16 bytes, so this ends.
    while let Ok(Some(frame)) = read_one(&mut stream) {
        match frame {
            Frame::Command(command) => {
                if exchanged(command.id()) {
                    check_round_trip(&command);
                }
                let _ = status_name(command.status());
                if let Some(Pdu::DeliverSm(pdu)) = command.pdu() {
                    let esm = u8::from(pdu.esm_class);
                    let data_coding = u8::from(pdu.data_coding);
                    inbound_text(data_coding, esm & 0x40 != 0, pdu.short_message().as_ref());
                }
            }
            Frame::Undecodable { error, .. } => assert!(!error.is_empty()),
        }
    }
    // The same readers straight on the input, for reach past what a valid PDU lets through.
    if let Some((&first, rest)) = data.split_first() {
        inbound_text(first, first & 1 != 0, rest);
    }
});

/// The commands the transport sends or reads the body of. Others (alert_notification, query_sm, ...)
/// are answered by their id alone and never encoded again, so their round trip is rusmpp's concern.
fn exchanged(id: CommandId) -> bool {
    matches!(
        id,
        CommandId::BindTransceiver
            | CommandId::BindTransceiverResp
            | CommandId::BindTransmitter
            | CommandId::BindTransmitterResp
            | CommandId::BindReceiver
            | CommandId::BindReceiverResp
            | CommandId::SubmitSm
            | CommandId::SubmitSmResp
            | CommandId::DeliverSm
            | CommandId::DeliverSmResp
            | CommandId::EnquireLink
            | CommandId::EnquireLinkResp
            | CommandId::Unbind
            | CommandId::UnbindResp
            | CommandId::GenericNack
    )
}

fn check_round_trip(command: &Command) {
    let bytes = encode(command);
    let mut reader: &[u8] = &bytes;
    match read_one(&mut reader) {
        Ok(Some(Frame::Command(again))) => {
            // rusmpp reads a body-less command (enquire_link, unbind, ...) that came with a body as
            // one without its PDU; the session goes by the command id, so that is fine. Encoded, it
            // has no body, and reads back with its PDU.
            if command.pdu().is_some() {
                assert_eq!(&*again, command, "command changed in a round trip");
            } else {
                assert_eq!(
                    (again.id(), again.status(), again.sequence_number()),
                    (command.id(), command.status(), command.sequence_number()),
                    "header changed in a round trip"
                );
                assert_eq!(encode(&again), bytes, "encoding is not stable");
            }
        }
        // rusmpp 0.4 reads some malformed bodies (a bind_transceiver_resp with a broken TLV, an
        // alert_notification) into values it then encodes in a form it does not read back. The
        // transport reads those only for their header and never sends them on.
        Ok(Some(Frame::Undecodable { error, .. })) => assert!(!error.is_empty()),
        // rusmpp may encode a command larger than the 64 KiB the reader takes; that is not a bug here.
        Err(_) if bytes.len() > 64 * 1024 => {}
        other => panic!("an encoded command does not read back: {:?}", other.map(|_| ())),
    }
    assert!(reader.is_empty(), "the frame is longer than its command_length");
}

/// What deliver_sm's text goes through: the UDH, the data coding, and, for receipts, the text.
fn inbound_text(data_coding: u8, udhi: bool, short_message: &[u8]) {
    let user_data = if udhi {
        match text::split_udh(short_message) {
            Ok((_, user_data)) => user_data,
            Err(e) => {
                assert!(!e.is_empty());
                return;
            }
        }
    } else {
        short_message
    };
    let _ = text::decode(data_coding, user_data);
    let lossy = String::from_utf8_lossy(short_message);
    if let Some(r) = receipt::parse(&lossy, None, None) {
        let _ = r.status();
        let _ = receipt::alternates(&r.id);
    }
}
