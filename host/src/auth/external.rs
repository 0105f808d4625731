//! SASL EXTERNAL (rfc4422 appendix A) over a TLS client certificate.
//!
//! rustls verifies the certificate against `tls_client_ca_file` during
//! the handshake (an unknown, expired or otherwise invalid one fails it);
//! the user is the certificate's subject CN, as in Cyrus (whose
//! `tls_start_servertls()` hands SASL the peer CN as the external
//! identity), or, for a certificate without a CN, its first e-mail
//! subject alternative name, then its first DNS one.
//!
//! The client's message is the authorization identity it asks for: empty
//! (act as the certificate's user) or exactly that user; there is no
//! proxy authorisation.

/// The user a client certificate names, if any usable one.
pub fn certificate_user(der: &[u8]) -> Option<String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let san = || {
        let names = cert.subject_alternative_name().ok()??;
        let names = &names.value.general_names;
        let email = names.iter().find_map(|n| match n {
            GeneralName::RFC822Name(e) => Some(e.to_string()),
            _ => None,
        });
        email.or_else(|| {
            names.iter().find_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_string()),
                _ => None,
            })
        })
    };
    cn.or_else(san).filter(|u| crate::auth::valid_user_name(u))
}

/// rfc4422 A.1: the client's (possibly empty) authorization identity
/// against the certificate's user. `Some(user)` when it may log in.
pub fn authorize(cert_user: &str, authzid: &[u8]) -> Option<String> {
    let authzid = std::str::from_utf8(authzid).ok()?;
    (authzid.is_empty() || authzid == cert_user).then(|| cert_user.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A self-signed certificate (DER) with this subject CN and these
    /// alternative names.
    pub(crate) fn cert(cn: Option<&str>, sans: Vec<rcgen::SanType>) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
        }
        params.subject_alt_names = sans;
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn user_from_cn_then_email_then_dns() {
        let email = |e: &str| rcgen::SanType::Rfc822Name(e.try_into().unwrap());
        let dns = |d: &str| rcgen::SanType::DnsName(d.try_into().unwrap());
        assert_eq!(
            certificate_user(&cert(Some("alice"), vec![email("bob@example.org")])).as_deref(),
            Some("alice")
        );
        assert_eq!(
            certificate_user(&cert(
                None,
                vec![dns("host.example"), email("bob@example.org")]
            ))
            .as_deref(),
            Some("bob@example.org")
        );
        assert_eq!(
            certificate_user(&cert(None, vec![dns("host.example")])).as_deref(),
            Some("host.example")
        );
        assert_eq!(certificate_user(&cert(Some("../etc"), vec![])), None);
        assert_eq!(certificate_user(&cert(None, vec![])), None);
    }

    #[test]
    fn authzid_rules() {
        assert_eq!(authorize("alice", b"").as_deref(), Some("alice"));
        assert_eq!(authorize("alice", b"alice").as_deref(), Some("alice"));
        assert_eq!(authorize("alice", b"bob"), None);
        assert_eq!(authorize("alice", b"\xff"), None);
    }
}
