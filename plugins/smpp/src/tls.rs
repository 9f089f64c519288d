//! TLS to the SMSC (rustls).

use crate::config::Config;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::{client::TlsStream, TlsConnector};

/// What to connect with, made once from the config.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl Tls {
    pub fn new(c: &Config) -> Result<Self, String> {
        let mut roots = RootCertStore::empty();
        match &c.tls_ca_file {
            Some(path) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("key \"tls_ca_file\": reading {path}: {e}"))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("key \"tls_ca_file\": {path}: {e}"))?;
                if certs.is_empty() {
                    return Err(format!("key \"tls_ca_file\": {path} holds no PEM certificate"));
                }
                for cert in certs {
                    roots
                        .add(cert)
                        .map_err(|e| format!("key \"tls_ca_file\": {path}: {e}"))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let host = c.tls_server_name.clone().unwrap_or_else(|| c.host.clone());
        let name = ServerName::try_from(host.clone())
            .map_err(|e| format!("key \"tls_server_name\": {host:?} is not a server name: {e}"))?;
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            name,
        })
    }

    pub async fn connect(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, String> {
        self.connector
            .connect(self.name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS handshake with {:?}: {e}", self.name))
    }
}
