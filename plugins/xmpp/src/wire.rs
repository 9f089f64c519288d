//! The byte stream under the XML stream: TCP, then TLS after STARTTLS (rustls, with the CA file
//! the config names), and a budget on what the server may send towards one stanza. The XML
//! parser keeps an element in memory until it is complete; the budget counts the bytes read
//! since the last element the transport took, and fails the read past `max_stanza_size`, so a
//! server that streams one endless stanza costs a bounded buffer and its connection.

use crate::config::Settings;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, BufStream, ReadBuf};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// A connection, plain or encrypted.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What the XML stream reads from and writes to.
pub type Wire = BufStream<Budget>;

/// A connection whose reads stop at `limit` bytes since the last [`Budget::reset`].
pub struct Budget {
    inner: Box<dyn Io>,
    used: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub fn new(inner: Box<dyn Io>, limit: usize) -> Self {
        Self {
            inner,
            used: AtomicUsize::new(0),
            limit,
        }
    }

    /// A stanza was taken: the next one starts its own count.
    pub fn reset(&self) {
        self.used.store(0, Ordering::Relaxed);
    }

    pub fn into_inner(self) -> Box<dyn Io> {
        self.inner
    }
}

impl AsyncRead for Budget {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let used = this.used.load(Ordering::Relaxed);
        if used >= this.limit {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the server sent more than {} bytes without completing a stanza (max_stanza_size)",
                    this.limit
                ),
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        this.used.store(used + read, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for Budget {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// What TLS connects with, made once from the config.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
}

/// The CAs to trust: the ones in `path`, or the Mozilla roots (no path, or an empty one).
fn roots(path: Option<&str>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let Some(path) = path.filter(|p| !p.trim().is_empty()) else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("key \"ca_file\": reading {path}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("key \"ca_file\": {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("key \"ca_file\": {path} holds no PEM certificate"));
    }
    for cert in certs {
        roots.add(cert).map_err(|e| format!("key \"ca_file\": {path}: {e}"))?;
    }
    Ok(roots)
}

impl Tls {
    pub fn new(s: &Settings) -> Result<Self, String> {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots(s.raw.ca_file.as_deref())?)
            .with_no_client_auth();
        let host = s
            .raw
            .tls_server_name
            .clone()
            .unwrap_or_else(|| s.jid.domain().to_string());
        let name = ServerName::try_from(host.clone())
            .map_err(|e| format!("key \"tls_server_name\": {host:?} is not a server name: {e}"))?;
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            name,
        })
    }

    /// The TLS handshake over `io`; the error names the server and what failed.
    pub async fn connect(&self, io: Box<dyn Io>) -> Result<Box<dyn Io>, String> {
        match self.connector.connect(self.name.clone(), io).await {
            Ok(tls) => Ok(Box::new(tls)),
            Err(e) => {
                let hint = if e.to_string().contains("UnknownIssuer") {
                    " (no trusted CA signed the server's certificate: set ca_file to the CA that did)"
                } else {
                    ""
                };
                Err(format!(
                    "TLS handshake (server name {:?}): {e}{hint}",
                    self.name.to_str()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn reads_stop_at_the_budget_until_it_is_reset() {
        let (mut server, client) = tokio::io::duplex(64 * 1024);
        let mut budget = Budget::new(Box::new(client), 10_000);
        tokio::io::AsyncWriteExt::write_all(&mut server, &[b'x'; 30_000])
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let mut total = 0;
        let err = loop {
            match budget.read(&mut buf).await {
                Ok(n) => total += n,
                Err(e) => break e,
            }
        };
        assert!((10_000..10_000 + 4096).contains(&total), "{total}");
        assert!(
            err.to_string()
                .contains("more than 10000 bytes without completing a stanza"),
            "{err}"
        );
        budget.reset();
        assert!(budget.read(&mut buf).await.unwrap() > 0);
    }
}
