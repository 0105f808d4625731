//! The capability list, built in one place from the settings and the
//! session's state, in Cyrus 3.6's order (cyrus-compat 2.2 and 2.8).

use crate::settings::Settings;

/// Which list is wanted (Cyrus's `CAPA_PREAUTH` / `CAPA_POSTAUTH` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// The greeting: pre-auth items only.
    Greeting,
    /// The CAPABILITY command and the OK of LOGIN/AUTHENTICATE: pre- and
    /// post-auth items (Cyrus lists both even before login).
    Full,
}

/// What the session knows that changes the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Security {
    /// Inside TLS (`-s`, or after STARTTLS).
    pub tls: bool,
    /// Logged in.
    pub authenticated: bool,
}

/// Static items shown both before and after login.
const BASE: &[&str] = &["IMAP4rev1", "LITERAL+", "ID", "ENABLE"];

/// ===== Post-auth capabilities (static part) =====
/// In Cyrus 3.6.1's order (cyrus-compat 2.8: `ACL ANNOTATE-EXPERIMENT-1
/// BINARY CATENATE CHILDREN CONDSTORE CREATE-SPECIAL-USE ESEARCH ESORT
/// LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS MAILBOX-REFERRALS METADATA MOVE
/// MULTIAPPEND NAMESPACE OBJECTID PREVIEW QRESYNC QUOTA RIGHTS=kxten
/// SAVEDATE SEARCH=FUZZY SORT SORT=DISPLAY SPECIAL-USE STATUS=SIZE
/// THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT URLAUTH
/// URLAUTH=BINARY WITHIN`); only what works, each where Cyrus has it.
const POST_AUTH_STATIC: &[&str] = &[
    "BINARY",      // rfc3516
    "CHILDREN",    // rfc3348
    "MOVE",        // rfc6851
    "MULTIAPPEND", // rfc3502
    "NAMESPACE",   // rfc2342
    "UIDPLUS",     // rfc4315
    "UNSELECT",    // rfc3691
];

/// SASL mechanisms the guest can run; the host's list is filtered by this.
pub const SUPPORTED_MECHANISMS: &[&str] = &["PLAIN", "LOGIN"];

/// `tls_required` stops counting once TLS is up (Cyrus clears
/// `imapd_tls_required` after the handshake).
pub fn tls_required(settings: &Settings, sec: Security) -> bool {
    settings.tls_required && !sec.tls
}

/// "Under a layer" (cyrus-compat 2.1/2.9): TLS, an external SSF of at
/// least 2, or `allowplaintext`.
pub fn has_layer(settings: &Settings, sec: Security) -> bool {
    sec.tls || settings.external_ssf >= 2 || settings.allow_plaintext
}

/// Whether LOGIN (and plaintext SASL) may be used now.
pub fn login_allowed(settings: &Settings, sec: Security) -> bool {
    !tls_required(settings, sec) && has_layer(settings, sec)
}

/// The SASL mechanisms offered now, in the host's order. PLAIN and LOGIN
/// are plaintext mechanisms: SASL hides them without a layer.
pub fn mechanisms(settings: &Settings, sec: Security) -> Vec<&str> {
    if !login_allowed(settings, sec) {
        return Vec::new();
    }
    settings
        .mechanisms
        .iter()
        .map(String::as_str)
        .filter(|m| SUPPORTED_MECHANISMS.contains(m))
        .collect()
}

/// The list, space-separated names in order.
pub fn capabilities(settings: &Settings, sec: Security, listing: Listing) -> Vec<String> {
    let suppressed = |name: &str| settings.suppress_capabilities.iter().any(|s| s == name);
    let mut caps: Vec<String> = BASE
        .iter()
        .copied()
        .filter(|c| !suppressed(c))
        .map(String::from)
        .collect();
    let post_auth = listing == Listing::Full;
    if post_auth {
        caps.extend(
            POST_AUTH_STATIC
                .iter()
                .copied()
                .filter(|c| !suppressed(c))
                .map(String::from),
        );
    }
    // Dynamic tail (cyrus-compat 2.8), in order.
    if settings.starttls_available && !sec.tls && !sec.authenticated {
        caps.push("STARTTLS".into());
    }
    // Before login only: Cyrus 3.6 lists no LOGINDISABLED once logged in
    // (seen against the real binary; LOGIN is then a state error anyway).
    if !sec.authenticated && (tls_required(settings, sec) || !has_layer(settings, sec)) {
        caps.push("LOGINDISABLED".into());
    }
    // AUTH=: not under tls_required, and after login only with a security
    // layer (for us: TLS).
    if !sec.authenticated || sec.tls {
        let mechs = mechanisms(settings, sec);
        caps.extend(mechs.iter().map(|m| format!("AUTH={m}")));
        if !mechs.is_empty() && !sec.authenticated {
            caps.push("SASL-IR".into());
        }
    }
    if post_auth {
        // ===== Post-auth capabilities (dynamic part) =====
        // Cyrus appends here: COMPRESS=DEFLATE, IDLE (settings.idle_enabled),
        // APPENDLIMIT. Not COMPRESS: it is not implemented.
        if settings.idle_enabled {
            // rfc2177; `imapidlepoll: 0` turns it off, as in Cyrus.
            caps.push("IDLE".into());
        }
        if !suppressed("APPENDLIMIT") {
            // rfc7889
            caps.push(format!(
                "APPENDLIMIT={}",
                crate::commands::append::append_limit(settings)
            ));
        }
    }
    caps
}

/// The list as one string, as it follows `CAPABILITY`.
pub fn capability_string(settings: &Settings, sec: Security, listing: Listing) -> String {
    capabilities(settings, sec, listing).join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> Settings {
        Settings {
            mechanisms: vec!["PLAIN".into(), "LOGIN".into()],
            starttls_available: true,
            ..Settings::default()
        }
    }

    const PRE: Security = Security {
        tls: false,
        authenticated: false,
    };
    const TLS: Security = Security {
        tls: true,
        authenticated: false,
    };
    const AUTHED: Security = Security {
        tls: false,
        authenticated: true,
    };

    #[test]
    fn plain_port_no_plaintext() {
        // cyrus-compat 2.2 example
        assert_eq!(
            capability_string(&s(), PRE, Listing::Greeting),
            "IMAP4rev1 LITERAL+ ID ENABLE STARTTLS LOGINDISABLED"
        );
    }

    #[test]
    fn inside_tls() {
        assert_eq!(
            capability_string(&s(), TLS, Listing::Greeting),
            "IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN AUTH=LOGIN SASL-IR"
        );
    }

    #[test]
    fn external_ssf() {
        let mut st = s();
        st.external_ssf = 1;
        assert_eq!(
            capability_string(&st, PRE, Listing::Greeting),
            "IMAP4rev1 LITERAL+ ID ENABLE STARTTLS LOGINDISABLED"
        );
        st.external_ssf = 2;
        assert_eq!(
            capability_string(&st, PRE, Listing::Greeting),
            "IMAP4rev1 LITERAL+ ID ENABLE STARTTLS AUTH=PLAIN AUTH=LOGIN SASL-IR"
        );
    }

    #[test]
    fn tls_required_hides_auth() {
        let mut st = s();
        st.tls_required = true;
        st.allow_plaintext = true;
        assert_eq!(
            capability_string(&st, PRE, Listing::Greeting),
            "IMAP4rev1 LITERAL+ ID ENABLE STARTTLS LOGINDISABLED"
        );
        assert_eq!(
            capability_string(&st, TLS, Listing::Greeting),
            "IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN AUTH=LOGIN SASL-IR"
        );
    }

    #[test]
    fn after_login() {
        let mut st = s();
        st.allow_plaintext = true;
        assert_eq!(
            capability_string(&st, AUTHED, Listing::Full),
            "IMAP4rev1 LITERAL+ ID ENABLE BINARY CHILDREN MOVE MULTIAPPEND NAMESPACE UIDPLUS UNSELECT APPENDLIMIT=4294967295"
        );
        let tls_authed = Security {
            tls: true,
            authenticated: true,
        };
        assert_eq!(
            capability_string(&st, tls_authed, Listing::Full),
            "IMAP4rev1 LITERAL+ ID ENABLE BINARY CHILDREN MOVE MULTIAPPEND NAMESPACE UIDPLUS UNSELECT AUTH=PLAIN AUTH=LOGIN APPENDLIMIT=4294967295"
        );
    }

    #[test]
    fn unknown_mechanisms_and_suppression() {
        let mut st = s();
        st.allow_plaintext = true;
        st.starttls_available = false;
        st.mechanisms = vec!["CRAM-MD5".into(), "LOGIN".into()];
        st.suppress_capabilities = vec!["ID".into(), "enable".into()];
        assert_eq!(
            capability_string(&st, PRE, Listing::Full),
            "IMAP4rev1 LITERAL+ ENABLE BINARY CHILDREN MOVE MULTIAPPEND NAMESPACE UIDPLUS UNSELECT AUTH=LOGIN SASL-IR APPENDLIMIT=4294967295"
        );
        st.mechanisms.clear();
        st.suppress_capabilities
            .extend(["NAMESPACE", "UIDPLUS", "BINARY", "APPENDLIMIT"].map(String::from));
        assert_eq!(
            capability_string(&st, PRE, Listing::Full),
            "IMAP4rev1 LITERAL+ ENABLE CHILDREN MOVE MULTIAPPEND UNSELECT"
        );
    }
}
