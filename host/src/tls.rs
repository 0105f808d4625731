//! TLS with rustls: the server configuration built from `tls_server_cert`,
//! `tls_server_key` and `tls_versions`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsVersions;

/// Build the acceptor for `tls_server_cert`, `tls_server_key` and the
/// `tls_versions` rustls speaks (1.2 and 1.3).
pub fn acceptor(cert: &Path, key: &Path, versions: TlsVersions) -> Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading tls_server_cert {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing tls_server_cert {}", cert.display()))?;
    if certs.is_empty() {
        bail!("tls_server_cert {}: no certificate found", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading tls_server_key {}", key.display()))?;
    let mut protocols: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if versions.tls1_3 {
        protocols.push(&rustls::version::TLS13);
    }
    if versions.tls1_2 {
        protocols.push(&rustls::version::TLS12);
    }
    if protocols.is_empty() {
        bail!("tls_versions: none of the listed versions is supported (tls1_2, tls1_3)");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&protocols)
        .map_err(|e| anyhow!("tls_versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| anyhow!("tls_server_cert/tls_server_key: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
