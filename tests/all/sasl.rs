//! SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS forms (rfc5802, rfc7677,
//! rfc9266, rfc5929) and EXTERNAL with client certificates (rfc4422 A)
//! against the real binary. Two independent clients: Python's imaplib with
//! the scramp library (tests/clients/scramp/login.py; skipped with a
//! message where python3 or scramp is missing), and a SCRAM-SHA-256 client
//! written here on the hmac, sha2 and pbkdf2 crates for what scramp cannot
//! do (tls-exporter, which Python's ssl module cannot export) and for the
//! tampered exchanges.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::harness::{Client, TestServer, run_imapd, server, tls_config};

const MECHS: &str = "sasl_mech_list: PLAIN LOGIN SCRAM-SHA-256-PLUS SCRAM-SHA-256 \
                     SCRAM-SHA-1-PLUS SCRAM-SHA-1 EXTERNAL";

/// RFC 7677's credentials ("user" / "pencil") in Dovecot's stored form,
/// computed here from the RFC's salt and count.
fn dovecot_line() -> String {
    let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(b"pencil", &salt, 4096, &mut salted);
    let client_key = hmac256(&salted, b"Client Key");
    let stored = Sha256::digest(client_key);
    let server_key = hmac256(&salted, b"Server Key");
    format!(
        "user:{{SCRAM-SHA-256}}4096,{},{},{}",
        B64.encode(&salt),
        B64.encode(stored),
        B64.encode(server_key)
    )
}

fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// A server offering every mechanism, with users `scram256` and `scram1`
/// (password `pencil`) written by `imapd passwd --scheme`, and `user` in
/// Dovecot's form. Extra config lines from `extra`.
fn sasl_server(extra: &[&str]) -> TestServer {
    let mut b = server().conf(MECHS);
    for l in extra {
        b = b.conf(l);
    }
    let data = b.prepare();
    for (user, scheme) in [("scram256", "SCRAM-SHA-256"), ("scram1", "SCRAM-SHA-1")] {
        let conf = data.conf();
        let (code, _, err) = run_imapd(
            &[
                "passwd",
                "-C",
                conf.to_str().unwrap(),
                "--scheme",
                scheme,
                user,
            ],
            &[],
            b"pencil\n",
        );
        assert_eq!(code, 0, "{err}");
    }
    data.add_user_line(&dovecot_line());
    let passwd = std::fs::read_to_string(data.config_dir().join("passwd")).unwrap();
    assert!(
        passwd.contains("scram256:{SCRAM-SHA-256}10000,"),
        "{passwd}"
    );
    assert!(passwd.contains("scram1:{SCRAM-SHA-1}10000,"), "{passwd}");
    crate::harness::start_prepared(data, true)
}

fn scramp_available() -> bool {
    Command::new("python3")
        .args(["-c", "import scramp"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One login with login.py; its output.
fn scramp_login(s: &TestServer, tls: bool, user: &str, password: &str, mech: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/scramp/login.py");
    let addr = if tls { s.tls.unwrap() } else { s.plain };
    let out = Command::new("python3")
        .arg(script)
        .args([
            addr.ip().to_string().as_str(),
            addr.port().to_string().as_str(),
            if tls { "tls" } else { "plain" },
            user,
            password,
            mech,
        ])
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn scramp_logs_in_with_each_mechanism() {
    if !scramp_available() {
        eprintln!("skipped: python3 with scramp is not installed (pip install scramp)");
        return;
    }
    let s = sasl_server(&[]);
    for (tls, user, mech) in [
        (true, "scram256", "SCRAM-SHA-256"),
        (true, "scram256", "SCRAM-SHA-256-PLUS"),
        (true, "scram1", "SCRAM-SHA-1"),
        (true, "scram1", "SCRAM-SHA-1-PLUS"),
        (true, "user", "SCRAM-SHA-256-PLUS"),
        // No TLS and no allowplaintext: SCRAM is no plaintext mechanism.
        (false, "scram256", "SCRAM-SHA-256"),
        (false, "scram1", "SCRAM-SHA-1"),
    ] {
        let out = scramp_login(&s, tls, user, "pencil", mech);
        assert!(
            out.starts_with("OK OK ") && out.contains("SELECT OK"),
            "{mech} {user} tls={tls}: {out}"
        );
        let protection = if tls {
            "(tls protection)"
        } else {
            "(no protection)"
        };
        assert!(out.contains(protection), "{out}");
    }
    // A wrong password, a user without keys of this kind, an unknown user.
    for (user, password, mech) in [
        ("scram256", "pencil2", "SCRAM-SHA-256"),
        ("scram1", "pencil", "SCRAM-SHA-256"),
        ("nobody", "pencil", "SCRAM-SHA-256-PLUS"),
    ] {
        let out = scramp_login(&s, true, user, password, mech);
        assert!(out.starts_with("FAIL"), "{user} {mech}: {out}");
        assert!(out.contains("authentication failure"), "{out}");
    }
    // The keys check PLAIN too.
    let mut c = s.connect_tls();
    c.line();
    c.login("scram1", "pencil");
}

/// The client side of SCRAM-SHA-256, step by step.
struct Scram {
    gs2: String,
    first_bare: String,
    cbind: Vec<u8>,
}

impl Scram {
    /// `flag`: `n`, `y` or `p=<type>`; `cb`: the binding data sent.
    fn new(flag: &str, user: &str, nonce: &str, cb: &[u8]) -> Scram {
        let gs2 = format!("{flag},,");
        let mut cbind = gs2.clone().into_bytes();
        cbind.extend_from_slice(cb);
        Scram {
            first_bare: format!("n={user},r={nonce}"),
            gs2,
            cbind,
        }
    }

    fn first(&self) -> String {
        format!("{}{}", self.gs2, self.first_bare)
    }

    /// The client-final-message for `server_first`, and the server
    /// signature to expect.
    fn fin(&self, server_first: &str, password: &str) -> (String, String) {
        let mut attrs = server_first.split(',');
        let nonce = attrs.next().unwrap().strip_prefix("r=").unwrap();
        let salt = B64
            .decode(attrs.next().unwrap().strip_prefix("s=").unwrap())
            .unwrap();
        let iterations: u32 = attrs
            .next()
            .unwrap()
            .strip_prefix("i=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(iterations >= 4096, "{server_first}");
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut salted);
        let client_key = hmac256(&salted, b"Client Key");
        let stored = Sha256::digest(&client_key);
        let without = format!("c={},r={nonce}", B64.encode(&self.cbind));
        let auth = format!("{},{server_first},{without}", self.first_bare);
        let sig = hmac256(&stored, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        let server_sig = hmac256(&hmac256(&salted, b"Server Key"), auth.as_bytes());
        (
            format!("{without},p={}", B64.encode(proof)),
            format!("v={}", B64.encode(server_sig)),
        )
    }
}

fn challenge(c: &mut Client) -> String {
    let l = c.line();
    let data = l
        .strip_prefix("+ ")
        .unwrap_or_else(|| panic!("no challenge: {l}"));
    String::from_utf8(B64.decode(data).unwrap()).unwrap()
}

/// A whole exchange with SASL-IR; the tagged reply.
fn scram_login(c: &mut Client, mech: &str, scram: &Scram, password: &str) -> String {
    c.send(&format!(
        "a AUTHENTICATE {mech} {}\r\n",
        B64.encode(scram.first())
    ));
    let server_first = challenge(c);
    let (fin, want) = scram.fin(&server_first, password);
    c.send(&format!("{}\r\n", B64.encode(&fin)));
    let l = c.line();
    if let Some(v) = l.strip_prefix("+ ") {
        assert_eq!(String::from_utf8(B64.decode(v).unwrap()).unwrap(), want);
        c.send("\r\n");
        return c.until_tagged("a").1;
    }
    l
}

fn tls_client(s: &TestServer) -> (Client, crate::harness::TlsFacts) {
    let (mut c, facts) = Client::connect_tls_with(s.tls.unwrap(), tls_config(None)).unwrap();
    let greeting = c.line();
    assert!(
        greeting.contains(" AUTH=SCRAM-SHA-256-PLUS AUTH=SCRAM-SHA-256 "),
        "{greeting}"
    );
    assert!(!greeting.contains("EXTERNAL"), "{greeting}");
    (c, facts)
}

#[test]
fn scram_plus_with_tls_exporter_and_server_end_point() {
    let s = sasl_server(&[]);
    let (mut c, facts) = tls_client(&s);
    assert!(facts.tls13);
    let exporter = facts.exporter.unwrap();
    let scram = Scram::new("p=tls-exporter", "scram256", "nonce-1", &exporter);
    let ok = scram_login(&mut c, "SCRAM-SHA-256-PLUS", &scram, "pencil");
    assert!(
        ok.starts_with("a OK [CAPABILITY ") && ok.contains("Success (tls protection)"),
        "{ok}"
    );
    assert!(c.cmd("s", "SELECT INBOX").1.starts_with("s OK"));
    // tls-server-end-point: SHA-256 of the server's (ECDSA-SHA256) certificate.
    use rustls_pki_types::pem::PemObject;
    let cert = rustls_pki_types::CertificateDer::pem_file_iter(&crate::harness::test_cert().0)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let end_point = Sha256::digest(cert.as_ref());
    let (mut c, _) = tls_client(&s);
    let scram = Scram::new("p=tls-server-end-point", "scram256", "nonce-2", &end_point);
    assert!(scram_login(&mut c, "SCRAM-SHA-256-PLUS", &scram, "pencil").starts_with("a OK "));
}

#[test]
fn failures_end_the_exchange_cleanly() {
    let s = sasl_server(&[]);
    let no = "a NO authentication failure";
    // Channel binding data of another connection.
    let (mut c, _) = tls_client(&s);
    let scram = Scram::new("p=tls-exporter", "scram256", "n1", &[7u8; 32]);
    assert_eq!(
        scram_login(&mut c, "SCRAM-SHA-256-PLUS", &scram, "pencil"),
        no
    );
    // The connection goes on: a correct exchange on it now works.
    let scram = Scram::new("n", "scram256", "n1b", b"");
    // Downgrade: the client could bind, PLUS is offered, it says "y".
    let downgrade = Scram::new("y", "scram256", "n1c", b"");
    c.send(&format!(
        "a AUTHENTICATE SCRAM-SHA-256 {}\r\n",
        B64.encode(downgrade.first())
    ));
    assert_eq!(c.line(), no);
    assert!(scram_login(&mut c, "SCRAM-SHA-256", &scram, "pencil").starts_with("a OK "));

    // Wrong proof.
    let (mut c, _) = tls_client(&s);
    let scram = Scram::new("n", "scram256", "n2", b"");
    assert_eq!(scram_login(&mut c, "SCRAM-SHA-256", &scram, "pencil!"), no);

    // A replayed client-final: recorded from a good exchange, sent into a
    // new one (same client nonce; the server's part differs).
    let (mut c, _) = tls_client(&s);
    let scram = Scram::new("n", "scram256", "n3", b"");
    c.send(&format!(
        "a AUTHENTICATE SCRAM-SHA-256 {}\r\n",
        B64.encode(scram.first())
    ));
    let (recorded, _) = scram.fin(&challenge(&mut c), "pencil");
    c.send("*\r\n");
    assert_eq!(c.line(), "a BAD Client canceled authentication");
    c.send(&format!(
        "a AUTHENTICATE SCRAM-SHA-256 {}\r\n",
        B64.encode(scram.first())
    ));
    challenge(&mut c);
    c.send(&format!("{}\r\n", B64.encode(&recorded)));
    assert_eq!(c.line(), no);

    // Truncated messages: a client-first without nonce, a client-final
    // without proof.
    c.send(&format!(
        "a AUTHENTICATE SCRAM-SHA-256 {}\r\n",
        B64.encode("n,,n=scram256")
    ));
    assert_eq!(c.line(), no);
    c.send(&format!(
        "a AUTHENTICATE SCRAM-SHA-256 {}\r\n",
        B64.encode(scram.first())
    ));
    let server_first = challenge(&mut c);
    let (fin, _) = scram.fin(&server_first, "pencil");
    let cut = &fin[..fin.find(",p=").unwrap()];
    c.send(&format!("{}\r\n", B64.encode(cut)));
    assert_eq!(c.line(), no);

    // A new tagged command in the middle of an exchange: BAD, and the
    // session carries on.
    c.send("a AUTHENTICATE SCRAM-SHA-256\r\n");
    assert_eq!(c.line(), "+ ");
    c.send("b NOOP\r\n");
    assert_eq!(c.line(), "a BAD Invalid base64 data");
    assert_eq!(c.cmd("c", "NOOP").1, "c OK Completed");
    // Cancel after the server's final message: nothing logs in.
    let scram = Scram::new("n", "scram256", "n4", b"");
    c.send(&format!(
        "a AUTHENTICATE SCRAM-SHA-256 {}\r\n",
        B64.encode(scram.first())
    ));
    let (fin, _) = scram.fin(&challenge(&mut c), "pencil");
    c.send(&format!("{}\r\n", B64.encode(&fin)));
    challenge(&mut c);
    c.send("*\r\n");
    assert_eq!(c.line(), "a BAD Client canceled authentication");
    assert_eq!(c.cmd("s", "SELECT INBOX").1, "s BAD Please login first");
    let log = s.log_with("channel binding");
    assert!(
        log.contains("badlogin: ") && log.contains("channel binding"),
        "{log}"
    );
    assert!(!log.contains("pencil"), "{log}");
}

#[test]
fn capabilities_say_what_works() {
    // Plain port, no allowplaintext: SCRAM but no PLAIN, no -PLUS, no EXTERNAL.
    let s = sasl_server(&[]);
    let mut c = s.connect();
    let greeting = c.line();
    assert!(
        greeting.contains(" STARTTLS LOGINDISABLED AUTH=SCRAM-SHA-256 AUTH=SCRAM-SHA-1 SASL-IR]"),
        "{greeting}"
    );
    // After STARTTLS the -PLUS forms appear (and PLAIN, LOGIN).
    assert_eq!(c.cmd("t", "STARTTLS").1, "t OK Begin TLS negotiation now");
    c.start_tls();
    let (u, _) = c.cmd("k", "CAPABILITY");
    assert!(
        u[0].contains(
            " AUTH=PLAIN AUTH=LOGIN AUTH=SCRAM-SHA-256-PLUS AUTH=SCRAM-SHA-256 \
             AUTH=SCRAM-SHA-1-PLUS AUTH=SCRAM-SHA-1 SASL-IR "
        ),
        "{}",
        u[0]
    );
    assert_eq!(
        c.cmd("e", "AUTHENTICATE EXTERNAL =").1,
        "e NO no mechanism available"
    );
    // saslauthd has no keys: no SCRAM at all.
    let s = server()
        .conf(MECHS)
        .conf("sasl_pwcheck_method: saslauthd")
        .start();
    let mut c = s.connect_tls();
    let greeting = c.line();
    assert!(
        greeting.contains(" AUTH=PLAIN AUTH=LOGIN SASL-IR]"),
        "{greeting}"
    );
    assert!(!greeting.contains("SCRAM"), "{greeting}");
    assert_eq!(
        c.cmd("a", "AUTHENTICATE SCRAM-SHA-256").1,
        "a NO no mechanism available"
    );
}

/// A CA, and certificates it (or another CA) signs, in a directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
    other_ca: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = |name: &str, file: Option<&Path>| {
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            p.distinguished_name.push(rcgen::DnType::CommonName, name);
            p.key_usages = vec![
                rcgen::KeyUsagePurpose::KeyCertSign,
                rcgen::KeyUsagePurpose::DigitalSignature,
            ];
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = p.self_signed(&key).unwrap();
            if let Some(f) = file {
                std::fs::write(f, cert.pem()).unwrap();
            }
            rcgen::Issuer::new(p, key)
        };
        let ca_file = dir.path().join("ca.pem");
        Pki {
            ca: ca("imapd test CA", Some(&ca_file)),
            other_ca: ca("someone else's CA", None),
            dir,
        }
    }

    fn ca_file(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }

    /// A client certificate for `cn`, valid until `not_after` (year).
    fn client(&self, cn: &str, not_after: i32, other: bool) -> crate::harness::ClientCert {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(not_after, 1, 1);
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let issuer = if other { &self.other_ca } else { &self.ca };
        let cert = p.signed_by(&key, issuer).unwrap();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        (vec![cert.der().clone()], key)
    }
}

#[test]
fn external_with_client_certificates() {
    let pki = Pki::new();
    let s = sasl_server(&[&format!("tls_client_ca_file: {}", pki.ca_file())]);
    // A certificate the CA signed: EXTERNAL offered, logs in as its CN.
    let cert = pki.client("plain", 2999, false);
    let again = (cert.0.clone(), cert.1.clone_key());
    let (mut c, _) = Client::connect_tls_with(s.tls.unwrap(), tls_config(Some(cert))).unwrap();
    let greeting = c.line();
    assert!(greeting.contains(" AUTH=EXTERNAL SASL-IR]"), "{greeting}");
    // Another authorization identity is refused (no proxy authorisation).
    assert_eq!(
        c.cmd("x", &format!("AUTHENTICATE EXTERNAL {}", B64.encode("bob")))
            .1,
        "x NO authentication failure"
    );
    let ok = c.cmd("a", "AUTHENTICATE EXTERNAL =").1;
    assert!(
        ok.starts_with("a OK [CAPABILITY ") && ok.contains("Success (tls protection)"),
        "{ok}"
    );
    assert!(c.cmd("s", "SELECT INBOX").1.starts_with("s OK"));
    let logged = " plain EXTERNAL+TLS User logged in SESSIONID=<";
    let log = s.log_with(logged);
    assert!(log.contains(logged), "{log}");
    // Without SASL-IR, naming itself as authzid.
    let (mut c, _) = Client::connect_tls_with(s.tls.unwrap(), tls_config(Some(again))).unwrap();
    c.line();
    c.send("a AUTHENTICATE EXTERNAL\r\n");
    assert_eq!(c.line(), "+ ");
    c.send(&format!("{}\r\n", B64.encode("plain")));
    assert!(c.until_tagged("a").1.starts_with("a OK "));
    // After STARTTLS with a certificate: offered, and it logs in.
    let mut c = s.connect();
    assert!(!c.line().contains("EXTERNAL"));
    assert_eq!(c.cmd("t", "STARTTLS").1, "t OK Begin TLS negotiation now");
    c.start_tls_with(tls_config(Some(pki.client("plain", 2999, false))));
    let (u, _) = c.cmd("k", "CAPABILITY");
    assert!(u[0].contains(" AUTH=EXTERNAL SASL-IR "), "{}", u[0]);
    assert!(c.cmd("a", "AUTHENTICATE EXTERNAL =").1.starts_with("a OK "));
    // No certificate: the handshake works, EXTERNAL is not offered.
    let (mut c, _) = Client::connect_tls_with(s.tls.unwrap(), tls_config(None)).unwrap();
    assert!(!c.line().contains("EXTERNAL"));
    assert_eq!(
        c.cmd("a", "AUTHENTICATE EXTERNAL =").1,
        "a NO no mechanism available"
    );
    // Unknown CA, expired: the handshake fails, nobody logs in.
    for (cert, what) in [
        (pki.client("plain", 2999, true), "unknown CA"),
        (pki.client("plain", 2001, false), "expired"),
    ] {
        let r = Client::connect_tls_with(s.tls.unwrap(), tls_config(Some(cert)));
        assert!(r.is_none(), "{what}: handshake succeeded");
    }
    let t0 = std::time::Instant::now();
    while s.log().matches("TLS negotiation failed").count() < 2 {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(5),
            "{}",
            s.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = s.log();
    assert_eq!(log.matches("]: login: ").count(), 3, "{log}");
    assert!(log.contains("certificate expired"), "{log}");

    // tls_client_certs: require refuses a client without one; off never
    // asks (and so never offers EXTERNAL).
    let s = sasl_server(&[
        &format!("tls_client_ca_file: {}", pki.ca_file()),
        "tls_client_certs: require",
    ]);
    assert!(Client::connect_tls_with(s.tls.unwrap(), tls_config(None)).is_none());
    let cert = pki.client("plain", 2999, false);
    let (mut c, _) = Client::connect_tls_with(s.tls.unwrap(), tls_config(Some(cert))).unwrap();
    assert!(c.line().contains(" AUTH=EXTERNAL "));
    let s = sasl_server(&[
        &format!("tls_client_ca_file: {}", pki.ca_file()),
        "tls_client_certs: off",
    ]);
    let cert = pki.client("plain", 2999, false);
    let (mut c, _) = Client::connect_tls_with(s.tls.unwrap(), tls_config(Some(cert))).unwrap();
    assert!(!c.line().contains("EXTERNAL"));
}
