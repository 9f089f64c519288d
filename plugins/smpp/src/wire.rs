//! PDUs on the wire: framing, encoding, and the names of command statuses.

use bytes::{BufMut, Bytes, BytesMut};
use rusmpp::decode::DecodeWithLength;
use rusmpp::encode::{owned::Encode, Length};
use rusmpp::{Command, CommandStatus};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest PDU we accept; SMPP 3.4 messages are far smaller.
const MAX_PDU: usize = 64 * 1024;

/// One PDU as it came in: decoded, or the header of one that could not be.
pub enum Frame {
    Command(Box<Command>),
    Undecodable {
        command_id: u32,
        sequence: u32,
        error: String,
    },
}

/// Reads one PDU; `Ok(None)` at a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Frame>> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let length = u32::from_be_bytes(len) as usize;
    if !(16..=MAX_PDU).contains(&length) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("PDU command_length {length} is outside 16..={MAX_PDU}; the stream cannot be read on"),
        ));
    }
    let mut body = BytesMut::zeroed(length - 4);
    reader.read_exact(&mut body).await?;
    let command_id = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    let sequence = u32::from_be_bytes([body[8], body[9], body[10], body[11]]);
    let body_len = body.len();
    Ok(Some(match Command::decode(&mut body, body_len) {
        Ok((command, _)) => Frame::Command(Box::new(command)),
        Err(e) => Frame::Undecodable {
            command_id,
            sequence,
            error: e.to_string(),
        },
    }))
}

/// A PDU ready to write: the length, then the command.
pub fn encode(command: &Command) -> Bytes {
    let len = command.length();
    let mut buf = BytesMut::with_capacity(4 + len);
    buf.put_u32((4 + len) as u32);
    command.encode(&mut buf);
    buf.freeze()
}

/// A generic_nack by hand, for PDUs that could not be decoded.
pub fn generic_nack(sequence: u32, status: u32) -> Bytes {
    let mut buf = BytesMut::with_capacity(16);
    buf.put_u32(16);
    buf.put_u32(0x8000_0000);
    buf.put_u32(status);
    buf.put_u32(sequence);
    buf.freeze()
}

/// The SMPP name of a status (`ESME_RTHROTTLED`), or its number for ones without a name.
pub fn status_name(status: CommandStatus) -> String {
    let code = u32::from(status);
    let debug = format!("{status:?}");
    match debug.strip_prefix("Esme") {
        Some(rest) if !debug.starts_with("Other") => format!("ESME_{}", rest.to_ascii_uppercase()),
        _ => format!("command_status 0x{code:08X}"),
    }
}

pub const ESME_ROK: u32 = 0x0000_0000;
pub const ESME_RINVCMDID: u32 = 0x0000_0003;
pub const ESME_RSYSERR: u32 = 0x0000_0008;
pub const ESME_RMSGQFUL: u32 = 0x0000_0014;
pub const ESME_RTHROTTLED: u32 = 0x0000_0058;
/// A temporary application error: the SMSC should deliver the PDU again later.
pub const ESME_RX_T_APPN: u32 = 0x0000_0064;

#[cfg(test)]
mod tests {
    use super::*;
    use rusmpp::Pdu;

    #[test]
    fn names() {
        assert_eq!(status_name(CommandStatus::from(0x58)), "ESME_RTHROTTLED");
        assert_eq!(status_name(CommandStatus::from(0x14)), "ESME_RMSGQFUL");
        assert_eq!(status_name(CommandStatus::from(0x0B)), "ESME_RINVDSTADR");
        assert_eq!(status_name(CommandStatus::from(0x0400)), "command_status 0x00000400");
    }

    #[tokio::test]
    async fn frames_round_trip_and_bad_ones_keep_their_header() {
        let mut bytes = encode(&Command::new(CommandStatus::EsmeRok, 7, Pdu::EnquireLink)).to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 16, 0, 0, 0, 0xFF, 0, 0, 0, 0, 0, 0, 0, 9]);
        let mut reader = &bytes[..];
        match read_frame(&mut reader).await.unwrap().unwrap() {
            Frame::Command(c) => assert_eq!(c.sequence_number(), 7),
            Frame::Undecodable { error, .. } => panic!("{error}"),
        }
        match read_frame(&mut reader).await.unwrap() {
            Some(Frame::Command(c)) => {
                // rusmpp keeps unknown command ids as `Other`; that is fine too.
                assert_eq!(c.sequence_number(), 9);
            }
            Some(Frame::Undecodable { sequence, .. }) => assert_eq!(sequence, 9),
            None => panic!("second frame missing"),
        }
        assert!(read_frame(&mut reader).await.unwrap().is_none());
        let mut short: &[u8] = &[0, 0, 0, 4];
        assert!(read_frame(&mut short).await.is_err());
    }
}
