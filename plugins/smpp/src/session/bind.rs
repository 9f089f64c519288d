//! Connecting to the SMSC (TCP, then TLS when configured) and binding.

use super::{Io, Link};
use crate::config::BindType;
use crate::wire::{self, Frame};
use rusmpp::pdus::{BindReceiver, BindTransceiver, BindTransmitter};
use rusmpp::types::COctetString;
use rusmpp::values::{InterfaceVersion, Npi, Ton};
use rusmpp::{Command, CommandStatus, Pdu};
use std::str::FromStr;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

impl Link {
    fn c_string<const MIN: usize, const MAX: usize>(text: &str) -> Result<COctetString<MIN, MAX>, String> {
        COctetString::from_str(text).map_err(|e| format!("{text:?}: {e}"))
    }

    fn bind_command(&self, seq: u32) -> Result<Command, String> {
        let c = &self.settings.raw;
        macro_rules! bind {
            ($t:ident) => {
                Pdu::from($t {
                    system_id: Self::c_string(&c.system_id)?,
                    password: Self::c_string(&c.password)?,
                    system_type: Self::c_string(&c.system_type)?,
                    interface_version: InterfaceVersion::from(c.interface_version),
                    addr_ton: Ton::from(c.addr_ton),
                    addr_npi: Npi::from(c.addr_npi),
                    address_range: Self::c_string(&c.address_range)?,
                })
            };
        }
        let pdu = match c.bind_type {
            BindType::Transceiver => bind!(BindTransceiver),
            BindType::Transmitter => bind!(BindTransmitter),
            BindType::Receiver => bind!(BindReceiver),
        };
        Ok(Command::new(CommandStatus::EsmeRok, seq, pdu))
    }

    /// Connects and binds; the stream is ready for traffic.
    pub(super) async fn connect(&self) -> Result<Box<dyn Io>, String> {
        let c = &self.settings.raw;
        let addr = format!("{}:{}", c.host, c.port);
        let mut stream = self.open(&addr).await?;
        let seq = self.next_seq();
        let bind = wire::encode(&self.bind_command(seq)?);
        stream
            .write_all(&bind)
            .await
            .map_err(|e| format!("sending bind_{} to {addr}: {e}", c.bind_type.as_str()))?;
        let timeout = self.settings.response_timeout;
        let resp = tokio::time::timeout(timeout, Self::bind_resp(&mut stream, seq))
            .await
            .map_err(|_| {
                format!(
                    "no answer to bind_{} from {addr} within {timeout:?}",
                    c.bind_type.as_str()
                )
            })??;
        if resp.status() != CommandStatus::EsmeRok {
            return Err(format!(
                "bind_{} refused by {addr}: {}",
                c.bind_type.as_str(),
                wire::status_name(resp.status())
            ));
        }
        Ok(stream)
    }

    /// The TCP connection to `addr`, with TLS on it when configured.
    async fn open(&self, addr: &str) -> Result<Box<dyn Io>, String> {
        let timeout = self.settings.response_timeout;
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connecting to {addr} took longer than {timeout:?}"))?
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        stream.set_nodelay(true).ok();
        Ok(match &self.tls {
            Some(tls) => Box::new(
                tokio::time::timeout(timeout, tls.connect(stream))
                    .await
                    .map_err(|_| format!("TLS handshake with {addr} took longer than {timeout:?}"))??,
            ),
            None => Box::new(stream),
        })
    }

    /// The answer to the bind sent under `seq`; what comes before it is passed over.
    async fn bind_resp(stream: &mut Box<dyn Io>, seq: u32) -> Result<Box<Command>, String> {
        loop {
            match wire::read_frame(stream).await {
                Ok(Some(Frame::Command(cmd))) if cmd.sequence_number() == seq => return Ok(cmd),
                Ok(Some(_)) => continue,
                Ok(None) => return Err("the SMSC closed the connection before answering the bind".to_owned()),
                Err(e) => return Err(format!("reading the bind response: {e}")),
            }
        }
    }
}
