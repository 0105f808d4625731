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
    /// COMPRESS=DEFLATE is on (rfc4978).
    pub compressed: bool,
    /// Logged in.
    pub authenticated: bool,
    /// Logged in as an administrator (imapd.conf `admins`; the host's word).
    pub admin: bool,
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
/// SEARCHRES is not in 3.6's list; it stands where Cyrus 3.12 lists it,
/// alphabetically between SEARCH=FUZZY and SORT.
const POST_AUTH_STATIC: &[&str] = &[
    "ACL",                   // rfc4314
    "BINARY",                // rfc3516
    "CATENATE",              // rfc4469
    "CHILDREN",              // rfc3348
    "CONDSTORE",             // rfc7162
    "CREATE-SPECIAL-USE",    // rfc6154
    "ESEARCH",               // rfc4731
    "ESORT",                 // rfc5267 3.1
    "LIST-EXTENDED",         // rfc5258
    "LIST-MYRIGHTS",         // rfc8440
    "LIST-STATUS",           // rfc5819
    "METADATA",              // rfc5464
    "MOVE",                  // rfc6851
    "MULTIAPPEND",           // rfc3502
    "NAMESPACE",             // rfc2342
    "OBJECTID",              // rfc8474
    "PREVIEW",               // rfc8970
    "QRESYNC",               // rfc7162
    "QUOTA",                 // rfc9208 (and rfc2087)
    "QUOTA=RES-MESSAGE",     // rfc9208 5.2
    "QUOTA=RES-STORAGE",     // rfc9208 5.1
    "QUOTASET",              // rfc9208 4.1.3
    "RIGHTS=kxten",          // rfc4314 2.1
    "SAVEDATE",              // rfc8514
    "SEARCHRES",             // rfc5182
    "SORT",                  // rfc5256
    "SORT=DISPLAY",          // rfc5957
    "SPECIAL-USE",           // rfc6154
    "STATUS=SIZE",           // rfc8438
    "THREAD=ORDEREDSUBJECT", // rfc5256
    "THREAD=REFERENCES",     // rfc5256
    "UIDPLUS",               // rfc4315
    "UNSELECT",              // rfc3691
    "UTF8=ACCEPT",           // rfc6855
    "WITHIN",                // rfc5032
];

/// IMAP4rev2 (rfc9051) is offered beside IMAP4rev1, after login (where
/// ENABLE, which switches a session to it, is valid), unless IDLE, part
/// of IMAP4rev2, is off (`imapidlepoll: 0`) or `suppress_capabilities`
/// hides it.
pub fn rev2_offered(settings: &Settings) -> bool {
    settings.idle_enabled
        && !settings
            .suppress_capabilities
            .iter()
            .any(|s| s == "IMAP4rev2")
}

/// UTF8=ACCEPT (rfc6855) is offered after login (ENABLE is valid only
/// there, rfc6855 3) unless `suppress_capabilities` hides it; only then
/// are 8-bit header fields in APPEND refused before `ENABLE UTF8=ACCEPT`
/// (rfc6855 4).
pub fn utf8_offered(settings: &Settings) -> bool {
    !settings
        .suppress_capabilities
        .iter()
        .any(|s| s == "UTF8=ACCEPT")
}

/// SASL mechanisms the guest runs itself, asking the host only to check
/// the password: plaintext mechanisms, offered only under a layer.
pub const PASSWORD_MECHANISMS: &[&str] = &["PLAIN", "LOGIN"];

/// SASL mechanisms the host runs from end to end (wit: `sasl-start`); the
/// guest relays base64 and never sees a secret. The host lists them in
/// `settings.mechanisms` only where they work (-PLUS inside TLS, EXTERNAL
/// with a verified client certificate, SCRAM with stored keys).
pub const HOST_MECHANISMS: &[&str] = &[
    "SCRAM-SHA-1",        // rfc5802
    "SCRAM-SHA-1-PLUS",   // rfc5802
    "SCRAM-SHA-256",      // rfc7677
    "SCRAM-SHA-256-PLUS", // rfc7677
    "EXTERNAL",           // rfc4422 A
];

/// `literalminus` (cyrus-compat 2.7): LITERAL- (rfc7888 5) instead of
/// LITERAL+, so non-synchronizing literals are limited to 4096 bytes.
pub fn literal_minus(settings: &Settings) -> bool {
    settings.switch("literalminus", false)
}

/// UNAUTHENTICATE (rfc8437) is offered: to an authenticated admin, as in
/// Cyrus 3.6 (cyrus-compat 2.8), unless `suppress_capabilities` hides it
/// (rfc8437 3: a server that does not advertise it answers BAD).
pub fn unauthenticate_offered(settings: &Settings, sec: Security) -> bool {
    sec.authenticated
        && sec.admin
        && !settings
            .suppress_capabilities
            .iter()
            .any(|s| s == "UNAUTHENTICATE")
}

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

/// The SASL mechanisms offered now, in the host's order: none under
/// `tls_required` before TLS; PLAIN and LOGIN are plaintext mechanisms,
/// which SASL hides without a layer; the host's (SCRAM, EXTERNAL) are not.
pub fn mechanisms(settings: &Settings, sec: Security) -> Vec<&str> {
    if tls_required(settings, sec) {
        return Vec::new();
    }
    let plaintext = has_layer(settings, sec);
    settings
        .mechanisms
        .iter()
        .map(String::as_str)
        .filter(|m| (plaintext && PASSWORD_MECHANISMS.contains(m)) || HOST_MECHANISMS.contains(m))
        .collect()
}

/// COMPRESS=DEFLATE (rfc4978) is advertised: not yet on, not suppressed.
pub fn compress_offered(settings: &Settings, sec: Security) -> bool {
    !sec.compressed
        && !settings
            .suppress_capabilities
            .iter()
            .any(|s| s == "COMPRESS=DEFLATE")
}

/// The list, space-separated names in order.
pub fn capabilities(settings: &Settings, sec: Security, listing: Listing) -> Vec<String> {
    let suppressed = |name: &str| settings.suppress_capabilities.iter().any(|s| s == name);
    let mut caps: Vec<String> = BASE
        .iter()
        .copied()
        // rfc7888 5: LITERAL- in LITERAL+'s place, never both (Cyrus 3.6
        // meant to, but kept printing LITERAL+; cyrus-compat 2.7).
        .map(|c| match c {
            "LITERAL+" if literal_minus(settings) => "LITERAL-",
            c => c,
        })
        .filter(|c| !suppressed(c))
        .map(String::from)
        .collect();
    let post_auth = listing == Listing::Full;
    if post_auth && rev2_offered(settings) {
        caps.push("IMAP4rev2".into());
    }
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
    // Not under COMPRESS (rfc4978 3: TLS goes beneath it; reachable after
    // UNAUTHENTICATE).
    if settings.starttls_available && !sec.tls && !sec.authenticated && !sec.compressed {
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
        // APPENDLIMIT.
        if unauthenticate_offered(settings, sec) {
            // rfc8437; Cyrus lists it first here (cyrus-compat 2.8 item 4).
            caps.push("UNAUTHENTICATE".into());
        }
        if compress_offered(settings, sec) {
            // rfc4978; until it is on (cyrus-compat 2.8 item 6).
            caps.push("COMPRESS=DEFLATE".into());
        }
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
        compressed: false,
        authenticated: false,
        admin: false,
    };
    const TLS: Security = Security {
        tls: true,
        compressed: false,
        authenticated: false,
        admin: false,
    };
    const AUTHED: Security = Security {
        tls: false,
        compressed: false,
        authenticated: true,
        admin: false,
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
            "IMAP4rev1 LITERAL+ ID ENABLE ACL BINARY CATENATE CHILDREN CONDSTORE CREATE-SPECIAL-USE ESEARCH ESORT LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS METADATA MOVE MULTIAPPEND NAMESPACE OBJECTID PREVIEW QRESYNC QUOTA QUOTA=RES-MESSAGE QUOTA=RES-STORAGE QUOTASET RIGHTS=kxten SAVEDATE SEARCHRES SORT SORT=DISPLAY SPECIAL-USE STATUS=SIZE THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT UTF8=ACCEPT WITHIN COMPRESS=DEFLATE APPENDLIMIT=4294967295"
        );
        let tls_authed = Security {
            tls: true,
            compressed: false,
            authenticated: true,
            admin: false,
        };
        assert_eq!(
            capability_string(&st, tls_authed, Listing::Full),
            "IMAP4rev1 LITERAL+ ID ENABLE ACL BINARY CATENATE CHILDREN CONDSTORE CREATE-SPECIAL-USE ESEARCH ESORT LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS METADATA MOVE MULTIAPPEND NAMESPACE OBJECTID PREVIEW QRESYNC QUOTA QUOTA=RES-MESSAGE QUOTA=RES-STORAGE QUOTASET RIGHTS=kxten SAVEDATE SEARCHRES SORT SORT=DISPLAY SPECIAL-USE STATUS=SIZE THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT UTF8=ACCEPT WITHIN AUTH=PLAIN AUTH=LOGIN COMPRESS=DEFLATE APPENDLIMIT=4294967295"
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
            "IMAP4rev1 LITERAL+ ENABLE ACL BINARY CATENATE CHILDREN CONDSTORE CREATE-SPECIAL-USE ESEARCH ESORT LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS METADATA MOVE MULTIAPPEND NAMESPACE OBJECTID PREVIEW QRESYNC QUOTA QUOTA=RES-MESSAGE QUOTA=RES-STORAGE QUOTASET RIGHTS=kxten SAVEDATE SEARCHRES SORT SORT=DISPLAY SPECIAL-USE STATUS=SIZE THREAD=ORDEREDSUBJECT THREAD=REFERENCES UIDPLUS UNSELECT UTF8=ACCEPT WITHIN AUTH=LOGIN SASL-IR COMPRESS=DEFLATE APPENDLIMIT=4294967295"
        );
        st.mechanisms.clear();
        st.suppress_capabilities.extend(
            [
                "NAMESPACE",
                "UIDPLUS",
                "BINARY",
                "CATENATE",
                "APPENDLIMIT",
                "COMPRESS=DEFLATE",
            ]
            .map(String::from),
        );
        assert_eq!(
            capability_string(&st, PRE, Listing::Full),
            "IMAP4rev1 LITERAL+ ENABLE ACL CHILDREN CONDSTORE CREATE-SPECIAL-USE ESEARCH ESORT LIST-EXTENDED LIST-MYRIGHTS LIST-STATUS METADATA MOVE MULTIAPPEND OBJECTID PREVIEW QRESYNC QUOTA QUOTA=RES-MESSAGE QUOTA=RES-STORAGE QUOTASET RIGHTS=kxten SAVEDATE SEARCHRES SORT SORT=DISPLAY SPECIAL-USE STATUS=SIZE THREAD=ORDEREDSUBJECT THREAD=REFERENCES UNSELECT UTF8=ACCEPT WITHIN"
        );
    }

    #[test]
    fn unauthenticate_for_an_authenticated_admin_only() {
        let mut st = s();
        st.allow_plaintext = true;
        st.idle_enabled = true;
        let admin = Security {
            tls: true,
            compressed: false,
            authenticated: true,
            admin: true,
        };
        // cyrus-compat 2.8: after SASL-IR/AUTH=, before IDLE and APPENDLIMIT.
        let full = capability_string(&st, admin, Listing::Full);
        assert!(
            full.ends_with(
                " AUTH=PLAIN AUTH=LOGIN UNAUTHENTICATE COMPRESS=DEFLATE IDLE APPENDLIMIT=4294967295"
            ),
            "{full}"
        );
        // Post-auth only, and never to a user who is not an admin.
        assert!(!capability_string(&st, admin, Listing::Greeting).contains("UNAUTHENTICATE"));
        let user = Security {
            admin: false,
            ..admin
        };
        assert!(!capability_string(&st, user, Listing::Full).contains("UNAUTHENTICATE"));
        let pre = Security {
            authenticated: false,
            ..admin
        };
        assert!(!capability_string(&st, pre, Listing::Full).contains("UNAUTHENTICATE"));
        st.suppress_capabilities = vec!["UNAUTHENTICATE".into()];
        assert!(!unauthenticate_offered(&st, admin));
        assert!(!capability_string(&st, admin, Listing::Full).contains("UNAUTHENTICATE"));
    }

    #[test]
    fn literal_minus_replaces_literal_plus() {
        let mut st = s();
        st.options = vec![("literalminus".into(), "1".into())];
        assert_eq!(
            capability_string(&st, PRE, Listing::Greeting),
            "IMAP4rev1 LITERAL- ID ENABLE STARTTLS LOGINDISABLED"
        );
        let full = capability_string(&st, AUTHED, Listing::Full);
        assert!(full.starts_with("IMAP4rev1 LITERAL- ID ENABLE "), "{full}");
        assert!(!full.contains("LITERAL+"), "{full}");
        // Hidden by its own name.
        st.suppress_capabilities = vec!["LITERAL-".into()];
        assert_eq!(
            capability_string(&st, PRE, Listing::Greeting),
            "IMAP4rev1 ID ENABLE STARTTLS LOGINDISABLED"
        );
        st.options = vec![("literalminus".into(), "0".into())];
        assert_eq!(
            capability_string(&st, PRE, Listing::Greeting),
            "IMAP4rev1 LITERAL+ ID ENABLE STARTTLS LOGINDISABLED"
        );
    }

    /// README.md's capability table lists every capability the code can
    /// announce, and nothing else.
    #[test]
    fn readme_table_lists_every_capability() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"));
        let section = readme
            .split("\n## Capabilities\n")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("README has a Capabilities section");
        let mut table = std::collections::BTreeSet::new();
        for row in section.lines().filter(|l| l.starts_with("| `")) {
            let first = row.split('|').nth(1).unwrap_or("");
            for name in first.split('`').skip(1).step_by(2) {
                table.insert(name.to_string());
            }
        }
        // Every name each combination of settings and states produces.
        let mut seen = std::collections::BTreeSet::new();
        for starttls in [false, true] {
            for plaintext in [false, true] {
                for admin in [false, true] {
                    for literal_minus in [false, true] {
                        let mut st = s();
                        st.starttls_available = starttls;
                        st.allow_plaintext = plaintext;
                        st.idle_enabled = true;
                        st.options = vec![(
                            "literalminus".into(),
                            if literal_minus { "1" } else { "0" }.into(),
                        )];
                        st.mechanisms = [PASSWORD_MECHANISMS, HOST_MECHANISMS]
                            .concat()
                            .iter()
                            .map(|m| m.to_string())
                            .collect();
                        for (tls, compressed) in [(false, false), (true, false), (true, true)] {
                            for authenticated in [false, true] {
                                let sec = Security {
                                    tls,
                                    compressed,
                                    authenticated,
                                    admin: admin && authenticated,
                                };
                                for listing in [Listing::Greeting, Listing::Full] {
                                    for c in capabilities(&st, sec, listing) {
                                        let name = match c.split_once('=') {
                                            Some(("APPENDLIMIT", _)) => "APPENDLIMIT=".to_string(),
                                            _ => c,
                                        };
                                        seen.insert(name);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let missing: Vec<&String> = seen.difference(&table).collect();
        let stale: Vec<&String> = table.difference(&seen).collect();
        assert!(
            missing.is_empty() && stale.is_empty(),
            "not in README: {missing:?}; in README but never announced: {stale:?}"
        );
    }
}
