//! TLS with rustls: the server configuration built from `tls_server_cert`,
//! `tls_server_key`, `tls_versions`, `tls_client_ca_file` and
//! `tls_client_certs`, and what a finished handshake tells the rest of
//! the host (channel bindings for SCRAM-*-PLUS, the client certificate's
//! user for EXTERNAL).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::Digest;
use tokio_rustls::TlsAcceptor;

use crate::config::{ClientCerts, TlsVersions};

/// The TLS side of a server: the acceptor and facts about its certificate.
#[derive(Clone)]
pub struct ServerTls {
    pub acceptor: TlsAcceptor,
    /// rfc5929 4.1 `tls-server-end-point`: the hash of the server's
    /// certificate; `None` when its signature algorithm leaves the hash
    /// undefined (Ed25519), and the binding type is then not offered.
    pub end_point: Option<Arc<[u8]>>,
    /// Client certificates are asked for (`tls_client_ca_file`).
    pub client_certs: bool,
}

/// What the client certificate options say.
pub struct ClientAuth<'a> {
    pub ca_file: Option<&'a Path>,
    pub mode: ClientCerts,
}

/// Build the acceptor for `tls_server_cert`, `tls_server_key` and the
/// `tls_versions` rustls speaks (1.2 and 1.3), asking for client
/// certificates signed by `tls_client_ca_file` when it is set.
pub fn acceptor(
    cert: &Path,
    key: &Path,
    versions: TlsVersions,
    client: ClientAuth<'_>,
) -> Result<ServerTls> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading tls_server_cert {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing tls_server_cert {}", cert.display()))?;
    if certs.is_empty() {
        bail!("tls_server_cert {}: no certificate found", cert.display());
    }
    let end_point = server_end_point(&certs[0]).map(Arc::from);
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
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&protocols)
        .map_err(|e| anyhow!("tls_versions: {e}"))?;
    let (builder, client_certs) = match (client.ca_file, client.mode) {
        (Some(ca), mode) if mode != ClientCerts::Off => {
            let mut roots = rustls::RootCertStore::empty();
            let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("reading tls_client_ca_file {}", ca.display()))?
                .collect::<Result<_, _>>()
                .with_context(|| format!("parsing tls_client_ca_file {}", ca.display()))?;
            let (added, _) = roots.add_parsable_certificates(cas);
            if added == 0 {
                bail!(
                    "tls_client_ca_file {}: no usable CA certificate",
                    ca.display()
                );
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if mode == ClientCerts::Require {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier
                .build()
                .map_err(|e| anyhow!("tls_client_ca_file {}: {e}", ca.display()))?;
            (builder.with_client_cert_verifier(verifier), true)
        }
        _ => (builder.with_no_client_auth(), false),
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| anyhow!("tls_server_cert/tls_server_key: {e}"))?;
    Ok(ServerTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        end_point,
        client_certs,
    })
}

/// rfc5929 4.1: the certificate hashed with its signature's hash
/// function, SHA-256 where that is MD5 or SHA-1. Signatures without a
/// separate hash (Ed25519, Ed448) have no defined binding.
pub fn server_end_point(cert: &CertificateDer<'_>) -> Option<Vec<u8>> {
    use x509_parser::oid_registry as oids;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let alg = &parsed.signature_algorithm.algorithm;
    let sha256 = [
        oids::OID_PKCS1_SHA256WITHRSA,
        oids::OID_SIG_ECDSA_WITH_SHA256,
        oids::OID_PKCS1_SHA1WITHRSA,
        oids::OID_PKCS1_MD5WITHRSAENC,
    ];
    let sha384 = [
        oids::OID_PKCS1_SHA384WITHRSA,
        oids::OID_SIG_ECDSA_WITH_SHA384,
    ];
    let sha512 = [
        oids::OID_PKCS1_SHA512WITHRSA,
        oids::OID_SIG_ECDSA_WITH_SHA512,
    ];
    if sha256.contains(alg) {
        Some(sha2::Sha256::digest(cert.as_ref()).to_vec())
    } else if sha384.contains(alg) {
        Some(sha2::Sha384::digest(cert.as_ref()).to_vec())
    } else if sha512.contains(alg) {
        Some(sha2::Sha512::digest(cert.as_ref()).to_vec())
    } else {
        None
    }
}

/// What a finished handshake tells the host.
#[derive(Debug, Clone, Default)]
pub struct TlsInfo {
    /// rfc9266 `tls-exporter`: 32 bytes of keying material labelled
    /// "EXPORTER-Channel-Binding". TLS 1.3 only (rfc9266 3: TLS 1.2 would
    /// need the extended master secret, which rustls does not let us
    /// confirm).
    pub exporter: Option<Vec<u8>>,
    /// rfc5929 `tls-server-end-point`.
    pub end_point: Option<Arc<[u8]>>,
    /// The user a verified client certificate names (EXTERNAL).
    pub client_user: Option<String>,
}

impl TlsInfo {
    /// Read the facts off a server connection whose handshake is done.
    /// `bindings`: compute the channel bindings (SCRAM-*-PLUS offered).
    pub fn of(conn: &rustls::ServerConnection, tls: &ServerTls, bindings: bool) -> TlsInfo {
        let exporter = (bindings
            && conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3))
        .then(|| {
            conn.export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None)
                .ok()
        })
        .flatten();
        // rustls has verified the chain against tls_client_ca_file by now
        // (an unverifiable certificate fails the handshake).
        let client_user = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| crate::auth::external::certificate_user(c.as_ref()));
        TlsInfo {
            exporter,
            end_point: tls.end_point.clone().filter(|_| bindings),
            client_user,
        }
    }
}
